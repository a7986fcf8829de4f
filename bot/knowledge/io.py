"""Knowledge files as staff keep them: CSV (UTF-8, with or without Excel's BOM; ``,``, ``;`` or
tab between cells, found from the header; header ``question,answer,variants`` required,
paraphrases in ``variants`` separated by ``|``; optional ``topic``, ``valid_from``,
``valid_until`` as dd/mm/yyyy or yyyy-mm-dd, ``source``, ``hidden``; any other column kept as
the entry's ``extra``) and Rasa 3 retrieval-intent YAML (``- intent: faq/<name>`` with
``examples: |``, ``utter_faq/<name>: - text: …``). Reading validates the whole file first: any
bad row raises ``KnowledgeFileError`` naming it, and nothing is returned. Written CSV cells that
a spreadsheet would run as a formula are neutralised with a leading ``'``, which reading strips
(docs/knowledge.md)."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml

from bot.text import nfc, search_key, words_key

REQUIRED = ("question", "answer", "variants")
OPTIONAL = ("topic", "valid_from", "valid_until", "source")
COLUMNS = REQUIRED + OPTIONAL
#: a commune's row that hides its province's entry with the same question (docs/knowledge.md)
HIDDEN = "hidden"
KNOWN = (*COLUMNS, HIDDEN)
HIDDEN_YES = frozenset({"x", "1", "ẩn", "an", "có", "co", "yes", "true"})
HIDDEN_NO = frozenset({"", "0", "không", "khong", "no", "false"})

#: limits a file is checked against (the store's columns, and Zalo's one text message)
MAX_QUESTION = 500  # knowledge_entries.key is 500 characters
MAX_ANSWER = 2000  # one Zalo OA text message (../shared/zalo-oa-api.md §4.1); no splitting
MAX_VARIANTS = 50
MAX_VARIANT = 500
MAX_TOPIC = 100  # knowledge_entries.topic
MAX_SOURCE = 500
MAX_EXTRA_COLUMNS = 20
MAX_EXTRA = 2000


class KnowledgeFileError(ValueError):
    """A knowledge file that cannot be imported; the message names the row or line."""


@dataclass(frozen=True)
class Item:
    """One entry as a file holds it (no commune, no ids). ``extra``: the staff's own columns
    (name, value), in the file's order; ``hidden``: a commune's row that hides its province's
    entry with the same question (no answer)."""

    question: str
    answer: str
    variants: tuple[str, ...] = ()
    topic: str | None = None
    valid_from: date | None = None
    valid_until: date | None = None
    source: str | None = None
    extra: tuple[tuple[str, str], ...] = ()
    hidden: bool = False

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
    """The entries of a .csv (or Excel's tab-separated "Unicode Text" .txt), .yml or .yaml
    file (by its extension)."""
    suffix = path.suffix.lower()
    if path.stat().st_size > MAX_FILE_BYTES:
        raise KnowledgeFileError(f"{path.name}: larger than {MAX_FILE_BYTES // 1_000_000} MB")
    data = path.read_bytes()
    try:
        # Excel's "Unicode Text" is UTF-16 with its BOM; anything else must be UTF-8
        text = data.decode("utf-16" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else "utf-8-sig")
    except UnicodeDecodeError as exc:
        raise KnowledgeFileError(
            f"{path.name}: not UTF-8 ({exc.reason} at byte {exc.start}); in Excel save it as "
            '"CSV UTF-8 (Comma delimited)"'
        ) from None
    if suffix in (".csv", ".txt"):
        items = read_csv(text)
    elif suffix in (".yml", ".yaml"):
        items = read_yaml(text)
    else:
        raise KnowledgeFileError(f"{path.name}: unknown format (use .csv, .txt, .yml or .yaml)")
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


#: Unicode's control characters (category Cc): C0, DEL, C1; in a one-line field also the line
#: and paragraph separators (U+2028, U+2029), which YAML and ``splitlines`` take as line breaks
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_IN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # newline, tab allowed


def _text(where: str, what: str, value: str, limit: int, lines: bool = False) -> str:
    """``value`` checked: at most ``limit`` characters, no control character (a newline or a
    tab only where ``lines``: an answer, a note)."""
    if lines:
        value = value.replace("\r\n", "\n")
    bad = (_CONTROL_IN_LINES if lines else _CONTROL).search(value)
    if bad:
        raise KnowledgeFileError(
            f"{where}: the {what} holds a control character (U+{ord(bad.group()):04X}) at "
            f"character {bad.start() + 1}; remove it"
        )
    if len(value) > limit:
        raise KnowledgeFileError(
            f"{where}: the {what} is {len(value)} characters long; at most {limit}"
        )
    return value


def make_item(
    where: str,
    question: str,
    answer: str,
    variants: list[str] | tuple[str, ...] = (),
    topic: str | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    source: str | None = None,
    extra: tuple[tuple[str, str], ...] = (),
    hidden: bool = False,
    *,
    answer_where: str | None = None,
) -> Item:
    """An ``Item`` whose every field passed the file's checks (``where`` names the row or line
    in the errors; ``answer_where`` the answer's, in YAML)."""
    said = answer_where or where
    question = _text(where, "question", nfc(question.strip()), MAX_QUESTION)
    if not question:
        raise KnowledgeFileError(f"{where}: the question is empty")
    if len(search_key(question)) > MAX_QUESTION:
        raise KnowledgeFileError(f"{where}: the question is too long; at most {MAX_QUESTION}")
    answer = _text(said, "answer", nfc(answer.strip()), MAX_ANSWER, lines=True)
    if hidden and answer:
        raise KnowledgeFileError(
            f"{said}: a hidden row hides the province's entry with this question; "
            "leave its answer empty (or remove the hidden mark to answer it yourselves)"
        )
    if not hidden and not answer:
        raise KnowledgeFileError(f"{said}: the answer is empty")
    kept = tuple(
        _text(where, "paraphrase", nfc(v.strip()), MAX_VARIANT) for v in variants if v.strip()
    )
    if len(kept) > MAX_VARIANTS:
        raise KnowledgeFileError(
            f"{where}: {len(kept)} paraphrases; at most {MAX_VARIANTS} per question"
        )
    for v in kept:
        if "|" in v:
            raise KnowledgeFileError(f"{where}: the paraphrase {v!r} holds '|' (the separator)")
    topic = _text(where, "topic", nfc(topic.strip()), MAX_TOPIC) if topic else None
    source = _text(said, "source", nfc(source.strip()), MAX_SOURCE) if source else None
    extra = tuple(
        (name, _text(where, f"column {name!r}", nfc(value.strip()), MAX_EXTRA, lines=True))
        for name, value in extra
    )
    return Item(
        question,
        answer,
        kept,
        topic or None,
        valid_from,
        valid_until,
        source or None,
        extra,
        hidden,
    )


# -- CSV --------------------------------------------------------------------------------------
#: what a spreadsheet reads as the start of a formula (OWASP "CSV injection")
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def guard(cell: str) -> str:
    """A cell a spreadsheet shows as text: one ``'`` before a cell that starts (after any
    quotes) with ``= + - @``, tab or CR. ``unguard`` undoes exactly that."""
    return "'" + cell if cell.lstrip("'").startswith(_FORMULA) else cell


def unguard(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].lstrip("'").startswith(_FORMULA) else cell


_DELIMITERS = (",", ";", "\t")


def delimiter_of(header: str) -> str:
    """The separator the header line uses: Excel writes ``;`` where the list separator is
    ``;`` (a Vietnamese or European locale), tab for "Unicode text"."""
    for d in _DELIMITERS:
        names = {c.strip().lower() for c in next(csv.reader([header], delimiter=d), [])}
        if all(r in names for r in REQUIRED):
            return d
    return max(_DELIMITERS, key=header.count)


def _records(text: str, delimiter: str):
    """(row number, first line, cells) of each record; a quote never closed (the rest of the
    file would be one cell) or closed in the middle of a cell refused, naming its row."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter, strict=True)
    row = 0
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            why = (
                'a quote (") opened in this row is never closed: the rest of the file would '
                "be one cell"
                # in a long file the csv module stops at its cell size limit (128 KB) first
                if "end of data" in str(exc) or "field limit" in str(exc)
                else 'a quote (") ends in the middle of a cell: quote the whole cell and '
                'double the quotes inside it ("")'
            )
            raise KnowledgeFileError(f"row {row + 1} (line {line}): {why}") from None
        row += 1
        yield row, line, cells


def read_csv(text: str) -> list[Item]:
    text = text.lstrip("\ufeff")
    end = re.search("\r\n|\r|\n", text)
    if end and end.group() == "\r":  # Excel for Mac's "CSV (Macintosh)": a CR ends each line
        text = re.sub("\r(?!\n)", "\n", text)
    delimiter = delimiter_of(text.split("\n", 1)[0])
    records = _records(text, delimiter)
    first = next(records, None)
    names = [nfc(unguard(c.strip())) for c in (first[2] if first else [])]
    header = [n.lower() if n.lower() in KNOWN else n for n in names]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise KnowledgeFileError(
            f"row 1 (header): missing column(s) {', '.join(missing)}; "
            f"the header must start with {','.join(REQUIRED)}"
        )
    seen: set[str] = set()
    for name in header:
        if name and name.lower() in seen:
            raise KnowledgeFileError(f"row 1 (header): the column {name!r} is there twice")
        seen.add(name.lower())
    extras = [n for n in header if n and n not in KNOWN]
    if len(extras) > MAX_EXTRA_COLUMNS:
        raise KnowledgeFileError(
            f"row 1 (header): {len(extras)} columns of your own; at most {MAX_EXTRA_COLUMNS}"
        )
    items: list[tuple[str, Item]] = []
    for n, _line, row in records:
        where = f"row {n}"
        if len(row) > len(header):
            sign = {",": "comma", ";": "semicolon (;)", "\t": "tab"}[delimiter]
            raise KnowledgeFileError(f"{where}: more cells than columns (a {sign} not quoted?)")
        row = row + [""] * (len(header) - len(row))
        if not any(c.strip() for c in row):
            continue  # an empty line Excel left
        cells: dict[str, str] = {}
        for col, (name, value) in enumerate(zip(header, row, strict=True), 1):
            value = unguard(value.strip())
            if not name:
                if value:
                    raise KnowledgeFileError(
                        f"{where}: column {col} has a value but no name in the header (row 1)"
                    )
                continue
            cells[name] = value
        if not cells.get("question"):
            raise KnowledgeFileError(f"{where}: the question is empty")
        mark = nfc(cells.get(HIDDEN, "").strip().lower())
        if mark not in HIDDEN_YES | HIDDEN_NO:
            raise KnowledgeFileError(
                f"{where}: hidden is {cells[HIDDEN]!r}; write x (or ẩn) to hide, or leave it empty"
            )
        try:
            dates = {
                k: parse_date(cells[k]) if cells.get(k) else None
                for k in ("valid_from", "valid_until")
            }
        except ValueError as exc:
            raise KnowledgeFileError(f"{where}: {exc}") from None
        items.append(
            (
                where,
                make_item(
                    where,
                    cells["question"],
                    cells.get("answer", ""),
                    cells.get("variants", "").split("|"),
                    cells.get("topic"),
                    dates["valid_from"],
                    dates["valid_until"],
                    cells.get("source"),
                    tuple((name, cells[name]) for name in extras),
                    mark in HIDDEN_YES,
                ),
            )
        )
    return _checked(items)


def extra_columns(items: list[Item]) -> list[str]:
    """The staff's own columns of these entries, in the order they first appear."""
    names: dict[str, None] = {}
    for i in items:
        names.update((name, None) for name, _ in i.extra)
    return list(names)


def write_csv(items: list[Item]) -> str:
    """CSV with a BOM, so Excel opens it as UTF-8; cells that would run as a formula guarded."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out, lineterminator="\r\n")
    hidden = [HIDDEN] if any(i.hidden for i in items) else []
    extras = extra_columns(items)
    w.writerow([guard(name) for name in (*COLUMNS, *hidden, *extras)])
    for i in items:
        own = dict(i.extra)
        w.writerow(
            [
                guard(cell)
                for cell in (
                    i.question,
                    i.answer,
                    "|".join(i.variants),
                    i.topic or "",
                    i.valid_from.isoformat() if i.valid_from else "",
                    i.valid_until.isoformat() if i.valid_until else "",
                    i.source or "",
                    *(["ẩn" if i.hidden else ""] if hidden else []),
                    *(own.get(name, "") for name in extras),
                )
            ]
        )
    return out.getvalue()


# -- Rasa YAML --------------------------------------------------------------------------------
_EXAMPLE = re.compile(r"^\s*-\s+(.*\S)\s*$")


#: libyaml's parser when PyYAML has it: a 5 MB file is read in ~5 s instead of ~40 s
_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_SafeLoader):
    """Safe YAML without a key twice in one mapping (YAML keeps the last, silently); anchors
    and aliases are refused before composing (``_no_aliases``)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        lines: dict[Any, int] = {}
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode):
                line = key.start_mark.line + 1
                if key.value in lines:
                    raise KnowledgeFileError(
                        f"line {line}: {key.value!r} is there twice (line {lines[key.value]} "
                        f"and line {line})"
                    )
                lines[key.value] = line
        return super().construct_mapping(node, deep)


def _no_aliases(text: str) -> None:
    """Anchors and aliases refused (a few lines of ``&a`` / ``*a`` can expand to gigabytes),
    from the parser's events, before anything is composed."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise KnowledgeFileError(
                f"line {_line(event)}: YAML anchors and aliases (& and *) are "
                "not accepted in a knowledge file; write each entry out in full"
            )


def _kind(value: Any) -> str:
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return f"a number ({value}); put it in quotes"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _value(node: Any, key: str) -> Any:
    """The value node of ``key`` in a mapping node (None if absent or not a mapping)."""
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode) and k.value == key:
                return v
    return None


def _line(node: Any) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def read_yaml(text: str) -> list[Item]:
    """Rasa 3 retrieval intents: the first example of ``faq/<name>`` is the question, the rest
    its variants; ``utter_faq/<name>``'s text the answer. Our own fields (topic, dates, source,
    hidden, the staff's extra columns) may ride in the response's ``metadata``."""
    loader = _Loader(text)
    try:
        _no_aliases(text)
        root = loader.get_single_node()
        doc = loader.construct_document(root) if root is not None else {}
    except RecursionError:  # thousands of [ or { inside one another: no knowledge file
        raise KnowledgeFileError(
            "the file: nested too deeply (lists or mappings inside one another)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}" if mark is not None else "the file"
        raise KnowledgeFileError(f"{line}: not valid YAML ({exc})") from None
    finally:
        loader.dispose()
    if not isinstance(doc, dict):
        raise KnowledgeFileError("line 1: expected a mapping with nlu: and responses:")
    nlu = doc.get("nlu") or []
    if not isinstance(nlu, list):
        raise KnowledgeFileError(f"line {_line(_value(root, 'nlu'))}: nlu: must be a list")
    nlu_nodes = _value(root, "nlu").value if nlu else []

    examples: dict[str, tuple[int, list[str]]] = {}
    for block, node in zip(nlu, nlu_nodes, strict=True):
        at = _line(node)
        if not isinstance(block, dict):
            raise KnowledgeFileError(f"line {at}: an nlu item must be a mapping (- intent: …)")
        name = block.get("intent")
        if not isinstance(name, str) or not name.startswith("faq/"):
            continue
        at = _line(_value(node, "intent"))
        if name[4:] in examples:
            raise KnowledgeFileError(
                f"line {at}: the intent {name} is already at line {examples[name[4:]][0]}; "
                "one intent per question (its paraphrases under one examples:)"
            )
        raw = block.get("examples")
        if not isinstance(raw, str):
            raise KnowledgeFileError(
                f"line {at}: the examples of {name} are {_kind(raw)}; write them as a block "
                "of '- text' lines under examples: |"
            )
        said = []
        block_node = _value(node, "examples")
        first = _line(block_node) + (1 if block_node.style in ("|", ">") else 0)
        for n, ln in enumerate(raw.splitlines()):
            if ln.strip():
                m = _EXAMPLE.match(ln)
                if not m:
                    raise KnowledgeFileError(f"line {first + n}: an example must be '- text'")
                said.append(m.group(1))
        if not said:
            raise KnowledgeFileError(f"line {at}: {name} has no examples")
        examples[name[4:]] = (at, said)

    responses = doc.get("responses") or {}
    responses_node = _value(root, "responses")
    if not isinstance(responses, dict):
        raise KnowledgeFileError(f"line {_line(responses_node)}: responses: must be a mapping")
    response_lines = {
        k.value: _line(k)
        for k, _ in (responses_node.value if isinstance(responses_node, yaml.MappingNode) else [])
        if isinstance(k, yaml.ScalarNode)
    }
    unanswered = [n for n in examples if f"utter_faq/{n}" not in responses]
    for name in responses:
        if str(name).startswith("utter_faq/") and str(name)[10:] not in examples:
            hint = (
                f" (and faq/{unanswered[0]} at line {examples[unanswered[0]][0]} has no "
                "response: a name mistyped?)"
                if unanswered
                else ""
            )
            raise KnowledgeFileError(
                f"line {response_lines.get(name, 1)}: the response {name} has no intent "
                f"faq/{str(name)[10:]} with its examples{hint}"
            )
    items: list[tuple[str, Item]] = []
    columns: dict[str, tuple[str, str]] = {}  # lower case → (as written, where first)
    for name, (at, said) in examples.items():
        where = f"line {at}"
        if f"utter_faq/{name}" not in responses:
            raise KnowledgeFileError(f"{where}: faq/{name} has no response utter_faq/{name}")
        answer_where = f"line {response_lines[f'utter_faq/{name}']}"
        texts = responses[f"utter_faq/{name}"]
        if not isinstance(texts, list) or not texts or not isinstance(texts[0], dict):
            raise KnowledgeFileError(
                f"{answer_where}: utter_faq/{name} must be a list with one '- text: …'"
            )
        if len(texts) > 1:
            raise KnowledgeFileError(
                f"{answer_where}: utter_faq/{name} has {len(texts)} texts; an entry has one "
                "answer (the others would be lost)"
            )
        response: dict[str, Any] = texts[0]
        meta = response.get("metadata") or {}
        if not isinstance(meta, dict):
            raise KnowledgeFileError(f"{answer_where}: the metadata must be a mapping")
        hidden = meta.get("hidden", False)
        if not isinstance(hidden, bool):
            raise KnowledgeFileError(f"{answer_where}: hidden must be true or false")
        answer = response.get("text")
        if hidden and answer is None:
            answer = ""
        if not isinstance(answer, str):
            raise KnowledgeFileError(
                f"{answer_where}: the answer (text) of utter_faq/{name} is {_kind(answer)}"
            )
        fields: dict[str, str | None] = {}
        for k in ("topic", "source"):
            v = meta.get(k)
            if v is not None and not isinstance(v, str):
                raise KnowledgeFileError(f"{answer_where}: the {k} is {_kind(v)}")
            fields[k] = v
        extra = meta.get("extra") or {}
        if not isinstance(extra, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
        ):
            raise KnowledgeFileError(
                f"{answer_where}: extra must map column names to text (put numbers in quotes)"
            )
        extra = {_column(answer_where, k, columns): v for k, v in extra.items()}
        try:
            dates = {
                k: parse_date(str(meta[k])) if meta.get(k) else None
                for k in ("valid_from", "valid_until")
            }
        except ValueError as exc:
            raise KnowledgeFileError(f"{answer_where}: {exc}") from None
        items.append(
            (
                where,
                make_item(
                    where,
                    said[0],
                    answer,
                    said[1:],
                    fields["topic"],
                    dates["valid_from"],
                    dates["valid_until"],
                    fields["source"],
                    tuple(extra.items()),
                    hidden,
                    answer_where=answer_where,
                ),
            )
        )
    return _checked(items)


def _column(where: str, name: str, columns: dict[str, tuple[str, str]]) -> str:
    """A YAML ``extra`` name checked as a CSV header cell would be (it becomes one on export:
    not one of ours, not empty, spelled one way in the whole file, at most
    ``MAX_EXTRA_COLUMNS``)."""
    name = nfc(name.strip())
    if not name:
        raise KnowledgeFileError(f"{where}: a column of extra has no name")
    if name.lower() in KNOWN:
        raise KnowledgeFileError(
            f"{where}: the column {name!r} of extra is one of ours ({', '.join(KNOWN)}); "
            "give your own column another name"
        )
    first = columns.setdefault(name.lower(), (name, where))
    if first[0] != name:
        raise KnowledgeFileError(
            f"{where}: the column {name!r} is written {first[0]!r} at {first[1]}; "
            "write it the same way"
        )
    if len(columns) > MAX_EXTRA_COLUMNS:
        raise KnowledgeFileError(
            f"{where}: {len(columns)} columns of your own; at most {MAX_EXTRA_COLUMNS}"
        )
    return name


def _name(item: Item, taken: set[str]) -> str:
    base = "_".join(words_key(item.question).split()[:6]) or "entry"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}_{n}", n + 1
    taken.add(name)
    return name


class _Block(str):
    pass


#: libyaml's emitter when PyYAML has it (the same text, ~5 times faster on a large export)
_SafeDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SafeDumper):
    """Examples as a literal block (``examples: |``), as Rasa's files write them."""


_Dumper.add_representer(  # libyaml's emitter takes a plain str only
    _Block, lambda d, v: d.represent_scalar("tag:yaml.org,2002:str", str(v), style="|")
)


def write_yaml(items: list[Item]) -> str:
    taken: set[str] = set()
    nlu, responses = [], {}
    for item in items:
        name = _name(item, taken)
        lines = "".join(f"- {s}\n" for s in (item.question, *item.variants))
        nlu.append({"intent": f"faq/{name}", "examples": _Block(lines)})
        response: dict[str, Any] = {"text": item.answer}
        meta: dict[str, Any] = {
            k: v
            for k, v in (
                ("topic", item.topic),
                ("valid_from", item.valid_from.isoformat() if item.valid_from else None),
                ("valid_until", item.valid_until.isoformat() if item.valid_until else None),
                ("source", item.source),
            )
            if v
        }
        if item.hidden:
            meta["hidden"] = True
        if item.extra:
            meta["extra"] = dict(item.extra)
        if meta:
            response["metadata"] = meta
        responses[f"utter_faq/{name}"] = [response]
    doc = {"version": "3.1", "nlu": nlu, "responses": responses}
    return yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)
