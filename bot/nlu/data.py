"""Training data in Rasa 3.x YAML (`data/nlu/`): intents with examples, regexes, synonyms,
lookup tables. One data set for every backend (DESIGN.md principle 6)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.config import ROOT

NLU_DIR = ROOT / "data" / "nlu"
_ANNOTATION = re.compile(r"\[([^\]]+)\]\((?:[^)]*)\)|\[([^\]]+)\]\{[^}]*\}")


@dataclass
class NluData:
    examples: list[tuple[str, str]] = field(default_factory=list)  # (text, intent)
    regexes: dict[str, list[str]] = field(default_factory=dict)
    synonyms: dict[str, list[str]] = field(default_factory=dict)
    lookups: dict[str, list[str]] = field(default_factory=dict)

    @property
    def intents(self) -> list[str]:
        return sorted({i for _, i in self.examples})


def strip_annotations(text: str) -> str:
    """``[PA-2026-000123](ticket_code)`` → ``PA-2026-000123``."""
    return _ANNOTATION.sub(lambda m: m.group(1) or m.group(2), text)


def _items(block: str | None) -> list[str]:
    out = []
    for line in (block or "").splitlines():
        line = line.strip()
        if line.startswith("- "):
            out.append(line[2:].strip())
    return out


def load(path: Path | str = NLU_DIR, *, skip: tuple[str, ...] = ("test",)) -> NluData:
    """Every ``*.yml`` under ``path`` (a file or a folder; sub-folders named in ``skip`` are
    left out — the held-out split lives in ``data/nlu/test/``)."""
    path = Path(path)
    files = (
        [path]
        if path.is_file()
        else sorted(
            p for p in path.rglob("*.yml") if not set(p.relative_to(path).parts[:-1]) & set(skip)
        )
    )
    data = NluData()
    for file in files:
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        for item in doc.get("nlu") or []:
            if "intent" in item:
                data.examples += [
                    (strip_annotations(t), str(item["intent"]))
                    for t in _items(item.get("examples"))
                ]
            elif "regex" in item:
                data.regexes.setdefault(str(item["regex"]), []).extend(_items(item.get("examples")))
            elif "synonym" in item:
                data.synonyms.setdefault(str(item["synonym"]), []).extend(
                    _items(item.get("examples"))
                )
            elif "lookup" in item:
                data.lookups.setdefault(str(item["lookup"]), []).extend(
                    _items(item.get("examples"))
                )
    return data
