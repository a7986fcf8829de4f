"""A notice to many communes at once, from the province (issue 14).

A province operator (or a province department's publisher) names the communes (codes, or every
commune of the province); in ONE transaction the parent row (``province_notices``) and, per
commune, the commune's own notice are written — each drafted through
``bot.notices.service.draft`` like any notice, then entered into the commune's workflow by
``bot.notices.workflow.from_province``: ``submitted``, waiting for that commune's leader,
or — an emergency where the province's configuration says so (``provinces.<code>.
emergency_direct``, bot/config.py) — ``scheduled`` at once. From there each
copy is an ordinary notice of its commune: its leader approves, returns or cancels it through
the commune's API or console, and the dispatcher sends it to that commune's residents only.

All or nothing: a code that is not a commune of the province refuses the whole request before
anything is written. The HTTP side (tenancy, roles, the body, ``Idempotency-Key``) is
bot/api/provinces.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.notices import service, workflow
from bot.store.models import (
    Commune,
    Notice,
    NoticeAudit,
    NoticeBroadcast,
    NoticeDelivery,
    OutboundMessage,
    ProvinceNotice,
    Staff,
)

ALL = "all"


@dataclass(frozen=True)
class Resolved:
    communes: list[Commune]
    #: codes given that are not served communes of the province (unknown, another province's,
    #: inactive: one answer for all, so the API does not say what other provinces have)
    unknown: list[str]


async def resolve(s: AsyncSession, province_code: str, codes: Sequence[str] | str) -> Resolved:
    """The communes named: ``"all"`` — every active commune of the province, in code order."""
    query = select(Commune).where(Commune.province_code == province_code, Commune.active.is_(True))
    if codes == ALL:
        return Resolved(list((await s.execute(query.order_by(Commune.code))).scalars()), [])
    wanted = list(dict.fromkeys(codes))  # once each, in the order given
    found = {c.code: c for c in (await s.execute(query.where(Commune.code.in_(wanted)))).scalars()}
    return Resolved([found[c] for c in wanted if c in found], [c for c in wanted if c not in found])


def skips_approval(priority: str, emergency_direct: bool) -> bool:
    """Whether the communes' copies go out without their leaders' approval."""
    return emergency_direct and priority == "emergency"


async def send(
    s: AsyncSession,
    *,
    province_code: str,
    publisher_id: int,
    publisher_commune_id: int,
    communes: Sequence[Commune],
    direct: bool,
    idempotency_key: str | None = None,
    request_hash: str | None = None,
    **fields: Any,
) -> tuple[ProvinceNotice, list[Notice]]:
    """The parent and one notice per commune, in the caller's transaction; ``fields`` are the
    ``Notice`` columns the caller checked (never ``village_ids``: a province's notice reaches
    the whole of each commune)."""
    parent = ProvinceNotice(
        commune_id=publisher_commune_id,
        province_code=province_code,
        created_by=publisher_id,
        category=fields["category"],
        priority=fields["priority"],
        headline=fields["headline"],
        direct=direct,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
    )
    s.add(parent)
    await s.flush()
    note = f"tỉnh {province_code}, thông báo #{parent.id} / province notice #{parent.id}"
    children = []
    for commune in communes:
        notice = await service.draft(
            s,
            commune_id=commune.id,
            created_by=publisher_id,
            note=note,
            province_notice_id=parent.id,
            **fields,
        )
        workflow.from_province(s, notice, publisher_id, direct=direct, note=note)
        children.append(notice)
    return parent, children


async def replay(s: AsyncSession, publisher_id: int, key: str) -> ProvinceNotice | None:
    """The parent an earlier request with this ``Idempotency-Key`` made, if any."""
    return (
        await s.execute(
            select(ProvinceNotice).where(
                ProvinceNotice.created_by == publisher_id, ProvinceNotice.idempotency_key == key
            )
        )
    ).scalar_one_or_none()


async def children(s: AsyncSession, parent_id: int) -> list[dict[str, Any]]:
    """Each commune's copy: its state and how far it went (figures in a few grouped queries,
    whatever the number of communes): ``planned`` residents, individual ``sends`` by status,
    ``delivered`` (sends sent), the follower ``broadcast``'s state."""
    rows = (
        await s.execute(
            select(Notice, Commune.code, Commune.name)
            .join(Commune, Commune.id == Notice.commune_id)
            .where(Notice.province_notice_id == parent_id)
            .order_by(Commune.code)
        )
    ).all()
    ids = [n.id for n, _, _ in rows]
    planned = dict(
        (
            await s.execute(
                select(NoticeDelivery.notice_id, func.count())
                .where(NoticeDelivery.notice_id.in_(ids))
                .group_by(NoticeDelivery.notice_id)
            )
        ).all()
    )
    sends: dict[int, Counter[str]] = {i: Counter() for i in ids}
    for notice_id, status, n in (
        await s.execute(
            select(NoticeDelivery.notice_id, OutboundMessage.status, func.count())
            .join(OutboundMessage, OutboundMessage.id == NoticeDelivery.outbound_id)
            .where(NoticeDelivery.notice_id.in_(ids))
            .group_by(NoticeDelivery.notice_id, OutboundMessage.status)
        )
    ).all():
        sends[notice_id][status] += n
    broadcasts = dict(
        (
            await s.execute(
                select(NoticeBroadcast.notice_id, NoticeBroadcast.status).where(
                    NoticeBroadcast.notice_id.in_(ids)
                )
            )
        ).all()
    )
    return [
        {
            "commune": code,
            "commune_name": name,
            "notice": n.id,
            "status": n.status,
            "approved_by": n.approved_by,
            "sent_at": n.sent_at,
            "planned": planned.get(n.id, 0),
            "sends": dict(sends[n.id]),
            "delivered": sends[n.id]["sent"],
            "broadcast": broadcasts.get(n.id),
        }
        for n, code, name in rows
    ]


@dataclass(frozen=True)
class Returned:
    """A commune leader's "return" of their commune's copy: why, who, when (notice_audit)."""

    note: str
    by: str
    at: Any


async def returns(s: AsyncSession, notice_ids: Sequence[int]) -> dict[int, Returned]:
    """The last return of each of these copies that was ever returned (the note the leader
    gave through the workflow's ``return``, kept on the copy's audit row), in one query. It
    stays after a resubmission: the caller shows it only while the copy's state is
    ``returned`` (the console's detail page)."""
    if not notice_ids:
        return {}
    rows = (
        await s.execute(
            select(NoticeAudit.notice_id, NoticeAudit.note, NoticeAudit.at, Staff.name)
            .outerjoin(Staff, Staff.id == NoticeAudit.staff_id)
            .where(NoticeAudit.notice_id.in_(list(notice_ids)), NoticeAudit.action == "return")
            .order_by(NoticeAudit.id)
        )
    ).all()
    return {nid: Returned(note or "", name or "", at) for nid, note, at, name in rows}


async def states(s: AsyncSession, parent_ids: Sequence[int]) -> dict[int, Counter[str]]:
    """How many copies of each parent are in each state, in one grouped query."""
    out: dict[int, Counter[str]] = {i: Counter() for i in parent_ids}
    if not parent_ids:
        return out
    for parent_id, status, n in (
        await s.execute(
            select(Notice.province_notice_id, Notice.status, func.count())
            .where(Notice.province_notice_id.in_(list(parent_ids)))
            .group_by(Notice.province_notice_id, Notice.status)
        )
    ).all():
        if parent_id is not None:
            out[parent_id][status] += n
    return out
