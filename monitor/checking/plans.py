"""What to check: a sending domain's plan, and one replica's plan (its share of targets)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from checks.dnsbl import Target, TargetKind, ZoneSpec, parse_target
from monitor.checking.sharding import Shard
from monitor.config import DomainConfig

__all__ = ["DomainPlan", "Plan", "build_plan"]


@dataclass(frozen=True, slots=True)
class DomainPlan:
    """A sending domain: its DKIM selectors, sending IPs and DMARC identities."""

    domain: str
    selectors: tuple[str, ...] = ()
    sending_ips: tuple[str, ...] = ()
    envelope_domains: tuple[str, ...] = ()  # RFC5321.MailFrom (bounce) domains
    dkim_domains: tuple[str, ...] = ()  # DKIM d= domains

    @property
    def effective_dkim_domains(self) -> tuple[str, ...]:
        """The DKIM d= domains; the domain itself when selectors are given and none are."""
        return self.dkim_domains or ((self.domain,) if self.selectors else ())


@dataclass(frozen=True, slots=True)
class Plan:
    """This replica's share of the work: the targets, domains and IPs whose hash it owns.

    ``all_targets`` and ``all_domains`` hold every configured target and domain plan, owned
    or not (the API serves every replica's share from the store).
    """

    shard: Shard
    targets: tuple[Target, ...]
    zones: tuple[ZoneSpec, ...]
    domains: tuple[DomainPlan, ...]
    ptr_ips: tuple[str, ...]
    all_targets: frozenset[str]
    all_domains: Mapping[str, DomainPlan]
    sending_domains: Mapping[str, frozenset[str]]  # sending IP -> domains that list it

    @property
    def kinds(self) -> dict[str, str]:
        return {t.text: t.kind.value for t in self.targets}

    @property
    def owned(self) -> frozenset[str]:
        return frozenset(t.text for t in self.targets)

    def zone_by_id(self) -> dict[str, ZoneSpec]:
        return {z.id: z for z in self.zones}


def build_plan(domains: Sequence[DomainConfig], zones: Sequence[ZoneSpec], shard: Shard) -> Plan:
    """The plan of one replica from the ``[[domains]]`` and the selected zones."""
    targets: dict[str, Target] = {}
    owned_domains = []
    all_domains: dict[str, DomainPlan] = {}
    sending: dict[str, set[str]] = {}
    for domain in domains:
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
        for ip in plan.sending_ips:
            sending.setdefault(ip, set()).add(plan.domain)
        if shard.owns_target(domain.name):
            owned_domains.append(plan)
    owned = tuple(t for t in targets.values() if shard.owns_target(t.text))
    return Plan(
        shard=shard,
        targets=owned,
        zones=tuple(zones),
        domains=tuple(owned_domains),
        ptr_ips=tuple(t.text for t in owned if t.kind is TargetKind.IP),
        all_targets=frozenset(targets),
        all_domains=all_domains,
        sending_domains={ip: frozenset(d) for ip, d in sending.items()},
    )
