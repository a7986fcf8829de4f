"""The commune's own knowledge and its misses, through the staff JSON API (docs/knowledge.md):

    GET    /api/v1/communes/{code}/knowledge                  own entries + the province's
    POST   /api/v1/communes/{code}/knowledge                  one entry (JSON)
    POST   /api/v1/communes/{code}/knowledge/import[?replace=true&scope=province]
                                                              a whole CSV or Rasa YAML body
    GET    /api/v1/communes/{code}/knowledge/export?format=csv|yaml[&scope=province]
    GET | PUT | PATCH | DELETE /api/v1/communes/{code}/knowledge/{id}
    GET    /api/v1/communes/{code}/misses[?days=30]           grouped, biggest first
    POST   /api/v1/communes/{code}/misses/{group}/promote     → an entry, or an intent's examples

Who: everyone of the commune reads its entries (they are the bot's public answers); officers
and leaders write the commune's own; a province operator writes the province's entries (through
any commune of the province) and reads; misses hold residents' own words, so only officers and
leaders see and promote them (as they see tickets). Another commune's entry is 404. Every entry
and file passes the knowledge files' rules (bot/knowledge/io.py) before anything is written: a
bad one is a 400 naming the row, line or field, and nothing changes. A change is answered from
at once (the retrieval index follows the store's change counter).
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot import audit
from bot.api.auth import (
    Identity,
    bad_input,
    error,
    identify,
    iso,
    json_response,
    read_json,
    read_limited,
)
from bot.knowledge import entries, io, misses, store
from bot.knowledge.store import Owner
from bot.store.models import Commune, KnowledgeEntry

READ = ("officer", "leader", "propagandist", "operator")
WRITE_COMMUNE = ("officer", "leader")
WRITE_PROVINCE = ("operator",)
MISSES_ROLES = ("officer", "leader")
#: a body's type → the file suffix ``io.read`` knows it by
FORMATS = {
    "text/csv": ".csv",
    "application/yaml": ".yaml",
    "application/x-yaml": ".yaml",
    "text/yaml": ".yaml",
    "text/x-yaml": ".yaml",
}


class EntryIn(BaseModel):
    """An entry as JSON; the knowledge files' rules check its content (``io``)."""

    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=io.MAX_QUESTION)
    answer: str = Field(min_length=1, max_length=io.MAX_ANSWER)
    variants: list[str] = Field(default=[], max_length=io.MAX_VARIANTS)
    topic: str | None = Field(default=None, max_length=io.MAX_TOPIC)
    valid_from: str | None = Field(default=None, max_length=10)  # dd/mm/yyyy or yyyy-mm-dd
    valid_until: str | None = Field(default=None, max_length=10)
    source: str | None = Field(default=None, max_length=io.MAX_SOURCE)
    scope: Literal["commune", "province"] = "commune"


class EntryPatch(BaseModel):
    """The fields to change; the rest stay."""

    model_config = ConfigDict(extra="forbid")
    question: str | None = Field(default=None, min_length=1, max_length=io.MAX_QUESTION)
    answer: str | None = Field(default=None, min_length=1, max_length=io.MAX_ANSWER)
    variants: list[str] | None = Field(default=None, max_length=io.MAX_VARIANTS)
    topic: str | None = Field(default=None, max_length=io.MAX_TOPIC)
    valid_from: str | None = Field(default=None, max_length=10)
    valid_until: str | None = Field(default=None, max_length=10)
    source: str | None = Field(default=None, max_length=io.MAX_SOURCE)


class PromoteIn(BaseModel):
    """A group of misses → an entry (``answer``, optional ``question``) or ``intent``'s
    training examples; ``days`` the window the group was listed with."""

    model_config = ConfigDict(extra="forbid")
    answer: str | None = Field(default=None, min_length=1, max_length=io.MAX_ANSWER)
    question: str | None = Field(default=None, min_length=1, max_length=io.MAX_QUESTION)
    intent: str | None = Field(default=None, min_length=1, max_length=64)
    days: int = Field(default=misses.DAYS, ge=1, le=365)


def entry_json(e: KnowledgeEntry, overridden: set[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": e.id,
        "scope": "commune" if e.commune_id is not None else "province",
        "question": e.question,
        "answer": e.answer,
        "variants": list(e.variants or ()),
        "topic": e.topic,
        "valid_from": e.valid_from.isoformat() if e.valid_from else None,
        "valid_until": e.valid_until.isoformat() if e.valid_until else None,
        "source": e.source,
        "hidden": bool(e.hidden),
        "updated_at": iso(e.updated_at),
    }
    if e.commune_id is None:
        out["province_code"] = e.province_code
        out["overridden"] = overridden is not None and e.key in overridden
    return out


def _not_imported(exc: io.KnowledgeFileError) -> web.HTTPException:
    return error(400, "không nhập được, không có gì thay đổi / nothing saved", problem=str(exc))


def _at_once() -> web.HTTPException:
    """Another request wrote the same question (or taught the same text) between our reads and
    our write: the unique (owner, key) index refused ours, nothing of it was written."""
    return error(
        409,
        "vừa có thay đổi cùng lúc, hãy tải lại rồi làm lại / changed at the same time: list "
        "again and retry",
    )


class KnowledgeApi:
    def __init__(self, sm) -> None:
        self.sm = sm
        #: grouping misses is seconds of CPU for 3,000 texts: in a thread, one at a time in
        #: this process, and not again for a commune whose misses have not changed
        self._grouping = asyncio.Semaphore(1)
        self._grouped: dict[int, tuple[tuple[object, ...], misses.Groups]] = {}
        #: retraining after a promotion: one at a time, each with the examples as they are when
        #: it starts (a retraining that read them earlier must not finish last and win)
        self._teaching = asyncio.Lock()

    BASE = r"/api/v1/communes/{code:\d{5}}/knowledge"
    ONE = BASE + r"/{id:\d{1,18}}"
    MISSED = r"/api/v1/communes/{code:\d{5}}/misses"
    ROUTES = (
        ("GET", BASE, "list"),
        ("POST", BASE, "create"),
        ("POST", BASE + "/import", "import_file"),
        ("GET", BASE + "/export", "export"),
        ("GET", ONE, "get"),
        ("PUT", ONE, "put"),
        ("PATCH", ONE, "patch"),
        ("DELETE", ONE, "delete"),
        ("GET", MISSED, "list_misses"),
        ("POST", MISSED + r"/{group:[0-9a-f]{12}}/promote", "promote"),
    )

    # -- who and whose ---------------------------------------------------------------------
    @staticmethod
    async def _caller(
        request: web.Request, s: AsyncSession, roles: tuple[str, ...]
    ) -> tuple[Identity, Commune]:
        """The caller (a province operator through any commune of their province) and the
        commune in the path."""
        who = await identify(request, s, province_wide=True)
        if who.role not in roles:
            raise error(403, "vai trò này không được làm việc này / role not allowed")
        commune = (
            await s.execute(select(Commune).where(Commune.code == request.match_info["code"]))
        ).scalar_one()
        return who, commune

    @staticmethod
    def _owner(who: Identity, commune: Commune, scope: str) -> Owner:
        """Whose entries a write goes to, if the caller may write them."""
        if scope == "province":
            if who.role not in WRITE_PROVINCE:
                raise error(
                    403,
                    "chỉ cán bộ vận hành của tỉnh sửa tri thức chung của tỉnh / only the "
                    "province's operator writes province entries",
                )
            if commune.province_code is None:
                raise error(400, "xã này chưa gắn với tỉnh / this commune has no province")
            return Owner(province_code=commune.province_code)
        if scope != "commune":
            raise error(400, "scope: commune hoặc province / scope must be commune or province")
        if who.role not in WRITE_COMMUNE:
            raise error(
                403, "chỉ cán bộ và lãnh đạo xã sửa tri thức của xã / officers and leaders only"
            )
        return Owner(commune_id=commune.id)

    async def _entry(
        self, request: web.Request, s: AsyncSession, roles: tuple[str, ...]
    ) -> tuple[Identity, Commune, KnowledgeEntry]:
        """The entry in the path, if the commune answers from it (its own, or its province's);
        anything else is the 404 of an entry that does not exist."""
        who, commune = await self._caller(request, s, roles)
        entry = await s.get(KnowledgeEntry, int(request.match_info["id"]))
        if entry is None or not (
            entry.commune_id == commune.id
            or (
                entry.commune_id is None
                and commune.province_code is not None
                and entry.province_code == commune.province_code
            )
        ):
            raise error(404, "không tìm thấy / not found")
        return who, commune, entry

    def _may_write(self, who: Identity, commune: Commune, entry: KnowledgeEntry) -> None:
        self._owner(who, commune, "commune" if entry.commune_id is not None else "province")

    # -- entries ---------------------------------------------------------------------------
    async def list(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            _, commune = await self._caller(request, s, READ)
            own = await store.entries(s, Owner(commune_id=commune.id))
            inherited = (
                await store.entries(s, Owner(province_code=commune.province_code))
                if commune.province_code
                else []
            )
            keys = {e.key for e in own}
            return json_response(
                {
                    "entries": [entry_json(e) for e in own],
                    "province": [entry_json(e, keys) for e in inherited],
                }
            )

    async def get(self, request: web.Request) -> web.Response:
        async with self.sm() as s:
            _, commune, entry = await self._entry(request, s, READ)
            own = {e.key for e in await store.entries(s, Owner(commune_id=commune.id))}
            return json_response(entry_json(entry, own))

    async def create(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        async with self.sm() as s, s.begin():
            who, commune = await self._caller(request, s, WRITE_COMMUNE + WRITE_PROVINCE)
            try:
                data = EntryIn.model_validate(body)
            except ValidationError as exc:
                raise bad_input(exc) from None
            owner = self._owner(who, commune, data.scope)
            item = self._checked(data.model_dump(exclude={"scope"}))
            if any(e.key == item.key for e in await store.entries(s, owner)):
                raise error(
                    409,
                    "đã có câu hỏi này: hãy sửa mục đó / this question is already an entry",
                    question=item.question,
                )
            try:
                await store.save(s, owner, [item])
            except IntegrityError:  # added by another request since the check above
                raise error(
                    409,
                    "đã có câu hỏi này: hãy sửa mục đó / this question is already an entry",
                    question=item.question,
                ) from None
            entry = next(e for e in await store.entries(s, owner) if e.key == item.key)
            _logged(s, who, entry, "knowledge_created")
            out = entry_json(entry)
        return json_response(out, status=201)

    @staticmethod
    def _checked(fields: dict[str, Any]) -> io.Item:
        try:
            return entries.item_from(fields)
        except io.KnowledgeFileError as exc:
            raise _not_imported(exc) from None

    async def put(self, request: web.Request) -> web.Response:
        return await self._change(request, EntryIn, whole=True)

    async def patch(self, request: web.Request) -> web.Response:
        return await self._change(request, EntryPatch, whole=False)

    async def _change(
        self, request: web.Request, model: type[EntryIn] | type[EntryPatch], whole: bool
    ) -> web.Response:
        body = await read_json(request)
        async with self.sm() as s, s.begin():
            who, commune, entry = await self._entry(request, s, WRITE_COMMUNE + WRITE_PROVINCE)
            self._may_write(who, commune, entry)
            try:
                data = model.model_validate(body)
            except ValidationError as exc:
                raise bad_input(exc) from None
            given = data.model_dump(exclude={"scope"}, exclude_unset=not whole)
            scope = "commune" if entry.commune_id is not None else "province"
            if "scope" in data.model_fields_set and getattr(data, "scope", scope) != scope:
                raise error(400, "không đổi được phạm vi / scope cannot change: delete and add")
            item = self._checked({**({} if whole else entries.fields_of(entry)), **given})
            owner = entries.owner_of(entry)
            if any(e.key == item.key and e.id != entry.id for e in await store.entries(s, owner)):
                raise error(
                    409,
                    "đã có câu hỏi này / this question is already an entry",
                    question=item.question,
                )
            await entries.update(s, entry, item)
            _logged(s, who, entry, "knowledge_changed")
            out = entry_json(entry)
        return json_response(out)

    async def delete(self, request: web.Request) -> web.Response:
        async with self.sm() as s, s.begin():
            who, commune, entry = await self._entry(request, s, WRITE_COMMUNE + WRITE_PROVINCE)
            self._may_write(who, commune, entry)
            _logged(s, who, entry, "knowledge_deleted")
            await entries.remove(s, entry)
        return json_response({"deleted": int(request.match_info["id"])})

    # -- files -----------------------------------------------------------------------------
    async def import_file(self, request: web.Request) -> web.Response:
        replace = request.query.get("replace", "false").lower()
        if replace not in ("true", "false", "1", "0"):
            raise error(400, "replace: true hoặc false / replace must be true or false")
        async with self.sm() as s:  # who, before reading up to 5 MB
            who, commune = await self._caller(request, s, WRITE_COMMUNE + WRITE_PROVINCE)
            owner = self._owner(who, commune, request.query.get("scope", "commune"))
        suffix = FORMATS.get(request.content_type)
        if suffix is None:
            raise error(
                415,
                "gửi tệp CSV (text/csv) hoặc YAML (application/yaml) / send text/csv or "
                "application/yaml",
            )
        body = await read_limited(request, io.MAX_FILE_BYTES)
        if body is None:
            raise error(413, "tệp quá 5 MB / file over 5 MB")
        try:
            items = await asyncio.to_thread(_read, body, suffix)
        except io.KnowledgeFileError as exc:
            raise _not_imported(exc) from None
        try:
            async with self.sm() as s, s.begin():
                saved = await store.save(s, owner, items, replace=replace in ("true", "1"))
                audit.action(
                    s,
                    owner.commune_id or who.commune_id,
                    who.staff_id,
                    "knowledge_imported",
                    "knowledge",
                    None,
                    f"+{saved.added} ~{saved.updated} -{saved.deleted}",
                    {"added": saved.added, "updated": saved.updated, "deleted": saved.deleted},
                )
        except IntegrityError:  # another import added the same questions meanwhile (as the CLI)
            raise _at_once() from None
        return json_response(
            {
                "entries": len(items),
                "added": saved.added,
                "updated": saved.updated,
                "deleted": saved.deleted,
            }
        )

    async def export(self, request: web.Request) -> web.Response:
        fmt = request.query.get("format", "csv")
        if fmt not in ("csv", "yaml"):
            raise error(400, "format: csv hoặc yaml / format must be csv or yaml")
        scope = request.query.get("scope", "commune")
        async with self.sm() as s:
            _, commune = await self._caller(request, s, READ)
            if scope == "province" and commune.province_code:
                owner = Owner(province_code=commune.province_code)
            elif scope == "commune":
                owner = Owner(commune_id=commune.id)
            else:
                raise error(400, "scope: commune hoặc province (của tỉnh đã gắn) / bad scope")
            items = [store.item_of(e) for e in await store.entries(s, owner)]
        name = f"{commune.code if scope == 'commune' else commune.province_code}.{fmt}"
        return web.Response(
            text=io.write_csv(items) if fmt == "csv" else io.write_yaml(items),
            content_type="text/csv" if fmt == "csv" else "application/yaml",
            charset="utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    # -- misses ----------------------------------------------------------------------------
    async def list_misses(self, request: web.Request) -> web.Response:
        days = request.query.get("days", str(misses.DAYS))
        if not (days.isascii() and days.isdigit() and len(days) <= 3 and 1 <= int(days) <= 365):
            raise error(400, "days: 1–365 / days must be 1 to 365")
        async with self.sm() as s:
            _, commune = await self._caller(request, s, MISSES_ROLES)
            said = await misses.misses(s, commune.id, commune.province_code, int(days))
        found = await self._groups(commune.id, said)
        return json_response({"days": int(days), "groups": [misses.as_json(g) for g in found]})

    async def _groups(self, commune_id: int, said: misses.Saids) -> misses.Groups:
        """``misses.group`` off the event loop, one at a time, remembered per commune for the
        same misses (a list, then a promotion of one of its groups, group once)."""
        same = misses.signature(said)
        known = self._grouped.get(commune_id)
        if known is not None and known[0] == same:
            return known[1]
        async with self._grouping:
            known = self._grouped.get(commune_id)  # grouped while this one waited
            if known is not None and known[0] == same:
                return known[1]
            found = await asyncio.to_thread(misses.group, said)
            self._grouped[commune_id] = (same, found)
        return found

    async def promote(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        async with self.sm() as s:  # who first; read, then group with no transaction open
            who, commune = await self._caller(request, s, MISSES_ROLES)
            try:
                data = PromoteIn.model_validate(body)
            except ValidationError as exc:
                raise bad_input(exc) from None
            if (data.answer is None) == (data.intent is None) or (data.intent and data.question):
                raise error(
                    400,
                    "cho câu trả lời (answer, có thể kèm question) hoặc ý định (intent) / give "
                    "answer [and question] or intent",
                )
            said = await misses.misses(s, commune.id, commune.province_code, data.days)
        wanted = request.match_info["group"]
        group = next((g for g in await self._groups(commune.id, said) if g.id == wanted), None)
        if group is None:
            raise error(404, "không có nhóm này (danh sách đã đổi?) / no such group: list again")
        try:
            async with self.sm() as s, s.begin():
                try:
                    if data.intent is not None:
                        taught = await misses.to_intent(
                            s, commune.id, group, data.intent, who.staff_id
                        )
                        audit.action(
                            s,
                            commune.id,
                            who.staff_id,
                            "intent_taught",
                            "knowledge",
                            data.intent,
                            group.question,
                        )
                    else:
                        assert data.answer is not None
                        item, created = await misses.to_entry(
                            s, commune.id, group, data.answer, data.question
                        )
                except misses.PromoteError as exc:
                    raise error(400, "không chuyển được / not promoted", problem=str(exc)) from None
                if data.intent is None:
                    entry = next(
                        e
                        for e in await store.entries(s, Owner(commune_id=commune.id))
                        if e.key == item.key
                    )
                    _logged(s, who, entry, "knowledge_created" if created else "knowledge_changed")
                    out = {"group": group.id, "entry": entry_json(entry), "created": created}
                else:
                    out = {"group": group.id, "intent": data.intent, "examples": taught}
        except IntegrityError:
            raise _at_once() from None
        if data.intent is not None:  # this process answers with them now; others at start
            from bot.nlu import embedded

            async with self._teaching:
                async with self.sm() as s:
                    examples = await misses.staff_examples(s)
                await asyncio.to_thread(embedded.with_staff_examples, examples)
        return json_response(out, status=201 if data.intent is None else 200)


def _read(body: bytes, suffix: str) -> list[io.Item]:
    """The body through ``io.read`` itself (size, UTF-8, format, no entries, every row's
    rules), as the CLI reads a file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"body{suffix}"
        path.write_bytes(body)
        return io.read(path)


def _logged(s: AsyncSession, who: Identity, entry: KnowledgeEntry, action: str) -> None:
    """The change's line in the console's log: under the entry's commune, or the operator's own
    for a province's entry."""
    audit.action(
        s,
        entry.commune_id or who.commune_id,
        who.staff_id,
        action,
        "knowledge",
        entry.id,
        entry.question,
    )
