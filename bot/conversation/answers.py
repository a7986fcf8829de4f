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
