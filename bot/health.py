"""Each commune's health for the province operator (issue 14, docs/console-health.md), in one
place for ``bot tenants health`` and the console's "Tình trạng" page — and the OA token's state,
which the "Kết nối Zalo" page says the same way (``token_state``).

A commune's row: OA declared and connected, the token's state, the last webhook event received,
the last notice sent, tickets overdue now (``feedback.service.overdue_clause``, as the
dashboard's figures count them), villages without an active propagandist. Every problem is a
``Problem``: a key, how bad (``CRITICAL``: residents get no answer or notice from the OA;
``WARNING``: something is not done or not heard), and what it means and what to do, in the
current language. Rows are sorted worst first.

Counted in SQL in a bounded number of statements whatever the number of communes: the communes
with their token, last webhook (a correlated read of one row from the end of the
``(commune_id, channel, id)`` index) and last notice; overdue tickets grouped by commune; the
villages with a flag for an active propagandist. The token's "refresh failing" is known only to
the process that refreshes (``TokenManager.states``): the console passes it, the CLI cannot —
there, as everywhere, a token past its expiry that nobody renewed is ``expired``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channels.zalo import oauth
from bot.feedback.service import overdue_clause
from bot.i18n import N_, _
from bot.store.models import Commune, InboundEvent, Notice, Staff, Ticket, Village, ZaloToken
from bot.timeutil import as_utc, to_vn

#: an OA that has had no event from Zalo for this long may have lost its webhook address
#: (a commune's followers write every day; a quiet week is worth a look)
WEBHOOK_QUIET = timedelta(days=7)
#: no notice sent for this long: the commune is not publishing through the bot
NOTICE_QUIET = timedelta(days=30)
#: village names listed in a problem's words (the count says the rest)
NAMED_VILLAGES = 5

CRITICAL, WARNING = 2, 1

#: the token's states, as the "Kết nối Zalo" page and this page name them
STATES = {
    "no_oa": N_("Chưa khai báo OA"),
    "not_connected": N_("Chưa kết nối"),
    "connected": N_("Đã kết nối"),
    "failing": N_("Đang gặp lỗi gia hạn"),
    "expired": N_("Quyền gửi tin đã hết hạn"),
    "reconsent": N_("Cần kết nối lại"),
}
#: how bad each token state is for the commune's residents
TOKEN_SEVERITY = {
    "no_oa": CRITICAL,
    "not_connected": CRITICAL,
    "reconsent": CRITICAL,
    "expired": CRITICAL,
    "failing": WARNING,
    "connected": 0,
}


def vn_date(value: datetime | None, with_time: bool = True) -> str:
    """dd/mm/yyyy (and HH:MM), Vietnamese time; '' for nothing."""
    if value is None:
        return ""
    return to_vn(value).strftime("%d/%m/%Y %H:%M" if with_time else "%d/%m/%Y")


def token_state(
    oa_id: str,
    token: Any,
    said: str,
    expires: str,
    now: datetime | None = None,
) -> tuple[str, str]:
    """The OA token's state (``channels.zalo.oauth.token_state``, the one rule; a key of
    ``STATES``) and what it means with what to do (current language). ``token``: the
    ``zalo_tokens`` row or None; ``said``: ``TokenManager.states()`` for the OA ('' when not
    known here); ``expires``: its expiry as shown; ``now``: when given, a token past its
    expiry that is not being renewed is ``expired``."""
    state = oauth.token_state(oa_id, token, said, now)
    if state == "no_oa":
        return state, _(
            "Cấu hình của xã chưa có OA Zalo. Vui lòng nhờ quản trị viên cấp tỉnh khai báo OA "
            "(mã OA, ứng dụng, khóa bí mật) rồi quay lại trang này."
        )
    if state == "not_connected":
        return state, _(
            "Trợ lý chưa được phép gửi tin thay OA của xã. Bấm “Kết nối Zalo”, đăng nhập bằng "
            "tài khoản quản trị OA và bấm “Cho phép”."
        )
    if state == "reconsent":
        if "permission_revoked" in (token.broken_reason or ""):
            return state, _(
                "OA của xã đã gỡ quyền của trợ lý trên Zalo, nên trợ lý không gửi được tin nào. "
                "Mở lại liên kết và đăng nhập bằng tài khoản quản trị OA để cấp lại quyền."
            )
        return state, _(
            "Zalo không còn chấp nhận quyền đã cấp (quyền hết hạn sau 3 tháng không gia hạn, "
            "hoặc đã bị thay đổi), nên trợ lý không gửi được tin nào. Mở lại liên kết và đăng "
            "nhập bằng tài khoản quản trị OA."
        )
    if state == "failing":
        return state, _(
            "Zalo chưa gia hạn được quyền gửi tin; trợ lý đang tự thử lại. Tin nhắn vẫn gửi "
            "được đến {time}. Nếu sau thời điểm đó vẫn thấy dòng này, mở lại liên kết và đăng "
            "nhập bằng tài khoản quản trị OA."
        ).format(time=expires)
    if state == "expired":
        return state, _(
            "Quyền gửi tin đã hết hạn lúc {time} mà chưa được gia hạn, nên trợ lý không gửi "
            "được tin nào. Kiểm tra dịch vụ có đang chạy không (trợ lý tự gia hạn mỗi 10 phút); "
            "nếu có, mở lại liên kết và đăng nhập bằng tài khoản quản trị OA."
        ).format(time=expires)
    return state, _(
        "Trợ lý đang gửi tin thay OA của xã. Quyền gửi tin hiện tại dùng đến {time} và được "
        "tự động gia hạn trước khi hết; anh/chị không cần làm gì."
    ).format(time=expires)


@dataclass(frozen=True)
class Problem:
    key: str  # token state (not connected, …), no_webhook, quiet_webhook, no_notice, …
    severity: int  # CRITICAL | WARNING
    text: str  # what it means and what to do (current language)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "severity": "critical" if self.severity == CRITICAL else "warning",
            "text": self.text,
        }


@dataclass
class Health:
    """One commune's row."""

    code: str
    name: str
    province_code: str | None
    oa_id: str
    connected: bool  # an OA declared and a token stored for it
    token: str  # a key of STATES
    token_text: str
    expires_at: datetime | None
    last_webhook: datetime | None
    last_notice: datetime | None
    overdue: int
    villages: int
    uncovered: list[str] = field(default_factory=list)  # villages without a propagandist
    problems: list[Problem] = field(default_factory=list)

    @property
    def token_name(self) -> str:
        return _(STATES[self.token])

    @property
    def worst(self) -> int:
        return max((p.severity for p in self.problems), default=0)

    @property
    def covered(self) -> int:
        return self.villages - len(self.uncovered)

    def sort_key(self) -> tuple[Any, ...]:
        """Worst first: the worst problem, then how many, overdue tickets, uncovered villages."""
        return (
            -self.worst,
            -len(self.problems),
            -self.overdue,
            -len(self.uncovered),
            self.name,
            self.code,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "province_code": self.province_code,
            "oa_id": self.oa_id or None,
            "oa_connected": self.connected,
            "token_state": self.token,
            "token_expires_at": vn_date(self.expires_at) or None,
            "last_webhook_at": vn_date(self.last_webhook) or None,
            "last_notice_at": vn_date(self.last_notice) or None,
            "overdue_tickets": self.overdue,
            "villages": self.villages,
            "villages_without_propagandist": self.uncovered,
            "problems": [p.to_json() for p in self.problems],
        }


def _problems(row: Health, now: datetime) -> list[Problem]:
    """The row's problems, each said with what to do (current language)."""
    out: list[Problem] = []
    if row.token != "connected":
        out.append(Problem(row.token, TOKEN_SEVERITY[row.token], row.token_text))
    if row.oa_id:
        if row.last_webhook is None:
            out.append(
                Problem(
                    "no_webhook",
                    WARNING,
                    _(
                        "Chưa nhận được tin nào từ Zalo cho OA này. Kiểm tra trong trang quản lý "
                        "ứng dụng Zalo rằng địa chỉ nhận sự kiện (webhook) là địa chỉ của trợ "
                        "lý và các sự kiện tin nhắn đã được bật, rồi nhắn thử một tin cho OA."
                    ),
                )
            )
        elif now - as_utc(row.last_webhook) > WEBHOOK_QUIET:
            out.append(
                Problem(
                    "quiet_webhook",
                    WARNING,
                    _(
                        "Không nhận được tin nào từ Zalo từ {time} (hơn {days} ngày). Nhắn thử "
                        "một tin cho OA; nếu trợ lý không trả lời, kiểm tra địa chỉ nhận sự "
                        "kiện (webhook) trong trang quản lý ứng dụng Zalo."
                    ).format(time=vn_date(row.last_webhook), days=WEBHOOK_QUIET.days),
                )
            )
    if row.last_notice is None:
        out.append(
            Problem(
                "no_notice",
                WARNING,
                _(
                    "Xã chưa gửi thông báo nào qua trợ lý. Soạn thông báo trong mục “Thông báo” "
                    "để người dân nhận tin thiết yếu trên Zalo."
                ),
            )
        )
    elif now - as_utc(row.last_notice) > NOTICE_QUIET:
        out.append(
            Problem(
                "quiet_notices",
                WARNING,
                _(
                    "Xã không gửi thông báo nào từ {time} (hơn {days} ngày). Nhắc xã đăng các tin "
                    "thiết yếu (lịch tiêm, cắt điện, thời tiết…) qua mục “Thông báo”."
                ).format(time=vn_date(row.last_notice, with_time=False), days=NOTICE_QUIET.days),
            )
        )
    if row.overdue:
        out.append(
            Problem(
                "overdue_tickets",
                CRITICAL,
                _(
                    "{n} phản ánh của người dân đã quá hạn trả lời. Nhắc lãnh đạo xã mở “Hộp "
                    "thư”, lọc “Quá hạn” và giao người xử lý ngay."
                ).format(n=row.overdue),
            )
        )
    if row.uncovered:
        named = ", ".join(row.uncovered[:NAMED_VILLAGES])
        more = len(row.uncovered) - NAMED_VILLAGES
        if more > 0:
            named += _(" và {n} thôn khác").format(n=more)
        out.append(
            Problem(
                "villages_without_propagandist",
                WARNING,
                _(
                    "{n}/{total} thôn chưa có tuyên truyền viên đang hoạt động ({names}): tin "
                    "cho các thôn này không được chuyển vào nhóm Zalo của thôn. Thêm tuyên "
                    "truyền viên trong mục “Cán bộ” (kèm Zalo của họ)."
                ).format(n=len(row.uncovered), total=row.villages, names=named),
            )
        )
    return out


def propagandist_villages(commune_ids: Any) -> Any:
    """SQL: the ids of villages with at least one active propagandist (of those communes)."""
    return select(Staff.village_id).where(
        Staff.commune_id.in_(commune_ids),
        Staff.role == "propagandist",
        Staff.active.is_(True),
        Staff.village_id.is_not(None),
    )


async def scope_ids(
    s: AsyncSession, *, province: str | None = None, codes: Sequence[str] | None = None
) -> list[int]:
    """The communes' ids: of a province, or by codes (None: every commune)."""
    query = select(Commune.id)
    if province is not None:
        query = query.where(Commune.province_code == province)
    if codes is not None:
        query = query.where(Commune.code.in_(list(codes)))
    return list((await s.execute(query.order_by(Commune.id))).scalars())


async def health(
    s: AsyncSession,
    commune_ids: Sequence[int],
    now: datetime,
    token_said: dict[str, str] | None = None,
) -> list[Health]:
    """The communes' rows, worst first (call under the reader's language). ``token_said``:
    ``TokenManager.states()`` where this process refreshes tokens (the console)."""
    ids = list(commune_ids)
    if not ids:
        return []
    said = token_said or {}
    last_webhook = (
        select(InboundEvent.received_at)
        .where(InboundEvent.commune_id == Commune.id, InboundEvent.channel == "zalo")
        .order_by(InboundEvent.id.desc())
        .limit(1)
        .correlate(Commune)
        .scalar_subquery()
    )
    last_notice = (
        select(func.max(Notice.sent_at))
        .where(Notice.commune_id == Commune.id)
        .correlate(Commune)
        .scalar_subquery()
    )
    communes = (
        await s.execute(
            select(
                Commune.id,
                Commune.code,
                Commune.name,
                Commune.province_code,
                Commune.oa_id,
                ZaloToken,
                last_webhook,
                last_notice,
            )
            .outerjoin(ZaloToken, ZaloToken.oa_id == Commune.oa_id)
            .where(Commune.id.in_(ids))
        )
    ).all()
    overdue = dict(
        (
            await s.execute(
                select(Ticket.commune_id, func.count())
                .where(Ticket.commune_id.in_(ids), overdue_clause(now))
                .group_by(Ticket.commune_id)
            )
        ).all()
    )
    covered = propagandist_villages(ids)
    villages: dict[int, list[tuple[str, bool]]] = {}
    for commune_id, name, has in (
        await s.execute(
            select(
                Village.commune_id,
                Village.name,
                case((Village.id.in_(covered), True), else_=False),
            )
            .where(Village.commune_id.in_(ids))
            .order_by(Village.commune_id, Village.id)
        )
    ).all():
        villages.setdefault(commune_id, []).append((name, bool(has)))
    rows = []
    for cid, code, name, province, oa_id, token, webhook, notice in communes:
        expires = vn_date(token.expires_at) if token is not None else ""
        state, text = token_state(oa_id or "", token, said.get(oa_id or "", ""), expires, now)
        listed = villages.get(cid, [])
        row = Health(
            code=code,
            name=name,
            province_code=province,
            oa_id=oa_id or "",
            connected=bool(oa_id) and token is not None,
            token=state,
            token_text=text,
            expires_at=token.expires_at if token is not None else None,
            last_webhook=webhook,
            last_notice=notice,
            overdue=int(overdue.get(cid, 0)),
            villages=len(listed),
            uncovered=[v for v, has in listed if not has],
        )
        row.problems = _problems(row, now)
        rows.append(row)
    rows.sort(key=Health.sort_key)
    return rows


__all__ = [
    "CRITICAL",
    "WARNING",
    "Health",
    "Problem",
    "STATES",
    "health",
    "propagandist_villages",
    "scope_ids",
    "token_state",
    "vn_date",
]
