"""JSON from outside — the Zalo webhook, the staff API, Open311, web chat frames — parsed in
one place, with limits.

Python's parser recurses once per nesting level: ``[[[[…]]]]`` a few thousand deep raises
``RecursionError`` (not ``ValueError``), and a document a few hundred deep still parses but
then trips whatever walks it next (storing it as JSON, validating it). ``loads`` refuses such a
document before parsing, in one pass over its brackets outside strings, and turns every parse
failure into ``JsonError`` — a ``ValueError``, so a caller answers 4xx.
"""

from __future__ import annotations

import json
import re
from typing import Any

#: nothing we accept nests deeper: a Zalo event is ~5 levels, API bodies ~4
MAX_DEPTH = 32
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.S)
_BRACKET = re.compile(r"[\[\]{}]")


class JsonError(ValueError):
    pass


def depth(text: str, limit: int = MAX_DEPTH) -> int:
    """How deep ``text`` nests (strings left out), counting no further than ``limit + 1``."""
    level = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub("", text)):
        if m.group() in "[{":
            level += 1
            if level > deepest:
                deepest = level
                if deepest > limit:
                    break
        else:
            level -= 1
    return deepest


def loads(data: bytes | str, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """The parsed document, or ``JsonError`` for anything that is not JSON (or not UTF-8), is
    larger than ``max_bytes`` or nests deeper than ``max_depth``."""
    if max_bytes is not None and len(data) > max_bytes:
        raise JsonError(f"JSON larger than {max_bytes} bytes")
    try:
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
    except UnicodeDecodeError:
        raise JsonError("not UTF-8") from None
    if depth(text, max_depth) > max_depth:
        raise JsonError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, huge integers
        raise JsonError(f"not JSON: {exc}") from None
