"""DNS outcomes as values: an answer, NXDOMAIN, NODATA, or unknown with a reason.

Callers branch on the type; nothing here raises for a DNS failure. "Could not
tell" (:class:`Unknown`) is a distinct value so that it can never be read as
"not there".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dns.rdatatype import RdataType

__all__ = ["Answer", "DnsOutcome", "NoData", "NxDomain", "RdataType", "Unknown", "UnknownReason"]


class UnknownReason(StrEnum):
    """Why a lookup could not tell. Stable machine codes."""

    TIMEOUT = "timeout"
    SERVFAIL = "servfail"
    REFUSED = "refused"
    NETWORK = "network"
    MALFORMED = "malformed"
    TRUNCATED = "truncated"  # truncated over TCP as well: the answer never arrived whole
    FORMERR = "formerr"
    NOTIMP = "notimp"
    BAD_RCODE = "bad_rcode"
    INVALID_NAME = "invalid_name"
    CNAME_LOOP = "cname_loop"
    REFERRAL = "referral"  # the server does not recurse: it referred us elsewhere


@dataclass(frozen=True, slots=True)
class Answer:
    """Records of the asked type at ``name`` (after following any CNAMEs).

    ``records`` hold presentation text: dotted quads for A, compressed IPv6 for
    AAAA, TXT character-strings joined without separator (RFC 7208 §3.3), and
    dnspython's ``to_text()`` for other types. ``ttl`` is the smallest TTL seen.
    """

    name: str
    rdtype: RdataType
    records: tuple[str, ...]
    ttl: int
    cname_chain: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class NxDomain:
    """The name does not exist (RCODE 3)."""

    name: str
    ttl: int = 0


@dataclass(frozen=True, slots=True)
class NoData:
    """The name exists but has no records of the asked type."""

    name: str
    rdtype: RdataType
    ttl: int = 0


@dataclass(frozen=True, slots=True)
class Unknown:
    """The lookup could not tell; ``reason`` says why. Never "absent"."""

    name: str
    reason: UnknownReason
    detail: str = ""


DnsOutcome = Answer | NxDomain | NoData | Unknown
