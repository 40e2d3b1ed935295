"""Privacy by design: keyed pseudonyms for recipient addresses, and the key that makes them.

Recipients are stored only as HMAC-SHA256 over the normalised address, with a
secret key from ``[privacy] pseudonym_key`` (or ``env:NAME``), or, if none is
configured, one generated once and kept in a 0600 file beside the database. The
same address always maps to the same pseudonym (so suppressions and erasure
work) and the address cannot be read back from it without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from checks.domains import DomainError, to_a_label

__all__ = ["PrivacyError", "Pseudonymizer", "load_or_create_key", "normalise_address"]

_KEY_BYTES = 32


class PrivacyError(ValueError):
    """An address that cannot be normalised, or a key file that is unsafe or unreadable."""


def normalise_address(address: str) -> str:
    """Canonical form of an address for pseudonyms: trimmed, domain as lower-case A-label.

    The local part is lower-cased too: RFC 5321 lets it be case-sensitive, but
    no large mailbox provider treats it so, and a complaint must match the send.
    Sub-addressing (+tags) and provider dot rules are kept: stripping them would
    merge distinct people at some providers.

    Raises:
        PrivacyError: no '@', an empty part, or an invalid domain.
    """
    text = address.strip().strip("<>").strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise PrivacyError("not an e-mail address")
    try:
        domain = to_a_label(domain)
    except DomainError:
        raise PrivacyError("not an e-mail address: invalid domain") from None
    return f"{local.lower()}@{domain}"


@dataclass(frozen=True, slots=True)
class Pseudonymizer:
    """Maps addresses to stable keyed pseudonyms (hex HMAC-SHA256)."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise PrivacyError("the pseudonym key must be at least 16 bytes")

    def __repr__(self) -> str:
        return "Pseudonymizer(key=<redacted>)"

    def pseudonym(self, address: str) -> str:
        """Raises PrivacyError for something that is not an address."""
        normalised = normalise_address(address).encode("utf-8")
        return hmac.new(self.key, normalised, hashlib.sha256).hexdigest()


def load_or_create_key(configured: str | None, key_file: Path) -> bytes:
    """The configured key, or the one in ``key_file``, created (0600) if absent.

    Raises:
        PrivacyError: the key file is readable by others, or unreadable.
    """
    if configured:
        return configured.encode("utf-8")
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = key_file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PrivacyError(
                f"{key_file} is accessible by group or others; chmod 600 it"
            ) from None
        key = key_file.read_bytes().strip()
        if len(key) < 32:
            raise PrivacyError(f"{key_file} holds no valid key") from None
        return key
    except OSError as exc:
        raise PrivacyError(f"cannot create {key_file}: {exc.strerror}") from None
    key = secrets.token_hex(_KEY_BYTES).encode("ascii")
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    return key


KEY_FILE_NAME = "pseudonym.key"


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
    from monitor.config import resolve_secret  # config imports this module
    from monitor.model.errors import ConfigError
    from monitor.store.errors import StoreUrlError  # the store is heavy
    from monitor.store.url import async_url

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
