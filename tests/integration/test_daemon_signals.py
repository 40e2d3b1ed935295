"""Signals at the edges of the daemon's life: while it starts and while it stops.

SIGHUP's default action ends a process, so until the daemon's handler is installed a
reload request (a config tool's, right after a restart) killed it. The handlers are now
installed before the start and removed after the stop.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon import DaemonProcess, delivermon_command, offline_config, wait_for
from dnsserver import pick_free_port

from monitor.store.engine import PG_CONNECT_TIMEOUT


@pytest.fixture
def silent_postgres() -> Iterator[socket.socket]:
    """A TCP listener on 127.0.0.1 that accepts and never answers: a PostgreSQL store
    there keeps the daemon's start in its connection attempt (for at most
    PG_CONNECT_TIMEOUT seconds)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(30)
        yield sock


def starting_daemon(
    tmp_path: Path, listener: socket.socket
) -> tuple[subprocess.Popen[bytes], socket.socket]:
    """``delivermon run`` against ``listener``, returned once it has connected to it (its
    start under way: the signal handlers are installed before the start), with that
    connection: open, unanswered, it keeps the start waiting (closed, it would fail it)."""
    port = listener.getsockname()[1]
    config = tmp_path / "delivermon.toml"
    config.write_text(offline_config(f"postgresql://u:p@127.0.0.1:{port}/delivermon"))
    listen = f"127.0.0.1:{pick_free_port()}"
    with (tmp_path / "out.log").open("wb") as out:
        proc = subprocess.Popen(
            [*delivermon_command(), "run", "--config", str(config), "--listen", listen],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "DELIVERMON_LOG_FORMAT"},
        )
    connection, _ = listener.accept()  # the daemon is in its store's connection attempt
    return proc, connection


def waited(proc: subprocess.Popen[bytes], connection: socket.socket) -> int:
    """The exit status (killed if still running after the connection timeout and more)."""
    try:
        return proc.wait(PG_CONNECT_TIMEOUT + 10)
    finally:
        connection.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sighup_while_starting_reloads_once_started_instead_of_killing(
    tmp_path: Path, silent_postgres: socket.socket
) -> None:
    proc, connection = starting_daemon(tmp_path, silent_postgres)
    proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    alive = proc.poll() is None
    if alive:
        proc.send_signal(signal.SIGTERM)
    code = waited(proc, connection)
    assert alive, (tmp_path / "out.log").read_text()
    log = (tmp_path / "out.log").read_text()
    assert code == 0, log  # killed by the signal, it was -1
    assert "SIGHUP while starting: the config is reloaded once started" in log
    assert "stop asked for while starting" in log


def test_sigterm_while_starting_stops_at_once_and_cleanly(
    tmp_path: Path, silent_postgres: socket.socket
) -> None:
    proc, connection = starting_daemon(tmp_path, silent_postgres)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = waited(proc, connection)
    log = (tmp_path / "out.log").read_text()
    assert code == 0, log  # killed by the signal, it was -15
    assert time.monotonic() - started < PG_CONNECT_TIMEOUT  # not after the connection timed out
    assert "daemon stopped" in log


def test_sighup_during_the_graceful_stop_is_ignored(tmp_path: Path, silent_udp_port: str) -> None:
    """The domain's auth checks wait on a resolver that never answers (5 s per query), so
    the stop waits for them; a SIGHUP then used to end the process before its stop had
    finished."""
    config = tmp_path / "delivermon.toml"
    config.write_text(
        offline_config(
            f"sqlite:///{tmp_path / 'd.db'}",
            nameserver=silent_udp_port,
            timeout=5,
            extra='[[domains]]\nname = "example.com"\nsending_ips = ["192.0.2.10"]\n',
        )
    )
    daemon = DaemonProcess(config).start()
    try:
        wait_for(lambda: "daemon started" in daemon.log(), what="the start")
        daemon.signal(signal.SIGTERM)
        wait_for(lambda: "shutting down" in daemon.log(), what="the stop's start")
        daemon.signal(signal.SIGHUP)
        code = daemon.stop(timeout=60)
    finally:
        daemon.stop()
    log = daemon.log()
    assert code == 0, log  # killed by the signal, it was -1
    assert "SIGHUP while shutting down: ignored" in log
    assert "daemon stopped" in log


def test_a_store_that_never_answers_fails_the_start_within_its_timeout(
    tmp_path: Path, silent_postgres: socket.socket
) -> None:
    """asyncpg's own connection timeout is 60 s, and the store URL's ?timeout= was passed
    on as text (a TypeError); a start against a server that never answers now ends after
    the URL's timeout with one clear line and exit 1."""
    port = silent_postgres.getsockname()[1]
    config = tmp_path / "delivermon.toml"
    config.write_text(offline_config(f"postgresql://u:p@127.0.0.1:{port}/d?timeout=1.5"))
    started = time.monotonic()
    proc = subprocess.run(
        [
            *delivermon_command(),
            "run",
            "--config",
            str(config),
            "--listen",
            f"127.0.0.1:{pick_free_port()}",
        ],
        capture_output=True,
        text=True,
        timeout=PG_CONNECT_TIMEOUT + 20,
        env={k: v for k, v in os.environ.items() if k != "DELIVERMON_LOG_FORMAT"},
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot open the store" in proc.stdout + proc.stderr
    assert "TimeoutError" in proc.stdout + proc.stderr
    assert time.monotonic() - started < PG_CONNECT_TIMEOUT


def test_sighup_while_the_process_imports_is_a_reload_once_started(tmp_path: Path) -> None:
    """Before the event loop runs (a second or so of imports) a SIGHUP had its default
    action and ended the process (exit 129, nothing logged): the console script holds it
    from its first line, and the daemon reloads once started."""
    config = tmp_path / "delivermon.toml"
    config.write_text(offline_config(f"sqlite:///{tmp_path / 'd.db'}"))
    daemon = DaemonProcess(config)
    daemon.start_without_waiting()
    try:
        time.sleep(0.3)  # inside the imports (a start takes over a second here)
        assert "daemon started" not in daemon.log()
        daemon.signal(signal.SIGHUP)
        daemon.wait_ready()
        wait_for(lambda: "config reloaded" in daemon.log(), what="the reload once started")
        assert "SIGHUP while starting" in daemon.log()
    finally:
        code = daemon.stop()
    assert code == 0, daemon.log()


def test_sighup_as_the_process_tears_down_after_its_stop_is_ignored(tmp_path: Path) -> None:
    """Once the daemon's handlers were removed the process still tore down for a while,
    and a SIGHUP then ended it with 129 (a service manager records a failed stop)."""
    config = tmp_path / "delivermon.toml"
    config.write_text(offline_config(f"sqlite:///{tmp_path / 'd.db'}"))
    daemon = DaemonProcess(config).start()
    daemon.signal(signal.SIGTERM)
    deadline = time.monotonic() + 30
    while "daemon stopped" not in daemon.log() and time.monotonic() < deadline:
        time.sleep(0.001)
    daemon.signal(signal.SIGHUP)
    try:
        code = daemon.wait()
    finally:
        daemon.stop()
    assert code == 0, daemon.log()
