"""The propagandist registry (issue 14, docs/console-health.md): per village, who relays the
commune's notices into the village's Zalo group (active ``staff`` rows of role
``propagandist``), since when, whether their Zalo is linked, and the last relay they confirmed;
the coverage — villages with at least one active propagandist ÷ villages — per commune and for
the province. Read by ``bot staff propagandists`` and the console's "Tình trạng" page.

- *since*: the staff row's creation, or its last reactivation when it was deactivated and
  reactivated since (``audit_events`` ``staff_reactivated``: the API, the console and the CLI
  all write it);
- *phone*: the staff row's, else the village's public contact of the same name (config.yml with
  the console's edits, ``facts_store.apply``) — the number the commune gives residents;
- *Zalo linked*: the row has the person's Zalo id as a follower of the OA (``zalo_user_id``),
  without which no relay reaches them;
- *last relay confirmed*: the latest ``notice_relays.confirmed_at`` of theirs (their "đã
  chuyển", bot/broadcasts/relay.py).

Three statements whatever the number of communes: the villages, the propagandists with their
last confirmation and reactivation (correlated reads on indexed columns), the communes' facts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import facts_store
from bot.config import Commune as CommuneConfig
from bot.health import vn_date
from bot.store.models import AuditEvent, Commune, CommuneFacts, NoticeRelay, Staff, Village
from bot.text import search_key
from bot.timeutil import as_utc


@dataclass(frozen=True)
class Propagandist:
    staff_id: int
    name: str
    phone: str
    since: datetime
    zalo_linked: bool
    last_confirmed: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "staff_id": self.staff_id,
            "name": self.name,
            "phone": self.phone or None,
            "since": vn_date(self.since, with_time=False),
            "zalo_linked": self.zalo_linked,
            "last_relay_confirmed_at": vn_date(self.last_confirmed) or None,
        }


@dataclass
class VillageRow:
    name: str
    kind: str
    people: list[Propagandist] = field(default_factory=list)

    @property
    def covered(self) -> bool:
        return bool(self.people)

    def to_json(self) -> dict[str, Any]:
        return {
            "village": self.name,
            "kind": self.kind,
            "covered": self.covered,
            "propagandists": [p.to_json() for p in self.people],
        }


@dataclass
class Coverage:
    covered: int = 0
    villages: int = 0

    @property
    def rate(self) -> float | None:
        return self.covered / self.villages if self.villages else None

    @property
    def pct(self) -> str:
        return "—" if self.rate is None else f"{self.rate * 100:.0f}%"

    def to_json(self) -> dict[str, Any]:
        return {
            "covered": self.covered,
            "villages": self.villages,
            "rate": None if self.rate is None else round(self.rate, 4),
        }


@dataclass
class CommuneRegistry:
    code: str
    name: str
    province_code: str | None
    villages: list[VillageRow] = field(default_factory=list)

    @property
    def coverage(self) -> Coverage:
        return Coverage(sum(v.covered for v in self.villages), len(self.villages))

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "province_code": self.province_code,
            "coverage": self.coverage.to_json(),
            "villages": [v.to_json() for v in self.villages],
        }


@dataclass
class Registry:
    communes: list[CommuneRegistry]

    @property
    def coverage(self) -> Coverage:
        """The whole scope's (a province's): all its villages together."""
        total = Coverage()
        for c in self.communes:
            one = c.coverage
            total.covered += one.covered
            total.villages += one.villages
        return total

    def to_json(self) -> dict[str, Any]:
        return {
            "coverage": self.coverage.to_json(),
            "communes": [c.to_json() for c in self.communes],
        }


def _contacts(config: CommuneConfig | None, data: dict[str, Any] | None) -> dict[tuple, str]:
    """(village name, folded person name) → phone, from the commune's effective facts."""
    if config is None:
        return {}
    effective = facts_store.apply(config, data) if data else config
    return {
        (v.name, search_key(p.name)): p.phone
        for v in effective.villages
        for p in v.propagandists
        if p.phone
    }


async def registry(
    s: AsyncSession,
    commune_ids: Sequence[int],
    configs: Mapping[str, CommuneConfig] | None = None,
) -> Registry:
    """The communes' registry, communes by name, villages in their order, people by name.
    ``configs`` (code → the commune's configuration) lends the villages' public phones."""
    ids = list(commune_ids)
    if not ids:
        return Registry([])
    communes: dict[int, CommuneRegistry] = {}
    by_village: dict[int, VillageRow] = {}
    for cid, code, cname, province, vid, vname, kind in (
        await s.execute(
            select(
                Commune.id,
                Commune.code,
                Commune.name,
                Commune.province_code,
                Village.id,
                Village.name,
                Village.kind,
            )
            .outerjoin(Village, Village.commune_id == Commune.id)
            .where(Commune.id.in_(ids))
            .order_by(Commune.name, Commune.code, Village.id)
        )
    ).all():
        commune = communes.setdefault(cid, CommuneRegistry(code, cname, province))
        if vid is not None:
            by_village[vid] = VillageRow(vname, kind)
            commune.villages.append(by_village[vid])
    last_confirmed = (
        select(func.max(NoticeRelay.confirmed_at))
        .where(NoticeRelay.staff_id == Staff.id)
        .correlate(Staff)
        .scalar_subquery()
    )
    reactivated = (
        select(func.max(AuditEvent.at))
        .where(
            AuditEvent.commune_id == Staff.commune_id,
            AuditEvent.action == "staff_reactivated",
            AuditEvent.object_kind == "staff",
            AuditEvent.object_id == cast(Staff.id, String),
        )
        .correlate(Staff)
        .scalar_subquery()
    )
    people = (
        await s.execute(
            select(
                Staff.id,
                Staff.commune_id,
                Staff.village_id,
                Staff.name,
                Staff.phone,
                Staff.zalo_user_id,
                Staff.created_at,
                last_confirmed,
                reactivated,
            )
            .where(
                Staff.commune_id.in_(ids),
                Staff.role == "propagandist",
                Staff.active.is_(True),
                Staff.village_id.is_not(None),
            )
            .order_by(Staff.name, Staff.id)
        )
    ).all()
    facts: dict[int, dict[str, Any]] = {}
    if configs:
        facts = {
            cid: dict(data or {})
            for cid, data in (
                await s.execute(
                    select(CommuneFacts.commune_id, CommuneFacts.data).where(
                        CommuneFacts.commune_id.in_(ids)
                    )
                )
            ).all()
        }
    contacts = {
        cid: _contacts((configs or {}).get(c.code), facts.get(cid)) for cid, c in communes.items()
    }
    for sid, cid, where, name, phone, zalo, created, confirmed, back in people:
        village = by_village.get(where) if where is not None else None
        if village is None:
            continue
        since = max(as_utc(created), as_utc(back)) if back is not None else as_utc(created)
        village.people.append(
            Propagandist(
                sid,
                name,
                phone or contacts[cid].get((village.name, search_key(name)), "") or "",
                since,
                bool(zalo),
                confirmed,
            )
        )
    return Registry(list(communes.values()))
