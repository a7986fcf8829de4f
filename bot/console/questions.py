"""The console's "What residents ask" and "Knowledge" screens (issue 13, docs/console.md).

``/console/questions``: the commune's missed and unsure questions, grouped (biggest first), each
one form away from a knowledge entry or from training examples of an intent.
``/console/knowledge``: the commune's entries and its province's (marked), edited, deleted,
hidden (an inherited one), imported and exported as the knowledge CSV.

Nothing here re-implements a rule: who may do what is the staff JSON API's
(``bot.api.knowledge``: everyone reads entries, officers and leaders write the commune's own and
see misses), groups and promotions are ``bot.knowledge.misses``, one entry is checked and saved
by ``bot.knowledge.entries``, a file by ``bot.knowledge.io`` (nothing written on an error), a
hidden province entry as ``bot knowledge hide`` stores it. An entry the commune does not answer
from (another commune's, another province's) is the 404 of one that does not exist.
"""

from __future__ import annotations

import asyncio
import hmac
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from sqlalchemy.exc import IntegrityError

from bot import audit
from bot.api.knowledge import MISSES_ROLES, READ, WRITE_COMMUNE
from bot.console import auth
from bot.console.web import add_screen, vn_date
from bot.i18n import _, use_language
from bot.knowledge import entries, io, misses, store
from bot.knowledge.store import Owner
from bot.nlu.intents import TITLES
from bot.store.models import KnowledgeEntry
from bot.text import number

ROUTES = (
    ("GET", "/console/questions", "questions"),
    ("POST", r"/console/questions/{group:[0-9a-f]{12}}/entry", "to_entry"),
    ("POST", r"/console/questions/{group:[0-9a-f]{12}}/intent", "to_intent"),
    ("GET", "/console/knowledge", "knowledge"),
    ("GET", "/console/knowledge/export", "export"),
    ("POST", "/console/knowledge/import", "import_file"),
    ("GET", r"/console/knowledge/{id}", "entry"),
    ("POST", r"/console/knowledge/{id}", "save_entry"),
    ("POST", r"/console/knowledge/{id}/delete", "delete_entry"),
    ("POST", r"/console/knowledge/{id}/hide", "hide_entry"),
)


def may_see_misses(role: str) -> bool:
    return role in MISSES_ROLES


def may_read_knowledge(role: str) -> bool:
    return role in READ


def may_write(role: str) -> bool:
    """The commune's own entries (the province's are the province operator's, via the API)."""
    return role in WRITE_COMMUNE


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _dmy(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


class Questions:
    """The two screens' handlers, over the console's plumbing (``bot.console.web.Console``)."""

    def __init__(self, console: Any) -> None:
        self.c = console
        self.sm = console.sm

    # -- plumbing ---------------------------------------------------------------------------
    async def _user(self, request: web.Request, roles: tuple[str, ...]) -> auth.ConsoleUser:
        user = await self.c.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if user.role not in roles:
            raise self._forbidden(request, user)
        return user

    def _forbidden(self, request: web.Request, user: auth.ConsoleUser) -> web.HTTPException:
        with use_language(self.c.language(request)):
            response = self.c.render(
                request,
                "questions_message.html",
                {
                    "title": _("Không có quyền"),
                    "text": _(
                        "Trang này dành cho cán bộ, công chức và lãnh đạo xã. Vui lòng liên hệ "
                        "lãnh đạo xã nếu anh/chị cần dùng."
                    ),
                },
                status=403,
                user=user,
            )
        return _raised(response, web.HTTPForbidden)

    async def _form(
        self, request: web.Request, user: auth.ConsoleUser, upload: bool = False
    ) -> dict[str, Any]:
        """The POSTed form (files included) when its CSRF token is the session's. ``upload``:
        the knowledge file's form, read up to the file limit (``io.MAX_FILE_BYTES``: a
        commune's 1,000 entries are more than the service's other bodies may be); a bigger
        one is said in words (413)."""
        if not self.c.same_origin(request):
            raise self._refused(request)
        if upload:
            limit = io.MAX_FILE_BYTES + self.c.settings.service.max_body_bytes
            request = request.clone(client_max_size=limit)
        try:
            data = await request.post()
        except web.HTTPRequestEntityTooLarge:
            with use_language(self.c.language(request)):
                response = self.c.message(
                    request,
                    413,
                    _("Tệp quá {n} MB.").format(n=io.MAX_FILE_BYTES // 1_000_000),
                    _("Vui lòng chọn tệp nhỏ hơn rồi thử lại."),
                )
            too_big = web.HTTPRequestEntityTooLarge(
                io.MAX_FILE_BYTES, text=response.text, content_type="text/html"
            )
            for name in ("Content-Security-Policy", "Cache-Control", "X-Frame-Options"):
                too_big.headers[name] = response.headers[name]
            raise too_big from None
        except (LookupError, UnicodeDecodeError):
            raise self._refused(request) from None
        sent = data.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(sent, user.csrf):
            raise self._refused(request)
        return dict(data)

    def _refused(self, request: web.Request) -> web.HTTPException:
        return _raised(self.c.refused_form(request), web.HTTPForbidden)

    @staticmethod
    def _text(data: dict[str, Any], name: str) -> str:
        value = data.get(name)
        return value if isinstance(value, str) else ""

    # -- what residents ask -----------------------------------------------------------------
    async def questions(
        self,
        request: web.Request,
        *,
        user: auth.ConsoleUser | None = None,
        error: tuple[str, str, str] | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        user = user or await self._user(request, MISSES_ROLES)
        found = await self._groups(user)
        with use_language(self.c.language(request)):
            intents = sorted(
                ((name, _(TITLES[name]) if name in TITLES else name) for name in misses.intents()),
                key=lambda pair: pair[1],
            )
            done = {
                "entry": _("Đã thêm câu trả lời. Người dân hỏi lại sẽ được trả lời ngay."),
                "intent": _("Đã dạy trợ lý các câu hỏi này."),
            }.get(request.query.get("done", ""))
        return self.c.render(
            request,
            "questions.html",
            {
                "groups": [
                    {
                        "id": g.id,
                        "question": g.question,
                        "count": g.count,
                        "texts": [t.text for t in g.texts],
                        "others": [t.text for t in g.texts if t.text != g.question],
                        "last_seen": self.c_date(g.last_seen),
                        "intent": g.intent or "",
                    }
                    for g in found
                ],
                "intents": intents,
                "error": error,
                "done": done,
                "active": "questions",
            },
            status=status,
            user=user,
        )

    def c_date(self, value: Any) -> str:

        return vn_date(value)

    async def _groups(self, user: auth.ConsoleUser) -> list[misses.Group]:
        """The commune's groups: misses read, then grouped off the event loop (as the API)."""
        async with self.sm() as s:
            said = await misses.misses(s, user.commune_id, user.province_code)
        return await asyncio.to_thread(misses.group, said)

    async def _group(self, request: web.Request, user: auth.ConsoleUser) -> misses.Group | None:
        wanted = request.match_info["group"]
        return next((g for g in await self._groups(user) if g.id == wanted), None)

    def _gone(self, request: web.Request, user: auth.ConsoleUser) -> web.Response:
        with use_language(self.c.language(request)):
            return self.c.render(
                request,
                "questions_message.html",
                {
                    "title": _("Không còn nhóm câu hỏi này"),
                    "text": _(
                        "Nhóm này đã được xử lý hoặc danh sách đã thay đổi. Vui lòng mở lại "
                        "trang câu hỏi."
                    ),
                },
                status=404,
                user=user,
            )

    async def to_entry(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, MISSES_ROLES)
        data = await self._form(request, user)
        group_id = request.match_info["group"]
        answer, question = self._text(data, "answer").strip(), self._text(data, "question")
        with use_language(self.c.language(request)):
            try:
                g = await self._group(request, user)
                if g is None:
                    return self._gone(request, user)
                async with self.sm() as s, s.begin():
                    if not answer:
                        raise misses.PromoteError(_("Vui lòng nhập câu trả lời."))
                    item, created = await misses.to_entry(s, user.commune_id, g, answer, question)
                    entry = next(
                        e
                        for e in await store.entries(s, Owner(commune_id=user.commune_id))
                        if e.key == item.key
                    )
                    _logged(s, user, "knowledge_created" if created else "knowledge_changed", entry)
            except misses.PromoteError as exc:
                return await self.questions(
                    request, user=user, error=(group_id, self._problem(exc), answer), status=400
                )
            except IntegrityError:  # the same question saved by another request meanwhile
                return await self.questions(
                    request, user=user, error=(group_id, self._at_once(), answer), status=409
                )
        raise web.HTTPSeeOther("/console/questions?done=entry")

    async def to_intent(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, MISSES_ROLES)
        data = await self._form(request, user)
        group_id = request.match_info["group"]
        intent = self._text(data, "intent")
        with use_language(self.c.language(request)):
            try:
                g = await self._group(request, user)
                if g is None:
                    return self._gone(request, user)
                async with self.sm() as s, s.begin():
                    if intent not in misses.intents():
                        raise misses.PromoteError(
                            _("Vui lòng chọn một nhóm câu hỏi trong danh sách.")
                        )
                    await misses.to_intent(s, user.commune_id, g, intent, user.staff_id)
                    audit.action(
                        s,
                        user.commune_id,
                        user.staff_id,
                        "intent_taught",
                        "knowledge",
                        intent,
                        g.question,
                    )
            except misses.PromoteError as exc:
                return await self.questions(
                    request, user=user, error=(group_id, str(exc), ""), status=400
                )
            except IntegrityError:
                return await self.questions(
                    request, user=user, error=(group_id, self._at_once(), ""), status=409
                )
        # this process answers with them now (others at their start), as the API does
        from bot.nlu.embedded import with_staff_examples

        async with self.sm() as s:
            examples = await misses.staff_examples(s)
        await asyncio.to_thread(with_staff_examples, examples)
        raise web.HTTPSeeOther("/console/questions?done=intent")

    @staticmethod
    def _at_once() -> str:
        return _("Có thay đổi khác cùng lúc; không có gì thay đổi. Vui lòng tải lại rồi làm lại.")

    @staticmethod
    def _problem(exc: Exception) -> str:
        """The knowledge rules' message (naming the row or field), after our own sentence."""
        return _("Chưa lưu được, không có gì thay đổi: {problem}").format(problem=str(exc))

    # -- knowledge --------------------------------------------------------------------------
    async def knowledge(
        self,
        request: web.Request,
        *,
        user: auth.ConsoleUser | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        user = user or await self._user(request, READ)
        async with self.sm() as s:
            own = await store.entries(s, Owner(commune_id=user.commune_id))
            inherited = (
                await store.entries(s, Owner(province_code=user.province_code))
                if user.province_code
                else []
            )
        mine = {e.key: e for e in own}
        with use_language(self.c.language(request)):
            done = {
                "saved": _("Đã lưu."),
                "deleted": _("Đã xóa."),
                "hidden": _("Đã ẩn câu trả lời của tỉnh cho xã mình."),
                "shown": _("Câu trả lời của tỉnh được dùng lại."),
            }.get(request.query.get("done", ""))
            imported = number(request.query.get("imported", ""), 7)
            if imported is not None:
                done = _("Đã nhập {n} câu hỏi từ tệp.").format(n=imported)
        return self.c.render(
            request,
            "knowledge.html",
            {
                "own": [self._row(e) for e in own if not e.hidden],
                "province": [
                    {
                        **self._row(e),
                        "hidden": e.key in mine and bool(mine[e.key].hidden),
                        "overridden": e.key in mine and not mine[e.key].hidden,
                    }
                    for e in inherited
                ],
                "writer": may_write(user.role),
                "error": error,
                "done": done,
                "active": "knowledge",
            },
            status=status,
            user=user,
        )

    def _row(self, e: KnowledgeEntry) -> dict[str, Any]:
        return {
            "id": e.id,
            "question": e.question,
            "answer": e.answer,
            "variants": list(e.variants or ()),
            "valid_from": _dmy(e.valid_from),
            "valid_until": _dmy(e.valid_until),
            "updated_at": self.c_date(e.updated_at),
            "province": e.commune_id is None,
        }

    async def _entry(self, s: Any, user: auth.ConsoleUser, raw: str) -> KnowledgeEntry:
        """The entry ``raw`` when the commune answers from it (its own, or its province's);
        anything else is the 404 of an entry that does not exist (as the API's)."""
        try:
            key = int(raw)
        except ValueError:
            raise web.HTTPNotFound() from None
        if not 0 < key < 10**18:
            raise web.HTTPNotFound()
        entry = await s.get(KnowledgeEntry, key)
        if entry is None or not (
            entry.commune_id == user.commune_id
            or (
                entry.commune_id is None
                and user.province_code is not None
                and entry.province_code == user.province_code
            )
        ):
            raise web.HTTPNotFound()
        return entry

    async def entry(
        self,
        request: web.Request,
        *,
        user: auth.ConsoleUser | None = None,
        error: str | None = None,
        form: dict[str, str] | None = None,
        status: int = 200,
    ) -> web.StreamResponse:
        user = user or await self._user(request, READ)
        async with self.sm() as s:
            entry = await self._entry(s, user, request.match_info["id"])
            row = self._row(entry)
            hidden_here = False
            if entry.commune_id is None:
                own = await store.entries(s, Owner(commune_id=user.commune_id))
                hidden_here = any(e.key == entry.key and e.hidden for e in own)
        values = form or {
            "question": row["question"],
            "answer": row["answer"],
            "variants": "\n".join(row["variants"]),
            "valid_from": row["valid_from"],
            "valid_until": row["valid_until"],
        }
        return self.c.render(
            request,
            "knowledge_entry.html",
            {
                "entry": row,
                "values": values,
                "writer": may_write(user.role),
                "hidden_here": hidden_here,
                "error": error,
                "active": "knowledge",
            },
            status=status,
            user=user,
        )

    async def save_entry(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, WRITE_COMMUNE)
        data = await self._form(request, user)
        form = {
            name: self._text(data, name)
            for name in ("question", "answer", "variants", "valid_from", "valid_until")
        }
        with use_language(self.c.language(request)):
            try:
                async with self.sm() as s, s.begin():
                    entry = await self._entry(s, user, request.match_info["id"])
                    if entry.commune_id is None:  # the province's: hide it, or answer it yourselves
                        raise web.HTTPNotFound()
                    item = entries.item_from(
                        {
                            **entries.fields_of(entry),
                            "question": form["question"],
                            "answer": form["answer"],
                            "variants": _lines(form["variants"]),
                            "valid_from": form["valid_from"],
                            "valid_until": form["valid_until"],
                        }
                    )
                    owner = entries.owner_of(entry)
                    if any(
                        e.key == item.key and e.id != entry.id
                        for e in await store.entries(s, owner)
                    ):
                        raise io.KnowledgeFileError(
                            _("Xã đã có một câu hỏi như thế này; vui lòng sửa câu hỏi đó.")
                        )
                    await entries.update(s, entry, item)
                    _logged(s, user, "knowledge_changed", entry)
            except io.KnowledgeFileError as exc:
                return await self.entry(
                    request, user=user, error=self._problem(exc), form=form, status=400
                )
            except IntegrityError:
                return await self.entry(
                    request, user=user, error=self._at_once(), form=form, status=409
                )
        raise web.HTTPSeeOther("/console/knowledge?done=saved")

    async def delete_entry(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, WRITE_COMMUNE)
        await self._form(request, user)
        async with self.sm() as s, s.begin():
            entry = await self._entry(s, user, request.match_info["id"])
            if entry.commune_id is None:
                raise web.HTTPNotFound()  # a province's entry is hidden, not deleted
            was_hidden = bool(entry.hidden)
            _logged(s, user, "knowledge_shown" if was_hidden else "knowledge_deleted", entry)
            await entries.remove(s, entry)
        raise web.HTTPSeeOther("/console/knowledge?done=" + ("shown" if was_hidden else "deleted"))

    async def hide_entry(self, request: web.Request) -> web.StreamResponse:
        """An inherited entry hidden from the commune, as `bot knowledge hide` stores it: the
        commune's entry with the province's question, no answer, ``hidden``. Showing it again
        is deleting that row (``hidden_only``)."""
        user = await self._user(request, WRITE_COMMUNE)
        data = await self._form(request, user)
        show = self._text(data, "show") == "1"
        async with self.sm() as s, s.begin():
            entry = await self._entry(s, user, request.match_info["id"])
            if entry.commune_id is not None:
                raise web.HTTPNotFound()
            owner = Owner(commune_id=user.commune_id)
            _logged(s, user, "knowledge_shown" if show else "knowledge_hidden", entry)
            if show:
                await store.remove(s, owner, entry.key, hidden_only=True)
            else:
                own = next((e for e in await store.entries(s, owner) if e.key == entry.key), None)
                if own is None:  # an own answer already overrides it: nothing to hide
                    await store.save(
                        s, owner, [io.make_item("the question", entry.question, "", hidden=True)]
                    )
        raise web.HTTPSeeOther("/console/knowledge?done=" + ("shown" if show else "hidden"))

    async def import_file(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, WRITE_COMMUNE)
        data = await self._form(request, user, upload=True)
        upload = data.get("file")
        with use_language(self.c.language(request)):
            if not isinstance(upload, web.FileField):
                return await self.knowledge(
                    request, user=user, error=_("Vui lòng chọn tệp CSV để nhập."), status=400
                )
            name = Path(upload.filename or "tep.csv").name
            suffix = Path(name).suffix.lower()
            body = upload.file.read()
            try:
                if suffix not in (".csv", ".txt"):
                    raise io.KnowledgeFileError(
                        _("{name}: vui lòng chọn tệp .csv (Excel: lưu dạng “CSV UTF-8”).").format(
                            name=name
                        )
                    )
                items = await asyncio.to_thread(_read, body, name)
                async with self.sm() as s, s.begin():
                    saved = await store.save(
                        s,
                        Owner(commune_id=user.commune_id),
                        items,
                        replace=self._text(data, "replace") == "1",
                    )
                    audit.action(
                        s,
                        user.commune_id,
                        user.staff_id,
                        "knowledge_imported",
                        "knowledge",
                        None,
                        f"{name}: +{saved.added} ~{saved.updated} -{saved.deleted}",
                        {"added": saved.added, "updated": saved.updated, "deleted": saved.deleted},
                    )
            except io.KnowledgeFileError as exc:
                return await self.knowledge(
                    request,
                    user=user,
                    error=_("Không nhập được tệp, không có gì thay đổi: {problem}").format(
                        problem=str(exc)
                    ),
                    status=400,
                )
            except IntegrityError:
                return await self.knowledge(
                    request,
                    user=user,
                    error=_("Có thay đổi khác cùng lúc; không có gì thay đổi. Vui lòng nhập lại."),
                    status=409,
                )
        raise web.HTTPSeeOther(f"/console/knowledge?imported={len(items)}")

    async def export(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request, READ)
        async with self.sm() as s:
            items = [
                store.item_of(e) for e in await store.entries(s, Owner(commune_id=user.commune_id))
            ]
        return web.Response(
            text=io.write_csv(items),
            content_type="text/csv",
            charset="utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{user.commune_code}.csv"',
                "Cache-Control": "no-store",
            },
        )


def _logged(s: Any, user: auth.ConsoleUser, action: str, entry: KnowledgeEntry) -> None:
    """The change's line in the console's log, under the user's commune (a province's entry
    hidden or shown again is the commune's own doing)."""
    audit.action(s, user.commune_id, user.staff_id, action, "knowledge", entry.id, entry.question)


def _raised(response: web.Response, kind: type[web.HTTPException]) -> web.HTTPException:
    """A rendered page as the exception a handler raises (the page's headers kept)."""
    exc = kind(text=response.text, content_type="text/html")
    for name in ("Content-Security-Policy", "Cache-Control", "X-Frame-Options", "Referrer-Policy"):
        if name in response.headers:
            exc.headers[name] = response.headers[name]
    return exc


def _read(body: bytes, name: str) -> list[io.Item]:
    """The upload through ``io.read`` itself (size, UTF-8, delimiters, every row's rules), as
    the CLI reads a file; its messages name the file and the row."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(body)
        return io.read(path)


def setup(app: web.Application, console_key: web.AppKey[Any]) -> None:
    """The screens' routes on the service's app, over the console registered at ``console_key``."""
    add_screen(app, ROUTES, lambda app: Questions(app[console_key]))
    # the navigation shows "Câu hỏi" only to those who may see residents' questions
    aiohttp_jinja2.get_env(app).globals["may_see_misses"] = may_see_misses
    aiohttp_jinja2.get_env(app).globals["may_read_knowledge"] = may_read_knowledge
