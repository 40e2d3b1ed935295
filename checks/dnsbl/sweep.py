"""Check targets against DNSBL zones: one target (``check_dnsbl``) or thousands (``sweep_dnsbl``).

Only applicable zones are queried: IP lists for IPs of a family they serve,
domain lists for domains. A zone known to be unhealthy is not queried; its
results are ``unknown``/``zone_unhealthy``. A listed answer's TXT reason is read
at the same name as the A query.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from checks.dns.client import DnsClient
from checks.dns.outcome import Answer, RdataType
from checks.dnsbl.catalogue import Severity, ZoneKind, ZoneSpec
from checks.dnsbl.selftest import Family, ZoneHealth, family_of
from checks.dnsbl.targets import Target, TargetKind
from checks.dnsbl.verdict import ERROR_ZONE_UNHEALTHY, DnsblResult, Verdict, evaluate_answer
from checks.findings import FINDING_CODES, Finding, FindingSeverity

__all__ = [
    "DnsblPolicy",
    "DnsblTargetResult",
    "applicable_zones",
    "check_dnsbl",
    "dnsbl_findings",
    "sweep_dnsbl",
]

_MAX_REASON = 300
_FINDING_SEVERITY = {
    Severity.CRITICAL: FindingSeverity.CRITICAL,
    Severity.MAJOR: FindingSeverity.ERROR,
    Severity.MINOR: FindingSeverity.WARNING,
    Severity.INFO: FindingSeverity.INFO,
}


@dataclass(frozen=True, slots=True)
class DnsblPolicy:
    """Which zones to ask, and what their last self-test said, by (zone id, family).

    A (zone, family) without a health entry has not been tested and is asked.
    """

    zones: tuple[ZoneSpec, ...]
    health: Mapping[tuple[str, Family], ZoneHealth] = field(default_factory=dict)

    @classmethod
    def with_health(cls, zones: Sequence[ZoneSpec], health: Iterable[ZoneHealth]) -> DnsblPolicy:
        return cls(tuple(zones), {(h.zone, h.family): h for h in health})


@dataclass(frozen=True, slots=True)
class DnsblTargetResult:
    target: Target
    results: tuple[DnsblResult, ...]
    findings: tuple[Finding, ...]


def applicable_zones(target: Target, zones: Sequence[ZoneSpec]) -> tuple[ZoneSpec, ...]:
    if target.kind is TargetKind.DOMAIN:
        return tuple(z for z in zones if z.kind is ZoneKind.DOMAIN)
    version = target.ip_version or 4
    return tuple(z for z in zones if z.applies_to_ip(version))


async def check_dnsbl(target: Target, *, dns: DnsClient, policy: DnsblPolicy) -> DnsblTargetResult:
    """Check one target against every applicable zone of ``policy``."""
    (result,) = await sweep_dnsbl([target], dns=dns, policy=policy)
    return result


async def sweep_dnsbl(
    targets: Sequence[Target],
    *,
    dns: DnsClient,
    policy: DnsblPolicy,
    concurrency: int = 512,
    progress: Callable[[int], None] | None = None,
) -> list[DnsblTargetResult]:
    """Check many targets with a fixed pool of workers (no task per query).

    ``progress`` is called with the number of verdicts completed since the last call.
    """
    plans = [applicable_zones(t, policy.zones) for t in targets]
    slots: list[list[DnsblResult | None]] = [[None] * len(p) for p in plans]
    pairs: Iterator[tuple[int, int]] = (
        (ti, zi) for ti, plan in enumerate(plans) for zi in range(len(plan))
    )
    total = sum(len(p) for p in plans)

    async def worker() -> None:
        for ti, zi in pairs:  # one shared iterator: each pair is taken exactly once
            slots[ti][zi] = await _check_pair(targets[ti], plans[ti][zi], dns, policy.health)
            if progress is not None:
                progress(1)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, total))):
            group.create_task(worker())
    out = []
    for target, row in zip(targets, slots, strict=True):
        results = tuple(r for r in row if r is not None)
        out.append(DnsblTargetResult(target, results, dnsbl_findings(results)))
    return out


async def _check_pair(
    target: Target,
    zone: ZoneSpec,
    dns: DnsClient,
    health: Mapping[tuple[str, Family], ZoneHealth],
) -> DnsblResult:
    zone_health = health.get((zone.id, family_of(zone, target.ip_version)))
    if zone_health is not None and not zone_health.healthy:
        return DnsblResult(zone.id, Verdict.UNKNOWN, error=ERROR_ZONE_UNHEALTHY)
    name = f"{target.query_label}.{zone.query_zone}"
    result = evaluate_answer(zone, await dns.query(name, RdataType.A, rate_key=zone.id))
    if result.verdict is Verdict.LISTED:
        txt = await dns.query(name, RdataType.TXT, rate_key=zone.id)
        if isinstance(txt, Answer) and txt.records:
            result = dataclasses.replace(result, reason=_clean_reason(txt.records))
    return result


def _clean_reason(records: Sequence[str]) -> str:
    text = " / ".join(records)
    printable = "".join(ch if ch.isprintable() else " " for ch in text)
    return printable[:_MAX_REASON]


def dnsbl_findings(results: Sequence[DnsblResult]) -> tuple[Finding, ...]:
    """Findings for listings and for every verdict that could not be told."""
    findings = []
    for r in results:
        if r.verdict is Verdict.LISTED:
            severity = _FINDING_SEVERITY[r.severity or Severity.MAJOR]
            what = "; ".join(dict.fromkeys(r.meanings))
            findings.append(
                Finding(
                    "dnsbl.listed",
                    severity,
                    f"listed on {r.zone}: {what}",
                    {"zone": r.zone, "codes": ",".join(r.codes)},
                )
            )
        elif r.verdict is Verdict.UNKNOWN:
            findings.append(_unknown_finding(r))
    return tuple(findings)


def _unknown_finding(r: DnsblResult) -> Finding:
    detail = {"zone": r.zone, "reason": r.error}
    if r.error == ERROR_ZONE_UNHEALTHY:
        return Finding(
            "dnsbl.zone_unhealthy",
            FindingSeverity.WARNING,
            f"{r.zone} failed its self-test; its verdict is unknown",
            detail,
        )
    code = f"dnsbl.error_code.{r.error}"
    if code in FINDING_CODES:
        return Finding(
            code,
            FindingSeverity.WARNING,
            f"{r.zone} answered with an error code ({r.error}), not a listing",
            detail,
        )
    return Finding(
        "dnsbl.lookup_failed",
        FindingSeverity.WARNING,
        f"{r.zone} could not be asked ({r.error}); the verdict is unknown",
        detail,
    )
