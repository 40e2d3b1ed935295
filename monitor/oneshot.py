"""One-shot runs for the CLI: self-test the zones, then check the targets."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence

from checks.dns import Nameserver, ResolverConfig, StubResolver
from checks.dnsbl import (
    DnsblPolicy,
    Target,
    ZoneHealth,
    ZoneSpec,
    applicable_zones,
    self_test_zone,
    sweep_dnsbl,
)
from monitor.config import DnsConfig
from monitor.report import CheckReport

__all__ = ["build_resolver", "run_check", "run_self_tests"]


def build_resolver(
    dns: DnsConfig, nameservers: Sequence[str] | None = None, *, zones: Sequence[ZoneSpec] = ()
) -> StubResolver:
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


async def run_check(
    targets: Sequence[Target],
    zones: Sequence[ZoneSpec],
    resolver: StubResolver,
    *,
    catalogue_version: str,
    concurrency: int,
    progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """Self-test the zones some target needs, then sweep every target."""
    used_ids: set[str] = set()
    for sample in {(t.kind, t.ip_version): t for t in targets}.values():
        used_ids.update(z.id for z in applicable_zones(sample, zones))
    used = [z for z in zones if z.id in used_ids]
    health = await run_self_tests(used, resolver)
    policy = DnsblPolicy.with_health(zones, health)
    results = await sweep_dnsbl(
        targets, dns=resolver, policy=policy, concurrency=concurrency, progress=progress
    )
    return CheckReport(
        checked_at=dt.datetime.now(dt.UTC),
        catalogue_version=catalogue_version,
        health=health,
        targets=tuple(results),
    )
