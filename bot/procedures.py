"""Commune-level procedures as data (``data/procedures/<key>.yml``, docs/procedures.md): what to
bring, the fee, the time limit, where, the online way and the legal basis, with their sources —
answered in the commune's voice ("Tại UBND xã Bắc Hà, …") with the commune's own desk, fee and
time limit where its config sets them (``communes[].procedures``, ``offices``).

What other code calls:

- ``answer(commune, key, aspect=None, language=None) -> str``: the whole answer, or one aspect
  (``ASPECTS``) and a pointer to the rest;
- ``detect_aspect(text) -> str | None``: the aspect a question asks about ("phí khai sinh bao
  nhiêu" → ``fee``);
- ``detect(text) -> str | None``: the procedure a text names ("xin giấy xác nhận độc thân" →
  ``marital_status``), the longest phrase of any procedure's ``words``;
- ``of_intent(intent) -> list[str]``: the procedures an NLU intent asks for
  (``procedure_residence`` → permanent and temporary residence);
- ``procedures()``: every procedure, checked when first read (a bad file names file and field).

The texts are Vietnamese source texts and Babel message ids (``extract``, babel.cfg).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from bot.config import PROCEDURES, ROOT, Commune, Office
from bot.i18n import N_, _, use_language

NATIONAL_PORTAL = "https://dichvucong.gov.vn"

#: what a resident may ask about one procedure, in the order of the whole answer
ASPECTS = ("bring", "fee", "time_limit", "where", "online", "legal_basis")
LABELS = {
    "bring": N_("Cần mang"),
    "fee": N_("Lệ phí"),
    "time_limit": N_("Thời hạn"),
    "where": N_("Nơi nộp"),
    "online": N_("Làm trực tuyến"),
    "legal_basis": N_("Căn cứ"),
}
#: the translatable fields of a file (``extract``)
_TEXTS = ("title", *ASPECTS)
_DESKS = ("one_stop", "police")

#: how residents ask about one aspect (on ``bot.nlu.text.normalise``d text); the earliest in
#: the text wins ("tạm trú online có mất phí không" → online)
_ASPECT_WORDS = {
    "online": r"online|onl|truc tuyen|qua mang|tren mang|dich vu cong|vneid|qua dien thoai"
    r"|o nha|tai nha|qua zalo",
    "fee": r"le phi|phi|bao nhieu tien|mat tien|ton tien|het bao nhieu|het tien|nop tien"
    r"|mien phi|chi phi|tien le phi|may tien|bao tien",
    "time_limit": r"may ngay|bao lau|bao nhieu ngay|thoi han|thoi gian|bao gio (?:co|xong|lay)"
    r"|khi nao (?:co|xong|lay)|lau (?:khong|ko)|trong bao lau|may hom|bao nhieu hom|qua han"
    r"|tre han|han chot",
    "bring": r"can gi|mang gi|giay to gi|can giay to|can nhung gi|chuan bi gi|mang theo"
    r"|ho so gom|ho so can|ho so gi|ho so nhu the nao|giay to can|can mang|can co gi|nop gi",
    "where": r"o dau|cho nao|noi nao|tai dau|di dau|den dau|lam o|nop o|dia chi",
    "legal_basis": r"can cu|luat nao|quy dinh nao|nghi dinh|van ban nao|theo luat|co so phap ly",
}
_ASPECT_RE = {k: re.compile(rf"\b(?:{v})\b") for k, v in _ASPECT_WORDS.items()}


class ProcedureError(ValueError):
    """A procedure file that cannot be used: the message names the file and the field."""


@dataclass(frozen=True)
class Source:
    title: str
    url: str | None = None


@dataclass(frozen=True)
class Procedure:
    key: str
    title: str
    intent: str | None
    words: tuple[str, ...]  # normalised phrases
    desk: str
    bring: str
    fee: str
    time_limit: str
    where: str
    online: str
    legal_basis: str
    sources: tuple[Source, ...]

    def text(self, aspect: str) -> str:
        return str(getattr(self, aspect))


def _normalise(text: str) -> str:
    from bot.nlu.text import normalise

    return normalise(text)


def _load(path: Any) -> Procedure:
    where = f"{path.relative_to(ROOT)}"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProcedureError(f"{where}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ProcedureError(f"{where}: the top level must be a mapping of fields")
    if raw.get("key") != path.stem:
        raise ProcedureError(f"{where}: key: must be the file's name ({path.stem})")
    for field in ("title", *ASPECTS):
        if not isinstance(raw.get(field), str) or not raw[field].strip():
            raise ProcedureError(f"{where}: {field}: a text is required")
    if raw.get("desk") not in _DESKS:
        raise ProcedureError(f"{where}: desk: one of {', '.join(_DESKS)}")
    words = raw.get("words")
    if not isinstance(words, list) or not words or not all(isinstance(w, str) for w in words):
        raise ProcedureError(f"{where}: words: a list of the phrases residents use")
    sources = raw.get("sources")
    if not isinstance(sources, list) or not sources:
        raise ProcedureError(f"{where}: sources: at least one (title, optional url)")
    parsed = []
    for i, s in enumerate(sources):
        if not isinstance(s, dict) or not isinstance(s.get("title"), str):
            raise ProcedureError(f"{where}: sources.{i}: a title is required")
        url = s.get("url")
        if url is not None and not re.match(r"^https?://\S+$", str(url)):
            raise ProcedureError(f"{where}: sources.{i}.url: not a web address")
        parsed.append(Source(s["title"], url))
    unknown = set(raw) - {"key", "intent", "words", "desk", "sources", *_TEXTS}
    if unknown:
        raise ProcedureError(f"{where}: unknown fields {', '.join(sorted(unknown))}")
    return Procedure(
        key=path.stem,
        title=raw["title"].strip(),
        intent=raw.get("intent"),
        words=tuple(_normalise(w) for w in words),
        desk=raw["desk"],
        sources=tuple(parsed),
        **{a: raw[a].strip() for a in ASPECTS},
    )


@lru_cache(maxsize=1)
def procedures() -> dict[str, Procedure]:
    """Every procedure of ``data/procedures/``, by key (read and checked once)."""
    from bot.nlu.intents import TITLES

    found = {p.key: p for p in map(_load, sorted(PROCEDURES.glob("*.yml")))}
    for p in found.values():
        if p.intent is not None and p.intent not in TITLES:
            raise ProcedureError(
                f"data/procedures/{p.key}.yml: intent: {p.intent} is not an intent"
            )
    return found


def translated(key: str) -> bool:
    """Whether the current language says procedure ``key`` in its own words: Vietnamese, or a
    catalog that translates the file's texts (read on ``bring``) (until it does, the caller may give that
    language's generic answer of data/answers/answers.yml instead)."""
    from bot.i18n import DEFAULT, current_language

    p = procedures()[key]  # the title may be an intent's button, translated long ago
    return current_language() == DEFAULT or _(p.bring) != p.bring


def of_intent(intent: str) -> list[str]:
    """The procedures an intent asks for (several: e.g. permanent and temporary residence)."""
    return [p.key for p in procedures().values() if p.intent == intent]


def intents() -> set[str]:
    return {p.intent for p in procedures().values() if p.intent}


def detect(text: str) -> str | None:
    """The procedure ``text`` names: the longest phrase of any procedure's ``words``."""
    key = f" {_normalise(text)} "
    best: tuple[int, str] | None = None
    for p in procedures().values():
        for phrase in p.words:
            if f" {phrase} " in key and (best is None or len(phrase) > best[0]):
                best = (len(phrase), p.key)
    return best[1] if best else None


def detect_aspect(text: str) -> str | None:
    """The one aspect (``ASPECTS``) a question asks about, None for the whole procedure: the
    earliest asked in the text."""
    key = _normalise(text)
    found = [(m.start(), a) for a, rx in _ASPECT_RE.items() if (m := rx.search(key))]
    return min(found)[1] if found else None


# -- the answer ---------------------------------------------------------------------------------
def unit(commune: Commune) -> str:
    """ "UBND xã Bắc Hà" from "Xã Bắc Hà" (mid-sentence, Vietnamese writes the unit's kind in
    lower case; other languages keep the name as it is)."""
    from bot.i18n import DEFAULT, current_language

    name = commune.name
    if current_language() == DEFAULT:
        name = name[:1].lower() + name[1:]
    return _("UBND {commune}").format(commune=name)


def _desk(commune: Commune, kind: str) -> Office | None:
    return commune.office_of(kind)


def _where(commune: Commune, p: Procedure) -> str:
    parts = [_(p.where)]
    office = _desk(commune, p.desk)
    if office is not None:
        said = office.name
        if office.address:
            said += f", {office.address}"
        if office.phone:
            said += ", " + _("điện thoại {phone}").format(phone=office.phone)
        parts.append(said + ".")
    elif p.desk == "one_stop":
        parts.append(
            _("Bộ phận một cửa: {address}, điện thoại {phone}.").format(
                address=commune.address, phone=commune.phone
            )
        )
    return " ".join(parts)


def _online(commune: Commune, p: Procedure) -> str:
    portals = [NATIONAL_PORTAL]
    if commune.public_service_portal:
        portals.append(commune.public_service_portal)
    return _(p.online) + " " + _("Địa chỉ: {links}").format(links=", ".join(portals))


def _legal(p: Procedure) -> str:
    lines = [_(p.legal_basis)]
    lines += [f"  – {s.title}" + (f": {s.url}" if s.url else "") for s in p.sources]
    return "\n".join(lines)


def _aspect_text(commune: Commune, p: Procedure, aspect: str, full: bool) -> str:
    local = commune.procedures.get(p.key)
    if aspect == "fee" and local and local.fee:
        return local.fee
    if aspect == "time_limit" and local and local.time_limit:
        return local.time_limit
    if aspect == "where":
        return _where(commune, p)
    if aspect == "online":
        return _online(commune, p)
    if aspect == "legal_basis":
        return _(p.legal_basis) if full else _legal(p)
    return _(p.text(aspect))


def _contact(commune: Commune, p: Procedure) -> str:
    office = _desk(commune, p.desk)
    if p.desk != "one_stop" and office is not None and office.phone:
        return _("Cần hỏi thêm: {office}, điện thoại {phone}.").format(
            office=office.name, phone=office.phone
        )
    desk = _desk(commune, "one_stop")
    phone = desk.phone if desk and desk.phone else commune.phone
    return _("Cần hỏi thêm: bộ phận một cửa, điện thoại {phone}.").format(phone=phone)


def answer(
    commune: Commune,
    key: str,
    aspect: str | None = None,
    language: str | None = None,
    *,
    tail: bool = True,
) -> str:
    """The procedure ``key`` at ``commune``: the whole of it, or only ``aspect`` (one of
    ``ASPECTS``) and a pointer to the rest — said in ``language`` (None: the current one).
    ``tail``: end with where to ask more (and, for an aspect, the pointer). ``KeyError`` for an
    unknown procedure, ``ValueError`` for an unknown aspect."""
    p = procedures()[key]
    if aspect is not None and aspect not in ASPECTS:
        raise ValueError(f"{aspect}: one of {', '.join(ASPECTS)}")
    with use_language(language) if language else nullcontext():
        head = _("Tại {unit}, thủ tục {title}").format(unit=unit(commune), title=_lower(_(p.title)))
        local = commune.procedures.get(p.key)
        note = [local.note] if local and local.note else []
        if aspect is not None:
            label = _(LABELS[aspect]).lower()
            lines = [f"{head} — {label}: {_aspect_text(commune, p, aspect, False)}", *note]
            if tail:
                lines.append(
                    _(
                        "Anh/chị cần biết thêm giấy tờ cần mang, lệ phí, thời hạn, nơi nộp hay "
                        'cách làm trực tuyến, cứ nhắn (ví dụ: "{example}").'
                    ).format(example=_lower(_(p.title)) + " " + _("cần mang gì"))
                )
                if aspect != "where":
                    lines.append(_contact(commune, p))
            return "\n".join(lines)
        lines = [head + ":"]
        lines += [f"• {_(LABELS[a])}: {_aspect_text(commune, p, a, True)}" for a in ASPECTS]
        lines += note
        if tail:
            lines.append(_contact(commune, p))
        return "\n".join(lines)


def answer_many(
    commune: Commune, keys: list[str], aspect: str | None = None, language: str | None = None
) -> str:
    """Several procedures asked at once (``procedure_residence``: permanent and temporary),
    where to ask more said once, after the last."""
    return "\n\n".join(
        answer(commune, k, aspect, language, tail=i == len(keys) - 1) for i, k in enumerate(keys)
    )


def _lower(title: str) -> str:
    return title[:1].lower() + title[1:]


# -- the catalog ------------------------------------------------------------------------------
def extract(fileobj: Any, keywords: Any, comment_tags: Any, options: Any) -> Iterator[Any]:
    """Babel extractor for ``data/procedures/*.yml`` (babel.cfg): the texts residents read
    (``title`` and every aspect), not the words matched, the keys nor the sources."""
    loader = yaml.SafeLoader(fileobj.read().decode("utf-8"))
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    if not isinstance(root, yaml.MappingNode):
        return
    for key, value in root.value:
        if key.value in _TEXTS and isinstance(value, yaml.ScalarNode):
            yield value.start_mark.line + 1, None, value.value, []
