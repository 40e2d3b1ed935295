"""Is this resolver fit for DNSBL queries? (``delivermon doctor``)

A DNSBL needs a resolver that answers, recurses, is not one the lists refuse (a public or
shared one: the lists say so with their own documented error answers, which the
catalogue knows), validates DNSSEC and answers fast. Each of those is one
``ResolverCheck`` with a status: ``ok``, ``problem`` or ``unknown`` ("could not tell",
never read as ok). The questions go through ``ResolverProbe`` (``UdpProbe``: one query,
its flags and its time); the judging is plain functions over the replies.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
from dns.rdatatype import RdataType

from checks.dns.client import Nameserver
from checks.dns.outcome import Answer, DnsOutcome, NoData, NxDomain, Unknown, UnknownReason
from checks.dnsbl.catalogue import ZoneSpec
from checks.dnsbl.selftest import self_test_name
from checks.dnsbl.verdict import RESOLVER_REFUSAL_REASONS, Verdict, evaluate_answer
from checks.findings import Finding, FindingSeverity

__all__ = [
    "ProbeReply",
    "ResolverCheck",
    "ResolverProbe",
    "ResolverReport",
    "ResolverStatus",
    "UdpProbe",
    "check_resolver",
]

LATENCY_LIMIT = 0.1  # seconds, median answer from the cache
_LATENCY_SAMPLES = 5


class ResolverStatus(StrEnum):
    OK = "ok"
    PROBLEM = "problem"
    UNKNOWN = "unknown"  # could not tell


@dataclass(frozen=True, slots=True)
class ProbeReply:
    """One answer (``rcode`` set) or none (``error``: timeout, network)."""

    rcode: dns.rcode.Rcode | None
    recursion_available: bool = False
    authenticated: bool = False  # the AD flag
    addresses: tuple[str, ...] = ()  # A records of the answer
    seconds: float = 0.0
    error: str | None = None

    def outcome(self, name: str) -> DnsOutcome:
        """As the checks' DNS outcome, so the DNSBL verdict rules judge it."""
        if self.rcode is None:
            return Unknown(name, UnknownReason(self.error or "timeout"))
        if self.rcode == dns.rcode.NXDOMAIN:
            return NxDomain(name)
        if self.rcode != dns.rcode.NOERROR:
            return Unknown(name, _RCODES.get(self.rcode, UnknownReason.BAD_RCODE))
        if self.addresses:
            return Answer(name, RdataType.A, self.addresses, 0)
        return NoData(name, RdataType.A)


_RCODES: dict[dns.rcode.Rcode, UnknownReason] = {
    dns.rcode.SERVFAIL: UnknownReason.SERVFAIL,
    dns.rcode.REFUSED: UnknownReason.REFUSED,
    dns.rcode.FORMERR: UnknownReason.FORMERR,
    dns.rcode.NOTIMP: UnknownReason.NOTIMP,
}


class ResolverProbe(Protocol):
    """One recursive question to the resolver under test, with its flags and its time."""

    async def ask(self, name: str, rdtype: RdataType, *, dnssec: bool = False) -> ProbeReply: ...


class UdpProbe:
    """Questions over UDP with RD set (and DO plus AD for DNSSEC: RFC 6840 section 5.7)."""

    def __init__(self, nameserver: Nameserver, *, timeout: float = 2.0) -> None:
        self.nameserver = nameserver
        self._timeout = timeout

    async def ask(self, name: str, rdtype: RdataType, *, dnssec: bool = False) -> ProbeReply:
        query = dns.message.make_query(name, rdtype, want_dnssec=dnssec)
        if dnssec:
            query.flags |= dns.flags.AD
        started = time.perf_counter()
        try:
            reply = await dns.asyncquery.udp(
                query, self.nameserver.host, timeout=self._timeout, port=self.nameserver.port
            )
        except dns.exception.Timeout:
            return ProbeReply(None, seconds=time.perf_counter() - started, error="timeout")
        except (OSError, dns.exception.DNSException):
            return ProbeReply(None, seconds=time.perf_counter() - started, error="network")
        addresses = tuple(
            rdata.to_text()
            for rrset in reply.answer
            if rrset.rdtype == dns.rdatatype.A
            for rdata in rrset
        )
        return ProbeReply(
            reply.rcode(),
            recursion_available=bool(reply.flags & dns.flags.RA),
            authenticated=bool(reply.flags & dns.flags.AD),
            addresses=addresses,
            seconds=time.perf_counter() - started,
        )


@dataclass(frozen=True, slots=True)
class ResolverCheck:
    """One property of the resolver: ``name`` (answers, recursion, not_refused, dnssec,
    latency), its status, one line for a human, and the findings behind a non-ok status."""

    name: str
    status: ResolverStatus
    summary: str
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class ResolverReport:
    nameserver: str
    checks: tuple[ResolverCheck, ...] = field(default_factory=tuple)

    @property
    def status(self) -> ResolverStatus:
        statuses = {c.status for c in self.checks}
        for worst in (ResolverStatus.PROBLEM, ResolverStatus.UNKNOWN):
            if worst in statuses:
                return worst
        return ResolverStatus.OK


async def check_resolver(
    probe: ResolverProbe,
    *,
    zones: Sequence[ZoneSpec],
    dnssec_name: str = ".",
    latency_limit: float = LATENCY_LIMIT,
    label: str = "",
) -> ResolverReport:
    """Ask the resolver what a DNSBL sweep needs of it; one check per property.

    ``zones`` are the lists in use: the first one's listed test point is the question
    timed for latency, and those that document a refusal answer are asked theirs.
    ``dnssec_name`` is a signed name (the root by default).
    """
    points = [
        (zone, self_test_name(zone, zone.test_listed[0])) for zone in zones if zone.test_listed
    ]
    # What a sweep asks: a list's test point (the root's NS when no list is in use).
    question = (points[0][1], RdataType.A) if points else (".", RdataType.NS)
    first = await probe.ask(*question)
    answers = _answers(first)
    if answers.status is not ResolverStatus.OK:  # nothing else can be asked
        return ResolverReport(label, (answers,))
    samples = [(await probe.ask(*question)).seconds for _ in range(_LATENCY_SAMPLES)]
    points = [
        (zone, name)
        for zone, name in points
        if RESOLVER_REFUSAL_REASONS & {e.reason for e in zone.errors}
    ]
    replies = [(zone, name, await probe.ask(name, RdataType.A)) for zone, name in points]
    signed = await probe.ask(dnssec_name, RdataType.SOA, dnssec=True)
    return ResolverReport(
        label,
        (
            answers,
            _recursion(first),
            _not_refused(replies),
            _dnssec(dnssec_name, signed),
            _latency(samples, latency_limit),
        ),
    )


def _finding(code: str, severity: FindingSeverity, message: str, **detail: str) -> Finding:
    return Finding(code, severity, message, detail)


def _answers(reply: ProbeReply) -> ResolverCheck:
    if reply.rcode is None:
        message = f"no answer ({reply.error})"
        finding = _finding("resolver.no_answer", FindingSeverity.CRITICAL, message)
        return ResolverCheck("answers", ResolverStatus.PROBLEM, message, (finding,))
    rcode = dns.rcode.to_text(reply.rcode)
    return ResolverCheck("answers", ResolverStatus.OK, f"answered ({rcode})")


def _recursion(reply: ProbeReply) -> ResolverCheck:
    """RA on a reply that is not REFUSED: it recursed for us (a SERVFAIL is the lists' or
    the network's problem, which the other checks tell)."""
    rcode = dns.rcode.to_text(reply.rcode) if reply.rcode is not None else "none"
    if reply.recursion_available and reply.rcode != dns.rcode.REFUSED:
        return ResolverCheck("recursion", ResolverStatus.OK, "recursion available (RA)")
    message = f"no recursion for us ({rcode}, RA {'on' if reply.recursion_available else 'off'})"
    finding = _finding("resolver.no_recursion", FindingSeverity.CRITICAL, message, rcode=rcode)
    return ResolverCheck("recursion", ResolverStatus.PROBLEM, message, (finding,))


def _not_refused(replies: Sequence[tuple[ZoneSpec, str, ProbeReply]]) -> ResolverCheck:
    if not replies:
        return ResolverCheck(
            "not_refused",
            ResolverStatus.UNKNOWN,
            "no list in use documents an answer for refused resolvers: not asked",
        )
    refused, unreachable, accepted = [], [], []
    for zone, name, reply in replies:
        result = evaluate_answer(zone, reply.outcome(name))
        codes = ",".join(result.codes)
        if result.error in RESOLVER_REFUSAL_REASONS:
            message = f"{zone.id} answers {codes} ({result.error}) to its test point"
            refused.append(
                _finding(
                    "resolver.refused_by_list",
                    FindingSeverity.CRITICAL,
                    message,
                    zone=zone.id,
                    reason=result.error or "",
                )
            )
        elif result.verdict is Verdict.LISTED:
            accepted.append(zone.id)
        else:
            why = result.error or "test point not listed"
            unreachable.append(
                _finding(
                    "resolver.list_unreachable",
                    FindingSeverity.WARNING,
                    f"{zone.id}: {why}",
                    zone=zone.id,
                )
            )
    if refused:
        summary = "; ".join(f.message for f in refused)
        return ResolverCheck(
            "not_refused", ResolverStatus.PROBLEM, summary, (*refused, *unreachable)
        )
    if not accepted:
        summary = "could not tell: " + "; ".join(f.message for f in unreachable)
        return ResolverCheck("not_refused", ResolverStatus.UNKNOWN, summary, tuple(unreachable))
    summary = f"accepted by {', '.join(accepted)} (their test points are listed)"
    return ResolverCheck("not_refused", ResolverStatus.OK, summary, tuple(unreachable))


def _dnssec(name: str, reply: ProbeReply) -> ResolverCheck:
    if reply.rcode != dns.rcode.NOERROR:
        why = reply.error or (dns.rcode.to_text(reply.rcode) if reply.rcode is not None else "")
        message = f"could not tell: {name} not resolved ({why})"
        finding = _finding("resolver.dnssec_unknown", FindingSeverity.WARNING, message)
        return ResolverCheck("dnssec", ResolverStatus.UNKNOWN, message, (finding,))
    if reply.authenticated:
        return ResolverCheck("dnssec", ResolverStatus.OK, f"{name} validated (AD)")
    message = f"{name} answered without AD: not validating"
    finding = _finding("resolver.not_validating", FindingSeverity.ERROR, message)
    return ResolverCheck("dnssec", ResolverStatus.PROBLEM, message, (finding,))


def _latency(samples: Sequence[float], limit: float) -> ResolverCheck:
    median = statistics.median(samples)
    summary = f"{median * 1000:.1f} ms median from its cache ({len(samples)} queries)"
    if median <= limit:
        return ResolverCheck("latency", ResolverStatus.OK, summary)
    message = f"{summary}, above {limit * 1000:.0f} ms"
    finding = _finding("resolver.slow", FindingSeverity.WARNING, message)
    return ResolverCheck("latency", ResolverStatus.PROBLEM, message, (finding,))
