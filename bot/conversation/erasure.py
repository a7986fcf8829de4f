"""The chat side of "xóa thông tin của tôi": one question with two quick replies, and what the
answer means. Only a yes to that question erases — a tap on "Đồng ý xóa", "1", or a message
that is only agreement ("đồng ý", "có", "vâng, xóa đi"); "có thông báo gì mới không" is a new
question, answered as usual. Anything else erases nothing. The erasure itself is bot/privacy.py.
"""

from __future__ import annotations

from typing import Any

from bot.envelope import Choice, Choices, Text
from bot.i18n import _
from bot.nlu.text import normalise

YES, NO = "/erase yes", "/erase no"
QUESTION_TTL_S = 3600  # a yes an hour later is not an answer to the question any more
#: a whole message of agreement (normalised: accents folded, teencode expanded); "có" alone is
#: one, "có việc khác" is not
_AGREE = {
    "co",
    "dong y",
    "vang",
    "da",
    "ok",
    "oke",
    "u",
    "uh",
    "duoc",
    "xoa",
    "chac chan",
    "yes",
    "sure",
    "agree",
    "i agree",
    "delete",
}
_POLITE = {
    "a",
    "nhe",
    "nha",
    "di",
    "luon",
    "het",
    "xoa",
    "roi",
    "vay",
    "giup",
    "toi",
    "em",
    "minh",
    "dong",
    "y",
    "co",
    "vang",
    "da",
    "ok",
    "duoc",
    "chac",
    "chan",
    "oke",
    "yes",
    "sure",
    "agree",
    "i",
    "delete",
    "it",
    "all",
    "please",
    "my",
    "data",
}
_REFUSE = {"khong", "thoi", "huy", "dung", "khoan", "chua", "no", "cancel", "dont", "keep"}


def question() -> Choices:
    return Choices(
        _(
            "Anh/chị muốn xóa thông tin của mình? Xã sẽ xóa tên, số điện thoại, địa "
            "chỉ, thôn, tin nhắn, đăng ký nhận tin, và lời, ảnh, vị trí trong các phản "
            "ánh đã gửi. Phản ánh chỉ còn loại việc, ngày, tình trạng để xã thống kê, "
            "không còn gắn với anh/chị. Xóa rồi không khôi phục được."
        ),
        (Choice(_("Đồng ý xóa"), YES), Choice(_("Không"), NO)),
    )


def ask(state: dict[str, Any], now_s: float) -> None:
    state["erase_asked"] = now_s


def answer(state: dict[str, Any], text: str | None, now_s: float) -> bool | None:
    """The answer to the question if it was the last thing asked (and is taken off the state):
    True to erase, False to keep, None when this message is about something else."""
    asked = state.pop("erase_asked", None)
    if asked is None or now_s - float(asked) > QUESTION_TTL_S:
        return None
    said = (text or "").strip()
    ours = state.get("choices") == [YES, NO]  # a typed number picks from the last menu shown
    if said == YES or (ours and said == "1"):
        return True
    if said == NO or (ours and said == "2"):
        return False
    if said.isdigit():
        return None  # the number of another menu's choice
    words = normalise(said).split()
    if not words or said.startswith("/"):
        return None  # a photo alone, another menu's choice
    if words[0] in _REFUSE and len(words) <= 4:  # "không", "thôi khỏi", "không xóa"
        return False
    agreed = " ".join(words[:2]) in _AGREE or words[0] in _AGREE
    if agreed and set(words) <= _POLITE and len(words) <= 6:  # "đồng ý xóa", "vâng, xóa đi"
        return True
    return None


def kept() -> Text:
    return Text(
        _("Dạ, xã không xóa gì. Thông tin của anh/chị vẫn được giữ để liên hệ, trả lời anh/chị.")
    )


def done() -> Text:
    return Text(
        _(
            "Xã đã xóa thông tin của anh/chị. Các phản ánh cũ chỉ còn loại việc, ngày và "
            "tình trạng, không còn gắn với anh/chị. Nếu nhắn tiếp, trang này sẽ bắt đầu "
            "lại như với người mới."
        )
    )
