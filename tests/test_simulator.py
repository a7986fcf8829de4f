"""Real-HTTP tests of the Zalo simulator (zalosim/) against zalo-oa-api.md."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from bot.channels.zalo.signature import verify
from tests.helpers import ManualClock
from zalosim import SimState, ZaloSimulator

APP_ID, APP_SECRET = "3608465249409039670", "app-secret-xyz"
OA_ID, OA_SECRET = "5797458635083528840", "oa-secret-key-abc"
USER = "2512523625412515000"
LADDER = (30, 300, 900, 1800, 3600)
SCALE = 0.00001  # whole ladder ≈ 66 ms
REPO = Path(__file__).resolve().parents[1]

CS = "/v3.0/oa/message/cs"


# ----- fixtures ----------------------------------------------------------------------------------


class Receiver:
    """A tiny webhook receiver: records (headers, raw body); answers scripted statuses."""

    def __init__(self) -> None:
        self.requests: list[tuple[CIMultiDict[str], bytes]] = []
        self.statuses: list[int] = []
        self.delays: list[float] = []
        self.default_status = 200
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append((request.headers.copy(), body))
        if self.delays:
            await asyncio.sleep(self.delays.pop(0))
        return web.Response(status=self.statuses.pop(0) if self.statuses else self.default_status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/webhook", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/webhook"

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.requests]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    await r.start()
    yield r
    await r.stop()


@pytest.fixture
async def sim(receiver: Receiver) -> AsyncIterator[ZaloSimulator]:
    s = ZaloSimulator(ladder=LADDER, time_scale=SCALE, webhook_timeout=0.3)
    await s.start()
    s.add_app(APP_ID, APP_SECRET)
    s.add_oa(OA_ID, APP_ID, OA_SECRET, webhook_url=receiver.url, name="UBND xã Thử")
    s.add_user(OA_ID, USER, display_name="Nguyễn Văn A")
    yield s
    await s.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def token(sim: ZaloSimulator) -> str:
    return sim.mint_tokens(OA_ID)[0]


async def call(
    http: aiohttp.ClientSession,
    sim: ZaloSimulator,
    method: str,
    path: str,
    token: str | None = None,
    **kwargs: Any,
) -> tuple[dict[str, Any], Any]:
    headers = {"access_token": token} if token else {}
    headers.update(kwargs.pop("headers", {}))
    async with http.request(method, sim.base_url + path, headers=headers, **kwargs) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json(), resp.headers


def text_body(text: str, user_id: str = USER) -> dict[str, Any]:
    return {"recipient": {"user_id": user_id}, "message": {"text": text}}


def pkce_pair() -> tuple[str, str]:
    verifier = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    return verifier, challenge


async def grant(
    http: aiohttp.ClientSession, sim: ZaloSimulator, form: dict[str, str], secret: str = APP_SECRET
) -> dict[str, Any]:
    body, _ = await call(
        http,
        sim,
        "POST",
        "/v4/oa/access_token",
        data={"app_id": APP_ID, **form},
        headers={"secret_key": secret},
    )
    return body


async def authorize(
    http: aiohttp.ClientSession, sim: ZaloSimulator, challenge: str | None
) -> dict[str, str]:
    params = {"app_id": APP_ID, "redirect_uri": "http://callback.test/zalo/cb", "state": "st8"}
    if challenge:
        params["code_challenge"] = challenge
    async with http.get(
        sim.base_url + "/v4/oa/permission", params=params, allow_redirects=False
    ) as resp:
        assert resp.status == 302
        location = URL(resp.headers["Location"])
    assert location.host == "callback.test" and location.path == "/zalo/cb"
    return dict(location.query)


# ----- OAuth (§2) --------------------------------------------------------------------------------


async def test_code_grant_with_pkce(sim: ZaloSimulator, http: aiohttp.ClientSession) -> None:
    verifier, challenge = pkce_pair()
    q = await authorize(http, sim, challenge)
    assert q["oa_id"] == OA_ID and q["state"] == "st8"

    bad = await grant(
        http,
        sim,
        {
            "grant_type": "authorization_code",
            "code": q["code"],
            "code_verifier": "wrong" + verifier[5:],
        },
    )
    assert bad["error"] < 0 and "error_name" in bad and "access_token" not in bad

    ok = await grant(
        http,
        sim,
        {"grant_type": "authorization_code", "code": q["code"], "code_verifier": verifier},
    )
    assert set(ok) == {"access_token", "refresh_token", "expires_in"}
    assert ok["expires_in"] == "90000"
    info, _ = await call(http, sim, "GET", "/v2.0/oa/getoa", ok["access_token"])
    assert info["error"] == 0 and info["data"]["oa_id"] == OA_ID

    again = await grant(
        http,
        sim,
        {"grant_type": "authorization_code", "code": q["code"], "code_verifier": verifier},
    )
    assert again["error"] < 0 and again["error_name"]  # single-use


async def test_code_grant_without_pkce_and_checks(
    sim: ZaloSimulator, http: aiohttp.ClientSession
) -> None:
    q = await authorize(http, sim, None)
    wrong_secret = await grant(
        http, sim, {"grant_type": "authorization_code", "code": q["code"]}, secret="nope"
    )
    assert wrong_secret["error"] < 0
    ok = await grant(http, sim, {"grant_type": "authorization_code", "code": q["code"]})
    assert isinstance(ok["expires_in"], str) and ok["access_token"]

    q2 = await authorize(http, sim, None)
    sim.advance(11 * 60)  # code TTL is 10 min
    expired = await grant(http, sim, {"grant_type": "authorization_code", "code": q2["code"]})
    assert expired["error"] < 0


async def test_refresh_rotation(sim: ZaloSimulator, http: aiohttp.ClientSession) -> None:
    _, refresh = sim.mint_tokens(OA_ID)
    first = await grant(http, sim, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert first["refresh_token"] != refresh and first["expires_in"] == "90000"
    reused = await grant(http, sim, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert reused["error"] < 0 and "error_name" in reused and "error_reason" in reused
    second = await grant(
        http, sim, {"grant_type": "refresh_token", "refresh_token": first["refresh_token"]}
    )
    assert second["access_token"] and second["access_token"] != first["access_token"]


async def test_bad_and_expired_access_token(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    body, _ = await call(http, sim, "POST", CS, "not-a-token", json=text_body("hi"))
    assert body == {"error": -216, "message": "Access token is invalid"}
    body, _ = await call(http, sim, "POST", CS, None, json=text_body("hi"))
    assert body["error"] == -216
    sim.advance(25 * 3600 + 1)
    body, _ = await call(http, sim, "GET", "/v2.0/oa/getoa", token)
    assert body == {"error": -220, "message": "access_token is expired or removed"}


# ----- messaging (§4) ----------------------------------------------------------------------------


async def test_cs_send_recorded(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("Chào anh"))
    assert body["error"] == 0 and body["message"] == "Success"
    data = body["data"]
    assert re.fullmatch(r"[0-9a-f]{20}", data["message_id"])
    assert data["user_id"] == USER and data["sent_time"].isdigit() and "quota" not in data
    [msg] = await sim.wait_for_messages(1, oa_id=OA_ID, user_id=USER, timeout=1)
    assert msg.path == CS and msg.body == text_body("Chào anh")
    assert msg.message_id == data["message_id"]

    sim.state.legacy_quota = True
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("again"))
    assert body["data"]["quota"] == {"quota_type": "reply", "remain": "8", "total": "8"}

    listed, _ = await call(http, sim, "GET", f"/_sim/messages?oa_id={OA_ID}&user_id={USER}")
    assert len(listed["messages"]) == 2


async def test_unknown_user_and_7_day_window(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("x", "999"))
    assert body["error"] == -213
    sim.advance(8 * 86400)
    token = sim.mint_tokens(OA_ID)[0]  # the old one expired after 25 h
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("late"))
    assert body == {
        "error": -230,
        "message": "User has not interacted with the OA in the past 7 days",
    }
    await sim.user_sends_text(OA_ID, USER, "hello again")  # webhook refreshes the window
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("now ok"))
    assert body["error"] == 0


async def test_promotion_blocked_at_night_cs_allowed(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    promo = {
        "recipient": {"user_id": USER},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "promotion",
                    "language": "VI",
                    "elements": [{"type": "header", "content": "Tin"}],
                },
            }
        },
    }
    sim.set_vn_time(23, 0)
    assert sim.state.vn_now().hour == 23
    sim.add_user(OA_ID, USER)  # interacted "now" on the moved clock
    token = sim.mint_tokens(OA_ID)[0]
    body, _ = await call(http, sim, "POST", "/v3.0/oa/message/promotion", token, json=promo)
    assert body == {
        "error": -234,
        "message": "This message cannot be sent at night (10:00PM - 6:00AM)",
    }
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("đêm khuya"))
    assert body["error"] == 0
    sim.set_vn_time(10, 0)
    sim.add_user(OA_ID, USER)
    token = sim.mint_tokens(OA_ID)[0]
    body, _ = await call(http, sim, "POST", "/v3.0/oa/message/promotion", token, json=promo)
    assert body["error"] == 0


async def test_text_length_limit_nfc(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("a" * 2001))
    assert body == {"error": -201, "message": "text is invalid!"}
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("a" * 2000))
    assert body["error"] == 0
    decomposed = "e\u0301" * 2000  # 4000 code points, 2000 after NFC
    body, _ = await call(http, sim, "POST", CS, token, json=text_body(decomposed))
    assert body["error"] == 0
    body, _ = await call(
        http, sim, "POST", CS, token, json={"recipient": {"user_id": USER}, "message": {}}
    )
    assert body["error"] == -201


async def test_templates_and_zbs(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    ask = {
        "recipient": {"user_id": USER},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "request_user_info",
                    "elements": [
                        {
                            "title": "Cho xin thông tin",
                            "subtitle": "để hỗ trợ",
                            "image_url": "https://x",
                        }
                    ],
                },
            }
        },
    }
    assert (await call(http, sim, "POST", CS, token, json=ask))[0]["error"] == 0
    listing = {
        "recipient": {"user_id": USER},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "list",
                    "elements": [{"title": "Thủ tục"}],
                    "buttons": [{"title": "Xem", "type": "oa.query.show", "payload": "#thutuc"}],
                },
            }
        },
    }
    assert (await call(http, sim, "POST", CS, token, json=listing))[0]["error"] == 0
    by_url = {
        "recipient": {"user_id": USER},
        "message": {
            "text": "ảnh",
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "image", "url": "https://example.org/a.png"}],
                },
            },
        },
    }
    assert (await call(http, sim, "POST", CS, token, json=by_url))[0]["error"] == 0
    for zbs in (
        {"user_id": USER, "template_id": "7895", "template_data": {"a": "b"}},
        {"recipient": {"user_id": USER}, "template_id": "7895", "template_data": {}},
    ):
        body, _ = await call(http, sim, "POST", "/v3.0/oa/message/template", token, json=zbs)
        assert body["error"] == 0 and body["data"]["message_id"]
    assert len(sim.messages(OA_ID, USER)) == 5


async def test_rate_limit(sim: ZaloSimulator, http: aiohttp.ClientSession, token: str) -> None:
    sim.state.rate_limit = 5
    remains = []
    for _ in range(5):
        body, headers = await call(http, sim, "GET", "/v2.0/oa/getoa", token)
        assert body["error"] == 0
        remains.append(headers["X-RateLimit-Remain"])
    assert remains == ["4", "3", "2", "1", "0"]
    body, headers = await call(http, sim, "GET", "/v2.0/oa/getoa", token)
    assert body == {"error": -32, "message": "Your application reached limit call api"}
    assert headers["X-RateLimit-Limit"] == "5" and headers["X-RateLimit-Remain"] == "0"
    stats, _ = await call(http, sim, "GET", "/_sim/stats")
    assert stats["rate_limited"] == 1 and stats["errors"]["-32"] == 1
    sim.advance(60)  # next minute
    assert (await call(http, sim, "GET", "/v2.0/oa/getoa", token))[0]["error"] == 0
    sim.state.rate_limit = None
    _, headers = await call(http, sim, "GET", "/v2.0/oa/getoa", token)
    assert "X-RateLimit-Limit" not in headers


async def test_injected_faults(sim: ZaloSimulator, http: aiohttp.ClientSession, token: str) -> None:
    sim.inject_error(CS, -32, times=2)
    codes = [
        (await call(http, sim, "POST", CS, token, json=text_body("x")))[0]["error"]
        for _ in range(3)
    ]
    assert codes == [-32, -32, 0]
    assert sim.stats()["rate_limited"] == 2

    sim.inject_http_status(CS, 502)
    async with http.post(
        sim.base_url + CS, json=text_body("x"), headers={"access_token": token}
    ) as resp:
        assert resp.status == 502
    assert (await call(http, sim, "POST", CS, token, json=text_body("x")))[0]["error"] == 0

    sim.inject_delay("/v2.0/oa/getoa", 0.5)
    with pytest.raises(asyncio.TimeoutError):
        await http.get(
            sim.base_url + "/v2.0/oa/getoa",
            headers={"access_token": token},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )

    # same knobs over HTTP
    added, _ = await call(
        http,
        sim,
        "POST",
        "/_sim/faults",
        json={"path": "/v2.0/oa/getoa", "error": -216, "times": 1},
    )
    assert added["added"][0]["kind"] == "error"
    assert (await call(http, sim, "GET", "/v2.0/oa/getoa", token))[0]["error"] == -216
    assert (await call(http, sim, "GET", "/v2.0/oa/getoa", token))[0]["error"] == 0
    await call(http, sim, "POST", "/_sim/faults", json={"path": "*", "status": 503, "times": 1})
    async with http.get(sim.base_url + "/v2.0/oa/getoa", headers={"access_token": token}) as r:
        assert r.status == 503
    assert sim.stats()["http_statuses"] == {"502": 1, "503": 1}


# ----- uploads, articles, broadcast (§4.5, §7) ---------------------------------------------------


def _multipart(name: str, data: bytes, content_type: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename=name, content_type=content_type)
    return form


async def test_uploads(sim: ZaloSimulator, http: aiohttp.ClientSession, token: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 100
    body, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/upload/image",
        token,
        data=_multipart("a.png", png, "image/png"),
    )
    attachment_id = body["data"]["attachment_id"]
    image: dict[str, Any] = {
        "recipient": {"user_id": USER},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "image", "attachment_id": attachment_id}],
                },
            }
        },
    }
    assert (await call(http, sim, "POST", CS, token, json=image))[0]["error"] == 0
    image["message"]["attachment"]["payload"]["elements"][0]["attachment_id"] = "unknown"
    assert (await call(http, sim, "POST", CS, token, json=image))[0]["error"] == -201

    big, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/upload/image",
        token,
        data=_multipart("big.jpg", b"0" * (1024 * 1024 + 1), "image/jpeg"),
    )
    assert big["error"] == -210
    wrong, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/upload/image",
        token,
        data=_multipart("a.exe", b"MZ", "application/octet-stream"),
    )
    assert wrong["error"] == -201

    body, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/upload/file",
        token,
        data=_multipart("thong-bao.pdf", b"%PDF-1.4 ...", "application/pdf"),
    )
    file_token = body["data"]["token"]
    file_msg = {
        "recipient": {"user_id": USER},
        "message": {"attachment": {"type": "file", "payload": {"token": file_token}}},
    }
    assert (await call(http, sim, "POST", CS, token, json=file_msg))[0]["error"] == 0
    body, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/upload/gif",
        token,
        data=_multipart("a.gif", b"GIF89a...", "image/gif"),
    )
    assert body["data"]["attachment_id"]

    sim.advance(8 * 86400)  # uploads expire after ~7 days
    sim.add_user(OA_ID, USER)
    token = sim.mint_tokens(OA_ID)[0]
    image["message"]["attachment"]["payload"]["elements"][0]["attachment_id"] = attachment_id
    assert (await call(http, sim, "POST", CS, token, json=image))[0]["error"] == -100


async def test_article_verify_and_broadcast(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    sim.set_vn_time(10)  # broadcasts are refused at night (test_broadcast_rules)
    article = {
        "type": "normal",
        "title": "Thông báo tiêm chủng",
        "author": "UBND xã",
        "description": "Lịch tiêm tháng 6",
        "cover": {"cover_type": "photo", "photo_url": "https://x/c.jpg", "status": "show"},
        "body": [{"type": "text", "content": "Nội dung"}],
        "status": "show",
    }
    bad, _ = await call(
        http, sim, "POST", "/v2.0/article/create", token, json={**article, "title": "x" * 151}
    )
    assert bad == {"error": -201, "message": "title is invalid!"}
    body, _ = await call(http, sim, "POST", "/v2.0/article/create", token, json=article)
    art_token = body["data"]["token"]

    first, _ = await call(
        http, sim, "POST", "/v2.0/article/verify", token, json={"token": art_token}
    )
    assert first == {"error": -214, "message": "Article is being processed"}
    second, _ = await call(
        http, sim, "POST", "/v2.0/article/verify", token, json={"token": art_token}
    )
    article_id = second["data"]["id"]
    assert second["data"]["article_id"] == article_id

    broadcast: dict[str, Any] = {
        "recipient": {"target": {"cities": "4", "gender": "0"}},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "article", "attachment_id": article_id}],
                },
            }
        },
    }
    body, _ = await call(http, sim, "POST", "/v2.0/oa/message", token, json=broadcast)
    assert body["error"] == 0 and body["data"]["message_id"]
    [recorded] = sim.state.broadcasts
    assert recorded.article_ids == [article_id] and recorded.target == {
        "cities": "4",
        "gender": "0",
    }
    assert sim.messages() == []  # broadcasts are not per-user sends

    broadcast["message"]["attachment"]["payload"]["elements"][0]["attachment_id"] = "nope"
    assert (await call(http, sim, "POST", "/v2.0/oa/message", token, json=broadcast))[0][
        "error"
    ] == -201


ARTICLE = {
    "type": "normal",
    "title": "Lịch cắt điện",
    "author": "UBND xã",
    "description": "Cắt điện thứ Bảy",
    "cover": {"cover_type": "photo", "photo_url": "https://x/c.jpg", "status": "show"},
    "body": [{"type": "text", "content": "Nội dung"}],
    "status": "show",
}


async def _article(http: aiohttp.ClientSession, sim: ZaloSimulator, token: str) -> str:
    created, _ = await call(http, sim, "POST", "/v2.0/article/create", token, json=ARTICLE)
    for _ in range(3):
        verified, _ = await call(
            http,
            sim,
            "POST",
            "/v2.0/article/verify",
            token,
            json={"token": created["data"]["token"]},
        )
        if verified["error"] == 0:
            return verified["data"]["id"]
    raise AssertionError(verified)


def _broadcast(article_id: str) -> dict[str, Any]:
    return {
        "recipient": {"target": {}},
        "message": {
            "attachment": {
                "type": "template",
                "payload": {
                    "template_type": "media",
                    "elements": [{"media_type": "article", "attachment_id": article_id}],
                },
            }
        },
    }


async def test_articles_need_a_cover(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    """Zalo's clients always send a cover (zalo-oa-api.md §7.1): the simulator requires one."""
    for cover in (None, {"cover_type": "photo", "photo_url": ""}, "https://x/c.jpg"):
        body = {k: v for k, v in ARTICLE.items() if k != "cover"}
        if cover is not None:
            body["cover"] = cover
        bad, _ = await call(http, sim, "POST", "/v2.0/article/create", token, json=body)
        assert bad == {"error": -201, "message": "cover is invalid!"}, cover
    await call(http, sim, "POST", "/_sim/settings", json={"require_cover": False})
    body = {k: v for k, v in ARTICLE.items() if k != "cover"}
    assert (await call(http, sim, "POST", "/v2.0/article/create", token, json=body))[0][
        "error"
    ] == 0


async def test_broadcast_rules_quota_review_and_night(
    sim: ZaloSimulator, http: aiohttp.ClientSession
) -> None:
    """§7.1 modelled, and set through the control API: per-follower quotas (a month, a day),
    the review before delivery, delivery after 20:00 held for the morning, and no broadcast
    at all 22:00–06:00."""
    from datetime import datetime

    from zalosim.state import VN_TZ

    settings, _ = await call(
        http,
        sim,
        "POST",
        "/_sim/settings",
        json={"broadcast_month_quota": 2, "broadcast_day_quota": 1, "broadcast_review_s": 1800},
    )
    assert settings["broadcast_month_quota"] == 2 and settings["broadcast_night_refused"]
    bad = await http.post(sim.base_url + "/_sim/settings", json={"broadcast_day_quota": "1"})
    assert bad.status == 400
    sim.add_user(OA_ID, "u-unfollowed", follower=False)

    def now(*when: int) -> str:  # move the clock; a fresh token (they live 25 h)
        sim.state.set_now(datetime(*when, tzinfo=VN_TZ))
        return sim.mint_tokens(OA_ID)[0]

    def at(ms: int) -> datetime:  # to the minute (the clock runs on while the test does)
        return datetime.fromtimestamp(ms / 1000, VN_TZ).replace(
            tzinfo=None, second=0, microsecond=0
        )

    token = now(2030, 3, 11, 19, 0)
    sent, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/message",
        token,
        json=_broadcast(await _article(http, sim, token)),
    )
    assert sent["error"] == 0
    first = sim.state.broadcasts[-1]
    assert first.recipients == [USER] and at(first.deliver_at_ms) == datetime(2030, 3, 11, 19, 30)
    again, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/message",
        token,
        json=_broadcast(await _article(http, sim, token)),
    )
    assert again == {"error": -211, "message": "Out of quota"}  # one a day per follower

    token = now(2030, 3, 12, 19, 45)  # reviewed after 20:00
    sent, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/message",
        token,
        json=_broadcast(await _article(http, sim, token)),
    )
    assert sent["error"] == 0
    assert at(sim.state.broadcasts[-1].deliver_at_ms) == datetime(2030, 3, 13, 6, 0)

    token = now(2030, 3, 14, 23, 0)
    night, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/message",
        token,
        json=_broadcast(await _article(http, sim, token)),
    )
    assert night["error"] == -234
    token = now(2030, 3, 20, 10, 0)
    month, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/message",
        token,
        json=_broadcast(await _article(http, sim, token)),
    )
    assert month["error"] == -211  # two this month already
    token = now(2030, 4, 1, 10, 0)
    april, _ = await call(
        http,
        sim,
        "POST",
        "/v2.0/oa/message",
        token,
        json=_broadcast(await _article(http, sim, token)),
    )
    assert april["error"] == 0 and sim.state.broadcasts[-1].recipients == [USER]
    listed, _ = await call(http, sim, "GET", "/_sim/broadcasts")
    assert [b["deliver_at_ms"] for b in listed["broadcasts"]] == [
        b.deliver_at_ms for b in sim.state.broadcasts
    ]


async def test_staff_typing_and_revoking_over_the_control_api(
    sim: ZaloSimulator, receiver: Receiver, http: aiohttp.ClientSession, token: str
) -> None:
    typed, _ = await call(
        http,
        sim,
        "POST",
        "/_sim/staff",
        json={"oa_id": OA_ID, "user_id": USER, "text": "Cán bộ xã xin trả lời", "admin_id": "99"},
    )
    echo = typed["event"]
    assert echo["event_name"] == "oa_send_text" and echo["sender"] == {
        "id": OA_ID,
        "admin_id": "99",
    }
    assert echo["recipient"] == {"id": USER}
    [msg] = sim.messages(OA_ID, USER)  # in the conversation, as the OA's message
    assert msg.message_id == echo["message"]["msg_id"]
    conversation, _ = await call(
        http,
        sim,
        "GET",
        "/v2.0/oa/conversation",
        token,
        params={"data": json.dumps({"user_id": USER, "offset": 0, "count": 5})},
    )
    assert conversation["data"][0]["message"] == "Cán bộ xã xin trả lời"

    revoked, _ = await call(http, sim, "POST", "/_sim/revoke", json={"oa_id": OA_ID})
    assert revoked["event"]["event_name"] == "permission_revoked"
    assert revoked["event"]["oa_id"] == OA_ID and revoked["delivered"]
    gone, _ = await call(http, sim, "POST", CS, token, json=text_body("hi"))
    assert gone["error"] == -216


async def test_v2_normal_send_is_shut_down(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    body, _ = await call(http, sim, "POST", "/v2.0/oa/message", token, json=text_body("old"))
    assert body == {
        "error": -240,
        "message": "MessageV2 API has been shut down, please switch to MessageV3",
    }


# ----- users & quota (§5, §4.3) ------------------------------------------------------------------


async def test_user_detail_getlist_quota(
    sim: ZaloSimulator, http: aiohttp.ClientSession, token: str
) -> None:
    for i in range(60):
        sim.add_user(OA_ID, f"70000000000000000{i:02d}", follower=i % 2 == 0)
    q = {"data": json.dumps({"offset": 0, "count": 100})}
    body, _ = await call(http, sim, "GET", "/v3.0/oa/user/getlist", token, params=q)
    data = body["data"]
    assert data["count"] == 50 and len(data["users"]) == 50 and data["total"] == 61
    assert data["offset"] == 0 and data["users"][0] == {"user_id": USER}
    q = {"data": json.dumps({"offset": 0, "count": 50, "is_follower": False})}
    body, _ = await call(http, sim, "GET", "/v3.0/oa/user/getlist", token, params=q)
    assert body["data"]["total"] == 30
    q = {"data": json.dumps({"offset": 9952, "count": 10})}
    assert (await call(http, sim, "GET", "/v3.0/oa/user/getlist", token, params=q))[0][
        "error"
    ] == -210

    q = {"data": json.dumps({"user_id": USER})}
    body, _ = await call(http, sim, "GET", "/v3.0/oa/user/detail", token, params=q)
    detail = body["data"]
    assert detail["user_id"] == USER and detail["display_name"] == "Nguyễn Văn A"
    assert detail["user_is_follower"] is True and isinstance(detail["user_id_by_app"], str)
    assert re.fullmatch(r"\d{2}/\d{2}/\d{4}", detail["user_last_interaction_date"])

    body, _ = await call(http, sim, "POST", "/v3.0/oa/quota/message", token, json={"user_id": USER})
    assert body["data"]["last_interaction"].isdigit() and "cs_reply" in body["data"]


# ----- webhook emitter (§3) ----------------------------------------------------------------------


def _assert_signed(headers: CIMultiDict[str], body: bytes) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(body)
    assert headers["Content-Type"].startswith("application/json")
    assert verify(
        headers["X-ZEvent-Signature"], event["app_id"], body, event["timestamp"], OA_SECRET
    )
    return event


async def test_webhook_signed_and_updates_user(sim: ZaloSimulator, receiver: Receiver) -> None:
    newcomer = "8800000000000000001"
    result = await sim.user_sends_text(OA_ID, newcomer, "Cho hỏi giờ làm việc?")
    assert result.delivered and result.status == 200 and result.attempts == 1
    [(headers, body)] = receiver.requests
    event = _assert_signed(headers, body)
    assert headers["X-ZEvent-Signature"].startswith("mac=")
    assert "num_retry" not in headers
    assert event["event_name"] == "user_send_text" and event["app_id"] == APP_ID
    assert event["sender"] == {"id": newcomer} and event["recipient"] == {"id": OA_ID}
    assert event["message"]["text"] == "Cho hỏi giờ làm việc?"
    assert all(isinstance(event[k], str) for k in ("timestamp", "user_id_by_app", "app_id"))
    assert isinstance(event["message"]["msg_id"], str)
    user = sim.state.get_user(OA_ID, newcomer)
    assert user is not None and user.follower
    assert user.last_interaction_ms == int(event["timestamp"])


async def test_webhook_event_shapes(
    sim: ZaloSimulator, receiver: Receiver, token: str, http: aiohttp.ClientSession
) -> None:
    await sim.user_sends(OA_ID, USER, "follow", source="message_invite")
    await sim.user_sends(OA_ID, USER, "user_submit_info", legacy_shape=True)
    await sim.user_sends(OA_ID, USER, "user_submit_info", name="Trần Thị B", phone="84987654321")
    await sim.user_sends(OA_ID, USER, "user_send_image", url="https://x/a.jpg", text="caption")
    await sim.user_sends(OA_ID, USER, "user_send_location", latitude=10.77, longitude=106.7)
    await sim.user_sends(OA_ID, USER, "user_click_chatnow")
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("đã nhận"))
    await sim.user_sends(OA_ID, USER, "user_received_message")
    await sim.user_sends(OA_ID, USER, "user_seen_message")
    await sim.user_sends(OA_ID, USER, "unfollow")
    events = [_assert_signed(h, b) for h, b in receiver.requests]
    follow, info_old, info_new, image, location, chatnow, received, seen, unfollow = events
    assert follow["oa_id"] == OA_ID and follow["follower"] == {"id": USER}
    assert follow["source"] == "message_invite" and "sender" not in follow
    assert info_new["info"]["name"] == "Trần Thị B"
    assert set(info_new["info"]["full_address"]) == {"user_city", "user_ward", "user_address"}
    assert {"address", "city", "district", "ward"} <= set(info_old["info"])
    assert image["message"]["attachments"] == [
        {"type": "image", "payload": {"thumbnail": "https://x/a.jpg", "url": "https://x/a.jpg"}}
    ]
    assert image["message"]["text"] == "caption"
    coords = location["message"]["attachments"][0]["payload"]["coordinates"]
    assert coords == {"latitude": "10.77", "longitude": "106.7"}
    assert chatnow["oa_id"] == OA_ID and chatnow["user_id"] == USER
    assert received["message"]["msg_id"] == body["data"]["message_id"]
    assert seen["message"]["msg_ids"] == [body["data"]["message_id"]]
    assert unfollow["event_name"] == "unfollow"
    user = sim.state.get_user(OA_ID, USER)
    assert user is not None and not user.follower
    assert user.shared_info is not None and user.shared_info["phone"] == "84987654321"


async def test_webhook_retry_ladder_then_success(sim: ZaloSimulator, receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    result = await sim.user_sends_text(OA_ID, USER, "retry me", msg_id="abc123")
    assert result.delivered and result.attempts == 3 and result.statuses == [500, 503, 200]
    retries = [h.get("num_retry") for h, _ in receiver.requests]
    assert retries == [None, "1", "2"]
    assert len({body for _, body in receiver.requests}) == 1  # same bytes each time
    for headers, body in receiver.requests:
        _assert_signed(headers, body)


async def test_webhook_timeout_counts_as_failure(sim: ZaloSimulator, receiver: Receiver) -> None:
    receiver.delays = [0.6]  # > the 0.3 s test timeout (Zalo's is 2 s)
    result = await sim.user_sends_text(OA_ID, USER, "slow")
    assert result.delivered and result.statuses == [None, 200]


async def test_webhook_disabled_after_ladder(sim: ZaloSimulator, receiver: Receiver) -> None:
    receiver.default_status = 500
    result = await sim.user_sends_text(OA_ID, USER, "never")
    assert not result.delivered and result.disabled and result.attempts == 1 + len(LADDER)
    assert [h.get("num_retry") for h, _ in receiver.requests] == [None, "1", "2", "3", "4", "5"]
    assert sim.state.apps[APP_ID].webhook_enabled is False
    receiver.default_status = 200
    after = await sim.user_sends_text(OA_ID, USER, "still off")
    assert after.attempts == 0 and after.disabled and len(receiver.requests) == 6
    sim.enable_webhook(APP_ID)
    assert (await sim.user_sends_text(OA_ID, USER, "back")).delivered


async def test_duplicate_and_forged(sim: ZaloSimulator, receiver: Receiver) -> None:
    first = await sim.user_sends_text(OA_ID, USER, "dup", msg_id="0123456789abcdef0123")
    dup = await sim.send_duplicate(first)
    assert dup.delivered
    (h1, b1), (h2, b2) = receiver.requests
    assert b1 == b2 and h1["X-ZEvent-Signature"] == h2["X-ZEvent-Signature"]
    assert json.loads(b2)["message"]["msg_id"] == "0123456789abcdef0123"

    forged = await sim.send_forged(OA_ID, b1)
    assert forged.attempts == 1
    headers, body = receiver.requests[-1]
    event = json.loads(body)
    assert not verify(
        headers["X-ZEvent-Signature"], event["app_id"], body, event["timestamp"], OA_SECRET
    )


async def test_echo_of_api_sends(
    sim: ZaloSimulator, receiver: Receiver, token: str, http: aiohttp.ClientSession
) -> None:
    sim.state.emit_echoes = True
    body, _ = await call(http, sim, "POST", CS, token, json=text_body("echo me"))
    await sim.emitter.drain()
    [echo] = [_assert_signed(h, b) for h, b in receiver.requests]
    assert echo["event_name"] == "oa_send_text"
    assert echo["sender"] == {"id": OA_ID} and echo["recipient"] == {"id": USER}
    assert echo["message"] == {"text": "echo me", "msg_id": body["data"]["message_id"]}


# ----- control plane & CLI -----------------------------------------------------------------------


async def test_control_plane_over_http(receiver: Receiver, http: aiohttp.ClientSession) -> None:
    async with ZaloSimulator(ladder=LADDER, time_scale=SCALE) as sim:
        setup = {
            "settings": {"rate_limit": 100},
            "apps": [{"app_id": "a1", "app_secret": "s1"}],
            "oas": [
                {"oa_id": "o1", "app_id": "a1", "oa_secret_key": "k1", "webhook_url": receiver.url}
            ],
            "users": [{"oa_id": "o1", "user_id": "u1", "display_name": "Bà Tư"}],
            "tokens": [{"oa_id": "o1", "access_token": "fixed-access"}],
        }
        minted, _ = await call(http, sim, "POST", "/_sim/setup", json=setup)
        assert minted["tokens"][0]["access_token"] == "fixed-access"
        assert sim.state.rate_limit == 100

        sent, _ = await call(
            http,
            sim,
            "POST",
            "/_sim/send",
            json={"oa_id": "o1", "user_id": "u1", "text": "xin chào", "msg_id": "m1", "repeat": 2},
        )
        assert sent["delivered"] and sent["event"]["message"]["msg_id"] == "m1"
        assert len(sent["repeats"]) == 1 and len(receiver.requests) == 2
        headers, raw = receiver.requests[0]
        assert verify(headers["X-ZEvent-Signature"], "a1", raw, sent["event"]["timestamp"], "k1")

        forged, _ = await call(
            http,
            sim,
            "POST",
            "/_sim/send",
            json={"oa_id": "o1", "raw": {"event_name": "user_send_text"}},
        )
        assert forged["attempts"] == 1

        body, _ = await call(http, sim, "POST", CS, "fixed-access", json=text_body("hi", "u1"))
        assert body["error"] == 0
        msgs, _ = await call(http, sim, "GET", "/_sim/messages", params={"oa_id": "o1"})
        assert [m["body"]["message"]["text"] for m in msgs["messages"]] == ["hi"]

        clock, _ = await call(http, sim, "POST", "/_sim/clock", json={"advance": 8 * 86400})
        assert clock["offset_s"] == 8 * 86400
        body, _ = await call(http, sim, "POST", CS, "fixed-access", json=text_body("hi", "u1"))
        assert body["error"] == -220  # 25 h access token
        minted, _ = await call(http, sim, "POST", "/_sim/setup", json={"tokens": [{"oa_id": "o1"}]})
        fresh = minted["tokens"][0]["access_token"]
        body, _ = await call(http, sim, "POST", CS, fresh, json=text_body("hi", "u1"))
        assert body["error"] == -230
        stats, _ = await call(http, sim, "GET", "/_sim/stats")
        assert stats["messages"] == 1 and stats["errors"]["-230"] == 1
        assert stats["errors"]["-220"] == 1

        await call(http, sim, "POST", "/_sim/reset")
        stats, _ = await call(http, sim, "GET", "/_sim/stats")
        assert stats["messages"] == 0 and stats["offset_ms"] == 0 and stats["total_calls"] == 0
        hooks, _ = await call(http, sim, "GET", "/_sim/webhooks")
        assert hooks["deliveries"] == []


async def test_cli_standalone(tmp_path: Path, http: aiohttp.ClientSession) -> None:
    setup = tmp_path / "setup.json"
    setup.write_text(
        json.dumps(
            {
                "apps": [{"app_id": "a1", "app_secret": "s1"}],
                "oas": [{"oa_id": "o1", "app_id": "a1", "oa_secret_key": "k", "mint_tokens": True}],
            }
        )
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "zalosim",
        "--port",
        "0",
        "--rate-limit",
        "none",
        "--setup",
        str(setup),
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=10)
        info = json.loads(line)
        [tok] = info["tokens"]
        async with http.get(
            info["base_url"] + "/v2.0/oa/getoa", headers={"access_token": tok["access_token"]}
        ) as resp:
            body = await resp.json()
            assert body["data"]["oa_id"] == "o1" and "X-RateLimit-Limit" not in resp.headers
    finally:
        proc.terminate()
        await proc.wait()


# ----- the package stands apart ------------------------------------------------------------------


def test_signature_is_the_bots() -> None:
    """The simulator's own copy of the webhook signature is the one the bot verifies."""
    from bot.channels.zalo import signature as ours
    from zalosim.signature import signature_header

    body = "Xin chào".encode()
    header = signature_header(APP_ID, body, "1700000000000", OA_SECRET)
    assert header == ours.signature_header(APP_ID, body, "1700000000000", OA_SECRET)
    assert ours.verify(header, APP_ID, body, "1700000000000", OA_SECRET)


def test_zalosim_imports_nothing_from_bot() -> None:
    code = (
        "import sys, zalosim, zalosim.__main__, zalosim.state;"
        "print(sorted(m for m in sys.modules if m == 'bot' or m.startswith('bot.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "[]"


def test_rate_minutes_turn_with_the_states_clock() -> None:
    """``SimState(clock=…)``: the per-app minute is a minute of that clock (plus the offset)."""
    clock = ManualClock(1_800_000_000.0)
    state = SimState(clock=clock)
    assert state.now_ms() == 1_800_000_000_000
    assert [state.count_call(APP_ID) for _ in range(3)] == [1, 2, 3]
    clock.advance(59.9)
    assert state.count_call(APP_ID) == 4
    clock.advance(0.1)
    assert state.count_call(APP_ID) == 1
    state.advance(60)  # the test-controlled offset moves it too
    assert state.count_call(APP_ID) == 1 and state.now_ms() == 1_800_000_120_000
