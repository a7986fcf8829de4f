"""Fault injection for crash tests, read from the environment in this one place.

``BOT_FAULT_EXIT_AFTER_ACK=1``: the process answers the first webhook event with 200 and then
dies at once (``os._exit``), before anything processes the stored event — the crash the design
promises to survive. Never set in production.
"""

from __future__ import annotations

import os


def exit_after_ack() -> bool:
    return os.environ.get("BOT_FAULT_EXIT_AFTER_ACK") == "1"


def die() -> None:
    os._exit(137)
