"""Answers filled from the commune's own facts (config): one set of answers, many communes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from bot.config import Commune
from bot.timeutil import to_vn, utcnow

def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


_DAY_NAMES = (N_("Thứ Hai"), N_("Thứ Ba"), N_("Thứ Tư"), N_("Thứ Năm"), N_("Thứ Sáu"),
              N_("Thứ Bảy"), N_("Chủ nhật"))


def _hm(t) -> str:  # type: ignore[no-untyped-def]
    return f"{t.hour}:{t.minute:02d}"


def _days_label(days: list[int], _: Callable[[str], str]) -> str:
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return _("{first} đến {last}").format(first=_(_DAY_NAMES[days[0]]),
                                              last=_(_DAY_NAMES[days[-1]]))
    return ", ".join(_(_DAY_NAMES[d]) for d in days)


def office_hours_lines(commune: Commune, _: Callable[[str], str]) -> list[str]:
    groups: dict[tuple[int, ...], list[str]] = {}
    for period in commune.office_hours:
        key = tuple(period.weekdays)
        groups.setdefault(key, []).append(f"{_hm(period.open)}–{_hm(period.close)}")
    return [f"{_days_label(list(days), _)}: {', '.join(spans)}" for days, spans in groups.items()]


def is_open(commune: Commune, when: datetime | None = None) -> bool:
    local = to_vn(when or utcnow())
    now = local.time()
    return any(local.weekday() in p.weekdays and p.open <= now < p.close
               for p in commune.office_hours)


def office_hours(commune: Commune, _: Callable[[str], str], when: datetime | None = None) -> str:
    lines = office_hours_lines(commune, _)
    text = _("{name} làm việc:").format(name=commune.name) + "\n" + "\n".join(
        f"• {line}" for line in lines)
    status = (_("Hiện giờ đang trong giờ làm việc.") if is_open(commune, when)
              else _("Hiện giờ ngoài giờ làm việc; anh/chị có thể nhắn lại, cán bộ sẽ xem "
                     "vào giờ làm việc."))
    return text + "\n" + status + "\n" + _("Ngày lễ, Tết nghỉ theo quy định.")


def office_contact(commune: Commune, _: Callable[[str], str]) -> str:
    lines = [_("Liên hệ {name}:").format(name=commune.name),
             _("• Địa chỉ: {address}").format(address=commune.address),
             _("• Điện thoại: {phone}").format(phone=commune.phone)]
    if commune.email:
        lines.append(_("• Email: {email}").format(email=commune.email))
    return "\n".join(lines)


#: How each intent is named on a quick-reply button (clarifying questions, menus).
TITLES = {
    "office_hours": N_("Giờ làm việc"),
    "office_contact": N_("Địa chỉ, điện thoại"),
    "procedure_birth": N_("Đăng ký khai sinh"),
    "procedure_residence": N_("Đăng ký cư trú"),
    "procedure_marriage": N_("Đăng ký kết hôn"),
    "procedure_certify": N_("Chứng thực giấy tờ"),
    "procedure_land": N_("Thủ tục đất đai"),
    "health_insurance": N_("Bảo hiểm y tế"),
    "social_allowance": N_("Trợ cấp xã hội"),
    "vaccination": N_("Lịch tiêm chủng"),
    "power_outage": N_("Lịch cắt điện"),
    "disaster_warning": N_("Thiên tai, sơ tán"),
    "latest_notices": N_("Thông báo mới"),
    "propagandist_contact": N_("Trưởng thôn, tuyên truyền viên"),
    "report_issue": N_("Gửi phản ánh"),
    "ticket_status": N_("Tra cứu phản ánh"),
    "subscribe": N_("Đăng ký nhận tin"),
    "unsubscribe": N_("Hủy nhận tin"),
    "change_language": N_("Đổi ngôn ngữ"),
    "talk_to_staff": N_("Gặp cán bộ"),
    "delete_my_data": N_("Xóa thông tin của tôi"),
}

#: Administrative procedures: what to bring, where to file (Luật Hộ tịch 2014, Luật Cư trú 2020,
#: Nghị định 23/2015 on certification; kept general — the one-stop desk confirms the details).
PROCEDURES = {
    "procedure_birth": N_(
        "Đăng ký khai sinh cho con (trong 60 ngày kể từ ngày sinh): mang tờ khai đăng ký khai "
        "sinh, giấy chứng sinh của cơ sở y tế và giấy tờ tùy thân của người đi đăng ký. Có thể "
        "nộp tại bộ phận một cửa của xã hoặc trực tuyến trên Cổng Dịch vụ công quốc gia."),
    "procedure_residence": N_(
        "Đăng ký thường trú, tạm trú hoặc khai báo tạm vắng: nộp tờ khai thay đổi thông tin cư "
        "trú và giấy tờ chứng minh chỗ ở hợp pháp cho công an xã, hoặc làm trực tuyến qua ứng "
        "dụng VNeID / Cổng Dịch vụ công quốc gia."),
    "procedure_marriage": N_(
        "Đăng ký kết hôn: hai bên cùng có mặt, mang tờ khai đăng ký kết hôn và giấy tờ tùy "
        "thân; nếu đăng ký ở nơi không thường trú thì cần giấy xác nhận tình trạng hôn nhân. "
        "Giấy xác nhận tình trạng hôn nhân cũng làm tại bộ phận một cửa của xã."),
    "procedure_certify": N_(
        "Chứng thực bản sao từ bản chính hoặc chứng thực chữ ký: mang bản chính và bản sao "
        "(hoặc giấy tờ cần ký) cùng giấy tờ tùy thân đến bộ phận một cửa của xã trong giờ làm "
        "việc."),
    "procedure_land": N_(
        "Thủ tục đất đai (cấp sổ đỏ, sang tên, tách thửa): nộp hồ sơ tại bộ phận một cửa của xã "
        "hoặc chi nhánh văn phòng đăng ký đất đai; hồ sơ gồm đơn đăng ký, giấy tờ về quyền sử "
        "dụng đất và giấy tờ tùy thân. Cán bộ địa chính sẽ hướng dẫn cụ thể theo từng trường "
        "hợp."),
    "health_insurance": N_(
        "Thẻ bảo hiểm y tế: làm mới hoặc gia hạn tại đại lý thu BHYT ở xã hoặc bưu điện; trẻ "
        "dưới 6 tuổi được cấp cùng khi đăng ký khai sinh. Thẻ BHYT cũng dùng được trên ứng dụng "
        "VssID hoặc VNeID."),
    "social_allowance": N_(
        "Trợ cấp xã hội (người cao tuổi, hộ nghèo, người khuyết tật): nộp tờ khai đề nghị trợ "
        "cấp kèm giấy tờ liên quan tại bộ phận một cửa của xã; công chức văn hóa - xã hội sẽ "
        "xem xét và hướng dẫn."),
}
