"""Running a server as a supervised child (`bot nlu rasa-serve`): the child gets a process
group of its own, and SIGTERM or SIGINT to us stop the whole group — so nothing it started
outlives the command. ``exec``-ing the server instead left its own children behind when a
supervisor stopped it, and a signal during training left `rasa train` running."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


class Stopped(BaseException):
    """SIGTERM or SIGINT arrived (a BaseException, like KeyboardInterrupt: whatever is running
    unwinds, and ``subprocess.run`` kills its child on the way out)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside: SIGTERM and SIGINT raise :class:`Stopped` (training is then cut short
    and its child process killed)."""

    def stop(signum: int, _frame: object) -> None:
        raise Stopped(signum)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_supervised(
    cmd: list[str], cwd: Path | None, env: dict[str, str], grace_s: float = 20.0
) -> int:
    """Run ``cmd`` (the Rasa server) as our child in a process group of its own and wait.
    SIGTERM or SIGINT to us stops the whole group — SIGTERM, then SIGKILL after ``grace_s`` —
    and so does the child ending by itself: no Rasa process outlives this command (``exec``
    would leave anything Rasa started behind, and a supervisor stopping us would miss it).
    Returns the child's exit status, or 128 + the signal that stopped us."""
    received: list[int] = []
    started: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, _frame: object) -> None:
        if not received:
            received.append(signum)
            if started:
                _signal_group(started[0].pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, start_new_session=True)
        started.append(proc)
        if received:  # stopped while it was starting
            _signal_group(proc.pid, signal.SIGTERM)
        deadline: float | None = None
        while True:
            try:
                code = proc.wait(timeout=0.5)
                break
            except subprocess.TimeoutExpired:
                if received and deadline is None:
                    deadline = time.monotonic() + grace_s
                if deadline is not None and time.monotonic() > deadline:
                    _signal_group(proc.pid, signal.SIGKILL)
    finally:
        if started:
            _stop_group(started[0].pid, grace_s)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 + received[0] if received else code


def _signal_group(pgid: int, sig: int) -> bool:
    """Signal every process of the group; False when none is left."""
    try:
        os.killpg(pgid, sig)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:  # a lone zombie of the group (macOS): nothing left to stop
        return False


def _stop_group(pgid: int, grace_s: float) -> None:
    """What the child started may outlive it: SIGTERM the rest of its group, then SIGKILL."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not _group_alive(pgid):
            return
        time.sleep(0.1)
    _signal_group(pgid, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    """Does the group still have a live (not zombie) member? Without /proc: signal 0."""
    proc = Path("/proc")
    if not proc.is_dir():
        return _signal_group(pgid, 0)
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False
