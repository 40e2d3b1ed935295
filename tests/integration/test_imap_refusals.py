"""The IMAP poller's refusals that need no IMAP server: insecure plain IMAP, a missing
password, a server that never answers; and mailbox-name encoding (RFC 3501 §5.1.3).
"""

from __future__ import annotations

import datetime as dt
import socket
import time

import pytest

from monitor.config import ImapConfig
from monitor.ingest.imap import (
    ImapAuthError,
    ImapInsecureError,
    ImapPoller,
    ImapProtocolError,
    encode_mailbox_name,
)
from monitor.model.privacy import Pseudonymizer
from monitor.store.store import SqlStore

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


def poller(store: SqlStore, config: ImapConfig, *, timeout: float = 10.0) -> ImapPoller:
    return ImapPoller(
        config,
        store=store,
        pseudonymizer=Pseudonymizer(b"k" * 32),
        campaign_headers=(),
        store_raw=False,
        clock=lambda: NOW,
        command_timeout=timeout,
    )


def config(
    host: str, *, security: str = "none", password: str = "pw", port: int = 143
) -> ImapConfig:
    return ImapConfig.model_validate(
        {"host": host, "port": port, "security": security, "username": "u", "password": password}
    )


@pytest.mark.parametrize("host", ["imap.example.com", "192.0.2.10", "2001:db8::1", "10.0.0.1"])
async def test_plain_imap_to_a_non_loopback_host_is_refused_at_construction(
    sqlite_store: SqlStore, host: str
) -> None:
    with pytest.raises(ImapInsecureError) as info:
        poller(sqlite_store, config(host))
    assert info.value.reason == "imap.plaintext_not_loopback"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "localhost"])
async def test_plain_imap_to_loopback_is_allowed(sqlite_store: SqlStore, host: str) -> None:
    poller(sqlite_store, config(host))


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_encrypted_imap_to_any_host_is_allowed(sqlite_store: SqlStore, security: str) -> None:
    poller(sqlite_store, config("imap.example.com", security=security))


async def test_an_unset_password_variable_is_refused_at_construction(
    sqlite_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DELIVERMON_TEST_IMAP_PASSWORD", raising=False)
    with pytest.raises(ImapAuthError) as info:
        poller(sqlite_store, config("127.0.0.1", password="env:DELIVERMON_TEST_IMAP_PASSWORD"))
    assert info.value.reason == "imap.password_missing"


async def test_a_server_that_never_greets_times_out(sqlite_store: SqlStore) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(ImapProtocolError) as info:
            await poller(sqlite_store, config("127.0.0.1", port=port), timeout=0.3).poll_once()
    assert info.value.reason == "imap.connect_failed"
    assert time.monotonic() - started < 5


async def test_a_refused_connection_is_a_connect_error(sqlite_store: SqlStore) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ImapProtocolError) as info:
        await poller(sqlite_store, config("127.0.0.1", port=port)).poll_once()
    assert info.value.reason == "imap.connect_failed"


@pytest.mark.parametrize(
    ("name", "encoded"),
    [
        pytest.param("INBOX", '"INBOX"', id="ascii"),
        pytest.param("delivermon/processed", '"delivermon/processed"', id="hierarchy"),
        pytest.param("a & b", '"a &- b"', id="ampersand"),
        pytest.param('say "hi"\\', '"say \\"hi\\"\\\\"', id="quoted-specials"),
        pytest.param("verarbeitet-\u00e4", '"verarbeitet-&AOQ-"', id="latin1"),
        pytest.param(
            "~peter/mail/\u53f0\u5317/\u65e5\u672c\u8a9e",
            '"~peter/mail/&U,BTFw-/&ZeVnLIqe-"',
            id="rfc3501-example",
        ),
    ],
)
def test_mailbox_names_are_quoted_and_modified_utf7_encoded(name: str, encoded: str) -> None:
    assert encode_mailbox_name(name) == encoded
