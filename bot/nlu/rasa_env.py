"""`bot nlu rasa-setup`: Rasa 3.6.21 in its own Python 3.10 virtual environment.

Rasa 3.6 pins old SQLAlchemy (1.4), aiohttp, APScheduler and pydantic (1.x) and runs only on
Python 3.8–3.10, so it cannot share the service's environment; it lives outside the checkout, in
``$BOT_RASA_HOME`` (default ``~/.cache/commune-bot/rasa-3.6.21``), built once and reused by
every clone on the machine: ``venv/`` (the environment), ``models/`` (trained models named by the
fingerprint of what trained them), ``projects/`` (the exported Rasa projects).

The interpreter is ``$BOT_RASA_PYTHON`` if set, else the newest pyenv 3.10/3.9/3.8, else
``python3.10`` (…) on ``PATH``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

RASA_VERSION = "3.6.21"
SUPPORTED_PYTHONS = ("3.10", "3.9", "3.8")
STAMP = ".commune-bot-ready"


class RasaSetupError(Exception):
    """The Rasa environment cannot be built or found; the message says what to do."""


def rasa_home() -> Path:
    if os.environ.get("BOT_RASA_HOME"):
        return Path(os.environ["BOT_RASA_HOME"]).expanduser()
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "commune-bot" / f"rasa-{RASA_VERSION}"


def venv_dir() -> Path:
    return rasa_home() / "venv"


def rasa_executable() -> Path:
    return venv_dir() / "bin" / "rasa"


def is_ready() -> bool:
    stamp = venv_dir() / STAMP
    return (
        rasa_executable().exists() and stamp.exists() and stamp.read_text().strip() == RASA_VERSION
    )


def child_env() -> dict[str, str]:
    """The environment Rasa's commands run in: no telemetry prompt or upload, quiet TensorFlow,
    and nothing of our own virtual environment leaking in."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        RASA_TELEMETRY_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        PYTHONWARNINGS="ignore",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    env["PATH"] = f"{venv_dir() / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env


def _version_of(python: str) -> str | None:
    try:
        out = subprocess.run(
            [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _candidates() -> Iterator[str]:
    if os.environ.get("BOT_RASA_PYTHON"):
        yield os.environ["BOT_RASA_PYTHON"]
        return
    roots = [os.environ.get("PYENV_ROOT"), str(Path.home() / ".pyenv")]
    for root in filter(None, roots):
        versions = Path(root) / "versions"
        for wanted in SUPPORTED_PYTHONS:
            found = sorted(
                versions.glob(f"{wanted}.*/bin/python"),
                key=lambda p: [int(x) for x in p.parent.parent.name.split(".") if x.isdigit()],
                reverse=True,
            )
            yield from map(str, found)
    for wanted in SUPPORTED_PYTHONS:
        if path := shutil.which(f"python{wanted}"):
            yield path


def find_python() -> str:
    for python in _candidates():
        if _version_of(python) in SUPPORTED_PYTHONS:
            return python
    raise RasaSetupError(
        "Rasa 3.6 needs Python 3.8, 3.9 or 3.10 and none was found: install one (e.g. "
        "`pyenv install 3.10`) or set BOT_RASA_PYTHON to its interpreter"
    )


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # two test runs or two shells set up once
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def setup(*, force: bool = False, say: Callable[[str], None] = print) -> Path:
    """Build (or find) the environment; returns the ``rasa`` executable."""
    with _locked(rasa_home() / ".setup.lock"):
        if is_ready() and not force:
            return rasa_executable()
        python = find_python()
        venv = venv_dir()
        if venv.exists():
            shutil.rmtree(venv)  # a half-built environment from an interrupted run
        started = time.monotonic()
        say(f"creating {venv} with {python} ({_version_of(python)})")
        _run([python, "-m", "venv", str(venv)])
        say(f"installing rasa=={RASA_VERSION} (a few minutes on first install)")
        _run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                f"rasa=={RASA_VERSION}",
            ]
        )
        (venv / STAMP).write_text(RASA_VERSION + "\n")
        say(f"Rasa {RASA_VERSION} ready in {time.monotonic() - started:.0f} s: {rasa_executable()}")
        return rasa_executable()


def require() -> Path:
    if not is_ready():
        raise RasaSetupError(f"Rasa is not set up in {venv_dir()}: run `bot nlu rasa-setup`")
    return rasa_executable()


def _run(cmd: list[str]) -> None:
    result = subprocess.run(
        cmd, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:])
        raise RasaSetupError(f"{' '.join(cmd[:4])} … failed with exit code {result.returncode}")
