"""Webhook emitter: Zalo → bot events, signed and retried like Zalo (zalo-oa-api.md §3.2–§3.4).

* Body serialised once to bytes; ``X-ZEvent-Signature: mac=sha256(app_id + body + timestamp +
  oa_secret_key)`` via :func:`.signature.signature_header` (§3.3).
* One shared :class:`aiohttp.ClientSession`, 2-second timeout per POST (§3.2).
* Non-200 or timeout → retries at +30 s, +5 min, +15 min, +30 min, +1 h with header ``num_retry``;
  after the ladder the app's webhook subscription is disabled and nothing more is sent (§3.2).
  ``ladder`` and ``time_scale`` let tests run the ladder in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from . import ids
from .events import INTERACTION_EVENTS, EventContext, build_event
from .signature import signature_header
from .state import OA, SimState, WebhookDelivery

DEFAULT_LADDER: tuple[float, ...] = (30.0, 300.0, 900.0, 1800.0, 3600.0)
SIGNATURE_HEADER = "X-ZEvent-Signature"
FORGED_SIGNATURE = "mac=" + "0" * 64


@dataclass
class EmitResult:
    """Outcome of one emit: the event, the exact bytes sent, and how delivery went."""

    oa_id: str
    event: dict[str, Any] | None
    body: bytes
    headers: dict[str, str]
    status: int | None = None  # final HTTP status; None = timeout / connection error / not sent
    attempts: int = 0
    delivered: bool = False
    disabled: bool = False  # the app's webhook subscription is (now) disabled
    statuses: list[int | None] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "oa_id": self.oa_id,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "delivered": self.delivered,
            "disabled": self.disabled,
            "statuses": self.statuses,
        }


class WebhookEmitter:
    """Builds, signs and delivers webhook events for the OAs registered in ``state``."""

    def __init__(
        self,
        state: SimState,
        *,
        ladder: Sequence[float] = DEFAULT_LADDER,
        time_scale: float = 1.0,
        timeout: float = 2.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.state = state
        self.ladder = tuple(ladder)
        self.time_scale = time_scale
        self.timeout = timeout
        self._session = session
        self._owns_session = session is None
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----- lifecycle -------------------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
            self._owns_session = True
        return self._session

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; tracked so :meth:`close` can cancel it."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Wait for all background emits (e.g. echoes) to finish."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    # ----- building --------------------------------------------------------------------------

    def context(self, oa_id: str, user_id: str) -> EventContext:
        oa = self.state.oas[oa_id]
        user = self.state.get_user(oa_id, user_id)
        by_app = user.user_id_by_app if user else ids.stable_numeric_id(oa.app_id, oa_id, user_id)
        return EventContext(
            app_id=oa.app_id,
            oa_id=oa_id,
            user_id=user_id,
            user_id_by_app=by_app,
            timestamp=str(self.state.now_ms()),
        )

    def build(self, oa_id: str, user_id: str, event_name: str, **fields: Any) -> dict[str, Any]:
        """Build an event without touching state or sending it."""
        return build_event(self.context(oa_id, user_id), event_name, **fields)

    # ----- user actions ----------------------------------------------------------------------

    async def user_sends_text(
        self, oa_id: str, user_id: str, text: str, msg_id: str | None = None, **fields: Any
    ) -> EmitResult:
        if msg_id is not None:
            fields["msg_id"] = msg_id
        return await self.user_sends(oa_id, user_id, "user_send_text", text=text, **fields)

    async def user_sends(
        self, oa_id: str, user_id: str, event_name: str = "user_send_text", **fields: Any
    ) -> EmitResult:
        """Apply the event's effect on state (interaction, follow flag, shared info) and emit it.

        ``user_received_message``/``user_seen_message`` default to the OA's latest/all recorded
        messages to that user.
        """
        event = self.prepare(oa_id, user_id, event_name, **fields)
        return await self.emit(oa_id, event)

    def prepare(
        self, oa_id: str, user_id: str, event_name: str = "user_send_text", **fields: Any
    ) -> dict[str, Any]:
        """Apply the event's effect on state and build it, without sending (see user_sends)."""
        user_id = str(user_id)
        if event_name == "user_received_message" and "msg_id" not in fields:
            sent = self.state.find_messages(oa_id, user_id)
            fields["msg_id"] = sent[-1].message_id if sent else ids.message_id()
        if event_name == "user_seen_message" and "msg_ids" not in fields:
            fields["msg_ids"] = [m.message_id for m in self.state.find_messages(oa_id, user_id)]
        event = self.build(oa_id, user_id, event_name, **fields)  # raises before any mutation
        self._apply_user_effect(oa_id, user_id, event_name, int(event["timestamp"]))
        if event_name == "user_submit_info":
            self._store_shared_info(oa_id, user_id, event["info"])
        return event

    def _apply_user_effect(self, oa_id: str, user_id: str, event_name: str, at_ms: int) -> None:
        state = self.state
        if event_name in INTERACTION_EVENTS:
            state.touch_user(
                oa_id, user_id, follower=True if event_name == "follow" else None, at_ms=at_ms
            )
        elif event_name == "unfollow":
            user = state.get_user(oa_id, user_id) or state.add_user(oa_id, user_id)
            user.follower = False

    def _store_shared_info(self, oa_id: str, user_id: str, info: dict[str, Any]) -> None:
        user = self.state.get_user(oa_id, user_id)
        if user is None:
            return
        addr = info.get("full_address") or {}
        user.shared_info = {
            "name": info.get("name", ""),
            "phone": info.get("phone", ""),
            "address": info.get("address", addr.get("user_address", "")),
            "city": info.get("city", addr.get("user_city", "")),
            "district": info.get("district", ""),
            "ward": info.get("ward", addr.get("user_ward", "")),
        }

    # ----- the OA's side -------------------------------------------------------------------

    async def staff_types(
        self, oa_id: str, user_id: str, text: str, admin_id: str | None = None
    ) -> EmitResult:
        """An OA admin writes to a user in OA Manager: the message is in the conversation, and
        the ``oa_send_text`` echo (``sender.admin_id``) reaches the webhook (§3.4, §7.1)."""
        msg = self.state.record_message(
            oa_id,
            str(user_id),
            "oa_manager",
            {"recipient": {"user_id": str(user_id)}, "message": {"text": text}},
        )
        fields: dict[str, Any] = {"text": text, "msg_id": msg.message_id}
        if admin_id is not None:
            fields["admin_id"] = admin_id
        return await self.emit(oa_id, self.build(oa_id, str(user_id), "oa_send_text", **fields))

    async def revoke_permission(self, oa_id: str) -> EmitResult:
        """The OA revokes the app's access: its tokens stop working (-216, refresh refused)
        and ``permission_revoked`` is sent."""
        for token in [t for t, a in self.state.access_tokens.items() if a.oa_id == oa_id]:
            del self.state.access_tokens[token]
        for refresh in self.state.refresh_tokens.values():
            if refresh.oa_id == oa_id:
                refresh.used = True
        return await self.emit(oa_id, self.build(oa_id, "", "permission_revoked"))

    # ----- sending ---------------------------------------------------------------------------

    async def emit(self, oa_id: str, event: dict[str, Any], *, retry: bool = True) -> EmitResult:
        """Serialise ``event`` once, sign it and deliver it (with the retry ladder)."""
        oa = self.state.oas[oa_id]
        body = json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()
        app_id = str(event.get("app_id") or oa.app_id)
        timestamp = str(event.get("timestamp") or self.state.now_ms())
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_header(app_id, body, timestamp, oa.oa_secret_key),
        }
        result = EmitResult(oa_id, event, body, headers)
        return await self._deliver(oa, result, retry=retry)

    async def resend(self, previous: EmitResult, *, retry: bool = True) -> EmitResult:
        """Deliver the exact same bytes again — a duplicate with the same ``msg_id`` (§3.2)."""
        oa = self.state.oas[previous.oa_id]
        result = EmitResult(previous.oa_id, previous.event, previous.body, dict(previous.headers))
        return await self._deliver(oa, result, retry=retry)

    async def send_raw(
        self,
        oa_id: str,
        body: bytes,
        *,
        signature: str | None = FORGED_SIGNATURE,
        retry: bool = False,
    ) -> EmitResult:
        """POST arbitrary bytes with an arbitrary (default: forged) signature header."""
        oa = self.state.oas[oa_id]
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers[SIGNATURE_HEADER] = signature
        try:
            event = json.loads(body)
        except ValueError:
            event = None
        result = EmitResult(oa_id, event if isinstance(event, dict) else None, body, headers)
        return await self._deliver(oa, result, retry=retry)

    async def _deliver(self, oa: OA, result: EmitResult, *, retry: bool) -> EmitResult:
        app = self.state.app_of(oa.oa_id)
        if not app.webhook_enabled or not oa.webhook_url:
            result.disabled = not app.webhook_enabled
            return result
        event_name = str((result.event or {}).get("event_name", "?"))
        steps = len(self.ladder) if retry else 0
        for n in range(steps + 1):
            headers = dict(result.headers)
            if n:
                await asyncio.sleep(self.ladder[n - 1] * self.time_scale)
                if not app.webhook_enabled:  # another chain exhausted its ladder meanwhile
                    result.disabled = True
                    return result
                headers["num_retry"] = str(n)
            status, error = await self._post(oa.webhook_url, result.body, headers)
            self.state.deliveries.append(
                WebhookDelivery(
                    oa.oa_id, app.app_id, event_name, n, status, error, self.state.now_ms()
                )
            )
            result.attempts += 1
            result.status = status
            result.statuses.append(status)
            if status == 200:
                result.delivered = True
                return result
        if retry:
            app.webhook_enabled = False
            result.disabled = True
        return result

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int | None, str | None]:
        try:
            async with self.session().post(
                url,
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            ) as resp:
                await resp.read()
                return resp.status, None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return None, f"{type(exc).__name__}: {exc}"
