"""Where a resident lives: asked once, said in words, tapped, or suggested by a shared address.

Village notices reach a resident only when their village is known (``bot/broadcasts/plan.py``),
so the bot asks — once, at a natural moment: right after following the OA, or when a village
notice could not reach them — and understands the answer however it comes: a tap on a choice
(payload ``/village <name>``), its number typed, or words ("tôi ở thôn Nậm Mòn", "nha e o ban
pho", "mới chuyển sang thôn Lùng Phình"; read by ``bot/nlu/villages.py``). A shared address that
names a village is only a suggestion: the resident confirms it. Pure functions, as the rest of
``bot/conversation``: the caller stores the village (effect ``{"kind": "village", "village":
name | None}``) and the time the question went out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.config import Commune, Village
from bot.envelope import Choice, Choices, Reply, Text
from bot.i18n import _
from bot.nlu.villages import KIND_WORDS, best_village, find_villages, place_named
from bot.text import fold, nfc, number, search_key

PAYLOAD = "/village "
OTHER = "-"  # "Nơi khác": none of the commune's villages
ASK = "?"  # "Không" to a suggestion: show the list
#: above this many villages the question asks for the name instead of listing them all
MAX_CHOICES = 12
#: words after which a village is where the resident is going ("từ X sang Y": Y)
#: ("tới" is left out: it folds to "toi", which is mostly "tôi")
_TOWARDS = {"sang", "qua", "ve", "den", "vo", "vao", "len", "xuong", "gio"}


def should_ask(commune: Commune, resident: Any) -> bool:
    """Whether the resident may still be asked: the commune has villages, theirs is unknown
    and nobody asked them before (``village_asked_at``) — each resident is asked once."""
    return (
        bool(commune.villages) and resident.village_id is None and resident.village_asked_at is None
    )


def kind_word(commune: Commune) -> str:
    """What the commune's villages are called: "thôn", "buôn/thôn", "ấp", "tổ dân phố"."""
    kinds = list(dict.fromkeys(v.kind for v in commune.villages))
    return "/".join(kinds) if 0 < len(kinds) <= 2 else "thôn"


def display(village: Village) -> str:
    """ "thôn Nậm Mòn", but "Bản Phố" and "Thôn 1" as they are (the kind is in the name)."""
    first = search_key(village.name).split(" ")[0]
    if first in {search_key(k) for k in KIND_WORDS if " " not in k} or search_key(
        village.name
    ).startswith(search_key(village.kind)):
        return village.name
    return f"{village.kind} {village.name}"


def _village(commune: Commune, name: str) -> Village | None:
    key = search_key(name)
    return next((v for v in commune.villages if search_key(v.name) == key), None)


def _options(villages: list[Village]) -> tuple[Choice, ...]:
    return (
        *(Choice(v.name, PAYLOAD + v.name) for v in villages),
        Choice(_("Nơi khác"), PAYLOAD + OTHER),
    )


def question(
    commune: Commune,
    why: str = "welcome",
    among: list[Village] | None = None,
    place: str | None = None,
) -> Reply:
    """Which village? ``why``: ``welcome`` (just followed), ``notice`` (a village notice could
    not reach them), ``ask`` (they want to set or change it), ``unknown`` (``place`` is not one
    of the commune's villages). ``among``: only these (several were named)."""
    kind = kind_word(commune)
    if why == "welcome":
        text = _("Anh/chị ở {kind} nào ạ? Chọn để nhận cả thông báo riêng của {kind} mình:").format(
            kind=kind
        )
    elif why == "notice":
        text = _(
            "{name} vừa có thông báo cho một số {kind}. Để nhận được tin của {kind} mình, "
            "anh/chị cho biết mình ở {kind} nào ạ?"
        ).format(name=commune.name, kind=kind)
    elif why == "unknown":
        text = _(
            'Dạ, "{place}" không có trong danh sách {kind} của {name}. Anh/chị ở {kind} '
            "nào dưới đây ạ?"
        ).format(place=place, kind=kind, name=commune.name)
    else:
        text = _("Dạ, anh/chị ở {kind} nào ạ?").format(kind=kind)
    villages = among or list(commune.villages)
    if len(villages) > MAX_CHOICES:
        return Text(
            text.rstrip(":")
            + " "
            + _('Anh/chị nhắn tên {kind}, ví dụ: "tôi ở {example}".').format(
                kind=kind, example=display(villages[0])
            )
        )
    return Choices(text, _options(villages))


def suggestion(
    commune: Commune, address: Mapping[str, Any] | None, current: str | None
) -> tuple[Choices, str] | None:
    """An address shared with ``user_submit_info`` that names one of the commune's villages
    (in its street line, where Zalo puts thôn/xóm) other than the one on record: "Anh/chị ở
    thôn X phải không ạ?" Có / Không, and the village's name. The commune and province lines
    are left out: "xã Buôn Đôn" is not the village Buôn Đôn."""
    name = best_village(str((address or {}).get("street") or ""), commune.villages)
    village = _village(commune, name) if name else None
    if village is None or village.name == current:
        return None
    return Choices(
        _("Anh/chị ở {village} phải không ạ?").format(village=display(village)),
        (Choice(_("Có"), PAYLOAD + village.name), Choice(_("Không"), PAYLOAD + ASK)),
    ), village.name


def pending(state: Mapping[str, Any] | None, question: Reply, **remember: Any) -> dict[str, Any]:
    """The conversation state after ``question`` went out other than as ``respond``'s reply
    (the welcome, an address suggestion, a notice's question): a typed number picks from its
    choices, as from any menu. A report being filled in keeps its own choices."""
    state = {k: v for k, v in (state or {}).items() if k not in remember}
    if isinstance(question, Choices) and not state.get("report"):
        state["choices"] = [c.payload for c in question.options]
    return {**state, **remember}


def picked(text: str | None, state: Mapping[str, Any], typed_number: bool = True) -> str | None:
    """What a tapped ``/village …`` choice (or, with ``typed_number``, its number typed after
    a village question) names: a village name, :data:`OTHER` or :data:`ASK`."""
    said = (text or "").strip()
    at = number(said, 3) if typed_number else None
    if at is not None:
        pending = state.get("choices") or []
        if 1 <= at <= len(pending):
            said = pending[at - 1]
    return said[len(PAYLOAD) :].strip() if said.startswith(PAYLOAD) else None


def chosen(commune: Commune, choice: str) -> tuple[list[Reply], list[dict[str, Any]]]:
    """The answer to a tapped (or numbered) choice."""
    if choice == ASK:
        return [question(commune, "ask")], []
    if choice == OTHER:
        return [
            Text(
                _(
                    "Dạ vâng. Anh/chị vẫn nhận các thông báo chung của {name}. Khi cần, "
                    'nhắn "tôi ở {kind} …" để nhận cả tin riêng của {kind} mình.'
                ).format(name=commune.name, kind=kind_word(commune))
            )
        ], [{"kind": "village", "village": None}]
    village = _village(commune, choice)
    if village is None:  # a payload we did not offer (an old menu, a hand-made one)
        return [question(commune, "unknown", place=choice[:60])], []
    return [confirmation(commune, village)], [{"kind": "village", "village": village.name}]


def confirmation(commune: Commune, village: Village) -> Text:
    return Text(
        _(
            "Dạ, {name} đã ghi nhận anh/chị ở {village}; anh/chị sẽ nhận cả thông báo "
            'riêng của {village}. Khi chuyển nơi ở, anh/chị nhắn "tôi ở {kind} …" để '
            "đổi."
        ).format(name=commune.name, village=display(village), kind=kind_word(commune))
    )


def without_villages(commune: Commune, text: str) -> str | None:
    """``text`` with the villages it names taken out ("tôi ở thôn Nậm Mòn, đường bị hỏng" →
    "tôi ở , đường bị hỏng"), to see what else it says; None when it names none."""
    found = find_villages(text, commune.villages)
    if not found:
        return None
    text = nfc(text)
    for m in reversed(found):
        text = text[: m.start] + " " + text[m.end :]
    return text


def said(commune: Commune, text: str) -> tuple[list[Reply], list[dict[str, Any]]]:
    """The resident tells where they live (intent ``set_village``): one village named → set;
    "từ X sang Y" → Y; several → which one; a place that is not the commune's → say so and
    offer the list; none → ask."""
    if not commune.villages:
        return [
            Text(
                _(
                    "Dạ, {name} chưa có danh sách thôn trên kênh này; anh/chị vẫn nhận mọi "
                    "thông báo chung của xã."
                ).format(name=commune.name)
            )
        ], []
    found = find_villages(text, commune.villages)
    if len(found) > 1:
        folded = fold(nfc(text)).lower()  # same offsets as the mentions'
        going = [
            m
            for m in found  # "… sang <village>", "… về thôn <village>"
            if set(re.findall(r"\w+", folded[: m.start])[-2:]) & _TOWARDS
        ]
        found = going[-1:] if going else found
    if len(found) == 1:
        village = _village(commune, found[0].village)
        assert village is not None
        return [confirmation(commune, village)], [{"kind": "village", "village": village.name}]
    if found:
        among = [v for m in found if (v := _village(commune, m.village)) is not None]
        return [question(commune, "ask", among=among)], []
    place = place_named(text)
    if place:
        return [question(commune, "unknown", place=place[:60])], []
    return [question(commune, "ask")], []
