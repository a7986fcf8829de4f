"""The yearly (and half-year) report's figures, counted in SQL over the real tables, one row per
commune (a province is its communes' rows and their sums). docs/report.md says what each figure
means exactly and where it comes from; each decision already made elsewhere is used, not
copied:

- residents' messages and misses: ``figures.queries.traffic`` (``knowledge.misses.MISSED``);
- tickets on time / late / overdue: ``figures.queries.judged`` and ``verdict``
  (``feedback.service.overdue_clause``), here grouped by category too;
- a notice's resident reached directly: ``figures.queries.REACHED``;
- an OA's connection: ``channels.zalo.oauth.token_state`` (the console's Zalo page's rule);
- the window and Vietnamese days: ``figures.window.Window``.

Every query filters ``commune_id IN (…)`` and groups by commune: one round trip per figure,
whatever the number of communes or rows. Only the communes' villages (a few hundred rows) are
read as rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, case, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import config, facts_store
from bot.channels.zalo.oauth import token_state
from bot.figures import queries
from bot.figures.queries import REACHED, Traffic
from bot.figures.window import Window
from bot.health import ACTIVE_PROPAGANDIST
from bot.store.models import (
    Commune,
    Notice,
    NoticeAudit,
    NoticeBroadcast,
    NoticeDelivery,
    NoticeRelay,
    OutboundMessage,
    Resident,
    Staff,
    Ticket,
    Village,
    ZaloToken,
)
from bot.text import search_key

#: tickets' sources that are residents' phones: the Zalo chat and the web chat (the commune's
#: portal page, opened on a phone); Open311 (other systems) and staff's own filings are not
MOBILE_SOURCES = ("zalo", "web")
#: how a notice came from the provincial source system: imported as a CAP 1.2 alert
#: (``POST …/notices/cap``, audited as the notice's ``import`` action)
SOURCE_ACTION = "import"


@dataclass
class Feedback:
    """Tickets of one category received in the window, and those judged for their deadline."""

    received: int = 0
    answered: int = 0
    mobile: int = 0
    on_time: int = 0
    late: int = 0
    overdue: int = 0
    rated: int = 0
    rating_sum: int = 0

    @property
    def mean_rating(self) -> float | None:
        return self.rating_sum / self.rated if self.rated else None

    def __iadd__(self, other: Feedback) -> Feedback:
        for name in vars(self):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self


@dataclass
class VillageFigures:
    id: int
    name: str
    households: int | None
    propagandists: int = 0
    relays: int = 0
    confirmed: int = 0

    @property
    def confirm_rate(self) -> float | None:
        return self.confirmed / self.relays if self.relays else None


@dataclass
class CommuneReport:
    id: int
    code: str
    name: str
    oa_id: str = ""
    oa_state: str = "no_oa"  # a key of oauth.TOKEN_STATES
    oa_healthy: bool = False
    notices: int = 0
    source_notices: int = 0
    categories: Counter[str] = field(default_factory=Counter)
    priorities: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    reached: int = 0
    followers: int = 0
    traffic: Traffic = field(default_factory=Traffic)
    feedback: dict[str, Feedback] = field(default_factory=dict)
    villages: list[VillageFigures] = field(default_factory=list)

    @property
    def households(self) -> int | None:
        """Known only when every village's is (a partial sum would flatter the ratio)."""
        known = [v.households for v in self.villages]
        if not known or any(h is None for h in known):
            return None
        return sum(h for h in known if h is not None)

    @property
    def reach_of_followers(self) -> float | None:
        return self.reached / self.followers if self.followers else None

    @property
    def reach_of_households(self) -> float | None:
        h = self.households
        return self.reached / h if h else None

    @property
    def tickets(self) -> Feedback:
        total = Feedback()
        for one in self.feedback.values():
            total += one
        return total

    @property
    def villages_covered(self) -> int:
        return sum(1 for v in self.villages if v.propagandists)

    @property
    def relays(self) -> int:
        return sum(v.relays for v in self.villages)

    @property
    def relays_confirmed(self) -> int:
        return sum(v.confirmed for v in self.villages)


@dataclass
class Report:
    window: Window
    now: datetime
    scope: str  # "commune" | "province"
    code: str  # the commune's or province's code
    communes: list[CommuneReport]

    def total(self, attr: str) -> int:
        return sum(int(getattr(c, attr)) for c in self.communes)

    @property
    def feedback(self) -> dict[str, Feedback]:
        out: dict[str, Feedback] = {}
        for c in self.communes:
            for cat, one in c.feedback.items():
                out.setdefault(cat, Feedback())
                out[cat] += one
        return out

    @property
    def traffic(self) -> Traffic:
        total = Traffic()
        for c in self.communes:
            total += c.traffic
        return total


# -- the queries ----------------------------------------------------------------------------
async def _communes(s: AsyncSession, scope: str, code: str) -> list[Commune]:
    where = Commune.code == code if scope == "commune" else Commune.province_code == code
    rows = await s.execute(select(Commune).where(where, Commune.active).order_by(Commune.code))
    return list(rows.scalars())


async def _notices(s: AsyncSession, by: dict[int, CommuneReport], window: Window) -> None:
    ids = list(by)
    sent = and_(Notice.commune_id.in_(ids), window.holds(Notice.sent_at))
    rows = await s.execute(
        select(Notice.commune_id, Notice.category, Notice.priority, func.count())
        .where(sent)
        .group_by(Notice.commune_id, Notice.category, Notice.priority)
    )
    for cid, category, priority, n in rows:
        by[cid].notices += int(n)
        by[cid].categories[category] += int(n)
        by[cid].priorities[priority] += int(n)
    imported = exists().where(
        NoticeAudit.notice_id == Notice.id, NoticeAudit.action == SOURCE_ACTION
    )
    for cid, n in await s.execute(
        select(Notice.commune_id, func.count()).where(sent, imported).group_by(Notice.commune_id)
    ):
        by[cid].source_notices = int(n)
    routes = await s.execute(
        select(NoticeDelivery.commune_id, NoticeDelivery.route, func.count())
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .where(sent)
        .group_by(NoticeDelivery.commune_id, NoticeDelivery.route)
    )
    for cid, route, n in routes:
        by[cid].routes[route] += int(n)
    reached = await s.execute(
        select(NoticeDelivery.commune_id, func.count(func.distinct(NoticeDelivery.resident_id)))
        .join(Notice, Notice.id == NoticeDelivery.notice_id)
        .outerjoin(OutboundMessage, OutboundMessage.id == NoticeDelivery.outbound_id)
        .outerjoin(NoticeBroadcast, NoticeBroadcast.notice_id == NoticeDelivery.notice_id)
        .where(sent, REACHED)
        .group_by(NoticeDelivery.commune_id)
    )
    for cid, n in reached:
        by[cid].reached = int(n)
    found = await s.execute(
        select(NoticeRelay.commune_id, NoticeRelay.village_id, func.count(),
               func.count(NoticeRelay.confirmed_at))
        .join(Notice, Notice.id == NoticeRelay.notice_id)
        .where(sent)
        .group_by(NoticeRelay.commune_id, NoticeRelay.village_id)
    )  # fmt: skip
    relays = {(int(cid), int(vid)): (int(n), int(ok)) for cid, vid, n, ok in found}
    for cid, one in by.items():
        for v in one.villages:
            v.relays, v.confirmed = relays.get((cid, v.id), (0, 0))


async def _followers(s: AsyncSession, by: dict[int, CommuneReport]) -> None:
    rows = await s.execute(
        select(Resident.commune_id, func.count())
        .where(
            Resident.commune_id.in_(list(by)),
            Resident.is_follower,
            Resident.erased_at.is_(None),
        )
        .group_by(Resident.commune_id)
    )
    for cid, n in rows:
        by[cid].followers = int(n)


async def _feedback(
    s: AsyncSession, by: dict[int, CommuneReport], window: Window, now: datetime
) -> None:
    ids = list(by)

    def of(cid: int, category: str) -> Feedback:
        return by[cid].feedback.setdefault(category, Feedback())

    rows = await s.execute(
        select(
            Ticket.commune_id,
            Ticket.category,
            func.count(),
            func.count(Ticket.answered_at),
            func.sum(case((Ticket.source.in_(MOBILE_SOURCES), 1), else_=0)),
            func.count(Ticket.rating),
            func.sum(func.coalesce(Ticket.rating, 0)),
        )
        .where(Ticket.commune_id.in_(ids), window.holds(Ticket.received_at))
        .group_by(Ticket.commune_id, Ticket.category)
    )
    for cid, category, n, answered, mobile, rated, total in rows:
        one = of(cid, category)
        one.received, one.answered, one.mobile = int(n), int(answered), int(mobile or 0)
        one.rated, one.rating_sum = int(rated), int(total or 0)
    which = queries.verdict(now)
    rows = await s.execute(
        select(Ticket.commune_id, Ticket.category, which, func.count())
        .where(Ticket.commune_id.in_(ids), queries.judged(window, now))
        .group_by(Ticket.commune_id, Ticket.category, which)
    )
    for cid, category, said, n in rows:
        one = of(cid, category)
        setattr(one, str(said), getattr(one, str(said)) + int(n))


async def _villages(
    s: AsyncSession, by: dict[int, CommuneReport], households: Mapping[str, Mapping[str, int]]
) -> None:
    ids = list(by)
    active = (
        select(Staff.village_id, func.count().label("n"))
        .where(Staff.commune_id.in_(ids), ACTIVE_PROPAGANDIST)
        .group_by(Staff.village_id)
        .subquery()
    )
    rows = await s.execute(
        select(Village.commune_id, Village.id, Village.name, func.coalesce(active.c.n, 0))
        .outerjoin(active, active.c.village_id == Village.id)
        .where(Village.commune_id.in_(ids))
        .order_by(Village.commune_id, Village.id)
    )
    for cid, vid, name, n in rows:
        known = households.get(by[cid].code, {})
        by[cid].villages.append(VillageFigures(vid, name, known.get(search_key(name)), int(n)))


async def _oa(s: AsyncSession, by: dict[int, CommuneReport], now: datetime) -> None:
    rows = await s.execute(
        select(Commune.id, ZaloToken)
        .outerjoin(ZaloToken, ZaloToken.oa_id == Commune.oa_id)
        .where(Commune.id.in_(list(by)))
    )
    for cid, token in rows:
        one = by[cid]
        one.oa_state = token_state(one.oa_id, token, now=now)
        one.oa_healthy = one.oa_state == "connected"


async def build(
    s: AsyncSession,
    scope: str,
    code: str,
    window: Window,
    now: datetime,
    configs: Sequence[config.Commune],
) -> Report:
    """The report of commune ``code`` (``scope="commune"``) or of every active commune of
    province ``code``; ``configs``: the configured communes, whose villages' ``households``
    (as staff left the villages, ``facts_store.households``) the reach is divided by."""
    communes = await _communes(s, scope, code)
    by = {c.id: CommuneReport(c.id, c.code, c.name, c.oa_id or "") for c in communes}
    if by:
        wanted = {c.code for c in communes}
        households = await facts_store.households(s, [c for c in configs if c.code in wanted])
        await _villages(s, by, households)
        await _notices(s, by, window)
        await _followers(s, by)
        await _feedback(s, by, window, now)
        await _oa(s, by, now)
        for cid, days in (await queries.traffic(s, list(by), window)).items():
            for t in days.values():
                by[cid].traffic += t
    return Report(window, now, scope, code, list(by.values()))
