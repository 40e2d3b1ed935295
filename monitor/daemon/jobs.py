"""The daemon's periodic check jobs: zone self-tests, DNSBL sweeps, authentication checks
and record drift. Each run reads the current ``Runtime`` once (a reload between runs
takes effect at the next run), persists its states, updates the metrics view and
steps the alerts. A new listing is re-checked at the list's server, with no cache,
before it is stored as listed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Protocol

from checks.dnsbl import (
    DnsblPolicy,
    DnsblTargetResult,
    Verdict,
    ZoneHealth,
    ZoneSpec,
    applicable_zones,
    sweep_dnsbl,
)
from monitor.alerting.rules import (
    dnsbl_observations,
    record_observations,
    zone_observations,
)
from monitor.checking.runner import run_self_tests, run_table_checks
from monitor.checking.states import (
    CheckName,
    CheckRun,
    CheckState,
    StateChange,
    states_from_dnsbl,
    states_from_health,
)
from monitor.checking.table import CHECKS, states_of
from monitor.daemon.runtime import Runtime
from monitor.metrics.collector import DaemonView, Metrics
from monitor.model.alerts import Observation
from monitor.store.state import StateRecords

__all__ = ["CheckJobs", "JobHost", "zones_in_use", "zones_to_test"]

# The published records re-read between full checks (the table's drift entries).
_DRIFT = frozenset(s.name for s in CHECKS if s.drift)

log = logging.getLogger(__name__)


class JobHost(Protocol):
    """What the jobs need from the daemon (``monitor.daemon.app.Daemon``)."""

    @property
    def runtime(self) -> Runtime: ...

    @property
    def store(self) -> StateRecords: ...

    view: DaemonView
    metrics: Metrics
    clock: Callable[[], dt.datetime]

    async def apply_alerts(
        self,
        observations: Sequence[Observation],
        one_shots: Sequence[tuple[Observation, dt.datetime]] = (),
    ) -> None: ...

    async def announce_record_changes(self) -> None: ...

    def refresh_risk(self) -> None: ...


class CheckJobs:
    """The check jobs over one host; ``health`` is this process's latest zone self-test."""

    def __init__(self, host: JobHost) -> None:
        self._host = host
        self.health: dict[tuple[str, str], ZoneHealth] = {}
        self.sweeps = 0
        self._selftest_lock = asyncio.Lock()  # the sweep's first self-test and the job's

    # --- zone self-tests ----------------------------------------------------------

    async def selftest(self, *, only_if_untested: bool = False) -> None:
        rt = self._host.runtime
        zones = zones_to_test(rt)
        if not zones:
            return
        async with self._selftest_lock:
            if only_if_untested and self.health:
                return  # the self-test job got there first
            await self._selftest(rt, zones)

    async def _selftest(self, rt: Runtime, zones: Sequence[ZoneSpec]) -> None:
        host = self._host
        health = await run_self_tests(zones, rt.resolver)
        self.health = {(h.zone, h.family.value): h for h in health}
        now = host.clock()
        owned = [h for h in health if rt.plan.shard.owns(f"zone:{h.zone}")]
        states = list(states_from_health(owned, now))
        await self._save(states)
        await host.apply_alerts(zone_observations(states, ()))
        for h in health:
            if not h.healthy:
                log.warning(
                    "zone fails its self-test",
                    extra={"zone": h.zone, "family": h.family.value, "reason": h.reason},
                )

    # --- DNSBL sweep ----------------------------------------------------------------

    async def sweep(self) -> None:
        host, rt = self._host, self._host.runtime
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
        now = host.clock()
        states = list(states_from_dnsbl(results, now))
        await self._save(states)
        duration = time.perf_counter() - started
        await host.store.record_runs(
            [CheckRun("dnsbl", r.target.text, _told(r), duration, now) for r in results]
        )
        for r in results:
            host.view.runs[("dnsbl", r.target.text)] = CheckRun(
                "dnsbl", r.target.text, _told(r), duration, now
            )
            for result in r.results:
                if result.verdict is Verdict.UNKNOWN:
                    host.metrics.dnsbl_unknown.labels(result.zone, result.error or "unknown").inc()
        zones = rt.plan.zone_by_id()
        owned_zone_states = [s for s in states if rt.plan.shard.owns(f"zone:{s.item}")]
        await host.apply_alerts(
            [*dnsbl_observations(states, zones), *zone_observations((), owned_zone_states)]
        )
        self.sweeps += 1
        host.refresh_risk()

    async def _confirm_new_listings(
        self, rt: Runtime, policy: DnsblPolicy, results: list[DnsblTargetResult]
    ) -> list[DnsblTargetResult]:
        """Re-query, after ``confirm_delay`` and without cache, each listing that is new."""
        view = self._host.view
        fresh = {
            (r.target.text, x.zone)
            for r in results
            for x in r.results
            if x.verdict is Verdict.LISTED
            and getattr(view.states.get((r.target.text, "dnsbl", x.zone)), "status", None)
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

    # --- authentication and host checks ---------------------------------------------

    async def auth(self) -> None:
        host, rt = self._host, self._host.runtime
        if not rt.plan.domains and not rt.plan.ptr_ips:
            return
        started = time.perf_counter()
        results = await run_table_checks(rt.plan.ptr_ips, rt.plan.domains, dns=rt.auth_dns)
        now = host.clock()
        states = [s for target, r in results.items() for s in states_of(target, r, now)]
        await self._save(states)
        duration = time.perf_counter() - started
        runs = [
            CheckRun("ptr", ip, _states_told(states, ip), duration, now)
            for ip in dict.fromkeys(rt.plan.ptr_ips)
        ]
        runs += [
            CheckRun("auth", d.domain, _states_told(states, d.domain), duration, now)
            for d in rt.plan.domains
        ]
        await host.store.record_runs(runs)
        for run in runs:
            host.view.runs[(run.check, run.target)] = run
        await host.apply_alerts(record_observations(states))
        await host.announce_record_changes()
        host.refresh_risk()

    async def drift(self) -> None:
        """The published SPF, DMARC and DKIM records, re-read for changes between full checks."""
        host, rt = self._host, self._host.runtime
        if not rt.plan.domains:
            return
        results = await run_table_checks((), rt.plan.domains, dns=rt.auth_dns, names=_DRIFT)
        now = host.clock()
        found = [s for target, r in results.items() for s in states_of(target, r, now)]
        changes = await self._save(found)
        await host.apply_alerts(record_observations(found))
        await host.announce_record_changes()
        if changes:
            host.refresh_risk()

    # --- shared ---------------------------------------------------------------------------

    async def _save(self, states: Sequence[CheckState]) -> list[StateChange]:
        host = self._host
        states = _current(host.runtime, states)  # a reload may have dropped some meanwhile
        changes = await host.store.save_states(states)
        changed = {c.new.key: c.new.checked_at for c in changes}
        for state in states:
            prev = host.view.states.get(state.key)
            since = (
                changed.get(state.key) or (prev.changed_at if prev else None) or state.checked_at
            )
            host.view.states[state.key] = _with_changed_at(state, since)
        for change in changes:
            if change.record_changed:
                host.view.record_changed[change.new.key] = change.new.checked_at.timestamp()
            if change.old is not None and change.status_changed:
                log.info(
                    "state changed",
                    extra={
                        "target": change.new.target,
                        "check": change.new.check.value,
                        "item": change.new.item,
                        "from": change.old.status,
                        "to": change.new.status,
                    },
                )
        return changes


def _current(rt: Runtime, states: Sequence[CheckState]) -> list[CheckState]:
    """The states whose target (and zone) the current plan still checks."""
    owned = {t.text for t in rt.plan.targets}
    zones = {z.id for z in rt.plan.zones}
    return [
        s
        for s in states
        if (s.target in zones if s.check is CheckName.ZONE else s.target in owned)
        and (s.check is not CheckName.DNSBL or s.item in zones)
    ]


def _with_changed_at(state: CheckState, since: dt.datetime) -> CheckState:
    return replace(state, changed_at=since)


def zones_to_test(rt: Runtime) -> list[ZoneSpec]:
    """The zones this replica self-tests: those its targets use, and those it owns.

    A zone's owner tests it even when none of its own targets uses it: the zone's
    health is exported and alerted on by its owner alone.
    """
    used = {z.id for z in zones_in_use(rt)}
    return [z for z in rt.plan.zones if z.id in used or rt.plan.shard.owns(f"zone:{z.id}")]


def zones_in_use(rt: Runtime) -> list[ZoneSpec]:
    """Zones that apply to at least one of this replica's targets."""
    used: set[str] = set()
    for sample in {(t.kind, t.ip_version): t for t in rt.plan.targets}.values():
        used.update(z.id for z in applicable_zones(sample, rt.plan.zones))
    return [z for z in rt.plan.zones if z.id in used]


def _ids(result: DnsblTargetResult) -> Iterable[str]:
    return (x.zone for x in result.results)


def _told(result: DnsblTargetResult) -> bool:
    """A sweep succeeded for a target when at least one list gave a verdict."""
    return any(x.verdict is not Verdict.UNKNOWN for x in result.results) or not result.results


def _states_told(states: Sequence[CheckState], target: str) -> bool:
    return any(s.target == target and s.status != "unknown" for s in states)
