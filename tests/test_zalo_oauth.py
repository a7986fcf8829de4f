"""OAuth v4: the connect link (PKCE) and callback, tokens encrypted at rest, and the single-use
refresh token rotated under a lock so two processes never both spend it."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from yarl import URL

from bot.channels.zalo.errors import TokenUnavailable
from bot.channels.zalo.oauth import TokenManager
from bot.coord import RedisCoordinator
from bot.crypto import SecretBox
from bot.store.db import create_engine, sessionmaker
from bot.store.models import ZaloToken
from tests.helpers import make_settings, oa_id, start_service


def refreshes(sim) -> int:
    return sum(1 for r in sim.state.refresh_tokens.values() if r.used)


async def test_connect_link_and_callback_store_tokens(service):
    sim, oa = service.sim, oa_id(2)
    link = await service.services.tokens.authorization_url(oa)
    query = parse_qs(urlsplit(link).query)
    assert link.startswith(f"{sim.base_url}/v4/oa/permission?")
    assert query["redirect_uri"] == ["http://127.0.0.1:1/zalo/oauth/callback"]
    assert len(query["code_challenge"][0]) == 43 and "code_challenge_method" not in query
    async with aiohttp.ClientSession() as http:

        async def consent(link: str, picked_oa: str) -> URL:
            # the OA admin consents, choosing which of the app's OAs in Zalo's page
            async with http.get(
                URL(link).update_query(oa_id=picked_oa), allow_redirects=False
            ) as r:
                assert r.status == 302
                callback = URL(r.headers["Location"])
            return URL(service.url).with_path(callback.path).with_query(callback.query)

        wrong = await consent(await service.services.tokens.authorization_url(oa), oa_id(1))
        async with http.get(wrong) as r:  # consent for another commune's OA is refused
            assert r.status == 400 and "link was made for" in await r.text()
        ours = await consent(link, oa)
        async with http.get(ours) as r:
            assert r.status == 200, await r.text()
            assert oa in await r.text()
        async with http.get(ours) as r:  # the state is single-use
            assert r.status == 400
    async with service.services.sm() as s:
        row = await s.get(ZaloToken, oa)
    assert row.version == 2  # seeded at start, then replaced by the consented pair
    await sim.user_sends_text(oa, "7201", "chao")
    await sim.wait_for_messages(1, oa_id=oa, user_id="7201")  # the new token works


async def test_callback_rejects_unknown_state(service):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{service.url}/zalo/oauth/callback?code=x&state=nope") as r:
            assert r.status == 400
        async with http.get(f"{service.url}/zalo/oauth/callback") as r:
            assert r.status == 400


async def test_two_processes_refresh_once(pg_url, redis_url, sim):
    """Two token managers on one PostgreSQL with separate Redis connections — two processes —
    both see the token refused and refresh at the same moment: Zalo sees one refresh."""
    settings = make_settings(pg_url, sim, communes=1, redis=redis_url)
    running = await start_service(settings, sim)  # migrates, seeds tokens
    engines, coords, https = [], [], []
    try:
        managers = []
        for _ in range(2):
            engine = create_engine(pg_url)
            coord = RedisCoordinator(redis_url)
            await coord.start()
            http = aiohttp.ClientSession()
            engines.append(engine), coords.append(coord), https.append(http)
            managers.append(
                TokenManager(
                    settings, sessionmaker(engine), SecretBox("test-secret-key"), coord, http
                )
            )
        stale = await managers[0].access_token(oa_id(1))
        before = refreshes(sim)
        new = await asyncio.gather(*(m.refresh(oa_id(1), stale_token=stale) for m in managers))
        assert new[0] == new[1] != stale
        assert refreshes(sim) - before == 1
        async with running.services.sm() as s:
            assert (await s.get(ZaloToken, oa_id(1))).broken_reason is None
    finally:
        for http in https:
            await http.close()
        for coord in coords:
            await coord.close()
        for engine in engines:
            await engine.dispose()
        await running.runner.cleanup()


async def reconnect(service, oa: str) -> None:
    """The OA admin opens the connect link and consents; Zalo calls our callback."""
    link = await service.services.tokens.authorization_url(oa)
    async with aiohttp.ClientSession() as http:
        consent = await http.get(URL(link).update_query(oa_id=oa), allow_redirects=False)
        callback = URL(consent.headers["Location"])
        consent.release()
        answer = await http.get(
            URL(service.url).with_path(callback.path).with_query(callback.query)
        )
        assert answer.status == 200, await answer.text()


async def healthz(service) -> dict:
    async with aiohttp.ClientSession() as http, http.get(f"{service.url}/healthz") as r:
        return await r.json()


async def test_dead_refresh_token_needs_reconsent_and_held_replies_go_after(service):
    sim, oa = service.sim, oa_id(1)
    tokens = service.services.tokens
    await tokens.store(oa, "not-a-token", "not-a-refresh-token", 90000)
    with pytest.raises(TokenUnavailable):
        await tokens.refresh(oa, stale_token="not-a-token")
    async with service.services.sm() as s:
        row = await s.get(ZaloToken, oa)
    assert "refresh token refused" in row.broken_reason
    assert f"bot zalo connect --oa {oa}" in row.broken_reason
    with pytest.raises(TokenUnavailable):  # no more spending until the admin re-consents
        await tokens.access_token(oa)
    assert (await healthz(service))["zalo"] == {"ok": 1, "needs re-consent": ["90001"]}
    # a reply to this OA now waits for the OA to be reconnected: not failed, attempt given back
    await sim.user_sends_text(oa, "7202", "chao")
    from tests.helpers import row_where

    held = await row_where(service, lambda r: r.error_code == "no_token")
    assert held.status == "pending" and held.attempts == 0
    assert "bot zalo connect" in held.error_reason
    assert sim.messages(oa, "7202") == []
    await reconnect(service, oa)  # the admin consents again: the held reply goes at once
    [reply] = await sim.wait_for_messages(1, oa_id=oa, user_id="7202")
    assert "chao" not in reply.body["message"]["text"].lower()
    assert await row_where(service, lambda r: r.id == held.id and r.status == "sent")
    assert (await healthz(service))["zalo"] == {"ok": 2}


async def test_refresh_before_expiry(service):
    sim, oa = service.sim, oa_id(1)
    tokens = service.services.tokens
    access, refresh = sim.mint_tokens(oa)
    await tokens.store(oa, access, refresh, 1800)  # inside the one-hour margin
    assert await tokens.refresh_due() == [oa]
    assert await tokens.access_token(oa) != access


OAUTH = "/v4/oa/access_token"


@pytest.fixture
def quick_backoff(monkeypatch):
    """Failed refreshes are tried again after milliseconds, not seconds."""
    from bot.channels.zalo import oauth

    monkeypatch.setattr(oauth, "REFRESH_BACKOFF_S", (0.05, 0.2))


async def test_a_transient_refresh_failure_keeps_the_token(store_url, sim, monkeypatch):
    """-32, HTTP 5xx and 429, a timeout and an unexplained refusal: the token is kept, the
    still-valid access token is served meanwhile, and the refresher tries again after the
    backoff and refreshes. Only a dead refresh token needs re-consent (above)."""
    from bot.channels.zalo import oauth
    from tests.helpers import wait_until

    monkeypatch.setattr(oauth, "REFRESH_BACKOFF_S", (1.0, 2.0))
    running = await start_service(
        make_settings(store_url, sim, communes=1, request_timeout_s=0.5), sim
    )
    oa, tokens = oa_id(1), running.services.tokens
    try:
        faults = {
            "-32": lambda: sim.inject_error(OAUTH, -32),
            "HTTP 502": lambda: sim.inject_http_status(OAUTH, 502),
            "HTTP 429": lambda: sim.inject_http_status(OAUTH, 429),
            # no answer within the timeout (and Zalo did nothing: it answers -32 late)
            "timeout": lambda: (sim.inject_delay(OAUTH, 1.0), sim.inject_error(OAUTH, -32)),
            "-14002": lambda: sim.inject_error(OAUTH, -14002),
        }
        for name, inject in faults.items():
            access, refresh = sim.mint_tokens(oa)
            await tokens.store(oa, access, refresh, 1800)  # inside the one-hour margin
            async with running.services.sm() as s:
                version = (await s.get(ZaloToken, oa)).version
            inject()
            assert await tokens.refresh_due() == [], name  # it failed …
            async with running.services.sm() as s:
                assert (await s.get(ZaloToken, oa)).broken_reason is None, name  # … kept
            assert await tokens.access_token(oa) == access, name  # still valid: served
            assert (await healthz(running))["zalo"] == {
                "ok": 0,
                "refresh failing, retrying": ["90001"],
            }, name

            async def refreshed(before: int = version) -> bool:  # by the refresher loop,
                async with running.services.sm() as s:  # after the backoff
                    return (await s.get(ZaloToken, oa)).version > before

            await wait_until(refreshed, timeout=10)
            assert await tokens.access_token(oa) != access, name
            assert (await healthz(running))["zalo"] == {"ok": 1}, name
    finally:
        await running.runner.cleanup()


async def test_a_reply_refused_for_its_token_waits_for_the_refresh(store_url, sim, quick_backoff):
    """Zalo refuses the access token (-220) while the OAuth server answers 502 twice: the reply
    waits (its attempt given back) and goes out once the refresh works — not failed."""
    from tests.helpers import row_reaches, rows

    running = await start_service(make_settings(store_url, sim, communes=1), sim)
    oa = oa_id(1)
    try:
        for token in sim.state.access_tokens.values():
            if token.oa_id == oa:
                token.expires_at_ms = 0  # Zalo answers -220 to it from now on
        sim.inject_http_status(OAUTH, 502, times=2)
        await sim.user_sends_text(oa, "7203", "dia chi uy ban o dau")
        [reply] = await sim.wait_for_messages(1, oa_id=oa, user_id="7203", timeout=15)
        assert "UBND xã Thử Nghiệm 1" in reply.body["message"]["text"]
        row = await row_reaches(running, "sent")
        assert row.attempts == 1 and not [r for r in await rows(running) if r.status == "failed"]
        assert (
            sim.stats()["http_statuses"] == {"502": 2}
            and running.services.tokens.refresh_count == 1
        )
        async with running.services.sm() as s:
            assert (await s.get(ZaloToken, oa)).broken_reason is None
    finally:
        await running.runner.cleanup()


async def test_permission_revoked_needs_reconsent(service):
    """The OA withdraws the app's access (``permission_revoked``): the OA is marked for
    re-consent with that reason, /healthz says so, replies wait until it is reconnected."""
    from tests.helpers import row_where, wait_until

    sim, oa = service.sim, oa_id(1)
    result = await sim.revoke_permission(oa)
    assert result.delivered

    async def marked() -> bool:
        async with service.services.sm() as s:
            return bool((await s.get(ZaloToken, oa)).broken_reason)

    await wait_until(marked)
    async with service.services.sm() as s:
        reason = (await s.get(ZaloToken, oa)).broken_reason
    assert "permission_revoked" in reason and f"bot zalo connect --oa {oa}" in reason
    assert (await healthz(service))["zalo"] == {"ok": 1, "needs re-consent": ["90001"]}
    await sim.user_sends_text(oa, "7204", "chao")
    held = await row_where(service, lambda r: r.error_code == "no_token")
    assert held.status == "pending" and sim.messages(oa, "7204") == []
    await reconnect(service, oa)
    await sim.wait_for_messages(1, oa_id=oa, user_id="7204")
    async with service.services.sm() as s:
        assert (await s.get(ZaloToken, oa)).broken_reason is None
