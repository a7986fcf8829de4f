"""Knowledge files as staff keep them: CSV (UTF-8, with or without Excel's BOM; header
``question,answer,variants`` required, paraphrases in ``variants`` separated by ``|``; optional
``topic``, ``valid_from``, ``valid_until`` as dd/mm/yyyy or yyyy-mm-dd, ``source``) and Rasa 3
retrieval-intent YAML (``- intent: faq/<name>`` with ``examples: |``, ``utter_faq/<name>:
- text: …``). Reading validates the whole file first: any bad row raises ``KnowledgeFileError``
naming it, and nothing is returned."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.text import nfc, search_key, words_key

REQUIRED = ("question", "answer", "variants")
OPTIONAL = ("topic", "valid_from", "valid_until", "source")
COLUMNS = REQUIRED + OPTIONAL


class KnowledgeFileError(ValueError):
    """A knowledge file that cannot be imported; the message names the row or line."""


@dataclass(frozen=True)
class Item:
    """One entry as a file holds it (no commune, no ids)."""

    question: str
    answer: str
    variants: tuple[str, ...] = ()
    topic: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    source: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def key(self) -> str:
        return search_key(self.question)


def parse_date(value: str) -> date:
    value = value.strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"date {value!r} is neither dd/mm/yyyy nor yyyy-mm-dd")


#: a knowledge file is a few hundred entries: anything far larger is a mistake
MAX_FILE_BYTES = 5_000_000


def read(path: Path) -> list[Item]:
    """The entries of a .csv, .yml or .yaml file (by its extension)."""
    suffix = path.suffix.lower()
    if path.stat().st_size > MAX_FILE_BYTES:
        raise KnowledgeFileError(f"{path.name}: larger than {MAX_FILE_BYTES // 1_000_000} MB")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeFileError(
            f"{path.name}: not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    if suffix == ".csv":
        items = read_csv(text)
    elif suffix in (".yml", ".yaml"):
        items = read_yaml(text)
    else:
        raise KnowledgeFileError(f"{path.name}: unknown format (use .csv, .yml or .yaml)")
    if not items:  # an empty file must not empty the commune's knowledge (--replace)
        raise KnowledgeFileError(f"{path.name}: no entries")
    return items


def _checked(items: list[tuple[str, Item]]) -> list[Item]:
    """Duplicate questions (same key) and inverted dates refused, naming where."""
    seen: dict[str, str] = {}
    for where, item in items:
        if item.valid_from and item.valid_until and item.valid_until < item.valid_from:
            raise KnowledgeFileError(f"{where}: valid_until is before valid_from")
        if item.key in seen:
            raise KnowledgeFileError(
                f"{where}: the question {item.question!r} is already in {seen[item.key]}"
            )
        seen[item.key] = where
    return [item for _, item in items]


def read_csv(text: str) -> list[Item]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(h or "").strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise KnowledgeFileError(
            f"row 1 (header): missing column(s) {', '.join(missing)}; "
            f"the header must start with {','.join(REQUIRED)}"
        )
    reader.fieldnames = header
    items: list[tuple[str, Item]] = []
    for n, row in enumerate(reader, start=2):
        where = f"row {n}"
        if None in row:
            raise KnowledgeFileError(f"{where}: more cells than columns (a comma not quoted?)")
        cells = {k: nfc((v or "").strip()) for k, v in row.items() if k}
        if not any(cells.values()):
            continue  # an empty line Excel left
        if not cells.get("question"):
            raise KnowledgeFileError(f"{where}: the question is empty")
        if not cells.get("answer"):
            raise KnowledgeFileError(f"{where}: the answer is empty")
        try:
            dates = {
                k: parse_date(cells[k]) if cells.get(k) else None
                for k in ("valid_from", "valid_until")
            }
        except ValueError as exc:
            raise KnowledgeFileError(f"{where}: {exc}") from None
        variants = tuple(v.strip() for v in cells.get("variants", "").split("|") if v.strip())
        items.append(
            (
                where,
                Item(
                    cells["question"],
                    cells["answer"],
                    variants,
                    cells.get("topic") or None,
                    dates["valid_from"],
                    dates["valid_until"],
                    cells.get("source") or None,
                ),
            )
        )
    return _checked(items)


def write_csv(items: list[Item]) -> str:
    """CSV with a BOM, so Excel opens it as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for i in items:
        w.writerow(
            [
                i.question,
                i.answer,
                "|".join(i.variants),
                i.topic or "",
                i.valid_from.isoformat() if i.valid_from else "",
                i.valid_until.isoformat() if i.valid_until else "",
                i.source or "",
            ]
        )
    return out.getvalue()


_EXAMPLE = re.compile(r"^\s*-\s+(.*\S)\s*$")


def read_yaml(text: str) -> list[Item]:
    """Rasa 3 retrieval intents: the first example of ``faq/<name>`` is the question, the rest
    its variants; ``utter_faq/<name>``'s first text the answer. Our own fields (topic, dates,
    source) may ride in the response's ``metadata``."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "the file"
        raise KnowledgeFileError(f"{line}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise KnowledgeFileError("line 1: expected a mapping with nlu: and responses:")
    lines = text.splitlines()

    def line_of(needle: str) -> str:
        n = next((i for i, ln in enumerate(lines, 1) if needle in ln), None)
        return f"line {n}" if n else needle

    examples: dict[str, list[str]] = {}
    for block in doc.get("nlu") or []:
        name = str((block or {}).get("intent") or "")
        if not name.startswith("faq/"):
            continue
        said = []
        for ln in str(block.get("examples") or "").splitlines():
            if ln.strip():
                m = _EXAMPLE.match(ln)
                if not m:
                    raise KnowledgeFileError(f"{line_of(ln)}: an example must be '- text'")
                said.append(nfc(m.group(1)))
        if not said:
            raise KnowledgeFileError(f"{line_of(name)}: {name} has no examples")
        examples[name[4:]] = said
    responses = doc.get("responses") or {}
    items: list[tuple[str, Item]] = []
    for name, said in examples.items():
        where = line_of(f"faq/{name}")
        texts = responses.get(f"utter_faq/{name}") or []
        first = texts[0] if texts and isinstance(texts[0], dict) else {}
        answer = nfc(str(first.get("text") or "").strip())
        if not answer:
            raise KnowledgeFileError(f"{where}: faq/{name} has no response utter_faq/{name}")
        meta = first.get("metadata") or {}
        try:
            dates = {
                k: parse_date(str(meta[k])) if meta.get(k) else None
                for k in ("valid_from", "valid_until")
            }
        except ValueError as exc:
            raise KnowledgeFileError(f"{where}: {exc}") from None
        items.append(
            (
                where,
                Item(
                    said[0],
                    answer,
                    tuple(said[1:]),
                    meta.get("topic") or None,
                    dates["valid_from"],
                    dates["valid_until"],
                    meta.get("source") or None,
                ),
            )
        )
    for name in responses:
        if str(name).startswith("utter_faq/") and str(name)[10:] not in examples:
            raise KnowledgeFileError(f"{line_of(str(name))}: {name} has no faq/ examples")
    return _checked(items)


def _name(item: Item, taken: set[str]) -> str:
    base = "_".join(words_key(item.question).split()[:6]) or "entry"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


class _Block(str):
    pass


class _Dumper(yaml.SafeDumper):
    """Examples as a literal block (``examples: |``), as Rasa's files write them."""


_Dumper.add_representer(
    _Block, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", v, style="|")
)


def write_yaml(items: list[Item]) -> str:
    taken: set[str] = set()
    nlu, responses = [], {}
    for item in items:
        name = _name(item, taken)
        lines = "".join(f"- {s}\n" for s in (item.question, *item.variants))
        nlu.append({"intent": f"faq/{name}", "examples": _Block(lines)})
        response: dict[str, Any] = {"text": item.answer}
        meta = {
            k: v
            for k, v in (
                ("topic", item.topic),
                ("valid_from", item.valid_from.isoformat() if item.valid_from else None),
                ("valid_until", item.valid_until.isoformat() if item.valid_until else None),
                ("source", item.source),
            )
            if v
        }
        if meta:
            response["metadata"] = meta
        responses[f"utter_faq/{name}"] = [response]
    doc = {"version": "3.1", "nlu": nlu, "responses": responses}
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
