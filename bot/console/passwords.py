"""Console passwords: argon2id hashes (argon2-cffi's ``PasswordHasher``, its defaults: RFC 9106's
low-memory profile) and the one rule a new password must pass, with its reason in Vietnamese.

Hashing and checking take tens of milliseconds of CPU on purpose: the service calls them
through ``asyncio.to_thread`` so the event loop keeps answering residents meanwhile.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from bot.i18n import _
from bot.text import fold, nfc

MIN_LENGTH = 10
MAX_LENGTH = 200  # argon2 takes any length; a bound keeps a huge form field cheap to refuse
HASHER = PasswordHasher()
#: checked against when a login does not exist, so a wrong login costs the same as a wrong
#: password and timing does not tell which logins exist
DUMMY_HASH = HASHER.hash("not a password of anyone")

#: passwords people choose first (the most common worldwide, and Vietnamese favourites),
#: compared accent-folded and lower case
COMMON = frozenset(
    """
    123456789 1234567890 12345678910 0123456789 0987654321 9876543210 1111111111 0000000000
    1234567890a a123456789 123456789a 123456789q qwertyuiop qwerty1234 qwerty12345 1q2w3e4r5t
    1qaz2wsx3edc asdfghjkl; asdfghjkl zxcvbnm123 password12 password123 password1234 passw0rd12
    iloveyou12 iloveyou123 abc1234567 abcd123456 abcdef1234 aa123456789 admin12345 admin123456
    administrator welcome123 letmein123 matkhau123 matkhau1234 matkhaumoi matkhau@123 matkhau12
    anhyeuem123 anhyeuem1 emyeuanh123 yeuem12345 toiyeuem123 vietnam123 vietnam1234 123456abc
    ubndxa1234 ubnd123456 ubndxa12345 congan1234 xa12345678 thonban123 hanoi12345 saigon1234
    12345678ab 12345qwert qwerty123456 zaq12wsx3e 11223344556 1122334455 5555555555 9999999999
    88888888888 6666666666 7777777777 2222222222 3333333333 4444444444 abcabcabc1 trustno1234
    sunshine12 princess12 football12 baseball12 dragon1234 monkey1234 master1234 shadow1234
    superman12 batman1234 michael123 jennifer12 changeme12 changeme123 default123 guest12345
    """.split()
)


def hash_password(password: str) -> str:
    """Hashed as NFC: a Vietnamese letter typed composed (phones) or decomposed (some Windows
    input settings) is the same password."""
    return HASHER.hash(nfc(password))


def verify(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches the stored hash; ``None`` (no password yet) spends the same
    time and says no."""
    try:
        return HASHER.verify(stored or DUMMY_HASH, nfc(password)) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return HASHER.check_needs_rehash(stored)


def problem(password: str, login: str | None = None) -> str | None:
    """Why ``password`` may not be used (in the current language), or ``None``."""
    password = nfc(password)  # lengths count letters as typed, however the keyboard sent them
    if len(password) < MIN_LENGTH:
        return _("Mật khẩu cần ít nhất {n} ký tự.").format(n=MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        return _("Mật khẩu dài quá {n} ký tự.").format(n=MAX_LENGTH)
    folded = fold(password.lower())
    if folded in COMMON or len(set(folded)) <= 2 or _sequence(folded):
        return _("Mật khẩu này quá phổ biến, dễ bị đoán. Vui lòng chọn mật khẩu khác.")
    if login and fold(login.lower()) in folded:
        return _("Mật khẩu không được chứa tên đăng nhập.")
    return None


def _sequence(text: str) -> bool:
    """A run like 1234567890 or abcdefghij (either direction)."""
    steps = {ord(b) - ord(a) for a, b in zip(text, text[1:])}
    return steps in ({1}, {-1})
