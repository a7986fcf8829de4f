"""The OA API client: one shared ``aiohttp.ClientSession`` for the whole process.

Decision (measured in ``bench/zalo_client.py``, figures in ``docs/zalo-client.md``): the hot send
path does not call zalo-sdk's synchronous ``requests`` client in an executor; it goes through
this client. zalo-sdk still builds the request bodies (``messages.py``) and the OAuth URL, and
names the error codes (``errors.py``).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import aiohttp

from bot.channels.zalo.errors import TransportError, ZaloError
from bot.channels.zalo.oauth import TokenManager
from bot.coord import Coordinator
from bot.sending import Outcome

log = logging.getLogger(__name__)
BULK_LANE = 2  # outbound priority of routine notices (0 replies, 1 emergencies)


def seconds_to_next_minute(now: float | None = None) -> float:
    """When the limiter's window (wall-clock minute, or ``now``'s) turns over, plus a little."""
    return 60.0 - (time.time() if now is None else now) % 60 + 0.2


class ZaloApi:
    def __init__(
        self,
        http: aiohttp.ClientSession,
        tokens: TokenManager,
        coord: Coordinator,
        api_base: str,
        timeout_s: float,
        app_rate_limit: int | None = 4000,
        bulk_share: float = 0.95,
        oa_rate_limit: int | None = None,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.coord = coord
        self.api_base = api_base.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.app_rate_limit = app_rate_limit
        #: routine notices (lane ≥ BULK_LANE) may use this share of the app's budget; the rest
        #: is kept for replies to residents and emergencies, so a big broadcast cannot make a
        #: resident wait for the next minute
        self.bulk_share = bulk_share
        self.oa_rate_limit = oa_rate_limit  # per OA, on top of the app's (None: none)

    async def call(
        self,
        oa_id: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        query: dict[str, Any] | None = None,
        lane: int = 0,
    ) -> dict[str, Any]:
        """Call an OA endpoint; returns ``data`` or raises :class:`ZaloError`.

        ``-216``/``-220`` refresh the token once and retry; every other error is raised with its
        :class:`~bot.sending.Outcome` for the caller's queue to act on. A token
        refused again right after a refresh is not the message's fault: it is retried later.
        """
        return await self._with_token(
            oa_id, path, lambda token: self._once(oa_id, token, method, path, body, query, lane)
        )

    async def _with_token(self, oa_id: str, path: str, attempt):
        token = await self.tokens.access_token(oa_id)
        try:
            return await attempt(token)
        except ZaloError as exc:
            if exc.outcome is not Outcome.REFRESH_TOKEN:
                raise
            log.info("zalo %s on %s for OA %s: refreshing token once", exc.code, path, oa_id)
            token = await self.tokens.refresh(oa_id, stale_token=token)
            try:
                return await attempt(token)
            except ZaloError as again:
                if again.outcome is Outcome.REFRESH_TOKEN:
                    raise ZaloError(
                        again.code,
                        f"{again.reason} (again, after a refresh)",
                        Outcome.RETRY,
                        retry_after=30.0,
                    ) from None
                raise

    async def upload_file(
        self, oa_id: str, filename: str, content: bytes, content_type: str = "application/pdf"
    ) -> str:
        """``POST /v2.0/oa/upload/file`` (multipart, ≤ 5 MB) → the token a file message
        names (zalo-oa-api.md §4.5). Counted against the same budgets as any call."""
        return await self._upload(
            oa_id, "/v2.0/oa/upload/file", "token", filename, content, content_type
        )

    async def upload_image(
        self, oa_id: str, filename: str, content: bytes, content_type: str
    ) -> str:
        """``POST /v2.0/oa/upload/image`` (multipart, JPEG/PNG ≤ 1 MB) → the
        ``attachment_id`` an image message names (zalo-oa-api.md §4.5)."""
        return await self._upload(
            oa_id, "/v2.0/oa/upload/image", "attachment_id", filename, content, content_type
        )

    async def _upload(
        self,
        oa_id: str,
        path: str,
        answer: str,
        filename: str,
        content: bytes,
        content_type: str,
    ) -> str:
        async def attempt(token: str) -> dict[str, Any]:
            # the name as browsers send it (UTF-8, RFC 7578), not percent-encoded: residents
            # see "Lịch tiêm.pdf", not "L%E1%BB%8Bch…" (bot/filenames.py made it header-safe)
            form = aiohttp.FormData(quote_fields=False)
            form.add_field("file", content, filename=filename, content_type=content_type)
            return await self._once(oa_id, token, "POST", path, None, None, form=form)

        data = await self._with_token(oa_id, path, attempt)
        if not data.get(answer):
            raise ZaloError(-201, f"upload answered without {answer}", Outcome.PERMANENT)
        return str(data[answer])

    async def _once(
        self,
        oa_id: str,
        token: str,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        query: dict[str, Any] | None,
        lane: int = 0,
        form: aiohttp.FormData | None = None,
    ) -> dict[str, Any]:
        share = self.bulk_share if lane >= BULK_LANE else 1.0
        spent: list[str] = []
        for key, limit in (
            (f"zalo:calls:{self.tokens.app_for_oa(oa_id)}", self.app_rate_limit),
            (f"zalo:oa-calls:{oa_id}", self.oa_rate_limit),
        ):
            if not limit:
                continue
            spent.append(key)
            if await self.coord.window_count(key, 60) > limit * share:
                for taken in spent:  # not made: do not spend the budgets
                    await self.coord.window_release(taken, 60)
                raise ZaloError(
                    -32,
                    "local limiter: the call budget for this minute is spent",
                    retry_after=seconds_to_next_minute(self.coord.clock()),
                )
        params = {"data": json.dumps(query, ensure_ascii=False)} if query is not None else None
        try:
            async with self.http.request(
                method,
                self.api_base + path,
                json=body if form is None else None,
                data=form,
                params=params,
                headers={"access_token": token},
                timeout=self.timeout,
            ) as resp:
                if resp.status != 200:
                    detail = f"HTTP {resp.status}"
                    if resp.status >= 500:  # a gateway may answer after Zalo acted
                        raise TransportError(detail, maybe_sent=True)
                    if resp.status == 429:
                        raise TransportError(detail)
                    raise ZaloError(-resp.status, detail, Outcome.PERMANENT)
                answer = await resp.json(content_type=None)
        except aiohttp.ClientConnectorError as exc:  # never connected: nothing was sent
            raise TransportError(f"{type(exc).__name__}: {exc}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:  # sent, answer lost: outcome unknown
            raise TransportError(f"{type(exc).__name__}: {exc}", maybe_sent=True) from None
        except ValueError:  # JSONDecodeError included: Zalo answered something garbled
            raise TransportError("answer was not JSON", maybe_sent=True) from None
        code = int(answer.get("error", 0) or 0) if isinstance(answer, dict) else -1
        if code != 0:
            raise ZaloError(code, answer.get("message") if isinstance(answer, dict) else None)
        data = answer.get("data")
        return data if isinstance(data, dict) else {"data": data}
