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
from tests.conftest import make_settings, oa_id, start_service


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
            async with http.get(URL(link).update_query(oa_id=picked_oa),
                                allow_redirects=False) as r:
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
            managers.append(TokenManager(settings, sessionmaker(engine),
                                         SecretBox("test-secret-key"), coord, http))
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
        answer = await http.get(URL(service.url).with_path(callback.path)
                                .with_query(callback.query))
        assert answer.status == 200, await answer.text()


async def healthz(service) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{service.url}/healthz") as r:
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
    from tests.test_zalo_sends import row_where
    held = await row_where(service, lambda r: r.error_code == "no_token")
    assert held.status == "pending" and held.attempts == 0
    assert "bot zalo connect" in held.error_reason
    assert sim.messages(oa, "7202") == []
    await reconnect(service, oa)  # the admin consents again: the held reply goes at once
    [reply] = await sim.wait_for_messages(1, oa_id=oa, user_id="7202")
    assert "chao" not in reply.body["message"]["text"].lower()
    assert (await row_where(service, lambda r: r.id == held.id and r.status == "sent"))
    assert (await healthz(service))["zalo"] == {"ok": 2}


async def test_refresh_before_expiry(service):
    sim, oa = service.sim, oa_id(1)
    tokens = service.services.tokens
    access, refresh = sim.mint_tokens(oa)
    await tokens.store(oa, access, refresh, 1800)  # inside the one-hour margin
    assert await tokens.refresh_due() == [oa]
    assert await tokens.access_token(oa) != access
