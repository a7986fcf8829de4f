"""Security headers on everything the service answers, decided in one place.

Every response: ``X-Content-Type-Options: nosniff`` (a browser never guesses a type — an
uploaded photo stays a photo) and ``Referrer-Policy: no-referrer`` (chat and feed addresses do
not leak to the sites residents go on to). HTML pages get a Content-Security-Policy without
inline scripts (the chat's script and style are files); a handler that says nothing gets the
strictest policy, which suits JSON, XML and plain text. Who may frame a page is
``frame-ancestors``: the chat page allows the configured portals (``webchat.portal_origins``),
every other page only the service itself.
"""

from __future__ import annotations

from collections.abc import Sequence

from aiohttp import web

CSP = "Content-Security-Policy"
#: anything without a policy of its own: loads nothing, runs nothing, framed by nobody
STRICT = "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
#: a served file residents sent (a photo): shown, never run, even if a browser were fooled
SANDBOX = "default-src 'none'; img-src 'self'; sandbox; frame-ancestors 'none'"


def page_policy(frame_ancestors: Sequence[str] = ()) -> str:
    """An HTML page of ours: scripts, styles, images and the websocket from this origin only."""
    ancestors = " ".join(["'self'", *frame_ancestors])
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
        "connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
        f"frame-ancestors {ancestors}"
    )


async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``on_response_prepare``: runs for every response, errors and redirects included."""
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    if CSP not in response.headers:
        html = (response.content_type or "").startswith("text/html")
        response.headers[CSP] = page_policy() if html else STRICT
