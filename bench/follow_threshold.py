"""``OWN_TOPIC`` (bot/conversation/follow.py) chosen on the dev half of
``tests/data/follow_labelled.yml`` and reported on its test half (the procedure:
``bot/conversation/follow_eval.py``; docs/nlu.md, "Follow-ups: OWN_TOPIC"):

    PYTHONPATH=$PWD .venv/bin/python bench/follow_threshold.py

with the service's engine (``bot.nlu.embedded.KIND``) at the code's ``CONFIDENCE_THRESHOLD``:
to measure another classifier, set both in the code (the blend's figures in docs/nlu.md were
measured so). Prints the table, the pairs read wrong at the code's value, then a JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.conversation import follow_eval  # noqa: E402
from bot.nlu import embedded  # noqa: E402


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    out = follow_eval.measure()
    print("OWN_TOPIC | dev right/of | test right/of")
    for r in out["rows"]:
        d, t = r["dev"], r["test"]
        print(f"{r['own_topic']:.3f} | {d['right']}/{d['of']} | {t['right']}/{t['of']}")
    chosen = out["chosen"]
    print(f"chosen on dev: OWN_TOPIC {chosen['own_topic']}; in code: {out['in_code']}")
    for half in ("dev", "test"):
        for w in out["at_code"][half]["wrong"]:
            print(f"wrong at the code's value ({half}): {w}")
    print(
        json.dumps(
            {
                "bench": "follow_threshold",
                "classifier": embedded.KIND,
                "chosen": chosen["own_topic"],
                "chosen_dev": {k: chosen["dev"][k] for k in ("right", "of")},
                "chosen_test": {k: chosen["test"][k] for k in ("right", "of")},
                "in_code": out["in_code"],
                "in_code_dev": {k: out["at_code"]["dev"][k] for k in ("right", "of")},
                "in_code_test": {k: out["at_code"]["test"][k] for k in ("right", "of")},
            },
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
