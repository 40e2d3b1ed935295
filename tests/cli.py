"""Run the ``delivermon`` command as an operator would: its console script, or the module.

The installed console script sits beside the interpreter (``.venv/bin/delivermon``);
without it (a checkout that was not pip-installed), ``python -m monitor.cli`` runs
the same entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

SCRIPT = Path(sys.executable).with_name("delivermon")


def delivermon_command() -> list[str]:
    """argv[:n] that starts delivermon; the subcommand and its options follow."""
    return [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "monitor.cli"]


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    stdin: str | bytes | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """``delivermon ARGS`` to completion; stdout and stderr decoded as UTF-8.

    `env` is added to this process's environment; `stdin` (text or bytes) is its input.
    """
    proc = subprocess.run(
        [*delivermon_command(), *args],
        input=stdin.encode() if isinstance(stdin, str) else stdin,
        capture_output=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        check=False,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )
