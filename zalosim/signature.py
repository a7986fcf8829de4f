"""The webhook signature Zalo puts in ``X-ZEvent-Signature`` (zalo-oa-api.md §3.3).

``mac=`` + lowercase hex of plain SHA-256 (not HMAC) over ``app_id + raw_body + timestamp +
oa_secret_key``. The simulator's own copy: it imports nothing from the bot, whose verifier
(bot/channels/zalo/signature.py) must accept it — tests/test_simulator.py checks that.
"""

from __future__ import annotations

import hashlib


def signature_header(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    digest = hashlib.sha256()
    digest.update(app_id.encode())
    digest.update(raw_body)
    digest.update(str(timestamp).encode())
    digest.update(oa_secret_key.encode())
    return "mac=" + digest.hexdigest()
