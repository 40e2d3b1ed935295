"""Poison messages in the IMAP poller, against a real Dovecot on 127.0.0.1 and a real SQLite store.

Pins the bounded retry: a message whose ingestion keeps failing unexpectedly is
marked ``$DelivermonFailed<N>`` on the server after each failure, the count
survives a restart, and after ``[imap] max_attempts`` failures the message goes
to the refused folder; failures while the store does not answer are not counted.
"""

from __future__ import annotations

import imaplib
import logging
import re
from pathlib import Path

import pytest
import test_imap
from dovecot import DovecotAccount
from test_imap import PROCESSED, REFUSED, make_config

from monitor.ingest import service
from monitor.ingest.imap import ImapPoller, PollResult
from monitor.ingest.service import ArfIngestResult
from monitor.store.store import SqlStore

pytestmark = pytest.mark.dovecot

POISON_MARK = b"X-Test-Poison: yes"
ADDRESS = re.compile(r"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def make_poller(server: DovecotAccount, store: SqlStore, *, max_attempts: int = 3) -> ImapPoller:
    """A new poller each time: it keeps no state between polls, as after a restart."""
    config = make_config(server, max_attempts=max_attempts)
    return test_imap.make_poller(server, store, config=config)


def poisoned(raw: bytes) -> bytes:
    """The report with a header the injected fault recognises (CRLF, as IMAP serves it)."""
    return POISON_MARK + b"\r\n" + raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


@pytest.fixture
def poison_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ingestion fail unexpectedly, every time, for the marked message only.

    An injected fault: a message that crashes the parser or the store on every
    attempt is exactly what the bounded retry guards against, and no input
    produces one on purpose (the parser and the store are tested not to).
    """
    real = service.ingest_arf  # the ARF kind's path, which the poller's routing reaches

    async def faulty(raw: bytes, **kwargs: object) -> ArfIngestResult:
        if raw.startswith(POISON_MARK):
            raise RuntimeError("injected fault")
        return await real(raw, **kwargs)  # type: ignore[arg-type]  # the real keywords

    monkeypatch.setattr(service, "ingest_arf", faulty)


def flags(server: DovecotAccount, mailbox: str = "INBOX") -> list[set[str]]:
    """The flags of each message in ``mailbox``, in UID order."""
    client = imaplib.IMAP4(server.host, server.port, timeout=10)
    try:
        client.login(server.username, server.password)
        client.select(f'"{mailbox}"', readonly=True)
        _, data = client.uid("FETCH", "1:*", "(FLAGS)")
    finally:
        client.logout()
    found = []
    for line in data:
        match = re.search(rb"FLAGS \(([^)]*)\)", line) if isinstance(line, bytes) else None
        if match:
            found.append({flag.decode() for flag in match[1].split()})
    return found


def first_report(corpus_dir: Path) -> bytes:
    return sorted((corpus_dir / "arf").glob("*.eml"))[0].read_bytes()


@pytest.mark.usefixtures("poison_fault")
async def test_a_poison_message_is_retried_max_attempts_times_then_refused(
    dovecot: DovecotAccount,
    sqlite_store: SqlStore,
    corpus_dir: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    dovecot.append(poisoned(first_report(corpus_dir)))
    with caplog.at_level(logging.DEBUG, logger="monitor"):
        assert await make_poller(dovecot, sqlite_store).poll_once() == PollResult(errors=1)
        assert flags(dovecot) == [{"$DelivermonFailed1"}]
        # A new poller (a restart): the count is on the message, not in memory.
        assert await make_poller(dovecot, sqlite_store).poll_once() == PollResult(errors=1)
        assert flags(dovecot) == [{"$DelivermonFailed1", "$DelivermonFailed2"}]
        last = await make_poller(dovecot, sqlite_store).poll_once()
    assert (last, last.reasons) == (PollResult(refused=1), {"too_many_failures": 1})
    assert dovecot.messages("INBOX") == []
    assert len(dovecot.messages(REFUSED)) == 1
    assert dovecot.messages(PROCESSED) == []
    assert "failed 3 times: refusing it" in caplog.text
    assert "refused (too_many_failures)" in caplog.text
    assert not ADDRESS.search(caplog.text)
    assert await make_poller(dovecot, sqlite_store).poll_once() == PollResult()


@pytest.mark.usefixtures("poison_fault")
async def test_a_poison_message_does_not_hold_up_the_good_ones(
    dovecot: DovecotAccount, sqlite_store: SqlStore, corpus_dir: Path
) -> None:
    report = first_report(corpus_dir)
    dovecot.append(poisoned(report))
    dovecot.append(report)
    assert await make_poller(dovecot, sqlite_store, max_attempts=2).poll_once() == PollResult(
        stored=1, errors=1
    )
    assert len(dovecot.messages(PROCESSED)) == 1
    assert await make_poller(dovecot, sqlite_store, max_attempts=2).poll_once() == PollResult(
        refused=1
    )
    assert len(dovecot.messages(REFUSED)) == 1
    assert dovecot.messages("INBOX") == []


@pytest.mark.usefixtures("poison_fault")
async def test_a_lowered_max_attempts_refuses_an_already_failed_message_unread(
    dovecot: DovecotAccount, sqlite_store: SqlStore, corpus_dir: Path
) -> None:
    dovecot.append(poisoned(first_report(corpus_dir)))
    assert await make_poller(dovecot, sqlite_store, max_attempts=5).poll_once() == PollResult(
        errors=1
    )
    assert await make_poller(dovecot, sqlite_store, max_attempts=1).poll_once() == PollResult(
        refused=1
    )
    assert len(dovecot.messages(REFUSED)) == 1


async def test_failures_while_the_store_does_not_answer_are_not_counted(
    dovecot: DovecotAccount,
    sqlite_store: SqlStore,
    corpus_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dovecot.append(first_report(corpus_dir))

    async def down(*args: object, **kwargs: object) -> None:
        raise ConnectionRefusedError("database down")

    with monkeypatch.context() as patch:
        patch.setattr(sqlite_store, "add_report", down)
        patch.setattr(sqlite_store, "ping", down)
        for _ in range(4):  # more than max_attempts polls during the outage
            assert await make_poller(dovecot, sqlite_store).poll_once() == PollResult(errors=1)
    assert flags(dovecot) == [set()]
    assert await make_poller(dovecot, sqlite_store).poll_once() == PollResult(stored=1)
    assert len(dovecot.messages(PROCESSED)) == 1
