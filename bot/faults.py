"""Fault injection for crash tests, read from the environment in this one place.

``BOT_FAULT_EXIT_AFTER_ACK=1``: the process answers the first webhook event with 200 and then
dies at once (``os._exit``), before anything processes the stored event — the crash the design
promises to survive.

``BOT_FAULT_RASA_SERVE_CMD='["sleep", "600"]'``: ``bot nlu rasa-serve`` supervises this stand-in
command instead of training and serving Rasa (the test that it leaves no process behind needs
no Rasa environment). Never set either in production.
"""

from __future__ import annotations

import json
import os


def exit_after_ack() -> bool:
    return os.environ.get("BOT_FAULT_EXIT_AFTER_ACK") == "1"


def die() -> None:
    os._exit(137)


def rasa_serve_stand_in() -> list[str] | None:
    raw = os.environ.get("BOT_FAULT_RASA_SERVE_CMD")
    if not raw:
        return None
    cmd = json.loads(raw)
    if not isinstance(cmd, list) or not cmd or not all(isinstance(c, str) for c in cmd):
        raise ValueError("BOT_FAULT_RASA_SERVE_CMD: a JSON list of strings")
    return cmd
