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
import re
import secrets
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from checks.domains import DomainError, to_a_label
from monitor.model.errors import MonitorError

__all__ = ["PrivacyError", "Pseudonymizer", "load_or_create_key", "normalise_address"]

_KEY_BYTES = 32
# What an unquoted local part cannot hold: a second '@' ("a@b@example.com"), a space, a
# control character, or another of RFC 5322's specials ("(),:;<>[]\ and a lone '"'):
# ";victim@example.org" is not victim@example.org's export, nor anyone's.
_UNQUOTED_BAD = re.compile(r"[@\s\x00-\x1f\x7f(),:;<>\[\]\\\"]")


def _plain(inner: str) -> bool:
    """A quoted local part's content that needs no quotes: a dot-atom."""
    return (
        bool(inner)
        and not _UNQUOTED_BAD.search(inner)
        and not inner.startswith(".")
        and not inner.endswith(".")
        and ".." not in inner
    )


class PrivacyError(MonitorError, ValueError):
    """An address that cannot be normalised, or a key file that is unsafe or unreadable."""


def normalise_address(address: str) -> str:
    """Canonical form of an address for pseudonyms: trimmed, domain as lower-case A-label,
    local part in Unicode NFC.

    The local part is lower-cased too: RFC 5321 lets it be case-sensitive, but
    no large mailbox provider treats it so, and a complaint must match the send.
    Sub-addressing (+tags) and provider dot rules are kept: stripping them would
    merge distinct people at some providers.

    Raises:
        PrivacyError: no '@', an empty part, an unquoted local part with an '@', a space,
            a control character or another special in it (RFC 5321 §4.1.2), or an invalid
            domain.
    """
    text = address.strip().strip("<>").strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise PrivacyError("not an e-mail address")
    quoted = len(local) > 1 and local.startswith('"') and local.endswith('"')
    if quoted and _plain(local[1:-1]):
        # RFC 5322 §3.4.1: "victim"@example.org is victim@example.org, one mailbox
        local, quoted = local[1:-1], False
    if not quoted and _UNQUOTED_BAD.search(local):
        raise PrivacyError("not an e-mail address: invalid local part")
    try:
        domain = to_a_label(domain)
    except DomainError:
        raise PrivacyError("not an e-mail address: invalid domain") from None
    # RFC 6530 §10.1: a non-ASCII local part is compared in NFC (an NFD "o\u0308" is "ö")
    return f"{unicodedata.normalize('NFC', local).lower()}@{domain}"


@dataclass(frozen=True, slots=True)
class Pseudonymizer:
    """Maps addresses to stable keyed pseudonyms (hex HMAC-SHA256)."""

    key: bytes

    def __post_init__(self) -> None:
        if len(self.key) < 16:
            raise PrivacyError("the pseudonym key must be at least 16 bytes")

    def __repr__(self) -> str:
        return "Pseudonymizer(key=<redacted>)"

    def fingerprint(self) -> str:
        """An HMAC under the key of a fixed label: the same for the same key, and it
        tells nothing of the key (the store records it to notice a lost or changed key)."""
        return hmac.new(self.key, b"delivermon pseudonym key check", hashlib.sha256).hexdigest()

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
