"""``ZaloSimulator``: run the simulator on a real port and drive it from tests and benchmarks.

    sim = ZaloSimulator(time_scale=0.001)       # retry ladder in milliseconds
    await sim.start()
    sim.add_app("app1", "app-secret")
    sim.add_oa("oa1", "app1", "oa-secret", webhook_url="http://127.0.0.1:8080/zalo/webhook")
    access, refresh = sim.mint_tokens("oa1")
    await sim.user_sends_text("oa1", "u1", "Xin chào")     # signed webhook to the bot
    sent = await sim.wait_for_messages(1, oa_id="oa1")   # what the bot sent back
    await sim.stop()

Point the bot's OAuth and OA API base URLs at ``sim.base_url`` (one host serves both).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from .emitter import DEFAULT_LADDER, FORGED_SIGNATURE, EmitResult, WebhookEmitter
from .server import make_app
from .state import OA, App, Fault, SentMessage, SimState, SocialUser, User

_UNSET: Any = object()


class ZaloSimulator:
    """Owns a :class:`SimState`, its :class:`WebhookEmitter` and the aiohttp server."""

    def __init__(
        self,
        state: SimState | None = None,
        *,
        rate_limit: int | None = _UNSET,
        ladder: Sequence[float] = DEFAULT_LADDER,
        time_scale: float = 1.0,
        webhook_timeout: float = 2.0,
        legacy_quota: bool | None = None,
    ) -> None:
        self.state = state if state is not None else SimState()
        if rate_limit is not _UNSET:
            self.state.rate_limit = rate_limit
        if legacy_quota is not None:
            self.state.legacy_quota = legacy_quota
        self.emitter = WebhookEmitter(
            self.state, ladder=ladder, time_scale=time_scale, timeout=webhook_timeout
        )
        self.app = make_app(self.state, emitter=self.emitter)
        self._runner: web.AppRunner | None = None
        self.host = "127.0.0.1"
        self.port = 0

    # ----- lifecycle -------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> ZaloSimulator:
        runner = web.AppRunner(self.app, shutdown_timeout=1.0, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self.host = host
        self.port = runner.addresses[0][1]
        return self

    @property
    def base_url(self) -> str:
        if self._runner is None:
            raise RuntimeError("simulator not started")
        return f"http://{self.host}:{self.port}"

    async def stop(self) -> None:
        await self.emitter.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ZaloSimulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ----- registry --------------------------------------------------------------------------

    def add_app(self, app_id: str, app_secret: str, *, callback_url: str | None = None) -> App:
        return self.state.add_app(app_id, app_secret, callback_url=callback_url)

    def add_oa(
        self,
        oa_id: str,
        app_id: str,
        oa_secret_key: str,
        webhook_url: str | None = None,
        *,
        name: str = "",
    ) -> OA:
        return self.state.add_oa(oa_id, app_id, oa_secret_key, webhook_url, name=name)

    def mint_tokens(self, oa_id: str) -> tuple[str, str]:
        """A fresh ``(access_token, refresh_token)`` pair for ``oa_id``."""
        return self.state.mint_tokens(oa_id)

    def add_social_user(self, account: str, name: str) -> SocialUser:
        """A Zalo account offered on the social-login consent page (``.id_for(app_id)``: the
        id that app sees)."""
        return self.state.add_social_user(account, name)

    def add_user(
        self,
        oa_id: str,
        user_id: str,
        follower: bool = True,
        interacted_ago_s: float | None = 0,
        **kwargs: Any,
    ) -> User:
        """Register a user; ``interacted_ago_s=None`` means never interacted."""
        return self.state.add_user(
            oa_id, user_id, follower=follower, interacted_ago_s=interacted_ago_s, **kwargs
        )

    def enable_webhook(self, app_id: str, enabled: bool = True) -> None:
        self.state.apps[app_id].webhook_enabled = enabled

    def configure(self, **settings: Any) -> None:
        """Change :attr:`SimState.SETTINGS` (as ``POST /_sim/settings`` does)."""
        self.state.configure(**settings)

    # ----- clock -----------------------------------------------------------------------------

    def advance(self, seconds: float) -> None:
        self.state.advance(seconds)

    def set_vn_time(self, hour: int, minute: int = 0) -> None:
        self.state.set_vn_time(hour, minute)

    # ----- users talk to the OA (webhooks) ---------------------------------------------------

    async def user_sends_text(
        self, oa_id: str, user_id: str, text: str, msg_id: str | None = None, **fields: Any
    ) -> EmitResult:
        return await self.emitter.user_sends_text(oa_id, user_id, text, msg_id, **fields)

    async def user_sends(
        self, oa_id: str, user_id: str, event_name: str, **fields: Any
    ) -> EmitResult:
        return await self.emitter.user_sends(oa_id, user_id, event_name, **fields)

    async def staff_types(
        self, oa_id: str, user_id: str, text: str, admin_id: str | None = "8800000000000000001"
    ) -> EmitResult:
        """An OA admin types to ``user_id`` in Zalo's OA Manager (an ``oa_send_text`` echo)."""
        return await self.emitter.staff_types(oa_id, user_id, text, admin_id)

    async def revoke_permission(self, oa_id: str) -> EmitResult:
        return await self.emitter.revoke_permission(oa_id)

    async def send_duplicate(self, previous: EmitResult) -> EmitResult:
        """Re-deliver the exact bytes of a previous emit (same ``msg_id``, same signature)."""
        return await self.emitter.resend(previous)

    async def send_forged(
        self, oa_id: str, body: bytes, signature: str | None = FORGED_SIGNATURE
    ) -> EmitResult:
        return await self.emitter.send_raw(oa_id, body, signature=signature)

    # ----- what the bot sent -----------------------------------------------------------------

    def messages(self, oa_id: str | None = None, user_id: str | None = None) -> list[SentMessage]:
        return self.state.find_messages(oa_id, user_id)

    async def wait_for_messages(
        self, n: int, oa_id: str | None = None, user_id: str | None = None, timeout: float = 10.0
    ) -> list[SentMessage]:
        """Poll until at least ``n`` matching sends are recorded; ``TimeoutError`` otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = self.messages(oa_id, user_id)
            if len(found) >= n:
                return found
            if loop.time() >= deadline:
                raise TimeoutError(f"expected {n} messages, got {len(found)} within {timeout}s")
            await asyncio.sleep(0.01)

    # ----- faults & stats --------------------------------------------------------------------

    def inject_error(self, path: str, code: int, times: int | None = 1) -> Fault:
        return self.state.add_fault(path, "error", code, times)

    def inject_http_status(self, path: str, status: int, times: int | None = 1) -> Fault:
        return self.state.add_fault(path, "status", status, times)

    def inject_delay(self, path: str, seconds: float, times: int | None = 1) -> Fault:
        return self.state.add_fault(path, "delay", seconds, times)

    def clear_faults(self) -> None:
        self.state.clear_faults()

    def stats(self) -> dict[str, Any]:
        return self.state.stats()
