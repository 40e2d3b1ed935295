"""Pseudonyms: stable per person, keyed, and no address survives in any printable form."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest

from monitor.model.errors import ConfigError
from monitor.model.events import Event, EventType, Source
from monitor.model.privacy import (
    PrivacyError,
    Pseudonymizer,
    load_or_create_key,
    normalise_address,
)
from monitor.store.keyfile import pseudonymizer_for

KEY = b"k" * 32


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("Alice@Example.COM", "alice@example.com"),
        ("  <alice@example.com> ", "alice@example.com"),
        ("alice+news@example.com", "alice+news@example.com"),
        ("bob@Bücher.example", "bob@xn--bcher-kva.example"),
        ('"odd@local"@example.com', '"odd@local"@example.com'),
        # RFC 6530 §10.1: NFD and NFC spellings are one address (one pseudonym)
        ("Jo\u0308rg@bücher.example", "j\u00f6rg@xn--bcher-kva.example"),
        ("J\u00d6RG@BÜCHER.example", "j\u00f6rg@xn--bcher-kva.example"),
        # RFC 5322 §3.4.1: quotes around a plain local part change nothing
        ('"Victim25"@example.org', "victim25@example.org"),
        ('"john doe"@example.org', '"john doe"@example.org'),
    ],
)
def test_normalise_address(raw: str, normal: str) -> None:
    assert normalise_address(raw) == normal


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "alice",
        "@example.com",
        "alice@",
        "alice@-bad-.example",
        "a@b@example.com",  # a second '@' outside quotes
        "john doe@example.com",
        "tab\there@example.com",
        ";victim@example.org",  # RFC 5322 specials outside quotes
        "a,b@example.org",
        "(comment)a@example.org",
        "a:b@example.org",
        "back\\slash@example.org",
    ],
)
def test_non_addresses_are_refused(bad: str) -> None:
    with pytest.raises(PrivacyError):
        normalise_address(bad)


def test_pseudonym_is_stable_across_spellings_and_depends_on_the_key() -> None:
    first = Pseudonymizer(KEY)
    assert first.pseudonym("Alice@Example.com") == first.pseudonym("alice@example.com")
    assert first.pseudonym("alice@example.com") != Pseudonymizer(b"x" * 32).pseudonym(
        "alice@example.com"
    )
    assert "alice" not in first.pseudonym("alice@example.com")
    assert len(first.pseudonym("alice@example.com")) == 64


def test_short_keys_are_refused_and_the_key_is_never_printed() -> None:
    with pytest.raises(PrivacyError):
        Pseudonymizer(b"short")
    assert "k" * 32 not in repr(Pseudonymizer(KEY))


def test_key_file_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    key = load_or_create_key(None, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(None, path) == key
    assert load_or_create_key("configured-key-value", path) == b"configured-key-value"


def test_a_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "pseudonym.key"
    load_or_create_key(None, path)
    path.chmod(0o644)
    with pytest.raises(PrivacyError, match="chmod 600"):
        load_or_create_key(None, path)


def test_event_repr_never_shows_the_recipient() -> None:
    event = Event(
        EventType.COMPLAINT,
        "spring-sale",
        dt.datetime(2026, 11, 28, tzinfo=dt.UTC),
        Source.API,
        recipient="alice@example.com",
    )
    assert "alice" not in repr(event)
    assert "alice" not in str(event)


def test_events_need_aware_times_and_positive_counts() -> None:
    with pytest.raises(ValueError, match="timezone"):
        Event(EventType.SENT, "c", dt.datetime(2026, 1, 1), Source.API)
    with pytest.raises(ValueError, match="count"):
        Event(EventType.SENT, "c", dt.datetime(2026, 1, 1, tzinfo=dt.UTC), Source.API, count=0)


def test_one_resolver_gives_every_part_the_same_pseudonyms(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'delivermon.db'}"
    first = pseudonymizer_for(url, None)
    second = pseudonymizer_for(url, None)  # the key file created by the first call
    assert first.pseudonym("alice@example.com") == second.pseudonym("alice@example.com")
    assert stat.S_IMODE((tmp_path / "data" / "pseudonym.key").stat().st_mode) == 0o600


def test_an_unset_key_variable_is_an_error_not_a_fallback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DELIVERMON_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ConfigError, match="DELIVERMON_TEST_UNSET_KEY"):
        pseudonymizer_for(f"sqlite:///{tmp_path / 'd.db'}", "env:DELIVERMON_TEST_UNSET_KEY")
    assert not (tmp_path / "pseudonym.key").exists()


def test_postgresql_needs_a_configured_key() -> None:
    with pytest.raises(ConfigError, match="PostgreSQL"):
        pseudonymizer_for("postgresql://db.example.com/delivermon", None)
    assert pseudonymizer_for("postgresql://db.example.com/delivermon", "k" * 32).pseudonym(
        "a@example.com"
    ) == Pseudonymizer(b"k" * 32).pseudonym("a@example.com")
