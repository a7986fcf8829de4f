"""What the bot missed or was unsure of, grouped for staff, and one step from a group to a
knowledge entry or to training examples for an intent (issue 12, docs/knowledge.md).

A *miss* is a resident's message the NLU could not place (``nlu_fallback``), read with low
confidence (below the clarifying threshold + 0.2, as `bot nlu misses` always listed), or one
the knowledge could only offer two entries for (below ``decide.T_HIGH``) — ``MISSED``, the one
condition. Messages are grouped by meaning as residents type it: the text as the NLU
normalises it (accent-folded, teencode expanded), TF-IDF over character 2–4-grams within
words, cosine similarity; distinct texts are taken most frequent first and each joins the
group whose first text it is most similar to (≥ ``SIMILAR``), else starts one. A group's
``question`` is its most typical text (the greatest count-weighted similarity to the group),
its id the first 12 hex digits of SHA-1 of that text's search key: the same while the group's
centre stays, so a list and a promotion a moment later agree (a promotion whose group is gone
is a 404: list again).

A group is handled once all its texts are an entry's question or variant (the commune's or
its province's) or a training example of the commune: it stops showing; deleting the entry
brings it back. Texts pass ``masking.anonymise`` (phones, e-mail addresses, ID numbers) before
they are grouped, shown or stored. Residents' words are never logged here.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.conversation.turn import CONFIDENCE_THRESHOLD
from bot.feedback.masking import anonymise
from bot.knowledge import entries, io, store
from bot.knowledge.decide import T_HIGH
from bot.nlu.text import normalise
from bot.store.models import Message, TrainingExample
from bot.text import search_key
from bot.timeutil import utcnow

#: a message the intents could not place surely, or the knowledge could only offer
MISSED = and_(
    Message.direction == "in",
    Message.text.is_not(None),
    Message.text != "",
    or_(
        Message.intent == "nlu_fallback",
        and_(Message.intent == "knowledge", Message.confidence < T_HIGH),
        and_(Message.intent != "knowledge", Message.confidence < CONFIDENCE_THRESHOLD + 0.2),
    ),
)
#: two texts this similar (cosine of folded character n-grams) are one question
SIMILAR = 0.55
DAYS = 30
#: the newest misses looked at (a commune's month is far fewer), and the most said distinct
#: texts of them grouped (their similarities are a DISTINCT² matrix: 36 MB at most)
LIMIT = 5000
DISTINCT = 3000
EXAMPLES = 5


class PromoteError(ValueError):
    """A promotion that cannot be made; the message says why (nothing was written)."""


@dataclass
class Said:
    """One distinct text (by search key) and how often and when it was said."""

    text: str
    key: str
    count: int = 0
    last_seen: datetime | None = None
    intents: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Group:
    id: str
    question: str  # the most typical text
    count: int  # messages
    texts: tuple[Said, ...]  # distinct texts, most said first
    last_seen: datetime | None

    @property
    def intent(self) -> str | None:
        """What the NLU read most often (a hint for staff choosing an intent)."""
        seen: Counter[str] = Counter()
        for t in self.texts:
            seen.update(t.intents)
        return seen.most_common(1)[0][0] if seen else None


def _ts(at: datetime | None) -> float:
    return at.timestamp() if at is not None else 0.0


def _id(key: str) -> str:
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def group(said: list[Said]) -> list[Group]:
    """Similar texts together, biggest group first (then the most recent)."""
    if not said:
        return []
    said = sorted(said, key=lambda t: (-t.count, -_ts(t.last_seen), t.key))[:DISTINCT]
    docs = [normalise(t.text) or t.key for t in said]
    matrix = TfidfVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True
    ).fit_transform(docs)
    sims = (matrix @ matrix.T).toarray().astype(np.float32)
    leaders: list[int] = []
    members: dict[int, list[int]] = {}
    for i in range(len(said)):
        if leaders:
            row = sims[i, leaders]
            best = int(np.argmax(row))
            if row[best] >= SIMILAR:
                members[leaders[best]].append(i)
                continue
        leaders.append(i)
        members[i] = [i]
    groups = []
    for leader in leaders:
        idx = members[leader]
        counts = np.array([said[i].count for i in idx], dtype=float)
        typical = idx[int(np.argmax(sims[np.ix_(idx, idx)] @ counts))]
        seen = [t for t in (said[i].last_seen for i in idx) if t is not None]
        groups.append(
            Group(
                _id(said[typical].key),
                said[typical].text,
                int(counts.sum()),
                tuple(said[i] for i in idx),
                max(seen) if seen else None,
            )
        )
    groups.sort(key=lambda g: (-g.count, -_ts(g.last_seen), g.id))
    return groups


async def handled(s: AsyncSession, commune_id: int, province_code: str | None) -> set[str]:
    """The search keys already taken care of: questions and variants of the entries the
    commune answers from, and the commune's training examples."""
    keys = set()
    for e in await store.visible(s, commune_id, province_code):
        keys.add(e.key)
        keys.update(search_key(v) for v in e.variants or ())
    rows = await s.execute(
        select(TrainingExample.key).where(TrainingExample.commune_id == commune_id)
    )
    keys.update(rows.scalars())
    return keys


async def misses(
    s: AsyncSession,
    commune_id: int,
    province_code: str | None,
    days: int = DAYS,
    now: datetime | None = None,
) -> list[Said]:
    """The commune's misses of the last ``days`` days not yet handled, by distinct text."""
    since = (now or utcnow()) - timedelta(days=days)
    rows = await s.execute(
        select(Message.text, Message.intent, Message.created_at)
        .where(Message.commune_id == commune_id, Message.created_at >= since, MISSED)
        .order_by(Message.id.desc())
        .limit(LIMIT)
    )
    done = await handled(s, commune_id, province_code)
    by_key: dict[str, Said] = {}
    forms: dict[str, Counter[str]] = {}
    for raw, intent, at in rows:
        text = anonymise(" ".join(str(raw).split()))
        key = search_key(text)
        if not key or key in done or text.startswith("/"):
            continue
        said = by_key.setdefault(key, Said(text, key))
        forms.setdefault(key, Counter())[text] += 1
        said.count += 1
        said.last_seen = max(filter(None, (said.last_seen, at)), default=None)
        if intent and intent not in ("nlu_fallback", "knowledge"):
            said.intents[intent] += 1
    for key, said in by_key.items():  # shown as most often written; with its accents if tied
        said.text = max(forms[key], key=lambda f: (forms[key][f], sum(c > "~" for c in f)))
    return list(by_key.values())


#: for annotations in classes with a ``list`` method (the API's)
Saids = list[Said]
Groups = list[Group]


def signature(said: list[Said]) -> tuple[object, ...]:
    """Everything ``group`` reads of the misses: equal signatures, equal groups."""
    return tuple(
        (t.key, t.text, t.count, t.last_seen, tuple(sorted(t.intents.items()))) for t in said
    )


async def groups(
    s: AsyncSession, commune_id: int, province_code: str | None, days: int = DAYS
) -> list[Group]:
    return group(await misses(s, commune_id, province_code, days))


async def find(
    s: AsyncSession, commune_id: int, province_code: str | None, group_id: str, days: int = DAYS
) -> Group | None:
    return next(
        (g for g in await groups(s, commune_id, province_code, days) if g.id == group_id), None
    )


async def to_entry(
    s: AsyncSession, commune_id: int, g: Group, answer: str, question: str | None = None
) -> tuple[io.Item, bool]:
    """The group as the commune's entry: ``question`` (else the group's most typical text)
    with the group's other texts as variants and ``answer``. An entry of the commune with
    that question keeps its own fields and gains the texts as variants, ``answer`` replacing
    its answer. Checked by the knowledge files' rules (``entries.item_from``); returns the
    item saved and whether it was new."""
    asked = question.strip() if question and question.strip() else g.question
    owner = store.Owner(commune_id=commune_id)
    existing = next((e for e in await store.entries(s, owner) if e.key == search_key(asked)), None)
    cells: dict[str, object] = entries.fields_of(existing) if existing is not None else {}
    variants = (
        [*(existing.variants or ()), *(t.text for t in g.texts)]
        if existing
        else [t.text for t in g.texts]
    )
    cells |= {
        "question": existing.question if existing is not None else asked,
        "answer": answer,
        "variants": _distinct(variants, search_key(asked)),
        "hidden": False,  # a question the commune hid from its province's answer: now its own
    }
    try:
        item = entries.item_from(cells)
    except io.KnowledgeFileError as exc:
        raise PromoteError(str(exc)) from None
    await store.save(s, owner, [item])
    return item, existing is None


def _distinct(texts: list[str], question_key: str) -> list[str]:
    """Paraphrases a file could hold: distinct, without the separator, within the files'
    limits (the entry's own first, then the group's most said; the rest stay misses)."""
    seen, out = {question_key}, []
    for t in texts:
        key = search_key(t)
        if key and key not in seen and "|" not in t and len(t) <= io.MAX_VARIANT:
            seen.add(key)
            out.append(t)
    return out[: io.MAX_VARIANTS]


#: intents no commune teaches: they act on the resident (erasure, subscriptions, language) and
#: the one intent model is shared by every commune, so a taught example there would act on
#: residents of every commune; their data is changed in data/nlu/ with review
UNTEACHABLE = frozenset({"delete_my_data", "subscribe", "unsubscribe", "change_language"})


@lru_cache(maxsize=1)
def intents() -> tuple[str, ...]:
    """The intents staff may teach: the engine's (`data/nlu/`) less ``UNTEACHABLE``."""
    from bot.nlu.embedded import training

    return tuple(i for i in training().intents if i not in UNTEACHABLE)


async def to_intent(
    s: AsyncSession, commune_id: int, g: Group, intent: str, staff_id: int | None = None
) -> int:
    """The group's texts as training examples of ``intent`` (a text already taught is taught
    again as this intent). Returns how many texts."""
    if intent in UNTEACHABLE:
        raise PromoteError(
            f"intent {intent!r} is not taught from a commune's misses (it acts on the "
            "resident, in every commune); teachable: " + ", ".join(intents())
        )
    if intent not in intents():
        raise PromoteError(f"unknown intent {intent!r}; known: {', '.join(intents())}")
    existing = {
        e.key: e
        for e in (
            await s.execute(
                select(TrainingExample).where(
                    TrainingExample.commune_id == commune_id,
                    TrainingExample.key.in_([t.key for t in g.texts]),
                )
            )
        ).scalars()
    }
    for t in g.texts:
        row = existing.get(t.key)
        if row is None:
            s.add(
                TrainingExample(
                    commune_id=commune_id, key=t.key, text=t.text, intent=intent, staff_id=staff_id
                )
            )
        else:
            row.intent, row.text = intent, t.text
    await s.flush()
    return len(g.texts)


async def staff_examples(s: AsyncSession) -> list[tuple[str, str]]:
    """Every commune's taught examples as (text, intent), for training."""
    rows = await s.execute(
        select(TrainingExample.text, TrainingExample.intent).order_by(TrainingExample.id)
    )
    return [(str(t), str(i)) for t, i in rows]


def as_json(g: Group) -> dict[str, object]:
    from bot.timeutil import vn_iso

    return {
        "id": g.id,
        "question": g.question,
        "count": g.count,
        "last_seen": vn_iso(g.last_seen),
        "examples": [t.text for t in g.texts[:EXAMPLES]],
        "texts": [{"text": t.text, "count": t.count} for t in g.texts],
        "intent_read": g.intent,
    }
