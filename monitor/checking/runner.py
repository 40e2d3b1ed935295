"""Running checks: resolvers from config, zone self-tests, the DNSBL sweep and the table of
per-target checks, for the ``check`` command and the daemon's jobs alike.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from checks.dns import DnsClient, Nameserver, ResolverConfig, StubResolver
from checks.dnsbl import (
    DnsblPolicy,
    DnsblTargetResult,
    Target,
    TargetKind,
    ZoneHealth,
    ZoneSpec,
    applicable_zones,
    self_test_zone,
    sweep_dnsbl,
)
from checks.host import PtrResult
from monitor.checking.plans import DomainPlan
from monitor.checking.report import CheckReport
from monitor.checking.states import CheckName
from monitor.checking.table import CheckContext, CheckSpec, checks_for
from monitor.config import DnsConfig

__all__ = [
    "CheckPlan",
    "TargetResults",
    "build_resolver",
    "run_check",
    "run_self_tests",
    "run_table_checks",
    "zones_in_use",
]

# target -> check name -> result (a tuple for a "many" check)
TargetResults = dict[str, dict[CheckName, object]]


def build_resolver(dns: DnsConfig, nameservers: Sequence[str] | None = None) -> StubResolver:
    """A resolver from a config profile; ``nameservers`` (``--nameserver``) replaces its list.

    Rate limits are keyed by zone id (the DNSBL sweep passes the id as rate key).
    """
    servers = tuple(Nameserver.parse(ns) for ns in (nameservers or dns.nameservers))
    return StubResolver(
        ResolverConfig(
            nameservers=servers,
            timeout=dns.timeout,
            attempts=dns.attempts,
            max_in_flight=dns.max_in_flight,
            cache_entries=dns.cache_entries,
            rate_limits=dict(dns.rate_limits),
        )
    )


async def run_self_tests(zones: Sequence[ZoneSpec], dns: DnsClient) -> tuple[ZoneHealth, ...]:
    """RFC 5782 §5 test points of every zone, concurrently."""
    tested = await asyncio.gather(*(self_test_zone(z, dns=dns) for z in zones))
    return tuple(h for per_zone in tested for h in per_zone)


def zones_in_use(targets: Iterable[Target], zones: Sequence[ZoneSpec]) -> list[ZoneSpec]:
    """The zones that apply to at least one of ``targets`` (by kind and IP version)."""
    used: set[str] = set()
    for sample in {(t.kind, t.ip_version): t for t in targets}.values():
        used.update(z.id for z in applicable_zones(sample, zones))
    return [z for z in zones if z.id in used]


async def run_table_checks(
    ips: Sequence[str],
    domains: Sequence[DomainPlan],
    *,
    dns: DnsClient,
    names: frozenset[CheckName] | None = None,
) -> TargetResults:
    """The table's checks for IPs, then for domains (whose scorecards read the IPs' PTRs).

    Each target's checks run concurrently, in waves: a check waits for the ones named in
    its ``after`` when they are among those run. ``names`` narrows the table.
    """
    ip_specs = checks_for(TargetKind.IP, names)
    unique = list(dict.fromkeys(ips))
    found: TargetResults = {}
    ip_results = await asyncio.gather(
        *(_run_target(ip, ip_specs, CheckContext(ip, dns)) for ip in unique)
    )
    found.update(zip(unique, ip_results, strict=True))
    ptr: dict[str, PtrResult] = {
        ip: r[CheckName.PTR]  # type: ignore[misc]  # the PTR entry's result type
        for ip, r in found.items()
        if CheckName.PTR in r
    }
    domain_specs = checks_for(TargetKind.DOMAIN, names)
    domain_results = await asyncio.gather(
        *(
            _run_target(p.domain, domain_specs, CheckContext(p.domain, dns, plan=p, ptr=ptr))
            for p in domains
        )
    )
    found.update(zip((p.domain for p in domains), domain_results, strict=True))
    return found


async def _run_target(
    target: str, specs: Sequence[CheckSpec[object]], ctx: CheckContext
) -> dict[CheckName, object]:
    done: dict[CheckName, object] = {}
    chosen = {s.name for s in specs}
    pending = list(specs)
    while pending:
        ready = [s for s in pending if all(a in done or a not in chosen for a in s.after)]
        assert ready, f"check dependencies form a cycle: {[s.name for s in pending]}"
        wave = CheckContext(ctx.target, ctx.dns, ctx.plan, dict(done), ctx.ptr)
        values = await asyncio.gather(*(s.run(wave) for s in ready))
        done.update(zip((s.name for s in ready), values, strict=True))
        pending = [s for s in pending if s.name not in done]
    return done


@dataclass(frozen=True, slots=True)
class CheckPlan:
    """What one ``check`` run does: DNSBL zones for the targets, table checks for domains, PTRs.

    ``ptr_ips`` are the IPs whose PTR is checked: the IP targets and the domains' sending
    IPs (their PTRs feed the domains' scorecards).
    """

    targets: tuple[Target, ...]
    zones: tuple[ZoneSpec, ...]
    domains: tuple[DomainPlan, ...] = ()
    ptr_ips: tuple[str, ...] = ()


async def run_check(
    plan: CheckPlan,
    resolver: StubResolver,
    *,
    auth_resolver: StubResolver | None = None,
    catalogue_version: str,
    concurrency: int,
    progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """Self-test the zones the targets need and sweep them, while the table's checks run."""
    auth_dns = auth_resolver or resolver

    async def dnsbl() -> tuple[tuple[ZoneHealth, ...], list[DnsblTargetResult]]:
        health = await run_self_tests(zones_in_use(plan.targets, plan.zones), resolver)
        results = await sweep_dnsbl(
            plan.targets,
            dns=resolver,
            policy=DnsblPolicy.with_health(plan.zones, health),
            concurrency=concurrency,
            progress=progress,
        )
        return health, results

    (health, swept), results = await asyncio.gather(
        dnsbl(), run_table_checks(plan.ptr_ips, plan.domains, dns=auth_dns)
    )
    return CheckReport(
        checked_at=dt.datetime.now(dt.UTC),
        catalogue_version=catalogue_version,
        health=health,
        targets=tuple(swept),
        results=_frozen(results),
    )


def _frozen(results: TargetResults) -> Mapping[str, Mapping[CheckName, object]]:
    return {target: dict(r) for target, r in results.items()}
