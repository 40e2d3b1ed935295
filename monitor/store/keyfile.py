"""The pseudonym key a store's data is keyed with: configured, or a 0600 file beside the
SQLite database, created once."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from monitor.config import resolve_secret
from monitor.model.errors import ConfigError
from monitor.model.privacy import PrivacyError, Pseudonymizer, load_or_create_key
from monitor.store.errors import StoreUrlError
from monitor.store.subjects import KeyCheck, SubjectRecords
from monitor.store.url import async_url

__all__ = [
    "KEY_FILE_NAME",
    "StoreKey",
    "check_key_settings",
    "check_store_key",
    "pseudonymizer_for",
    "store_key",
]

KEY_FILE_NAME = "pseudonym.key"
MIN_KEY_BYTES = 16  # what Pseudonymizer takes


def check_key_settings(store_url: str, configured_key: str | None) -> list[str]:
    """The problems ``pseudonymizer_for`` would raise on, without creating any file."""
    problems = []
    if configured_key:
        key = resolve_secret(configured_key)
        if key is None:
            problems.append(f"privacy.pseudonym_key: {configured_key} is not set")
        elif len(key.encode("utf-8")) < MIN_KEY_BYTES:
            problems.append(
                f"privacy.pseudonym_key: at least {MIN_KEY_BYTES} bytes "
                "(e.g. the output of 'openssl rand -hex 32')"
            )
    try:
        parsed = async_url(store_url)
    except StoreUrlError as exc:
        return [*problems, f"store.url: {exc}"]
    if not configured_key and parsed.get_backend_name() != "sqlite":
        problems.append(
            "privacy.pseudonym_key: required with PostgreSQL (every replica needs the same)"
        )
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        problem = (
            f"{parsed.database} is a directory, not a database file"
            if Path(parsed.database).is_dir()
            else _directory_problem(Path(parsed.database).parent)
        )
        if problem is not None:
            problems.append(f"store.url: {problem}")
    return problems


def _directory_problem(directory: Path) -> str | None:
    """Why the SQLite database's directory cannot be used or created, or None."""
    existing = directory
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        return f"cannot create the database directory {directory}: {existing} is not a directory"
    if existing == directory:
        if not os.access(directory, os.W_OK | os.X_OK):
            return f"the database directory {directory} is not writable"
    elif not os.access(existing, os.W_OK | os.X_OK):
        return f"cannot create the database directory {directory}: {existing} is not writable"
    return None


@dataclass(frozen=True, slots=True)
class StoreKey:
    """A pseudonymizer and where its key came from (for ``check_store_key``'s message)."""

    pseudonymizer: Pseudonymizer
    origin: str  # "[privacy] pseudonym_key", or the key file's path
    created: bool  # the key file did not exist: this call created it


def pseudonymizer_for(store_url: str, configured_key: str | None) -> Pseudonymizer:
    """``store_key(...).pseudonymizer``."""
    return store_key(store_url, configured_key).pseudonymizer


def store_key(store_url: str, configured_key: str | None) -> StoreKey:
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
            return StoreKey(Pseudonymizer(key.encode("utf-8")), "[privacy] pseudonym_key", False)
        if not database:
            raise ConfigError(
                ["privacy.pseudonym_key: required with PostgreSQL (every replica needs the same)"]
            )
        directory = Path(database).parent
        problem = _directory_problem(directory)
        if problem is not None:
            raise ConfigError([f"store.url: {problem}"])
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / KEY_FILE_NAME
        existed = path.exists()
        return StoreKey(Pseudonymizer(load_or_create_key(None, path)), str(path), not existed)
    except (PrivacyError, OSError) as exc:
        raise ConfigError([f"privacy: {exc}"]) from None


async def check_store_key(store: SubjectRecords, key: StoreKey, now: dt.datetime) -> None:
    """Refuse a key other than the one the store's pseudonyms were made with.

    Raises:
        ConfigError: the store recorded another key's fingerprint, or the key file was
            created just now while the store already holds pseudonyms.
    """
    found = await store.check_pseudonym_key(
        key.pseudonymizer.fingerprint(), key_is_new=key.created, now=now
    )
    if found in (KeyCheck.MATCHES, KeyCheck.RECORDED):
        return
    if key.created:  # not left behind: the next start would take it for the store's own
        os.unlink(key.origin)  # a small file, once, at start: no thread needed
        what = f"the pseudonym key file {key.origin} is missing" + (
            ", and the store holds pseudonyms"
            if found is KeyCheck.UNKNOWN_KEY
            else ", and the store recorded another key"
        )
    else:
        what = f"the pseudonym key ({key.origin}) is not the one this store's data was made with"
    raise ConfigError(
        [
            f"privacy.pseudonym_key: {what}; with this key, suppressions, subject exports and "
            "erasures would find nobody. Restore the old key (from a backup of the key "
            "file or of the setting), or, if it is lost for good, run `delivermon subject "
            'accept-key` to key the store with this one (docs/deploy.md, "The pseudonym key")'
        ]
    )
