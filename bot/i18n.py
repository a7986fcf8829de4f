"""User-facing text through Babel. Message ids are the Vietnamese text itself (Vietnamese first);
catalogs in ``bot/locales/<lang>/LC_MESSAGES/messages.po`` translate them. Languages without a
catalog (most minority languages have no CLDR locale, domain-vn.md §5.1) fall back to Vietnamese.
The .po files are compiled in memory at first use, so no build step is needed.

The language a text is said in is the *current* one, held in a ``ContextVar``: the turn that
answers a resident enters ``with use_language(resident.language):`` once, and every ``_()``
below it — in any module, however deep — translates into that language when it is called.
A ContextVar is per asyncio task (a task starts with a copy of its creator's context), so two
residents answered at the same time never see each other's language. ``gettext_for(lang)``
stays for the few places that need one language explicitly, whatever the turn's (a message
to staff is Vietnamese; one function speaking several languages).
"""

from __future__ import annotations

import functools
import gettext
import inspect
import io
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import ParamSpec, TypeVar

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

P = ParamSpec("P")
R = TypeVar("R")

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT = "vi"


@functools.cache
def translations(lang: str) -> gettext.NullTranslations:
    po = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    if lang == DEFAULT or not po.exists():
        return gettext.NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    return Translations(buf)


def _code(lang: str | None) -> str:
    """The catalog's code for a language as residents' records hold it ("en-US" → "en")."""
    return (lang or DEFAULT).split("-")[0]


def gettext_for(lang: str | None) -> Callable[[str], str]:
    """One language's translate function, whatever the current language is: for a message
    that must be in that language (staff read Vietnamese) or a function that speaks several."""
    return translations(_code(lang)).gettext


#: the language texts are said in now (per asyncio task); the source language outside a turn
_current: ContextVar[str] = ContextVar("bot_language", default=DEFAULT)


def current_language() -> str:
    return _current.get()


@contextmanager
def use_language(lang: str | None) -> Iterator[str]:
    """Say everything inside in ``lang`` (None: Vietnamese); the language before comes back
    on exit. Holds across ``await`` inside the block, and only for the task that entered it."""
    token = _current.set(_code(lang))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def in_language_argument(fn: Callable[P, R]) -> Callable[P, R]:
    """Run ``fn`` (a plain function) under ``use_language`` of its own ``language`` argument:
    the top of a turn (``engine.respond``, ``engine.welcome``…) names the language once and
    everything it calls says ``_()``."""
    signature = inspect.signature(fn)
    if "language" not in signature.parameters or inspect.iscoroutinefunction(fn):
        raise TypeError(f"{fn.__qualname__}: a plain function with a 'language' argument")

    @functools.wraps(fn)
    def speaking(*args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        with use_language(bound.arguments["language"]):
            return fn(*args, **kwargs)

    return speaking


def _(message: str) -> str:
    """``message`` (a Vietnamese msgid) in the current language, looked up when called."""
    return translations(_current.get()).gettext(message)


def N_(message: str) -> str:
    """Marks a msgid for extraction (``pybabel extract`` knows ``N_``) where it is defined — a
    table of names, a state's wording — to be translated by ``_()`` where it is shown."""
    return message


@lru_cache(maxsize=1)
def available() -> tuple[str, ...]:
    """The languages the bot answers in: Vietnamese and every language with a catalog."""
    return tuple(
        [DEFAULT]
        + sorted(p.name for p in LOCALES.iterdir() if (p / "LC_MESSAGES" / "messages.po").exists())
    )


def extract_answers(fileobj, keywords, comment_tags, options):
    """Babel extractor for ``data/answers/*.yml`` (babel.cfg): every answer text and fragment
    is a message id. Yields ``(lineno, funcname, message, comments)`` as Babel expects."""
    import yaml

    loader = yaml.SafeLoader(fileobj.read().decode("utf-8"))
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    seen: set[str] = set()

    def walk(node):
        if isinstance(node, yaml.MappingNode):  # values only; keys are names
            for _key, value in node.value:
                yield from walk(value)
        elif isinstance(node, yaml.ScalarNode):
            yield node

    for scalar in walk(root):
        if scalar.tag.endswith(":str") and scalar.value not in seen:
            seen.add(scalar.value)
            yield scalar.start_mark.line + 1, None, scalar.value, []


# -- keeping the catalogs complete (scripts/i18n.sh, tests/test_i18n.py) --------------------------
ROOT = LOCALES.parent.parent


def extracted() -> set[str]:
    """Every message id the code and data hold today, as ``pybabel extract -F babel.cfg``
    finds them (``_()``, ``N_()``, ``data/answers/*.yml``)."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.frontend import parse_mapping_cfg

    with (ROOT / "babel.cfg").open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    ids: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=DEFAULT_KEYWORDS
    ):
        for msgid in message if isinstance(message, tuple) else (message,):
            if msgid:
                ids.add(msgid)
    return ids


def problems(lang: str) -> list[str]:
    """What keeps ``lang``'s catalog from being complete: message ids of the code and data
    it lacks, entries left untranslated or fuzzy, and translations with a placeholder the
    Vietnamese text does not fill (a ``KeyError`` when shown; one may be left out, as the
    English leaves out ``{kind}``, "thôn"). Empty when every text reaches the resident in
    ``lang``."""
    po = LOCALES / lang / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=lang)
    found: list[str] = [
        f"missing: {m!r}"
        for m in sorted(extracted())
        if m not in catalog or catalog[m].string in ("", None)
    ]
    placeholder = re.compile(r"\{\w*\}")
    for message in catalog:
        if not message.id:
            continue
        if message.fuzzy:
            found.append(f"fuzzy: {message.id!r}")
        source = message.id if isinstance(message.id, str) else message.id[0]
        strings = message.string
        target = strings if isinstance(strings, str) else (strings[0] if strings else "")
        if not target:
            if f"missing: {source!r}" not in found:
                found.append(f"untranslated: {source!r}")
        elif not set(placeholder.findall(target)) <= set(placeholder.findall(source)):
            found.append(f"unknown placeholder: {source!r}")
    return found
