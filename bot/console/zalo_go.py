"""The page between a console form and Zalo's OAuth pages ("Đang chuyển đến Zalo…").

A form whose answer redirects to Zalo is held by the page's CSP ``form-action`` along the whole
redirect chain, and Zalo's chain goes on to hosts we cannot list (oauth.zaloapp.com sends a
signed-out person to id.zalo.me). So "Kết nối Zalo", "Liên kết Zalo" and "Đăng nhập bằng Zalo"
answer 200 with this page: a ``<meta http-equiv="refresh">`` and a plain link start a new
navigation, which ``form-action`` does not govern — the console's CSP stays ``form-action
'self'``.
"""

from __future__ import annotations

from aiohttp import web

from bot.console.web import Console


def to_zalo(console: Console, request: web.Request, url: str) -> web.Response:
    """The interstitial page sending the browser to ``url`` (Zalo's consent page)."""
    return console.render(request, "zalo_go.html", {"zalo_url": url})
