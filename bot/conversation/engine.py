"""From a resident's message to what the bot says. No I/O: the caller persists state and replies.

Used by every channel (Zalo, web chat) through the inbound processor, and by ``bot ask``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.config import Commune
from bot.conversation import answers
from bot.envelope import Choice, Choices, Parse, Reply, Text
from bot.i18n import gettext_for
from bot.nlu import keywords

CONFIDENCE_THRESHOLD = 0.5


@dataclass
class TurnResult:
    parse: Parse
    replies: list[Reply]
    state: dict[str, Any] = field(default_factory=dict)

    @property
    def reply_text(self) -> str:
        parts = []
        for r in self.replies:
            parts.append(r.numbered() if isinstance(r, Choices) else getattr(r, "text", "")
                         or getattr(r, "caption", "") or "")
        return "\n\n".join(p for p in parts if p)


def _menu(_) -> tuple[Choice, ...]:  # type: ignore[no-untyped-def]
    return (Choice(_("Giờ làm việc"), "/office_hours"),
            Choice(_("Địa chỉ, điện thoại"), "/office_contact"),
            Choice(_("Gặp cán bộ"), "/talk_to_staff"))


def _from_choice(text: str, state: dict[str, Any]) -> str | None:
    """A tapped button arrives as its payload; a typed number picks from the last menu."""
    stripped = text.strip()
    if stripped.startswith("/") and len(stripped) < 64:
        return stripped[1:]
    pending = state.get("choices") or []
    if stripped.isdigit() and 1 <= int(stripped) <= len(pending):
        return pending[int(stripped) - 1].lstrip("/")
    return None


def respond(commune: Commune, text: str | None, *, language: str = "vi",
            state: dict[str, Any] | None = None, attachments: list[dict[str, Any]] | None = None,
            now: datetime | None = None) -> TurnResult:
    _ = gettext_for(language)
    state = dict(state or {})
    if not text or not text.strip():
        if attachments:
            kinds = {a.get("type") for a in attachments}
            what = (_("vị trí") if kinds == {"location"} else _("ảnh") if kinds <= {"image", "gif"}
                    else _("tệp"))
            return TurnResult(Parse("attachment", 1.0),
                              [Text(_("Cảm ơn anh/chị đã gửi {what}. Anh/chị vui lòng nhắn thêm "
                                      "vài chữ cho biết cần xã hỗ trợ việc gì ạ.").format(what=what))],
                              state)
        return TurnResult(Parse("nlu_fallback", 0.0), [], state)

    chosen = _from_choice(text, state)
    parse = Parse(chosen, 1.0) if chosen else keywords.parse(text)
    intent = parse.intent if parse.confidence >= CONFIDENCE_THRESHOLD else "nlu_fallback"
    state.pop("choices", None)

    replies: list[Reply]
    if intent == "office_hours":
        replies = [Text(answers.office_hours(commune, _, now))]
    elif intent == "office_contact":
        replies = [Text(answers.office_contact(commune, _))]
    elif intent == "greet":
        replies = [Choices(_("Xin chào anh/chị! Đây là trang Zalo của {name}. Anh/chị cần hỏi "
                             "gì ạ?").format(name=commune.name), _menu(_))]
    elif intent == "thanks":
        replies = [Text(_("Dạ, không có gì ạ. Anh/chị cần gì cứ nhắn cho xã nhé."))]
    elif intent == "goodbye":
        replies = [Text(_("Chào anh/chị, chúc anh/chị một ngày tốt lành!"))]
    elif intent == "talk_to_staff":
        replies = [Text(_("Hiện cán bộ chưa trực trên kênh nhắn tin này. Anh/chị vui lòng gọi "
                          "{phone} trong giờ làm việc hoặc đến {address}.").format(
                              phone=commune.phone, address=commune.address))]
    else:
        intent = "nlu_fallback"
        misses = int(state.get("misses", 0)) + 1
        state["misses"] = misses
        replies = [Choices(_("Xin lỗi, tôi chưa hiểu câu hỏi của anh/chị. Anh/chị có thể chọn "
                             "một mục dưới đây hoặc hỏi cán bộ xã:"), _menu(_))]
    if intent != "nlu_fallback":
        state["misses"] = 0
    for reply in replies:
        if isinstance(reply, Choices):
            state["choices"] = [c.payload for c in reply.options]
    state["last_intent"] = intent
    return TurnResult(Parse(intent, parse.confidence, parse.entities), replies, state)


def welcome(commune: Commune, language: str = "vi") -> list[Reply]:
    """What a resident sees after following the OA or tapping "Nhắn tin"."""
    _ = gettext_for(language)
    return [Choices(_("Cảm ơn anh/chị đã quan tâm trang Zalo của {name}. Anh/chị có thể hỏi "
                      "giờ làm việc, địa chỉ, số điện thoại của xã, hoặc chọn:").format(
                          name=commune.name), _menu(_))]
