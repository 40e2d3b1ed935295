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

from checks.dns.client import BatchDnsClient, DnsClient
from checks.dns.outcome import Answer, DnsOutcome, NoData, NxDomain, RdataType
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
    # Per-zone constants, computed once rather than per verdict.
    not_listed = {z.id: DnsblResult(z.id, Verdict.NOT_LISTED) for z in policy.zones}
    unhealthy: _Unhealthy = {
        (h.zone, h.family): DnsblResult(h.zone, Verdict.UNKNOWN, error=ERROR_ZONE_UNHEALTHY)
        for h in policy.health.values()
        if not h.healthy
    }

    if isinstance(dns, BatchDnsClient):
        await _sweep_batch(dns, targets, plans, slots, not_listed, unhealthy, progress)
    else:
        await _sweep_workers(
            dns, targets, plans, slots, not_listed, unhealthy, progress, concurrency
        )
    out = []
    for target, row in zip(targets, slots, strict=True):
        results = tuple(r for r in row if r is not None)
        out.append(DnsblTargetResult(target, results, dnsbl_findings(results)))
    return out


_Slots = list[list[DnsblResult | None]]
_Plans = list[tuple[ZoneSpec, ...]]
_Unhealthy = dict[tuple[str, Family], DnsblResult]


def _pairs(plans: _Plans) -> Iterator[tuple[int, int]]:
    return ((ti, zi) for ti, plan in enumerate(plans) for zi in range(len(plan)))


async def _sweep_batch(
    dns: BatchDnsClient,
    targets: Sequence[Target],
    plans: _Plans,
    slots: _Slots,
    not_listed: Mapping[str, DnsblResult],
    unhealthy: _Unhealthy,
    progress: Callable[[int], None] | None,
) -> None:
    """The fast path: the client drives a window of A queries; TXT only for listings."""
    listed: list[tuple[int, int]] = []

    def questions() -> Iterator[tuple[tuple[int, int], str, RdataType, str | None]]:
        for ti, zi in _pairs(plans):
            zone, target = plans[ti][zi], targets[ti]
            skipped = unhealthy.get((zone.id, family_of(zone, target.ip_version)))
            if skipped is not None:
                slots[ti][zi] = skipped
                if progress is not None:
                    progress(1)
                continue
            yield (ti, zi), f"{target.query_label}.{zone.query_zone}", RdataType.A, zone.id

    def on_a(key: tuple[int, int], outcome: DnsOutcome) -> None:
        ti, zi = key
        zone = plans[ti][zi]
        if isinstance(outcome, NxDomain | NoData):
            slots[ti][zi] = not_listed[zone.id]
        else:
            result = evaluate_answer(zone, outcome)
            slots[ti][zi] = result
            if result.verdict is Verdict.LISTED:
                listed.append(key)
        if progress is not None:
            progress(1)

    def on_txt(key: tuple[int, int], outcome: DnsOutcome) -> None:
        ti, zi = key
        result = slots[ti][zi]
        if result is not None and isinstance(outcome, Answer) and outcome.records:
            slots[ti][zi] = dataclasses.replace(result, reason=_clean_reason(outcome.records))

    # Each name is asked once per sweep: caching the answers would only cost time.
    await dns.query_many(questions(), on_a, use_cache=False)
    await dns.query_many(
        (
            (
                key,
                f"{targets[key[0]].query_label}.{plans[key[0]][key[1]].query_zone}",
                RdataType.TXT,
                plans[key[0]][key[1]].id,
            )
            for key in listed
        ),
        on_txt,
        use_cache=False,
    )


async def _sweep_workers(
    dns: DnsClient,
    targets: Sequence[Target],
    plans: _Plans,
    slots: _Slots,
    not_listed: Mapping[str, DnsblResult],
    unhealthy: _Unhealthy,
    progress: Callable[[int], None] | None,
    concurrency: int,
) -> None:
    """Any DnsClient: a fixed pool of workers, one query each at a time."""
    pairs = _pairs(plans)
    total = sum(len(p) for p in plans)

    async def check_pair(target: Target, zone: ZoneSpec) -> DnsblResult:
        skipped = unhealthy.get((zone.id, family_of(zone, target.ip_version)))
        if skipped is not None:
            return skipped
        name = f"{target.query_label}.{zone.query_zone}"
        outcome = await dns.query(name, RdataType.A, rate_key=zone.id)
        if isinstance(outcome, NxDomain | NoData):
            return not_listed[zone.id]
        result = evaluate_answer(zone, outcome)
        if result.verdict is Verdict.LISTED:
            txt = await dns.query(name, RdataType.TXT, rate_key=zone.id)
            if isinstance(txt, Answer) and txt.records:
                result = dataclasses.replace(result, reason=_clean_reason(txt.records))
        return result

    async def worker() -> None:
        for ti, zi in pairs:  # one shared iterator: each pair is taken exactly once
            slots[ti][zi] = await check_pair(targets[ti], plans[ti][zi])
            if progress is not None:
                progress(1)

    async with asyncio.TaskGroup() as group:
        for _ in range(max(1, min(concurrency, total))):
            group.create_task(worker())


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
