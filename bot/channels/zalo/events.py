"""Zalo webhook events → one plain :class:`ZaloEvent` (zalo-oa-api.md §3.4–3.5).

Parsing is lenient where sources disagree: ids and timestamps may be strings or numbers,
``user_submit_info`` comes in an older and a newer shape. Which party is the resident is decided
once the event is routed to an OA (:meth:`ZaloEvent.user_for`): for user → OA events the sender,
for OA → user events (echoes, delivery receipts) the recipient.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

USER_MESSAGE_PREFIX = "user_send_"
ECHO_PREFIX = "oa_send_"


class EventError(ValueError):
    """The body is JSON but not a Zalo event we can route."""


@dataclass(frozen=True)
class ZaloEvent:
    event_name: str
    kind: str  # message | follow | unfollow | submit_info | chatnow | received | seen | withdraw | echo | revoked | other
    app_id: str
    oa_candidates: tuple[str, ...]
    sender: str | None = None
    recipient: str | None = None
    explicit_user: str | None = None  # follower.id (follow) / user_id (chatnow)
    user_id_by_app: str | None = None
    timestamp: str = ""
    msg_id: str | None = None
    text: str | None = None
    attachments: list[dict[str, Any]] = field(default_factory=list)
    info: dict[str, Any] | None = None
    msg_ids: tuple[str, ...] = ()
    quote_msg_id: str | None = None

    def user_for(self, oa_id: str) -> str | None:
        """The resident's per-OA id: whichever party is not the OA."""
        if self.explicit_user:
            return self.explicit_user
        for party in (self.sender, self.recipient):
            if party and party != oa_id:
                return party
        return None

    def dedupe_key_for(self, oa_id: str) -> str:
        """Zalo retries the same bytes; key on ``msg_id`` where there is one, else the identity."""
        if self.msg_id and self.kind in {"message", "echo", "received"}:
            return f"{self.kind}:{self.msg_id}"
        basis = "|".join(
            [
                self.event_name,
                self.timestamp,
                self.user_for(oa_id) or "",
                ",".join(self.msg_ids),
                self.msg_id or "",
            ]
        )
        return f"{self.event_name}:{hashlib.sha256(basis.encode()).hexdigest()[:32]}"


def _s(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _id_of(obj: Any) -> str | None:
    return _s(obj.get("id")) if isinstance(obj, dict) else None


def kind_of(event_name: str) -> str:
    # group (GMF) and anonymous messages are not a resident's private chat: they must not get a
    # consultation reply (and /message/cs cannot reach an anonymous id); stored, not answered
    if event_name.startswith("user_send_group_") or event_name.startswith("anonymous_send_"):
        return "other"
    if event_name.startswith(USER_MESSAGE_PREFIX):
        return "message"
    if event_name.startswith(ECHO_PREFIX):
        return "echo"
    return {
        "follow": "follow",
        "unfollow": "unfollow",
        "user_submit_info": "submit_info",
        "user_click_chatnow": "chatnow",
        "user_received_message": "received",
        "user_seen_message": "seen",
        "user_withdraw": "withdraw",
        "permission_revoked": "revoked",  # the OA withdrew the app's access
    }.get(event_name, "other")


def normalise_info(info: Any) -> dict[str, Any]:
    """Both ``user_submit_info`` shapes → ``{name, phone, dob, gender, address{...}}``."""
    if not isinstance(info, dict):
        return {}
    full = info.get("full_address") if isinstance(info.get("full_address"), dict) else None
    if full is not None:  # newer shape (after the 2025 removal of districts)
        address = {
            "city": full.get("user_city"),
            "ward": full.get("user_ward"),
            "street": full.get("user_address"),
        }
    else:  # older shape
        address = {
            "city": info.get("city"),
            "district": info.get("district"),
            "ward": info.get("ward"),
            "street": info.get("address"),
        }
    address = {k: str(v) for k, v in address.items() if v not in (None, "")}
    out = {
        "name": _s(info.get("name")),
        "phone": _s(info.get("phone")),
        "dob": _s(info.get("user_dob")),
        "gender": _s(info.get("gender")),
        "address": address or None,
    }
    return {k: v for k, v in out.items() if v is not None}


def _attachments(message: dict[str, Any]) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = []
    items = message.get("attachments")
    if not isinstance(items, list):
        return result
    for item in items:
        if isinstance(item, dict):
            payload = item.get("payload") if isinstance(item.get("payload"), dict) else {}
            result.append({"type": str(item.get("type") or "unknown"), "payload": payload})
    return result


def parse_event(body: Any) -> ZaloEvent:
    if not isinstance(body, dict):
        raise EventError("event must be a JSON object")
    name = body.get("event_name")
    if not isinstance(name, str) or not name:
        raise EventError("event_name missing")
    kind = kind_of(name)
    sender = _id_of(body.get("sender"))
    recipient = _id_of(body.get("recipient"))
    top_oa = _s(body.get("oa_id"))
    # routing order (§3.1 [INF], as Chatwoot does): top-level oa_id, recipient, sender
    order = (top_oa, sender) if kind == "echo" else (top_oa, recipient, sender)
    oa_candidates = tuple(dict.fromkeys(c for c in order if c))
    if not oa_candidates:
        raise EventError("no OA id in event (recipient.id / oa_id)")
    raw_message = body.get("message")
    message: dict[str, Any] = raw_message if isinstance(raw_message, dict) else {}
    msg_ids = (
        tuple(str(x) for x in message.get("msg_ids") or ())
        if isinstance(message.get("msg_ids"), list)
        else ()
    )
    text = message.get("text")
    return ZaloEvent(
        event_name=name,
        kind=kind,
        app_id=_s(body.get("app_id")) or "",
        oa_candidates=oa_candidates,
        sender=sender,
        recipient=recipient,
        explicit_user=_id_of(body.get("follower")) or _s(body.get("user_id")),
        user_id_by_app=_s(body.get("user_id_by_app")),
        timestamp=_s(body.get("timestamp")) or "",
        msg_id=_s(message.get("msg_id")),
        text=text if isinstance(text, str) else None,
        attachments=_attachments(message),
        info=normalise_info(body.get("info")) if kind == "submit_info" else None,
        msg_ids=msg_ids,
        quote_msg_id=_s(message.get("quote_msg_id")),
    )
