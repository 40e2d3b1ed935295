"""Run the authentication checks for domains (SPF, DMARC, DKIM, MX, scorecard) and PTR for IPs."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from checks.compliance import Scorecard, build_scorecard
from checks.dkim import DkimPolicy, DkimResult, check_dkim
from checks.dmarc import DmarcPolicy, DmarcResult, check_dmarc
from checks.dns import DnsClient
from checks.host import MxPolicy, MxResult, PtrPolicy, PtrResult, check_mx, check_ptr
from checks.spf import SpfPolicy, SpfResult, check_spf

__all__ = ["DomainAuth", "DomainPlan", "run_domain_checks", "run_ptr_checks"]


@dataclass(frozen=True, slots=True)
class DomainPlan:
    """What to check for one sending domain (from [[domains]] and the command line)."""

    domain: str
    selectors: tuple[str, ...] = ()
    sending_ips: tuple[str, ...] = ()
    envelope_domains: tuple[str, ...] = ()
    dkim_domains: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class DomainAuth:
    """``envelope_spf``: SPF of each configured envelope (MAIL FROM) domain, for the sending IPs."""

    spf: SpfResult
    dmarc: DmarcResult
    dkim: tuple[DkimResult, ...]
    mx: MxResult
    compliance: Scorecard
    envelope_spf: tuple[SpfResult, ...] = ()


async def run_ptr_checks(ips: Iterable[str], *, dns: DnsClient) -> dict[str, PtrResult]:
    """PTR / forward-confirmed reverse DNS, once per distinct IP."""
    unique = list(dict.fromkeys(ips))
    results = await asyncio.gather(*(check_ptr(ip, dns=dns, policy=PtrPolicy()) for ip in unique))
    return dict(zip(unique, results, strict=True))


async def run_domain_checks(
    plans: Sequence[DomainPlan], *, dns: DnsClient, ptr: Mapping[str, PtrResult]
) -> dict[str, DomainAuth]:
    """Every authentication check for every planned domain, concurrently."""
    results = await asyncio.gather(*(_check_domain(p, dns, ptr) for p in plans))
    return {p.domain: r for p, r in zip(plans, results, strict=True)}


async def _check_domain(
    plan: DomainPlan, dns: DnsClient, ptr: Mapping[str, PtrResult]
) -> DomainAuth:
    dkim_domains = plan.dkim_domains or ((plan.domain,) if plan.selectors else ())
    # Receivers evaluate SPF at the envelope (MAIL FROM) domain: check the sending IPs there.
    envelopes = [d for d in dict.fromkeys(plan.envelope_domains) if d != plan.domain]
    envelope_task = asyncio.gather(
        *(check_spf(d, dns=dns, policy=SpfPolicy(sending_ips=plan.sending_ips)) for d in envelopes)
    )
    spf, dmarc, dkim, mx = await asyncio.gather(
        check_spf(plan.domain, dns=dns, policy=SpfPolicy(sending_ips=plan.sending_ips)),
        check_dmarc(
            plan.domain,
            dns=dns,
            policy=DmarcPolicy(envelope_domains=plan.envelope_domains, dkim_domains=dkim_domains),
        ),
        check_dkim(plan.domain, dns=dns, policy=DkimPolicy(selectors=plan.selectors)),
        check_mx(plan.domain, dns=dns, policy=MxPolicy()),
    )
    envelope_spf = tuple(await envelope_task)
    if plan.domain in plan.envelope_domains:
        envelope_spf = (spf, *envelope_spf)
    scorecard = build_scorecard(
        plan.domain,
        spf=spf,
        dmarc=dmarc,
        dkim=dkim,
        ptr=[ptr[ip] for ip in plan.sending_ips if ip in ptr],
        envelope_spf=envelope_spf,
    )
    return DomainAuth(spf, dmarc, tuple(dkim), mx, scorecard, envelope_spf)
