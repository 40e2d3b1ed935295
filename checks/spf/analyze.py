"""``check_spf``: a domain's SPF record, its static DNS cost, its policy, and our sending IPs.

``dns_lookups`` is the static worst case over the whole include/redirect tree:
every DNS-querying term (include, a, mx, ptr, exists, and a redirect that can
run) in every record reachable through includes and redirects with literal
targets, each followed once per occurrence, up to the first ``all`` of each
record (RFC 7208 §5.1: later terms are never tested; they get
``spf.terms_after_all``). MX host address lookups are not in it (§4.6.4 limits
them per ``mx`` term to 10 names instead, reported as ``spf.mx_too_many_hosts``).
Past 30 terms the tree is not followed further (see :mod:`checks.spf.tree`), so a
larger figure is a lower bound. ``void_lookups`` is the larger of the void
lookups an IPv4 and an IPv6 client's evaluation would make over the same tree:
``a`` targets with no A (IPv4) or no AAAA (IPv6), ``mx`` targets with no MX, MX
hosts as ``a`` targets, ``exists`` targets with no A record (``ptr`` depends on
the IP and is not counted). Targets with macros count as one term and are not
followed. Each record is parsed once per check, for the tree and every sending
IP; the sending IPs are evaluated concurrently.
"""

from __future__ import annotations

import asyncio
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
from checks.spf.record import (
    MechanismKind,
    Qualifier,
    RecordParser,
    SpfRecord,
    SpfSyntaxError,
)
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
    # What was added, for the duplicate check: a list scan made a domain with thousands of
    # sending IPs (a finding each) quadratic.
    _seen: set[tuple[object, ...]] = field(default_factory=set)

    def add(
        self, code: str, severity: FindingSeverity, message: str, **detail: str | int | None
    ) -> None:
        key = (code, severity, message, tuple(sorted(detail.items())))
        if key not in self._seen:
            self._seen.add(key)
            self.findings.append(Finding(code, severity, message, MappingProxyType(dict(detail))))


async def check_spf(domain: str, *, dns: DnsClient, policy: SpfPolicy) -> SpfResult:
    """Check ``domain``'s SPF record, its include tree and limits, and each sending IP."""
    domain = domain.rstrip(".").lower()
    report = _Report()
    parser = RecordParser()
    record_text, tree, walk = await _check_record(domain, dns, report, parser)
    ip_results = await _check_ips(domain, dns, policy, report, parser)
    lookups = tree.total_lookups if tree is not None else 0
    voids = walk.void_lookups if walk is not None else 0
    if tree is not None and walk is not None:
        _limit_findings(tree, walk, _families(policy.sending_ips), report)
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
    domain: str, dns: DnsClient, report: _Report, parser: RecordParser
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
        record = parser.parse(text)
    except SpfSyntaxError as exc:
        report.add(
            "spf.syntax_error",
            _ERROR,
            f"syntax error in the SPF record: {exc.reason}",
            term=exc.term,
            reason=exc.reason,
        )
        return text, SpfNode(domain, text, 0, 0, error=f"syntax error in {exc.term!r}"), None
    tree, walk = await walk_tree(dns, domain, record, parser=parser)
    if walk.dns_failures:
        report.unknown = True
        report.add(
            "spf.lookup_failed",
            _WARNING,
            f"{len(walk.dns_failures)} lookup(s) of the include tree failed; counts are uncertain",
            failures="; ".join(walk.dns_failures[:5]),
        )
    return text, tree, walk


def _limit_findings(
    tree: SpfNode, walk: TreeWalk, families: frozenset[int], report: _Report
) -> None:
    lookups = tree.total_lookups
    heaviest = max(tree.children, key=lambda c: c.total_lookups, default=None)
    detail: dict[str, str | int] = {"lookups": lookups, "limit": MAX_DNS_TERMS}
    if heaviest is not None:
        detail |= {"heaviest": heaviest.domain, "heaviest_lookups": heaviest.total_lookups}
    if lookups > MAX_DNS_TERMS:
        needs = f"at least {lookups}" if walk.truncated else str(lookups)
        message = f"the record needs {needs} DNS-querying terms; RFC 7208 allows 10"
        if walk.truncated:
            detail["truncated"] = 1
        report.add("spf.too_many_lookups", _ERROR, message, **detail)
    elif lookups >= MAX_DNS_TERMS - 1:
        message = f"the record needs {lookups} of the 10 allowed DNS-querying terms"
        report.add("spf.lookups_near_limit", _WARNING, message, **detail)
    _void_findings(walk, families, report)


def _families(sending_ips: tuple[str, ...]) -> frozenset[int]:
    """Address families mail is sent from (IPv4-mapped counts as IPv4); IPv4 if unknown."""
    families = set()
    for text in sending_ips:
        address = ipaddress.ip_address(text)
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        families.add(4 if mapped is not None else address.version)
    return frozenset(families or {4})


def _void_findings(walk: TreeWalk, families: frozenset[int], report: _Report) -> None:
    """RFC 7208 §4.6.4 void-lookup limit, judged for the families mail is sent from.

    check_host() runs for the connecting (sending) IP, so IPv6 void lookups only
    matter to a sender with IPv6 sending IPs, and the reverse. Over the limit for
    a family in use (IPv4 when no sending IPs are configured) is an error; over
    it only for a family not in use is a warning: it bites if mail starts to go
    out over that family.
    """
    counts = {4: walk.void_lookups_ipv4, 6: walk.void_lookups_ipv6}
    over = {f for f, n in counts.items() if n > MAX_VOID_LOOKUPS}
    if not over:
        return
    in_use = over & families
    family = max(in_use or over, key=lambda f: counts[f])
    name = f"IPv{family}"
    message = (
        f"{counts[family]} lookups return no data when an {name} client is checked; "
        "RFC 7208 allows 2 void lookups"
    )
    if not in_use:
        message += f" (no configured sending IP is {name}: this bites only over {name})"
    report.add(
        "spf.too_many_void_lookups",
        _ERROR if in_use else _WARNING,
        message,
        void_lookups=counts[family],
        limit=MAX_VOID_LOOKUPS,
        family=name,
        void_lookups_ipv4=walk.void_lookups_ipv4,
        void_lookups_ipv6=walk.void_lookups_ipv6,
    )


def _policy_findings(tree: SpfNode, walk: TreeWalk, report: _Report) -> None:
    for problem in walk.problems:
        detail = dict(problem.detail)
        message = _TREE_MESSAGES[problem.code].format(
            domain=problem.domain, root=tree.domain, **detail
        )
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
        ignored = record.unreachable_mechanisms
        if ignored:
            terms = " ".join(m.text for m in ignored[:5])[:200]
            terms += " ..." if len(ignored) > 5 or len(terms) == 200 else ""
            message = f"{domain}: {len(ignored)} term(s) after 'all' are never used: {terms}"
            report.add(
                "spf.terms_after_all",
                _WARNING,
                message,
                domain=domain,
                count=len(ignored),
                terms=terms,
            )
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
    # {domain} is the name the term points at; {root} the domain checked.
    "spf.include_failed": "{term} in {root}'s SPF tree: {reason} at {domain}",
    "spf.mx_too_many_hosts": "{term} in {domain} has {hosts} MX hosts; RFC 7208 allows 10",
    "spf.plus_all": "{domain} has {term}: any host passes SPF as this domain",
    "spf.macro_unresolved": "{term} in {domain} uses macros and cannot be followed statically",
}


async def _check_ips(
    domain: str, dns: DnsClient, policy: SpfPolicy, report: _Report, parser: RecordParser
) -> dict[str, str]:
    sender, helo = f"postmaster@{domain}", policy.helo or domain
    evaluations = await asyncio.gather(
        *(
            check_host(ip, domain, sender, dns=dns, helo=helo, parser=parser)
            for ip in policy.sending_ips
        )
    )
    results: dict[str, str] = {}
    for ip, evaluation in zip(policy.sending_ips, evaluations, strict=True):
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
