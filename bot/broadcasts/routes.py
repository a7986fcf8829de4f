"""The route rule (zalo-oa-api.md §4.2): which way a notice may reach a resident on Zalo.

A consultation message only to a resident who interacted within 7 days (within 48 h it is free)
and whose window no send has found closed since; everyone else is for the commune's article
broadcast (or, for a targeted notice, the propagandist relay). One rule for every caller: the
planner, the relay, the coverage check and the staff API's "can we write to them".
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store.models import Resident
from bot.timeutil import as_utc

WINDOW = timedelta(days=7)
FREE_WINDOW = timedelta(hours=48)


def route_for(resident: Resident, now: datetime) -> tuple[str, str]:
    last = resident.last_interaction_at
    if (
        last is not None
        and now - as_utc(last) <= WINDOW
        and not (resident.window_closed_at and as_utc(resident.window_closed_at) >= as_utc(last))
    ):
        return "consultation", (
            "in_free_window_48h" if now - as_utc(last) <= FREE_WINDOW else "in_window_7d"
        )
    return "broadcast", "outside_7d_window"
