"""``check_dmarc``: the thin async shell over discovery, record, policy, reporting and alignment.

It performs the lookups (the tree walk, the existence test that picks sp or
np, the external report authorisations, the identities' own tree walks) and
leaves every decision to the sans-I/O modules beside it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from checks.dmarc.alignment import Identity, evaluate_alignment
from checks.dmarc.discovery import (
    StepOutcome,
    TreeWalk,
    organizational_domain,
    policy_domain,
    tree_walk,
)
from checks.dmarc.policy import EffectivePolicy, effective_policy, policy_findings
from checks.dmarc.record import DmarcRecord, Policy, is_dmarc_record
from checks.dmarc.report_uri import authorization_name, needs_authorization
from checks.dns import Answer, DnsClient, NoData, NxDomain, RdataType, Unknown
from checks.domains import registered_domain, to_a_label
from checks.findings import Finding, FindingSeverity
from checks.status import CheckStatus, status_of

__all__ = ["DmarcPolicy", "DmarcResult", "check_dmarc"]


@dataclass(frozen=True, slots=True)
class DmarcPolicy:
    """The configured sending identities: RFC5321.MailFrom domains and DKIM d= domains."""

    envelope_domains: tuple[str, ...] = ()
    dkim_domains: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DmarcResult:
    """The DMARC verdict for one domain.

    ``policy_domain`` is where the applied record was found; ``organizational_domain``
    is the RFC 9989 tree-walk one, ``psl_organizational_domain`` the RFC 7489 one.
    ``policy`` applies to ``domain`` itself (p, or sp/np when inherited);
    ``subdomain_policy``/``nonexistent_policy`` apply to its subdomains.
    ``alignment`` maps "spf:<domain>"/"dkim:<domain>" to aligned, not_aligned or
    unknown. ``tree_walk`` lists the _dmarc names queried, in order.
    """

    domain: str
    status: CheckStatus
    record: str | None = None
    policy_domain: str | None = None
    organizational_domain: str | None = None
    psl_organizational_domain: str | None = None
    policy: str | None = None
    subdomain_policy: str | None = None
    nonexistent_policy: str | None = None
    testing: bool = False
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    alignment: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    tree_walk: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()


async def check_dmarc(domain: str, *, dns: DnsClient, policy: DmarcPolicy) -> DmarcResult:
    """Discover, parse and evaluate the DMARC policy of ``domain`` (RFC 9989, RFC 7489 compat).

    Raises:
        DomainError: ``domain`` or a configured identity is not a valid domain name.
    """
    name = to_a_label(domain)
    identities = _identities(policy)
    walk = await tree_walk(name, dns)
    psl_org = registered_domain(name)
    base = DmarcResult(name, CheckStatus.UNKNOWN, psl_organizational_domain=psl_org)
    base = replace(base, tree_walk=walk.query_names, findings=_walk_findings(walk))
    if walk.failed is not None:
        return _walk_failed(base, walk)
    org = organizational_domain(walk)
    base = replace(base, organizational_domain=org)
    if psl_org is not None and org != psl_org:
        base = _add(base, _org_differs(org, psl_org))
    where = policy_domain(walk, org)
    if where is None:
        return _settle(_add(base, _missing(name)))
    return await _evaluate(base, walk, where, identities, dns)


async def _evaluate(
    base: DmarcResult,
    walk: TreeWalk,
    where: str,
    identities: tuple[Identity, ...],
    dns: DnsClient,
) -> DmarcResult:
    name, org = base.domain, base.organizational_domain or base.domain
    record = walk.records[where]
    subdomains = _subdomain_policy(walk, org)
    result = replace(
        _add(base, *record.findings),
        record=record.text,
        policy_domain=where,
        subdomain_policy=subdomains.sp.value if subdomains else None,
        nonexistent_policy=subdomains.np.value if subdomains else None,
        testing=record.testing,
        rua=record.rua,
        ruf=record.ruf,
    )
    if where == name and name != org and (record.sp or record.np):
        result = _add(result, _subdomain_tags_ignored(name, org))
    effective = effective_policy(record)
    unknown = False
    if effective is not None:
        applied, existence = await _applied_policy(name, where, effective, dns)
        result = _add(result, *existence)
        unknown = applied is None
        if applied is not None:
            result = _add(
                replace(result, policy=applied.value), *policy_findings(applied, record, subdomains)
            )
    result = _add(result, *await _authorizations(record, where, dns))
    alignment, alignment_findings = await _alignment(name, org, record, identities, dns)
    result = _add(replace(result, alignment=MappingProxyType(dict(alignment))), *alignment_findings)
    # Another identity's failed walk leaves its alignment entry unknown, not the policy
    # this record publishes (dmarc.alignment_unknown is information, not a status).
    return _settle(result, unknown=unknown)


def _add(result: DmarcResult, *findings: Finding) -> DmarcResult:
    return replace(result, findings=(*result.findings, *findings))


def _settle(result: DmarcResult, *, unknown: bool = False) -> DmarcResult:
    return replace(result, status=status_of(result.findings, unknown=unknown))


def _walk_failed(base: DmarcResult, walk: TreeWalk) -> DmarcResult:
    # A record at the domain itself is settled by the first query, so it is reported;
    # the organisational domain (hence inherited policy and alignment) stays unknown.
    own = walk.records.get(base.domain)
    if own is None:
        return _settle(base, unknown=True)
    effective = effective_policy(own)
    result = replace(
        _add(base, *own.findings),
        record=own.text,
        policy_domain=base.domain,
        policy=effective.p.value if effective else None,
        testing=own.testing,
        rua=own.rua,
        ruf=own.ruf,
    )
    return _settle(result, unknown=True)


def _identities(policy: DmarcPolicy) -> tuple[Identity, ...]:
    found: dict[str, Identity] = {}
    for domain in policy.envelope_domains:
        spf = Identity("spf", to_a_label(domain))
        found.setdefault(spf.key, spf)
    for domain in policy.dkim_domains:
        dkim = Identity("dkim", to_a_label(domain))
        found.setdefault(dkim.key, dkim)
    return tuple(found.values())


def _subdomain_policy(walk: TreeWalk, org: str) -> EffectivePolicy | None:
    # Subdomains have no record of their own: they inherit from the org domain, else the PSD.
    records = walk.records
    record = records.get(org) or next((r for r in records.values() if r.psd == "y"), None)
    return effective_policy(record) if record is not None else None


async def _applied_policy(
    name: str, where: str, effective: EffectivePolicy, dns: DnsClient
) -> tuple[Policy | None, tuple[Finding, ...]]:
    """p at the policy domain itself; for a subdomain sp if it exists, np if not.

    "Non-existent" (RFC 9989 via RFC 8020) is an NXDOMAIN answer for the domain
    itself: A is asked first; AAAA and MX only if the previous lookup failed.
    No lookup is made when sp and np are the same.
    """
    if where == name:
        return effective.p, ()
    if effective.sp == effective.np:
        return effective.sp, ()
    failure: Unknown | None = None
    for rdtype in (RdataType.A, RdataType.AAAA, RdataType.MX):
        outcome = await dns.query(name, rdtype)
        if isinstance(outcome, NxDomain):
            return effective.np, ()
        if isinstance(outcome, Answer | NoData):
            return effective.sp, ()
        failure = outcome
    assert failure is not None
    return None, (_lookup_failed(failure.name, failure.reason.value, "domain existence (sp/np)"),)


async def _authorizations(record: DmarcRecord, where: str, dns: DnsClient) -> list[Finding]:
    """Look up the external-destination authorisation of each rua/ruf domain, concurrently."""
    wanted: dict[tuple[str, str], str] = {}
    for tag, uris in (("rua", record.rua_uris), ("ruf", record.ruf_uris)):
        for uri in uris:
            if uri.domain is not None and needs_authorization(where, uri.domain):
                wanted.setdefault((tag, uri.domain), authorization_name(where, uri.domain))
    outcomes = await asyncio.gather(*(dns.query(q, RdataType.TXT) for q in wanted.values()))
    findings: list[Finding] = []
    for (tag, destination), outcome in zip(wanted, outcomes, strict=True):
        finding = _authorization_finding(tag, destination, where, outcome)
        if finding is not None:
            findings.append(finding)
    return findings


def _authorization_finding(
    tag: str, destination: str, where: str, outcome: Answer | NxDomain | NoData | Unknown
) -> Finding | None:
    detail: dict[str, str | int | bool | None] = {
        "tag": tag,
        "destination": destination,
        "name": authorization_name(where, destination),
    }
    if isinstance(outcome, Unknown):
        # Warning, not unknown status: the worst this lookup could show is a warning
        # (unauthorised), so "warn" bounds it without hiding a failure seen elsewhere.
        return Finding(
            "dmarc.report_auth_unknown",
            FindingSeverity.WARNING,
            f"could not check whether {destination} accepts {tag} reports for {where} "
            f"({outcome.reason.value})",
            {**detail, "reason": outcome.reason.value},
        )
    records = outcome.records if isinstance(outcome, Answer) else ()
    if any(is_dmarc_record(text) for text in records):
        return None
    return Finding(
        f"dmarc.{tag}_unauthorized",
        FindingSeverity.WARNING,
        f"{destination} does not authorise {tag} reports for {where}: no v=DMARC1 TXT at "
        f"{detail['name']}",
        detail,
    )


async def _alignment(
    name: str, org: str, record: DmarcRecord, identities: tuple[Identity, ...], dns: DnsClient
) -> tuple[Mapping[str, str], tuple[Finding, ...]]:
    """Each identity's alignment; relaxed mode needs the identity's own tree walk."""
    modes = {"spf": record.aspf, "dkim": record.adkim}
    domains = sorted({i.domain for i in identities if i.domain != name and modes[i.kind] == "r"})
    walks = await asyncio.gather(*(tree_walk(domain, dns) for domain in domains))
    orgs: dict[str, str | None] = {name: org}
    failures: list[Finding] = []
    for domain, walk in zip(domains, walks, strict=True):
        failed = walk.failed
        orgs[domain] = organizational_domain(walk) if failed is None else None
        if failed is not None:
            failures.append(
                Finding(
                    "dmarc.alignment_unknown",
                    FindingSeverity.INFO,
                    f"alignment of {domain}: lookup of {failed.query_name} failed "
                    f"({failed.reason or ''}); its alignment is unknown",
                    {"name": failed.query_name, "reason": failed.reason or "", "domain": domain},
                )
            )
    results, findings = evaluate_alignment(name, org, identities, modes=modes, orgs=orgs)
    return results, (*findings, *failures)


def _walk_findings(walk: TreeWalk) -> tuple[Finding, ...]:
    findings: list[Finding] = []
    for step in walk.steps:
        if step.outcome is StepOutcome.MULTIPLE:
            findings.append(
                Finding(
                    "dmarc.multiple_records",
                    FindingSeverity.ERROR,
                    f"several v=DMARC1 records at {step.query_name}: receivers discard them all",
                    {"name": step.query_name},
                )
            )
        elif step.outcome is StepOutcome.FAILED:
            findings.append(_lookup_failed(step.query_name, step.reason or "", "tree walk"))
        if step.outcome is StepOutcome.NONE and step.discarded:
            text = step.discarded[0]
            shown = text if len(text) <= 120 else text[:117] + "..."
            findings.append(
                Finding(
                    "dmarc.not_a_record",
                    FindingSeverity.ERROR,
                    f"{step.query_name} has a TXT record meant as DMARC that is none: {shown!r} "
                    "(a record starts with 'v=DMARC1;'); receivers ignore it",
                    {"name": step.query_name, "record": shown},
                )
            )
    return tuple(findings)


def _lookup_failed(name: str, reason: str, purpose: str) -> Finding:
    return Finding(
        "dmarc.lookup_failed",
        FindingSeverity.WARNING,
        f"{purpose}: lookup of {name} failed ({reason}); the DMARC status is unknown",
        {"name": name, "reason": reason, "purpose": purpose},
    )


def _missing(name: str) -> Finding:
    return Finding(
        "dmarc.missing",
        FindingSeverity.ERROR,
        f"no DMARC policy record applies to {name}",
        {"domain": name},
    )


def _org_differs(org: str, psl_org: str) -> Finding:
    return Finding(
        "dmarc.org_domain_differs",
        FindingSeverity.INFO,
        f"the RFC 9989 tree walk finds organisational domain {org}, the RFC 7489 Public "
        f"Suffix List {psl_org}",
        {"organizational_domain": org, "psl_organizational_domain": psl_org},
    )


def _subdomain_tags_ignored(name: str, org: str) -> Finding:
    return Finding(
        "dmarc.subdomain_policy_ignored",
        FindingSeverity.INFO,
        f"sp/np at {name} have no effect: subdomains of {name} inherit from {org}",
        {"domain": name, "organizational_domain": org},
    )
