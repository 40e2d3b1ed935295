"""Shared fixtures: real servers on loopback (NSD, PostgreSQL, Dovecot), the stores on
SQLite and PostgreSQL, and the skip-or-fail rule for the servers.

A test needing a missing server binary skips with the install hint, except under
``CI=true`` where a missing server is a failure: CI must never pass by skipping.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path

import leaks
import pytest
from corpus import CORPUS, MISSING
from dnsserver import HOST, NsdServer, StartNsd, find_nsd
from dovecot import DovecotAccount, DovecotServer, find_dovecot
from dovecot import missing_prerequisite as dovecot_missing_prerequisite
from httpserve import ServeHttp, served_apps
from pgserver import PgServer, find_postgres_bindir, missing_prerequisite
from receiver import Receiver
from unbound import UnboundServer, find_unbound

from monitor.store import SqlStore, open_store

NSD_FIXTURES = frozenset({"nsd", "nsd_factory", "nsd_module_factory", "nsd_binary"})
UNBOUND_FIXTURES = frozenset({"unbound_binary", "unbound_factory"})


def require_server(found: Path | str | None, reason: str) -> None:
    """Skip when a server binary is missing; fail instead when running in CI."""
    if found is not None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: a missing server is a failure, not a skip)")
    pytest.skip(reason)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Tests using the NSD fixtures carry the `nsd` marker (so `-m "not nsd"` works)
    # without every test having to say it.
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if NSD_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.nsd)
        if UNBOUND_FIXTURES.intersection(fixtures):
            item.add_marker(pytest.mark.unbound)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """../shared/corpus; skips when absent (fails under CI=true, where it always exists)."""
    require_server(CORPUS if CORPUS.is_dir() else None, MISSING)
    return CORPUS


@pytest.fixture(scope="session")
def nsd_binary() -> Path:
    """Path of the nsd binary; skips (or fails under CI=true) when not installed."""
    binary = find_nsd()
    require_server(binary, "nsd not installed: apt-get install nsd")
    assert binary is not None
    return binary


@contextlib.contextmanager
def _nsd_starter(nsd_binary: Path, directory: Path) -> Iterator[StartNsd]:
    servers: list[NsdServer] = []

    def start_nsd(
        zones: Mapping[str, Sequence[str] | str] | None = None,
        *,
        broken: Sequence[str] = (),
    ) -> NsdServer:
        server = NsdServer(directory / f"nsd-{len(servers)}", nsd_binary=nsd_binary)
        servers.append(server)
        for origin, records in (zones or {}).items():
            server.add_zone(origin, records)
        for origin in broken:
            server.add_broken_zone(origin)
        return server.start()

    try:
        yield start_nsd
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def nsd_factory(nsd_binary: Path, tmp_path: Path) -> Iterator[StartNsd]:
    """Return ``start_nsd(zones, *, broken=())``: write the zones, start NSD, return it.

    Every server started through it is stopped at teardown. A start takes
    about 0.1 s, so a fresh server per test is the default.
    """
    with _nsd_starter(nsd_binary, tmp_path) as start_nsd:
        yield start_nsd


@pytest.fixture(scope="module")
def nsd_module_factory(
    nsd_binary: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[StartNsd]:
    """Like `nsd_factory`, but servers live until the end of the test module.

    For read-only zones shared by many tests; a test that reloads one would
    leak its change into the others.
    """
    with _nsd_starter(nsd_binary, tmp_path_factory.mktemp("nsd")) as start_nsd:
        yield start_nsd


@pytest.fixture(scope="session")
def unbound_binary() -> Path:
    """Path of Debian's unbound; skips (or fails under CI=true) when not installed."""
    binary = find_unbound()
    require_server(binary, "unbound not installed: apt-get install unbound")
    assert binary is not None
    return binary


@pytest.fixture
def unbound_factory(unbound_binary: Path, tmp_path: Path) -> Iterator[Callable[..., UnboundServer]]:
    """``start_unbound(stubs=..., insecure=..., trust_anchors=...)``: the shipped
    deploy/unbound.conf on loopback (tests/unbound.py), stopped at teardown."""
    servers: list[UnboundServer] = []

    def start(
        *,
        stubs: Mapping[str, str],
        insecure: Sequence[str] = (),
        trust_anchors: Sequence[str] = (),
    ) -> UnboundServer:
        server = UnboundServer(
            tmp_path / f"unbound-{len(servers)}",
            stubs=stubs,
            insecure=insecure,
            trust_anchors=trust_anchors,
            binary=unbound_binary,
        )
        servers.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in servers:
            server.stop()


@pytest.fixture
def nsd(nsd_factory: StartNsd) -> NsdServer:
    """A running NSD with no zones: ``add_zone(...)`` then ``reload()``."""
    return nsd_factory()


@pytest.fixture
def closed_udp_port() -> str:
    """``"127.0.0.1:PORT"`` where nothing is bound (UDP or TCP), for timeout tests.

    The kernel answers with ICMP port unreachable. dnspython (sync and asyncio)
    sends from unconnected sockets, which ignore it, so queries time out; a
    connected UDP socket would get ConnectionRefusedError instead. For a port
    that times out whatever the client does, use `silent_udp_port`.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
    return f"{HOST}:{port}"


@pytest.fixture
def silent_udp_port() -> Iterator[str]:
    """``"127.0.0.1:PORT"`` of a bound UDP socket that never answers: queries time out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        yield f"{HOST}:{port}"


@pytest.fixture(scope="session")
def dig_binary() -> Path:
    """Path of dig; skips (or fails under CI=true) when dnsutils is not installed."""
    found = shutil.which("dig")
    require_server(found, "dig not installed: apt-get install dnsutils")
    assert found is not None
    return Path(found)


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[PgServer]:
    """A throwaway PostgreSQL cluster for the session (about 1 s to start).

    Skips when PostgreSQL is not installed (fails under CI=true). Tests get
    their own database from it (`store_url`), so they share no rows.
    """
    reason = missing_prerequisite()
    require_server(None if reason else "postgresql", reason or "")
    bindir = find_postgres_bindir()
    assert bindir is not None
    with PgServer(bindir) as server:
        yield server


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    """Where the test's SQLite store lives: ``tmp_path/delivermon.db`` (not created here).

    Tests that look at the file behind the store's back (row counts with sqlite3, the
    raw bytes) take this beside `sqlite_store`, or beside `store_url` on its SQLite run.
    """
    return tmp_path / "delivermon.db"


@pytest.fixture
async def sqlite_store(sqlite_path: Path) -> AsyncIterator[SqlStore]:
    """An open, migrated store on `sqlite_path`, closed at teardown: SQLite only.

    For tests that read the SQLite file itself; everything else uses `store`, which
    runs on both backends.
    """
    opened = await open_store(f"sqlite:///{sqlite_path}")
    yield opened
    await opened.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store_url(request: pytest.FixtureRequest, sqlite_path: Path) -> str:
    """URL of an empty store: the SQLite file at `sqlite_path`, or a fresh PostgreSQL database.

    Tests using it run once per backend (ids ``[sqlite]`` and ``[postgresql]``).
    """
    if request.param == "sqlite":
        return f"sqlite:///{sqlite_path}"
    server: PgServer = request.getfixturevalue("postgresql_server")
    return server.create_database(f"test_{uuid.uuid4().hex[:16]}")


@pytest.fixture
async def store(store_url: str) -> AsyncIterator[SqlStore]:
    """An open, migrated store at `store_url` (so once per backend), closed at teardown."""
    opened = await open_store(store_url)
    yield opened
    await opened.close()


@pytest.fixture(scope="session")
def dovecot_binary() -> Path:
    """Path of the dovecot binary; skips (or fails under CI=true) when dovecot-imapd is missing."""
    reason = dovecot_missing_prerequisite()
    require_server(None if reason else "dovecot", reason or "")
    binary = find_dovecot()
    assert binary is not None
    return binary


@pytest.fixture(scope="session")
def dovecot_server(dovecot_binary: Path) -> Iterator[DovecotServer]:
    """One Dovecot on 127.0.0.1 for the session: plain IMAP with STARTTLS, and IMAPS."""
    with DovecotServer(dovecot_binary, tls=True) as server:
        yield server


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> DovecotAccount:
    """A fresh IMAP user on the session's Dovecot, with an empty INBOX and no folders.

    ``username``/``password``/``host``/``port``/``listener`` to log in,
    ``append(raw)`` delivers mail, ``messages(mailbox)`` reads it back, and
    ``ca_file`` verifies TLS. Tests using it carry ``pytest.mark.dovecot``.
    """
    return dovecot_server.account(f"fbl-{uuid.uuid4().hex[:12]}")


@pytest.fixture
async def serve_http() -> AsyncIterator[ServeHttp]:
    """``await serve_http(app)`` serves an aiohttp app on a free 127.0.0.1 port.

    Returns ``http://127.0.0.1:PORT`` (no trailing slash); every app served through
    it is closed at teardown (tests/httpserve.py).
    """
    async with served_apps() as serve:
        yield serve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 (tests/receiver.py), stopped at teardown."""
    with Receiver() as running:
        yield running


# --- nothing secret or personal leaves the process (issue 12) -------------------------------

_RECORDER = leaks.Recorder()


@pytest.fixture(scope="session", autouse=True)
def _record_what_leaves(monkeypatch_session: pytest.MonkeyPatch) -> Iterator[None]:
    """Keep every log record of the run, and the secrets of every config an in-process
    daemon or app was built from, for the check at the end of the session."""
    import httpapp

    import monitor.daemon.app as daemon_app

    def recording(build):  # type: ignore[no-untyped-def]
        def build_settings(config, *args, **kwargs):  # type: ignore[no-untyped-def]
            leaks.SECRETS.update(leaks.secrets_of(config.model_dump(mode="json", by_alias=True)))
            return build(config, *args, **kwargs)

        return build_settings

    for module in (daemon_app, httpapp):
        monkeypatch_session.setattr(module, "build_settings", recording(module.build_settings))
    root = logging.getLogger()
    root.addHandler(_RECORDER)
    yield
    root.removeHandler(_RECORDER)


@pytest.fixture(autouse=True)
def _recorder_attached() -> None:
    """The CLI's logging setup replaces the root handlers; put the recorder back."""
    root = logging.getLogger()
    if _RECORDER not in root.handlers:
        root.addHandler(_RECORDER)


@pytest.fixture(scope="session")
def monkeypatch_session() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the run when a log line, an API body or a daemon log holds a secret or an address."""
    if not _RECORDER.lines and not leaks.RESPONSES:
        return  # collection only, or nothing ran
    base = session.config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    logs = sorted(base.rglob("*.log"))
    secrets = leaks.SECRETS | leaks.config_secrets(base.rglob("*.toml"))
    texts = [
        (f"log record {line[:60]!r}", line.encode())
        for line in _RECORDER.lines
        if not line.startswith(leaks.STAND_IN_LOGGERS)
    ]
    texts += [(f"API body {i}", body) for i, body in enumerate(leaks.RESPONSES)]
    texts += [(f"daemon log {p.name}", p.read_bytes()) for p in logs if _is_daemon_log(p)]
    problems = leaks.find_leaks(texts, secrets)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    summary = (
        f"leak check: {len(_RECORDER.lines)} log records, {len(leaks.RESPONSES)} API bodies, "
        f"{len(logs)} log files, {len(secrets)} secrets: {len(problems)} problem(s)"
    )
    if reporter is not None:
        reporter.write_line(summary)
        for problem in problems[:50]:
            reporter.write_line(f"  LEAK {problem}")
    if problems:
        # The offending texts in full, for the developer only (the session's tmp dir).
        found = [text for where, text in texts if leaks.find_leaks([(where, text)], secrets)]
        (base / "leaks-found.txt").write_bytes(b"\n---\n".join(found))
        if reporter is not None:
            reporter.write_line(f"  the texts in full: {base / 'leaks-found.txt'}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def _is_daemon_log(path: Path) -> bool:
    # DaemonProcess logs (CONFIG.PORT.log); server logs (NSD, PostgreSQL) are not ours.
    return path.suffix == ".log" and path.stem.rpartition(".")[2].isdigit()
