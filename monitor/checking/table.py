"""The table of per-target checks: what runs for a domain or an IP, and how each result
becomes a document member, a stored state and an alert.

Every consumer iterates this table: the ``check`` command, the daemon's auth and drift
jobs, the state store adapters and the API's target document. Adding a check is one
``CheckSpec`` here and one module in ``checks/`` (see docs/architecture.md). The DNSBL
sweep is the other engine (targets x zones, with self-tests): ``monitor.checking.runner``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from checks.compliance import Scorecard, build_scorecard
from checks.dkim import DkimPolicy, DkimResult, check_dkim
from checks.dmarc import DmarcPolicy, DmarcResult, check_dmarc
from checks.dns import DnsClient
from checks.dnsbl import TargetKind
from checks.findings import FindingSeverity
from checks.host import MxPolicy, MxResult, PtrPolicy, PtrResult, check_mx, check_ptr
from checks.spf import SpfPolicy, SpfResult, check_spf
from checks.status import CheckStatus
from monitor.checking.documents import (
    JsonValue,
    compliance_doc,
    dkim_doc,
    dmarc_doc,
    mx_doc,
    ptr_doc,
    spf_doc,
)
from monitor.checking.plans import DomainPlan
from monitor.checking.states import CheckName, CheckState, dump_detail, fingerprint_of
from monitor.model.alerts import Severity

__all__ = [
    "CHECKS",
    "CheckContext",
    "CheckSpec",
    "Results",
    "checks_for",
    "spec",
    "state_of",
    "states_of",
    "watched_items",
]

R = TypeVar("R")
# One target's results so far: check name -> its result (a tuple for a "many" check).
Results = Mapping[CheckName, object]


@dataclass(frozen=True, slots=True)
class CheckContext:
    """What a check of one target gets: the target, its plan (domains), DNS, earlier results.

    ``ptr`` holds the PTR results of every IP checked in the same run: the compliance
    scorecard of a domain reads those of its sending IPs.
    """

    target: str
    dns: DnsClient
    plan: DomainPlan | None = None
    done: Results = field(default_factory=dict)
    ptr: Mapping[str, PtrResult] = field(default_factory=dict)

    @property
    def domain_plan(self) -> DomainPlan:
        assert self.plan is not None, f"{self.target} is not a domain target"
        return self.plan


@dataclass(frozen=True, slots=True)
class CheckSpec(Generic[R]):
    """One per-target check.

    ``run`` gives one result, or with ``many`` a tuple of them (one per ``item``: a DKIM
    selector, an envelope domain). ``member`` names it in the target document, whose
    value is ``document(result)`` (a list for ``many``). ``after`` lists the checks of the
    same target whose results ``run`` reads. ``drift``: re-read between full checks for
    record changes. ``alert``: the severity of its ``record_broken`` alert (None: no
    alert). ``derived``: a summary of other checks; its status does not count on its own
    in the exit code.
    """

    name: CheckName
    kind: TargetKind
    run: Callable[[CheckContext], Awaitable[R | tuple[R, ...]]]
    document: Callable[[R], dict[str, JsonValue]]
    status: Callable[[R], CheckStatus]
    item: Callable[[R], str] = lambda _r: ""
    fingerprint: Callable[[R], str | None] = lambda _r: None
    items: Callable[[DomainPlan], tuple[str, ...]] | None = None  # a "many" check's order
    after: tuple[CheckName, ...] = ()
    drift: bool = False
    alert: Severity | None = None
    derived: bool = False

    @property
    def many(self) -> bool:
        return self.items is not None

    @property
    def member(self) -> str:
        return self.name.value

    def results(self, value: object) -> tuple[R, ...]:
        """The result(s) of a run as a tuple."""
        return value if isinstance(value, tuple) else (value,)

    def member_document(self, value: object) -> JsonValue:
        docs: list[JsonValue] = [self.document(r) for r in self.results(value)]
        return docs if self.many else docs[0]

    def states(self, target: str, value: object, at: dt.datetime) -> Iterator[CheckState]:
        for result in self.results(value):
            yield CheckState(
                target=target,
                check=self.name,
                item=self.item(result),
                status=self.status(result).value,
                severity=None,
                detail=dump_detail(self.document(result)),
                fingerprint=self.fingerprint(result),
                checked_at=at,
            )


# --- the checks ---------------------------------------------------------------------------


async def _ptr(ctx: CheckContext) -> PtrResult:
    return await check_ptr(ctx.target, dns=ctx.dns, policy=PtrPolicy())


def _ptr_fingerprint(r: PtrResult) -> str | None:
    return fingerprint_of(*sorted(r.names)) if r.names else None


async def _spf(ctx: CheckContext) -> SpfResult:
    """The domain's own record. Its sending IPs are evaluated there unless envelope
    domains are configured without the domain itself: receivers evaluate SPF at the
    envelope domain, so the From domain's record authorises none of its mail (the envelope
    domains' results are the ``envelope_spf`` check's)."""
    plan = ctx.domain_plan
    own_envelope = not plan.envelope_domains or plan.domain in plan.envelope_domains
    ips = plan.sending_ips if own_envelope else ()
    return await check_spf(plan.domain, dns=ctx.dns, policy=SpfPolicy(sending_ips=ips))


def _envelopes(plan: DomainPlan) -> tuple[str, ...]:
    """Receivers evaluate SPF at the envelope (MAIL FROM) domain: the domain itself first."""
    others = tuple(d for d in dict.fromkeys(plan.envelope_domains) if d != plan.domain)
    return (plan.domain, *others) if plan.domain in plan.envelope_domains else others


async def _envelope_spf(ctx: CheckContext) -> tuple[SpfResult, ...]:
    plan = ctx.domain_plan
    own = ctx.done.get(CheckName.SPF)
    policy = SpfPolicy(sending_ips=plan.sending_ips)
    found = await asyncio.gather(
        *(
            _own_or_check(d, own, ctx.dns, policy)
            for d in _envelopes(plan)  # the domain's own SPF result is reused, not re-read
        )
    )
    return tuple(found)


_NOT_PERMITTED = "spf.sending_ip_not_permitted"


def _envelope_status(r: SpfResult) -> CheckStatus:
    """An envelope domain's status: its SPF check's, except that sending IPs not passing
    there are a ``warn`` while another sending IP passes. Which IP sends with which
    envelope domain is not configured; a domain no sending IP passes at (or whose record
    is broken) fails every message sent with it, and is ``fail`` (the scorecard's rule)."""
    if r.status is not CheckStatus.FAIL:
        return r.status
    serious = (FindingSeverity.ERROR, FindingSeverity.CRITICAL)
    if any(f.severity in serious and f.code != _NOT_PERMITTED for f in r.findings):
        return CheckStatus.FAIL
    results = set(r.ip_results.values())
    if "temperror" in results:  # an IP that might pass there: not "none passes"
        return CheckStatus.UNKNOWN
    return CheckStatus.WARN if "pass" in results else CheckStatus.FAIL


def _envelope_doc(r: SpfResult) -> dict[str, JsonValue]:
    return {**spf_doc(r), "status": _envelope_status(r).value}


async def _own_or_check(domain: str, own: object, dns: DnsClient, policy: SpfPolicy) -> SpfResult:
    if isinstance(own, SpfResult) and own.domain == domain:
        return own
    return await check_spf(domain, dns=dns, policy=policy)


async def _dmarc(ctx: CheckContext) -> DmarcResult:
    plan = ctx.domain_plan
    return await check_dmarc(
        plan.domain,
        dns=ctx.dns,
        policy=DmarcPolicy(
            envelope_domains=plan.envelope_domains, dkim_domains=plan.effective_dkim_domains
        ),
    )


async def _dkim(ctx: CheckContext) -> tuple[DkimResult, ...]:
    plan = ctx.domain_plan
    return await check_dkim(plan.domain, dns=ctx.dns, policy=DkimPolicy(selectors=plan.selectors))


async def _mx(ctx: CheckContext) -> MxResult:
    return await check_mx(ctx.domain_plan.domain, dns=ctx.dns, policy=MxPolicy())


def _mx_fingerprint(r: MxResult) -> str | None:
    hosts = sorted(f"{h.preference} {h.name}" for h in r.hosts)
    return fingerprint_of(*hosts) if hosts else None


async def _compliance(ctx: CheckContext) -> Scorecard:
    plan = ctx.domain_plan
    spf = ctx.done[CheckName.SPF]
    dmarc = ctx.done[CheckName.DMARC]
    dkim = ctx.done[CheckName.DKIM]
    envelope = ctx.done.get(CheckName.ENVELOPE_SPF, ())
    assert isinstance(spf, SpfResult)
    assert isinstance(dmarc, DmarcResult)
    assert isinstance(dkim, tuple)
    assert isinstance(envelope, tuple)
    return build_scorecard(
        plan.domain,
        spf=spf,
        dmarc=dmarc,
        dkim=dkim,
        ptr=[ctx.ptr[ip] for ip in plan.sending_ips if ip in ctx.ptr],
        envelope_spf=envelope,
    )


def _compliance_status(s: Scorecard) -> CheckStatus:
    compliant = s.compliant
    if compliant is None:
        return CheckStatus.UNKNOWN
    return CheckStatus.OK if compliant else CheckStatus.FAIL


def _record(r: SpfResult | DmarcResult | DkimResult) -> str | None:
    return fingerprint_of(r.record)


def _status(r: SpfResult | DmarcResult | DkimResult | MxResult | PtrResult) -> CheckStatus:
    return r.status


CHECKS: tuple[CheckSpec[Any], ...] = (
    CheckSpec(
        CheckName.PTR,
        TargetKind.IP,
        _ptr,
        ptr_doc,
        _status,
        fingerprint=_ptr_fingerprint,
        alert=Severity.WARNING,
    ),
    CheckSpec(
        CheckName.SPF,
        TargetKind.DOMAIN,
        _spf,
        spf_doc,
        _status,
        fingerprint=_record,
        drift=True,
        alert=Severity.CRITICAL,
    ),
    CheckSpec(
        CheckName.ENVELOPE_SPF,
        TargetKind.DOMAIN,
        _envelope_spf,
        _envelope_doc,
        _envelope_status,
        item=lambda r: r.domain,
        fingerprint=_record,
        items=_envelopes,
        after=(CheckName.SPF,),
        alert=Severity.CRITICAL,  # not for the domain itself: its SPF check's alert covers it
    ),
    CheckSpec(
        CheckName.DMARC,
        TargetKind.DOMAIN,
        _dmarc,
        dmarc_doc,
        _status,
        fingerprint=_record,
        drift=True,
        alert=Severity.CRITICAL,
    ),
    CheckSpec(
        CheckName.DKIM,
        TargetKind.DOMAIN,
        _dkim,
        dkim_doc,
        _status,
        item=lambda r: r.selector,
        fingerprint=_record,
        items=lambda plan: plan.selectors,
        drift=True,
        alert=Severity.CRITICAL,
    ),
    CheckSpec(
        CheckName.MX,
        TargetKind.DOMAIN,
        _mx,
        mx_doc,
        _status,
        fingerprint=_mx_fingerprint,
        alert=Severity.WARNING,
    ),
    CheckSpec(
        CheckName.COMPLIANCE,
        TargetKind.DOMAIN,
        _compliance,
        compliance_doc,
        _compliance_status,
        after=(CheckName.SPF, CheckName.ENVELOPE_SPF, CheckName.DMARC, CheckName.DKIM),
        derived=True,
    ),
)

_BY_NAME = {s.name: s for s in CHECKS}


def spec(name: CheckName) -> CheckSpec[Any]:
    """The table entry of a check (KeyError for DNSBL and zone: the sweep engine's)."""
    return _BY_NAME[name]


def checks_for(kind: TargetKind, names: frozenset[CheckName] | None = None) -> list[CheckSpec[Any]]:
    """The table's checks for a kind of target, in table order; ``names`` narrows them."""
    return [s for s in CHECKS if s.kind is kind and (names is None or s.name in names)]


def states_of(target: str, results: Results, at: dt.datetime) -> list[CheckState]:
    """Every state of one target's results, in table order."""
    found: list[CheckState] = []
    for s in CHECKS:
        if s.name in results:
            found.extend(s.states(target, results[s.name], at))
    return found


def state_of(name: CheckName, target: str, result: object, at: dt.datetime) -> CheckState:
    """The state of one result of a table check (one DKIM selector, one envelope domain)."""
    (state,) = spec(name).states(target, result, at)
    return state


def watched_items(domains: Iterable[DomainPlan]) -> dict[tuple[str, str], frozenset[str]]:
    """(target, check) -> the items its "many" checks are configured for (a domain's DKIM
    selectors, envelope domains): a state, series or alert of any other item of theirs is
    of a selector or domain removed from the config."""
    return {
        (plan.domain, spec.name.value): frozenset(spec.items(plan))
        for plan in domains
        for spec in CHECKS
        if spec.items is not None
    }
