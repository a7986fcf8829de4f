"""How well the normaliser reads teencode: a hand-labelled set of resident messages
(``tests/data/teencode_labelled.tsv``: each message with one expected reading per word) against
``bot.nlu.text.expand``.

* **precision** — of the words the normaliser changed, those changed to the expected reading;
* **coverage** — of the words the labels change (the teencode in the set), those the normaliser
  read as expected.

A word's reading is compared whole: "ntn" read "nhu the nao" is one right change.
``bench/teencode.py`` prints the figures and the time per message; ``tests/test_teencode.py``
holds the floors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.config import ROOT
from bot.nlu.text import expand

LABELLED = ROOT / "tests" / "data" / "teencode_labelled.tsv"


@dataclass(frozen=True)
class Example:
    line: int
    message: str
    expected: tuple[str, ...]  # one reading per word, several words joined by spaces


@dataclass
class Report:
    messages: int = 0
    words: int = 0
    changed: int = 0  # words the normaliser changed
    changed_right: int = 0  # … to the expected reading
    teencode: int = 0  # words the labels change
    covered: int = 0  # … that the normaliser read as expected
    unchanged_messages: int = 0  # messages whose labels change nothing
    wrong: list[str] = field(default_factory=list)  # "line: word → got (expected …)"
    missed: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.changed_right / self.changed if self.changed else 1.0

    @property
    def coverage(self) -> float:
        return self.covered / self.teencode if self.teencode else 1.0


def load(path: Path = LABELLED) -> list[Example]:
    """The labelled messages; a line whose readings do not match its words is an error."""
    examples: list[Example] = []
    header_seen = False
    for n, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.startswith("#"):
            continue
        if not header_seen:
            header_seen = True
            if raw.split("\t") != ["message", "expected"]:
                raise ValueError(f"{path}:{n}: header must be 'message<TAB>expected'")
            continue
        parts = raw.split("\t")
        if len(parts) != 2:
            raise ValueError(f"{path}:{n}: expected two tab-separated columns")
        message, expected = parts
        readings = tuple(r.replace("+", " ") for r in expected.split())
        words = len(expand(message))
        if words != len(readings):
            raise ValueError(f"{path}:{n}: {words} words but {len(readings)} readings")
        examples.append(Example(n, message, readings))
    return examples


def measure(examples: list[Example]) -> Report:
    report = Report()
    for ex in examples:
        report.messages += 1
        if all(w == r for (w, _), r in zip(expand(ex.message), ex.expected, strict=True)):
            report.unchanged_messages += 1
        for (word, got), want in zip(expand(ex.message), ex.expected, strict=True):
            report.words += 1
            if got != word:
                report.changed += 1
                if got == want:
                    report.changed_right += 1
                else:
                    report.wrong.append(
                        f"{ex.line}: {word} → {got} (expected {want}): {ex.message}"
                    )
            if want != word:
                report.teencode += 1
                if got == want:
                    report.covered += 1
                else:
                    report.missed.append(
                        f"{ex.line}: {word} → {got} (expected {want}): {ex.message}"
                    )
    return report
