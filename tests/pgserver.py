"""A throwaway PostgreSQL cluster on 127.0.0.1 for integration tests.

`PgServer` runs ``initdb`` into a temporary directory and ``pg_ctl start`` on a
free loopback port (trust authentication, fsync off: test data only). The
server refuses to run as root, so under root every server command runs as the
``postgres`` user through ``runuser``; the directory is that user's.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from dnsserver import HOST, pick_free_port

# Debian keeps the server binaries off PATH, one directory per major version.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
SERVER_USER = "postgres"
SUPERUSER = "postgres"
_START_ATTEMPTS = 5
_TIMEOUT = 60.0


class PgError(RuntimeError):
    """The cluster failed to initialise, start or run a command; the message has its log."""


def find_postgres_bindir() -> Path | None:
    """Directory holding initdb, pg_ctl and postgres (newest Debian version first), or None."""
    candidates: list[Path] = []
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).resolve().parent)
    candidates += sorted(
        Path("/").glob(DEBIAN_BIN_GLOB.lstrip("/")),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    for bindir in candidates:
        if all(os.access(bindir / tool, os.X_OK) for tool in ("initdb", "pg_ctl", "postgres")):
            return bindir
    return None


def missing_prerequisite() -> str | None:
    """Why a cluster cannot be started here (binaries, user), or None when it can."""
    if find_postgres_bindir() is None:
        return "PostgreSQL not installed: apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            return f"running as root needs a {SERVER_USER!r} user to run PostgreSQL as"
        if shutil.which("runuser") is None:
            return "running as root needs runuser (util-linux) to start PostgreSQL"
    return None


class PgServer:
    """One PostgreSQL cluster: ``start()``, ``create_database(name)``, ``url(name)``, ``stop()``."""

    def __init__(self, bindir: Path, *, fsync: bool = False) -> None:
        """``fsync=False`` (tests): no durability. ``fsync=True``: PostgreSQL's defaults,
        for benchmarks that measure durable commits."""
        self._bindir = bindir
        self._fsync = fsync
        self._as_root = os.geteuid() == 0
        self.directory = Path(tempfile.mkdtemp(prefix="delivermon-pg-"))
        self.port = 0
        self._options = ""
        if self._as_root:
            user = pwd.getpwnam(SERVER_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
        self._data = self.directory / "data"
        self._log = self.directory / "server.log"

    def _server_command(self, tool: str, *args: str) -> list[str]:
        command = [str(self._bindir / tool), *args]
        return ["runuser", "-u", SERVER_USER, "--", *command] if self._as_root else command

    def _run(self, command: list[str], what: str) -> subprocess.CompletedProcess[bytes]:
        done = subprocess.run(command, capture_output=True, timeout=_TIMEOUT, check=False)
        if done.returncode != 0:
            log = self._log.read_text(errors="replace") if self._log.exists() else ""
            raise PgError(
                f"{what} failed ({done.returncode}): {done.stderr.decode(errors='replace')}\n{log}"
            )
        return done

    def start(self) -> Self:
        """initdb, then start on a free port (retrying if another process takes it first).

        Raises:
            PgError: initdb failed, or the server did not start after several ports.
        """
        self._run(
            self._server_command(
                "initdb", "-D", str(self._data), "-U", SUPERUSER, "--auth=trust",
                "-E", "UTF8", "--locale=C", *([] if self._fsync else ["--no-sync"]),
            ),
            "initdb",
        )  # fmt: skip
        last: PgError | None = None
        for _ in range(_START_ATTEMPTS):
            self.port = pick_free_port()
            durability = (
                "-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
                if self._fsync
                else "-c fsync=off -c full_page_writes=off"
            )
            options = (
                f"-p {self.port} -k {self.directory} -c listen_addresses={HOST} "
                f"{durability} -c max_connections=200"
            )
            self._options = options
            try:
                self.resume()
                return self
            except PgError as exc:
                last = exc
        raise PgError(f"PostgreSQL did not start after {_START_ATTEMPTS} ports") from last

    def resume(self) -> None:
        """Start the server again on its port, with its data (after ``pause``).

        Raises:
            PgError: it did not start.
        """
        self._run(
            self._server_command(
                "pg_ctl", "-D", str(self._data), "-l", str(self._log), "-w",
                "-t", str(int(_TIMEOUT)), "-o", self._options, "start",
            ),
            "pg_ctl start",
        )  # fmt: skip

    def pause(self) -> None:
        """Stop the server (fast shutdown: connections cut), keeping its data and port."""
        self._run(
            self._server_command("pg_ctl", "-D", str(self._data), "-m", "fast", "-w", "stop"),
            "pg_ctl stop",
        )

    def version(self) -> str:
        done = subprocess.run(
            [str(self._bindir / "postgres"), "--version"],
            capture_output=True, text=True, timeout=10, check=False,
        )  # fmt: skip
        return done.stdout.strip()

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists (best effort)."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name {name!r}")
        with contextlib.suppress(PgError, subprocess.TimeoutExpired):
            self._run(
                self._client("psql", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q",
                             "-c", f'DROP DATABASE IF EXISTS "{name}"'),
                "DROP DATABASE",
            )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown) and delete the cluster."""
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

    def _client(self, tool: str, *args: str) -> list[str]:
        # Clients connect over TCP as the superuser; any OS user may run them.
        return [str(self._bindir / tool), "-h", HOST, "-p", str(self.port), "-U", SUPERUSER, *args]

    def create_database(self, name: str) -> str:
        """Create database ``name`` (letters, digits, underscores) and return its URL."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"unsafe database name {name!r}")
        self._run(
            self._client("psql", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q",
                         "-c", f'CREATE DATABASE "{name}"'),
            "CREATE DATABASE",
        )  # fmt: skip
        return self.url(name)

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{database}"

    def dump(self, database: str) -> bytes:
        """``pg_dump`` of the database: schema and every row, as SQL text."""
        return self._run(self._client("pg_dump", "-d", database), "pg_dump").stdout
