"""Bulk setup of a :class:`SimState` from a JSON-able spec (``POST /_sim/setup``, ``--setup``).

Spec (every key optional)::

    {"settings": {"rate_limit": 4000 | null, "legacy_quota": false, "article_processing_polls": 1,
                  "strict_attachments": true, "emit_echoes": false},
     "apps":   [{"app_id", "app_secret", "callback_url"?}],
     "oas":    [{"oa_id", "app_id", "oa_secret_key", "webhook_url"?, "name"?,
                 "mint_tokens"?: bool}],
     "users":  [{"oa_id", "user_id", "display_name"?, "follower"?: true,
                 "interacted_ago_s"?: 0 | null, "user_id_by_app"?}],
     "tokens": [{"oa_id", "access_token"?, "refresh_token"?}],
     "social_users": [{"account", "name", "picture"?}]}   (social login's consent page)

Returns ``{"tokens": [{"oa_id", "access_token", "refresh_token", "expires_in"}], "users": [...]}``.
"""

from __future__ import annotations

from typing import Any

from .state import ACCESS_TOKEN_TTL_S, SimState


def apply_setup(state: SimState, spec: dict[str, Any]) -> dict[str, Any]:
    state.configure(**(spec.get("settings") or {}))
    for app in spec.get("apps") or []:
        state.add_app(
            str(app["app_id"]), str(app["app_secret"]), callback_url=app.get("callback_url")
        )
    to_mint: list[dict[str, Any]] = []
    for oa in spec.get("oas") or []:
        state.add_oa(
            str(oa["oa_id"]),
            str(oa["app_id"]),
            str(oa["oa_secret_key"]),
            oa.get("webhook_url"),
            name=oa.get("name", ""),
        )
        if oa.get("mint_tokens"):
            to_mint.append({"oa_id": str(oa["oa_id"])})
    users = []
    for u in spec.get("users") or []:
        user = state.add_user(
            str(u["oa_id"]),
            str(u["user_id"]) if u.get("user_id") else None,
            follower=u.get("follower", True),
            interacted_ago_s=u.get("interacted_ago_s", 0),
            display_name=u.get("display_name"),
            user_id_by_app=u.get("user_id_by_app"),
        )
        users.append(
            {
                "oa_id": str(u["oa_id"]),
                "user_id": user.user_id,
                "user_id_by_app": user.user_id_by_app,
            }
        )
    for person in spec.get("social_users") or []:
        state.add_social_user(
            str(person["account"]), str(person["name"]), picture=str(person.get("picture", ""))
        )
    tokens = []
    for t in to_mint + list(spec.get("tokens") or []):
        access, refresh = state.mint_tokens(
            str(t["oa_id"]), t.get("access_token"), t.get("refresh_token")
        )
        tokens.append(
            {
                "oa_id": str(t["oa_id"]),
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": str(ACCESS_TOKEN_TTL_S),
            }
        )
    return {"tokens": tokens, "users": users}
