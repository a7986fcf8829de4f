"""File names staff give, made safe to keep and to send on.

A stored name goes into the ``Content-Disposition`` of every upload to Zalo, so a CR or LF in
it made each upload of that notice's file fail (the HTTP client refuses header injection), and
a path (``../../etc/passwd.pdf``) has no business in a name. ``safe_filename`` keeps the base
name only, with control characters, path separators and the characters phones' file systems
refuse turned into spaces, Vietnamese letters kept (NFC), no leading dots, and no longer than
``MAX_LEN`` characters with its extension kept.
"""

from __future__ import annotations

import re
import unicodedata

MAX_LEN = 120
_REFUSED = set('<>:"|?*\\/')
_SPACES = re.compile(r"\s+")


def _clean_char(ch: str) -> str:
    if ch in _REFUSED or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Zl", "Zp"):
        return " "
    return ch


def safe_filename(name: str) -> str:
    """The base name of ``name``, cleaned; ``""`` when nothing usable is left."""
    name = unicodedata.normalize("NFC", name)
    base = re.split(r"[/\\]", name)[-1]  # a path's last part, whichever separator it used
    if not base.strip(" .\t\r\n\x00"):  # "../../", "dir/", "…/..": no base name at all
        return ""
    cleaned = _SPACES.sub(" ", "".join(_clean_char(ch) for ch in base)).strip().lstrip(".")
    stem, dot, ext = cleaned.rpartition(".")
    if not dot:
        stem, ext = cleaned, ""
    stem, ext = stem.strip(" ."), ext.strip()
    if not stem:
        return ""
    ext = f".{ext}" if ext else ""
    return stem[: MAX_LEN - len(ext)].rstrip(" .") + ext
