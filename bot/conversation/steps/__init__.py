"""A resident's message through the conversation's steps, in order (``STEPS``): each is a pure
function of the one ``Turn`` (bot/conversation/turn.py) that answers (a ``TurnResult``) or
passes (None). ``engine.turn`` runs them all; the handlers' chain (bot/handlers/conversation.py)
runs them in the same order, a feature's steps per handler. No I/O.

pending questions   erase_confirmation, triage_answer            steps/pending.py
village tapped      village_tap                                  steps/village.py
rating              rating                                       steps/pending.py
after filing        late_attachment, consent, phone, reopened_note
report form         report_form_step                             steps/report.py
no words            no_words                                     steps/intent.py
village number      village_number                               steps/village.py
triage              triage_message                               steps/emergency.py
follow-up           follow_up (rewrites a follow-up, never answers) steps/follow.py
— the message read once (NLU, rules: steps/reading.py), then by intent —
facts, procedures   facts (offices, village people, procedures)  steps/facts.py
misunderstood       misunderstood                                steps/intent.py
report begun        report_start                                 steps/report.py
ticket status       ticket_status, talk_to_staff                 steps/intent.py
village words       village_words                                steps/village.py
topics              topics                                       steps/intent.py
intent answer       intent_answer (answers every message left)   steps/intent.py
"""

from __future__ import annotations

from bot.conversation.steps.emergency import triage_message
from bot.conversation.steps.facts import facts
from bot.conversation.steps.follow import follow_up
from bot.conversation.steps.intent import (
    intent_answer,
    misunderstood,
    no_words,
    talk_to_staff,
    ticket_status,
    topics,
)
from bot.conversation.steps.pending import (
    consent,
    erase_confirmation,
    late_attachment,
    phone,
    rating,
    reopened_note,
    triage_answer,
)
from bot.conversation.steps.report import report_form_step, report_start
from bot.conversation.steps.village import village_number, village_tap, village_words
from bot.conversation.turn import Step

#: the conversation's precedence: the first step that answers has the message
STEPS: tuple[Step, ...] = (
    erase_confirmation,
    triage_answer,
    village_tap,
    rating,
    late_attachment,
    consent,
    phone,
    reopened_note,
    report_form_step,
    no_words,
    village_number,
    triage_message,
    follow_up,
    facts,
    misunderstood,
    report_start,
    ticket_status,
    talk_to_staff,
    village_words,
    topics,
    intent_answer,
)
