"""`bot nlu rasa-serve` stopped with SIGTERM or SIGINT stops the Rasa server and whatever it
started. A stand-in server (BOT_FAULT_RASA_SERVE_CMD, bot/faults.py) that starts a process of
its own takes Rasa's place, so no trained model is needed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: the stand-in "Rasa": starts a worker of its own, says who they are, then serves forever
STAND_IN = """
import json, os, subprocess, sys, time
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
with open(sys.argv[1] + ".tmp", "w") as f:
    json.dump([os.getpid(), worker.pid], f)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
time.sleep(600)
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has stopped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads process states from /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stopping_rasa_serve_stops_the_server_and_what_it_started(tmp_path, sig):
    pids_file = tmp_path / "pids.json"
    env = {
        **os.environ,
        "BOT_FAULT_RASA_SERVE_CMD": json.dumps([sys.executable, "-c", STAND_IN, str(pids_file)]),
    }
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "nlu", "rasa-serve"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not pids_file.exists():
            assert bot.poll() is None, bot.stderr.read().decode() if bot.stderr else ""
            assert time.monotonic() < deadline, "the stand-in server did not start"
            time.sleep(0.05)
        server, worker = json.loads(pids_file.read_text())
        assert alive(server) and alive(worker)
        bot.send_signal(sig)
        assert bot.wait(timeout=30) == 128 + sig
        assert not alive(server) and not alive(worker)
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()
