"""``check_spf``: a domain's SPF record, its static DNS cost, its policy, and our sending IPs.

``dns_lookups`` is the static worst case over the whole include/redirect tree:
every DNS-querying term (include, a, mx, ptr, exists, and a redirect that can
run) in every record reachable through includes and redirects with literal
targets, each followed once per occurrence. MX host address lookups are not in
it (RFC 7208 §4.6.4 limits them per ``mx`` term to 10 names instead, reported as
``spf.mx_too_many_hosts``). ``void_lookups`` counts ``a`` targets with neither A
nor AAAA, ``mx`` targets with no MX, MX hosts with no address, and ``exists``
targets with no A record, over the same tree (``ptr`` depends on the IP and is
not counted). Targets with macros count as one term and are not followed.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from checks.dns import DnsClient
from checks.findings import Finding, FindingSeverity
from checks.spf.evaluate import (
    MAX_DNS_TERMS,
    MAX_VOID_LOOKUPS,
    SpfOutcome,
    check_host,
    fetch_record,
)
from checks.spf.record import MechanismKind, Qualifier, SpfRecord, SpfSyntaxError, parse_record
from checks.spf.tree import SpfNode, TreeWalk, walk_tree
from checks.status import CheckStatus, status_of

__all__ = ["SpfPolicy", "SpfResult", "check_spf"]

MAX_RECORD_OCTETS = 450  # RFC 7208 §3.4: keep the answer within 512 octets of UDP

_ERROR = FindingSeverity.ERROR
_WARNING = FindingSeverity.WARNING
_INFO = FindingSeverity.INFO
_TREE_SEVERITY = {
    "spf.include_failed": _ERROR,
    "spf.mx_too_many_hosts": _ERROR,
    "spf.plus_all": FindingSeverity.CRITICAL,
    "spf.macro_unresolved": _INFO,
}


@dataclass(frozen=True, slots=True)
class SpfPolicy:
    """What to check beyond the record: our sending IPs and the HELO name they use.

    Raises:
        ValueError: a sending IP is not an IP address.
    """

    sending_ips: tuple[str, ...] = ()
    helo: str | None = None

    def __post_init__(self) -> None:
        for ip in self.sending_ips:
            ipaddress.ip_address(ip)


@dataclass(frozen=True, slots=True)
class SpfResult:
    """The SPF check of one domain; see the module docstring for what the counts count."""

    domain: str
    status: CheckStatus
    record: str | None
    dns_lookups: int
    void_lookups: int
    ip_results: Mapping[str, str]
    include_tree: SpfNode | None
    findings: tuple[Finding, ...]


@dataclass(slots=True)
class _Report:
    findings: list[Finding] = field(default_factory=list)
    unknown: bool = False

    def add(
        self, code: str, severity: FindingSeverity, message: str, **detail: str | int | None
    ) -> None:
        finding = Finding(code, severity, message, MappingProxyType(dict(detail)))
        if finding not in self.findings:
            self.findings.append(finding)


async def check_spf(domain: str, *, dns: DnsClient, policy: SpfPolicy) -> SpfResult:
    """Check ``domain``'s SPF record, its include tree and limits, and each sending IP."""
    domain = domain.rstrip(".").lower()
    report = _Report()
    record_text, tree, walk = await _check_record(domain, dns, report)
    ip_results = await _check_ips(domain, dns, policy, report)
    lookups = tree.total_lookups if tree is not None else 0
    voids = walk.void_lookups if walk is not None else 0
    if tree is not None and walk is not None:
        _limit_findings(tree, voids, report)
        _policy_findings(tree, walk, report)
    return SpfResult(
        domain=domain,
        status=status_of(report.findings, unknown=report.unknown),
        record=record_text,
        dns_lookups=lookups,
        void_lookups=voids,
        ip_results=MappingProxyType(ip_results),
        include_tree=tree,
        findings=tuple(report.findings),
    )


async def _check_record(
    domain: str, dns: DnsClient, report: _Report
) -> tuple[str | None, SpfNode | None, TreeWalk | None]:
    lookup = await fetch_record(dns, domain)
    if lookup.error is not None:
        report.unknown = True
        report.add(
            "spf.lookup_failed",
            _WARNING,
            f"the SPF record of {domain} could not be fetched ({lookup.error})",
            name=domain,
            reason=lookup.error,
        )
        return None, None, None
    if not lookup.records:
        report.add("spf.missing", _ERROR, f"{domain} publishes no SPF record", domain=domain)
        return None, None, None
    if len(lookup.records) > 1:
        report.add(
            "spf.multiple_records",
            _ERROR,
            f"{domain} publishes {len(lookup.records)} SPF records; receivers return permerror",
            count=len(lookup.records),
        )
        return None, None, None
    text = lookup.records[0]
    if len(text.encode()) > MAX_RECORD_OCTETS:
        report.add(
            "spf.record_too_long",
            _WARNING,
            f"the SPF record is {len(text.encode())} octets (over {MAX_RECORD_OCTETS})",
            octets=len(text.encode()),
        )
    try:
        record = parse_record(text)
    except SpfSyntaxError as exc:
        report.add(
            "spf.syntax_error",
            _ERROR,
            f"syntax error in the SPF record: {exc.reason}",
            term=exc.term,
            reason=exc.reason,
        )
        return text, SpfNode(domain, text, 0, 0, error=f"syntax error in {exc.term!r}"), None
    tree, walk = await walk_tree(dns, domain, record)
    if walk.dns_failures:
        report.unknown = True
        report.add(
            "spf.lookup_failed",
            _WARNING,
            f"{len(walk.dns_failures)} lookup(s) of the include tree failed; counts are uncertain",
            failures="; ".join(walk.dns_failures[:5]),
        )
    return text, tree, walk


def _limit_findings(tree: SpfNode, voids: int, report: _Report) -> None:
    lookups = tree.total_lookups
    heaviest = max(tree.children, key=lambda c: c.total_lookups, default=None)
    detail: dict[str, str | int] = {"lookups": lookups, "limit": MAX_DNS_TERMS}
    if heaviest is not None:
        detail |= {"heaviest": heaviest.domain, "heaviest_lookups": heaviest.total_lookups}
    if lookups > MAX_DNS_TERMS:
        message = f"the record needs {lookups} DNS-querying terms; RFC 7208 allows 10"
        report.add("spf.too_many_lookups", _ERROR, message, **detail)
    elif lookups >= MAX_DNS_TERMS - 1:
        message = f"the record needs {lookups} of the 10 allowed DNS-querying terms"
        report.add("spf.lookups_near_limit", _WARNING, message, **detail)
    if voids > MAX_VOID_LOOKUPS:
        message = f"{voids} lookups return no data; RFC 7208 allows 2 void lookups"
        report.add("spf.too_many_void_lookups", _ERROR, message, void_lookups=voids, limit=2)


def _policy_findings(tree: SpfNode, walk: TreeWalk, report: _Report) -> None:
    for problem in walk.problems:
        detail = dict(problem.detail)
        message = _TREE_MESSAGES[problem.code].format(domain=problem.domain, **detail)
        report.add(
            problem.code, _TREE_SEVERITY[problem.code], message, domain=problem.domain, **detail
        )
    for domain, record in walk.records.items():
        if any(m.kind is MechanismKind.PTR for m in record.mechanisms):
            message = f"{domain} uses the deprecated ptr mechanism"
            report.add("spf.ptr_mechanism", _WARNING, message, domain=domain)
        if record.redirect is not None and record.all_mechanism is not None:
            message = f"{domain}: redirect={record.redirect} is never used because of 'all'"
            report.add("spf.redirect_ignored", _WARNING, message, domain=domain)
    final = _effective_record(tree, walk)
    if final is None:
        return
    domain, record = final
    last = record.all_mechanism
    if last is not None and last.qualifier is Qualifier.NEUTRAL:
        report.add("spf.neutral_all", _WARNING, f"{domain} ends in ?all", domain=domain)
    elif last is None and record.redirect is None:
        message = f"{domain} has no 'all' and no redirect: unlisted hosts get neutral"
        report.add("spf.no_all", _WARNING, message, domain=domain)


def _effective_record(tree: SpfNode, walk: TreeWalk) -> tuple[str, SpfRecord] | None:
    """The record whose ``all`` (or lack of one) decides: follow redirects from the top."""
    node = tree
    while True:
        record = walk.records.get(node.domain)
        if record is None or node.error is not None:
            return None
        if record.all_mechanism is not None or record.redirect is None:
            return node.domain, record
        redirect_node = next(
            (c for c in node.children if record.redirect.rstrip(".").lower() == c.domain), None
        )
        if redirect_node is None:
            return None  # a macro or failed redirect: the walk reported it
        node = redirect_node


_TREE_MESSAGES = {
    "spf.include_failed": "{term} in {domain}'s tree: {reason}",
    "spf.mx_too_many_hosts": "{term} in {domain} has {hosts} MX hosts; RFC 7208 allows 10",
    "spf.plus_all": "{domain} has {term}: any host passes SPF as this domain",
    "spf.macro_unresolved": "{term} in {domain} uses macros and cannot be followed statically",
}


async def _check_ips(
    domain: str, dns: DnsClient, policy: SpfPolicy, report: _Report
) -> dict[str, str]:
    results: dict[str, str] = {}
    for ip in policy.sending_ips:
        evaluation = await check_host(
            ip, domain, f"postmaster@{domain}", dns=dns, helo=policy.helo or domain
        )
        results[ip] = evaluation.result.value
        if evaluation.result is SpfOutcome.TEMPERROR:
            report.unknown = True
            message = f"SPF for {ip} could not be evaluated: {evaluation.error}"
            report.add("spf.lookup_failed", _WARNING, message, ip=ip, reason=evaluation.error)
        elif evaluation.result is not SpfOutcome.PASS:
            report.add(
                "spf.sending_ip_not_permitted",
                _ERROR,
                f"{ip} gets SPF {evaluation.result.value} for {domain}",
                ip=ip,
                result=evaluation.result.value,
                mechanism=evaluation.mechanism,
                reason=evaluation.error,
            )
    return results
