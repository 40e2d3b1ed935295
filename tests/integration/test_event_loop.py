"""uvloop is the default event loop where the platform has it, from a plain install;
DELIVERMON_EVENT_LOOP=asyncio still picks the standard loop, and a typo is a usage error.

``config check`` runs as an operator runs it and says which loop it ran on in its DEBUG
log (JSON, read back line by line); the daemon says it in its start-up line.
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest
from cli import run_cli
from packaging.requirements import Requirement


def test_a_plain_install_brings_uvloop_on_this_platform() -> None:
    requirements = [Requirement(r) for r in importlib.metadata.requires("delivermon") or []]
    # one requirement, with a platform marker (no extra), and this platform meets it
    (uvloop,) = [r for r in requirements if r.name == "uvloop" and r.marker is not None]
    assert uvloop.marker is not None
    assert uvloop.marker.evaluate({"extra": ""})
    assert importlib.metadata.version("uvloop")


def loop_of(env: dict[str, str], tmp_path: Path) -> tuple[int, str | None, str]:
    (tmp_path / "delivermon.toml").write_text('[log]\nlevel = "info"\n')
    done = run_cli(
        "--log-level", "debug", "--log-format", "json", "config", "check", "delivermon.toml",
        cwd=tmp_path,
        env={"DELIVERMON_EVENT_LOOP": "", **env},
    )  # fmt: skip
    loops = [
        doc["event_loop"]
        for doc in map(json.loads, done.stderr.splitlines())
        if doc["message"] == "event loop"
    ]
    return done.returncode, (loops[0] if loops else None), done.stderr


@pytest.mark.parametrize(
    ("setting", "loop"),
    [("", "uvloop"), ("asyncio", "asyncio"), ("uvloop", "uvloop"), ("AsyncIO", "asyncio")],
    ids=["default", "asyncio", "uvloop", "any-case"],
)
def test_the_event_loop_setting_is_the_loop_that_runs(
    setting: str, loop: str, tmp_path: Path
) -> None:
    code, ran, _ = loop_of({"DELIVERMON_EVENT_LOOP": setting}, tmp_path)
    assert (code, ran) == (0, loop)


def test_an_unknown_event_loop_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "delivermon.toml").write_text('[log]\nlevel = "info"\n')
    done = run_cli(
        "config", "check", "delivermon.toml", cwd=tmp_path, env={"DELIVERMON_EVENT_LOOP": "trio"}
    )
    assert done.returncode == 2
    assert "DELIVERMON_EVENT_LOOP must be asyncio or uvloop" in done.stderr


@pytest.mark.parametrize(
    "command",
    [["zones", "--no-test"], ["bounce", "classify", "550 5.1.1 user unknown"]],
    ids=["zones", "bounce-classify"],
)
def test_an_unknown_event_loop_is_refused_by_commands_that_start_none(
    command: list[str], tmp_path: Path
) -> None:
    done = run_cli(*command, cwd=tmp_path, env={"DELIVERMON_EVENT_LOOP": "foo"})
    assert done.returncode == 2
    assert "DELIVERMON_EVENT_LOOP must be asyncio or uvloop, got 'foo'" in done.stderr


def test_version_is_the_installed_distributions() -> None:
    done = run_cli("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"delivermon {importlib.metadata.version('delivermon')}"
