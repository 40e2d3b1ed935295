"""A throwaway PostgreSQL cluster on 127.0.0.1 for the ingest benchmark.

The same approach as ``tests/pgserver.py`` (initdb + ``pg_ctl start`` on a free
loopback port, trust authentication, ``runuser -u postgres`` when run as root),
with one difference: durability is a choice. ``fsync=True`` is PostgreSQL's
default (fsync on, synchronous_commit on, full_page_writes on): every
acknowledged commit is on disk, which is what a 202 promises in production.
``fsync=False`` is the test suite's setting (fsync off, full_page_writes off).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
SERVER_USER = "postgres"
_TIMEOUT = 60.0


class PgError(RuntimeError):
    """The cluster failed to initialise, start or run a command."""


def find_bindir() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres (newest Debian version first), or None."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def missing_prerequisite() -> str | None:
    if find_bindir() is None:
        return "PostgreSQL is not installed (apt-get install postgresql)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root needs a {SERVER_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root needs runuser (util-linux)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


class PgCluster:
    """``start()``, ``create_database(name)`` (returns its URL), ``drop_database``, ``stop()``."""

    def __init__(self, *, fsync: bool) -> None:
        bindir = find_bindir()
        if bindir is None:
            raise PgError("PostgreSQL is not installed")
        self._bindir = bindir
        self.fsync = fsync
        self._as_root = os.geteuid() == 0
        self.directory = Path(tempfile.mkdtemp(prefix="delivermon-bench-pg-"))
        if self._as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self._data = self.directory / "data"
        self._log = self.directory / "server.log"
        self.port = 0

    def version(self) -> str:
        done = subprocess.run(
            [str(self._bindir / "postgres"), "--version"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        return done.stdout.strip()

    def _server_command(self, tool: str, *args: str) -> list[str]:
        command = [str(self._bindir / tool), *args]
        return ["runuser", "-u", SERVER_USER, "--", *command] if self._as_root else command

    def _run(self, command: list[str], what: str) -> None:
        done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT, check=False)
        if done.returncode != 0:
            log = self._log.read_text(errors="replace")[-2000:] if self._log.exists() else ""
            raise PgError(
                f"{what} failed ({done.returncode}): {done.stderr.decode(errors='replace')}\n{log}"
            )

    def start(self) -> Self:
        self._run(
            self._server_command(
                "initdb", "-D", str(self._data), "-U", SERVER_USER, "--auth=trust",
                "-E", "UTF8", "--locale=C", *([] if self.fsync else ["--no-sync"]),
            ),
            "initdb",
        )  # fmt: skip
        durability = (
            "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
            if self.fsync
            else "-c fsync=off -c full_page_writes=off"
        )
        last: PgError | None = None
        for _ in range(5):
            self.port = free_port()
            options = (
                f"-p {self.port} -k {self.directory} -c listen_addresses={HOST} "
                f"{durability} -c max_connections=100"
            )
            try:
                self._run(
                    self._server_command(
                        "pg_ctl", "-D", str(self._data), "-l", str(self._log), "-w",
                        "-t", str(int(_TIMEOUT)), "-o", options, "start",
                    ),
                    "pg_ctl start",
                )  # fmt: skip
                return self
            except PgError as exc:
                last = exc
        raise PgError("PostgreSQL did not start after 5 ports") from last

    def _psql(self, sql: str) -> None:
        self._run(
            [str(self._bindir / "psql"), "-h", HOST, "-p", str(self.port), "-U", SERVER_USER,
             "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
            sql,
        )  # fmt: skip

    def create_database(self, name: str) -> str:
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name {name!r}")
        self._psql(f'CREATE DATABASE "{name}"')
        return f"postgresql://{SERVER_USER}@{HOST}:{self.port}/{name}"

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(PgError, subprocess.TimeoutExpired):
            self._psql(f'DROP DATABASE IF EXISTS "{name}"')

    def stop(self) -> None:
        with contextlib.suppress(PgError, subprocess.TimeoutExpired):
            if self.port:
                self._run(
                    self._server_command(
                        "pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop"
                    ),
                    "pg_ctl stop",
                )
        shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
