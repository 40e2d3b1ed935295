"""An in-memory DnsClient for unit tests of pure check logic (no network by design).

Integration tests use the real NSD fixture; this fake exists so that limits and
hostile-data cases can be driven without serving them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from checks.dns import Answer, DnsOutcome, NoData, NxDomain, RdataType, Unknown, UnknownReason

Zone = Mapping[tuple[str, str], Sequence[str] | UnknownReason]


class FakeDns:
    """Answers from {(name, TYPE): records or an UnknownReason}; names with no entry of any
    type are NXDOMAIN, others NODATA. Counts queries."""

    def __init__(self, zone: Zone) -> None:
        self.zone = {(n.lower(), t): v for (n, t), v in zone.items()}
        self.queries: list[tuple[str, str]] = []

    async def query(
        self, name: str, rdtype: RdataType, *, rate_key: str | None = None
    ) -> DnsOutcome:
        name = name.lower().rstrip(".")
        self.queries.append((name, rdtype.name))
        value = self.zone.get((name, rdtype.name))
        if isinstance(value, UnknownReason):
            return Unknown(name, value)
        if value:
            return Answer(name, rdtype, tuple(value), 300)
        if any(n == name for n, _ in self.zone):
            return NoData(name, rdtype)
        return NxDomain(name)
