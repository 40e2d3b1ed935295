"""Domain names: A-labels (IDNA 2008 with UTS #46) and registered domains (Public Suffix List)."""

from __future__ import annotations

import functools
import re

import idna
from publicsuffixlist import PublicSuffixList

from checks.errors import ChecksError

__all__ = ["DomainError", "registered_domain", "to_a_label"]


# Letters, digits and inner hyphens, and no "--" in a label's 3rd and 4th positions (A-labels
# like "xn--" and other reserved forms still go through IDNA's own validation).
_LDH = re.compile(
    r"(?!(?:.*\.)?..--)"  # no label with "--" in its 3rd and 4th positions
    r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*",
    re.ASCII,
)


class DomainError(ChecksError):
    """Not a valid domain name."""


@functools.lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    # The list bundled with the publicsuffixlist package, ICANN and private
    # sections, so that e.g. a blogspot.com subdomain is its own registered domain.
    return PublicSuffixList()


def registered_domain(domain: str) -> str | None:
    """The registered (organisational) domain of an A-label name; None for a public suffix."""
    result: str | None = _psl().privatesuffix(domain.lower().rstrip("."))
    return result


def to_a_label(name: str) -> str:
    """Lower-case A-label form of ``name`` (a trailing dot is dropped).

    Raises:
        DomainError: empty labels, over-long labels or name, disallowed code points,
            or a numeric top-level label (that is an IP address, not a name).
    """
    text = name.strip().rstrip(".")
    if _LDH.fullmatch(text):
        ascii_name = text  # plain LDH labels: nothing for IDNA to map (the common case)
    else:
        try:
            ascii_name = idna.encode(text, uts46=True).decode("ascii")
        except idna.IDNAError as exc:
            raise DomainError(f"{name!r} is not a valid domain name: {exc}") from None
    labels = ascii_name.split(".")
    if len(labels) < 2 or any(not 0 < len(label) < 64 for label in labels):
        raise DomainError(f"{name!r} is not a valid domain name")
    if len(ascii_name) > 253:
        raise DomainError(f"{name!r} is longer than 253 characters")
    if labels[-1].isdigit():
        raise DomainError(f"{name!r} is not a domain name (numeric top-level label)")
    return ascii_name.lower()
