"""Text for the public, in one place: what a ticket's words lose before they are shown outside
the commune (Open311, a published answer, the answer passed on to a duplicate's reporter)."""

from __future__ import annotations

import re

from bot.store.models import Ticket

_PHONE = re.compile(r"(?<!\d)(?:\+?84|\(?0)(?:[\s.)-]{0,2}\d){8,10}(?!\d)")  # (0214) 3880 123
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
#: CMND (9 digits) and CCCD (12 digits), written whole or in groups (001 234 567 890,
#: 001-234-567-890); dots
#: are left alone, since 100.000.000 is an amount of money
_ID_CARD = re.compile(
    r"(?<![\d.,])(?:\d{12}|\d{9}|\d{3}(?:[ -]\d{3}){3}|\d{4}(?:[ -]\d{4}){2}|"
    r"\d{3}(?:[ -]\d{3}){2})(?![\d.,]?\d)"
)


def anonymise(text: str, ticket: Ticket | None = None) -> str:
    """Text for the public — the one masking function, used wherever a ticket's words are
    shown outside the commune: phone numbers, e-mail addresses, ID-card numbers (CMND 9 digits,
    CCCD 12) and the reporter's name taken out."""
    text = _EMAIL.sub("***", text)
    text = _ID_CARD.sub("***", text)  # before phones: a CCCD starts with 0 too
    text = _PHONE.sub("***", text)
    if ticket is not None and ticket.reporter_name:
        text = re.sub(rf"(?<!\w){re.escape(ticket.reporter_name)}(?!\w)", "***", text, flags=re.I)
    return text
