"""The static include/redirect tree of an SPF record and its DNS cost, independent of any IP.

Every include and redirect with a literal target is followed once per occurrence
(a redirect only when the record has no ``all``, as in evaluation). Each node
counts its own DNS-querying terms (include, a, mx, ptr, exists, redirect; RFC
7208 §4.6.4) and the total of its subtree. Void lookups are counted by asking
what evaluation would ask: the A and AAAA records of each ``a`` target (void
when it has neither), the MX records of each ``mx`` target and the addresses of
each MX host, and the A record of each ``exists`` target. ``ptr`` depends on
the connecting IP and is not counted. Targets with macros are counted as one
term and not followed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from checks.dns import Answer, DnsClient, RdataType, Unknown
from checks.spf.evaluate import RecordLookup, fetch_record
from checks.spf.record import (
    Mechanism,
    MechanismKind,
    Qualifier,
    SpfRecord,
    SpfSyntaxError,
    parse_record,
)

__all__ = ["SpfNode", "TreeProblem", "TreeWalk", "walk_tree"]

_MAX_DEPTH = 12
_MAX_MX_HOSTS = 10


@dataclass(frozen=True, slots=True)
class SpfNode:
    """One record in the include/redirect tree; ``error`` says why a target was not followed."""

    domain: str
    record: str | None
    own_lookups: int
    total_lookups: int
    children: tuple[SpfNode, ...] = ()
    error: str | None = None


@dataclass(frozen=True, slots=True)
class TreeProblem:
    """Something the walk found: a finding code and its detail."""

    code: str
    domain: str
    detail: tuple[tuple[str, str | int], ...] = ()


@dataclass(slots=True)
class TreeWalk:
    """What walking the tree found, beside the tree itself."""

    void_lookups: int = 0
    dns_failures: list[str] = field(default_factory=list)
    problems: list[TreeProblem] = field(default_factory=list)
    records: dict[str, SpfRecord] = field(default_factory=dict)


async def walk_tree(dns: DnsClient, domain: str, record: SpfRecord) -> tuple[SpfNode, TreeWalk]:
    """Build the tree under ``record`` (already fetched and parsed for ``domain``)."""
    walker = _Walker(dns)
    node = await walker.node(domain, record, (domain.lower(),), authorises=True)
    return node, walker.walk


class _Walker:
    def __init__(self, dns: DnsClient) -> None:
        self.dns = dns
        self.walk = TreeWalk()
        self._lookups: dict[str, RecordLookup] = {}

    async def node(
        self, domain: str, record: SpfRecord, path: tuple[str, ...], *, authorises: bool
    ) -> SpfNode:
        """``authorises``: a pass here is a pass for the checked domain (no -/~/? include above)."""
        self.walk.records.setdefault(domain, record)
        plus_all = record.all_mechanism
        if authorises and plus_all is not None and plus_all.qualifier is Qualifier.PASS:
            self._problem("spf.plus_all", domain, term=plus_all.text)
        voids = await asyncio.gather(*(self._void_cost(m, domain) for m in record.mechanisms))
        self.walk.void_lookups += sum(voids)
        children = []
        for term, spec, tokens, passes in _followed_terms(record):
            if len(tokens) != 1 or not isinstance(tokens[0], str):
                self._problem("spf.macro_unresolved", domain, term=term)
                continue
            target = spec.rstrip(".").lower()
            children.append(await self._child(target, term, path, authorises and passes))
        own = record.dns_terms
        total = own + sum(c.total_lookups for c in children)
        return SpfNode(domain, record.text, own, total, tuple(children))

    async def _child(
        self, target: str, term: str, path: tuple[str, ...], authorises: bool
    ) -> SpfNode:
        if target in path:
            return self._failed(target, term, "include loop")
        if len(path) >= _MAX_DEPTH:
            return self._failed(target, term, "nested too deep")
        lookup = self._lookups.get(target)
        if lookup is None:
            lookup = self._lookups[target] = await fetch_record(self.dns, target)
        if lookup.error is not None:
            self.walk.dns_failures.append(f"TXT {target}: {lookup.error}")
            return SpfNode(target, None, 0, 0, error=f"lookup failed: {lookup.error}")
        if not lookup.records:
            return self._failed(target, term, "no SPF record")
        if len(lookup.records) > 1:
            return self._failed(target, term, "more than one SPF record")
        try:
            record = parse_record(lookup.records[0])
        except SpfSyntaxError as exc:
            return self._failed(target, term, f"syntax error in {exc.term!r}", lookup.records[0])
        return await self.node(target, record, (*path, target), authorises=authorises)

    def _failed(self, target: str, term: str, reason: str, record: str | None = None) -> SpfNode:
        self._problem("spf.include_failed", target, term=term, reason=reason)
        return SpfNode(target, record, 0, 0, error=reason)

    def _problem(self, code: str, domain: str, **detail: str | int) -> None:
        self.walk.problems.append(TreeProblem(code, domain, tuple(detail.items())))

    async def _void_cost(self, mechanism: Mechanism, domain: str) -> int:
        kind = mechanism.kind
        if kind not in (MechanismKind.A, MechanismKind.MX, MechanismKind.EXISTS):
            return 0
        tokens = mechanism.domain_tokens
        if tokens and (len(tokens) != 1 or not isinstance(tokens[0], str)):
            self._problem("spf.macro_unresolved", domain, term=mechanism.text)
            return 0
        target = tokens[0].rstrip(".") if tokens and isinstance(tokens[0], str) else domain
        if kind is MechanismKind.EXISTS:
            return 0 if await self._has(target, (RdataType.A,)) else 1
        if kind is MechanismKind.A:
            return 0 if await self._has(target, (RdataType.A, RdataType.AAAA)) else 1
        return await self._mx_void_cost(mechanism, target, domain)

    async def _mx_void_cost(self, mechanism: Mechanism, target: str, domain: str) -> int:
        outcome = await self._query(target, RdataType.MX)
        if isinstance(outcome, Unknown):
            return 0
        if outcome is None:
            return 1
        hosts = [r.split()[-1].rstrip(".") for r in outcome.records if r.split()[-1] != "."]
        if len(hosts) > _MAX_MX_HOSTS:
            self._problem("spf.mx_too_many_hosts", domain, term=mechanism.text, hosts=len(hosts))
            return 0
        found = await asyncio.gather(*(self._has(h, (RdataType.A, RdataType.AAAA)) for h in hosts))
        return sum(1 for f in found if not f)

    async def _has(self, name: str, rdtypes: tuple[RdataType, ...]) -> bool:
        """Whether ``name`` has records of a type; a failed lookup is not counted as void."""
        outcomes = await asyncio.gather(*(self._query(name, t) for t in rdtypes))
        return any(o is not None for o in outcomes)

    async def _query(self, name: str, rdtype: RdataType) -> Answer | Unknown | None:
        """The answer, the failure (recorded), or None for NXDOMAIN/NODATA."""
        outcome = await self.dns.query(name, rdtype)
        if isinstance(outcome, Unknown):
            self.walk.dns_failures.append(f"{rdtype.name} {name}: {outcome.reason}")
            return outcome
        return outcome if isinstance(outcome, Answer) else None


_Followed = tuple[str, str, tuple[object, ...], bool]


def _followed_terms(record: SpfRecord) -> list[_Followed]:
    """(term, target, macro tokens, passes-through) of each include and a redirect that runs."""
    terms: list[_Followed] = [
        (m.text, m.domain_spec or "", m.domain_tokens, m.qualifier is Qualifier.PASS)
        for m in record.mechanisms
        if m.kind is MechanismKind.INCLUDE
    ]
    if record.redirect is not None and record.all_mechanism is None:
        redirect = (f"redirect={record.redirect}", record.redirect, record.redirect_tokens, True)
        terms.append(redirect)
    return terms
