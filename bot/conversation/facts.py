"""The commune's facts beyond its own hours and phone (config.yml, docs/procedures.md): its
offices by kind — police, health station, land, culture, one-stop desk … — with their address,
phone and hours, and each village's head and propagandists with their public contacts.

Only what the config says is said; what it does not say, the bot says it does not know and
gives the commune's phone (never a guess, never the commune office's hours for another place).
Pure functions over the commune's config; the words a resident uses for each are matched on
``bot.nlu.text.normalise``d text.
"""

from __future__ import annotations

import re

from bot.config import Commune, Office, PublicContact, Village
from bot.i18n import N_, _
from bot.text import fold, search_key

#: how each kind of office is named in an answer
KIND_NAMES = {
    "one_stop": N_("bộ phận một cửa"),
    "office": N_("văn phòng UBND"),
    "police": N_("công an xã"),
    "health": N_("trạm y tế xã"),
    "land": N_("bộ phận địa chính"),
    "culture": N_("bộ phận văn hóa - xã hội"),
    "justice": N_("bộ phận tư pháp - hộ tịch"),
    "military": N_("ban chỉ huy quân sự xã"),
    "other": N_("văn phòng UBND"),
}
#: how residents name each kind (normalised text)
_KIND_IN_WORDS = (
    ("one_stop", r"\bmot cua\b|\bhanh chinh cong\b|\btiep nhan (?:ho so|va tra ket qua)\b"),
    ("police", r"\bcong an\b|\bca (?:xa|phuong)\b|\bcanh sat khu vuc\b|\bcsks\b"),
    ("health", r"\btram y te\b|\btyt\b|\by te xa\b|\btram xa\b"),
    ("land", r"\bdia chinh\b"),
    ("culture", r"\b(?:can bo|cong chuc|bo phan|ban) van hoa\b|\bvan hoa xa hoi\b"),
    ("justice", r"\btu phap\b"),
    ("military", r"\bquan su\b"),
)
_HEAD = re.compile(
    r"\btruong (?:thon|ban|buon|ap|lang|xom|khu pho|khu|to dan pho)\b|\bto truong\b|\bgia lang\b"
)
_PROPAGANDIST = re.compile(r"\btuyen truyen vien\b|\bttv\b|\btuyen truyen\b")
_EMERGENCY = {"police": N_("Khẩn cấp gọi 113."), "health": N_("Cấp cứu gọi 115.")}
#: the village head's title by the village's kind
_HEAD_TITLES = {
    "thôn": N_("Trưởng thôn"),
    "bản": N_("Trưởng bản"),
    "buôn": N_("Trưởng buôn"),
    "ấp": N_("Trưởng ấp"),
    "làng": N_("Trưởng làng"),
    "xóm": N_("Trưởng xóm"),
    "tổ dân phố": N_("Tổ trưởng tổ dân phố"),
    "khu phố": N_("Trưởng khu phố"),
    "tổ": N_("Tổ trưởng"),
}


def _normalise(text: str) -> str:
    from bot.nlu.text import normalise

    return normalise(text)


def kind_of(office: Office) -> str:
    """The office's kind: as configured, else read from its code and name."""
    return office.what


def office_named(text: str) -> str | None:
    """The kind of office ``text`` asks about ("sdt công an xã" → police), None: none."""
    key = _normalise(text)
    for kind, pattern in _KIND_IN_WORDS:
        if re.search(pattern, key):
            return kind
    return None


def office_answer(commune: Commune, kind: str) -> str:
    """Where, when and how to reach the commune's office of ``kind``: what config gives, and
    honestly what it does not."""
    from bot.conversation.answers import office_hours_lines, render

    office = commune.office_of(kind)
    emergency = [_(_EMERGENCY[kind])] if kind in _EMERGENCY else []
    if office is None and kind in ("one_stop", "office"):
        # the one-stop desk is the commune office's own (UBND xã): its address, phone, hours
        from bot.conversation.answers import office_contact

        lines = office_contact(commune).split("\n")
        lines.append(_("• Giờ làm việc:"))
        lines += [f"  {line}" for line in office_hours_lines(commune)]
        return "\n".join(lines)
    if office is None or not (office.address or office.phone or office.hours):
        if kind == "health" and office is None:
            return render("health_station", commune)[0]
        what = _(KIND_NAMES.get(kind, KIND_NAMES["other"]))
        text = _(
            "Trang này chưa có thông tin về {what} của {name} (địa chỉ, điện thoại, giờ làm "
            "việc). Anh/chị vui lòng gọi {phone} để được hướng dẫn."
        ).format(what=what, name=commune.name, phone=commune.phone)
        return "\n".join([text, *emergency])
    lines = [office.name + ":"]
    missing = []
    if office.address:
        lines.append(_("• Địa chỉ: {address}").format(address=office.address))
    else:
        missing.append(_("địa chỉ"))
    if office.phone:
        lines.append(_("• Điện thoại: {phone}").format(phone=office.phone))
    else:
        missing.append(_("số điện thoại"))
    if office.hours:
        lines.append(_("• Giờ làm việc:"))
        lines += [f"  {line}" for line in office_hours_lines(commune, office.hours)]
    else:
        missing.append(_("giờ làm việc"))
    if missing:
        lines.append(
            _(
                "Trang này chưa có {missing} của {what}; anh/chị vui lòng gọi {phone} để được "
                "hướng dẫn."
            ).format(missing=", ".join(missing), what=office.name, phone=commune.phone)
        )
    return "\n".join(lines + emergency)


# -- village heads and propagandists -----------------------------------------------------------
def people_named(text: str) -> bool:
    """Whether ``text`` names a village head or a propagandist."""
    key = _normalise(text)
    return bool(_HEAD.search(key) or _PROPAGANDIST.search(key))


def people_asked(text: str) -> tuple[bool, bool]:
    """(the village head asked, a propagandist asked); neither named: both."""
    key = _normalise(text)
    head, propagandist = bool(_HEAD.search(key)), bool(_PROPAGANDIST.search(key))
    return (head, propagandist) if head or propagandist else (True, True)


def village_label(village: Village) -> str:
    """ "thôn Nậm Mòn"; a name that already says its kind ("Buôn Trí", "Thôn 1") as it is."""
    if fold(village.name.lower()).startswith(fold(village.kind)):
        return village.name
    return f"{village.kind} {village.name}"


def _person(contact: PublicContact) -> str:
    said = contact.name + (f" ({contact.title})" if contact.title else "")
    if contact.phone:
        return said + ", " + _("điện thoại {phone}").format(phone=contact.phone)
    return said + " — " + _("trang này chưa có số điện thoại")


def has_people(commune: Commune) -> bool:
    return any(v.head or v.propagandists for v in commune.villages)


def people_answer(
    commune: Commune, village_name: str | None, head: bool = True, propagandists: bool = True
) -> str | None:
    """The head and/or propagandists of ``village_name`` with their public contacts; what is
    not configured is said not known. None: the village is not one of the commune's."""
    village = next(
        (v for v in commune.villages if search_key(v.name) == search_key(village_name or "")),
        None,
    )
    if village is None:
        return None
    label = village_label(village)
    lines: list[str] = []
    missing = False
    if head:
        title = _(_HEAD_TITLES[village.kind])
        if village.head:
            lines.append(
                _("{title} {village}: {person}").format(
                    title=title, village=village.name, person=_person(village.head)
                )
            )
            missing = missing or not village.head.phone
        else:
            lines.append(
                _("Xã chưa cập nhật {title} {village} trên trang này.").format(
                    title=title.lower(), village=village.name
                )
            )
            missing = True
    if propagandists:
        if village.propagandists:
            lines.append(_("Tuyên truyền viên {village}:").format(village=label))
            lines += [f"• {_person(p)}" for p in village.propagandists]
            missing = missing or any(not p.phone for p in village.propagandists)
        else:
            lines.append(
                _("Xã chưa cập nhật tuyên truyền viên của {village} trên trang này.").format(
                    village=label
                )
            )
            missing = True
    if missing:
        lines.append(
            _("Anh/chị vui lòng gọi {phone} trong giờ làm việc để được hướng dẫn.").format(
                phone=commune.phone
            )
        )
    return "\n".join(lines)


def which_village(commune: Commune) -> str:
    """The question when the resident did not say which village and the bot does not know."""
    example = village_label(commune.villages[0]) if commune.villages else _("thôn")
    return _('Anh/chị hỏi {who} của thôn nào ạ? Nhắn tên thôn, ví dụ: "trưởng {example}".').format(
        who=_("trưởng thôn, tuyên truyền viên"), example=example
    )


def not_a_village(commune: Commune, place: str) -> str:
    """A place the resident named that is none of the commune's villages: said so, then which."""
    return (
        _("{place} không có trong danh sách thôn của {name} trên trang này.").format(
            place=place, name=commune.name
        )
        + " "
        + which_village(commune)
    )
