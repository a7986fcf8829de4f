"""A province onboarded from one file (`bot tenants import FILE`, docs/onboarding.md): its
communes, their villages and households, their staff and propagandists.

The file is what a province office keeps in Excel: an XLSX with one sheet per kind ("Xã",
"Thôn", "Cán bộ"), or one CSV whose ``loai`` / ``kind`` column says the kind of each row.
Headers are Vietnamese with or without diacritics (or English); ``HEADERS`` lists them.

Three steps, each complete before the next starts:

1. ``read``: the file into rows (sheet, row number, kind, cells by field).
2. ``plan``: every row checked — against the national unit list (code, name, province),
   phones (``feedback.phone``), roles, offices, villages named by staff, duplicates — and
   compared with config.yml and the store: what would change. Any error → the list of errors,
   each naming its row, and nothing is written.
3. ``apply``: never half-applied. The order, and why:

   a. one database transaction: villages renamed, the new configuration's communes and
      villages mirrored (``tenants.mirror``), staff added through ``bot.staff.add_staff`` (a
      login and a one-time invitation as `bot staff add --login` gives them) or changed, the
      audit rows — flushed, so a constraint the checks missed fails here, before any file is
      touched;
   b. the new config.yml written beside the old one (a temporary file in the same folder,
      flushed to disk), loaded back with ``load_settings``, then put in place with
      ``os.replace`` (atomic: readers see the old file or the new one, never a part);
   c. the transaction committed. If the commit fails, the old file's bytes (kept in memory)
      are put back the same way — the compensation — and the error is raised.

   The database is written first and committed last because a transaction can be undone for
   free until its commit, while a file cannot; the file is the one step with a compensation,
   and it is cheap and local. A crash between (b) and (c) leaves config.yml ahead of the store:
   the communes and villages then reach the store at the next start (``tenants.sync``), and a
   second run of the same file adds the staff — the import is idempotent, so running it again
   is always the repair.

Idempotent: a commune, village or staff member already as the file says is not a change, and a
second run of the same file says "nothing to change". Nothing is ever removed: a village or a
staff member missing from the file stays (deactivate staff with `bot staff deactivate`).
"""

from __future__ import annotations

import copy
import csv
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import admin_units, audit, facts_store
from bot.config import (
    DEFAULT_OFFICES,
    ConfigError,
    Settings,
    Village,
    load_settings,
    settings_from_dict,
)
from bot.feedback import phone as phones
from bot.store.models import Commune as CommuneRow
from bot.store.models import Staff
from bot.store.models import Village as VillageRow
from bot.text import nfc, search_key, words_key
from bot.text import number as whole_number

MAX_FILE_BYTES = 10_000_000

#: the kinds of rows, and what a sheet or a ``loai`` cell may call each (folded, words only)
KINDS: dict[str, tuple[str, ...]] = {
    "commune": ("xa", "xa phuong", "phuong", "don vi", "commune", "communes"),
    "village": ("thon", "thon ban", "thon to", "thon to dan pho", "village", "villages"),
    "staff": ("can bo", "nhan su", "staff"),
}

#: each field and the headers that name it (folded, words only: "Số điện thoại" = "so dien thoai")
HEADERS: dict[str, tuple[str, ...]] = {
    "kind": ("loai", "kind", "loai dong"),
    "code": ("ma xa", "ma", "ma don vi", "code", "commune code"),
    "name": ("ten xa", "ten", "ten don vi", "commune name", "name"),
    "province": ("tinh", "ma tinh", "province"),
    "phone": ("dien thoai", "so dien thoai", "sdt", "phone"),
    "address": ("dia chi", "address"),
    "email": ("email", "thu dien tu"),
    "oa_id": ("oa id", "zalo oa id", "ma oa", "oa"),
    "app_id": ("app id", "zalo app id"),
    "oa_secret": ("oa secret", "oa secret key", "khoa oa"),
    "village": ("thon", "ten thon", "thon to", "village"),
    "old_name": ("ten cu", "ten thon cu", "old name"),
    "village_kind": ("loai thon", "village kind"),
    "households": ("so ho", "ho gia dinh", "so ho gia dinh", "households"),
    "staff_name": ("ho ten", "ho va ten", "staff name", "full name"),
    "role": ("vai tro", "role"),
    "office": ("bo phan", "office"),
    "zalo_id": ("zalo id", "id zalo", "zalo user id"),
    "login": ("dang nhap", "ten dang nhap", "login"),
}
_FIELD_OF = {alias: name for name, aliases in HEADERS.items() for alias in aliases}

#: what the file may call each role (folded)
ROLE_WORDS: dict[str, str] = {
    "officer": "officer",
    "can bo": "officer",
    "cong chuc": "officer",
    "can bo cong chuc": "officer",
    "leader": "leader",
    "lanh dao": "leader",
    "propagandist": "propagandist",
    "tuyen truyen vien": "propagandist",
    "ttv": "propagandist",
    "operator": "operator",
    "van hanh": "operator",
    "publisher": "publisher",
    "phat hanh": "publisher",
    "so nganh": "publisher",
    "can bo so nganh": "publisher",
}

#: config's village kinds by their folded words ("to dan pho" → "tổ dân phố")
_VILLAGE_KINDS = {words_key(k): k for k in get_args(Village.model_fields["kind"].annotation)}
_LOGIN = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")  # bot/console/auth.py's LOGIN


class ImportFileError(ValueError):
    """A file that cannot be imported: every problem, each naming its row."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Row:
    where: str  # "Xã, row 3" / "row 3"
    kind: str  # commune | village | staff
    cells: dict[str, str]

    def get(self, name: str) -> str:
        return self.cells.get(name, "")


# -- reading -----------------------------------------------------------------------------------
def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = nfc(str(value)).strip()
    if text.startswith("'") and text[1:2] in ("=", "+", "-", "@"):  # a guarded cell
        text = text[1:]
    return text


def _kind_of(name: str) -> str | None:
    key = words_key(name)
    return next((k for k, names in KINDS.items() if key in names), None)


def _rows(label: str, table: Iterator[list[Any]], kind: str | None) -> Iterator[Row]:
    """Rows of one table whose first row is the header; ``kind`` None: from the kind column."""
    header_cells = next(table, None)
    if header_cells is None:
        return
    header: list[str | None] = []
    problems = []
    for col, cell in enumerate(header_cells, 1):
        name = _text(cell)
        if not name:
            header.append(None)
            continue
        found = _FIELD_OF.get(words_key(name))
        if kind == "staff" and found == "name":  # "Tên" on the staff sheet is the person's
            found = "staff_name"
        if kind in ("village", "staff") and found == "code":  # "Mã" there is the commune's
            found = "code"
        if found is None:
            problems.append(f"{label}row 1: column {col} {name!r} is not a known column")
        elif found in header:
            problems.append(f"{label}row 1: the column {name!r} is there twice")
        header.append(found)
    if problems:
        raise ImportFileError(problems)
    if kind is None and "kind" not in header:
        raise ImportFileError(
            [f"{label}row 1: a CSV needs the column loai (kind): xa, thon, can bo"]
        )
    for number, cells in enumerate(table, 2):
        values = {
            name: _text(value)
            for name, value in zip(header, cells, strict=False)
            if name is not None
        }
        if not any(values.values()):
            continue  # an empty line the spreadsheet left
        extra = [c for c in list(cells)[len(header) :] if _text(c)]
        where = f"{label}row {number}"
        if extra:
            raise ImportFileError([f"{where}: more cells than columns"])
        row_kind = kind
        if row_kind is None:
            row_kind = _kind_of(values.get("kind", ""))
            if row_kind is None:
                raise ImportFileError(
                    [
                        f"{where}: loai (kind) is {values.get('kind', '')!r}; write xa, thon or can bo"
                    ]
                )
        if row_kind == "staff" and "name" in values and "staff_name" not in values:
            values["staff_name"] = values.pop("name")
        yield Row(where, row_kind, values)


def read(path: Path) -> list[Row]:
    """The rows of an .xlsx (one sheet per kind) or a .csv (a ``loai`` column)."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ImportFileError([f"{path.name}: larger than {MAX_FILE_BYTES // 1_000_000} MB"])
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    if suffix in (".csv", ".txt"):
        return _read_csv(path.read_bytes(), path.name)
    raise ImportFileError([f"{path.name}: unknown format (use .xlsx or .csv)"])


def _read_xlsx(path: Path) -> list[Row]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001  (zipfile, XML: a file Excel did not write)
        raise ImportFileError([f"{path.name}: not a readable XLSX file ({exc})"]) from None
    try:
        rows: list[Row] = []
        kinds_seen: dict[str, str] = {}
        for sheet in book.worksheets:
            kind = _kind_of(sheet.title)
            if kind is None:
                continue  # notes, instructions: not ours
            if kind in kinds_seen:
                raise ImportFileError(
                    [f"sheets {kinds_seen[kind]!r} and {sheet.title!r} hold the same kind"]
                )
            kinds_seen[kind] = sheet.title
            table = (list(r) for r in sheet.iter_rows(values_only=True))
            rows.extend(_rows(f"{sheet.title}, ", table, kind))
    finally:
        book.close()
    if not kinds_seen:
        raise ImportFileError(
            [f"{path.name}: no sheet named Xã, Thôn or Cán bộ (with or without diacritics)"]
        )
    return rows


def _read_csv(data: bytes, name: str) -> list[Row]:
    try:
        text = data.decode("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            [
                f"{name}: not UTF-8 ({exc.reason} at byte {exc.start}); in Excel save it as "
                '"CSV UTF-8 (Comma delimited)"'
            ]
        ) from None
    first = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first.count)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        return list(_rows("", (list(r) for r in reader), None))
    except csv.Error as exc:
        raise ImportFileError([f"{name}: line {reader.line_num}: {exc}"]) from None


# -- planning ----------------------------------------------------------------------------------
@dataclass
class StaffChange:
    where: str
    commune: str
    name: str
    role: str
    village: str | None
    office: str | None
    zalo_id: str | None
    phone: str | None
    login: str | None
    staff_id: int | None = None  # an existing staff member's
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)


@dataclass
class Plan:
    """What the file would change; ``lines`` says it, ``empty`` when nothing."""

    province: str = ""
    communes_added: list[str] = field(default_factory=list)
    communes_changed: list[str] = field(default_factory=list)
    villages_added: list[str] = field(default_factory=list)
    villages_renamed: list[str] = field(default_factory=list)
    villages_changed: list[str] = field(default_factory=list)
    staff_added: list[StaffChange] = field(default_factory=list)
    staff_changed: list[StaffChange] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the configuration as it would be (raw, ``${ENV}`` kept), and whether it changes
    config: dict[str, Any] = field(default_factory=dict)
    config_changed: bool = False
    #: (commune code, old name, new name) of villages renamed, for the store
    renames: list[tuple[str, str, str]] = field(default_factory=list)
    #: (commune code, name) of villages the file adds
    added_villages: list[tuple[str, str]] = field(default_factory=list)
    #: (commune code, ``facts_store.RENAMED`` or ``ADDED``, config's / the village's name) of
    #: console edits config.yml now carries: taken out of the console's edits with the file's
    #: change, so none is left to apply to a village that has moved on
    console_folded: list[tuple[str, str, str]] = field(default_factory=list)
    #: commune code → the facts the file changes that the console may also edit
    facts: dict[str, set[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (
            self.config_changed
            or self.staff_added
            or self.staff_changed
            or self.renames
            or self.console_folded
        )

    def lines(self) -> list[str]:
        out = [f"{self.province}"] if self.province else []
        sections = (
            ("communes added", "+", self.communes_added),
            ("communes changed", "~", self.communes_changed),
            ("villages added", "+", self.villages_added),
            ("villages renamed", "~", self.villages_renamed),
            ("villages changed", "~", self.villages_changed),
            ("staff added", "+", [_staff_line(c) for c in self.staff_added]),
            ("staff changed", "~", [_staff_change_line(c) for c in self.staff_changed]),
        )
        for title, sign, items in sections:
            if items:
                out.append(f"{title} ({len(items)}):")
                out.extend(f"  {sign} {item}" for item in items)
        if self.empty:
            out.append("nothing to change")
        return out


def _staff_line(c: StaffChange) -> str:
    where = [c.role]
    if c.office:
        where.append(f"office {c.office}")
    if c.village:
        where.append(f"village {c.village}")
    if c.login:
        where.append(f"login {c.login}")
    if c.zalo_id:
        where.append(f"Zalo {c.zalo_id}")
    return f"{c.commune} {c.name} ({', '.join(where)})"


def _staff_change_line(c: StaffChange) -> str:
    said = "; ".join(f"{k} {_shown(a)} → {_shown(b)}" for k, (a, b) in c.changes.items())
    return f"{c.commune} #{c.staff_id} {c.name}: {said}"


def _shown(value: Any) -> str:
    return "-" if value in (None, "") else str(value)


def _phone(row: Row, problems: list[str], what: str = "phone") -> str | None:
    text = row.get("phone")
    if not text:
        return None
    if (
        whole_number(text, 10) is not None
        and not text.startswith(("0", "84"))
        and len(text) in (9, 10)
    ):
        text = "0" + text  # a number cell: Excel dropped the leading 0
    number = phones.normalise(text)
    if number is None:
        problems.append(
            f"{row.where}: {what} {row.get('phone')!r} is not a Vietnamese phone number"
        )
    return number


def _province(text: str) -> admin_units.Province | None:
    if whole_number(text) is not None:
        return admin_units.get_province(text)
    key = words_key(text)
    return next(
        (p for p in admin_units.provinces() if key in (words_key(p.name), words_key(p.short_name))),
        None,
    )


def _village_entry(raw: Any) -> dict[str, Any]:
    return {"name": raw} if isinstance(raw, str) else dict(raw)


@dataclass
class _Place:
    """One village of a commune as the import sees it: its name now (its store row's —
    config.yml's, or the name staff gave it in the console), its entry in config.yml's list
    (``None``: a village staff added in the console) and config's name for it."""

    now: str
    config: int | None
    config_name: str | None
    kind: str = "thôn"  # of a village added in the console (config's entry has its own)


def _places(entry: dict[str, Any], console: Mapping[str, Any]) -> list[_Place]:
    """The commune's villages as residents see them (``facts_store.village_list``'s order)."""
    renamed = console.get(facts_store.RENAMED)
    renamed = renamed if isinstance(renamed, dict) else {}
    out = []
    for index, raw in enumerate(entry.get("villages") or []):
        name = _village_entry(raw)["name"]
        now = renamed.get(name)
        out.append(_Place(now if isinstance(now, str) and now else name, index, name))
    keys = {search_key(p.now) for p in out}
    for item in console.get(facts_store.ADDED) or []:
        name = item.get("name") if isinstance(item, dict) else None
        if isinstance(name, str) and name and search_key(name) not in keys:
            keys.add(search_key(name))
            kind = item.get("kind")
            out.append(_Place(name, None, None, kind if isinstance(kind, str) and kind else "thôn"))
    return out


def _find(places: list[_Place], name: str) -> tuple[_Place, bool] | None:
    """The village ``name`` means, and whether by its name now: a village called so now
    first; else the one config.yml calls so (a file kept from before a console rename) —
    accents and case aside."""
    key = search_key(name)
    for place in places:
        if search_key(place.now) == key:
            return place, True
    for place in places:
        if place.config_name is not None and search_key(place.config_name) == key:
            return place, False
    return None


def _rename_in_config(entry: dict[str, Any], village: dict[str, Any], name: str) -> None:
    """Config's ``village`` of the commune ``entry`` called ``name`` from now on, its routing
    rules (``routing[].villages``) following it."""
    was = search_key(village["name"])
    for rule in entry.get("routing") or []:
        if isinstance(rule, dict) and rule.get("villages"):
            rule["villages"] = [name if search_key(v) == was else v for v in rule["villages"]]
    village["name"] = name


def plan_config(
    rows: list[Row],
    raw: dict[str, Any],
    where: str = "<memory>",
    console: Mapping[str, Mapping[str, Any]] | None = None,
) -> Plan:
    """Communes and villages: checked, and compared with the configuration ``raw`` (as
    yaml-loaded, ``${ENV}`` kept); staff rows are checked for what needs no store.
    ``console``: commune code → its console edits (``facts_store.console_edits``): a village
    renamed or added there is matched by its name now, and a village the file changes takes
    its name now into config.yml (the console's rename or addition is then folded in)."""
    problems: list[str] = []
    plan = Plan()
    # a deep copy: the file's changes (a village renamed in a routing rule) never touch ``raw``
    communes_raw: list[dict[str, Any]] = copy.deepcopy(list(raw.get("communes") or []))
    by_code = {str(c.get("code")): c for c in communes_raw}
    apps = [str(a.get("app_id")) for a in (raw.get("zalo") or {}).get("apps") or []]
    places_of: dict[str, list[_Place]] = {}

    def places(entry: dict[str, Any]) -> list[_Place]:
        code = str(entry["code"])
        if code not in places_of:
            places_of[code] = _places(entry, (console or {}).get(code, {}))
        return places_of[code]

    province: admin_units.Province | None = None
    province_from = ""
    seen_codes: dict[str, str] = {}
    file_communes: set[str] = set()
    for row in (r for r in rows if r.kind == "commune"):
        code = row.get("code")
        unit = admin_units.get_unit(code) if code else None
        if not code:
            problems.append(f"{row.where}: the commune code (mã xã) is empty")
            continue
        if unit is None:
            problems.append(f"{row.where}: {code} is not a commune code of the national list")
            continue
        if unit.code in seen_codes:
            problems.append(
                f"{row.where}: commune {unit.code} is already on {seen_codes[unit.code]}"
            )
            continue
        seen_codes[unit.code] = row.where
        name = row.get("name")
        if name and words_key(name) not in (words_key(unit.name), words_key(unit.short_name)):
            problems.append(
                f"{row.where}: {unit.code} is {unit.name} in the national list, not {name!r}"
            )
            continue
        if row.get("province"):
            given = _province(row.get("province"))
            if given is None:
                problems.append(f"{row.where}: {row.get('province')!r} is not a province")
                continue
            if given.code != unit.province_code:
                problems.append(
                    f"{row.where}: {unit.code} {unit.name} is in {unit.province_name}, "
                    f"not {given.name}"
                )
                continue
        if province is None:
            province = admin_units.get_province(unit.province_code)
            province_from = row.where
        elif unit.province_code != province.code:
            problems.append(
                f"{row.where}: {unit.code} {unit.name} is in {unit.province_name}; the file is "
                f"for {province.name} ({province_from}): one file per province"
            )
            continue
        file_communes.add(unit.code)
        number = _phone(row, problems)
        entry = by_code.get(unit.code)
        new = entry is None
        if new:
            if number is None and not row.get("phone"):
                problems.append(f"{row.where}: a new commune needs its phone (điện thoại)")
                continue
            entry = {
                "code": unit.code,
                "name": unit.name,
                "province_code": unit.province_code,
                "office_hours": [
                    {"days": "mon-fri", "open": "07:30", "close": "11:30"},
                    {"days": "mon-fri", "open": "13:30", "close": "17:00"},
                ],
                "address": row.get("address") or f"UBND {unit.name}, {unit.province_name}",
                "phone": phones.display(number) if number else "",
                "villages": [],
            }
            communes_raw.append(entry)
            by_code[unit.code] = entry
        assert entry is not None
        changes: list[str] = []

        said = None if new else changes
        if not new:
            _put(entry, "name", unit.name, said)
            _put(entry, "province_code", unit.province_code, said)
            if number and phones.normalise(str(entry.get("phone") or "")) != number:
                _put(entry, "phone", phones.display(number), said)
                plan.facts.setdefault(unit.code, set()).add("commune.phone")
            if row.get("address") and entry.get("address") != row.get("address"):
                _put(entry, "address", row.get("address"), said)
                plan.facts.setdefault(unit.code, set()).add("commune.address")
        if row.get("email"):
            _put(entry, "email", row.get("email"), said)
        if row.get("oa_id"):
            zalo = dict(entry.get("zalo") or {})
            same_oa = str(zalo.get("oa_id", "")) == row.get("oa_id")
            app_id = row.get("app_id") or (
                str(zalo["app_id"]) if zalo.get("app_id") else (apps[0] if len(apps) == 1 else "")
            )
            secret = row.get("oa_secret") or (zalo.get("oa_secret_key") if same_oa else None)
            if not app_id:
                problems.append(f"{row.where}: OA {row.get('oa_id')}: give its app id (app id)")
                continue
            if not secret:
                problems.append(
                    f"{row.where}: OA {row.get('oa_id')}: give its secret (oa secret), best as "
                    f"${{ENV_VAR}}, e.g. ${{ZALO_OA_SECRET_{unit.code}}}"
                )
                continue
            wanted = {**zalo, "oa_id": row.get("oa_id"), "app_id": app_id, "oa_secret_key": secret}
            if zalo != wanted:
                if not new:
                    old = zalo.get("oa_id")
                    changes.append(f"Zalo OA {_shown(old)} → {row.get('oa_id')}")
                entry["zalo"] = wanted
        if new:
            plan.communes_added.append(
                f"{unit.code} {unit.name}: phone {entry['phone']}, address {entry['address']}"
                + (f", OA {entry['zalo']['oa_id']}" if entry.get("zalo") else "")
            )
        elif changes:
            plan.communes_changed.append(f"{unit.code} {unit.name}: {'; '.join(changes)}")

    def outside(row: Row, unit: admin_units.AdminUnit | None) -> bool:
        """A village or staff row of a commune outside the file's province (said as a
        problem): one file per province, whatever kind its rows are."""
        nonlocal province, province_from
        if unit is None:
            return False
        if province is None:
            province = admin_units.get_province(unit.province_code)
            province_from = row.where
            return False
        if unit.province_code == province.code:
            return False
        problems.append(
            f"{row.where}: commune {unit.code} {unit.name} is in {unit.province_name}; the "
            f"file is for {province.name} ({province_from}): one file per province"
        )
        return True

    # villages
    seen_villages: dict[tuple[str, str], str] = {}
    seen_places: dict[int, str] = {}  # each village once a file: id(_Place) → its row
    for row in (r for r in rows if r.kind == "village"):
        code = row.get("code")
        unit = admin_units.get_unit(code) if code else None
        entry = by_code.get(unit.code) if unit else None
        if entry is None:
            problems.append(
                f"{row.where}: commune {code!r} is neither in the file's communes nor configured"
            )
            continue
        if outside(row, unit):
            continue
        name = row.get("village")
        if not name:
            problems.append(f"{row.where}: the village name (thôn) is empty")
            continue
        key = (str(entry["code"]), search_key(name))
        if key in seen_villages:
            problems.append(
                f"{row.where}: village {name} of {entry['code']} is already on {seen_villages[key]}"
            )
            continue
        seen_villages[key] = row.where
        kind = None
        if row.get("village_kind"):
            kind = _VILLAGE_KINDS.get(words_key(row.get("village_kind")))
            if kind is None:
                problems.append(
                    f"{row.where}: loại thôn {row.get('village_kind')!r}: one of "
                    f"{', '.join(_VILLAGE_KINDS.values())}"
                )
                continue
        households = None
        if row.get("households"):
            text = row.get("households").replace(" ", "")
            # 1.234 / 1,234 are thousands; 12.5 (a decimal) is no number of households
            if re.fullmatch(r"\d{1,3}([.,]\d{3})+", text):
                text = re.sub(r"[.,]", "", text)
            counted = whole_number(text, 9)
            if counted is None:
                problems.append(
                    f"{row.where}: số hộ {row.get('households')!r} is not a whole number ≥ 0"
                )
                continue
            households = counted
        villages = [_village_entry(v) for v in entry.get("villages") or []]
        mine = places(entry)
        label = f"{entry['code']} {entry['name']} / "
        hit, old = _find(mine, name), row.get("old_name")
        was = _find(mine, old) if old else None
        if old and was is None and hit is None:
            problems.append(
                f"{row.where}: tên cũ {old!r} is not a village of {entry['code']} {entry['name']}"
            )
            continue
        if was is not None and hit is not None and hit[0] is not was[0]:
            problems.append(
                f"{row.where}: {name} is the name of another village of {entry['code']} "
                f"({hit[0].now}), not of {old}"
            )
            continue
        place = (was or hit or (None, False))[0]
        if place is None:
            renaming = False
        elif was is not None:  # renamed from tên cũ, unless it is called so already
            renaming = place.now != name
        else:  # spelled otherwise than its name now — and than config's (a file from before)
            renaming = bool(hit and hit[1]) and name not in (place.now, place.config_name)
        if place is not None:
            if id(place) in seen_places:
                problems.append(
                    f"{row.where}: the same village of {entry['code']} as {seen_places[id(place)]}"
                )
                continue
            seen_places[id(place)] = row.where
        if place is None:
            village: dict[str, Any] = {"name": name}
            if kind:
                village["kind"] = kind
            if households is not None:
                village["households"] = households
            villages.append(village)
            mine.append(_Place(name, len(villages) - 1, name))
            seen_places[id(mine[-1])] = row.where
            plan.added_villages.append((str(entry["code"]), name))
            more = f" ({households} households)" if households is not None else ""
            plan.villages_added.append(f"{label}{name}{more}")
        else:
            code, current = str(entry["code"]), place.now
            if place.config is None:  # added in the console
                if not (renaming or kind or households is not None):
                    continue  # nothing for config.yml to keep
                for other in mine:  # config's old name of a village renamed since: folded
                    if (
                        other.config is not None
                        and other.config_name is not None
                        and other.now != other.config_name
                        and search_key(other.config_name) == search_key(current)
                    ):
                        plan.console_folded.append((code, facts_store.RENAMED, other.config_name))
                        _rename_in_config(entry, villages[other.config], other.now)
                        other.config_name = other.now
                taken = {"name": current}  # config.yml takes it over, with its kind …
                if place.kind != "thôn":
                    taken["kind"] = place.kind
                villages.append(taken)
                place.config, place.config_name = len(villages) - 1, current
                plan.console_folded.append((code, facts_store.ADDED, current))  # … from there
                plan.villages_added.append(f"{label}{current} (added in the console)")
            village = villages[place.config]
            changes = []
            if renaming:
                plan.villages_renamed.append(f"{label}{current} → {name}")
                plan.renames.append((code, current, name))
                if village["name"] != current:  # its console rename is replaced by the file's
                    plan.console_folded.append((code, facts_store.RENAMED, village["name"]))
                _rename_in_config(entry, village, name)
                place.now = place.config_name = name
            if kind and village.get("kind", "thôn") != kind:
                changes.append(f"kind {village.get('kind', 'thôn')} → {kind}")
                village["kind"] = kind
            if households is not None and village.get("households") != households:
                changes.append(f"households {_shown(village.get('households'))} → {households}")
                village["households"] = households
            if changes:
                plan.villages_changed.append(f"{label}{name}: {'; '.join(changes)}")
        # keep the short form for villages that are only a name
        entry["villages"] = [v["name"] if set(v) == {"name"} else v for v in villages]

    # staff: what needs no store
    seen_staff: dict[tuple[str, ...], str] = {}
    for row in (r for r in rows if r.kind == "staff"):
        if outside(row, admin_units.get_unit(row.get("code")) if row.get("code") else None):
            continue
        staff = _staff_row(row, by_code, problems, places)
        if staff is None:
            continue
        idents: tuple[tuple[str, ...], ...] = (
            ("login", staff.login or ""),
            ("zalo", staff.commune, staff.zalo_id or ""),
            ("name", staff.commune, search_key(staff.name), staff.role),
        )
        for ident in idents:
            if ident[-1] and ident in seen_staff:
                problems.append(f"{row.where}: the same person as on {seen_staff[ident]}")
                break
            seen_staff[ident] = row.where
        else:
            plan.staff_added.append(staff)  # sorted into added / changed against the store

    if province is not None:
        plan.province = (
            f"{province.name} ({province.code}): {len(file_communes)} commune(s) in the file"
        )
    candidate = dict(raw)
    candidate["communes"] = communes_raw
    plan.config = candidate
    plan.config_changed = candidate.get("communes") != raw.get("communes")
    if not problems and plan.config_changed:
        try:
            settings_from_dict(candidate, where=where)
        except ConfigError as exc:
            problems.append(f"the new configuration would not load:\n{exc}")
    if problems:
        raise ImportFileError(problems)
    return plan


def _put(entry: dict[str, Any], key: str, value: Any, changes: list[str] | None) -> None:
    """``entry[key] = value``, said in ``changes`` (None: a new commune, nothing to say)."""
    if entry.get(key) != value:
        if changes is not None:
            changes.append(f"{key} {_shown(entry.get(key))} → {_shown(value)}")
        entry[key] = value


def _staff_row(
    row: Row,
    by_code: dict[str, dict[str, Any]],
    problems: list[str],
    places: Callable[[dict[str, Any]], list[_Place]],
) -> StaffChange | None:
    code = row.get("code")
    unit = admin_units.get_unit(code) if code else None
    entry = by_code.get(unit.code) if unit else None
    before = len(problems)
    if entry is None:
        problems.append(
            f"{row.where}: commune {code!r} is neither in the file's communes nor configured"
        )
        return None
    name = row.get("staff_name")
    if not name or len(name) > 200:
        problems.append(f"{row.where}: họ tên is empty (or longer than 200 characters)")
    role = ROLE_WORDS.get(words_key(row.get("role")))
    if role is None:
        problems.append(
            f"{row.where}: vai trò {row.get('role')!r}: one of officer (cán bộ), leader (lãnh "
            "đạo), propagandist (tuyên truyền viên), operator (vận hành), publisher (sở, ngành)"
        )
    village = None
    if row.get("village"):
        found = _find(places(entry), row.get("village"))
        village = found[0].now if found is not None else None  # its store row's name
        if village is None:
            problems.append(
                f"{row.where}: thôn {row.get('village')!r} is not a village of "
                f"{entry['code']} {entry['name']} (add it on the Thôn sheet)"
            )
    elif role == "propagandist":
        problems.append(f"{row.where}: a propagandist (tuyên truyền viên) needs their thôn")
    offices = [
        o["code"] if isinstance(o, dict) else o for o in entry.get("offices") or DEFAULT_OFFICES
    ]
    office = row.get("office") or None
    if office is not None and office not in offices:
        problems.append(f"{row.where}: bộ phận {office!r}: one of {', '.join(offices)}")
    zalo_id = row.get("zalo_id") or None
    if zalo_id is not None and whole_number(zalo_id, 30) is None:
        problems.append(f"{row.where}: Zalo id {zalo_id!r} is not a number")
    login = nfc(row.get("login")).strip().lower() or None
    if login is not None and not _LOGIN.fullmatch(login):
        problems.append(
            f"{row.where}: đăng nhập {login!r}: 3–64 of a-z, 0-9, dot, underscore or hyphen"
        )
    number = _phone(row, problems)
    if len(problems) > before or role is None or not name:
        return None
    if role == "officer" and office is None:
        office = offices[0]  # bot.staff.add_staff's default, shown in the plan
    return StaffChange(
        row.where, str(entry["code"]), name, role, village, office, zalo_id, number, login
    )


async def plan_staff(s: AsyncSession, plan: Plan) -> None:
    """Sort the file's staff into added and changed against the store: a person is the one
    with their login, else their Zalo id in the commune, else their name and role there."""
    problems: list[str] = []
    wanted, plan.staff_added = plan.staff_added, []
    communes = {c.code: c.id for c in (await s.execute(select(CommuneRow))).scalars()}
    ids = [communes[c] for c in {w.commune for w in wanted} if c in communes]
    people = list(
        (await s.execute(select(Staff).where(Staff.commune_id.in_(ids)))).scalars() if ids else []
    )
    villages = (
        {
            v.id: v.name
            for v in (
                await s.execute(select(VillageRow).where(VillageRow.commune_id.in_(ids)))
            ).scalars()
        }
        if ids
        else {}
    )
    renamed = {(c, search_key(old)): new for c, old, new in plan.renames}
    logins = {
        p.login: p
        for p in (
            await s.execute(
                select(Staff).where(Staff.login.in_([w.login for w in wanted if w.login]))
            )
        ).scalars()
    }
    by_commune: dict[int, list[Staff]] = {}
    for person in people:
        by_commune.setdefault(person.commune_id, []).append(person)
    taken: set[int] = set()
    for w in wanted:
        commune_id = communes.get(w.commune)
        mine = by_commune.get(commune_id, []) if commune_id is not None else []
        match = logins.get(w.login) if w.login else None
        if match is not None and match.commune_id != commune_id:
            problems.append(f"{w.where}: đăng nhập {w.login} belongs to someone of another commune")
            continue
        if match is None and w.zalo_id:
            match = next((p for p in mine if p.zalo_user_id == w.zalo_id), None)
        if match is None:
            match = next(
                (p for p in mine if search_key(p.name) == search_key(w.name) and p.role == w.role),
                None,
            )
        if match is None:
            plan.staff_added.append(w)
            continue
        if match.id in taken:
            problems.append(f"{w.where}: the same staff member #{match.id} as another row")
            continue
        taken.add(match.id)
        w.staff_id = match.id
        now_village = villages.get(match.village_id) if match.village_id else None
        if now_village is not None:
            now_village = renamed.get((w.commune, search_key(now_village)), now_village)
        for key, old, new in (
            ("name", match.name, w.name),
            ("role", match.role, w.role),
            ("office", match.office, w.office if w.office or w.role != "officer" else match.office),
            ("village", now_village, w.village),
            ("Zalo id", match.zalo_user_id, w.zalo_id if w.zalo_id else match.zalo_user_id),
            ("phone", match.phone, w.phone if w.phone else match.phone),
            ("login", match.login, w.login if w.login else match.login),
        ):
            if old != new:
                w.changes[key] = (old, new)
        if not match.active:
            plan.warnings.append(
                f"{w.where}: staff #{match.id} {match.name} is deactivated "
                "(bot staff reactivate to let them work again)"
            )
        if w.changes:
            plan.staff_changed.append(w)
    problems.extend(await _village_rows_free(s, plan, communes))
    if problems:
        raise ImportFileError(problems)
    await _edited_facts(s, plan, communes)


async def _village_rows_free(s: AsyncSession, plan: Plan, communes: dict[str, int]) -> list[str]:
    """The names the file gives villages (added, renamed) that another row of the store
    already has — one left from a village config.yml no longer lists — accents and case aside:
    a second row of the same name would split the village's residents and staff."""
    wanted = [(c, None, n) for c, n in plan.added_villages] + list(plan.renames)
    ids = {communes[c] for c, _, _ in wanted if c in communes}
    if not ids:
        return []
    rows: dict[tuple[int, str], str] = {
        (v.commune_id, v.search_key): v.name
        for v in (
            await s.execute(select(VillageRow).where(VillageRow.commune_id.in_(list(ids))))
        ).scalars()
    }
    problems = []
    for code, old, new in wanted:
        there = rows.get((communes.get(code, -1), search_key(new)))
        # an added village may take a row of its very name; a rename only its own row's
        if there is not None and there != (old if old is not None else new):
            problems.append(
                f"{code}: village {new}: the store already has a village {there} (one config.yml "
                "no longer lists); add it under that exact name, or choose another name"
            )
    return problems


async def _edited_facts(s: AsyncSession, plan: Plan, communes: dict[str, int]) -> None:
    """Warn where the console's edits (bot/facts_store.py) hide what the file changes: an
    edited phone or address still wins over config.yml's. (A village the file renames takes
    its console-edited head and propagandists along: ``_fold_console_edits``.)"""
    from bot.store.models import CommuneFacts

    ids = {communes[c]: c for c in plan.facts if c in communes}
    if not ids:
        return
    rows = await s.execute(select(CommuneFacts).where(CommuneFacts.commune_id.in_(list(ids))))
    for row in rows.scalars():
        code = ids[row.commune_id]
        for key in sorted(plan.facts[code] & set(row.data or {})):
            plan.warnings.append(
                f"{code}: {key} was edited in the console; the console's value still applies "
                "(change it there, on the commune's facts page)"
            )


# -- applying ----------------------------------------------------------------------------------
async def _fold_console_edits(s: AsyncSession, plan: Plan, communes: dict[str, int]) -> None:
    """The console's edits after the file's villages: the renames and additions config.yml
    now carries taken out (``Plan.console_folded``), and a renamed village's own facts
    (``village.<name>.head|propagandists``) moved to its new name — each with its line in the
    facts' history."""
    work: dict[str, list[tuple[str, str, str]]] = {}
    for code, key, name in plan.console_folded:
        work.setdefault(code, []).append((key, name, ""))
    for code, old, new in plan.renames:
        work.setdefault(code, []).append(("rename", old, new))
    for code, items in work.items():
        if code not in communes:
            continue
        data = await facts_store.locked_edits(s, communes[code])
        renamed = dict(data.get(facts_store.RENAMED) or {})
        added = list(data.get(facts_store.ADDED) or [])
        changes: dict[str, Any] = {}
        for key, name, new in items:
            if key == facts_store.RENAMED:
                renamed.pop(name, None)
            elif key == facts_store.ADDED:
                added = [a for a in added if not (isinstance(a, dict) and a.get("name") == name)]
            else:
                for fact in [k for k in data if k.startswith(f"village.{name}.")]:
                    changes[fact] = None
                    changes[f"village.{new}.{fact.rpartition('.')[2]}"] = data.pop(fact)
        changes[facts_store.RENAMED] = renamed or None
        changes[facts_store.ADDED] = added or None
        await facts_store.save(s, communes[code], changes, None, "bot tenants import")
        facts_store.forget(communes[code])


@dataclass
class NewStaff:
    staff_id: int
    commune: str
    name: str
    role: str
    office: str | None
    key: str
    invitation: str | None  # the one-time token (a link is made of it)


async def apply_store(s: AsyncSession, plan: Plan, settings: Settings, now: Any) -> list[NewStaff]:
    """The store's part, in the caller's transaction (flushed, not committed)."""
    from bot import staff as staffing
    from bot.console.auth import invite, set_login
    from bot.tenants import mirror

    communes = {c.code: c.id for c in (await s.execute(select(CommuneRow))).scalars()}
    for code, old, new in plan.renames:
        if code not in communes:
            continue
        row = (
            await s.execute(
                select(VillageRow).where(
                    VillageRow.commune_id == communes[code], VillageRow.name == old
                )
            )
        ).scalar_one_or_none()
        if row is not None:
            row.name, row.search_key = new, search_key(new)
    await s.flush()
    await _fold_console_edits(s, plan, communes)
    await mirror(s, settings)
    console = await facts_store.console_edits(s)  # a village's row has its name now
    kinds = {
        (c.code, v.name): v.kind
        for c in settings.communes
        for v in facts_store.village_list(c, dict(console.get(c.code, {})))
    }
    pairs = (await s.execute(select(VillageRow, CommuneRow.code).join(CommuneRow))).all()
    for village, code in pairs:
        kind = kinds.get((code, village.name))
        if kind is not None and village.kind != kind:
            village.kind = kind
    await s.flush()
    added: list[NewStaff] = []
    for w in plan.staff_added:
        commune = settings.commune(w.commune)
        staff, key = await staffing.add_staff(
            s,
            w.commune,
            w.name,
            w.role,
            w.village,
            w.zalo_id,
            w.office,
            [o.code for o in commune.offices] if commune else None,
        )
        staff.phone = w.phone
        token = None
        if w.login:
            await set_login(s, staff, w.login)
        _logged(s, staff, "staff_added", {"role": staff.role, "login": staff.login, "file": True})
        if w.login:
            token = await invite(s, staff, now)
            _logged(s, staff, "invitation_issued")
        added.append(NewStaff(staff.id, w.commune, w.name, w.role, staff.office, key, token))
    for w in plan.staff_changed:
        staff = await s.get_one(Staff, w.staff_id)
        for key, (_old, new) in w.changes.items():
            if key == "village":
                row = (
                    (
                        await s.execute(
                            select(VillageRow).where(
                                VillageRow.commune_id == staff.commune_id,
                                VillageRow.search_key == search_key(new),
                            )
                        )
                    ).scalar_one()
                    if new
                    else None
                )
                staff.village_id = row.id if row else None
            elif key == "login":
                await set_login(s, staff, new)
            else:
                attribute = {"Zalo id": "zalo_user_id"}.get(key, key)
                setattr(staff, attribute, new)
        _logged(s, staff, "staff_changed", {k: v[1] for k, v in w.changes.items()})
    await s.flush()
    return added


def _logged(s: AsyncSession, staff: Staff, action: str, detail: dict | None = None) -> None:
    audit.action(
        s, staff.commune_id, None, action, "staff", staff.id, staff.name, detail, actor=audit.CLI
    )


def config_text(path: Path, old_text: str, plan: Plan) -> str:
    """The new config.yml: the communes whose entries did not change are kept as written
    (their comments with them), the others written anew, new ones appended; the whole file
    written anew when the text cannot be cut that way. Checked to load as ``plan.config``."""
    candidate = plan.config
    whole = _dump(candidate)
    head, sep, tail = old_text.partition("\ncommunes:")
    old = (yaml.safe_load(old_text) or {}).get("communes") or []
    items = re.findall(r"^( *)- ", tail, flags=re.M)
    top_keys = re.findall(r"^([A-Za-z_]+):", old_text, flags=re.M)
    if not (sep and items and old and top_keys and top_keys[-1] == "communes"):
        return whole
    indent = items[0]
    lines = tail.split("\n")
    first, blocks, current = [lines[0]], [], None  # lines[0]: the rest of the "communes:" line
    for line in lines[1:]:
        if line.startswith(indent + "- ") and line[len(indent) + 2 : len(indent) + 3] != " ":
            current = [line]
            blocks.append(current)
        elif current is None:
            first.append(line)
        else:
            current.append(line)
    if len(blocks) != len(old):
        return whole
    out = [head + sep + "\n".join(first)]
    new = candidate["communes"]
    for i, entry in enumerate(new):
        if i < len(blocks) and old[i] == entry:
            out.append("\n".join(blocks[i]).rstrip("\n"))
        elif i < len(blocks):
            out.append(_block(blocks[i], old[i], entry, indent))
        else:
            out.append(_dumped([entry], indent))
    text = out[0] + "\n" + "\n\n".join(out[1:]).rstrip("\n") + "\n"
    try:
        if (yaml.safe_load(text) or {}) == candidate:
            return text
    except yaml.YAMLError:
        pass
    return whole


class _Dumper(yaml.SafeDumper):
    """Codes, ids, phones and times in double quotes, as config.yml writes them by hand (an
    unquoted 02839 or 13:30 is a number to YAML 1.1 readers)."""


def _quoted(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = '"' if re.fullmatch(r"[\d\s:+.]+", value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _quoted)


def _dump(value: Any) -> str:
    return yaml.dump(value, Dumper=_Dumper, allow_unicode=True, sort_keys=False)


def _dumped(value: Any, indent: str) -> str:
    dumped = _dump(value)
    return "\n".join((indent + ln) if ln else ln for ln in dumped.splitlines())


def _block(lines: list[str], old: dict[str, Any], entry: dict[str, Any], indent: str) -> str:
    """One commune's entry with only its changed keys written anew: the others keep their
    text and comments (a key's section runs to the next key at the entry's indentation)."""
    inner = indent + "  "
    sections: list[tuple[str | None, list[str]]] = []
    for n, line in enumerate(lines):
        found = re.match(r"([A-Za-z_]+):", line[len(inner) :]) if n else None
        if n == 0:
            head = re.match(r"([A-Za-z_]+):", line[len(indent) + 2 :])
            sections.append((head.group(1) if head else None, [line]))
        elif line.startswith(inner) and line[len(inner) : len(inner) + 1] != " " and found:
            sections.append((found.group(1), [line]))
        else:
            sections[-1][1].append(line)
    out: list[str] = []
    done: set[str] = set()
    for n, (key, text) in enumerate(sections):
        if key is None or key not in entry:
            return _dumped([entry], indent)  # not cut as expected: the whole entry anew
        done.add(key)
        if old.get(key) == entry[key]:
            out.append("\n".join(text).rstrip("\n"))
        elif n == 0:
            return _dumped([entry], indent)
        else:
            out.append(_dumped({key: entry[key]}, inner))
    for key in entry:
        if key not in done:
            out.append(_dumped({key: entry[key]}, inner))
    return "\n".join(out)


def write_config(path: Path, text: str, check: bool = True) -> None:
    """``text`` as ``path``, atomically: a temporary file beside it, flushed, loaded back as
    settings (``check``; not when the old bytes are put back), then put in place
    (``os.replace``); the file's mode is kept."""
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        if check:
            load_settings(tmp)  # what is put in place must load
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
