"""Public intent data sets → Rasa 3.x NLU YAML, so `bot nlu eval --train DIR --test DIR` can
compare the backends on data no one here wrote.

Supported: the ``seq.in`` + ``label`` layout (one utterance per line, its intent on the same
line of ``label``) used by JointBERT-style corpora, e.g. PhoATIS (Vietnamese ATIS, VinAI
Research). Word-segmented text (``giá_vé``) is turned back into syllables. Multi-intent labels
(``atis_flight#atis_airfare``) stay one label, written with ``+``.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path


class ConvertError(ValueError):
    pass


def read_seq_label(folder: Path) -> list[tuple[str, str]]:
    texts_file, labels_file = folder / "seq.in", folder / "label"
    for file in (texts_file, labels_file):
        if not file.exists():
            raise ConvertError(f"{file}: missing (expected seq.in and label side by side)")
    texts = texts_file.read_text(encoding="utf-8").splitlines()
    labels = labels_file.read_text(encoding="utf-8").splitlines()
    if len(texts) != len(labels):
        raise ConvertError(f"{folder}: {len(texts)} utterances but {len(labels)} labels")
    pairs = []
    for n, (text, label) in enumerate(zip(texts, labels), 1):
        text, label = text.strip().replace("_", " "), label.strip().replace("#", "+")
        if not text or not label:
            raise ConvertError(f"{folder}: line {n} is empty")
        pairs.append((text, label))
    return pairs


def to_rasa_yaml(pairs: list[tuple[str, str]], source: str) -> str:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for text, label in pairs:
        if text not in by_intent[label]:
            by_intent[label].append(text)
    out = [f"# converted by `bot nlu convert` from {source}\n", 'version: "3.1"\n', "nlu:\n"]
    for intent in sorted(by_intent):
        out.append(f"- intent: {intent}\n  examples: |\n")
        out += [f"    - {text}\n" for text in by_intent[intent]]
    return "".join(out)


def convert(src: Path, out: Path) -> dict[str, int]:
    """``src/<split>/{seq.in,label}`` → ``out/<split>/nlu.yml`` for every split found."""
    splits = [p for p in sorted(src.iterdir()) if (p / "seq.in").exists()] if src.is_dir() else []
    if not splits:
        raise ConvertError(f"{src}: no <split>/seq.in + <split>/label folders found")
    counts = {}
    for split in splits:
        pairs = read_seq_label(split)
        target = out / split.name / "nlu.yml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(to_rasa_yaml(pairs, f"{src.name}/{split.name}"), encoding="utf-8")
        counts[split.name] = len(pairs)
    return counts
