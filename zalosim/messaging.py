"""Message sending endpoints (zalo-oa-api.md §4, §7).

* ``POST /v3.0/oa/message/{cs,transaction,promotion}`` — ``{"recipient":{"user_id"},"message"}``;
  checks: user known (-213), interacted within 7 days (-230, §4.2), text ≤ 2,000 chars after NFC
  (-201 ``text is invalid!``), text or attachment present (-201), template type allowed for the
  endpoint (-233); promotion additionally blocked 22:00–06:00 Vietnam time (-234).
* ``POST /v3.0/oa/message/template`` — ZBS template by UID; body ``{"user_id",...}`` or
  ``{"recipient":{"user_id"},...}`` (§4.3, DISPUTED shape → both accepted).
* ``POST /v2.0/oa/message`` — broadcast (``recipient.target`` + article media template, §7),
  anonymous and reaction bodies (§4.4); a normal ``recipient.user_id`` send → -240. A broadcast
  is refused 22:00–06:00 (-234), reaches the followers with quota left (per follower, per month
  and day, §7.1) after the review delay — the next morning if that ends after 20:00 — and is
  refused with -211 when no follower has quota left.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import ids
from .events import OA_ECHO_EVENTS
from .replies import (
    EMITTER,
    Reject,
    as_id,
    current_oa,
    fail,
    ok,
    read_json,
    reject,
    state_of,
)
from .state import MAX_TEXT_CHARS, OA, UPLOAD_TTL_S, Broadcast, SentMessage, SimState, nfc_len

CS_TEMPLATES = frozenset({"media", "request_user_info", "list"})
CS_MEDIA_TYPES = frozenset({"image", "gif", "sticker"})
BUTTON_TYPES = frozenset(
    {"oa.open.url", "oa.query.show", "oa.query.hide", "oa.open.phone", "oa.open.sms"}
)
MAX_LIST_ITEMS = 5  # elements / buttons (§4.1, v2-era limit)
MAX_BROADCAST_ARTICLES = 5  # §7


# ----- validation ------------------------------------------------------------------------------


def _template_allowed(kind: str, template_type: str) -> bool:
    if kind == "cs":
        return template_type in CS_TEMPLATES
    if kind == "transaction":
        return template_type.startswith("transaction_")
    return template_type == "promotion"


def validate_text(text: Any) -> None:
    if not isinstance(text, str) or not text or nfc_len(text) > MAX_TEXT_CHARS:
        raise Reject(-201, "text")


def validate_message(state: SimState, oa: OA, message: Any, kind: str) -> None:
    """Raise :class:`Reject` unless ``message`` is a valid body for endpoint ``kind``."""
    if not isinstance(message, dict):
        raise Reject(-201, "message")
    text, attachment = message.get("text"), message.get("attachment")
    if text is None and attachment is None:
        raise Reject(-201, "message")
    if text is not None:
        validate_text(text)
    if attachment is not None:
        _validate_attachment(state, oa, attachment, kind)


def _validate_attachment(state: SimState, oa: OA, attachment: Any, kind: str) -> None:
    if not isinstance(attachment, dict) or not isinstance(attachment.get("payload"), dict):
        raise Reject(-201, "attachment")
    payload = attachment["payload"]
    if attachment.get("type") == "file":
        if kind != "cs":
            raise Reject(-233)
        _check_upload(state, oa, payload.get("token"), "file", "token")
        return
    if attachment.get("type") != "template":
        raise Reject(-201, "attachment")
    template_type = payload.get("template_type")
    if not isinstance(template_type, str) or not _template_allowed(kind, template_type):
        raise Reject(-233)
    elements = payload.get("elements")
    if not isinstance(elements, list) or not elements:
        raise Reject(-201, "elements")
    if template_type == "media":
        _validate_media(state, oa, elements)
    elif template_type in ("request_user_info", "list"):
        limit = 1 if template_type == "request_user_info" else MAX_LIST_ITEMS
        if len(elements) > limit or not all(
            isinstance(e, dict) and e.get("title") for e in elements
        ):
            raise Reject(-201, "elements")
    _validate_buttons(payload.get("buttons"))


def _validate_media(state: SimState, oa: OA, elements: list[Any]) -> None:
    if len(elements) != 1 or not isinstance(elements[0], dict):
        raise Reject(-201, "elements")
    element = elements[0]
    media_type = element.get("media_type")
    if media_type not in CS_MEDIA_TYPES:
        raise Reject(-201, "media_type")
    if media_type == "sticker":
        if not element.get("attachment_id"):
            raise Reject(-201, "attachment_id")
        return
    if media_type == "gif" and not (element.get("width") and element.get("height")):
        raise Reject(-201, "width")
    if element.get("attachment_id"):
        _check_upload(state, oa, element["attachment_id"], media_type, "attachment_id")
    elif not element.get("url"):
        raise Reject(-201, "attachment_id")


def _check_upload(state: SimState, oa: OA, ref: Any, kind: str, field: str) -> None:
    if not isinstance(ref, str) or not ref:
        raise Reject(-201, field)
    if not state.strict_attachments:
        return
    upload = state.uploads.get(ref)
    if upload is None or upload.oa_id != oa.oa_id or upload.kind != kind:
        raise Reject(-201, field)
    if state.now_ms() - upload.created_ms > UPLOAD_TTL_S * 1000:
        raise Reject(-100)


def _validate_buttons(buttons: Any) -> None:
    if buttons is None:
        return
    if not isinstance(buttons, list) or len(buttons) > MAX_LIST_ITEMS:
        raise Reject(-201, "buttons")
    for button in buttons:
        if (
            not isinstance(button, dict)
            or not button.get("title")
            or button.get("type") not in BUTTON_TYPES
            or "payload" not in button
        ):
            raise Reject(-201, "buttons")


# ----- handlers --------------------------------------------------------------------------------


def _user_id_of(body: dict[str, Any]) -> str | None:
    recipient = body.get("recipient")
    if isinstance(recipient, dict) and "user_id" in recipient:
        return as_id(recipient["user_id"])
    return as_id(body.get("user_id"))


async def _send(request: web.Request, kind: str) -> web.Response:
    state = state_of(request)
    oa = current_oa(request)
    body = await read_json(request)
    if body is None:
        return fail(request, -201, field="body")
    try:
        if kind == "promotion" and state.is_night():
            raise Reject(-234)
        user_id = _user_id_of(body)
        if user_id is None:
            raise Reject(-201, "user_id")
        user = state.get_user(oa.oa_id, user_id)
        if user is None:
            raise Reject(-213)
        if not state.within_window(user):
            raise Reject(-230)
        validate_message(state, oa, body.get("message"), kind)
    except Reject as exc:
        return reject(request, exc)
    msg = state.record_message(oa.oa_id, user_id, request.path, body)
    _maybe_echo(request, msg)
    data: dict[str, Any] = {
        "message_id": msg.message_id,
        "user_id": user_id,
        "sent_time": str(msg.time_ms),
    }
    if state.legacy_quota:
        data["quota"] = {"quota_type": "reply", "remain": "8", "total": "8"}
    return ok(request, data)


async def send_cs(request: web.Request) -> web.Response:
    return await _send(request, "cs")


async def send_transaction(request: web.Request) -> web.Response:
    return await _send(request, "transaction")


async def send_promotion(request: web.Request) -> web.Response:
    return await _send(request, "promotion")


async def send_template(request: web.Request) -> web.Response:
    """ZBS template message by UID (§4.3)."""
    state = state_of(request)
    oa = current_oa(request)
    body = await read_json(request)
    if body is None:
        return fail(request, -201, field="body")
    user_id = _user_id_of(body)
    if user_id is None:
        return fail(request, -201, field="user_id")
    if state.get_user(oa.oa_id, user_id) is None:
        return fail(request, -213)
    template_id = as_id(body.get("template_id"))
    if template_id is None:
        return fail(request, -201, field="template_id")
    if template_id in state.uid_disabled_templates:
        return fail(request, -249)
    if not isinstance(body.get("template_data", {}), dict):
        return fail(request, -201, field="template_data")
    msg = state.record_message(oa.oa_id, user_id, request.path, body)
    return ok(
        request, {"message_id": msg.message_id, "user_id": user_id, "sent_time": str(msg.time_ms)}
    )


async def send_v2(request: web.Request) -> web.Response:
    """``/v2.0/oa/message``: broadcast, anonymous and reaction bodies; normal sends → -240."""
    state = state_of(request)
    oa = current_oa(request)
    body = await read_json(request)
    recipient = body.get("recipient") if body else None
    if body is None or not isinstance(recipient, dict):
        return fail(request, -201, field="recipient")
    try:
        if "target" in recipient:
            return _broadcast(request, state, oa, body, recipient)
        if "anonymous_id" in recipient or "conversation_id" in recipient:
            if not (
                as_id(recipient.get("anonymous_id")) and as_id(recipient.get("conversation_id"))
            ):
                raise Reject(-201, "recipient")
            validate_message(state, oa, body.get("message"), "cs")
            msg = state.record_message(oa.oa_id, str(recipient["anonymous_id"]), request.path, body)
            return ok(request, {"message_id": msg.message_id})
        if isinstance(body.get("sender_action"), dict):
            return _reaction(request, state, oa, body, recipient)
    except Reject as exc:
        return reject(request, exc)
    return fail(request, -240)


def _broadcast(
    request: web.Request, state: SimState, oa: OA, body: dict[str, Any], recipient: dict[str, Any]
) -> web.Response:
    if state.broadcast_night_refused and state.is_night():
        raise Reject(-234)
    target = recipient["target"]
    if not isinstance(target, dict):
        raise Reject(-201, "target")
    message = body.get("message")
    attachment = message.get("attachment") if isinstance(message, dict) else None
    if not isinstance(attachment, dict) or attachment.get("type") != "template":
        raise Reject(-233)
    payload = attachment.get("payload")
    if not isinstance(payload, dict) or payload.get("template_type") != "media":
        raise Reject(-233)
    elements = payload.get("elements")
    if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_BROADCAST_ARTICLES:
        raise Reject(-201, "elements")
    ready = {a.article_id for a in state.articles.values() if a.oa_id == oa.oa_id and a.ready}
    article_ids = []
    for element in elements:
        if not isinstance(element, dict) or element.get("media_type") != "article":
            raise Reject(-201, "media_type")
        article_id = as_id(element.get("attachment_id"))
        if article_id not in ready:
            raise Reject(-201, "attachment_id")
        article_ids.append(article_id)
    now = state.now_ms()
    deliver_at = state.broadcast_delivery_ms(now)
    followers = [u.user_id for u in state.users.get(oa.oa_id, {}).values() if u.follower]
    reached = [u for u in followers if state.broadcast_room(oa.oa_id, u, deliver_at)]
    if followers and not reached:
        raise Reject(-211)
    # Broadcasts are kept apart from per-user sends (state.broadcasts, not state.messages).
    broadcast = Broadcast(
        oa.oa_id,
        ids.message_id(),
        target,
        article_ids,
        body,
        now,
        deliver_at,
        reached,
        [u for u in followers if u not in reached],
    )
    state.broadcasts.append(broadcast)
    return ok(request, {"message_id": broadcast.message_id})


def _reaction(
    request: web.Request, state: SimState, oa: OA, body: dict[str, Any], recipient: dict[str, Any]
) -> web.Response:
    action = body["sender_action"]
    user_id = as_id(recipient.get("user_id"))
    if user_id is None or state.get_user(oa.oa_id, user_id) is None:
        raise Reject(-213 if user_id else -201, None if user_id else "user_id")
    if not action.get("react_icon") or not as_id(action.get("react_message_id")):
        raise Reject(-201, "sender_action")
    msg = state.record_message(oa.oa_id, user_id, request.path, body)
    return ok(request, {"message_id": msg.message_id, "user_id": user_id})


# ----- echoes (§3.4, §11.6) --------------------------------------------------------------------


def echo_event_name(message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The ``oa_send_*`` event (and builder fields) echoing an accepted v3 send."""
    attachment = message.get("attachment") or {}
    fields: dict[str, Any] = {}
    if message.get("text") is not None:
        fields["text"] = message["text"]
    if not attachment:
        return "oa_send_text", fields
    payload = attachment.get("payload") or {}
    if attachment.get("type") == "file":
        return "oa_send_file", fields
    template_type = payload.get("template_type")
    if template_type == "media":
        element = (payload.get("elements") or [{}])[0]
        media_type = element.get("media_type", "image")
        name = f"oa_send_{media_type}"
        if name in OA_ECHO_EVENTS and element.get("url"):
            fields["url"] = element["url"]
        return (name if name in OA_ECHO_EVENTS else "oa_send_template"), fields
    name = "oa_send_list" if template_type == "list" else "oa_send_template"
    fields["payload"] = payload
    return name, fields


def _maybe_echo(request: web.Request, msg: SentMessage) -> None:
    state = state_of(request)
    emitter = request.app.get(EMITTER)
    if not state.emit_echoes or emitter is None:
        return
    name, fields = echo_event_name(msg.body.get("message") or {})
    event = emitter.build(msg.oa_id, msg.user_id, name, msg_id=msg.message_id, **fields)
    emitter.spawn(emitter.emit(msg.oa_id, event))
