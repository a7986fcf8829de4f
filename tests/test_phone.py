"""Vietnamese phone numbers as residents type them (bot/feedback/phone.py): the web chat asks
for one after a report's consent (tests/test_webchat.py goes through that real path)."""

from __future__ import annotations

import pytest

from bot.feedback.chat import phone_reply
from bot.feedback.phone import display, normalise


@pytest.mark.parametrize(
    "typed, kept",
    [
        ("0912 345 678", "0912345678"),
        ("0912.345.678", "0912345678"),
        ("0912-345-678", "0912345678"),
        ("+84 912 345 678", "0912345678"),
        ("+84 (0) 912 345 678", "0912345678"),
        ("84912345678", "0912345678"),
        ("sđt của em là 0387 654 321 ạ", "0387654321"),  # Viettel 03x
        ("0569 123 456", "0569123456"),  # Vietnamobile / Gmobile 05x
        ("(024) 3825 1234", "02438251234"),  # Hà Nội landline: 024 + 8 digits
        ("0214 385 2123", "02143852123"),  # Lào Cai landline: 0214 + 7 digits
        ("+84 214 385 2123", "02143852123"),
    ],
)
def test_vietnamese_numbers_are_normalised(typed, kept):
    assert normalise(typed) == kept


@pytest.mark.parametrize(
    "typed",
    [
        "0112345678",  # no such network prefix
        "091234567",  # one digit short
        "09123456789",  # one too many
        "0214 000 001",  # a landline without enough digits
        "+1 415 555 1234",  # not Vietnamese
        "0912345678 hoặc 0987654321",  # two numbers: which one?
        "113",
        "không có",
    ],
)
def test_anything_else_is_not_a_number(typed):
    assert normalise(typed) is None


def test_display_groups_digits_as_people_read_them():
    assert display("0912345678") == "0912 345 678"
    assert display("02438251234") == "024 3825 1234"
    assert display("02143852123") == "0214 385 2123"


def test_the_answer_to_the_phone_question():
    code = "PA-2026-000007"
    assert phone_reply("0912 345 678", code) == {
        "kind": "phone",
        "code": code,
        "phone": "0912345678",
    }
    assert phone_reply("bỏ qua", code)["phone"] is None
    assert phone_reply("/phone skip", code)["phone"] is None
    assert phone_reply("1", code)["phone"] is None  # the numbered menu's only choice
    assert phone_reply("0912 345", code)["invalid"] is True  # a try: asked again
    assert phone_reply("giờ làm việc của xã", code) is None  # moved on: not an answer
