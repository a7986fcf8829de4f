"""Webhook event builders shaped like Zalo's (zalo-oa-api.md §3.4, §3.5). Pure functions.

Every id and ``timestamp`` is a string (§1). Media payload keys follow the §3.4 table.
``user_received_message``/``user_seen_message`` put the OA in ``sender`` and the user in
``recipient`` (the messages travelled OA → user; §3.4 ZNS sample) — [INF] for OA messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import ids

USER_MESSAGE_EVENTS = frozenset(
    {
        "user_send_text",
        "user_send_image",
        "user_send_gif",
        "user_send_link",
        "user_send_audio",
        "user_send_video",
        "user_send_sticker",
        "user_send_location",
        "user_send_file",
        "user_send_business_card",
    }
)
OA_ECHO_EVENTS = frozenset(
    {
        "oa_send_text",
        "oa_send_image",
        "oa_send_gif",
        "oa_send_list",
        "oa_send_file",
        "oa_send_sticker",
        "oa_send_template",
    }
)
OTHER_EVENTS = frozenset(
    {
        "follow",
        "unfollow",
        "user_submit_info",
        "user_click_chatnow",
        "user_received_message",
        "user_seen_message",
        "user_reacted_message",
        "user_withdraw",
        "permission_revoked",
    }
)
SUPPORTED_EVENTS = USER_MESSAGE_EVENTS | OA_ECHO_EVENTS | OTHER_EVENTS

#: Events that count as a user interaction for the 7-day window (§4.2).
INTERACTION_EVENTS = USER_MESSAGE_EVENTS | {
    "follow",
    "user_click_chatnow",
    "user_submit_info",
    "user_reacted_message",
}


@dataclass(frozen=True)
class EventContext:
    app_id: str
    oa_id: str
    user_id: str
    user_id_by_app: str
    timestamp: str


def build_event(ctx: EventContext, event_name: str, **fields: Any) -> dict[str, Any]:
    """Build the webhook body for ``event_name``; see the module doc for the field names.

    Common optional fields: ``msg_id`` (message events), ``extra`` (dict merged at top level).
    Unknown fields raise ``TypeError`` so typos in tests do not pass silently.
    """
    if event_name not in SUPPORTED_EVENTS:
        raise ValueError(f"unsupported event {event_name!r}; one of {sorted(SUPPORTED_EVENTS)}")
    f = dict(fields)
    extra = f.pop("extra", None) or {}
    if event_name in USER_MESSAGE_EVENTS:
        event = _user_envelope(ctx, event_name)
        event["message"] = _message(event_name.removeprefix("user_send_"), f)
    elif event_name in OA_ECHO_EVENTS:
        event = _oa_envelope(ctx, event_name)
        if "admin_id" in f:
            event["sender"]["admin_id"] = str(f.pop("admin_id"))
        event["message"] = _message(event_name.removeprefix("oa_send_"), f)
    elif event_name in ("follow", "unfollow"):
        event = {
            "oa_id": ctx.oa_id,
            "follower": {"id": ctx.user_id},
            "user_id_by_app": ctx.user_id_by_app,
            "event_name": event_name,
            "source": f.pop("source", "oa_profile"),
            "app_id": ctx.app_id,
            "timestamp": ctx.timestamp,
        }
    elif event_name == "user_submit_info":
        event = _user_envelope(ctx, event_name)
        event["info"] = _submit_info(f)
    elif event_name == "user_click_chatnow":
        event = {
            "oa_id": ctx.oa_id,
            "user_id": ctx.user_id,
            "user_id_by_app": ctx.user_id_by_app,
            "event_name": event_name,
            "app_id": ctx.app_id,
            "timestamp": ctx.timestamp,
        }
    elif event_name == "user_received_message":
        event = _oa_envelope(ctx, event_name)
        event["message"] = {"msg_id": str(_required(f, "msg_id", event_name))}
    elif event_name == "user_seen_message":
        event = _oa_envelope(ctx, event_name)
        event["message"] = {"msg_ids": [str(m) for m in _required(f, "msg_ids", event_name)]}
    elif event_name == "permission_revoked":  # the OA revoked the app (§7.1; shape [INF])
        event = {
            "app_id": ctx.app_id,
            "oa_id": ctx.oa_id,
            "event_name": event_name,
            "timestamp": ctx.timestamp,
        }
    elif event_name == "user_reacted_message":
        event = _user_envelope(ctx, event_name)
        event["message"] = {
            "msg_id": str(_required(f, "msg_id", event_name)),
            "react_icon": f.pop("react_icon", "/-strong"),
        }
    else:  # user_withdraw (shape undocumented [INF]: user envelope + top-level oa_id)
        event = _user_envelope(ctx, event_name)
        event["oa_id"] = ctx.oa_id
    if f:
        raise TypeError(f"unexpected fields for {event_name}: {sorted(f)}")
    event.update(extra)
    return event


def _user_envelope(ctx: EventContext, name: str) -> dict[str, Any]:
    return {
        "app_id": ctx.app_id,
        "sender": {"id": ctx.user_id},
        "user_id_by_app": ctx.user_id_by_app,
        "recipient": {"id": ctx.oa_id},
        "event_name": name,
        "timestamp": ctx.timestamp,
    }


def _oa_envelope(ctx: EventContext, name: str) -> dict[str, Any]:
    return {
        "app_id": ctx.app_id,
        "sender": {"id": ctx.oa_id},
        "user_id_by_app": ctx.user_id_by_app,
        "recipient": {"id": ctx.user_id},
        "event_name": name,
        "timestamp": ctx.timestamp,
    }


def _required(f: dict[str, Any], key: str, event_name: str) -> Any:
    if key not in f:
        raise TypeError(f"{event_name} needs {key}=")
    return f.pop(key)


def _message(kind: str, f: dict[str, Any]) -> dict[str, Any]:
    msg_id = str(f.pop("msg_id", None) or ids.message_id())
    message: dict[str, Any] = {}
    text = f.pop("text", None)
    if kind == "text":
        message["text"] = "" if text is None else str(text)
    elif text is not None:
        message["text"] = str(text)  # caption
    message["msg_id"] = msg_id
    if "quote_msg_id" in f:
        message["quote_msg_id"] = str(f.pop("quote_msg_id"))
    if kind != "text":
        attachments = f.pop("attachments", None)
        message["attachments"] = (
            attachments if attachments is not None else [_attachment(kind, msg_id, f)]
        )
    return message


def _attachment(kind: str, msg_id: str, f: dict[str, Any]) -> dict[str, Any]:
    """One ``{"type", "payload"}`` item per the §3.4 payload table."""
    default_url = f"https://sim.zalo.invalid/{kind}/{msg_id}"
    url = f.pop("url", default_url)
    if kind in ("image", "gif"):
        return {"type": kind, "payload": {"thumbnail": f.pop("thumbnail", url), "url": url}}
    if kind == "link":
        return {
            "type": "link",
            "payload": {
                "thumbnail": f.pop("thumbnail", ""),
                "description": f.pop("description", ""),
                "url": url,
            },
        }
    if kind == "audio":
        return {"type": "audio", "payload": {"url": url}}
    if kind == "video":
        return {
            "type": "video",
            "payload": {
                "url": url,
                "thumbnail": f.pop("thumbnail", ""),
                "description": f.pop("description", ""),
            },
        }
    if kind == "sticker":
        return {"type": "sticker", "payload": {"url": url, "id": str(f.pop("sticker_id", "1"))}}
    if kind == "location":
        coords = {
            "latitude": str(f.pop("latitude", "21.0285")),
            "longitude": str(f.pop("longitude", "105.8542")),
        }
        return {"type": "location", "payload": {"coordinates": coords}}
    if kind == "file":
        return {
            "type": "file",
            "payload": {
                "size": str(f.pop("size", "1024")),
                "name": f.pop("name", "file.pdf"),
                "checksum": f.pop("checksum", msg_id),
                "type": f.pop("file_type", "pdf"),
                "url": url,
            },
        }
    if kind == "business_card":
        card = {
            "phone": str(f.pop("phone", "84900000000")),
            "qrCodeUrl": f.pop("qr_code_url", default_url),
        }
        return {
            "type": "link",
            "payload": {
                "thumbnail": f.pop("thumbnail", ""),
                "url": url,
                "description": json.dumps(card),
            },
        }
    # oa_send_list / oa_send_template echoes: a template payload
    return {"type": "template", "payload": f.pop("payload", {})}


def _submit_info(f: dict[str, Any]) -> dict[str, Any]:
    """``user_submit_info.info`` — the new 2025 shape, or the old one with ``legacy_shape=True``."""
    if "info" in f:
        return dict(f.pop("info"))
    name = f.pop("name", "Nguyễn Văn A")
    phone = str(f.pop("phone", "84912345678"))
    city = f.pop("city", "Hà Nội")
    ward = f.pop("ward", "Phường Ba Đình")
    address = f.pop("address", "1 Hùng Vương")
    if f.pop("legacy_shape", False):
        return {
            "name": name,
            "phone": phone,
            "address": address,
            "city": city,
            "district": f.pop("district", "Quận Ba Đình"),
            "ward": ward,
        }
    return {
        "name": name,
        "phone": phone,
        "user_dob": f.pop("user_dob", ""),
        "gender": f.pop("gender", ""),
        "full_address": {"user_city": city, "user_ward": ward, "user_address": address},
    }
