"""The pseudonym key a store's data is keyed with: configured, or a 0600 file beside the
SQLite database, created once."""

from __future__ import annotations

from pathlib import Path

from monitor.config import resolve_secret
from monitor.model.errors import ConfigError
from monitor.model.privacy import PrivacyError, Pseudonymizer, load_or_create_key
from monitor.store.errors import StoreUrlError
from monitor.store.url import async_url

__all__ = ["KEY_FILE_NAME", "check_key_settings", "pseudonymizer_for"]

KEY_FILE_NAME = "pseudonym.key"


def check_key_settings(store_url: str, configured_key: str | None) -> list[str]:
    """The problems ``pseudonymizer_for`` would raise on, without creating any file."""
    problems = []
    if configured_key and resolve_secret(configured_key) is None:
        problems.append(f"privacy.pseudonym_key: {configured_key} is not set")
    try:
        parsed = async_url(store_url)
    except StoreUrlError as exc:
        return [*problems, f"store.url: {exc}"]
    if not configured_key and parsed.get_backend_name() != "sqlite":
        problems.append(
            "privacy.pseudonym_key: required with PostgreSQL (every replica needs the same)"
        )
    return problems


def pseudonymizer_for(store_url: str, configured_key: str | None) -> Pseudonymizer:
    """The one way every part of delivermon (daemon, CLIs) gets its pseudonymizer.

    ``[privacy] pseudonym_key`` (or ``env:NAME``) when set; otherwise the 0600
    ``pseudonym.key`` beside a SQLite database, created once (its directory 0700).
    A key named by an unset variable is an error, never a silent fallback to the
    file: pseudonyms made under another key would not match, and an erasure would
    quietly find nothing. PostgreSQL needs a configured key (replicas must share it).

    Raises:
        ConfigError: every problem above, and unsafe or unreadable key files.
    """
    key: str | None = None
    if configured_key:
        key = resolve_secret(configured_key)
        if key is None:
            raise ConfigError([f"privacy.pseudonym_key: {configured_key} is not set"])
    try:
        parsed = async_url(store_url)
    except StoreUrlError as exc:
        raise ConfigError([f"store.url: {exc}"]) from None
    database = parsed.database if parsed.get_backend_name() == "sqlite" else None
    try:
        if key is not None:
            return Pseudonymizer(key.encode("utf-8"))
        if not database:
            raise ConfigError(
                ["privacy.pseudonym_key: required with PostgreSQL (every replica needs the same)"]
            )
        directory = Path(database).parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        return Pseudonymizer(load_or_create_key(None, directory / KEY_FILE_NAME))
    except (PrivacyError, OSError) as exc:
        raise ConfigError([f"privacy: {exc}"]) from None
