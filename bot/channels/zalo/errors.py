"""Zalo's error codes, read once, here (zalo-oa-api.md §9).

Every OA call answers HTTP 200 with an ``error`` field; this module turns a code into one of the
outcomes the send path acts on (``bot/sending.py``: :class:`ZaloError` is a ``SendError``, so the
sender handles it without knowing Zalo): retry later, refresh the token once, wait for the OA to be
reconnected, the resident's window is closed (record it, do not retry), or permanent failure (keep
the reason). The OAuth endpoint's answers are read here too (:func:`refresh_token_dead`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from zalo_sdk import ZaloOAException

from bot.sending import Outcome, SendError
from bot.timeutil import to_vn, utcnow

THROTTLING = {-32}  # rate limit: Zalo's or our own budget — wait, it is not the message's fault
RETRYABLE = {-214, -234}  # article being processed; night (retry at 06:00)
TOKEN = {-216, -220, -124}  # invalid / expired access token (-124: ZNS)
WINDOW = {-213, -217, -227, -230, -232, -244}  # the resident cannot be reached by this route
ATTACHMENT_EXPIRED = -100  # an uploaded file/image id Zalo no longer knows (~7 days): upload again
#: article broadcast refused for quota: "Out of quota" / "Out of quota receive" (§7.1, §9)
QUOTA = {-211, -218}
#: OAuth v4 answers that say the refresh token itself is dead (§2: Zalo documents no distinct
#: code; -14014 "Invalid refresh token" is what integrators report and the simulator answers).
#: Only these make an OA need re-consent: anything else on a refresh is retried with backoff.
DEAD_REFRESH_CODES = {-14014}

_MESSAGES = {
    -32: "rate limit reached",
    -100: "attachment_id was expired",
    -211: "out of quota",
    -213: "user has not followed the OA",
    -214: "article is being processed",
    -216: "access token is invalid",
    -217: "user has blocked invitations from the OA",
    -218: "out of quota receive",
    -220: "access token is expired or removed",
    -227: "user is banned or inactive for more than 45 days",
    -230: "user has not interacted with the OA in the past 7 days",
    -232: "user has not interacted with the OA, or the interaction expired",
    -234: "message cannot be sent at night (22:00-06:00)",
    -240: "MessageV2 API has been shut down",
    -244: "user has restricted this message type from the OA",
}


def seconds_until_morning(now: datetime | None = None) -> float:
    """Promotional sends are refused 22:00–06:00 Vietnam time; wait for 06:00."""
    local = to_vn(now or utcnow())
    morning = local.replace(hour=6, minute=0, second=0, microsecond=0)
    if local >= morning:
        morning += timedelta(days=1)
    return (morning - local).total_seconds()


def classify(code: int) -> Outcome:
    if code in THROTTLING:
        return Outcome.THROTTLED
    if code in RETRYABLE:
        return Outcome.RETRY
    if code in TOKEN:
        return Outcome.REFRESH_TOKEN
    if code in WINDOW:
        return Outcome.WINDOW_CLOSED
    return Outcome.PERMANENT


def describe(code: int, message: str | None = None) -> str:
    known = _MESSAGES.get(code) or ZaloOAException.ERROR_CODE_TO_STR.get(code, "unknown error")
    return f"{code} {message or known}".strip()


class ZaloError(SendError):
    """A failed Zalo call; ``outcome`` says what the caller should do."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        outcome: Outcome | None = None,
        retry_after: float | None = None,
    ) -> None:
        if retry_after is None and code == -234:
            retry_after = seconds_until_morning()
        super().__init__(code, describe(code, message), outcome or classify(code), retry_after)
        self.code: int = code


def refresh_token_dead(code: int, text: str) -> bool:
    """Does an OAuth error answer say the refresh token is invalid, expired or already used?
    (``text``: its ``error_name`` / ``error_reason`` / ``message``.)"""
    words = text.lower()
    return code in DEAD_REFRESH_CODES or (
        "refresh" in words and any(w in words for w in ("invalid", "expired", "revoked", "used"))
    )


class TransportError(ZaloError):
    """HTTP 5xx/429, timeouts, dropped or refused connections: retry.

    ``maybe_sent``: the request may have reached Zalo's logic before the answer was lost (a
    timeout, a connection dropped after sending, a garbled or 5xx answer) — a send must not be
    repeated blindly; the sender reads the conversation back first. A refused connection or a
    429 means Zalo did nothing."""

    def __init__(self, detail: str, maybe_sent: bool = False) -> None:
        super().__init__(0, detail, Outcome.RETRY)
        self.reason = f"transport: {detail}"
        self.maybe_sent = maybe_sent  # read by the sender (SendError.maybe_sent)


class TokenUnavailable(ZaloError):
    """No usable token: the OA admin must connect or re-consent (``bot zalo connect``)."""

    def __init__(self, oa_id: str, detail: str) -> None:
        super().__init__(-216, f"no usable token for OA {oa_id}: {detail}", Outcome.NO_TOKEN)
