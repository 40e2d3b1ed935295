"""The daemon's check jobs: zone self-tests and DNSBL sweeps (``DnsblJobs``), the table's
authentication and host checks and record drift (``AuthJobs``).

Each run reads the current runtime once (a reload between runs takes effect at the
next run), saves its states, updates the state cache and steps the alerts. A new
listing is re-checked at the list's server, with no cache, before it is stored as
listed. ``on_checked`` runs after each job that changed what the risk score reads.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence

from checks.dnsbl import (
    DnsblPolicy,
    DnsblTargetResult,
    Verdict,
    ZoneHealth,
    ZoneSpec,
    sweep_dnsbl,
)
from monitor.alerting.rules import dnsbl_observations, record_observations, zone_observations
from monitor.alerting.service import AlertService
from monitor.checking.cache import StateCache
from monitor.checking.plans import Plan
from monitor.checking.runner import run_self_tests, run_table_checks, zones_in_use
from monitor.checking.states import (
    CheckName,
    CheckRun,
    CheckState,
    StateChange,
    states_from_dnsbl,
    states_from_health,
)
from monitor.checking.table import CHECKS, states_of, watched_items
from monitor.daemon.runtime import Runtime, RuntimeHolder
from monitor.store.state import StateRecords

__all__ = ["AuthJobs", "DnsblJobs", "resolver_gives_no_answers", "zones_to_test"]

log = logging.getLogger(__name__)

# The published records re-read between full checks (the table's drift entries).
_DRIFT = frozenset(s.name for s in CHECKS if s.drift)


class _Checks:
    """What both kinds of check job share: the runtime, the store, the cache, the alerts."""

    def __init__(
        self,
        runtime: RuntimeHolder,
        store: StateRecords,
        states: StateCache,
        alerts: AlertService,
        *,
        clock: Callable[[], dt.datetime],
        on_checked: Callable[[], None],
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._states = states
        self._alerts = alerts
        self._clock = clock
        self._on_checked = on_checked

    async def _save(self, plan: Plan, states: Sequence[CheckState]) -> list[StateChange]:
        current = _current(plan, states)  # a reload may have dropped some meanwhile
        changes = await self._store.save_states(current)
        self._states.apply(current, changes)
        return changes

    async def _record_runs(self, runs: Sequence[CheckRun]) -> None:
        await self._store.record_runs(runs)
        self._states.record_runs(runs)


class DnsblJobs(_Checks):
    """Zone self-tests and sweeps; ``health`` is this process's latest self-test per family."""

    def __init__(
        self,
        runtime: RuntimeHolder,
        store: StateRecords,
        states: StateCache,
        alerts: AlertService,
        *,
        clock: Callable[[], dt.datetime],
        on_checked: Callable[[], None],
        count_unknown: Callable[[str, str], None],
    ) -> None:
        super().__init__(runtime, store, states, alerts, clock=clock, on_checked=on_checked)
        self._count_unknown = count_unknown  # (zone, reason) of each unknown verdict
        self.health: dict[tuple[str, str], ZoneHealth] = {}
        self.resolver_down = False  # every self-test failed on a DNS failure: said once
        self.sweeps = 0
        self._selftest_lock = asyncio.Lock()  # the sweep's first self-test and the job's

    async def selftest(self, *, only_if_untested: bool = False) -> None:
        rt = self._runtime.current
        zones = zones_to_test(rt.plan)
        if not zones:
            return
        async with self._selftest_lock:
            if only_if_untested and self.health:
                return  # the self-test job got there first
            health = await run_self_tests(zones, rt.resolver)
            previous, self.health = self.health, {(h.zone, h.family.value): h for h in health}
            owned = [h for h in health if rt.plan.shard.owns_zone(h.zone)]
            states = list(states_from_health(owned, self._clock()))
            await self._save(rt.plan, states)
            await self._alerts.apply(zone_observations(states, ()))
            self._log_health(rt, previous, health)

    def _log_health(
        self,
        rt: Runtime,
        previous: dict[tuple[str, str], ZoneHealth],
        health: Sequence[ZoneHealth],
    ) -> None:
        """Log what changed: the resolver giving no answers at all (once, with the fix),
        a zone failing or passing its self-test again; the first run's result in one line."""
        down = resolver_gives_no_answers(health)
        if down is not None and not self.resolver_down:
            servers = ", ".join(str(n) for n in rt.resolver.config.nameservers)
            log.warning(
                "no DNSBL verdicts: the resolver %s ([dns] nameservers) gives no answers (%s), "
                "so every zone fails its self-test and every DNSBL result is unknown. Fix: run "
                "a local, non-forwarding recursive resolver there (e.g. apt-get install "
                "unbound; the docker compose stack ships one) or point [dns] nameservers at "
                "one; `delivermon doctor` checks it",
                servers,
                down,
                extra={"nameservers": servers, "reason": down},
            )
        elif down is None and self.resolver_down:
            log.info("the DNSBL resolver answers again")
        self.resolver_down = down is not None
        if down is not None:
            return  # one line says it all; the zones are not at fault
        for h in health:
            old = previous.get((h.zone, h.family.value))
            context = {"zone": h.zone, "family": h.family.value}
            if not h.healthy and (old is None or old.healthy or old.reason != h.reason):
                log.warning(
                    "zone fails its self-test",
                    extra={**context, "reason": h.reason, "test_point": h.test_point},
                )
            elif h.healthy and old is not None and not old.healthy:
                log.info("zone passes its self-test again", extra=context)
        if not previous:
            log.info(
                "zones self-tested",
                extra={
                    "healthy": sum(h.healthy for h in health),
                    "unhealthy": sum(not h.healthy for h in health),
                },
            )

    async def sweep(self) -> None:
        rt = self._runtime.current
        if not rt.plan.targets:
            return
        if not self.health:
            await self.selftest(only_if_untested=True)
        started = time.perf_counter()
        policy = DnsblPolicy.with_health(rt.plan.zones, self.health.values())
        results = await sweep_dnsbl(
            rt.plan.targets,
            dns=rt.resolver,
            policy=policy,
            concurrency=rt.config.dnsbl.concurrency,
        )
        results = await self._confirm_new_listings(rt, policy, results)
        now = self._clock()
        states = list(states_from_dnsbl(results, now))
        await self._save(rt.plan, states)
        duration = time.perf_counter() - started
        await self._record_runs(
            [CheckRun("dnsbl", r.target.text, _told(r), duration, now) for r in results]
        )
        for r in results:
            for result in r.results:
                if result.verdict is Verdict.UNKNOWN:
                    self._count_unknown(result.zone, result.error or "unknown")
        owned_zone_states = [s for s in states if rt.plan.shard.owns_zone(s.item)]
        await self._alerts.apply(
            [
                *dnsbl_observations(states, rt.plan.zone_by_id()),
                *zone_observations((), owned_zone_states),
            ]
        )
        self.sweeps += 1
        self._on_checked()
        verdicts = [x.verdict for r in results for x in r.results]
        log.info(
            "sweep done",
            extra={
                "targets": len(results),
                "checks": len(verdicts),
                "listed": verdicts.count(Verdict.LISTED),
                "unknown": verdicts.count(Verdict.UNKNOWN),
                "seconds": round(duration, 3),
            },
        )

    async def _confirm_new_listings(
        self, rt: Runtime, policy: DnsblPolicy, results: list[DnsblTargetResult]
    ) -> list[DnsblTargetResult]:
        """Re-query, after ``confirm_delay`` and without cache, each listing that is new."""
        fresh = {
            (r.target.text, x.zone)
            for r in results
            for x in r.results
            if x.verdict is Verdict.LISTED
            and getattr(self._states.get((r.target.text, "dnsbl", x.zone)), "status", None)
            != "listed"
        }
        if not fresh:
            return results
        await asyncio.sleep(rt.config.alerts.confirm_delay)
        targets = [r.target for r in results if any((r.target.text, z) in fresh for z in _ids(r))]
        zones = tuple(z for z in rt.plan.zones if any(z.id == zone for _, zone in fresh))
        again = await sweep_dnsbl(
            targets,
            dns=rt.confirm_resolver,
            policy=DnsblPolicy(zones, policy.health),
            concurrency=rt.config.dnsbl.concurrency,
        )
        second = {(r.target.text, x.zone): x for r in again for x in r.results}
        merged = []
        for r in results:
            replaced = []
            for x in r.results:
                check = second.get((r.target.text, x.zone))
                if (r.target.text, x.zone) in fresh and check is not None:
                    if check.verdict is not Verdict.LISTED:
                        log.info(
                            "new listing not confirmed by the re-check",
                            extra={"target": r.target.text, "zone": x.zone},
                        )
                    replaced.append(check)
                else:
                    replaced.append(x)
            merged.append(DnsblTargetResult(r.target, tuple(replaced), r.findings))
        return merged


class AuthJobs(_Checks):
    """The table's checks of this replica's domains and IPs, and the records' drift."""

    async def auth(self) -> None:
        rt = self._runtime.current
        plan = rt.plan
        if not plan.domains and not plan.ptr_ips:
            return
        started = time.perf_counter()
        results = await run_table_checks(plan.ptr_ips, plan.domains, dns=rt.auth_dns)
        now = self._clock()
        states = [s for target, r in results.items() for s in states_of(target, r, now)]
        await self._save(plan, states)
        duration = time.perf_counter() - started
        told = _told_targets(states)
        runs = [
            CheckRun("ptr", ip, ip in told, duration, now) for ip in dict.fromkeys(plan.ptr_ips)
        ]
        runs += [CheckRun("auth", d.domain, d.domain in told, duration, now) for d in plan.domains]
        await self._record_runs(runs)
        await self._alerts.apply(record_observations(states))
        await self._alerts.announce_record_changes(plan.owned, self._states.snapshot())
        self._on_checked()
        statuses = [s.status for s in states]
        log.info(
            "auth checks done",
            extra={
                "targets": len(runs),
                "checks": len(statuses),
                **{status: statuses.count(status) for status in ("ok", "warn", "fail", "unknown")},
                "seconds": round(duration, 3),
            },
        )

    async def drift(self) -> None:
        """The published SPF, DMARC and DKIM records, re-read for changes between full checks."""
        rt = self._runtime.current
        if not rt.plan.domains:
            return
        results = await run_table_checks((), rt.plan.domains, dns=rt.auth_dns, names=_DRIFT)
        now = self._clock()
        found = [s for target, r in results.items() for s in states_of(target, r, now)]
        changes = await self._save(rt.plan, found)
        await self._alerts.apply(record_observations(found))
        await self._alerts.announce_record_changes(rt.plan.owned, self._states.snapshot())
        if changes:
            self._on_checked()


# DNS failures (checks.dns.UnknownReason) that say nothing about a zone: when every
# self-test ends in one of them, it is the resolver that gives no answers.
_RESOLVER_FAILURES = frozenset({"timeout", "network", "refused", "servfail", "referral"})


def resolver_gives_no_answers(health: Sequence[ZoneHealth]) -> str | None:
    """The DNS failure(s) when every self-test failed on one, else None (nothing tested: None)."""
    reasons = {h.reason for h in health if not h.healthy}
    if not health or any(h.healthy for h in health) or not reasons <= _RESOLVER_FAILURES:
        return None
    return ", ".join(sorted(r for r in reasons if r is not None))


def _current(plan: Plan, states: Sequence[CheckState]) -> list[CheckState]:
    """The states whose target (and zone, selector, envelope domain) the current plan
    still checks."""
    owned = plan.owned
    zones = {z.id for z in plan.zones}
    items = watched_items(plan.all_domains.values())

    def item_kept(s: CheckState) -> bool:
        listed = items.get((s.target, s.check.value))
        return listed is None or s.item in listed

    return [
        s
        for s in states
        if (s.target in zones if s.check is CheckName.ZONE else s.target in owned)
        and (s.check is not CheckName.DNSBL or s.item in zones)
        and item_kept(s)
    ]


def zones_to_test(plan: Plan) -> list[ZoneSpec]:
    """The zones this replica self-tests: those its targets use, and those it owns.

    A zone's owner tests it even when none of its own targets uses it: the zone's
    health is exported and alerted on by its owner alone.
    """
    used = {z.id for z in zones_in_use(plan.targets, plan.zones)}
    return [z for z in plan.zones if z.id in used or plan.shard.owns_zone(z.id)]


def _ids(result: DnsblTargetResult) -> Iterable[str]:
    return (x.zone for x in result.results)


def _told(result: DnsblTargetResult) -> bool:
    """A sweep succeeded for a target when at least one list gave a verdict."""
    return any(x.verdict is not Verdict.UNKNOWN for x in result.results) or not result.results


def _told_targets(states: Sequence[CheckState]) -> frozenset[str]:
    """The targets with at least one state that is not unknown (one pass, not one per target:
    a domain with 10,000 sending IPs made that quadratic)."""
    return frozenset(s.target for s in states if s.status != "unknown")
