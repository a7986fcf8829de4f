"""Answers filled from the commune's own facts (config): one set of answers, many communes.

The texts live beside the training data, in ``data/answers/answers.yml`` (Vietnamese message ids,
translated through Babel); office hours and the contact card are composed here.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

import yaml

from bot.config import ROOT, Commune, OfficeHours
from bot.i18n import N_, _
from bot.nlu.intents import TITLES  # how each intent is named on a button (engine, render)
from bot.timeutil import to_vn, utcnow

_DAY_NAMES = (
    N_("Thứ Hai"),
    N_("Thứ Ba"),
    N_("Thứ Tư"),
    N_("Thứ Năm"),
    N_("Thứ Sáu"),
    N_("Thứ Bảy"),
    N_("Chủ nhật"),
)


def _hm(t) -> str:
    return f"{t.hour}:{t.minute:02d}"


def _days_label(days: list[int]) -> str:
    if len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        return _("{first} đến {last}").format(
            first=_(_DAY_NAMES[days[0]]), last=_(_DAY_NAMES[days[-1]])
        )
    return ", ".join(_(_DAY_NAMES[d]) for d in days)


def office_hours_lines(commune: Commune, periods: list[OfficeHours] | None = None) -> list[str]:
    """The commune office's hours (or ``periods``, another place's), one line per set of days."""
    groups: dict[tuple[int, ...], list[str]] = {}
    for period in commune.office_hours if periods is None else periods:
        key = tuple(period.weekdays)
        groups.setdefault(key, []).append(f"{_hm(period.open)}–{_hm(period.close)}")
    return [f"{_days_label(list(days))}: {', '.join(spans)}" for days, spans in groups.items()]


def is_open(commune: Commune, when: datetime | None = None) -> bool:
    local = to_vn(when or utcnow())
    now = local.time()
    return any(
        local.weekday() in p.weekdays and p.open <= now < p.close for p in commune.office_hours
    )


def office_hours(commune: Commune, when: datetime | None = None) -> str:
    lines = office_hours_lines(commune)
    text = (
        _("{name} làm việc:").format(name=commune.name)
        + "\n"
        + "\n".join(f"• {line}" for line in lines)
    )
    status = (
        _("Hiện giờ đang trong giờ làm việc.")
        if is_open(commune, when)
        else _(
            "Hiện giờ ngoài giờ làm việc; anh/chị có thể nhắn lại, cán bộ sẽ xem vào giờ làm việc."
        )
    )
    return text + "\n" + status + "\n" + _("Ngày lễ, Tết nghỉ theo quy định.")


def office_contact(commune: Commune) -> str:
    lines = [
        _("Liên hệ {name}:").format(name=commune.name),
        _("• Địa chỉ: {address}").format(address=commune.address),
        _("• Điện thoại: {phone}").format(phone=commune.phone),
    ]
    if commune.email:
        lines.append(_("• Email: {email}").format(email=commune.email))
    return "\n".join(lines)


ANSWERS = ROOT / "data" / "answers" / "answers.yml"


@lru_cache(maxsize=1)
def templates() -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(fragments, answers) from ``data/answers/answers.yml``: every intent's answer and every
    situation's (``subscribe_topic`` …), each ``{"text": …, "menu": bool}``."""
    raw = yaml.safe_load(ANSWERS.read_text(encoding="utf-8"))
    situations = raw.get("situations") or {}
    if set(situations) & set(raw["intents"]):
        raise ValueError(f"{ANSWERS}: a situation may not share an intent's name")
    entries = {**raw["intents"], **situations}
    return dict(raw["fragments"]), {
        str(k): (v if isinstance(v, dict) else {"text": v}) for k, v in entries.items()
    }


#: languages residents ask for (codes as in config `languages:`, domain-vn.md §5.1)
LANGUAGE_NAMES = {
    "vi": N_("tiếng Việt"),
    "en": N_("tiếng Anh"),
    "hnj": N_("tiếng H'Mông"),
    "ium": N_("tiếng Dao"),
    "tyz": N_("tiếng Tày"),
    "nut": N_("tiếng Nùng"),
    "blt": N_("tiếng Thái"),
    "rad": N_("tiếng Ê Đê"),
    "cmo": N_("tiếng M'Nông"),
    "jra": N_("tiếng Jrai"),
    "km": N_("tiếng Khmer"),
}


def render(
    intent: str,
    commune: Commune,
    village: str | None = None,
    topic: str | None = None,
    language: str | None = None,
    channel: str = "zalo",
) -> tuple[str, bool]:
    """The answer to ``intent`` (or a situation) for ``commune`` in the current language,
    and whether the quick choices follow it. ``KeyError`` for one without an answer.
    An answer may have a wording for the web chat (``web:``): that page is not Zalo."""
    from bot.notices.workflow import TOPIC_NAMES

    fragments, intents = templates()
    entry = intents[intent]
    facts = {
        "name": commune.name,
        "phone": commune.phone,
        "address": commune.address,
        "email": commune.email or "",
    }
    facts["call"] = _(fragments["call"]).format(**facts)
    facts["more"] = _(fragments["more"]).format(**facts)
    facts["where"] = (
        _(fragments["where_village"]).format(village=village)
        if village
        else _(fragments["where_unknown"])
    )
    facts["what"] = _(TITLES[intent]).lower() if intent in TITLES else ""
    facts["topic"] = _(TOPIC_NAMES[topic]) if topic in TOPIC_NAMES else ""
    facts["language"] = _(LANGUAGE_NAMES[language]) if language in LANGUAGE_NAMES else ""
    text = entry.get("web", entry["text"]) if channel == "webchat" else entry["text"]
    return _(text).format(**facts), bool(entry.get("menu"))
