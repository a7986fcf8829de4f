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
  people at risk; who or what could be hurt; figures of speech; questions). Each accented
  example is also learnt without its accents; an unsure example is learnt as half an
  emergency when it names someone at risk (drawn to the question's band), else as one
  (nobody named: `decide` asks).
- the kind (fire, flood, live wires, a rabid dog, dying livestock, … and ``hazard``: damage
  to a road, a bridge, a canal, a pole with nobody at risk yet): the same features, trained
  on the emergencies and the unsure examples; the kind gives the ticket's category, the
  number and the first advice (``KINDS``).

The level is decided in one place, ``decide``: below ``UNSURE_AT`` routine (``routine``: an
explicit call for help — "cứu với", "cần xe cấp cứu", "gọi 115" — never is); a sure emergency
(filed at once, leaders alerted) needs the probability from ``EMERGENCY_AT`` AND the message
naming a person, a home or livestock the danger can reach (``at_risk``, cue groups in
``cues.yml``: a road that subsided, a tree across the road, a pole about to fall name none)
AND a kind that alerts; anything else not routine gets one short question (``QUESTION``). The
kind is one whose victims the words name (``Kind.needs``): no first aid and 115 for a road.
Both thresholds were chosen on cross-validated predictions over the training split and are
written down with their figures in docs/triage.md.
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
from bot.i18n import N_, _
from bot.nlu.fastpath import FastPath
from bot.nlu.text import normalise
from bot.text import fold, nfc, search_key
from bot.timeutil import to_vn, utcnow

DATA_DIR = ROOT / "data" / "triage"
#: probability of an emergency from which it is filed at once / the resident is asked first
EMERGENCY_AT = 0.6
UNSURE_AT = 0.3
LEVELS = ("emergency", "unsure", "routine")


#: the evidence groups (``cues.yml``) that show someone or something at risk
PERSON, HOME, LIVESTOCK = "person", "home", "livestock"
AT_RISK = (PERSON, HOME, LIVESTOCK)


@dataclass(frozen=True)
class Kind:
    code: str
    category: str  # bot/feedback/categories.py
    #: what to do first, with the number to call (Vietnamese msgid; ``{phone}``: the commune's)
    advice: str
    #: the kind is chosen only when the message shows one of these at risk: its advice is for
    #: a victim (no first aid and 115 for a road that subsided); empty: whenever it is likely
    needs: tuple[str, ...] = ()
    #: False: the kind never alerts by itself, at most the question (damage to a road, a
    #: bridge, a canal, a pole — nobody in danger yet)
    alarm: bool = True


#: Numbers: 114 fire and rescue (Cảnh sát PCCC và CNCH), 113 police, 115 medical emergency,
#: 112 search and rescue in disasters. The advice is general first aid that cannot make things
#: worse (WHO: wash a bite for 15 minutes; keep away from fallen lines), never a diagnosis.
KINDS: dict[str, Kind] = {
    k.code: k
    for k in (
        Kind(
            "fire",
            "fire",
            N_(
                "Đưa mọi người ra khỏi nơi cháy ngay, không quay vào lấy đồ; nếu "
                "an toàn thì ngắt cầu dao điện, khóa bình gas. Gọi ngay 114."
            ),
        ),
        Kind(
            "flood",
            "disaster",
            N_(
                "Đưa mọi người lên chỗ cao, người già, trẻ nhỏ, người ốm đi "
                "trước; ngắt cầu dao điện; không lội qua dòng nước chảy xiết. "
                "Gọi ngay 112."
            ),
        ),
        Kind(
            "landslide",
            "disaster",
            N_(
                "Đưa mọi người ra khỏi nhà, tránh xa chân và đỉnh sườn "
                "đồi, taluy, khe suối; không quay lại lấy đồ khi còn mưa. "
                "Gọi ngay 112."
            ),
        ),
        Kind(
            "storm",
            "disaster",
            N_(
                "Trú ở chỗ kiên cố, tránh xa cây to, cột điện, mái tôn. Có "
                "người bị đè hoặc mắc kẹt, gọi ngay 114 hoặc 112."
            ),
        ),
        Kind(
            "live_wire",
            "disaster",
            N_(
                "Tránh xa chỗ dây điện đứt ít nhất 10 mét, không chạm vào "
                "cây, dây điện hay vũng nước gần đó; giữ trẻ em và gia "
                "súc tránh xa. Gọi ngay 114 và báo điện lực."
            ),
        ),
        Kind(
            "dog_bite",
            "epidemic",
            N_(
                "Rửa ngay vết cắn bằng xà phòng dưới vòi nước chảy trong 15 "
                "phút, rồi đến trạm y tế ngay hôm nay để tiêm vắc xin phòng "
                "dại. Tránh xa con vật, không tự đánh bắt. Vết thương nặng, "
                "gọi 115."
            ),
            (PERSON, LIVESTOCK),
        ),
        Kind(
            "livestock",
            "epidemic",
            N_(
                "Không bán, giết mổ, ăn hay chở đi gia súc, gia cầm ốm, "
                "chết; không vứt xác xuống sông, suối; nhốt riêng con ốm. "
                "Cán bộ thú y xã sẽ được báo; cần gấp, gọi xã {phone}."
            ),
            (LIVESTOCK,),
        ),
        Kind(
            "outbreak",
            "epidemic",
            N_(
                "Đưa người ốm đến trạm y tế xã; người sốt cao, co giật, khó "
                "thở hay lơ mơ thì gọi ngay 115. Hạn chế tiếp xúc gần với "
                "người ốm."
            ),
            (PERSON,),
        ),
        Kind(
            "poisoning",
            "accident",
            N_(
                "Gọi ngay 115 hoặc đưa người bị ngộ độc đến trạm y tế gần "
                "nhất; giữ lại thức ăn, đồ uống, vỏ thuốc nghi gây ngộ "
                "độc. Ngộ độc khói than, khí gas: đưa ra chỗ thoáng."
            ),
            (PERSON,),
        ),
        Kind(
            "drowning",
            "accident",
            N_(
                "Gọi to người xung quanh; ném phao, can nhựa, sào hoặc dây "
                "cho người bị nạn, không nhảy xuống nếu không biết bơi. Gọi "
                "ngay 114 và 115."
            ),
            (PERSON,),
        ),
        Kind(
            "injury",
            "accident",
            N_(
                "Gọi ngay 115. Không di chuyển người bị thương nặng nếu không "
                "cần thiết; người bị điện giật: ngắt điện trước khi chạm "
                "vào."
            ),
            (PERSON,),
        ),
        Kind(
            "collapse",
            "accident",
            N_(
                "Gọi ngay 115. Không cho ăn, uống gì; người bất tỉnh "
                "còn thở thì đặt nằm nghiêng, nới lỏng quần áo; ghi lại "
                "giờ bắt đầu có dấu hiệu."
            ),
            (PERSON,),
        ),
        Kind(
            "snakebite",
            "accident",
            N_(
                "Giữ người bị cắn nằm yên, bất động chi bị cắn; không "
                "rạch, không hút, không garô chặt. Gọi 115 hoặc đưa "
                "ngay đến cơ sở y tế gần nhất."
            ),
            (PERSON,),
        ),
        Kind(
            "suicide",
            "accident",
            N_(
                "Gọi ngay 115. Ở bên cạnh người đó, nói chuyện nhẹ nhàng, "
                "không để họ một mình; cất dao, dây, thuốc, thuốc trừ sâu "
                "và vật nguy hiểm."
            ),
            (PERSON,),
        ),
        Kind(
            "gas_leak",
            "fire",
            N_(
                "Không bật, tắt công tắc điện, không dùng lửa; mở cửa cho "
                "thoáng, khóa van bình gas nếu an toàn, rồi ra khỏi nhà. "
                "Gọi ngay 114."
            ),
        ),
        Kind(
            "violence",
            "security",
            N_(
                "Tránh xa nơi nguy hiểm, đến chỗ an toàn, không tự can "
                "thiệp khi có hung khí. Gọi ngay 113."
            ),
        ),
        Kind(
            "hazard",
            "disaster",
            N_(
                "Giữ mọi người, trẻ em, xe cộ và gia súc tránh xa chỗ hư "
                "hỏng; nếu an toàn thì đặt vật báo hiệu. Cán bộ xã sẽ được "
                "báo để đến xem; cần gấp, gọi xã {phone}."
            ),
            alarm=False,
        ),
    )
}
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
        return {
            "level": self.level,
            "probability": round(self.probability, 3),
            "kind": self.kind,
            "category": self.category,
        }


# -- the data -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Example:
    text: str
    emergency: bool
    label: str  # the emergency's kind (or the unsure one's), or why it is routine
    #: a reasonable officer would ask first ("cột điện nghiêng sắp đổ"): not an emergency,
    #: not routine either; ``label`` is the kind filed if the resident answers "có"
    unsure: bool = False

    @property
    def level(self) -> str:
        return "emergency" if self.emergency else "unsure" if self.unsure else "routine"


SECTIONS = ("emergency", "unsure", "routine")


def load(path: Path | str = DATA_DIR, *, skip: tuple[str, ...] = ("test",)) -> list[Example]:
    """Every ``*.yml`` of labelled examples under ``path`` (a file or a folder; sub-folders in
    ``skip`` left out). ``cues.yml`` is not examples."""
    path = Path(path)
    files = (
        [path]
        if path.is_file()
        else sorted(
            p
            for p in path.rglob("*.yml")
            if p.name != "cues.yml" and not set(p.relative_to(path).parts[:-1]) & set(skip)
        )
    )
    examples = []
    for file in files:
        doc = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        unknown = set(doc) - set(SECTIONS)
        if unknown:
            raise ValueError(f"{file}: unknown section(s) {sorted(unknown)}: {', '.join(SECTIONS)}")
        for side in SECTIONS:
            for label, texts in (doc.get(side) or {}).items():
                if side != "routine" and label not in KINDS:
                    raise ValueError(f"{file}: {side} kind {label!r}: one of {', '.join(KINDS)}")
                if side == "emergency" and not KINDS[label].alarm:
                    raise ValueError(f"{file}: {label!r} never alerts: list it under unsure")
                examples += [
                    Example(str(t), side == "emergency", str(label), unsure=side == "unsure")
                    for t in texts or []
                ]
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
def _cues() -> dict[str, tuple[Any, Any, Any]]:
    """Per group, its token (``cue_past``, …) → (accented phrases, accent-free phrases of 2+
    words, accent-free single words) as compiled patterns."""
    raw = yaml.safe_load((DATA_DIR / "cues.yml").read_text(encoding="utf-8")) or {}
    groups = {}
    for group, phrases in raw.items():
        # "=trẻ": matched only with its accents (without them it is "tre", bamboo)
        accented = [" ".join(_words(nfc(str(p)).lower())) for p in phrases]
        plain = [
            search_key(p)
            for p, raw_p in zip(accented, phrases, strict=True)
            if not str(raw_p).startswith("=")
        ]
        groups[f"cue_{group}"] = (
            _any_of(accented),
            _any_of([p for p in plain if " " in p]),
            _any_of([p for p in plain if " " not in p]),
        )
    return groups


#: the cue group of people who are the danger, not in it ("có người lạ lảng vảng"): its words
#: are taken out before the other groups are looked for
SUSPECT = "cue_suspect"


@lru_cache(maxsize=256)
def cue_tokens(text: str) -> tuple[str, ...]:
    """The cue groups the message shows, as tokens (``cue_past``, ``cue_now``, …)."""
    lower = nfc(text).lower()
    accented = " ".join(_words(lower))
    plain = " ".join(_words(search_key(text)))
    has_accents = accented != plain
    groups = _cues()
    found = []

    def shows(patterns: tuple[Any, Any, Any], accented: str, plain: str) -> bool:
        phrases, plain_multi, plain_single = patterns
        return bool(
            (has_accents and phrases and phrases.search(accented))
            or (plain_multi and plain_multi.search(plain))
            or (not has_accents and plain_single and plain_single.search(plain))
        )

    if SUSPECT in groups and shows(groups[SUSPECT], accented, plain):
        found.append(SUSPECT)
        phrases, plain_multi, plain_single = groups[SUSPECT]
        if has_accents and phrases:
            accented = phrases.sub(" ", accented)
        for pattern in (plain_multi, None if has_accents else plain_single):
            if pattern:
                plain = pattern.sub(" ", plain)
    found += [
        token
        for token, patterns in groups.items()
        if token != SUSPECT and shows(patterns, accented, plain)
    ]
    this_year = to_vn(utcnow()).year
    if any(int(y) < this_year for y in _YEAR.findall(lower)):
        found.append("cue_past")
    return tuple(found)


def at_risk(text: str) -> frozenset[str]:
    """Who or what the message shows that a danger could reach: a person, a home (a house, a
    school, a market), livestock — the words of ``cues.yml``'s groups of those names."""
    tokens = set(cue_tokens(text))
    return frozenset(g for g in AT_RISK if f"cue_{g}" in tokens)


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
    return Pipeline(
        [
            (
                "features",
                FeatureUnion(
                    [
                        (
                            "chars",
                            TfidfVectorizer(
                                analyzer="char_wb",
                                preprocessor=_plain_view,
                                ngram_range=(2, 5),
                                sublinear_tf=True,
                            ),
                        ),
                        (
                            "words",
                            TfidfVectorizer(
                                preprocessor=_cue_view,
                                token_pattern=words,
                                ngram_range=(1, 3),
                                sublinear_tf=True,
                            ),
                        ),
                        (
                            "accented",
                            TfidfVectorizer(
                                preprocessor=_accented_view,
                                token_pattern=words,
                                ngram_range=(1, 2),
                                sublinear_tf=True,
                            ),
                        ),
                    ]
                ),
            ),
            (
                "clf",
                LogisticRegression(
                    C=c, max_iter=5000, class_weight="balanced" if balanced else None
                ),
            ),
        ]
    )


def with_plain_copies(examples: list[Example]) -> list[Example]:
    """Each accented example and the same words typed without accents."""
    out = list(examples)
    out += [
        Example(fold(e.text), e.emergency, e.label, e.unsure)
        for e in examples
        if fold(e.text) != e.text
    ]
    return out


DECISION_C = 10.0
DECISION_BALANCED = True
KIND_C = 20.0
KIND_BALANCED = True  # rare kinds (drowning, poisoning) count as much as fires


class Triage:
    def __init__(
        self,
        examples: list[Example],
        emergency_at: float = EMERGENCY_AT,
        unsure_at: float = UNSURE_AT,
    ) -> None:
        if not any(e.emergency for e in examples) or all(e.emergency for e in examples):
            raise ValueError("triage data needs examples of both emergencies and routine")
        started = time.perf_counter()
        self.emergency_at, self.unsure_at = emergency_at, unsure_at
        train = with_plain_copies(examples)
        # an unsure example that names someone at risk is learnt half as an emergency, half as
        # routine: its probability is drawn to the middle, where the question is asked; one
        # that names nobody is an emergency to the probability: `decide` asks, as nobody is
        # named ("cây đổ lên dây điện" is not unlike "cây đổ lên dây điện trước nhà tôi")
        half = [e for e in train if e.unsure and at_risk(e.text)]
        texts = [e.text for e in train] + [e.text for e in half]
        labels = [e.emergency or e.unsure for e in train] + [False for e in half]
        weights = [0.5 if e in half else 1.0 for e in train] + [0.5 for e in half]
        # the kind: of the emergencies and of what is asked about (filed on "có")
        urgent = [e for e in train if e.emergency or e.unsure]
        self.decision = _pipeline(DECISION_C, balanced=DECISION_BALANCED)
        self.kinds = _pipeline(KIND_C, balanced=KIND_BALANCED)
        # one BLAS thread: on a busy 2-core host OpenBLAS's threads fight each other and the
        # same fit takes 40 times longer (0.05 s → 2 s)
        self._kind_classes = sorted({e.label for e in urgent})
        with threadpool_limits(1):
            self.decision.fit(texts, labels, clf__sample_weight=weights)
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

    def kind_probabilities(self, text: str) -> dict[str, float]:
        if self._kind is None:
            return {self._kind_classes[0]: 1.0}
        return dict(zip(self._kind_classes, map(float, self._kind.proba(text)), strict=True))

    def kind(self, text: str) -> str:
        """The most likely kind the message's words allow (``Kind.needs``)."""
        return kind_of(self.kind_probabilities(text), at_risk(text))

    def assess(
        self, text: str | None, emergency_at: float | None = None, unsure_at: float | None = None
    ) -> Assessment:
        said = (text or "").strip()
        if not said or said.startswith("/"):  # nothing typed, or a tapped button
            return Assessment("routine", 0.0)
        p = self.probability(said)
        if routine(p, self.unsure_at if unsure_at is None else unsure_at, calls_for_help(said)):
            return Assessment("routine", p)
        return decide(
            p,
            self.kind_probabilities(said),
            at_risk(said),
            self.emergency_at if emergency_at is None else emergency_at,
        )


def calls_for_help(text: str) -> bool:
    """The message asks for help outright: "cứu với", "cứu tôi" (cue group ``help``), or
    "cần xe cấp cứu", "gọi 115" (``call``) when it is not a question about it ("số gọi cấp
    cứu là số nào")."""
    tokens = set(cue_tokens(text))
    return "cue_help" in tokens or ("cue_call" in tokens and "cue_question" not in tokens)


def routine(p: float, unsure_at: float, helped: bool) -> bool:
    """Below the question's threshold, and not an explicit call for help: an explicit call
    is never routine — at least the question is asked."""
    return p < unsure_at and not helped


def kind_of(probabilities: dict[str, float], shown: frozenset[str]) -> str:
    """The most likely kind whose victims the message shows (``Kind.needs``); a kind nobody
    trained (a test's small data) counts as needing nothing."""
    allowed = {
        k: p
        for k, p in probabilities.items()
        if k not in KINDS or not KINDS[k].needs or shown & set(KINDS[k].needs)
    }
    if not allowed:  # only victim kinds were learnt and the message shows none
        allowed = probabilities
    return max(allowed, key=allowed.__getitem__)


def decide(
    p: float, kinds: dict[str, float], shown: frozenset[str], emergency_at: float
) -> Assessment:
    """THE decision between a sure emergency and the question, for a message not routine
    (``p`` ≥ the question's threshold). A sure alarm needs all three: the classifier sure
    enough (``p`` ≥ ``emergency_at``), the message showing a person, a home or livestock that
    the danger can reach (``at_risk``: "đường bị sụt lún, xe máy không đi được", "cây đổ chắn
    ngang đường", "cột điện nghiêng sắp đổ" show none), and a kind that alerts (damage to a
    road or a pole does not). Anything less is asked about. The kind, and so the advice, is
    one whose victims the words name: no 115 for a road that subsided."""
    kind = kind_of(kinds, shown)
    sure = p >= emergency_at and bool(shown) and KINDS.get(kind, _ANY).alarm
    return Assessment("emergency" if sure else "unsure", p, kind)


_ANY = Kind("any", "other", "")  # a kind only a test's small data knows: alerts


#: NLU intents whose examples may tell of a danger; every other intent's examples are ordinary
#: messages (office hours, procedures, greetings) and teach the triage what routine looks like
MAY_BE_URGENT = ("report_issue", "disaster_warning")


def ordinary(path: Path | str | None = None, *, skip: tuple[str, ...] = ("test",)) -> list[Example]:
    """The NLU's examples of ordinary questions (``data/nlu/``) as routine examples: without
    them, a message unlike anything in ``data/triage/`` ("đăng ký kết hôn") would get the
    prior's probability instead of a routine one."""
    from bot.nlu import data as nlu_data

    examples = nlu_data.load(path or nlu_data.NLU_DIR, skip=skip).examples
    return [
        Example(text, False, f"nlu:{intent}")
        for text, intent in examples
        if intent not in MAY_BE_URGENT
    ]


@lru_cache(maxsize=1)
def default_triage() -> Triage:
    """Trained once per process from ``data/triage/`` and the NLU's ordinary questions (the
    held-out ``test/`` splits excluded)."""
    return Triage(load() + ordinary())


def assess(text: str | None) -> Assessment:
    return default_triage().assess(text)


# -- what the resident is told ------------------------------------------------------------------
def advice(kind: str, commune: Commune) -> Text:
    """The number to call and what to do first, in the first reply to an emergency."""
    return Text(_(KINDS[kind].advice).format(phone=commune.phone))


def question() -> Choices:
    """Asked instead of alerting when the message may be an emergency."""
    return Choices(
        _(QUESTION), (Choice(_("Có, cần ngay"), "/triage yes"), Choice(_("Không"), "/triage no"))
    )


_YES_FIRST = {
    "co",
    "dung",
    "vang",
    "can",
    "dang",
    "u",
    "uh",
    "ok",
    "oke",
    "gap",
    "cuu",
    "yes",
    "help",
}
_NO_FIRST = {"khong", "ko", "k", "kh", "hong", "hok", "khum", "chua", "het", "xong", "no", "not"}
_POLITE = {"da", "a", "oi", "ad", "xa", "ah", "nha", "nhe"}
#: "có" is a yes alone, before a pause ("có, nước đang lên") or before these words; followed by
#: anything else it says "there is" ("có người lạ…") and the message is read afresh
_YES_AFTER_CO = {"can", "dang", "that", "roi", "ngay", "gap", "cuu", "nguy", "khan"}
_CO_ALONE = re.compile(r"^\W*(?:dạ\W+|da\W+|vâng\W+)?(?:có|co)\b\s*[,.!;:–-]", re.I)


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
    if (
        words[0] == "co"
        and len(words) > 1
        and words[1] not in _YES_AFTER_CO
        and not _CO_ALONE.match(said)
    ):
        return None  # "có người lạ…", "có cháy…": "there is", a new message, not a yes
    if words[0] in _YES_FIRST:
        return True
    return None
