"""A commune's effective facts: config.yml's, with what staff edited in the console on top
(issue 13, docs/console-facts.md). The one place every answer path gets the commune it answers
from (``effective``); the console reads and saves through it too.

Edits are stored per commune in ``commune_facts.data`` by key — ``commune.phone``,
``commune.address``, ``commune.office_hours``, ``office.<code>.address|phone|hours``,
``health.name|address|phone|hours`` (the health station when it is not one of the offices),
``village.<name>.head``, ``village.<name>.propagandists`` (by the village's current name),
``villages.added`` (villages staff added: ``[{"name", "kind"}]``, after config's),
``villages.renamed`` (``{config's name: the name now}``), ``procedure.<key>.fee|time_limit|note``
(the commune's own, over ``procedures:``; ``""``: none) and ``commune.public_service_portal``
(``""``: none). A key present wins over config; a key absent is config's value (the console
says which). A key that no longer matches config (an office removed) is ignored, never an error
at answer time.

A village is also a row of ``villages`` (tickets, residents, staff and notices refer to it by
id): ``place_village`` adds the row of an added village and renames the row of a renamed one
(same id, so its history follows), in the transaction that saves the keys; ``bot.tenants.sync``
mirrors the effective villages, so a restart neither loses an added village nor brings back a
renamed one's old name.

Why a cache with pub/sub: the facts are read for every resident message, so they are kept in
memory per (database, commune) — but a save must be answered from at once, here and in every
other process. A save forgets the commune here and publishes ``facts`` (the commune id) through
the coordinator; each process's ``Listener`` forgets it when told. If Redis is down the message
reaches only this process, so the cache also re-reads the row's ``version`` at most every
``RECHECK_S``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time as dtime
from typing import Any, get_args

from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import (
    Commune,
    HealthStation,
    LocalProcedure,
    OfficeHours,
    PublicContact,
    Village,
    expand_days,
)
from bot.coord import Coordinator
from bot.store import models
from bot.store.models import CommuneFactChange, CommuneFacts
from bot.text import number, search_key
from bot.timeutil import utcnow

log = logging.getLogger(__name__)

TOPIC = "facts"
#: how long a commune's cached facts are trusted without reading their version (a save in this
#: process or a message from another is answered at once; this covers a lost message)
RECHECK_S = 5.0
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ADDED = "villages.added"
RENAMED = "villages.renamed"
PORTAL = "commune.public_service_portal"
PROCEDURE_FIELDS = ("fee", "time_limit", "note")
#: the kinds a village may be (config's ``Village.kind``)
VILLAGE_KINDS: tuple[str, ...] = get_args(Village.model_fields["kind"].annotation)


# -- applying edits to config ------------------------------------------------------------------
def hours_value(periods: list[OfficeHours]) -> list[dict[str, str]]:
    """Hours as stored: [{"days": "mon-fri", "open": "07:30", "close": "11:30"}, …]."""
    return [
        {"days": p.days, "open": p.open.strftime("%H:%M"), "close": p.close.strftime("%H:%M")}
        for p in periods
    ]


def _hours(value: list[dict[str, str]]) -> list[OfficeHours]:
    return [OfficeHours.model_validate(p) for p in value]


def _contact(value: dict[str, Any] | None) -> PublicContact | None:
    return PublicContact.model_validate(value) if value else None


def village_list(config: Commune, data: dict[str, Any]) -> list[Village]:
    """The commune's villages as staff left them: config's (renamed where they were), in
    config's order, then the added ones (a name taken twice is skipped)."""
    renamed = data.get(RENAMED)
    renamed = renamed if isinstance(renamed, dict) else {}
    out = [
        v.model_copy(update={"name": renamed[v.name]})
        if isinstance(renamed.get(v.name), str) and renamed[v.name]
        else v
        for v in config.villages
    ]
    keys = {search_key(v.name) for v in out}
    for item in data.get(ADDED) or []:
        try:
            village = Village.model_validate(item)
        except (ValueError, TypeError):
            log.warning("commune %s: added village %r does not fit; skipped", config.code, item)
            continue
        if search_key(village.name) not in keys:
            keys.add(search_key(village.name))
            out.append(village)
    return out


def apply(config: Commune, data: dict[str, Any]) -> Commune:
    """``config`` with the edits in ``data``; each key that does not fit is skipped (logged)."""
    top: dict[str, Any] = {}
    offices = {o.code: o for o in config.offices}
    office_changes: dict[str, dict[str, Any]] = {}
    listed = village_list(config, data)
    villages = {v.name: v for v in listed}
    village_changes: dict[str, dict[str, Any]] = {}
    health: dict[str, Any] = {}
    procedures = dict(config.procedures)
    for key, value in data.items():
        try:
            kind, _, rest = key.partition(".")
            if kind == "commune" and rest in ("address", "phone"):
                top[rest] = value
            elif key == PORTAL:
                top["public_service_portal"] = value or None
            elif kind == "procedure":
                code, _, field = rest.rpartition(".")
                if field in PROCEDURE_FIELDS and isinstance(value, str):
                    local = procedures.get(code) or LocalProcedure()
                    procedures[code] = local.model_copy(update={field: value or None})
            elif kind == "commune" and rest == "office_hours" and value:
                top["office_hours"] = _hours(value)
            elif kind == "office":
                code, _, field = rest.rpartition(".")
                if code in offices and field in ("address", "phone", "hours"):
                    office_changes.setdefault(code, {})[field] = (
                        _hours(value or []) if field == "hours" else value
                    )
            elif kind == "health" and rest in ("name", "address", "phone", "hours"):
                health[rest] = _hours(value or []) if rest == "hours" else value
            elif kind == "village":
                name, _, field = rest.rpartition(".")
                if name in villages and field == "head":
                    village_changes.setdefault(name, {})["head"] = _contact(value)
                elif name in villages and field == "propagandists":
                    village_changes.setdefault(name, {})["propagandists"] = [
                        PublicContact.model_validate(p) for p in value or []
                    ]
        except (ValueError, TypeError, AttributeError):
            log.warning(
                "commune %s: edited fact %s does not fit; config's value kept", config.code, key
            )
    if office_changes:
        top["offices"] = [
            o.model_copy(update=office_changes[o.code]) if o.code in office_changes else o
            for o in config.offices
        ]
    if village_changes or listed != config.villages:
        top["villages"] = [
            v.model_copy(update=village_changes[v.name]) if v.name in village_changes else v
            for v in listed
        ]
    renames = {
        search_key(a.name): b.name
        for a, b in zip(config.villages, listed, strict=False)
        if a.name != b.name
    }
    if renames and config.routing:  # a routing rule names villages: it follows the rename
        top["routing"] = [
            r.model_copy(update={"villages": [renames.get(search_key(n), n) for n in r.villages]})
            for r in config.routing
        ]
    if procedures != config.procedures:
        top["procedures"] = procedures
    if health and health_office(config) is None:
        station = config.health_station or HealthStation()
        if "name" in health and not health["name"]:
            health.pop("name")
        top["health_station"] = station.model_copy(update=health)
    return config.model_copy(update=top) if top else config


def health_office(config: Commune) -> str | None:
    """The code of the office that is the health station, when config lists it as an office
    (its facts are then edited as that office's)."""
    return next((o.code for o in config.offices if o.what == "health"), None)


# -- the cache ---------------------------------------------------------------------------------
@dataclass
class _Cached:
    version: int
    data: dict[str, Any]
    checked: float  # time.monotonic() of the last read
    config: Commune | None = None  # the config the effective commune was made from …
    commune: Commune | None = None  # … and that commune


#: (database, commune id) → its edits
_cache: dict[tuple[str, int], _Cached] = {}
#: commune id → how many times it was forgotten (a read that began before a forget is not kept)
_forgotten: dict[int, int] = {}


def _database(s: AsyncSession) -> str:
    bind = s.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    return engine.url.render_as_string(hide_password=True)


def forget(commune_id: int) -> None:
    """Drop the commune's cached facts in this process (after a save here or elsewhere)."""
    _forgotten[commune_id] = _forgotten.get(commune_id, 0) + 1
    for key in [k for k in _cache if k[1] == commune_id]:
        del _cache[key]


async def _row(s: AsyncSession, commune_id: int) -> CommuneFacts | None:
    return (
        await s.execute(select(CommuneFacts).where(CommuneFacts.commune_id == commune_id))
    ).scalar_one_or_none()


async def edits(s: AsyncSession, commune_id: int) -> tuple[int, dict[str, Any]]:
    """(version, the edited facts by key) of the commune, from the cache when fresh."""
    key = (_database(s), commune_id)
    cached = _cache.get(key)
    if cached is not None and time.monotonic() - cached.checked < RECHECK_S:
        return cached.version, cached.data
    generation, moment = _forgotten.get(commune_id, 0), time.monotonic()
    row = await _row(s, commune_id)
    version, data = (row.version, dict(row.data or {})) if row is not None else (0, {})
    if _forgotten.get(commune_id, 0) == generation:  # no save was heard while this read
        if cached is not None and cached.version == version:
            cached.checked = moment
        else:
            _cache[key] = _Cached(version, data, moment)
    return version, data


async def effective(s: AsyncSession, commune_id: int, config: Commune) -> Commune:
    """The commune as residents are answered: ``config`` with the console's edits."""
    version, data = await edits(s, commune_id)
    if not data:
        return config
    cached = _cache.get((_database(s), commune_id))
    if cached is not None and cached.version == version and cached.config is config:
        return cached.commune or config
    commune = apply(config, data)
    if cached is not None and cached.version == version:
        cached.config, cached.commune = config, commune
    return commune


async def households(s: AsyncSession, configs: Sequence[Commune]) -> dict[str, dict[str, int]]:
    """commune code → village search key → households, of the villages as staff left them:
    config's ``households`` follow a village renamed in the console (a village staff added has
    none: unknown, never guessed). One query for any number of communes (the yearly report's)."""
    by_code = {c.code: c for c in configs}
    stored = await console_edits(s, list(by_code))
    out: dict[str, dict[str, int]] = {}
    for code, config in by_code.items():
        for v in village_list(config, stored.get(code, {})):
            if v.households is not None:
                out.setdefault(code, {})[search_key(v.name)] = v.households
    return out


async def console_edits(
    s: AsyncSession, codes: Sequence[str] | None = None, lock: bool = False
) -> dict[str, dict[str, Any]]:
    """commune code → its edits as stored (every commune that has any, or those of
    ``codes``), read from the database in one query, not the cache; ``lock``: the rows
    locked until the caller's transaction ends (a change planned on them)."""
    query = select(models.Commune.code, CommuneFacts.data).join(
        CommuneFacts, CommuneFacts.commune_id == models.Commune.id
    )
    if codes is not None:
        query = query.where(models.Commune.code.in_(list(codes)))
    if lock:
        query = query.with_for_update(of=CommuneFacts)
    return {code: dict(data or {}) for code, data in (await s.execute(query)).all()}


# -- saving ------------------------------------------------------------------------------------
async def save(
    s: AsyncSession,
    commune_id: int,
    changes: dict[str, Any],
    staff_id: int | None,
    staff_name: str,
) -> list[str]:
    """Write ``changes`` (key → value; ``None``: back to config's value) in the caller's
    transaction, one history row per key that changed; the keys that changed. Call
    ``announce`` after the commit."""
    row = (
        await s.execute(
            select(CommuneFacts).where(CommuneFacts.commune_id == commune_id).with_for_update()
        )
    ).scalar_one_or_none()
    if row is None:
        row = CommuneFacts(commune_id=commune_id, data={}, version=0, updated_at=utcnow())
        s.add(row)
    data = dict(row.data or {})
    changed = []
    now = utcnow()
    for key, value in changes.items():
        before = data.get(key)
        if value == before:
            continue
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
        changed.append(key)
        s.add(
            CommuneFactChange(
                commune_id=commune_id,
                key=key,
                before=before,
                after=value,
                staff_id=staff_id,
                staff_name=staff_name,
                changed_at=now,
            )
        )
    if changed:
        row.data = data
        row.version = (row.version or 0) + 1
        row.updated_at = now
    await s.flush()
    return changed


async def locked_edits(s: AsyncSession, commune_id: int) -> dict[str, Any]:
    """The commune's edits as stored, the row locked until the caller's transaction ends (a
    change that depends on them — a village added or renamed — is decided on what is there)."""
    row = (
        await s.execute(
            select(CommuneFacts).where(CommuneFacts.commune_id == commune_id).with_for_update()
        )
    ).scalar_one_or_none()
    return dict(row.data or {}) if row is not None else {}


class VillageTaken(ValueError):
    """Another village of the commune has that name (accents and case aside)."""


async def place_village(
    s: AsyncSession, commune_id: int, name: str, kind: str, was: str | None = None
) -> models.Village:
    """The ``villages`` row of a village added (``was`` None) or renamed from ``was``: the
    renamed row keeps its id (tickets, residents, staff and notices stay attached); an added
    village reuses a row of that name left from before (a village config once had), else gets
    a new one. Raises ``VillageTaken`` when another village's row has the name."""
    rows = list(
        (
            await s.execute(
                select(models.Village)
                .where(models.Village.commune_id == commune_id)
                .with_for_update()
            )
        ).scalars()
    )
    key = search_key(name)
    row = None
    if was is not None:
        row = next((r for r in rows if r.name == was), None) or next(
            (r for r in rows if r.search_key == search_key(was)), None
        )
    clash = next((r for r in rows if r.search_key == key and r is not row), None)
    if clash is not None:
        if row is not None:
            raise VillageTaken(name)
        row = clash  # added again under a name the store already knows
    if row is None:
        row = models.Village(commune_id=commune_id, name=name, kind=kind, search_key=key)
        s.add(row)
    else:
        row.name, row.kind, row.search_key = name, kind, key
    await s.flush()
    return row


async def announce(coord: Coordinator, commune_id: int) -> None:
    """After a committed save: this process forgets at once, the others when they hear it."""
    forget(commune_id)
    await coord.publish(TOPIC, str(commune_id))


async def history(s: AsyncSession, commune_id: int, limit: int = 50) -> list[CommuneFactChange]:
    """The commune's latest changes, newest first."""
    return list(
        (
            await s.execute(
                select(CommuneFactChange)
                .where(CommuneFactChange.commune_id == commune_id)
                .order_by(CommuneFactChange.id.desc())
                .limit(limit)
            )
        ).scalars()
    )


class Listener:
    """Forgets a commune's cached facts when another process says it saved them."""

    def __init__(self, coord: Coordinator) -> None:
        self.coord = coord
        self._stop = asyncio.Event()

    async def run_forever(self) -> None:
        sub = await self.coord.subscribe(TOPIC)
        try:
            while not self._stop.is_set():
                message = await sub.get(timeout=1.0)
                if (commune_id := number(message)) is not None:
                    forget(commune_id)
        finally:
            await sub.close()

    async def stop(self) -> None:
        self._stop.set()


# -- parsing what staff type -------------------------------------------------------------------
_SPAN = re.compile(r"^(\d{1,2})[:hH.](\d{2})\s*[-–—]\s*(\d{1,2})[:hH.](\d{2})$")


class HoursError(ValueError):
    """A weekday's hours that cannot be read; the message is for staff (current language)."""


def parse_day(text: str) -> list[tuple[dtime, dtime]]:
    """ "07:30-11:30, 13:30-17:00" → [(07:30, 11:30), (13:30, 17:00)]; "" → [] (closed).
    Raises ValueError with ``span`` as its argument when a span cannot be read, is backwards
    or overlaps another."""
    spans: list[tuple[dtime, dtime]] = []
    for part in re.split(r"[,;]", text):
        part = part.strip()
        if not part:
            continue
        m = _SPAN.match(part)
        if not m:
            raise HoursError(part)
        h1, m1, h2, m2 = (int(g) for g in m.groups())
        if h1 > 23 or h2 > 23 or m1 > 59 or m2 > 59:
            raise HoursError(part)
        start, end = dtime(h1, m1), dtime(h2, m2)
        if end <= start:
            raise HoursError(part)
        spans.append((start, end))
    spans.sort()
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        if start < end:
            raise HoursError(text.strip())
    return spans


def week_to_periods(days: list[list[tuple[dtime, dtime]]]) -> list[dict[str, str]]:
    """Seven days' spans → stored hours, consecutive days with the same spans as one range
    ("mon-fri"), as config writes them."""
    out: list[dict[str, str]] = []
    i = 0
    while i < 7:
        j = i
        while j + 1 < 7 and days[j + 1] == days[i]:
            j += 1
        label = DAYS[i] if i == j else f"{DAYS[i]}-{DAYS[j]}"
        for start, end in days[i]:
            out.append(
                {"days": label, "open": start.strftime("%H:%M"), "close": end.strftime("%H:%M")}
            )
        i = j + 1
    return out


def periods_to_week(periods: list[OfficeHours]) -> list[str]:
    """Hours → one text per weekday as the form shows them ("07:30-11:30, 13:30-17:00")."""
    week: list[list[tuple[dtime, dtime]]] = [[] for _ in range(7)]
    for p in periods:
        for day in expand_days(p.days):
            week[day].append((p.open, p.close))
    return [
        ", ".join(f"{a.strftime('%H:%M')}-{b.strftime('%H:%M')}" for a, b in sorted(spans))
        for spans in week
    ]
