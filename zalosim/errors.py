"""Error codes and messages the simulator returns (zalo-oa-api.md §1, §2, §9).

OA API errors are ``{"error": <negative int>, "message": "..."}`` with HTTP 200 (§1). OAuth errors
are ``{"error", "error_name", "error_reason"}`` without ``message`` (§1, §2). The concrete OAuth
codes (-14xxx) are not in the doc beyond -14002/-14003; the rest are [INF] placeholders — clients
must treat any non-zero OAuth error as terminal (§2).
"""

from __future__ import annotations

from typing import Final

#: §9 error table (verbatim-ish messages).
OA_MESSAGES: Final[dict[int, str]] = {
    0: "Success",
    -32: "Your application reached limit call api",
    -100: "attachment_id was expired",
    -200: "Send message failed",
    -201: "Parameters are invalid!",
    -205: "Offical Account is not exist",
    -209: "Not supported this api",
    -210: "Parameter exceeds allowable limit",
    -211: "Out of quota",
    -213: "User has not followed OA",
    -214: "Article is being processed",
    -216: "Access token is invalid",
    -217: "User has blocked invitation from OA",
    -220: "access_token is expired or removed",
    -224: "The OA needs to upgrade OA Tier Package",
    -227: "User is banned or has been inactive for more than 45 days",
    -230: "User has not interacted with the OA in the past 7 days",
    -232: "User has not interacted with the OA, or the last interaction has expired",
    -233: "message type is invalid or not support",
    -234: "This message cannot be sent at night (10:00PM - 6:00AM)",
    -240: "MessageV2 API has been shut down, please switch to MessageV3",
    -244: "User has restricted this message type from your OA",
    -249: "Template does not support send via UID",
}

# OAuth v4 (§2). -14002/-14003 are documented; the others are [INF].
OAUTH_INVALID_PARAM: Final = -14001
OAUTH_INVALID_APP: Final = -14002
OAUTH_INVALID_REDIRECT: Final = -14003
OAUTH_INVALID_SECRET: Final = -14004
OAUTH_INVALID_REFRESH: Final = -14014
OAUTH_INVALID_CODE: Final = -14019
OAUTH_INVALID_VERIFIER: Final = -14020

OAUTH_NAMES: Final[dict[int, str]] = {
    OAUTH_INVALID_PARAM: "Invalid parameter",
    OAUTH_INVALID_APP: "Invalid app id",
    OAUTH_INVALID_REDIRECT: "Invalid redirect uri",
    OAUTH_INVALID_SECRET: "Invalid secret key",
    OAUTH_INVALID_REFRESH: "Invalid refresh token",
    OAUTH_INVALID_CODE: "Invalid authorization code",
    OAUTH_INVALID_VERIFIER: "Invalid code verifier",
}


def oa_message(code: int, field: str | None = None) -> str:
    """Message text for an OA error code; ``-201`` is ``"<field> is invalid!"`` (§9)."""
    if code == -201 and field:
        return f"{field} is invalid!"
    return OA_MESSAGES.get(code, "Unknown error")


def oauth_name(code: int) -> str:
    return OAUTH_NAMES.get(code, "Unknown error")
