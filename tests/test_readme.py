"""The README's commands stay true to the demo files and to the code: the demo's ports and ids
agree across the README, demo/config.simulator.yml and demo/simulator-setup.json (also in the
"other ports" recipe), every `bot …` command in it parses, the staff it gives a Zalo id wrote to
the OA first, no shell variable is given two meanings; and scripts/setup.sh picks a Python
3.11–3.13 or says why it cannot. No network and no service: the commands are read, not run (the
staff path itself runs in tests/test_staff_path.py)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from bot.cli import build_parser
from zalosim.__main__ import parse_args as simulator_args

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIG = yaml.safe_load((ROOT / "demo" / "config.simulator.yml").read_text(encoding="utf-8"))
SETUP = json.loads((ROOT / "demo" / "simulator-setup.json").read_text(encoding="utf-8"))
DEMO = README[README.index("### The Zalo path without Zalo") : README.index("**Other ports.**")]
MOVED = README[README.index("**Other ports.**") :]


def commands(text: str) -> list[str]:
    """The shell lines of the ```sh blocks, continuations joined, comments kept apart."""
    lines: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        lines += [line.strip() for line in joined.splitlines() if line.strip()]
    return lines


def assignments(text: str) -> dict[str, list[str]]:
    """NAME → every value the README's shell lines give it."""
    found: dict[str, list[str]] = {}
    for line in commands(text):
        for name, value in re.findall(r"(?:^|export |\s)([A-Z][A-Z0-9_]*)=(\S+)", line):
            found.setdefault(name, []).append(value)
    return found


def port(url: str) -> int:
    return urlsplit(url).port or 80


def bot_invocations(text: str) -> list[list[str]]:
    """Each ``.venv/bin/bot …`` command's arguments (inside ``$(…)`` too)."""
    out = []
    for line in commands(text):
        for match in re.finditer(r"\.venv/bin/bot ((?:[^()#'\"]|\"[^\"]*\"|'[^']*')+)", line):
            out.append(shlex.split(match.group(1)))
    return out


def test_the_demo_ports_agree_across_the_readme_and_both_files():
    values = assignments(DEMO)
    [sim_url], [api_url] = values["ZALO_SIM"], values["COMMUNE_API"]
    [simulator] = [args for args in bot_invocations(DEMO) if args[0] == "simulator"]
    sim = simulator_args(simulator[1:])
    assert (
        port(sim_url)
        == sim.port
        == port(CONFIG["zalo"]["api_base"])
        == port(CONFIG["zalo"]["oauth_base"])
    )
    service = CONFIG["service"]["port"]
    assert port(api_url) == service
    assert {port(oa["webhook_url"]) for oa in SETUP["oas"]} == {service}
    assert str(sim.setup) == "demo/simulator-setup.json"


def test_the_moved_ports_agree_with_each_other():
    values = assignments(MOVED)
    [simulator] = [args for args in bot_invocations(MOVED) if args[0] == "simulator"]
    sim = simulator_args(simulator[1:])
    [sim_url], [api_url], [service] = values["ZALO_SIM"], values["COMMUNE_API"], values["BOT_PORT"]
    assert (
        sim.port
        == port(sim_url)
        == port(values["BOT_ZALO_API_BASE"][0])
        == port(values["BOT_ZALO_OAUTH_BASE"][0])
        != CONFIG["zalo"]["api_base"]
    )
    assert (
        sim.webhook_url
        and port(sim.webhook_url) == port(api_url) == int(service) != CONFIG["service"]["port"]
    )
    assert urlsplit(sim.webhook_url).path == urlsplit(SETUP["oas"][0]["webhook_url"]).path


def test_the_demo_ids_are_the_demo_files():
    [commune] = CONFIG["communes"]
    [oa] = SETUP["oas"]
    [tokens] = SETUP["tokens"]
    assert commune["zalo"]["oa_id"] == oa["oa_id"] == tokens["oa_id"]
    assert commune["zalo"]["oa_secret_key"] == oa["oa_secret_key"]
    assert assignments(DEMO)["COMMUNE_API"][0].endswith(f"/communes/{commune['code']}")
    [set_tokens] = [a for a in bot_invocations(DEMO) if a[:2] == ["zalo", "set-tokens"]]
    given = dict(zip(set_tokens[2::2], set_tokens[3::2]))
    assert given == {
        "--oa": oa["oa_id"],
        "--access-token": tokens["access_token"],
        "--refresh-token": tokens["refresh_token"],
    }
    assert f'\\"oa_id\\": \\"{oa["oa_id"]}\\"' in DEMO  # say() writes to this OA
    villages = set(commune["villages"])
    named = set(re.findall(r'--village "([^"]+)"', README)) | {
        v
        for group in re.findall(r'"villages": \[([^\]]*)\]', DEMO)
        for v in re.findall(r'"([^"]+)"', group)
    }
    assert named and named <= villages, named - villages


def test_every_bot_command_parses():
    parser = build_parser()
    invocations = bot_invocations(README)
    assert len(invocations) >= 8
    for args in invocations:
        if args[0] == "simulator":
            simulator_args(args[1:])
        else:
            parser.parse_args(args)


def test_staff_with_a_zalo_id_wrote_to_the_oa_first():
    said: set[str] = set()
    given = 0
    for line in commands(DEMO):
        said |= set(re.findall(r"^say (\d+) ", line))
        for user in re.findall(r"--zalo-user-id (\d+)", line):
            assert user in said, f"{user} gets a Zalo id before writing to the OA"
            given += 1
    assert given >= 2  # the leader (emergency alerts) and a propagandist (relays)


def test_keys_are_captured_and_each_variable_means_one_thing():
    values = assignments(DEMO)
    for name in ("OFFICER_KEY", "LEADER_KEY"):
        [value] = values[name]
        assert value.startswith("$(.venv/bin/bot") and "--quiet" in next(
            line for line in commands(DEMO) if line.startswith(f"{name}=")
        )
    for name, given in assignments(README).items():
        kinds = {urlsplit(v).path.rstrip("/") if "://" in v else v for v in given}
        assert len(kinds) == 1, f"{name} is given different meanings: {given}"
    used = set(re.findall(r"\$([A-Z][A-Z0-9_]*)", "\n".join(commands(README))))
    assert used <= set(assignments(README)) | {"PYTHON"}, used - set(assignments(README))


# -- scripts/setup.sh: which Python -----------------------------------------------------------
def fake_python(where: Path, name: str, version: str) -> None:
    """A stand-in interpreter: answers the range check and ``-V`` for ``version`` and fails
    to make a virtual environment (so nothing is installed)."""
    major, minor = version.split(".")[:2]
    where.joinpath(name).write_text(
        "#!/bin/sh\n"
        f'case "$1" in -V) echo "Python {version}";;\n'
        f"  -c) [ {major}{minor:0>2} -ge 311 ] && [ {major}{minor:0>2} -le 313 ];;\n"
        "  *) exit 1;; esac\n"
    )
    where.joinpath(name).chmod(0o755)


def setup_sh(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    if not (bin_dir / "dirname").exists():
        (bin_dir / "dirname").symlink_to("/usr/bin/dirname")
    return subprocess.run(
        ["/bin/bash", str(ROOT / "scripts" / "setup.sh")],
        env={"PATH": str(bin_dir), "VENV": str(tmp_path / "venv"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    (tmp_path / "bin").mkdir()
    return tmp_path / "bin"


@pytest.mark.skipif(not os.path.exists("/usr/bin/dirname"), reason="needs coreutils' dirname")
def test_setup_takes_a_supported_python_or_says_why_not(tmp_path, bin_dir):
    fake_python(bin_dir, "python3", "3.10.12")
    done = setup_sh(tmp_path)
    assert done.returncode == 1 and "Python 3.11, 3.12 or 3.13 is needed" in done.stderr
    assert "Python 3.10.12 found" in done.stderr and not (tmp_path / "venv").exists()

    # python3 out of range: the newest python3.1x found is taken (here it cannot make a venv)
    fake_python(bin_dir, "python3.12", "3.12.3")
    fake_python(bin_dir, "python3.13", "3.13.1")
    done = setup_sh(tmp_path)
    assert done.returncode == 1 and "with python3.13" in done.stderr, done.stderr

    # python3 in range is taken before any other
    fake_python(bin_dir, "python3", "3.12.3")
    assert "with python3 " in setup_sh(tmp_path).stderr

    # PYTHON= wins, and is checked, not trusted
    done = setup_sh(tmp_path, PYTHON=str(bin_dir / "python3.13"))
    assert f"with {bin_dir / 'python3.13'}" in done.stderr
    fake_python(bin_dir, "python3.10", "3.10.12")
    done = setup_sh(tmp_path, PYTHON=str(bin_dir / "python3.10"))
    assert done.returncode == 1 and "is not a Python 3.11, 3.12 or 3.13" in done.stderr
