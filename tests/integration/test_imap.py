"""The IMAP poller against a real Dovecot on 127.0.0.1 and a real SQLite store.

Pins the feedback-loop mailbox contract: reports are committed, then moved to
the processed folder; non-reports go to the refused folder unstored; a crash
between commit and move, a restart or a store outage loses nothing and counts
nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from dovecot import DovecotAccount, DovecotServer
from logformats import in_both_formats
from sqlitefile import stored_reports

from monitor.config import ImapConfig
from monitor.ingest.arf import parse_arf
from monitor.ingest.errors import IngestError
from monitor.ingest.imap import (
    ImapAuthError,
    ImapPoller,
    ImapProtocolError,
    PollResult,
)
from monitor.model.privacy import Pseudonymizer
from monitor.store import open_store
from monitor.store.errors import StoreUnavailableError
from monitor.store.store import SqlStore

pytestmark = pytest.mark.dovecot

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
PROCESSED = "delivermon/processed"
REFUSED = "delivermon/refused"
ADDRESS = re.compile(rb"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
NOT_ARF = (
    b"From: Someone <someone@example.net>\r\n"
    b"To: fbl@example.org\r\n"
    b"Subject: just a message\r\n"
    b"\r\n"
    b"Not a feedback report.\r\n"
)
Security = Literal["tls", "starttls", "none"]


class SimulatedCrashError(Exception):
    """Stands in for the process dying between the store commit and the IMAP move."""


class CrashAfterCommitPoller(ImapPoller):
    """Raises out of the first move, i.e. after the first report was committed."""

    crashed = False

    async def _move(self, client: object, uid: int, folder: str) -> None:
        if not self.crashed:
            self.crashed = True
            raise SimulatedCrashError
        await super()._move(client, uid, folder)


def make_config(
    server: DovecotAccount,
    *,
    security: Security = "none",
    password: str | None = None,
    processed: str = PROCESSED,
    **fields: object,
) -> ImapConfig:
    port = server.listener.imaps_port if security == "tls" else server.port
    assert port is not None
    return ImapConfig(
        host=server.host,
        port=port,
        security=security,
        username=server.username,
        password=server.password if password is None else password,
        processed_folder=processed,
        refused_folder=REFUSED,
        **fields,  # type: ignore[arg-type]  # max_attempts, per test
    )


def make_poller(
    server: DovecotAccount,
    store: SqlStore,
    *,
    cls: type[ImapPoller] = ImapPoller,
    config: ImapConfig | None = None,
    **options: object,
) -> ImapPoller:
    return cls(
        config or make_config(server),
        store=store,
        pseudonymizer=Pseudonymizer(b"k" * 32),
        campaign_headers=("X-Campaign-ID",),
        store_raw=False,
        clock=lambda: NOW,
        ssl_context=ssl.create_default_context(cafile=str(server.ca_file)),
        command_timeout=10.0,
        **options,  # type: ignore[arg-type]  # max_messages / use_move, per test
    )


def classify(files: list[Path]) -> tuple[int, int]:
    """(distinct readable reports, refused) as the parser sees the files."""
    digests: set[str] = set()
    refused = 0
    for path in files:
        try:
            digests.add(parse_arf(path.read_bytes()).raw_sha256)
        except IngestError:
            refused += 1
    return len(digests), refused


def arf_files(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "arf").glob("*.eml"))


async def test_corpus_reports_are_stored_then_moved_and_non_reports_refused(
    dovecot: DovecotAccount, sqlite_store: SqlStore, sqlite_path: Path, corpus_dir: Path
) -> None:
    files = arf_files(corpus_dir)
    for path in files:
        dovecot.append(path.read_bytes())
    dovecot.append(NOT_ARF)
    readable, unreadable = classify(files)

    result = await make_poller(dovecot, sqlite_store, max_messages=1000).poll_once()

    assert result == PollResult(stored=readable, refused=unreadable + 1)
    assert stored_reports(sqlite_path) == readable
    assert dovecot.messages("INBOX") == []
    assert len(dovecot.messages(PROCESSED)) == readable
    assert NOT_ARF in dovecot.messages(REFUSED)
    assert len(dovecot.messages(REFUSED)) == unreadable + 1


async def test_a_non_report_is_refused_and_stores_nothing(
    dovecot: DovecotAccount,
    sqlite_store: SqlStore,
    sqlite_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dovecot.append(NOT_ARF)
    with caplog.at_level(logging.WARNING, logger="monitor"):
        result = await make_poller(dovecot, sqlite_store).poll_once()
    assert result == PollResult(refused=1)
    (reason,) = result.reasons
    assert result.reasons == {reason: 1}
    assert stored_reports(sqlite_path) == 0
    assert dovecot.messages(REFUSED) == [NOT_ARF]
    assert dovecot.messages(PROCESSED) == []
    # The log line says which message (its UID in the mailbox), why, and where it went.
    (line,) = [r.getMessage() for r in caplog.records if "refused (" in r.getMessage()]
    assert line == f"IMAP message UID 1 refused ({reason}), moved to {REFUSED}"
    assert b"someone@example.net" not in caplog.text.encode()


async def test_a_second_poll_finds_nothing_new(
    dovecot: DovecotAccount, sqlite_store: SqlStore, sqlite_path: Path, corpus_dir: Path
) -> None:
    dovecot.append(arf_files(corpus_dir)[0].read_bytes())
    poller = make_poller(dovecot, sqlite_store)
    assert await poller.poll_once() == PollResult(stored=1)
    assert await poller.poll_once() == PollResult()
    assert stored_reports(sqlite_path) == 1
    assert len(dovecot.messages(PROCESSED)) == 1


async def test_a_crash_between_commit_and_move_is_a_duplicate_on_the_next_poll(
    dovecot: DovecotAccount, sqlite_store: SqlStore, sqlite_path: Path, corpus_dir: Path
) -> None:
    report = next(p for p in arf_files(corpus_dir) if "generic-rfc5965__mail-auth__001" in p.name)
    dovecot.append(report.read_bytes())

    with pytest.raises(SimulatedCrashError):
        await make_poller(dovecot, sqlite_store, cls=CrashAfterCommitPoller).poll_once()
    # Committed but not moved: the report is stored once and still in the inbox.
    assert stored_reports(sqlite_path) == 1
    complaints_before = await sqlite_store.counts()
    assert len(dovecot.messages("INBOX")) == 1
    assert dovecot.messages(PROCESSED) == []

    # The restarted poller recognises it (raw SHA-256) and only moves it.
    result = await make_poller(dovecot, sqlite_store).poll_once()
    assert result == PollResult(duplicates=1)
    assert stored_reports(sqlite_path) == 1
    assert await sqlite_store.counts() == complaints_before
    assert dovecot.messages("INBOX") == []
    assert len(dovecot.messages(PROCESSED)) == 1


async def test_a_report_posted_then_delivered_to_the_mailbox_counts_once(
    dovecot: DovecotAccount, sqlite_store: SqlStore, sqlite_path: Path, corpus_dir: Path
) -> None:
    """The copy a mailbox holds has the receiving side's fields on top (Return-Path,
    Delivered-To, Received, Received-SPF, Authentication-Results, ARC, a spam filter's
    X-Spam-*), the copy posted over HTTP or read from a file has not: the
    same report (and the same bounce) is a duplicate the second time, as the README
    promises; it was stored and counted twice."""
    from monitor.ingest.kinds import ARF, BOUNCE, IngestContext

    report = next(p for p in arf_files(corpus_dir) if "generic-rfc5965__mail-auth__001" in p.name)
    bounce = corpus_dir / "bounces" / "mailbox-unknown__sisimai__lhost-postfix-13.eml"
    context = IngestContext(
        store=sqlite_store,
        pseudonymizer=Pseudonymizer(b"k" * 32),
        campaign_headers=("X-Campaign-ID",),
        store_raw=False,
        now=NOW,
    )
    await ARF.ingest(report.read_bytes(), context)  # as POST /api/v1/feedback/arf does
    await BOUNCE.ingest(bounce.read_bytes(), context)  # as POST /api/v1/bounces does
    complaints = await sqlite_store.counts()
    trace = (
        b"Return-Path: <fbl@example.org>\r\nDelivered-To: fbl@example.com\r\n"
        b"Received: from mx.example.org (mx.example.org [192.0.2.25])\r\n"
        b"\tby mail.example.com with ESMTPS id 4Xy; Sat, 28 Nov 2026 12:00:00 +0000\r\n"
        b"Received-SPF: Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.25\r\n"
        b"Authentication-Results: mail.example.com; dkim=pass header.d=example.org\r\n"
        b"ARC-Seal: i=1; a=rsa-sha256; t=1764331200; cv=none; d=example.com; s=arc; b=AAAA\r\n"
        b"X-Spam-Status: No, score=-0.1 required=5.0\r\nX-Spam-Checker-Version: 4.0.1\r\n"
        b"X-Spamd-Result: default: False [-0.10 / 15.00];\r\n\tARC_NA(0.00)[]\r\n"
        b"X-Rspamd-Queue-Id: 4Xy\r\nX-Forefront-Antispam-Report: CIP:192.0.2.25;SFV:NSPM\r\n"
        b"X-MS-Office365-Filtering-Correlation-Id: 0a1b\r\nX-EOPAttributedMessage: 0\r\n"
    )
    for path in (report, bounce):
        dovecot.append(trace + path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    result = await make_poller(dovecot, sqlite_store).poll_once()
    assert result == PollResult(duplicates=2)
    assert stored_reports(sqlite_path) == 1
    assert await sqlite_store.counts() == complaints


async def test_a_restart_with_a_reopened_store_resumes_where_it_stopped(
    dovecot: DovecotAccount, sqlite_path: Path, corpus_dir: Path
) -> None:
    readable = [p for p in arf_files(corpus_dir) if _parses(p)][:5]
    for path in readable[:3]:
        dovecot.append(path.read_bytes())

    first_store = await open_store(f"sqlite:///{sqlite_path}")
    try:
        result = await make_poller(dovecot, first_store, max_messages=2).poll_once()
    finally:
        await first_store.close()
    assert result == PollResult(stored=2, deferred=1)

    for path in readable[3:]:
        dovecot.append(path.read_bytes())
    dovecot.append(readable[0].read_bytes())  # the provider sent one report twice
    second_store = await open_store(f"sqlite:///{sqlite_path}")
    try:
        poller = make_poller(dovecot, second_store, max_messages=2)
        assert await poller.poll_once() == PollResult(stored=2, deferred=2)
        assert await poller.poll_once() == PollResult(stored=1, duplicates=1)
        assert await poller.poll_once() == PollResult()
    finally:
        await second_store.close()
    assert stored_reports(sqlite_path) == 5
    assert len(dovecot.messages(PROCESSED)) == 6


async def test_a_store_outage_leaves_the_message_for_the_next_poll(
    dovecot: DovecotAccount,
    sqlite_store: SqlStore,
    sqlite_path: Path,
    corpus_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A store that refuses the write while it still answers a ping (a full disk, a
    write lock held past the busy timeout) is an outage: the message waits, however many
    polls it takes, and never counts towards max_attempts. The refusal is injected: a
    full disk or a 30-second lock per poll cannot be made here in reasonable time."""
    for path in arf_files(corpus_dir)[:3]:
        dovecot.append(path.read_bytes())
    poller = make_poller(dovecot, sqlite_store)
    tried = 0

    async def store_down(*args: object, **kwargs: object) -> None:
        nonlocal tried
        tried += 1
        raise StoreUnavailableError("database unavailable")

    with monkeypatch.context() as patch, caplog.at_level(logging.WARNING, logger="monitor"):
        patch.setattr(sqlite_store, "add_report", store_down)
        for _ in range(poller._config.max_attempts + 1):
            # The first message finds the store down: the other two are not offered it.
            assert await poller.poll_once() == PollResult(errors=1, deferred=2)
    assert tried == poller._config.max_attempts + 1
    stopped = [r for r in caplog.records if "IMAP poll stopped" in r.getMessage()]
    assert len(stopped) == poller._config.max_attempts + 1  # once a poll, not once a message
    assert len(dovecot.messages("INBOX")) == 3
    assert dovecot.messages(PROCESSED) == []
    assert dovecot.messages(REFUSED) == []

    assert await poller.poll_once() == PollResult(stored=3)
    assert stored_reports(sqlite_path) == 3
    assert dovecot.messages("INBOX") == []


@pytest.fixture(scope="module")
def dotted_dovecot(dovecot_binary: Path) -> Iterator[DovecotServer]:
    """A Dovecot whose hierarchy separator is ".", Dovecot's own default for maildir."""
    with DovecotServer(dovecot_binary, tls=True, separator=".") as server:
        yield server


async def test_the_folders_follow_the_servers_hierarchy_delimiter(
    dotted_dovecot: DovecotServer, sqlite_store: SqlStore, corpus_dir: Path
) -> None:
    account = dotted_dovecot.account(f"dot-{uuid.uuid4().hex[:12]}")
    readable = [p for p in arf_files(corpus_dir) if _parses(p)]
    account.append(readable[0].read_bytes())
    account.append(b"Subject: hello\r\n\r\nnot a report\r\n")
    # The defaults, delivermon/processed and delivermon/refused, on a "." server.
    assert await make_poller(account, sqlite_store).poll_once() == PollResult(stored=1, refused=1)
    assert len(account.messages("delivermon.processed")) == 1
    assert len(account.messages("delivermon.refused")) == 1
    assert account.messages("INBOX") == []


async def test_a_wrong_password_is_a_login_error_and_moves_nothing(
    dovecot: DovecotAccount,
    sqlite_store: SqlStore,
    corpus_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dovecot.append(arf_files(corpus_dir)[0].read_bytes())
    wrong = "not-the-password-42"
    poller = make_poller(dovecot, sqlite_store, config=make_config(dovecot, password=wrong))
    with caplog.at_level(logging.DEBUG, logger="monitor"), pytest.raises(ImapAuthError) as info:
        await poller.poll_once()
    assert info.value.reason == "imap.login_failed"
    for secret in (wrong, dovecot.username):
        assert secret not in str(info.value)
        assert secret not in caplog.text
    assert len(dovecot.messages("INBOX")) == 1
    assert set(dovecot.mailboxes()) == {"INBOX"}


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_tls_and_starttls_connections_poll_like_plain_ones(
    dovecot: DovecotAccount, sqlite_store: SqlStore, corpus_dir: Path, security: Security
) -> None:
    dovecot.append(arf_files(corpus_dir)[0].read_bytes())
    poller = make_poller(dovecot, sqlite_store, config=make_config(dovecot, security=security))
    assert await poller.poll_once() == PollResult(stored=1)
    assert len(dovecot.messages(PROCESSED)) == 1


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_an_untrusted_certificate_is_refused_before_login(
    dovecot: DovecotAccount, sqlite_store: SqlStore, corpus_dir: Path, security: Security
) -> None:
    dovecot.append(arf_files(corpus_dir)[0].read_bytes())
    poller = ImapPoller(
        make_config(dovecot, security=security),
        store=sqlite_store,
        pseudonymizer=Pseudonymizer(b"k" * 32),
        campaign_headers=(),
        store_raw=False,
        clock=lambda: NOW,
        command_timeout=10.0,  # the system CAs do not know the test certificate
    )
    with pytest.raises(ImapProtocolError) as info:
        await poller.poll_once()
    assert info.value.reason == "imap.tls_failed"
    assert len(dovecot.messages("INBOX")) == 1


async def test_copy_and_expunge_move_messages_when_move_is_not_used(
    dovecot: DovecotAccount, sqlite_store: SqlStore, sqlite_path: Path, corpus_dir: Path
) -> None:
    dovecot.append(arf_files(corpus_dir)[0].read_bytes())
    dovecot.append(NOT_ARF)
    poller = make_poller(dovecot, sqlite_store, use_move=False)
    assert await poller.poll_once() == PollResult(stored=1, refused=1)
    assert dovecot.messages("INBOX") == []
    assert len(dovecot.messages(PROCESSED)) == 1
    assert dovecot.messages(REFUSED) == [NOT_ARF]
    assert await poller.poll_once() == PollResult()


async def test_folders_are_created_once_with_non_ascii_names_encoded(
    dovecot: DovecotAccount, sqlite_store: SqlStore, corpus_dir: Path
) -> None:
    folder = "delivermon/verarbeitet-\u00e4"  # modified UTF-7: &AOQ-
    config = make_config(dovecot, processed=folder)
    poller = make_poller(dovecot, sqlite_store, config=config)
    assert await poller.poll_once() == PollResult()
    dovecot.append(arf_files(corpus_dir)[0].read_bytes())
    assert await poller.poll_once() == PollResult(stored=1)  # folders exist now: no error
    assert "delivermon/verarbeitet-&AOQ-" in dovecot.mailboxes()
    assert len(dovecot.messages("delivermon/verarbeitet-&AOQ-")) == 1


async def test_no_address_or_secret_reaches_the_logs(
    dovecot: DovecotAccount,
    sqlite_store: SqlStore,
    sqlite_path: Path,
    corpus_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    files = arf_files(corpus_dir)
    addresses: set[bytes] = {NOT_ARF.split(b"<")[1].split(b">")[0]}
    for path in files:
        dovecot.append(path.read_bytes())
        addresses.update(m.lower() for m in ADDRESS.findall(path.read_bytes()))
    dovecot.append(NOT_ARF)
    with caplog.at_level(logging.DEBUG, logger="monitor"):
        await make_poller(dovecot, sqlite_store, max_messages=1000).poll_once()
    logged = (caplog.text + in_both_formats(caplog.records)).lower().encode()
    assert caplog.records  # it did log (folder creation, refusals, the summary)
    leaked = sorted(a for a in addresses if a in logged)
    assert leaked == []
    assert dovecot.password.encode() not in logged


def _parses(path: Path) -> bool:
    try:
        parse_arf(path.read_bytes())
    except IngestError:
        return False
    return True
