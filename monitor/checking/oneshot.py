"""One-shot runs for the CLI: self-test the zones, then check the targets."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from checks.dns import Nameserver, ResolverConfig, StubResolver
from checks.dnsbl import (
    DnsblPolicy,
    DnsblTargetResult,
    Target,
    ZoneHealth,
    ZoneSpec,
    applicable_zones,
    self_test_zone,
    sweep_dnsbl,
)
from checks.host import PtrResult
from monitor.checking.authcheck import DomainAuth, DomainPlan, run_domain_checks, run_ptr_checks
from monitor.checking.report import CheckReport
from monitor.config import DnsConfig

__all__ = ["CheckPlan", "build_resolver", "run_check", "run_self_tests"]


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


async def run_self_tests(
    zones: Sequence[ZoneSpec], resolver: StubResolver
) -> tuple[ZoneHealth, ...]:
    tested = await asyncio.gather(*(self_test_zone(z, dns=resolver) for z in zones))
    return tuple(h for per_zone in tested for h in per_zone)


@dataclass(frozen=True, slots=True)
class CheckPlan:
    """What one ``check`` run does: DNSBL zones for the targets, auth checks for domains, PTRs."""

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
    """Self-test the zones the targets need and sweep them, while the auth checks run."""
    auth_dns = auth_resolver or resolver

    async def dnsbl() -> tuple[tuple[ZoneHealth, ...], list[DnsblTargetResult]]:
        used_ids: set[str] = set()
        for sample in {(t.kind, t.ip_version): t for t in plan.targets}.values():
            used_ids.update(z.id for z in applicable_zones(sample, plan.zones))
        health = await run_self_tests([z for z in plan.zones if z.id in used_ids], resolver)
        results = await sweep_dnsbl(
            plan.targets,
            dns=resolver,
            policy=DnsblPolicy.with_health(plan.zones, health),
            concurrency=concurrency,
            progress=progress,
        )
        return health, results

    async def auth() -> tuple[dict[str, PtrResult], dict[str, DomainAuth]]:
        ptr = await run_ptr_checks(plan.ptr_ips, dns=auth_dns)
        return ptr, await run_domain_checks(plan.domains, dns=auth_dns, ptr=ptr)

    (health, results), (ptr, domains) = await asyncio.gather(dnsbl(), auth())
    return CheckReport(
        checked_at=dt.datetime.now(dt.UTC),
        catalogue_version=catalogue_version,
        health=health,
        targets=tuple(results),
        auth=domains,
        ptr=ptr,
    )
