"""Tenancy in one place: which commune a request, an OA or a row belongs to.

Communes are configured in ``config.yml``; at start-up they are mirrored into the ``communes`` and
``villages`` tables so every row can reference its commune (the villages as the console left
them: config's, renamed, and the ones staff added — ``facts_store.village_list``). Lookups by
OA id and by code are in-memory dictionaries built once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import facts_store
from bot.config import Commune, Settings
from bot.store import models
from bot.text import search_key


@dataclass(frozen=True)
class Tenant:
    id: int
    config: Commune

    @property
    def code(self) -> str:
        return self.config.code


class Tenants:
    def __init__(self) -> None:
        self._by_code: dict[str, Tenant] = {}
        self._by_id: dict[int, Tenant] = {}
        self._by_oa: dict[str, Tenant] = {}

    def add(self, tenant: Tenant) -> None:
        self._by_code[tenant.code] = tenant
        self._by_id[tenant.id] = tenant
        if tenant.config.zalo:
            self._by_oa[tenant.config.zalo.oa_id] = tenant

    def by_code(self, code: str) -> Tenant | None:
        return self._by_code.get(code)

    def by_id(self, commune_id: int) -> Tenant:
        return self._by_id[commune_id]

    def by_oa(self, *oa_ids: str) -> Tenant | None:
        return next((self._by_oa[o] for o in oa_ids if o in self._by_oa), None)

    def __len__(self) -> int:
        return len(self._by_code)

    def __iter__(self):
        return iter(self._by_code.values())


async def sync(settings: Settings, sm: async_sessionmaker) -> Tenants:
    """Mirror configured communes and villages into the store; return the registry."""
    async with sm() as s, s.begin():
        return await mirror(s, settings)


async def mirror(s: AsyncSession, settings: Settings) -> Tenants:
    """``sync`` in the caller's transaction (`bot tenants import` mirrors the new communes in
    the transaction that adds their staff)."""
    tenants = Tenants()
    existing = {c.code: c for c in (await s.execute(select(models.Commune))).scalars()}
    # an OA id may move between communes (merges): release every id that changes hands
    # and flush before assigning, or the unique oa_id collides inside one flush
    wanted = {c.code: (c.zalo.oa_id if c.zalo else None) for c in settings.communes}
    for code, held in existing.items():
        if held.oa_id is not None and wanted.get(code) != held.oa_id:
            held.oa_id = None
    await s.flush()
    for cfg in settings.communes:
        row = existing.get(cfg.code)
        if row is None:
            row = models.Commune(code=cfg.code)
            s.add(row)
        row.name = cfg.name
        row.province_code = cfg.province_code
        row.oa_id = cfg.zalo.oa_id if cfg.zalo else None
        row.active = True
    for code, row in existing.items():
        if code not in wanted:
            row.active = False
    await s.flush()
    rows = {c.code: c for c in (await s.execute(select(models.Commune))).scalars()}
    villages = (await s.execute(select(models.Village))).scalars().all()
    have = {(v.commune_id, v.name) for v in villages}
    edits = {
        f.commune_id: f.data or {} for f in (await s.execute(select(models.CommuneFacts))).scalars()
    }
    for cfg in settings.communes:
        row = rows[cfg.code]
        # the villages as staff left them (added, renamed: bot/facts_store.py), so a renamed
        # village's row is not made again under config's old name
        for village in facts_store.village_list(cfg, edits.get(row.id, {})):
            if (row.id, village.name) not in have:
                s.add(
                    models.Village(
                        commune_id=row.id,
                        name=village.name,
                        kind=village.kind,
                        search_key=search_key(village.name),
                    )
                )
        tenants.add(Tenant(row.id, cfg))
    return tenants
