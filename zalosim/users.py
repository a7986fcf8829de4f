"""Follower/user endpoints and quota (zalo-oa-api.md §5, §4.3).

* ``GET /v3.0/oa/user/detail?data={"user_id"}`` → user detail (§5).
* ``GET /v3.0/oa/user/getlist?data={"offset","count","is_follower"?,"last_interaction_period"?}``
  → ``{total, count, offset, users:[{user_id}]}``; ``count`` clamped to 50;
  ``offset`` > 9951 → -210.
* ``POST /v3.0/oa/quota/message`` with ``{"user_id"}`` → ``{last_interaction, cs_reply,
  promotion}``, or with ``{"quota_owner"}`` → list of quota assets (CNX live fixtures: ints).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from aiohttp import web

from .replies import as_id, as_int, current_oa, fail, ok, read_data_param, read_json, state_of
from .state import VN_TZ, SimState, User

MAX_COUNT = 50
MAX_OFFSET = 9951


def _vn_date(ms: int) -> date:
    return datetime.fromtimestamp(ms / 1000, VN_TZ).date()


def user_detail(state: SimState, user: User) -> dict[str, Any]:
    last = user.last_interaction_ms
    detail: dict[str, Any] = {
        "user_id": user.user_id,
        "user_id_by_app": user.user_id_by_app,
        "user_external_id": "",
        "display_name": user.display_name,
        "user_alias": user.display_name,
        "is_sensitive": False,
        "user_last_interaction_date": _vn_date(last).strftime("%d/%m/%Y") if last else "",
        "user_is_follower": user.follower,
        "avatar": user.avatar,
        "avatars": {"120": user.avatar, "240": user.avatar},
        "dynamic_param": "",
        "tags_and_notes_info": {"notes": [], "tag_names": list(user.tag_names)},
    }
    if user.shared_info:
        detail["shared_info"] = dict(user.shared_info)
    return detail


async def detail(request: web.Request) -> web.Response:
    state = state_of(request)
    data = read_data_param(request)
    user_id = as_id((data or {}).get("user_id"))
    if user_id is None:
        return fail(request, -201, field="user_id")
    user = state.get_user(current_oa(request).oa_id, user_id)
    if user is None:
        return fail(request, -213)
    return ok(request, user_detail(state, user))


def _period_filter(state: SimState, period: str) -> tuple[date, date] | None:
    """``TODAY|YESTERDAY|L7D|L30D|YYYY_MM_DD:YYYY_MM_DD`` → inclusive VN date range (§5)."""
    today = state.vn_now().date()
    spans = {
        "TODAY": (today, today),
        "YESTERDAY": (today - timedelta(days=1), today - timedelta(days=1)),
        "L7D": (today - timedelta(days=6), today),
        "L30D": (today - timedelta(days=29), today),
    }
    if period in spans:
        return spans[period]
    try:
        start, end = period.split(":")
        return (
            datetime.strptime(start, "%Y_%m_%d").date(),
            datetime.strptime(end, "%Y_%m_%d").date(),
        )
    except ValueError:
        return None


async def getlist(request: web.Request) -> web.Response:
    state = state_of(request)
    data = read_data_param(request)
    if data is None:
        return fail(request, -201, field="data")
    offset, count = as_int(data.get("offset"), 0), as_int(data.get("count"), MAX_COUNT)
    if offset is None or offset < 0:
        return fail(request, -201, field="offset")
    if offset > MAX_OFFSET:
        return fail(request, -210)
    if count is None or count < 1:
        return fail(request, -201, field="count")
    count = min(count, MAX_COUNT)
    users = list(state.users.get(current_oa(request).oa_id, {}).values())
    is_follower = data.get("is_follower")
    if isinstance(is_follower, str):
        is_follower = {"true": True, "false": False}.get(is_follower.lower())
    if isinstance(is_follower, bool):
        users = [u for u in users if u.follower is is_follower]
    period = data.get("last_interaction_period")
    if period:
        span = _period_filter(state, str(period))
        if span is None:
            return fail(request, -201, field="last_interaction_period")
        users = [
            u
            for u in users
            if u.last_interaction_ms is not None
            and span[0] <= _vn_date(u.last_interaction_ms) <= span[1]
        ]
    page = users[offset : offset + count]
    return ok(
        request,
        {
            "total": len(users),
            "count": len(page),
            "offset": offset,
            "users": [{"user_id": u.user_id} for u in page],
        },
    )


async def quota(request: web.Request) -> web.Response:
    state = state_of(request)
    body = await read_json(request)
    if body is None:
        return fail(request, -201, field="body")
    oa = current_oa(request)
    if "user_id" in body:
        user_id = as_id(body["user_id"])
        user = state.get_user(oa.oa_id, user_id) if user_id else None
        if user is None:
            return fail(request, -213) if user_id else fail(request, -201, field="user_id")
        return ok(
            request,
            {
                "last_interaction": str(user.last_interaction_ms or 0),
                "cs_reply": {"remain": 0, "total": 0},
                "promotion": {
                    "daily_remain": 1,
                    "daily_total": 1,
                    "monthly_remain": 4,
                    "monthly_total": 4,
                },
            },
        )
    if body.get("quota_owner") not in ("OA", "App"):
        return fail(request, -201, field="quota_owner")
    valid = (state.vn_now() + timedelta(days=30)).strftime("%d/%m/%Y")
    return ok(
        request,
        [
            {
                "asset_id": oa.oa_id[-20:],
                "product_type": body.get("product_type", "cs"),
                "quota_type": body.get("quota_type", "sub_quota"),
                "valid_through": valid,
                "total": 2000,
                "remain": 2000,
            }
        ],
    )


MAX_CONVERSATION_PAGE = 10


async def conversation(request: web.Request) -> web.Response:
    """``GET /v2.0/oa/conversation?data={"user_id","offset","count"}`` (§5): the OA's messages
    to one user, newest first, at most 10 a page; ``src`` 0 = OA → user."""
    state = state_of(request)
    data = read_data_param(request) or {}
    user_id = as_id(data.get("user_id"))
    if user_id is None:
        return fail(request, -201, field="user_id")
    offset, count = as_int(data.get("offset"), 0), as_int(data.get("count"), 5)
    if offset is None or offset < 0:
        return fail(request, -201, field="offset")
    if count is None or not 1 <= count <= MAX_CONVERSATION_PAGE:
        return fail(request, -201, field="count")
    oa_id = current_oa(request).oa_id
    mine = [m for m in reversed(state.messages) if m.oa_id == oa_id and m.user_id == user_id]
    page = []
    for m in mine[offset : offset + count]:
        text = (m.body.get("message") or {}).get("text")
        page.append(
            {
                "src": 0,
                "time": m.time_ms,
                "type": "text" if text else "template",
                "message": text or "",
                "message_id": m.message_id,
                "from_id": oa_id,
                "to_id": user_id,
            }
        )
    return ok(request, page)
