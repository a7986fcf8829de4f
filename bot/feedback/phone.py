"""Vietnamese phone numbers as residents type them: "0912 345 678", "0912.345.678",
"+84 912 345 678", "84912345678", "(0214) 3 852 123".

Mobile numbers have 10 digits since the 2018 renumbering: 0 + a network prefix (03x, 05x, 07x,
08x, 09x) + 7 digits. Landlines have 11 digits since 2017: 02 + the province's area code + the
subscriber number (024 and 028 are followed by 8 digits, the other 02xx by 7). Numbers are
kept in the domestic form, digits only ("0912345678"), which is what staff dial.
"""

from __future__ import annotations

import re

#: mobile network prefixes in use (Viettel, Vinaphone, MobiFone, Vietnamobile, Gmobile, Itel,
#: Reddi)
_MOBILE = re.compile(r"^0(3[2-9]|5[25689]|7[06-9]|8[1-9]|9\d)\d{7}$")
_LANDLINE = re.compile(r"^02\d{9}$")
#: a run of digits with the separators people type between them
_RUN = re.compile(r"\+?\(?\d[\d\s.\-()]{6,20}\d")


def normalise(text: str | None) -> str | None:
    """The one phone number in ``text`` (domestic form, digits only), or None."""
    runs = _RUN.findall(text or "")
    if len(runs) != 1:
        return None
    raw = runs[0]
    digits = re.sub(r"\D", "", raw)
    if raw.startswith("+") or (digits.startswith("84") and len(digits) in (11, 12)):
        if not digits.startswith("84"):
            return None
        digits = digits[2:]
        digits = digits.removeprefix("0")  # "+84 (0) 912 …"
        digits = "0" + digits
    if _MOBILE.match(digits) or _LANDLINE.match(digits):
        return digits
    return None


def looks_like_one(text: str | None) -> bool:
    """Whether the resident seems to have tried to give a number (six digits or more)."""
    return len(re.sub(r"\D", "", text or "")) >= 6


def display(number: str) -> str:
    """ "0912345678" → "0912 345 678"; "02438251234" → "024 3825 1234"; "02143852123" →
    "0214 385 2123"."""
    if len(number) == 10:
        return f"{number[:4]} {number[4:7]} {number[7:]}"
    if number[:3] in ("024", "028"):
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    return f"{number[:4]} {number[4:7]} {number[7:]}"
