"""The report form in the chat, as a pure state machine (no I/O; bot/inbound.py files the
ticket when the form says it is complete).

"đường thôn Nà Lốc sạt lở" → the words already give the category (disaster), the village and a
description, so only what is missing is asked: category (quick choices), village, a short
description, a photo or location pin (optional; skipped for emergencies), and consent to keep
name and phone (anonymous reports are allowed). "hủy" leaves the form at any step.

The form lives in the conversation state under ``report``; each step's quick choices carry
payloads ``/report …`` so a tap, a typed number or the words themselves all work.
"""

from __future__ import annotations

import re
from typing import Any

from bot.config import Commune
from bot.envelope import Choice, Choices, Reply, Text
from bot.feedback import phone
from bot.feedback.categories import CATEGORIES, CHAT_ORDER, guess
from bot.i18n import _
from bot.text import number, search_key, words_key

# typed answers, accent-free; the English ones for residents answered in English (issue 10)
CANCEL = {
    "huy",
    "thoi",
    "khong gui nua",
    "huy phan anh",
    "thoi khong gui",
    "dung lai",
    "/report cancel",
    "cancel",
    "stop",
}
SKIP = {"bo qua", "khong", "khong co", "ko", "k", "khong can", "/report skip", "skip", "no"}
YES = {
    "co",
    "dong y",
    "ok",
    "oke",
    "u",
    "uh",
    "vang",
    "da",
    "duoc",
    "dong y a",
    "/report consent yes",
    "yes",
    "i agree",
}
YES_FIRST = {
    "co",
    "dung",
    "vang",
    "da",
    "ok",
    "oke",
    "u",
    "uh",
    "duoc",  # "đúng vậy", "vâng ạ"
    "yes",
}
NO = {
    "khong",
    "ko",
    "k",
    "khong dong y",
    "an danh",
    "gui an danh",
    "/report consent no",
    "no",
    "anonymous",
    "send anonymously",
}
#: words that ask to report but say nothing of the matter
GENERIC = set(
    "toi em minh anh chi muon can xin gui bao cao phan anh kien nghi y kien gop y "
    "khieu nai to giac cho xa voi a oi nhe viec mot ve la co duoc khong".split()
)
HOTLINES = {
    "fire": "114",
    "security": "113",
    "disaster": "112",
    "epidemic": "115",
    "accident": "115",
}
FORM_TTL_S = 2 * 3600  # a form left unfinished this long is dropped: the next message is new


def _words(text: str | None) -> str:
    return words_key(text or "").strip()


def describes(text: str | None) -> bool:
    """Whether the words say something about the matter beyond "tôi muốn phản ánh"."""
    return len([w for w in _words(text).split() if w not in GENERIC]) >= 2


def start(
    commune: Commune,
    text: str | None,
    entities: list[dict[str, Any]],
    resident_village: str | None,
    now_s: float,
    *,
    category: str | None = None,
    emergency: bool = False,
) -> tuple[dict[str, Any], list[Reply]]:
    """A new form from the report's first words. ``emergency`` (the triage's decision, with
    its ``category``): complete at once — the words are the description, the village is the
    one named or known, nothing is asked before filing. ``category`` alone: the conversation's
    rules already know it (a power cut told as happening)."""
    village = next((e["value"] for e in entities if e["entity"] == "village"), None)
    form: dict[str, Any] = {
        "at": now_s,
        "category": category or guess(text or ""),
        "village": village or resident_village,
        "description": (text or "").strip() if describes(text) or emergency else None,
        "media": [],
        "emergency": emergency,
    }
    return _next(commune, form)


def expired(form: dict[str, Any], now_s: float) -> bool:
    return now_s - float(form.get("at") or 0) > FORM_TTL_S


def step(
    commune: Commune,
    form: dict[str, Any],
    text: str | None,
    attachments: list[dict[str, Any]] | None,
    entities: list[dict[str, Any]],
    choices: list[str],
    now_s: float,
) -> tuple[dict[str, Any] | None, list[Reply], dict[str, Any] | None]:
    """One answer to the current question → (the form or None when it ended, replies,
    the finished report when complete)."""
    said = (text or "").strip()
    at = number(said, 3)
    if at is not None and 1 <= at <= len(choices):
        said = choices[at - 1]
    form["at"] = now_s
    words = _words(said) if not said.startswith("/") else said
    if words in CANCEL:
        return None, [Text(_("Dạ, đã hủy phản ánh. Anh/chị cần gì cứ nhắn cho xã ạ."))], None
    asked = form.get("asking")
    media, place = media_of(attachments)  # a photo or a pin is welcome at any step
    if media:
        form["media"] = [*form.get("media", []), *media][:5]
    if place:
        form["lat"], form["long"] = place
    if asked == "category":
        code = (
            said.removeprefix("/report category ")
            if said.startswith("/report category ")
            else guess(said)
        )
        if code in CATEGORIES:
            form["category"] = code
            if not form.get("description") and describes(said) and not said.startswith("/"):
                form["description"] = said
    elif asked == "village":
        if said.startswith("/report village "):
            chosen = said.removeprefix("/report village ")
            form["village"] = "" if chosen == "-" else chosen
        else:
            village = next((e["value"] for e in entities if e["entity"] == "village"), None)
            if village:
                form["village"] = village
            elif words in SKIP or words in ("khac", "khong thuoc thon nao"):
                form["village"] = ""
            elif said and form.get("village_tries"):  # asked twice: the report goes on
                form["village"] = ""  # without a village rather than stall (staff can ask)
            elif said:
                form["village_tries"] = 1
    elif asked == "description":
        if said and not said.startswith("/"):
            form["description"] = said
        elif form.get("media") or form.get("lat") is not None:
            form["description"] = _("(ảnh/vị trí, không kèm mô tả)")
    elif asked == "media":
        if words in SKIP or said == "/report skip" or attachments:
            form["media_done"] = True
        elif said and not said.startswith("/"):
            form["description"] = f"{form.get('description') or ''}\n{said}".strip()
            form["media_done"] = True
    elif asked == "consent":
        form["consent"] = consent_of(said)
    form, replies = _next(commune, form)
    if (
        (media or place)
        and asked not in ("media", "description")
        and form.get("asking") is not None
    ):  # sent while another question waited
        replies = [Text(_("Dạ, xã đã nhận ảnh/vị trí.")), *replies]
    if form.get("asking") is None:
        return None, replies, report_of(form)
    return form, replies, None


def media_of(
    attachments: list[dict[str, Any]] | None,
) -> tuple[list[dict[str, Any]], tuple[float, float] | None]:
    """The photos (a Zalo URL, or a web chat upload's id) and the last map pin of a message."""
    media: list[dict[str, Any]] = []
    place = None
    for a in attachments or []:
        payload = a.get("payload") or {}
        if a.get("type") in ("image", "gif") and payload.get("url"):
            media.append({"type": "image", "url": payload["url"]})
        elif a.get("type") == "image" and payload.get("upload"):  # sent from the web chat
            media.append({"type": "image", "upload": payload["upload"]})
        elif a.get("type") == "location":
            coords = payload.get("coordinates") or payload
            try:
                place = (float(coords["latitude"]), float(coords["longitude"]))
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
    return media, place


def report_of(form: dict[str, Any]) -> dict[str, Any]:
    """A complete form as the ticket to file (``consent`` None: an emergency, asked after;
    ``emergency``: the triage's decision, not the category's)."""
    return {
        **{
            k: form.get(k)
            for k in ("category", "village", "description", "media", "lat", "long", "consent")
        },
        "emergency": bool(form.get("emergency")),
    }


def ask_again(commune: Commune, form: dict[str, Any]) -> tuple[dict[str, Any], list[Reply]]:
    """The form's current question once more (after the bot answered something else)."""
    return _next(commune, dict(form))


def _next(commune: Commune, form: dict[str, Any]) -> tuple[dict[str, Any], list[Reply]]:
    """Ask the first thing still missing; None asked when complete."""
    repeat = form.get("asking")
    if not form.get("category"):
        form["asking"] = "category"
        options = tuple(Choice(_(CATEGORIES[c].name), f"/report category {c}") for c in CHAT_ORDER)
        return form, [
            Choices(
                _(
                    "Dạ, xã tiếp nhận phản ánh của anh/chị. Việc anh/chị phản ánh "
                    "thuộc loại nào? (Nhắn HỦY nếu muốn dừng.)"
                )
                if repeat != "category"
                else _("Anh/chị vui lòng chọn một loại (bấm hoặc nhắn số):"),
                options,
            )
        ]
    emergency = bool(form.get("emergency"))  # filed first, asked after
    if form.get("village") is None and commune.villages and not emergency:
        form["asking"] = "village"
        options = tuple(Choice(v.name, f"/report village {v.name}") for v in commune.villages)
        question = (
            _("Việc này ở thôn/bản nào ạ?")
            if repeat != "village"
            else _(
                "Anh/chị bấm chọn thôn/bản nơi xảy ra việc này (hoặc nhắn số), hoặc chọn Nơi khác:"
            )
        )
        return form, [Choices(question, (*options, Choice(_("Nơi khác"), "/report village -")))]
    if not form.get("description"):
        form["asking"] = "description"
        return form, [
            Text(_("Anh/chị mô tả ngắn sự việc giúp xã: ở đâu, từ khi nào, mức độ thế nào?"))
        ]
    if (
        not emergency
        and not form.get("media_done")
        and not form.get("media")
        and form.get("lat") is None
    ):
        form["asking"] = "media"
        return form, [
            Choices(
                _(
                    "Nếu có thể, anh/chị gửi một ảnh hoặc vị trí (ghim bản đồ) để "
                    "cán bộ dễ tìm. Không có thì chọn Bỏ qua."
                ),
                (Choice(_("Bỏ qua"), "/report skip"),),
            )
        ]
    if form.get("consent") is None and not emergency:  # an emergency is filed first
        form["asking"] = "consent"
        return form, [consent_question(None)]
    form["asking"] = None
    return form, []


def consent_question(code: str | None) -> Choices:
    """Name and phone kept only if the resident agrees; asked before filing, or right after
    an emergency was filed anonymously (``code``)."""
    yes, no = (
        (f"/consent {code} yes", f"/consent {code} no")
        if code
        else ("/report consent yes", "/report consent no")
    )
    return Choices(
        _(
            "Để cán bộ liên hệ khi cần, anh/chị có đồng ý cho xã lưu tên và số điện "
            "thoại không? Chỉ cán bộ xử lý được xem. Anh/chị cũng có thể gửi ẩn danh."
        ),
        (Choice(_("Đồng ý"), yes), Choice(_("Gửi ẩn danh"), no)),
    )


def consent_of(text: str | None) -> bool | None:
    """Yes, no, or not an answer: a tap, "1"/"2" from the numbered menu, or the words."""
    said = (text or "").strip()
    if said.startswith("/"):
        return said.endswith(" yes") if said.endswith((" yes", " no")) else None
    if said in ("1", "2"):
        return said == "1"
    words = _words(said)
    if words in NO or "an danh" in words or {"khong", "ko", "k"} & set(words.split()):
        return False
    if words in YES or "dong y" in words or (words.split() or [""])[0] in YES_FIRST:
        return True
    return None


PHONE_SKIP = "/phone skip"


def phone_question(code: str) -> Choices:
    """Asked on the web chat after the resident agreed to be contacted: Zalo shares a verified
    number with one tap, a web page can only ask for it."""
    return Choices(
        _(
            "Anh/chị để lại số điện thoại để cán bộ gọi lại về phản ánh {code} "
            "(dạng 09xx xxx xxx). Không muốn để số thì chọn Bỏ qua."
        ).format(code=code),
        (Choice(_("Bỏ qua"), PHONE_SKIP),),
    )


def phone_reply(text: str | None, code: str) -> dict[str, Any] | None:
    """The answer to the phone question: a number (normalised), a skip, a number that is not
    a Vietnamese one (``invalid``: asked again), or None when the resident wrote about
    something else."""
    said = (text or "").strip()
    if said in (PHONE_SKIP, "1") or _words(said) in SKIP:
        return {"kind": "phone", "code": code, "phone": None}
    number = phone.normalise(said)
    if number:
        return {"kind": "phone", "code": code, "phone": number}
    if phone.looks_like_one(said):
        return {"kind": "phone", "code": code, "invalid": True}
    return None


def consent_reply(text: str | None, code: str) -> dict[str, Any] | None:
    """The answer to the consent question asked after an emergency was filed."""
    agreed = consent_of(text)
    if agreed is None:
        return None
    return {"kind": "consent", "code": code, "consent": agreed}


def hotline(category: str) -> str | None:
    """For an emergency: the national number to call at once."""
    number = HOTLINES.get(category)
    if number is None:
        return None
    return _("Nếu có nguy hiểm đến người, anh/chị gọi ngay {number}.").format(number=number)


RATE = re.compile(r"^/rate (PA-\d{4}-\d{6}) ([1-5])$")
REOPEN = re.compile(r"^(?:/reopen|mo lai|mo lai phan anh|reopen)\s+(pa-\d{4}-\d{6})[\s.!]*$", re.I)
#: typed answers to "hài lòng không?" (accent-free)
RATING_WORDS = {
    "rat hai long": 5,
    "hai long": 4,
    "tam duoc": 3,
    "binh thuong": 3,
    "chua hai long": 2,
    "khong hai long": 1,
}
REOPEN_WORDS = {
    "chua giai quyet",
    "chua xong",
    "chua duoc giai quyet",
    "mo lai",
    "van chua",
    "van chua sua",
    "chua sua",
}


def rating_reply(text: str | None, pending: str | None) -> dict[str, Any] | None:
    """A rating or a reopening: a tapped payload (names its ticket), or — when a ticket of the
    resident awaits a rating — a typed 1–6 or words like "hài lòng" / "chưa xong"."""
    said = (text or "").strip()
    if m := RATE.match(said):
        return {"kind": "rate", "code": m.group(1), "rating": int(m.group(2))}
    if m := REOPEN.match(search_key(said)):
        return {"kind": "reopen", "code": m.group(1).upper()}
    if pending is None:
        return None
    words = _words(said).strip(" .!")
    if said in {"1", "2", "3", "4", "5"}:
        return {"kind": "rate", "code": pending, "rating": int(said)}
    if said == "6" or any(w in f" {words} " for w in (f" {r} " for r in REOPEN_WORDS)):
        return {"kind": "reopen", "code": pending}
    if words in RATING_WORDS:
        return {"kind": "rate", "code": pending, "rating": RATING_WORDS[words]}
    return None
