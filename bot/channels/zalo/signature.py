"""The webhook signature Zalo puts in ``X-ZEvent-Signature``.

``mac = lowercase_hex(sha256(app_id + raw_body + timestamp + oa_secret_key))`` — plain SHA-256
over the concatenation, not HMAC (official Java/.NET SDK ``MacUtils.buildMac``, Chatwoot). The
header value is ``mac=<hex>``; some integrators send the bare hex, so both are accepted.
"""

from __future__ import annotations

import hashlib
import hmac


def compute_mac(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    digest = hashlib.sha256()
    digest.update(app_id.encode())
    digest.update(raw_body)
    digest.update(str(timestamp).encode())
    digest.update(oa_secret_key.encode())
    return digest.hexdigest()


def signature_header(app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str) -> str:
    return "mac=" + compute_mac(app_id, raw_body, timestamp, oa_secret_key)


def verify(
    header: str | None, app_id: str, raw_body: bytes, timestamp: str, oa_secret_key: str
) -> bool:
    """Constant-time check of a received header against the expected MAC."""
    if not header:
        return False
    value = header.strip()
    if value[:4].lower() == "mac=":
        value = value[4:]
    expected = compute_mac(app_id, raw_body, timestamp, oa_secret_key)
    return hmac.compare_digest(value.lower().encode(), expected.encode())
