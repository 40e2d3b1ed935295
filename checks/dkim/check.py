"""The DKIM check: fetch each configured selector's key record and evaluate it.

There is no selector discovery in DKIM, so the selectors come from the configuration.
The async shell only performs lookups; :func:`evaluate_selector` and
:func:`flag_ed25519_only` decide.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from checks.dkim.record import evaluate_key_record
from checks.dns import (
    Answer,
    DnsClient,
    DnsOutcome,
    NoData,
    NxDomain,
    RdataType,
    Unknown,
    UnknownReason,
)
from checks.domains import to_a_label
from checks.findings import Finding, FindingSeverity
from checks.status import CheckStatus, status_of

__all__ = [
    "DkimPolicy",
    "DkimResult",
    "check_dkim",
    "evaluate_selector",
    "flag_ed25519_only",
    "key_record_name",
]

# RFC 6376 §3.1: a selector is one or more dot-separated labels (letters, digits, hyphens;
# underscores tolerated because DNS allows them and some providers use them).
_SELECTOR = re.compile(
    r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*"
)


@dataclass(frozen=True, slots=True)
class DkimPolicy:
    """The selectors to check for a domain.

    Raises:
        ValueError: a selector that is not a dot-separated list of DNS labels.
    """

    selectors: tuple[str, ...]

    def __post_init__(self) -> None:
        bad = [s for s in self.selectors if not _SELECTOR.fullmatch(s.lower())]
        if bad:
            raise ValueError(f"invalid DKIM selector(s): {', '.join(map(repr, bad))}")


@dataclass(frozen=True, slots=True)
class DkimResult:
    """One selector's key record: ``record`` as published (TXT strings joined), the key it
    holds, and ``cname_chain``, the aliases followed to reach it (e.g. into an ESP's zone).

    ``key_type`` is the declared k= type when recognised ("rsa" or "ed25519"); ``key_bits``
    is set only when the key parsed: the RSA modulus size, or 256 for Ed25519 (the curve
    size, as dkimpy reports it; size thresholds apply to RSA only).
    """

    selector: str
    status: CheckStatus
    record: str | None
    key_type: str | None
    key_bits: int | None
    testing: bool
    cname_chain: tuple[str, ...]
    findings: tuple[Finding, ...]


def key_record_name(selector: str, domain: str) -> str:
    """RFC 6376 §3.6.2.1: the key record lives at ``<selector>._domainkey.<domain>``."""
    return f"{selector.lower()}._domainkey.{domain}"


async def check_dkim(domain: str, *, dns: DnsClient, policy: DkimPolicy) -> tuple[DkimResult, ...]:
    """One result per configured selector, in configuration order.

    Raises:
        DomainError: ``domain`` is not a valid domain name.
    """
    name = to_a_label(domain)
    results = await asyncio.gather(
        *(_check_selector(selector, name, dns) for selector in policy.selectors)
    )
    return flag_ed25519_only(results)


async def _check_selector(selector: str, domain: str, dns: DnsClient) -> DkimResult:
    name = key_record_name(selector, domain)
    outcome = await dns.query(name, RdataType.TXT)
    dangling: str | None = None
    if isinstance(outcome, NxDomain | NoData):
        # The client drops the chain on a negative answer; ask for the alias itself so that
        # a CNAME into an ESP zone whose target is gone is reported as such.
        alias = await dns.query(name, RdataType.CNAME)
        if isinstance(alias, Answer) and alias.records:
            dangling = alias.records[0].rstrip(".").lower()
    return evaluate_selector(selector, outcome, dangling_cname=dangling)


def evaluate_selector(
    selector: str, outcome: DnsOutcome, *, dangling_cname: str | None = None
) -> DkimResult:
    """The result for one selector from the TXT lookup's outcome (sans-I/O)."""
    chain = outcome.cname_chain if isinstance(outcome, Answer) else ()
    if isinstance(outcome, Unknown) and outcome.reason is UnknownReason.CNAME_LOOP:
        # Every answer came: the zone's CNAMEs loop (or run on too long). Not "could not
        # tell": no receiver can fetch the key either.
        finding = Finding(
            "dkim.cname_loop",
            FindingSeverity.ERROR,
            f"{outcome.name}: its CNAMEs never end in a record ({outcome.detail or 'a loop'})",
            {"reason": str(outcome.reason)},
        )
        return _result(selector, None, (finding,), chain)
    if isinstance(outcome, Unknown):
        finding = Finding(
            "dkim.lookup_failed",
            FindingSeverity.WARNING,
            f"{outcome.name}: the key record could not be fetched ({outcome.reason})",
            {"reason": str(outcome.reason)},
        )
        return _result(selector, None, (finding,), chain, unknown=True)
    if isinstance(outcome, NxDomain | NoData):
        what = "does not exist" if isinstance(outcome, NxDomain) else "has no TXT record"
        message = f"{outcome.name} {what}: no DKIM key for selector {selector}"
        if dangling_cname is not None:
            message += f" (it is a CNAME to {dangling_cname}, which has no key record)"
        finding = Finding(
            "dkim.missing",
            FindingSeverity.ERROR,
            message,
            {"nxdomain": isinstance(outcome, NxDomain), "cname_target": dangling_cname},
        )
        dangling_chain = (dangling_cname,) if dangling_cname is not None else ()
        return _result(selector, None, (finding,), dangling_chain)
    if len(outcome.records) > 1:
        finding = Finding(
            "dkim.multiple_records",
            FindingSeverity.ERROR,
            f"{outcome.name} has {len(outcome.records)} TXT records; exactly one is allowed",
            {"count": len(outcome.records)},
        )
        return _result(selector, None, (finding,), chain)
    record = outcome.records[0]
    key_type, key_bits, findings = evaluate_key_record(record)
    return _result(selector, record, findings, chain, key_type=key_type, key_bits=key_bits)


def _result(
    selector: str,
    record: str | None,
    findings: tuple[Finding, ...],
    chain: tuple[str, ...],
    *,
    key_type: str | None = None,
    key_bits: int | None = None,
    unknown: bool = False,
) -> DkimResult:
    return DkimResult(
        selector=selector,
        status=status_of(findings, unknown=unknown),
        record=record,
        key_type=key_type,
        key_bits=key_bits,
        testing=any(f.code == "dkim.testing" for f in findings),
        cname_chain=chain,
        findings=findings,
    )


def flag_ed25519_only(results: Sequence[DkimResult]) -> tuple[DkimResult, ...]:
    """Add ``dkim.ed25519_only`` to usable Ed25519 selectors when no selector has a usable
    RSA key: receivers that do not verify Ed25519 (RFC 8463 is not deployed everywhere) would
    see the mail as unsigned. Nothing is added while any selector's result is unknown."""
    if any(r.status is CheckStatus.UNKNOWN for r in results):
        return tuple(results)
    if any(
        r.key_type == "rsa" and r.key_bits and r.status is not CheckStatus.FAIL for r in results
    ):
        return tuple(results)
    flagged = []
    for result in results:
        if result.key_type == "ed25519" and result.key_bits is not None:
            finding = Finding(
                "dkim.ed25519_only",
                FindingSeverity.WARNING,
                f"selector {result.selector} has an Ed25519 key and no configured selector "
                "has a usable RSA key: dual-sign with RSA",
                {},
            )
            findings = (*result.findings, finding)
            result = replace(result, findings=findings, status=status_of(findings))
        flagged.append(result)
    return tuple(flagged)
