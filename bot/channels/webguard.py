"""What the public web chat believes about a client, decided in one place.

- **Sessions** are issued by the service: a random id (144 bits) and an HMAC over the commune
  and the id, keyed from the service secret. The id alone names the resident
  (``residents.external_id``); the signature proves the service made it, so a client cannot
  pick someone else's id or make up a fresh one for every message.
- **The network address** is the TCP peer's, unless the peer is one of the configured proxies
  (``webchat.trusted_proxies``): then ``X-Forwarded-For`` is read from the right, skipping the
  trusted hops. An IPv6 client counts by its /64 (one household's prefix). The address itself
  is never stored or passed on: only a keyed hash of it (``origin key``), enough to count.
- **Origin**: the websocket and the HTTP calls of the page accept only the service's own
  origin and the configured portals (a browser always sends ``Origin`` there).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from collections.abc import Sequence

from aiohttp import web

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
_TOKEN = re.compile(r"^([A-Za-z0-9_-]{24})\.([A-Za-z0-9_-]{22})$")


class Sessions:
    """Issue and verify web chat sessions ``<id>.<signature>``."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _sign(self, code: str, sid: str) -> str:
        mac = hmac.new(self._key, f"{code}:{sid}".encode(), hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def issue(self, code: str) -> str:
        sid = secrets.token_urlsafe(18)  # 24 characters
        return f"{sid}.{self._sign(code, sid)}"

    def verify(self, code: str, token: object) -> str | None:
        """The session id if ``token`` was issued by this service for this commune."""
        m = _TOKEN.match(token) if isinstance(token, str) else None
        if m is None:
            return None
        sid, sig = m.groups()
        return sid if hmac.compare_digest(sig, self._sign(code, sid)) else None


def client_address(request: web.Request, trusted: Sequence[IpNetwork]) -> str:
    """The client's address as the service can vouch for it (see the module's docstring)."""
    peer = _ip(
        (request.transport.get_extra_info("peername") or ("",))[0] if request.transport else ""
    )
    if peer is None:
        return "unknown"
    address = peer
    if _within(peer, trusted):
        hops = [
            h.strip() for v in request.headers.getall("X-Forwarded-For", []) for h in v.split(",")
        ]
        for hop in reversed(hops):
            ip = _ip(hop)
            if ip is None:
                break  # garbage: the last trusted hop is as far as we can see
            address = ip
            if not _within(ip, trusted):
                break
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:443"
        text = text.partition(":")[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _within(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: Sequence[IpNetwork]
) -> bool:
    return any(ip.version == n.version and ip in n for n in networks)


def origin_key(key: bytes, address: str) -> str:
    """A keyed hash of a network address: counts per address without keeping it."""
    return hmac.new(key, address.encode(), hashlib.sha256).hexdigest()[:32]


def origin_allowed(request: web.Request, portals: Sequence[str]) -> bool:
    """The request comes from a page of this service or of a configured portal."""
    origin = (request.headers.get("Origin") or "").strip().lower().rstrip("/")
    if not origin or origin == "null":
        return False
    if origin in portals:
        return True
    scheme, _, host = origin.partition("://")
    return scheme in ("http", "https") and host == request.host.lower()
