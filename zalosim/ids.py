"""Identifier generators shaped like Zalo's (zalo-oa-api.md §1, §4.1).

All ids are strings: user/OA/app ids are 18–19 digit decimals (they exceed 2^53, §1), message ids
are ~20 lowercase hex chars (``"63ecf43f0df7dba892e6"`` in the official §4.1 example).
"""

from __future__ import annotations

import hashlib
import secrets


def numeric_id() -> str:
    """A 19-digit decimal id such as ``"2512523625412515000"`` (user_id, oa_id, app_id)."""
    return str(10**18 + secrets.randbelow(9 * 10**18))


def stable_numeric_id(*parts: str) -> str:
    """A deterministic 19-digit id derived from ``parts`` (used for ``user_id_by_app``)."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).digest()
    return str(10**18 + int.from_bytes(digest[:8], "big") % (9 * 10**18))


def message_id() -> str:
    """A 20-char hex message id (OA API ``message_id`` and webhook ``msg_id``)."""
    return secrets.token_hex(10)


def token(nbytes: int = 48) -> str:
    """An opaque URL-safe token (access/refresh tokens, auth codes, upload tokens)."""
    return secrets.token_urlsafe(nbytes)
