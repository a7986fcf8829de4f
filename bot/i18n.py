"""User-facing text through Babel. Message ids are the Vietnamese text itself (Vietnamese first);
catalogs in ``bot/locales/<lang>/LC_MESSAGES/messages.po`` translate them. Languages without a
catalog (most minority languages have no CLDR locale, domain-vn.md §5.1) fall back to Vietnamese.
The .po files are compiled in memory at first use, so no build step is needed.
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALES = Path(__file__).resolve().parent / "locales"
DEFAULT = "vi"


@lru_cache(maxsize=None)
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


def gettext_for(lang: str | None) -> Callable[[str], str]:
    return translations((lang or DEFAULT).split("-")[0]).gettext


def available() -> list[str]:
    return [DEFAULT] + sorted(p.name for p in LOCALES.iterdir()
                              if (p / "LC_MESSAGES" / "messages.po").exists())


def extract_answers(fileobj, keywords, comment_tags, options):  # type: ignore[no-untyped-def]
    """Babel extractor for ``data/answers/*.yml`` (babel.cfg): every answer text and fragment
    is a message id. Yields ``(lineno, funcname, message, comments)`` as Babel expects."""
    import yaml

    loader = yaml.SafeLoader(fileobj.read().decode("utf-8"))
    try:
        root = loader.get_single_node()
    finally:
        loader.dispose()
    seen: set[str] = set()

    def walk(node):  # type: ignore[no-untyped-def]
        if isinstance(node, yaml.MappingNode):  # values only; keys are names
            for _key, value in node.value:
                yield from walk(value)
        elif isinstance(node, yaml.ScalarNode):
            yield node

    for scalar in walk(root):
        if scalar.tag.endswith(":str") and scalar.value not in seen:
            seen.add(scalar.value)
            yield scalar.start_mark.line + 1, None, scalar.value, []
