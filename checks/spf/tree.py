"""The static include/redirect tree of an SPF record and its DNS cost, independent of any IP.

Every include and redirect with a literal target is followed once per occurrence
(a redirect only when the record has no ``all``, as in evaluation); only the
mechanisms up to the first ``all`` count, as evaluation never tests the rest
(RFC 7208 §5.1). Each node counts its own DNS-querying terms (include, a, mx,
ptr, exists, redirect; §4.6.4) and the total of its subtree.

A target's subtree is built once per walk and the node reused for its other
occurrences, and the walk stops following includes once the running total is
past :data:`WALK_BUDGET` (the 10-term limit plus a margin): such a target is a
leaf with ``error`` :data:`OVER_LIMIT`, and the totals are then lower bounds of a
figure that is over the limit anyway. This keeps hostile trees (records that
include the next one many times) linear in work and in size.

Void lookups are counted by asking what evaluation would ask, separately for
IPv4 and IPv6 clients: an ``a`` target is void for IPv4 when it has no A record
and for IPv6 when it has no AAAA record, an ``mx`` target when it has no MX (both
families), each MX host as an ``a`` target, and an ``exists`` target when it has
no A record (both families). ``ptr`` depends on the connecting IP and is not
counted. A target none of whose lookups answered, with at least one failed, is a
DNS failure (and not void); one answer is enough to know it is not void. Targets
with macros are counted as one term and not followed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from checks.dns import Answer, DnsClient, RdataType, Unknown
from checks.spf.evaluate import MAX_DNS_TERMS, RecordLookup, fetch_record
from checks.spf.record import (
    Mechanism,
    MechanismKind,
    Qualifier,
    RecordParser,
    SpfRecord,
    SpfSyntaxError,
)

__all__ = ["OVER_LIMIT", "WALK_BUDGET", "SpfNode", "TreeProblem", "TreeWalk", "walk_tree"]

_MAX_DEPTH = 12
_MAX_MX_HOSTS = 10
WALK_BUDGET = MAX_DNS_TERMS + 20
"""Past this many DNS-querying terms the walk follows no more includes or redirects."""
OVER_LIMIT = f"over limit: not followed, the tree already needs more than {WALK_BUDGET} lookups"


@dataclass(frozen=True, slots=True)
class SpfNode:
    """One record in the include/redirect tree; ``error`` says why a target was not followed.

    A target that occurs more than once is the same node object at each occurrence.
    """

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
    """What walking the tree found, beside the tree itself.

    ``void_lookups`` is the larger of ``void_lookups_ipv4`` and ``void_lookups_ipv6``:
    the static worst case, whichever family the client has. ``truncated``: some target
    was not followed because the tree was already over :data:`WALK_BUDGET`.
    """

    void_lookups: int = 0
    void_lookups_ipv4: int = 0
    void_lookups_ipv6: int = 0
    truncated: bool = False
    dns_failures: list[str] = field(default_factory=list)
    problems: list[TreeProblem] = field(default_factory=list)
    records: dict[str, SpfRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Voids:
    """Void lookups an IPv4 and an IPv6 client's evaluation would make."""

    ipv4: int = 0
    ipv6: int = 0

    def __add__(self, other: _Voids) -> _Voids:
        return _Voids(self.ipv4 + other.ipv4, self.ipv6 + other.ipv6)


_NONE = _Voids()
_BOTH = _Voids(1, 1)


async def walk_tree(
    dns: DnsClient, domain: str, record: SpfRecord, *, parser: RecordParser | None = None
) -> tuple[SpfNode, TreeWalk]:
    """Build the tree under ``record`` (already fetched and parsed for ``domain``)."""
    walker = _Walker(dns, parser or RecordParser())
    node, voids = await walker.node(domain, record, (domain.lower(),), authorises=True)
    walk = walker.walk
    walk.void_lookups_ipv4, walk.void_lookups_ipv6 = voids.ipv4, voids.ipv6
    walk.void_lookups = max(voids.ipv4, voids.ipv6)
    return node, walk


class _Walker:
    def __init__(self, dns: DnsClient, parser: RecordParser) -> None:
        self.dns = dns
        self.parser = parser
        self.walk = TreeWalk()
        self._lookups: dict[str, RecordLookup] = {}
        self._built: dict[tuple[str, bool], tuple[SpfNode, _Voids]] = {}
        self._spent = 0  # DNS-querying terms of every occurrence visited so far

    async def node(
        self, domain: str, record: SpfRecord, path: tuple[str, ...], *, authorises: bool
    ) -> tuple[SpfNode, _Voids]:
        """``authorises``: a pass here is a pass for the checked domain (no -/~/? include above)."""
        self.walk.records.setdefault(domain, record)
        plus_all = record.all_mechanism
        if authorises and plus_all is not None and plus_all.qualifier is Qualifier.PASS:
            self._problem("spf.plus_all", domain, term=plus_all.text)
        own = record.dns_terms
        self._spent += own
        mechanisms = record.evaluated_mechanisms
        costs = await asyncio.gather(*(self._void_cost(m, domain) for m in mechanisms))
        voids = sum(costs, _NONE)
        children = []
        for term, spec, tokens, passes in _followed_terms(record):
            if len(tokens) != 1 or not isinstance(tokens[0], str):
                self._problem("spf.macro_unresolved", domain, term=term)
                continue
            target = spec.rstrip(".").lower()
            child, child_voids = await self._child(target, term, path, authorises and passes)
            children.append(child)
            voids += child_voids
        total = own + sum(c.total_lookups for c in children)
        return SpfNode(domain, record.text, own, total, tuple(children)), voids

    async def _child(
        self, target: str, term: str, path: tuple[str, ...], authorises: bool
    ) -> tuple[SpfNode, _Voids]:
        if target in path:
            return self._failed(target, term, "include loop"), _NONE
        if len(path) >= _MAX_DEPTH:
            return self._failed(target, term, "nested too deep"), _NONE
        if self._spent > WALK_BUDGET:
            self.walk.truncated = True
            return SpfNode(target, None, 0, 0, error=OVER_LIMIT), _NONE
        built = self._built.get((target, authorises))
        if built is not None:
            self._spent += built[0].total_lookups
            return built
        lookup = self._lookups.get(target)
        if lookup is None:
            lookup = self._lookups[target] = await fetch_record(self.dns, target)
        if lookup.error is not None:
            self._failure(f"TXT {target}: {lookup.error}")
            return SpfNode(target, None, 0, 0, error=f"lookup failed: {lookup.error}"), _NONE
        if not lookup.records:
            return self._failed(target, term, "no SPF record"), _NONE
        if len(lookup.records) > 1:
            return self._failed(target, term, "more than one SPF record"), _NONE
        try:
            record = self.parser.parse(lookup.records[0])
        except SpfSyntaxError as exc:
            reason = f"syntax error in {exc.term!r}"
            return self._failed(target, term, reason, lookup.records[0]), _NONE
        built = await self.node(target, record, (*path, target), authorises=authorises)
        self._built[(target, authorises)] = built
        return built

    def _failed(self, target: str, term: str, reason: str, record: str | None = None) -> SpfNode:
        self._problem("spf.include_failed", target, term=term, reason=reason)
        return SpfNode(target, record, 0, 0, error=reason)

    def _problem(self, code: str, domain: str, **detail: str | int) -> None:
        problem = TreeProblem(code, domain, tuple(detail.items()))
        if problem not in self.walk.problems:
            self.walk.problems.append(problem)

    def _failure(self, text: str) -> None:
        if text not in self.walk.dns_failures:
            self.walk.dns_failures.append(text)

    async def _void_cost(self, mechanism: Mechanism, domain: str) -> _Voids:
        kind = mechanism.kind
        if kind not in (MechanismKind.A, MechanismKind.MX, MechanismKind.EXISTS):
            return _NONE
        tokens = mechanism.domain_tokens
        if tokens and (len(tokens) != 1 or not isinstance(tokens[0], str)):
            self._problem("spf.macro_unresolved", domain, term=mechanism.text)
            return _NONE
        target = tokens[0].rstrip(".") if tokens and isinstance(tokens[0], str) else domain
        if kind is MechanismKind.EXISTS:
            (no_a,) = await self._voids(target, (RdataType.A,))
            return _BOTH if no_a else _NONE  # exists asks for A whatever the client's family
        if kind is MechanismKind.A:
            return await self._address_voids(target)
        return await self._mx_void_cost(mechanism, target, domain)

    async def _mx_void_cost(self, mechanism: Mechanism, target: str, domain: str) -> _Voids:
        outcome = await self.dns.query(target, RdataType.MX)
        if isinstance(outcome, Unknown):
            self._failure(f"MX {target}: {outcome.reason}")
            return _NONE
        if not isinstance(outcome, Answer):
            return _BOTH
        # RFC 7505 null MX ".": no host and no address lookup, so not one of the 10 names
        # (§4.6.4 limits the address lookups of an mx term); evaluate.py skips it too.
        hosts = [r.split()[-1].rstrip(".") for r in outcome.records if r.split()[-1] != "."]
        if len(hosts) > _MAX_MX_HOSTS:
            self._problem("spf.mx_too_many_hosts", domain, term=mechanism.text, hosts=len(hosts))
            return _NONE
        found = await asyncio.gather(*(self._address_voids(h) for h in hosts))
        return sum(found, _NONE)

    async def _address_voids(self, name: str) -> _Voids:
        """An ``a`` lookup: IPv4 clients ask for A, IPv6 clients for AAAA."""
        no_a, no_aaaa = await self._voids(name, (RdataType.A, RdataType.AAAA))
        return _Voids(int(no_a), int(no_aaaa))

    async def _voids(self, name: str, rdtypes: tuple[RdataType, ...]) -> tuple[bool, ...]:
        """Per type, whether the lookup is void (NXDOMAIN or NODATA; a failure is not void).

        The failures are recorded only when no type answered: one answer already shows
        the name is in use, so the figures do not depend on the failed lookup.
        """
        outcomes = await asyncio.gather(*(self.dns.query(name, t) for t in rdtypes))
        failed = [o for o in outcomes if isinstance(o, Unknown)]
        if failed and not any(isinstance(o, Answer) for o in outcomes):
            for rdtype, outcome in zip(rdtypes, outcomes, strict=True):
                if isinstance(outcome, Unknown):
                    self._failure(f"{rdtype.name} {name}: {outcome.reason}")
        return tuple(not isinstance(o, Answer | Unknown) for o in outcomes)


_Followed = tuple[str, str, tuple[object, ...], bool]


def _followed_terms(record: SpfRecord) -> list[_Followed]:
    """(term, target, macro tokens, passes-through) of each include evaluation can reach
    (none after ``all``) and of a redirect that runs."""
    terms: list[_Followed] = [
        (m.text, m.domain_spec or "", m.domain_tokens, m.qualifier is Qualifier.PASS)
        for m in record.evaluated_mechanisms
        if m.kind is MechanismKind.INCLUDE
    ]
    if record.redirect is not None and record.all_mechanism is None:
        redirect = (f"redirect={record.redirect}", record.redirect, record.redirect_tokens, True)
        terms.append(redirect)
    return terms
