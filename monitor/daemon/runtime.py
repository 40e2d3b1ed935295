"""What one configuration means for the running daemon: this replica's targets, zones,
domain plans and resolvers (``Runtime``), built whole and swapped atomically on reload.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass

from checks.dns import StubResolver
from checks.dnsbl import Target, TargetKind, ZoneSpec, parse_target
from checks.dnsbl.catalogue import Catalogue
from monitor.checking.plans import DomainPlan
from monitor.checking.runner import build_resolver
from monitor.checking.zones import select_zones
from monitor.config import Config, parse_duration
from monitor.daemon.sharding import Shard, parse_shard
from monitor.model.alerts import AlertPolicy
from monitor.store.rates import VolumeGuard

__all__ = ["Plan", "Runtime", "build_plan", "build_runtime"]


@dataclass(frozen=True, slots=True)
class Plan:
    """This replica's share of the work: targets, domains and IPs whose hash it owns."""

    shard: Shard
    targets: tuple[Target, ...]
    zones: tuple[ZoneSpec, ...]
    domains: tuple[DomainPlan, ...]
    ptr_ips: tuple[str, ...]
    all_targets: frozenset[str]  # every configured target, owned or not
    all_domains: Mapping[str, DomainPlan]  # every configured domain's plan, owned or not

    @property
    def kinds(self) -> dict[str, str]:
        return {t.text: t.kind.value for t in self.targets}

    def zone_by_id(self) -> dict[str, ZoneSpec]:
        return {z.id: z for z in self.zones}


def build_plan(config: Config, catalogue: Catalogue, shard: Shard | None = None) -> Plan:
    """Raises ConfigError (from zone selection) when a keyed zone lacks its key."""
    chosen = shard or parse_shard(config.cluster.shard)
    zones = select_zones(config, catalogue)
    targets: dict[str, Target] = {}
    domains = []
    all_domains: dict[str, DomainPlan] = {}
    ptr_ips: list[str] = []
    for domain in config.domains:
        for text in (domain.name, *domain.sending_ips):
            target = parse_target(text)
            targets.setdefault(target.text, target)
        plan = DomainPlan(
            domain=domain.name,
            selectors=tuple(domain.dkim_selectors),
            sending_ips=tuple(domain.sending_ips),
            envelope_domains=tuple(domain.envelope_domains),
            dkim_domains=tuple(domain.dkim_domains),
        )
        all_domains[plan.domain] = plan
        if chosen.owns(domain.name):
            domains.append(plan)
    owned = tuple(t for t in targets.values() if chosen.owns(t.text))
    ptr_ips = [t.text for t in owned if t.kind is TargetKind.IP]
    return Plan(
        shard=chosen,
        targets=owned,
        zones=zones,
        domains=tuple(domains),
        ptr_ips=tuple(ptr_ips),
        all_targets=frozenset(targets),
        all_domains=all_domains,
    )


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything derived from one config; jobs read ``daemon.runtime`` once per run."""

    config: Config
    plan: Plan
    resolver: StubResolver
    auth_resolver: StubResolver | None
    confirm_resolver: StubResolver  # no cache: re-checks a new listing at the server
    alert_policy: AlertPolicy
    guard: VolumeGuard
    catalogue_version: str

    @property
    def auth_dns(self) -> StubResolver:
        return self.auth_resolver or self.resolver

    async def open(self) -> None:
        for resolver in self._resolvers():
            await resolver.__aenter__()

    async def close(self) -> None:
        for resolver in self._resolvers():
            with contextlib.suppress(Exception):
                await resolver.__aexit__(None, None, None)

    def _resolvers(self) -> list[StubResolver]:
        found = [self.resolver, self.confirm_resolver]
        if self.auth_resolver is not None:
            found.append(self.auth_resolver)
        return found


def build_runtime(config: Config, catalogue: Catalogue, shard: Shard | None = None) -> Runtime:
    """Raises ConfigError when the config cannot run (a keyed zone without its key)."""
    plan = build_plan(config, catalogue, shard)
    alerts = config.alerts
    return Runtime(
        config=config,
        plan=plan,
        resolver=build_resolver(config.dns),
        auth_resolver=build_resolver(config.auth_dns) if config.auth_dns else None,
        confirm_resolver=build_resolver(config.dns.model_copy(update={"cache_entries": 0})),
        alert_policy=AlertPolicy(
            notify_existing=alerts.notify_existing,
            resolve_after=alerts.resolve_after,
            flap_window=dt.timedelta(seconds=parse_duration(alerts.flap_window)),
            flap_limit=alerts.flap_limit,
        ),
        guard=VolumeGuard(
            min_delivered=config.feedback.min_volume, min_sent=config.feedback.min_volume
        ),
        catalogue_version=catalogue.version,
    )
