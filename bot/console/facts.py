"""The console's "Commune facts" screen (issue 13, docs/console-facts.md): the commune's hours,
address and phone, its offices', the health station's, and each village's head and
propagandists' public contacts — edited here, answered from at once.

What is stored and how answers get it is ``bot.facts_store`` (config.yml's facts with the edits
on top, a cache forgotten on every save in every process). Here: who may, the form, its checks.
A value typed equal to config's is stored as "not edited", so the page always says truthfully
which values are config's. Officers and leaders edit their own commune, a province operator
the communes of their province; anyone else, and any other commune, gets the 404 of a page
that does not exist. A bad value: its message beside the field, nothing saved."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy import select

from bot import audit, facts_store
from bot.config import Commune as CommuneConfig
from bot.config import OfficeHours
from bot.console import auth
from bot.console.web import CONSOLE, add_screen, vn_date
from bot.conversation.facts import village_label
from bot.feedback import phone as phones
from bot.i18n import N_, _, use_language
from bot.procedures import procedures as procedure_list
from bot.store.models import Commune as CommuneRow
from bot.tenants import Tenant
from bot.text import number, search_key

EDITORS = ("officer", "leader", "operator")
MAX_ADDRESS = 300
MAX_NAME = 120
MAX_PROPAGANDISTS = 10
MAX_PROCEDURE_TEXT = 500
DAY_NAMES = (
    N_("Thứ Hai"),
    N_("Thứ Ba"),
    N_("Thứ Tư"),
    N_("Thứ Năm"),
    N_("Thứ Sáu"),
    N_("Thứ Bảy"),
    N_("Chủ nhật"),
)
ROUTES = (
    ("GET", "/console/facts", "own"),
    ("GET", r"/console/facts/{code:\d{5}}", "page"),
    ("POST", r"/console/facts/{code:\d{5}}", "save"),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Invalid(Exception):
    """The form's problems, by field name (messages in the current language)."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


@dataclass
class Field:
    name: str  # the form field
    label: str
    value: str
    edited: bool = False
    config: str = ""  # config's value, shown beside an edited one
    kind: str = "text"  # text, tel, url, select, textarea
    error: str = ""
    options: list[tuple[str, str]] = field(default_factory=list)  # a select's (value, label)


@dataclass
class Section:
    """One form of the page: the commune, an office, the health station, a village."""

    id: str  # "commune", "office-<code>", "health", "village-<n>"
    title: str
    fields: list[Field] = field(default_factory=list)
    hours: list[Field] = field(default_factory=list)  # one per weekday, when it has hours
    people: list[tuple[Field, Field]] = field(default_factory=list)  # propagandists
    groups: list[tuple[str, list[Field]]] = field(default_factory=list)  # procedures
    resettable: bool = True
    last: str = ""  # "Sửa lần cuối: X, dd/mm/yyyy"
    edited: bool = False


# -- reading what staff typed ------------------------------------------------------------------
def _clean(text: str, limit: int, name: str, errors: dict[str, str]) -> str:
    value = unicodedata.normalize("NFC", _CONTROL.sub(" ", text)).strip()
    value = re.sub(r"\s+", " ", value)
    if len(value) > limit:
        errors[name] = _("Quá dài: tối đa {n} ký tự.").format(n=limit)
    return value


def _phone(
    text: str, name: str, errors: dict[str, str], required: bool = False, config: str | None = None
) -> str:
    """The number in the form's way of showing it ("0912 345 678"); config's own value is
    taken as it is (config may hold a number this check would not write, e.g. an extension)."""
    text = text.strip()
    if config and text == config:
        return text
    if not text:
        if required:
            errors[name] = _("Vui lòng nhập số điện thoại.")
        return ""
    number = phones.normalise(text)
    if number is None or len(text) > 40:
        errors[name] = _(
            "Số điện thoại không đúng. Ví dụ: 0912 345 678 (di động) hoặc 0214 385 2123 (cố định)."
        )
        return text
    return phones.display(number)


def _week(data: dict[str, str], prefix: str, errors: dict[str, str], required: bool) -> list:
    days = []
    for i in range(7):
        name = f"{prefix}{i}"
        try:
            days.append(facts_store.parse_day(data.get(name, "")[:200]))
        except facts_store.HoursError as exc:
            errors[name] = _(
                "Không đọc được “{span}”. Viết giờ theo dạng 07:30-11:30, 13:30-17:00; để trống "
                "nếu nghỉ."
            ).format(span=str(exc)[:60])
            days.append([])
    if required and not any(days) and not any(k.startswith(prefix) for k in errors):
        errors[f"{prefix}0"] = _("Vui lòng nhập giờ làm việc ít nhất một ngày.")
    return facts_store.week_to_periods(days)


def _or_config(value: Any, config: Any) -> Any:
    """``None`` (not edited) when the value is config's own."""
    return None if value == config else value


def _hours_of(periods: list[OfficeHours]) -> list[dict[str, str]]:
    """Config's hours normalised as a save writes them (so an untouched form is no edit)."""
    week = facts_store.periods_to_week(periods)
    return facts_store.week_to_periods([facts_store.parse_day(day) for day in week])


@dataclass
class Place:
    """A village's row to add (``was`` None) or rename (``facts_store.place_village``)."""

    name: str
    kind: str
    was: str | None = None


def changes_for(
    config: CommuneConfig,
    section: str,
    data: dict[str, str],
    edited: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], Place | None]:
    """The facts a section's form sets (key → value, ``None``: config's) over the stored
    ``edited`` ones, and the village row to add or rename; raises ``Invalid``."""
    edited = edited or {}
    errors: dict[str, str] = {}
    reset = data.get("reset") == "1"
    out: dict[str, Any] = {}
    place: Place | None = None
    if section == "commune":
        address = _clean(data.get("address", ""), MAX_ADDRESS, "address", errors)
        if not address:
            errors["address"] = _("Vui lòng nhập địa chỉ.")
        phone = _phone(data.get("phone", ""), "phone", errors, True, config.phone)
        hours = _week(data, "hours_", errors, required=True)
        out = {
            "commune.address": _or_config(address, config.address),
            "commune.phone": _or_config(phone, config.phone),
            "commune.office_hours": _or_config(hours, _hours_of(config.office_hours)),
        }
    elif section.startswith("office-"):
        office = next((o for o in config.offices if f"office-{o.code}" == section), None)
        if office is None:
            raise web.HTTPNotFound()
        key = f"office.{office.code}."
        address = _clean(data.get("address", ""), MAX_ADDRESS, "address", errors)
        phone = _phone(data.get("phone", ""), "phone", errors, config=office.phone)
        hours = _week(data, "hours_", errors, required=False)
        out = {
            key + "address": _or_config(address, office.address or ""),
            key + "phone": _or_config(phone, office.phone or ""),
            key + "hours": _or_config(hours, _hours_of(office.hours)),
        }
    elif section == "health" and facts_store.health_office(config) is None:
        station = config.health_station
        name = _clean(data.get("name", ""), MAX_NAME, "name", errors)
        address = _clean(data.get("address", ""), MAX_ADDRESS, "address", errors)
        phone = _phone(
            data.get("phone", ""), "phone", errors, config=station.phone if station else None
        )
        hours = _week(data, "hours_", errors, required=False)
        out = {
            "health.name": _or_config(name, station.name if station else "") or None,
            "health.address": _or_config(address, (station.address if station else None) or ""),
            "health.phone": _or_config(phone, (station.phone if station else None) or ""),
            "health.hours": _or_config(hours, _hours_of(station.hours if station else [])),
        }
    elif section == "procedures":
        portal = _clean(data.get("portal", ""), MAX_ADDRESS, "portal", errors)
        if portal and not re.match(r"^https?://[^\s/]+\.[^\s]+$", portal):
            errors["portal"] = _(
                "Địa chỉ trang web không đúng. Ví dụ: https://dichvucong.laocai.gov.vn"
            )
        out[facts_store.PORTAL] = _or_config(portal, config.public_service_portal or "")
        for key in sorted(procedure_list()):
            local = config.procedures.get(key)
            for what in facts_store.PROCEDURE_FIELDS:
                name = f"{what}_{key}"
                value = _clean(data.get(name, ""), MAX_PROCEDURE_TEXT, name, errors)
                was = getattr(local, what) if local else None
                out[f"procedure.{key}.{what}"] = _or_config(value, was or "")
    elif section == "village-new":
        if reset:
            raise web.HTTPNotFound()
        villages = facts_store.village_list(config, edited)
        name = _village_name(data.get("village_name", ""), errors, villages)
        kind = data.get("village_kind", "")
        if kind not in facts_store.VILLAGE_KINDS:
            errors["village_kind"] = _("Vui lòng chọn loại: thôn, bản, tổ dân phố…")
        head = _contact(data, "head_name", "head_phone", errors)
        if errors:
            raise Invalid(errors)
        added = [*(edited.get(facts_store.ADDED) or []), {"name": name, "kind": kind}]
        out = {facts_store.ADDED: added}
        if head:
            out[f"village.{name}.head"] = head
        return out, Place(name, kind)
    elif section.startswith("village-"):
        index = section.removeprefix("village-")
        villages = facts_store.village_list(config, edited)
        at = number(index, 6)
        if at is None or at >= len(villages):
            raise web.HTTPNotFound()
        current = villages[at]
        # config's own village (renamed or not), or one staff added (nothing in config)
        village = config.villages[at] if at < len(config.villages) else None
        key = f"village.{current.name}."
        new_name = current.name
        if "village_name" in data and not reset:
            new_name = _village_name(data["village_name"], errors, villages, current.name)
        known = frozenset(
            p.phone
            for p in [current.head, *current.propagandists]
            + ([village.head, *village.propagandists] if village else [])
            if p is not None and p.phone
        )
        head = _contact(data, "head_name", "head_phone", errors, known)
        people = []
        for i in range(MAX_PROPAGANDISTS):
            person = _contact(data, f"p_name_{i}", f"p_phone_{i}", errors, known)
            if person:
                people.append(person)
        config_head = _as_contact(village.head) if village else None
        config_people = [_as_contact(p) for p in village.propagandists] if village else []
        out = {
            key + "head": _or_config(head, config_head) if head or config_head else None,
            key + "propagandists": _or_config(people, config_people),
        }
        if head is None and config_head is not None:
            out[key + "head"] = {}  # removed: an empty contact says "none" over config's
        if reset:
            return dict.fromkeys(out), None
        if errors:
            raise Invalid(errors)
        if new_name != current.name:
            out = _renamed(config, edited, out, village, current.name, new_name)
            place = Place(new_name, current.kind, current.name)
        return out, place
    else:
        raise web.HTTPNotFound()
    if reset:
        return dict.fromkeys(out), None
    if errors:
        raise Invalid(errors)
    return out, place


def _renamed(
    config: CommuneConfig,
    edited: dict[str, Any],
    out: dict[str, Any],
    village: Any,
    old: str,
    new: str,
) -> dict[str, Any]:
    """A village's rename as facts: config's village in ``villages.renamed`` (dropped when it
    gets config's name back), an added one's entry in ``villages.added``; its own keys
    (``village.<name>.…``) move to the new name."""
    moved: dict[str, Any] = {}
    for key, value in out.items():
        moved[key] = None
        moved[f"village.{new}." + key.rpartition(".")[2]] = value
    if village is not None:
        renamed = dict(edited.get(facts_store.RENAMED) or {})
        if new == village.name:
            renamed.pop(village.name, None)
        else:
            renamed[village.name] = new
        moved[facts_store.RENAMED] = renamed or None
    else:
        moved[facts_store.ADDED] = [
            {**v, "name": new} if v.get("name") == old else v
            for v in edited.get(facts_store.ADDED) or []
        ]
    # a key kept under the old name and not on this form would be left behind: move it too
    for key, value in edited.items():
        if key.startswith(f"village.{old}.") and key not in out:
            moved[key] = None
            moved[f"village.{new}." + key.rpartition(".")[2]] = value
    return moved


def _village_name(
    text: str, errors: dict[str, str], villages: list[Any], current: str | None = None
) -> str:
    """A village's new name: typed, not too long, and no other village of the commune's
    (accents and case aside)."""
    name = _clean(text, MAX_NAME, "village_name", errors)
    if not name:
        errors["village_name"] = _("Vui lòng nhập tên thôn.")
        return current or ""
    key = search_key(name)
    if any(search_key(v.name) == key and v.name != current for v in villages):
        errors["village_name"] = _("Xã đã có thôn “{name}”.").format(name=name)
    return name


def _as_contact(contact: Any) -> dict[str, str] | None:
    if contact is None:
        return None
    said = {"name": contact.name}
    if contact.phone:
        said["phone"] = contact.phone
    return said  # a title config gives is kept while the contact is config's


def _contact(
    data: dict[str, str],
    name_field: str,
    phone_field: str,
    errors: dict[str, str],
    known: frozenset[str] = frozenset(),
) -> dict[str, str] | None:
    name = _clean(data.get(name_field, ""), MAX_NAME, name_field, errors)
    typed = data.get(phone_field, "").strip()
    phone = _phone(typed, phone_field, errors, config=typed if typed in known else None)
    if not name:
        if phone and phone_field not in errors:
            errors[name_field] = _("Vui lòng nhập họ tên người có số điện thoại này.")
        return None
    return {"name": name, "phone": phone} if phone else {"name": name}


# -- the page ----------------------------------------------------------------------------------
class FactsScreen:
    def __init__(self, console: Any, services: Any) -> None:
        self.c = console
        self.sm = services.sm
        self.coord = services.coord
        self.tenants = services.tenants

    async def _user(self, request: web.Request) -> auth.ConsoleUser:
        user = await self.c.user(request)
        if user is None:
            raise web.HTTPSeeOther("/console/login")
        if user.role not in EDITORS:
            raise web.HTTPNotFound()
        return user

    async def _tenant(self, user: auth.ConsoleUser, code: str) -> Tenant:
        """The commune when this user may edit it; else the 404 of one that does not exist."""
        tenant = self.tenants.by_code(code)
        if tenant is None:
            raise web.HTTPNotFound()
        if tenant.id == user.commune_id and user.role in ("officer", "leader"):
            return tenant
        if user.role == "operator" and user.province_code:
            async with self.sm() as s:
                province = (
                    await s.execute(
                        select(CommuneRow.province_code).where(CommuneRow.id == tenant.id)
                    )
                ).scalar_one_or_none()
            if province == user.province_code:
                return tenant
        raise web.HTTPNotFound()

    async def own(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        raise web.HTTPSeeOther(f"/console/facts/{user.commune_code}")

    async def page(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        tenant = await self._tenant(user, request.match_info["code"])
        return await self._render(request, user, tenant)

    async def save(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        tenant = await self._tenant(user, request.match_info["code"])
        data = await self.c.form(request, user.csrf)
        if data is None:
            return self.c.refused_form(request)
        section = data.get("section", "")
        with use_language(self.c.language(request)):
            try:
                async with self.sm() as s, s.begin():
                    edited = await facts_store.locked_edits(s, tenant.id)
                    changes, place = changes_for(tenant.config, section, data, edited)
                    changed = await facts_store.save(
                        s, tenant.id, changes, user.staff_id, user.name
                    )
                    detail: dict[str, Any] = {"keys": changed}
                    if place is not None:
                        try:
                            row = await facts_store.place_village(
                                s, tenant.id, place.name, place.kind, place.was
                            )
                        except facts_store.VillageTaken:
                            raise Invalid(
                                {
                                    "village_name": _(
                                        "Tên này đã có trong dữ liệu của xã (một thôn cũ); "
                                        "vui lòng chọn tên khác."
                                    )
                                }
                            ) from None
                        detail |= {"village_id": row.id, "village": place.name}
                        if place.was:
                            detail["renamed_from"] = place.was
                    if changed:  # the values themselves are in the facts' own history
                        audit.action(
                            s,
                            tenant.id,
                            user.staff_id,
                            "facts_changed",
                            "facts",
                            section[:64] or None,
                            ", ".join(changed),
                            detail,
                        )
            except Invalid as exc:
                return await self._render(
                    request, user, tenant, (section, data, exc.errors), status=400
                )
        if section == "village-new" and changed:
            section = f"village-{len(facts_store.village_list(tenant.config, edited))}"
        if changed:
            await facts_store.announce(self.coord, tenant.id)
        done = "saved" if changed else "same"
        raise web.HTTPSeeOther(f"/console/facts/{tenant.code}?done={done}#{section}")

    async def _render(
        self,
        request: web.Request,
        user: auth.ConsoleUser,
        tenant: Tenant,
        failed: tuple[str, dict[str, str], dict[str, str]] | None = None,
        status: int = 200,
    ) -> web.Response:
        async with self.sm() as s:
            facts_store.forget(tenant.id)  # staff see the store as it is, not a cache
            commune = await facts_store.effective(s, tenant.id, tenant.config)
            edited = (await facts_store.edits(s, tenant.id))[1]
            changes = await facts_store.history(s, tenant.id)
        with use_language(self.c.language(request)):
            sections = _sections(tenant.config, commune, edited, changes)
            if failed:
                _overlay(sections, *failed)
            done = {
                "saved": _("Đã lưu. Trợ lý trả lời người dân theo thông tin mới ngay từ bây giờ."),
                "same": _("Không có gì thay đổi."),
            }.get(request.query.get("done", ""))
            return self.c.render(
                request,
                "facts.html",
                {
                    "commune": commune,
                    "code": tenant.code,
                    "sections": sections,
                    "days": [_(d) for d in DAY_NAMES],
                    "history": [
                        {
                            "when": vn_date(c.changed_at),
                            "who": c.staff_name,
                            "what": _key_label(tenant.config, c.key),
                            "before": _said(c.before),
                            "after": _said(c.after),
                        }
                        for c in changes[:20]
                    ],
                    "done": done,
                    "failed": failed is not None,
                    "active": "facts",
                },
                status=status,
                user=user,
            )


def _said(value: Any) -> str:
    """A stored value as a line of text for the history (``None``: config's value)."""
    if value is None:
        return _("(theo cấu hình)")
    if isinstance(value, dict) and value and "name" not in value:  # villages.renamed
        return "; ".join(f"{a} → {b}" for a, b in value.items())
    if isinstance(value, dict):
        return ", ".join(v for v in (value.get("name"), value.get("phone")) if v) or _("(trống)")
    if isinstance(value, list):
        if value and isinstance(value[0], dict) and "days" in value[0]:
            return "; ".join(f"{p['days']} {p['open']}-{p['close']}" for p in value)
        return "; ".join(_said(v) for v in value) or _("(trống)")
    return str(value) or _("(trống)")


def _key_label(config: CommuneConfig, key: str) -> str:
    kind, _dot, rest = key.partition(".")
    where, _dot, what = rest.rpartition(".")
    labels = {
        "address": _("địa chỉ"),
        "phone": _("điện thoại"),
        "hours": _("giờ làm việc"),
        "office_hours": _("giờ làm việc"),
        "name": _("tên"),
        "head": _("trưởng thôn"),
        "propagandists": _("tuyên truyền viên"),
    }
    if key == facts_store.ADDED:
        return _("Thôn, bản được thêm")
    if key == facts_store.RENAMED:
        return _("Thôn, bản được đổi tên")
    if key == facts_store.PORTAL:
        return _("Cổng dịch vụ công của tỉnh")
    if kind == "procedure":
        code, _dot, field_name = rest.rpartition(".")
        found = procedure_list().get(code)
        aspect = {"fee": _("lệ phí"), "time_limit": _("thời hạn"), "note": _("ghi chú")}
        return f"{_(found.title) if found else code}: {aspect.get(field_name, field_name)}"
    label = labels.get(what, what)
    if kind == "commune":
        return f"{config.name}: {label}"
    if kind == "office":
        office = next((o for o in config.offices if o.code == where), None)
        return f"{office.name if office else where}: {label}"
    if kind == "health":
        return f"{_('Trạm y tế')}: {label}"
    return f"{where}: {label}"


def _hours_fields(
    periods: list[OfficeHours], config: list[OfficeHours], edited: bool
) -> list[Field]:
    week, before = facts_store.periods_to_week(periods), facts_store.periods_to_week(config)
    return [
        Field(f"hours_{i}", _(DAY_NAMES[i]), week[i], edited, before[i] if edited else "")
        for i in range(7)
    ]


def _last(changes: list[Any], prefix: str | tuple[str, ...]) -> str:
    latest = next((c for c in changes if c.key.startswith(prefix)), None)
    if latest is None:
        return ""
    return _("Sửa lần cuối bởi {who}, ngày {date}").format(
        who=latest.staff_name, date=vn_date(latest.changed_at, with_time=False)
    )


def _sections(
    config: CommuneConfig, commune: CommuneConfig, edited: dict[str, Any], changes: list[Any]
) -> list[Section]:
    def text_field(
        name: str, label: str, value: str | None, key: str, was: str | None, kind: str = "text"
    ) -> Field:
        on = key in edited
        return Field(name, label, value or "", on, (was or _("(trống)")) if on else "", kind)

    out = []
    s = Section("commune", _("Ủy ban nhân dân xã"), last=_last(changes, "commune."))
    s.fields = [
        text_field("address", _("Địa chỉ"), commune.address, "commune.address", config.address),
        text_field("phone", _("Điện thoại"), commune.phone, "commune.phone", config.phone, "tel"),
    ]
    s.hours = _hours_fields(
        commune.office_hours, config.office_hours, "commune.office_hours" in edited
    )
    out.append(s)
    for office, first in zip(commune.offices, config.offices, strict=True):
        key = f"office.{office.code}."
        s = Section(f"office-{office.code}", office.name, last=_last(changes, key))
        s.fields = [
            text_field("address", _("Địa chỉ"), office.address, key + "address", first.address),
            text_field("phone", _("Điện thoại"), office.phone, key + "phone", first.phone, "tel"),
        ]
        s.hours = _hours_fields(office.hours, first.hours, key + "hours" in edited)
        out.append(s)
    if facts_store.health_office(config) is None:
        station, original = commune.health_station, config.health_station
        s = Section("health", _("Trạm y tế xã"), last=_last(changes, "health."))
        s.fields = [
            text_field(
                "name",
                _("Tên"),
                station.name if station else "",
                "health.name",
                original.name if original else "",
            ),
            text_field(
                "address",
                _("Địa chỉ"),
                station.address if station else "",
                "health.address",
                original.address if original else "",
            ),
            text_field(
                "phone",
                _("Điện thoại"),
                station.phone if station else "",
                "health.phone",
                original.phone if original else "",
                "tel",
            ),
        ]
        s.hours = _hours_fields(
            station.hours if station else [],
            original.hours if original else [],
            "health.hours" in edited,
        )
        out.append(s)
    for i, village in enumerate(commune.villages):
        as_configured = config.villages[i] if i < len(config.villages) else None
        key = f"village.{village.name}."
        label = village_label(village)
        s = Section(f"village-{i}", label[:1].upper() + label[1:], last=_last(changes, key))
        head, was = village.head, as_configured.head if as_configured else None
        on = key + "head" in edited
        renamed = as_configured is not None and as_configured.name != village.name
        s.fields = [
            Field(
                "village_name",
                _("Tên thôn"),
                village.name,
                renamed,
                as_configured.name if renamed and as_configured else "",
            ),
            Field(
                "head_name",
                _("Trưởng thôn: họ tên"),
                head.name if head else "",
                on,
                (was.name if was else _("(trống)")) if on else "",
            ),
            Field(
                "head_phone",
                _("Trưởng thôn: điện thoại"),
                (head.phone or "") if head else "",
                on,
                ((was.phone or "") if was else "") if on else "",
                "tel",
            ),
        ]
        rows = [*village.propagandists][:MAX_PROPAGANDISTS]
        people_on = key + "propagandists" in edited
        for n, person in enumerate([*rows, None][:MAX_PROPAGANDISTS]):
            s.people.append(
                (
                    Field(f"p_name_{n}", _("Họ tên"), person.name if person else "", people_on),
                    Field(
                        f"p_phone_{n}",
                        _("Điện thoại"),
                        (person.phone or "") if person else "",
                        people_on,
                        kind="tel",
                    ),
                )
            )
        out.append(s)
    out.append(_new_village())
    out.append(_procedures(config, commune, edited, changes))
    for s in out:
        s.edited = any(f.edited for f in s.fields + s.hours) or any(a.edited for a, _b in s.people)
        s.edited = s.edited or any(f.edited for _t, group in s.groups for f in group)
    return out


def _new_village() -> Section:
    """The form that adds a village (with its head, if known)."""
    s = Section("village-new", _("Thêm thôn, bản, tổ dân phố"), resettable=False)
    s.fields = [
        Field("village_name", _("Tên (không kèm chữ “thôn”)"), ""),
        Field(
            "village_kind",
            _("Loại"),
            "thôn",
            kind="select",
            options=[(k, k) for k in facts_store.VILLAGE_KINDS],
        ),
        Field("head_name", _("Trưởng thôn: họ tên"), ""),
        Field("head_phone", _("Trưởng thôn: điện thoại"), "", kind="tel"),
    ]
    return s


def _procedures(
    config: CommuneConfig, commune: CommuneConfig, edited: dict[str, Any], changes: list[Any]
) -> Section:
    """The commune's own fees, time limits and notes by procedure, and its province's
    public-service portal (config's ``procedures:`` and ``public_service_portal``)."""
    s = Section(
        "procedures",
        _("Thủ tục hành chính: lệ phí, thời hạn, ghi chú của xã"),
        last=_last(changes, ("procedure.", facts_store.PORTAL)),
    )
    on = facts_store.PORTAL in edited
    s.fields = [
        Field(
            "portal",
            _("Cổng dịch vụ công của tỉnh"),
            commune.public_service_portal or "",
            on,
            (config.public_service_portal or _("(trống)")) if on else "",
            "url",
        )
    ]
    labels = {
        "fee": _("Lệ phí của xã (để trống: theo quy định chung)"),
        "time_limit": _("Thời hạn giải quyết của xã (để trống: theo quy định chung)"),
        "note": _("Ghi chú thêm vào mọi câu trả lời"),
    }
    for key, procedure in sorted(procedure_list().items()):
        local, first = commune.procedures.get(key), config.procedures.get(key)
        group = []
        for what in facts_store.PROCEDURE_FIELDS:
            on = f"procedure.{key}.{what}" in edited
            was = getattr(first, what) if first else None
            group.append(
                Field(
                    f"{what}_{key}",
                    labels[what],
                    (getattr(local, what) if local else None) or "",
                    on,
                    (was or _("(trống)")) if on else "",
                    "textarea",
                )
            )
        s.groups.append((_(procedure.title), group))
    return s


def _overlay(
    sections: list[Section], section: str, data: dict[str, str], errors: dict[str, str]
) -> None:
    """The failed form as it was typed, each problem beside its field."""
    for s in sections:
        if s.id != section:
            continue
        for f in (
            s.fields
            + s.hours
            + [f for pair in s.people for f in pair]
            + [f for _t, group in s.groups for f in group]
        ):
            f.value = data.get(f.name, "")[:400]
            f.error = errors.get(f.name, "")


def setup(app: web.Application, services_key: web.AppKey[Any]) -> None:
    """The screen's routes; its handlers' object is built at start-up, over the console's."""
    add_screen(app, ROUTES, lambda app: FactsScreen(app[CONSOLE], app[services_key]), once=True)
