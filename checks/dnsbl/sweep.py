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
    """Check many targets against the applicable zones of ``policy``.

    A :class:`BatchDnsClient` drives its own window of queries; any other
    client is used by a fixed pool of ``concurrency`` workers (no task per
    query either way). ``progress`` is called with the number of verdicts
    completed since its last call.
    """
    sweep = _Sweep(targets, policy, progress)
    if isinstance(dns, BatchDnsClient):
        await sweep.run_batch(dns)
    else:
        await sweep.run_workers(dns, concurrency)
    return sweep.results()


class _Sweep:
    """One sweep's plan (target x applicable zone) and the verdicts filled in so far."""

    def __init__(
        self,
        targets: Sequence[Target],
        policy: DnsblPolicy,
        progress: Callable[[int], None] | None,
    ) -> None:
        self.targets = targets
        self.plans = [applicable_zones(t, policy.zones) for t in targets]
        self.slots: list[list[DnsblResult | None]] = [[None] * len(p) for p in self.plans]
        self.progress = progress
        # Per-zone constants, computed once rather than per verdict.
        self.not_listed = {z.id: DnsblResult(z.id, Verdict.NOT_LISTED) for z in policy.zones}
        self.unhealthy = {
            (h.zone, h.family): DnsblResult(h.zone, Verdict.UNKNOWN, error=ERROR_ZONE_UNHEALTHY)
            for h in policy.health.values()
            if not h.healthy
        }
        self.listed: list[tuple[int, int]] = []

    def pairs(self) -> Iterator[tuple[int, int]]:
        """Target-major order, so consecutive queries spread over the zones."""
        return ((ti, zi) for ti, plan in enumerate(self.plans) for zi in range(len(plan)))

    def name(self, ti: int, zi: int) -> str:
        return f"{self.targets[ti].query_label}.{self.plans[ti][zi].query_zone}"

    def skip_unhealthy(self, ti: int, zi: int) -> bool:
        """Fill in ``zone_unhealthy`` without a query when the zone failed its self-test."""
        zone = self.plans[ti][zi]
        skipped = self.unhealthy.get((zone.id, family_of(zone, self.targets[ti].ip_version)))
        if skipped is None:
            return False
        self.done(ti, zi, skipped)
        return True

    def record_a(self, ti: int, zi: int, outcome: DnsOutcome) -> bool:
        """Record the A outcome; True when it is a listing (whose TXT reason to read)."""
        zone = self.plans[ti][zi]
        if isinstance(outcome, NxDomain | NoData):
            self.done(ti, zi, self.not_listed[zone.id])
            return False
        result = evaluate_answer(zone, outcome)
        listed = result.verdict is Verdict.LISTED
        if listed:
            self.listed.append((ti, zi))
        self.done(ti, zi, result)
        return listed

    def record_txt(self, ti: int, zi: int, outcome: DnsOutcome) -> None:
        result = self.slots[ti][zi]
        if result is not None and isinstance(outcome, Answer) and outcome.records:
            self.slots[ti][zi] = dataclasses.replace(result, reason=_clean_reason(outcome.records))

    def done(self, ti: int, zi: int, result: DnsblResult) -> None:
        self.slots[ti][zi] = result
        if self.progress is not None:
            self.progress(1)

    async def run_batch(self, dns: BatchDnsClient) -> None:
        """The client drives a window of A queries; then TXT for the listings only."""

        def questions() -> Iterator[tuple[tuple[int, int], str, RdataType, str | None]]:
            for ti, zi in self.pairs():
                if not self.skip_unhealthy(ti, zi):
                    yield (ti, zi), self.name(ti, zi), RdataType.A, self.plans[ti][zi].id

        # Each name is asked once per sweep: caching the answers would only cost time.
        def on_a(key: tuple[int, int], outcome: DnsOutcome) -> None:
            self.record_a(*key, outcome)

        await dns.query_many(questions(), on_a, use_cache=False)
        await dns.query_many(
            (
                ((ti, zi), self.name(ti, zi), RdataType.TXT, self.plans[ti][zi].id)
                for ti, zi in self.listed
            ),
            lambda k, o: self.record_txt(*k, o),
            use_cache=False,
        )

    async def run_workers(self, dns: DnsClient, concurrency: int) -> None:
        """Any DnsClient: a fixed pool of workers, one query each at a time."""
        pairs = self.pairs()
        total = sum(len(p) for p in self.plans)

        async def worker() -> None:
            for ti, zi in pairs:  # one shared iterator: each pair is taken exactly once
                if self.skip_unhealthy(ti, zi):
                    continue
                rate_key = self.plans[ti][zi].id
                name = self.name(ti, zi)
                outcome = await dns.query(name, RdataType.A, rate_key=rate_key)
                if self.record_a(ti, zi, outcome):
                    txt = await dns.query(name, RdataType.TXT, rate_key=rate_key)
                    self.record_txt(ti, zi, txt)

        async with asyncio.TaskGroup() as group:
            for _ in range(max(1, min(concurrency, total))):
                group.create_task(worker())

    def results(self) -> list[DnsblTargetResult]:
        out = []
        for target, row in zip(self.targets, self.slots, strict=True):
            results = tuple(r for r in row if r is not None)
            out.append(DnsblTargetResult(target, results, dnsbl_findings(results)))
        return out


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
