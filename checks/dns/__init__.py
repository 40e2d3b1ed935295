"""DNS for the checks: the ``DnsClient`` protocol, outcome values and ``StubResolver``."""

from checks.dns.client import DnsClient, Nameserver, ResolverConfig, ResolverStats, StubResolver
from checks.dns.outcome import (
    Answer,
    DnsOutcome,
    NoData,
    NxDomain,
    RdataType,
    Unknown,
    UnknownReason,
)

__all__ = [
    "Answer",
    "DnsClient",
    "DnsOutcome",
    "Nameserver",
    "NoData",
    "NxDomain",
    "RdataType",
    "ResolverConfig",
    "ResolverStats",
    "StubResolver",
    "Unknown",
    "UnknownReason",
]
