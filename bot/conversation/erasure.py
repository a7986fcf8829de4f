"""The chat side of "xóa thông tin của tôi": one question with two quick replies, and what the
answer means. Only a yes to that question (a tap on "Đồng ý xóa", "1", or the words) erases;
anything else erases nothing. The erasure itself is bot/privacy.py.
"""

from __future__ import annotations

from typing import Any

from bot.envelope import Choice, Choices, Text
from bot.feedback.chat import consent_of

YES, NO = "/erase yes", "/erase no"
QUESTION_TTL_S = 3600  # a yes an hour later is not an answer to the question any more


def question(_) -> Choices:  # type: ignore[no-untyped-def]
    return Choices(_("Anh/chị muốn xóa thông tin của mình? Xã sẽ xóa tên, số điện thoại, địa "
                     "chỉ, thôn, tin nhắn, đăng ký nhận tin, và lời, ảnh, vị trí trong các phản "
                     "ánh đã gửi. Phản ánh chỉ còn loại việc, ngày, tình trạng để xã thống kê, "
                     "không còn gắn với anh/chị. Xóa rồi không khôi phục được."),
                   (Choice(_("Đồng ý xóa"), YES), Choice(_("Không"), NO)))


def ask(state: dict[str, Any], now_s: float) -> None:
    state["erase_asked"] = now_s


def answer(state: dict[str, Any], text: str | None, now_s: float) -> bool | None:
    """The answer to the question if it was the last thing asked (and is taken off the state):
    True to erase, False to keep, None when this message is about something else."""
    asked = state.pop("erase_asked", None)
    if asked is None or now_s - float(asked) > QUESTION_TTL_S:
        return None
    said = (text or "").strip()
    if said.startswith("/") and said not in (YES, NO):
        return None  # another menu's choice
    return consent_of(said)


def kept(_) -> Text:  # type: ignore[no-untyped-def]
    return Text(_("Dạ, xã không xóa gì. Thông tin của anh/chị vẫn được giữ để liên hệ, trả lời "
                  "anh/chị."))


def done(_) -> Text:  # type: ignore[no-untyped-def]
    return Text(_("Xã đã xóa thông tin của anh/chị. Các phản ánh cũ chỉ còn loại việc, ngày và "
                  "tình trạng, không còn gắn với anh/chị. Nếu nhắn tiếp, trang này sẽ bắt đầu "
                  "lại như với người mới."))
