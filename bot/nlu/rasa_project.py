"""Our training data as a Rasa 3.6 project; training it (cached by fingerprint) and serving it.

`export` writes ``config.yml``, ``domain.yml`` and ``data/nlu.yml`` from the same ``data/nlu/``
the embedded engine trains on, with the same normalisation in front (``text.normalise``): Rasa
sees folded, lower-case, teencode-expanded text at training and at parse time, exactly as the
embedded engine does. The FAQ-style intents become one retrieval intent (``faq/office_hours`` …)
answered by a ResponseSelector; the domain's ``utter_faq/…`` responses only name the answer —
the bot's real answers are filled from the commune's facts (``bot/conversation``).

The model is named by a fingerprint of the exported files and the Rasa version, so training the
same data with the same pipeline twice reuses the first model (``$BOT_RASA_HOME/models``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.nlu import rasa_env
from bot.nlu.backends import RETRIEVAL_INTENT
from bot.nlu.data import NluData
from bot.nlu.text import normalise

#: answered with facts, one answer per question: Rasa retrieval intent ``faq/<name>``
FAQ_INTENTS = (
    "office_hours",
    "office_contact",
    "procedure_birth",
    "procedure_residence",
    "procedure_marriage",
    "procedure_certify",
    "procedure_land",
    "health_insurance",
    "social_allowance",
    "procedure_death",
    "health_station",
)

#: epochs per profile: ``full`` is what `bot nlu eval` and the service use; ``ci`` is a quick
#: model for the test suite (same pipeline, fewer passes over the data)
PROFILES = {"full": 40, "ci": 12}


def pipeline_config(profile: str) -> dict:
    epochs = PROFILES[profile]
    return {
        "recipe": "default.v1",
        "language": "vi",
        "assistant_id": "commune-bot",
        "pipeline": [
            {"name": "WhitespaceTokenizer"},
            {"name": "RegexFeaturizer"},
            # character n-grams inside word boundaries: robust to typos and missing accents
            {
                "name": "CountVectorsFeaturizer",
                "analyzer": "char_wb",
                "min_ngram": 2,
                "max_ngram": 5,
            },
            {"name": "CountVectorsFeaturizer"},
            {
                "name": "DIETClassifier",
                "epochs": epochs,
                "entity_recognition": False,
                "constrain_similarities": True,
                "random_seed": 7,
            },
            {
                "name": "ResponseSelector",
                "epochs": epochs,
                "retrieval_intent": RETRIEVAL_INTENT,
                "constrain_similarities": True,
                "random_seed": 7,
            },
            # Rasa's own threshold, the same as the bot's (engine.CONFIDENCE_THRESHOLD); the
            # backend reads the ranking under it, so both backends share one decision
            {"name": "FallbackClassifier", "threshold": 0.4},
        ],
        "policies": [],
    }


def rasa_intent(intent: str) -> str:
    return f"{RETRIEVAL_INTENT}/{intent}" if intent in FAQ_INTENTS else intent


def _block(items: list[str]) -> str:
    return "".join(f"    - {item}\n" for item in items)


def nlu_yaml(data: NluData) -> str:
    """Rasa 3.x NLU YAML of the normalised examples. Normalising can make two examples equal:
    duplicates inside an intent are dropped, and a text that would land in two intents is kept
    for neither (`rasa data validate` rejects such conflicts)."""
    by_text: dict[str, set[str]] = {}
    order: dict[str, list[str]] = {}
    for text, intent in data.examples:
        norm = normalise(text)
        if not norm:
            continue
        by_text.setdefault(norm, set()).add(intent)
        order.setdefault(intent, [])
        if norm not in order[intent]:
            order[intent].append(norm)
    out = ['version: "3.1"\n', "nlu:\n"]
    for intent in sorted(order):
        examples = [t for t in order[intent] if len(by_text[t]) == 1]
        if examples:
            out.append(f"- intent: {rasa_intent(intent)}\n  examples: |\n{_block(examples)}")
    for name, patterns in sorted(data.regexes.items()):
        normalised = sorted({normalised_pattern(p) for p in patterns})
        out.append(f"- regex: {name}\n  examples: |\n{_block(normalised)}")
    for name, values in sorted(data.lookups.items()):
        out.append(
            f"- lookup: {name}\n  examples: |\n"
            f"{_block(sorted({normalise(v) for v in values if normalise(v)}))}"
        )
    return "".join(out)


def normalised_pattern(pattern: str) -> str:
    """A data regex rewritten for normalised text, where letters are lower case and
    punctuation between words is one space: ``PA-\\d{4}-\\d{6}`` → ``pa \\d{4} \\d{6}``.
    (Literal letters and hyphens outside character classes; enough for the data's regexes, and
    tests/test_rasa.py checks each still matches its normalised examples.)"""
    out, escaped, in_class = [], False, False
    for ch in pattern:
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "[":
            in_class = True
            out.append(ch)
        elif ch == "]":
            in_class = False
            out.append(ch)
        elif not in_class and ch == "-":
            out.append(" ")
        else:
            out.append(ch if in_class else ch.lower())
    return "".join(out)


def domain_yaml(data: NluData, titles: dict[str, str]) -> dict:
    intents = sorted({rasa_intent(i).split("/")[0] for i in data.intents})
    responses = {
        f"utter_{RETRIEVAL_INTENT}/{i}": [{"text": titles.get(i, i)}]
        for i in FAQ_INTENTS
        if i in data.intents
    }
    return {
        "version": "3.1",
        "intents": intents,
        "responses": responses,
        "session_config": {"session_expiration_time": 60, "carry_over_slots_to_new_session": True},
    }


@dataclass(frozen=True)
class Project:
    path: Path
    fingerprint: str
    profile: str

    @property
    def model(self) -> Path:
        return rasa_env.rasa_home() / "models" / f"{self.fingerprint}.tar.gz"

    @property
    def record(self) -> Path:
        """How the cached model was made (training time, when) — beside it."""
        return self.model.parent / f"{self.fingerprint}.json"


def export(data: NluData, profile: str = "full") -> Project:
    """Write the project under ``$BOT_RASA_HOME/projects/<fingerprint>``."""
    from bot.nlu.intents import TITLES

    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
    files = {
        "config.yml": yaml.safe_dump(pipeline_config(profile), allow_unicode=True, sort_keys=False),
        "domain.yml": yaml.safe_dump(
            domain_yaml(data, TITLES), allow_unicode=True, sort_keys=False
        ),
        "data/nlu.yml": nlu_yaml(data),
    }
    digest = hashlib.sha256(rasa_env.RASA_VERSION.encode())
    for name, content in sorted(files.items()):
        digest.update(f"\0{name}\0{content}".encode())
    fingerprint = f"{profile}-{digest.hexdigest()[:16]}"
    path = rasa_env.rasa_home() / "projects" / fingerprint
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content, encoding="utf-8")
    return Project(path, fingerprint, profile)


@dataclass(frozen=True)
class Trained:
    model: Path
    project: Project
    train_s: float
    cached: bool


def _rasa(args: list[str], cwd: Path, log: Path) -> None:
    exe = rasa_env.require()
    with open(log, "a", encoding="utf-8") as out:
        result = subprocess.run(
            [str(exe), *args],
            cwd=cwd,
            env=rasa_env.child_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(
            f"`rasa {' '.join(args[:2])}` failed (exit {result.returncode}); "
            f"last lines of {log}:\n{tail}"
        )


def validate(project: Project) -> None:
    """`rasa data validate`: the exported data, domain and config must be accepted."""
    _rasa(
        ["data", "validate", "--config", "config.yml", "--domain", "domain.yml", "--data", "data"],
        project.path,
        project.path / "validate.log",
    )


def train(
    data: NluData, profile: str = "full", *, force: bool = False, say: Callable[[str], None] = print
) -> Trained:
    project = export(data, profile)
    if project.model.exists() and not force:
        try:
            train_s = float(json.loads(project.record.read_text())["train_s"])
        except (OSError, ValueError, KeyError):
            train_s = float("nan")
        return Trained(project.model, project, train_s, cached=True)
    validate(project)
    say(f"training Rasa ({profile}: {PROFILES[profile]} epochs) in {project.path}")
    started = time.monotonic()
    out = project.path / "models"
    shutil.rmtree(out, ignore_errors=True)
    _rasa(
        [
            "train",
            "nlu",
            "--config",
            "config.yml",
            "--domain",
            "domain.yml",
            "--nlu",
            "data/nlu.yml",
            "--out",
            "models",
            "--fixed-model-name",
            project.fingerprint,
        ],
        project.path,
        project.path / "train.log",
    )
    built = out / f"{project.fingerprint}.tar.gz"
    project.model.parent.mkdir(parents=True, exist_ok=True)
    os.replace(built, project.model)
    train_s = time.monotonic() - started
    project.record.write_text(
        json.dumps(
            {
                "train_s": round(train_s, 1),
                "profile": profile,
                "trained_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "examples": len(data.examples),
            }
        )
    )
    return Trained(project.model, project, train_s, cached=False)


def serve_command(model: Path, host: str, port: int) -> list[str]:
    return [
        str(rasa_env.require()),
        "run",
        "--enable-api",
        "--model",
        str(model),
        "--interface",
        host,
        "--port",
        str(port),
    ]


class RasaServer:
    """`rasa run --enable-api` as a child process (eval, benchmark, tests)."""

    def __init__(self, model: Path, port: int, host: str = "127.0.0.1") -> None:
        self.model, self.host, self.port = model, host, port
        self.url = f"http://{host}:{port}"
        self.log = model.with_suffix(f".serve-{port}.log")
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_s: float | None = None

    def start(self, timeout_s: float = 300.0) -> RasaServer:
        started = time.monotonic()
        with open(self.log, "w", encoding="utf-8") as out:
            self.process = subprocess.Popen(
                serve_command(self.model, self.host, self.port),
                cwd=self.model.parent,
                env=rasa_env.child_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        while time.monotonic() - started < timeout_s:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"rasa run exited with {self.process.returncode}; see "
                    f"{self.log}:\n{self.log.read_text()[-3000:]}"
                )
            if ready(self.url):
                self.startup_s = time.monotonic() - started
                return self
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"rasa run did not answer within {timeout_s:.0f} s; see {self.log}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> RasaServer:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def ready(url: str) -> bool:
    """A model is loaded and ``/model/parse`` can answer."""
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/status", timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False
