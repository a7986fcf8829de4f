"""Emergency triage, in one place: is a resident's message a danger to people, homes or
livestock now — and if so, what kind, which number to call and what to do first.

The whole message decides, not a keyword: "khói" from a neighbour burning rubbish, a burnt-out
street bulb ("cháy bóng"), "cháy túi", "bão giá", a theft last year are routine; a fallen tree
on live wires, pigs dying of suspected swine fever, water rising in a house with an old person
who cannot leave are emergencies however they are told. Two classifiers are trained at first
use (about a second, in-process) on the labelled examples in ``data/triage/`` (its ``test/``
split is held out for ``bot triage eval``, docs/triage.md):

- the decision, emergency or not: logistic regression over TF-IDF features of the message —
  character n-grams and words of its accent-free form (teencode expanded, as the NLU reads
  it), its words with their accents when it has them ("cháy" is not "chạy"), and cue tokens
  from ``data/triage/cues.yml`` (time: "năm ngoái", "mấy tuần nay"; now: "đang", "cứu";
  people at risk; figures of speech; questions). Each accented example is also learnt
  without its accents.
- the kind (fire, flood, live wires, a rabid dog, dying livestock, …): the same features,
  trained on the emergencies only; the kind gives the ticket's category, the number and the
  first advice (``KINDS``).

The probability of an emergency gives the level: from ``EMERGENCY_AT`` a sure emergency (filed
at once, leaders alerted), from ``UNSURE_AT`` the resident is asked one short question
(``QUESTION``), below it routine. Both thresholds were chosen on cross-validated predictions
over the training split and are written down with their figures in docs/triage.md.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline
from threadpoolctl import threadpool_limits

from bot.config import ROOT, Commune
from bot.envelope import Choice, Choices, Text
from bot.nlu.fastpath import FastPath
from bot.nlu.normalize import fold, nfc, search_key
from bot.nlu.text import normalise
from bot.timeutil import to_vn, utcnow

DATA_DIR = ROOT / "data" / "triage"
#: probability of an emergency from which it is filed at once / the resident is asked first
EMERGENCY_AT = 0.6
UNSURE_AT = 0.3
LEVELS = ("emergency", "unsure", "routine")


def N_(text: str) -> str:  # marks a msgid for extraction; translated where shown
    return text


@dataclass(frozen=True)
class Kind:
    code: str
    category: str  # bot/feedback/categories.py
    #: what to do first, with the number to call (Vietnamese msgid; ``{phone}``: the commune's)
    advice: str


#: Numbers: 114 fire and rescue (Cảnh sát PCCC và CNCH), 113 police, 115 medical emergency,
#: 112 search and rescue in disasters. The advice is general first aid that cannot make things
#: worse (WHO: wash a bite for 15 minutes; keep away from fallen lines), never a diagnosis.
KINDS: dict[str, Kind] = {k.code: k for k in (
    Kind("fire", "fire", N_("Đưa mọi người ra khỏi nơi cháy ngay, không quay vào lấy đồ; nếu "
                            "an toàn thì ngắt cầu dao điện, khóa bình gas. Gọi ngay 114.")),
    Kind("flood", "disaster", N_("Đưa mọi người lên chỗ cao, người già, trẻ nhỏ, người ốm đi "
                                 "trước; ngắt cầu dao điện; không lội qua dòng nước chảy xiết. "
                                 "Gọi ngay 112.")),
    Kind("landslide", "disaster", N_("Đưa mọi người ra khỏi nhà, tránh xa chân và đỉnh sườn "
                                     "đồi, taluy, khe suối; không quay lại lấy đồ khi còn mưa. "
                                     "Gọi ngay 112.")),
    Kind("storm", "disaster", N_("Trú ở chỗ kiên cố, tránh xa cây to, cột điện, mái tôn. Có "
                                 "người bị đè hoặc mắc kẹt, gọi ngay 114 hoặc 112.")),
    Kind("live_wire", "disaster", N_("Tránh xa chỗ dây điện đứt ít nhất 10 mét, không chạm vào "
                                     "cây, dây điện hay vũng nước gần đó; giữ trẻ em và gia "
                                     "súc tránh xa. Gọi ngay 114 và báo điện lực.")),
    Kind("dog_bite", "epidemic", N_("Rửa ngay vết cắn bằng xà phòng dưới vòi nước chảy trong 15 "
                                    "phút, rồi đến trạm y tế ngay hôm nay để tiêm vắc xin phòng "
                                    "dại. Tránh xa con vật, không tự đánh bắt. Vết thương nặng, "
                                    "gọi 115.")),
    Kind("livestock", "epidemic", N_("Không bán, giết mổ, ăn hay chở đi gia súc, gia cầm ốm, "
                                     "chết; không vứt xác xuống sông, suối; nhốt riêng con ốm. "
                                     "Cán bộ thú y xã sẽ được báo; cần gấp, gọi xã {phone}.")),
    Kind("outbreak", "epidemic", N_("Đưa người ốm đến trạm y tế xã; người sốt cao, co giật, khó "
                                    "thở hay lơ mơ thì gọi ngay 115. Hạn chế tiếp xúc gần với "
                                    "người ốm.")),
    Kind("poisoning", "accident", N_("Gọi ngay 115 hoặc đưa người bị ngộ độc đến trạm y tế gần "
                                     "nhất; giữ lại thức ăn, đồ uống, vỏ thuốc nghi gây ngộ "
                                     "độc. Ngộ độc khói than, khí gas: đưa ra chỗ thoáng.")),
    Kind("drowning", "accident", N_("Gọi to người xung quanh; ném phao, can nhựa, sào hoặc dây "
                                    "cho người bị nạn, không nhảy xuống nếu không biết bơi. Gọi "
                                    "ngay 114 và 115.")),
    Kind("injury", "accident", N_("Gọi ngay 115. Không di chuyển người bị thương nặng nếu không "
                                  "cần thiết; người bị điện giật: ngắt điện trước khi chạm "
                                  "vào.")),
    Kind("violence", "security", N_("Tránh xa nơi nguy hiểm, đến chỗ an toàn, không tự can "
                                    "thiệp khi có hung khí. Gọi ngay 113.")),
)}
QUESTION = N_("Việc này đang xảy ra, cần xử lý ngay không ạ?")
QUESTION_TTL_S = 30 * 60  # an answer to the question later than this is a new message
FOLLOW_UP_S = 30 * 60  # another alarm this soon after one was filed is about the same danger


@dataclass(frozen=True)
class Assessment:
    level: str  # emergency | unsure | routine
    probability: float  # of an emergency
    kind: str | None = None  # the most likely kind, unless routine

    @property
    def emergency(self) -> bool:
        return self.level == "emergency"

    @property
    def category(self) -> str | None:
        return KINDS[self.kind].category if self.kind else None

    def as_dict(self) -> dict[str, Any]:
        return {"level": self.level, "probability": round(self.probability, 3),
                "kind": self.kind, "category": self.category}


# -- the data -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    text: str
    emergency: bool
    label: str  # the emergency's kind, or why it is routine


def load(path: Path | str = DATA_DIR, *, skip: tuple[str, ...] = ("test",)) -> list[Example]:
    """Every ``*.yml`` of labelled examples under ``path`` (a file or a folder; sub-folders in
    ``skip`` left out). ``cues.yml`` is not examples."""
    path = Path(path)
    files = [path] if path.is_file() else sorted(
        p for p in path.rglob("*.yml") if p.name != "cues.yml"
        and not set(p.relative_to(path).parts[:-1]) & set(skip))
    examples = []
    for file in files:
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        unknown = set(doc) - {"emergency", "routine"}
        if unknown:
            raise ValueError(f"{file}: unknown section(s) {sorted(unknown)}: emergency, routine")
        for side in ("emergency", "routine"):
            for label, texts in (doc.get(side) or {}).items():
                if side == "emergency" and label not in KINDS:
                    raise ValueError(f"{file}: emergency kind {label!r}: one of "
                                     f"{', '.join(KINDS)}")
                examples += [Example(str(t), side == "emergency", str(label))
                             for t in texts or []]
    return examples


_WORD = re.compile(r"[\w']+", re.UNICODE)
_YEAR = re.compile(r"\b(19\d\d|20\d\d)\b")


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def _any_of(phrases: list[str]) -> re.Pattern[str] | None:
    """Whole-word match of any of the phrases (on text of single-spaced words)."""
    if not phrases:
        return None
    alternatives = "|".join(re.escape(p) for p in sorted(set(phrases), key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


@lru_cache(maxsize=1)
def _cues() -> tuple[tuple[str, Any, Any, Any], ...]:
    """Per group: (token, accented phrases, accent-free phrases of 2+ words, accent-free
    single words) as compiled patterns."""
    raw = yaml.safe_load((DATA_DIR / "cues.yml").read_text(encoding="utf-8")) or {}
    groups = []
    for group, phrases in raw.items():
        accented = [" ".join(_words(nfc(str(p)).lower())) for p in phrases]
        plain = [search_key(p) for p in accented]
        groups.append((f"cue_{group}", _any_of(accented),
                       _any_of([p for p in plain if " " in p]),
                       _any_of([p for p in plain if " " not in p])))
    return tuple(groups)


@lru_cache(maxsize=256)
def cue_tokens(text: str) -> tuple[str, ...]:
    """The cue groups the message shows, as tokens (``cue_past``, ``cue_now``, …)."""
    lower = nfc(text).lower()
    accented = " ".join(_words(lower))
    plain = " ".join(_words(search_key(text)))
    has_accents = accented != plain
    found = []
    for token, phrases, plain_multi, plain_single in _cues():
        if (has_accents and phrases and phrases.search(accented)) \
                or (plain_multi and plain_multi.search(plain)) \
                or (not has_accents and plain_single and plain_single.search(plain)):
            found.append(token)
    this_year = to_vn(utcnow()).year
    if any(int(y) < this_year for y in _YEAR.findall(lower)):
        found.append("cue_past")
    return tuple(found)


# the three views of a message the features are built from (module level: the fitted
# vectorizers call them, and the fast path calls the vectorizers' analyzers)
@lru_cache(maxsize=256)  # the decision and the kind read the same message
def _plain_view(text: str) -> str:
    return normalise(text)


@lru_cache(maxsize=256)
def _cue_view(text: str) -> str:
    return " ".join([normalise(text), *cue_tokens(text)])


@lru_cache(maxsize=256)
def _accented_view(text: str) -> str:
    lower = " ".join(_words(nfc(text).lower()))
    return lower if fold(lower) != lower else ""  # typed without accents: nothing to add


def _pipeline(c: float, balanced: bool) -> Pipeline:
    words = r"(?u)\b\w+\b"
    return Pipeline([
        ("features", FeatureUnion([
            ("chars", TfidfVectorizer(analyzer="char_wb", preprocessor=_plain_view,
                                      ngram_range=(2, 5), sublinear_tf=True)),
            ("words", TfidfVectorizer(preprocessor=_cue_view, token_pattern=words,
                                      ngram_range=(1, 3), sublinear_tf=True)),
            ("accented", TfidfVectorizer(preprocessor=_accented_view, token_pattern=words,
                                         ngram_range=(1, 2), sublinear_tf=True)),
        ])),
        ("clf", LogisticRegression(C=c, max_iter=5000,
                                   class_weight="balanced" if balanced else None)),
    ])


def with_plain_copies(examples: list[Example]) -> list[Example]:
    """Each accented example and the same words typed without accents."""
    out = list(examples)
    out += [Example(fold(e.text), e.emergency, e.label) for e in examples
            if fold(e.text) != e.text]
    return out


DECISION_C = 10.0
DECISION_BALANCED = True
KIND_C = 20.0
KIND_BALANCED = True  # rare kinds (drowning, poisoning) count as much as fires


class Triage:
    def __init__(self, examples: list[Example], emergency_at: float = EMERGENCY_AT,
                 unsure_at: float = UNSURE_AT) -> None:
        if not any(e.emergency for e in examples) or all(e.emergency for e in examples):
            raise ValueError("triage data needs examples of both emergencies and routine")
        started = time.perf_counter()
        self.emergency_at, self.unsure_at = emergency_at, unsure_at
        train = with_plain_copies(examples)
        urgent = [e for e in train if e.emergency]
        self.decision = _pipeline(DECISION_C, balanced=DECISION_BALANCED)
        self.kinds = _pipeline(KIND_C, balanced=KIND_BALANCED)
        # one BLAS thread: on a busy 2-core host OpenBLAS's threads fight each other and the
        # same fit takes 40 times longer (0.05 s → 2 s)
        self._kind_classes = sorted({e.label for e in urgent})
        with threadpool_limits(1):
            self.decision.fit([e.text for e in train], [e.emergency for e in train])
            if len(self._kind_classes) > 1:  # else every emergency is of that one kind
                self.kinds.fit([e.text for e in urgent], [e.label for e in urgent])
                self._kind_classes = [str(c) for c in self.kinds.classes_]
        self._decide = FastPath(self.decision)
        self._kind = FastPath(self.kinds) if len(self._kind_classes) > 1 else None
        self._true = list(self.decision.classes_).index(True)
        self.train_seconds = time.perf_counter() - started

    def probability(self, text: str) -> float:
        """Of an emergency, from the whole message."""
        return float(self._decide.proba(text)[self._true])

    def kind(self, text: str) -> str:
        if self._kind is None:
            return self._kind_classes[0]
        probs = self._kind.proba(text)
        return self._kind_classes[int(probs.argmax())]

    def assess(self, text: str | None) -> Assessment:
        said = (text or "").strip()
        if not said or said.startswith("/"):  # nothing typed, or a tapped button
            return Assessment("routine", 0.0)
        p = self.probability(said)
        level = ("emergency" if p >= self.emergency_at else
                 "unsure" if p >= self.unsure_at else "routine")
        return Assessment(level, p, None if level == "routine" else self.kind(said))


#: NLU intents whose examples may tell of a danger; every other intent's examples are ordinary
#: messages (office hours, procedures, greetings) and teach the triage what routine looks like
MAY_BE_URGENT = ("report_issue", "disaster_warning")


def ordinary(path: Path | str | None = None, *, skip: tuple[str, ...] = ("test",)
             ) -> list[Example]:
    """The NLU's examples of ordinary questions (``data/nlu/``) as routine examples: without
    them, a message unlike anything in ``data/triage/`` ("đăng ký kết hôn") would get the
    prior's probability instead of a routine one."""
    from bot.nlu import data as nlu_data
    examples = nlu_data.load(path or nlu_data.NLU_DIR, skip=skip).examples
    return [Example(text, False, f"nlu:{intent}") for text, intent in examples
            if intent not in MAY_BE_URGENT]


@lru_cache(maxsize=1)
def default_triage() -> Triage:
    """Trained once per process from ``data/triage/`` and the NLU's ordinary questions (the
    held-out ``test/`` splits excluded)."""
    return Triage(load() + ordinary())


def assess(text: str | None) -> Assessment:
    return default_triage().assess(text)


# -- what the resident is told ------------------------------------------------------------------
def advice(kind: str, commune: Commune, _) -> Text:  # type: ignore[no-untyped-def]
    """The number to call and what to do first, in the first reply to an emergency."""
    return Text(_(KINDS[kind].advice).format(phone=commune.phone))


def question(_) -> Choices:  # type: ignore[no-untyped-def]
    """Asked instead of alerting when the message may be an emergency."""
    return Choices(_(QUESTION), (Choice(_("Có, cần ngay"), "/triage yes"),
                                 Choice(_("Không"), "/triage no")))


_YES_FIRST = {"co", "dung", "vang", "can", "dang", "u", "uh", "ok", "oke", "gap", "cuu"}
_NO_FIRST = {"khong", "ko", "k", "kh", "hong", "hok", "khum", "chua", "het", "xong"}
_POLITE = {"da", "a", "oi", "ad", "xa", "ah", "nha", "nhe"}


def answer_of(text: str | None) -> bool | None:
    """The answer to ``QUESTION``: a tap, "1"/"2" from the numbered menu, or words ("có",
    "dạ không", "chưa"); None when the message is not an answer (it is read afresh)."""
    said = (text or "").strip()
    if said in ("/triage yes", "1"):
        return True
    if said in ("/triage no", "2"):
        return False
    words = [w for w in normalise(said).split() if w not in _POLITE]
    if not words:
        return True if search_key(said).split()[:1] in (["da"], ["vang"]) else None
    if words[0] in _NO_FIRST:
        return False
    if words[0] in _YES_FIRST:
        return True
    return None
