"""The system of record. Every row carries its commune (tenancy everywhere, DESIGN.md §5)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    Unicode,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.store.types import BigId, Json, UTCDateTime
from bot.timeutil import utcnow

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Commune(Base):
    """A commune-level unit (xã / phường / đặc khu) served by the bot."""

    __tablename__ = "communes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(5), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    province_code: Mapped[str | None] = mapped_column(String(2))
    oa_id: Mapped[str | None] = mapped_column(String(32), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Village(Base):
    """A thôn / bản / buôn / ấp / tổ dân phố of a commune."""

    __tablename__ = "villages"
    __table_args__ = (UniqueConstraint("commune_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20), default="thôn")
    search_key: Mapped[str] = mapped_column(String(200))


class Staff(Base):
    """Commune officers, leaders and propagandists (tuyên truyền viên cơ sở)."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("commune_id", "zalo_user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    # officer | leader | propagandist | operator | publisher (a province department's: province
    # notices only, bot.api.auth.PROVINCE_ONLY)
    role: Mapped[str] = mapped_column(String(20))
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id", ondelete="SET NULL"))
    zalo_user_id: Mapped[str | None] = mapped_column(String(32))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    office: Mapped[str | None] = mapped_column(String(32))  # the feedback desk they work at
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: the console's login (lower case, unique across communes: the login page asks no commune)
    login: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: argon2id (argon2-cffi's PasswordHasher), null until set from an invitation or the CLI
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: wrong passwords since the last success or lock-out; locked until then (bot/console/auth.py)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the app-scoped Zalo id of the account they sign in to the console with ("Đăng nhập bằng
    #: Zalo", bot/console/zalo_login.py) — not ``zalo_user_id``, the OA's follower id, which
    #: Zalo gives differently to each OA; unique across communes (the login page asks none)
    zalo_login_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: the linked Zalo account's display name (as Zalo said at link time) and when it was linked:
    #: shown on the profile page so a link someone else made is noticed (a second credential)
    zalo_login_name: Mapped[str | None] = mapped_column(String(200))
    zalo_linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Resident(Base):
    """A person writing to a commune; ``external_id`` is the per-OA Zalo user id (or web session)."""

    __tablename__ = "residents"
    __table_args__ = (UniqueConstraint("commune_id", "channel", "external_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(64))
    user_id_by_app: Mapped[str | None] = mapped_column(String(32), index=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    address: Mapped[dict[str, Any] | None] = mapped_column(Json)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id", ondelete="SET NULL"))
    #: when the bot asked which village they live in (each resident is asked once)
    village_asked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    language: Mapped[str] = mapped_column(String(16), default="vi")
    is_follower: Mapped[bool] = mapped_column(Boolean, default=False)
    followed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    consent_source: Mapped[str | None] = mapped_column(String(40))
    window_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    window_error: Mapped[str | None] = mapped_column(String(200))
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: web chat: a keyed hash of the network address the session last wrote from (never the
    #: address), to cap reports per address; personal data, erased with the resident
    origin_key: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class InboundEvent(Base):
    """Every event a channel delivered, written before it is acknowledged."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("commune_id", "channel", "dedupe_key"),
        Index("ix_inbound_events_status_id", "status", "id"),
        #: the console's "last webhook received" reads one row from its end
        Index("ix_inbound_events_commune_channel_id", "commune_id", "channel", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    event_name: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    external_user_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # received | processing | processed | ignored | failed
    status: Mapped[str] = mapped_column(String(16), default="received")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


class Conversation(Base):
    """Per-resident conversation state (pending choices, misses, hand-off mode)."""

    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), unique=True
    )
    mode: Mapped[str] = mapped_column(String(16), default="bot")  # bot | handoff
    state: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    #: staff wrote to the resident from Zalo's OA Manager (an ``oa_send_*`` echo): the bot does
    #: not answer until then (messages are logged for staff)
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Message(Base):
    """The conversation log: what the resident said and what the bot answered."""

    __tablename__ = "messages"
    __table_args__ = (
        Index("ix_messages_conversation_id_id", "conversation_id", "id"),
        # a commune's messages in a window of days (bot/figures/: the dashboard, the report)
        Index("ix_messages_commune_id_created_at", "commune_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(4))  # in | out
    inbound_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("inbound_events.id", ondelete="SET NULL")
    )
    text: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[dict[str, Any]] | None] = mapped_column(Json)
    intent: Mapped[str | None] = mapped_column(String(64))
    confidence: Mapped[float | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboundMessage(Base):
    """One logical send (a reply, later a notice × recipient) with its idempotency key."""

    __tablename__ = "outbound_messages"
    __table_args__ = (Index("ix_outbound_messages_queue", "status", "priority", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(24))  # text | choices | image | request_user_info
    payload: Mapped[dict[str, Any]] = mapped_column(Json)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # 0 reply < 1 emergency < 2 < 3
    # pending | sending | sent | failed | window_closed | cancelled
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    parts_sent: Mapped[int] = mapped_column(Integer, default=0)
    #: claimed again after a lapsed lease: the last worker may have sent it before dying, so
    #: the channel checks the conversation before sending again (bot/outbound.py)
    resumed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    #: the notice this message carries: its open sends and its cancellation are found by it
    notice_id: Mapped[int | None] = mapped_column(
        ForeignKey("notices.id", ondelete="SET NULL"), index=True
    )
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    provider_message_ids: Mapped[list[str] | None] = mapped_column(Json)
    error_code: Mapped[str | None] = mapped_column(String(16))
    error_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ProviderMessage(Base):
    """Zalo message id → our outbound row, for delivery/seen events."""

    __tablename__ = "provider_messages"
    __table_args__ = (UniqueConstraint("channel", "provider_message_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(16))
    provider_message_id: Mapped[str] = mapped_column(String(64))
    outbound_id: Mapped[int] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="CASCADE"), index=True
    )


class ZaloToken(Base):
    """An OA's OAuth pair, encrypted at rest; ``version`` increments on every rotation."""

    __tablename__ = "zalo_tokens"
    oa_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    app_id: Mapped[str] = mapped_column(String(32))
    access_token_enc: Mapped[str] = mapped_column(Text)
    refresh_token_enc: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(Integer, default=1)
    broken_reason: Mapped[str | None] = mapped_column(Text)  # set when the admin must re-consent


class OAuthState(Base):
    """PKCE verifier kept between ``bot zalo connect`` and the OAuth callback."""

    __tablename__ = "oauth_states"
    state: Mapped[str] = mapped_column(String(64), primary_key=True)
    oa_id: Mapped[str | None] = mapped_column(String(32))
    app_id: Mapped[str] = mapped_column(String(32))
    code_verifier_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the console page the admin started from (``/console/zalo/<code>``): the callback sends
    #: them back there with the outcome; null for ``bot zalo connect`` (a plain-text answer)
    return_to: Mapped[str | None] = mapped_column(String(200))


class ZaloLoginState(Base):
    """One "Đăng nhập bằng Zalo" / "Liên kết Zalo" round trip: the PKCE verifier kept between
    the start and Zalo's callback, bound to the browser that started it (the SHA-256 of a
    random cookie), usable once within ``bot.console.zalo_login.STATE_TTL``. Only the state's
    SHA-256 is kept. ``staff_id`` is set for a link (the signed-in staff member)."""

    __tablename__ = "zalo_login_states"
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    browser_hash: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(8))  # login | link
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    code_verifier_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StaffKey(Base):
    """An API key of a staff member (only its SHA-256 is kept; shown once when issued)."""

    __tablename__ = "staff_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the key's first characters (bot.staff.KEY_PREFIX), to tell keys apart; null for keys
    #: issued before it was kept
    prefix: Mapped[str | None] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: when it last authenticated an API call (bot.staff.KeyUses: every few minutes at most)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConsoleSession(Base):
    """A staff member logged in to the console: only the cookie's SHA-256 is kept. Ends at
    logout, after ``bot.console.auth.IDLE`` without a request or ``ABSOLUTE`` after login,
    and all at once when the staff member is deactivated or sets a new password."""

    __tablename__ = "console_sessions"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: the session's CSRF token, echoed by every form of the signed-in console
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffInvitation(Base):
    """A one-time link to set a console password (only the token's SHA-256 is kept)."""

    __tablename__ = "staff_invitations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Notice(Base):
    """An essential-information notice, modelled on CAP 1.2: category (Nghị định 49/2024
    Điều 6), priority (Thông tư 39/2020: normal / priority / emergency → CAP urgency, severity,
    certainty), area as villages, effective/expires, and a reference to the notice an update or
    cancellation replaces. ``status`` follows the workflow in ``bot/notices/workflow.py``."""

    __tablename__ = "notices"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    msg_type: Mapped[str] = mapped_column(String(8), default="alert")  # alert | update | cancel
    references_id: Mapped[int | None] = mapped_column(ForeignKey("notices.id", ondelete="SET NULL"))
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(12))  # normal | priority | emergency
    headline: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    translations: Mapped[dict[str, Any]] = mapped_column(
        Json, default=dict
    )  # lang → {headline, body}
    village_ids: Mapped[list[int]] = mapped_column(Json, default=list)  # [] = the whole commune
    languages: Mapped[list[str]] = mapped_column(Json, default=list)  # [] = every language
    #: only residents who asked for this category in the chat ("đăng ký nhận tin cắt điện")
    subscribers_only: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: on approval
    #: crontab in Vietnamese time ("0 8 25 * *": 08:00 on the 25th of every month); approved,
    #: the notice is ``recurring`` and each firing sends a copy (bot/notices/schedule.py)
    recurrence: Mapped[str | None] = mapped_column(String(64))
    image_url: Mapped[str | None] = mapped_column(String(500))  # sent after the text
    status: Mapped[str] = mapped_column(String(12), default="draft", index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the province's notice this one is the commune's copy of (bot/notices/province.py)
    province_notice_id: Mapped[int | None] = mapped_column(
        ForeignKey("province_notices.id", ondelete="SET NULL"), index=True
    )


class ProvinceNotice(Base):
    """One notice a province operator sent to many communes at once (bot/notices/province.py):
    each commune gets its own ``notices`` row (``province_notice_id``) in its own workflow.
    ``commune_id`` is the publisher's own commune (every row carries one); the province is
    ``province_code``. ``idempotency_key`` (the request's ``Idempotency-Key``) is unique per
    publisher, with the SHA-256 of the request it came with: the same key again answers this
    row, the same key with another request is refused."""

    __tablename__ = "province_notices"
    __table_args__ = (UniqueConstraint("created_by", "idempotency_key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    province_code: Mapped[str] = mapped_column(String(2), index=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    category: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(12))
    headline: Mapped[str] = mapped_column(String(200))
    #: the communes' approval was skipped (an emergency, ``provinces.<code>.emergency_direct``)
    direct: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NoticeAudit(Base):
    """Every workflow transition: who, when, from what to what."""

    __tablename__ = "notice_audit"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"), index=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(16))
    from_status: Mapped[str | None] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    note: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Who did what in the console, the staff API or the CLI — everything that is neither a
    notice's transition (``notice_audit``) nor a ticket's (``ticket_events``): signing in and
    out, lock-outs, staff accounts, invitations, keys, knowledge entries. Written only by
    ``bot.audit.action``; ``summary`` names the object (a staff name, a question), never a
    resident's data; ``search_key`` is ``summary`` accent-folded, so "nguyen" finds "Nguyễn"
    with a plain LIKE on SQLite and PostgreSQL alike."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_commune_id_at", "commune_id", "at"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    #: who acted (the account concerned for a failed sign-in); null for the CLI or the system
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL"), index=True
    )
    actor: Mapped[str] = mapped_column(String(16))  # staff | cli | system
    action: Mapped[str] = mapped_column(String(32))
    object_kind: Mapped[str] = mapped_column(String(24))
    object_id: Mapped[str | None] = mapped_column(String(64))
    summary: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any] | None] = mapped_column(Json)
    search_key: Mapped[str] = mapped_column(String(400))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NoticeDelivery(Base):
    """The delivery ledger: one row per notice × resident, with the route Zalo allows and why.
    A consultation-route row points at its outbound message (whose status is the send's
    outcome); other routes wait for the broadcast and the propagandist relay."""

    __tablename__ = "notice_deliveries"
    __table_args__ = (UniqueConstraint("notice_id", "resident_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    resident_id: Mapped[int] = mapped_column(
        ForeignKey("residents.id", ondelete="CASCADE"), index=True
    )
    route: Mapped[str] = mapped_column(String(16))  # consultation | broadcast | skipped
    reason: Mapped[str] = mapped_column(String(200))
    outbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TopicPreference(Base):
    """A resident's choice about a notice category ("không nhận tin cắt điện nữa"); ``topic``
    ``*`` covers every category. Emergencies reach everyone regardless."""

    __tablename__ = "topic_preferences"
    __table_args__ = (UniqueConstraint("resident_id", "topic"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(32))
    subscribed: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class NoticeRelay(Base):
    """A notice handed to a village's propagandist to forward into the village's Zalo group,
    and their confirmation ("đã chuyển vào nhóm thôn")."""

    __tablename__ = "notice_relays"
    __table_args__ = (UniqueConstraint("notice_id", "staff_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    notice_id: Mapped[int] = mapped_column(ForeignKey("notices.id", ondelete="CASCADE"))
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id", ondelete="CASCADE"))
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    outbound_id: Mapped[int | None] = mapped_column(
        ForeignKey("outbound_messages.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: why the package could not go: window_closed (no message from them in 7 days) | failed;
    #: staff are told (bot/broadcasts/relay.py)
    problem: Mapped[str | None] = mapped_column(String(40))


class NoticeBroadcast(Base):
    """A notice as the commune's article broadcast, for followers the consultation route cannot
    reach: article create → verify → broadcast, once per notice, each step's result kept so a
    restart resumes at the step it reached."""

    __tablename__ = "notice_broadcasts"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), unique=True
    )
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    article_token: Mapped[str | None] = mapped_column(String(64))
    article_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    error_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


#: APScheduler 3's job store (its own schema, created here so migrations own every table)
apscheduler_jobs = Table(
    "apscheduler_jobs",
    Base.metadata,
    Column("id", Unicode(191), primary_key=True),
    Column("next_run_time", Float(25), index=True),
    Column("job_state", LargeBinary, nullable=False),
)


class NoticeFile(Base):
    """A PDF attached to a notice, kept here and uploaded to Zalo once per OA (the upload
    token per OA in ``zalo_tokens``); residents receive it as a file message after the text."""

    __tablename__ = "notice_files"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), unique=True
    )
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    #: oa_id → {"token", "at"}: the upload's token and when it was made (Zalo forgets uploads
    #: after ~7 days, so an old one is uploaded again)
    zalo_tokens: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class NoticeImage(Base):
    """An image uploaded for a notice (JPEG or PNG, checked by its content, ≤ 1 MB: Zalo's
    image limit), kept here and uploaded to Zalo once per OA (the ``attachment_id`` per OA in
    ``zalo_tokens``, as ``{"token", "at"}``); residents receive it as an image message after the
    text. One per notice; it takes the place of ``Notice.image_url`` (migration 0026)."""

    __tablename__ = "notice_images"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    notice_id: Mapped[int] = mapped_column(
        ForeignKey("notices.id", ondelete="CASCADE"), unique=True
    )
    content_type: Mapped[str] = mapped_column(String(20))  # image/jpeg | image/png
    content: Mapped[bytes] = mapped_column(LargeBinary)
    size: Mapped[int] = mapped_column(Integer)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    zalo_tokens: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TicketCounter(Base):
    """The last ticket number of a commune in a year: PA-2026-000123 is the 123rd of 2026."""

    __tablename__ = "ticket_counters"
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), primary_key=True
    )
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    """A resident's report (phản ánh, kiến nghị) and what the commune does with it.

    status: received → assigned → in_progress → answered → closed; or returned / transferred /
    rejected / duplicate. The reporter's name and phone are kept only with consent
    (``consent_at``); ``resident_id`` is how the chat reaches them either way and is never shown
    outside the roles that need it (bot/feedback/api.py ``ticket_json``)."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("commune_id", "code"),
        Index("ix_tickets_commune_status", "commune_id", "status"),
        Index("ix_tickets_origin_received", "origin_key", "received_at"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(20))
    token: Mapped[str] = mapped_column(String(40), unique=True)  # Open311 tokens/{token}
    source: Mapped[str] = mapped_column(String(16))  # zalo | web | open311 | staff
    resident_id: Mapped[int | None] = mapped_column(
        ForeignKey("residents.id", ondelete="SET NULL"), index=True
    )
    category: Mapped[str] = mapped_column(String(32))
    emergency: Mapped[bool] = mapped_column(Boolean, default=False)
    village_id: Mapped[int | None] = mapped_column(ForeignKey("villages.id", ondelete="SET NULL"))
    description: Mapped[str] = mapped_column(Text)
    media: Mapped[list[dict[str, Any]]] = mapped_column(Json, default=list)  # photos: {url}
    lat: Mapped[float | None] = mapped_column(Float)
    long: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str | None] = mapped_column(String(300))
    reporter_name: Mapped[str | None] = mapped_column(String(200))
    reporter_phone: Mapped[str | None] = mapped_column(String(20))
    reporter_email: Mapped[str | None] = mapped_column(String(200))
    consent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # identity kept: agreed
    status: Mapped[str] = mapped_column(String(16), default="received")
    office: Mapped[str] = mapped_column(String(32))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    transferred_to: Mapped[str | None] = mapped_column(String(200))  # an outside body
    duplicate_of: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    answer: Mapped[str | None] = mapped_column(Text)
    public_answer: Mapped[str | None] = mapped_column(Text)  # published, anonymised
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating: Mapped[int | None] = mapped_column(Integer)
    reopened: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ack_due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the SLA clock's next look at this ticket (progress message, warning, overdue)
    next_progress_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    progress_sent: Mapped[int] = mapped_column(Integer, default=0)
    warn_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    overdue_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # when escalated
    #: when the leader heard that nobody took the ticket up by ``ack_due_at``
    ack_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: web chat: the reporter's origin key (see ``Resident.origin_key``), to cap new reports
    #: per address and hour
    origin_key: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TicketEvent(Base):
    """Every change of a ticket, who made it, and the message it sent (``outbound_key``: the
    idempotency key of the notification, whose status tells staff if it reached the
    resident)."""

    __tablename__ = "ticket_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    actor: Mapped[str] = mapped_column(String(16))  # resident | staff | system | open311
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    outbound_key: Mapped[str | None] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Handoff(Base):
    """A conversation handed to commune staff: the bot answers only what it is sure of until a
    staff member closes it — or until ``expires_at`` passes with nobody having taken it, when
    the bot takes the conversation back (``expired_at``)."""

    __tablename__ = "handoffs"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(24))  # asked | misunderstood
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    taken_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    replies: Mapped[int] = mapped_column(Integer, default=0)
    #: handed back to the bot if nobody has taken it by then (office time; None: never)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    expired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Upload(Base):
    """A photo a web chat resident sent (JPEG or PNG, checked by its bytes), kept for the
    commune's staff; a report's ``media`` names it by ``token``. ``session`` is the web chat
    session that sent it: only that session may attach it to a message."""

    __tablename__ = "uploads"
    __table_args__ = (Index("ix_uploads_commune_session", "commune_id", "session"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    token: Mapped[str] = mapped_column(String(32), unique=True)
    session: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Erasure(Base):
    """The record that a resident's personal data was erased (bot/privacy.py): when, how far,
    on whose request — never what was erased. Kept so the commune can show it answered the
    request, and in time (docs/privacy.md)."""

    __tablename__ = "erasures"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id", ondelete="SET NULL"))
    scope: Mapped[str] = mapped_column(String(16))  # identity | all
    source: Mapped[str] = mapped_column(String(16))  # chat | withdraw | cli | api
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    tickets: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class KnowledgeEntry(Base):
    """A question the commune answers in its own words (bot/knowledge/, docs/knowledge.md):
    ``commune_id`` set — the commune's own; null — the province's (``province_code``), inherited
    by every commune of the province, which overrides it with an entry of the same ``key``
    (``bot.text.search_key`` of the question)."""

    __tablename__ = "knowledge_entries"
    __table_args__ = (
        Index("ix_knowledge_entries_commune_key", "commune_id", "key"),
        Index("ix_knowledge_entries_province_key", "province_code", "key"),
        # one entry per question and owner (migration 0016): a commune's, a province's
        Index(
            "uq_knowledge_entries_commune_key",
            "commune_id",
            "key",
            unique=True,
            sqlite_where=text("commune_id IS NOT NULL"),
            postgresql_where=text("commune_id IS NOT NULL"),
        ),
        Index(
            "uq_knowledge_entries_province_key",
            "province_code",
            "key",
            unique=True,
            sqlite_where=text("commune_id IS NULL"),
            postgresql_where=text("commune_id IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    province_code: Mapped[str | None] = mapped_column(String(2))
    key: Mapped[str] = mapped_column(Unicode(500))
    question: Mapped[str] = mapped_column(Text)
    answer: Mapped[str] = mapped_column(Text)
    variants: Mapped[list[str]] = mapped_column(Json, default=list)
    topic: Mapped[str | None] = mapped_column(Unicode(100))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_until: Mapped[date | None] = mapped_column(Date)
    source: Mapped[str | None] = mapped_column(Text)
    #: the staff's own columns, [[name, value], …] in their file's order (exported back)
    extra: Mapped[list[list[str]] | None] = mapped_column(Json)
    #: a commune's entry that hides its province's entry with the same key (no answer)
    hidden: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class TrainingExample(Base):
    """A resident's wording staff taught the intents (``bot knowledge promote --intent``,
    bot/knowledge/misses.py): merged into the embedded engine's training at start-up and by
    `bot nlu train` (bot/nlu/embedded.py: ``with_staff_examples``). The intents are one model
    for every commune; ``commune_id`` says whose residents said it and whose staff added it."""

    __tablename__ = "training_examples"
    __table_args__ = (UniqueConstraint("commune_id", "key"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("communes.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(Unicode(500))  # bot.text.search_key of the text
    text: Mapped[str] = mapped_column(Text)
    intent: Mapped[str] = mapped_column(String(64))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommuneFacts(Base):
    """What staff changed of a commune's facts in the console (bot/facts_store.py): one row per
    commune, ``data`` keyed by the fact ("commune.phone", "office.<code>.hours",
    "village.<name>.head" …) — a key present wins over config.yml, a key absent is config's.
    ``version`` moves with every save (other processes' caches compare it)."""

    __tablename__ = "commune_facts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), unique=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommuneFactChange(Base):
    """One fact changed in the console: who, when, before and after (``None``: config's value,
    i.e. not edited). The staff member's name is copied so the history outlives the account."""

    __tablename__ = "commune_fact_changes"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    commune_id: Mapped[int] = mapped_column(
        ForeignKey("communes.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(Unicode(300))
    before: Mapped[Any] = mapped_column(Json, nullable=True)
    after: Mapped[Any] = mapped_column(Json, nullable=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id", ondelete="SET NULL"))
    staff_name: Mapped[str] = mapped_column(Unicode(200))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
