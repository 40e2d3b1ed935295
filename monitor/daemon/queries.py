"""What the HTTP API asks the daemon: readiness with per-component status, and the latest
target documents (every replica's share, from the store)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from checks.dnsbl import parse_target
from monitor.checking.documents import JsonValue
from monitor.checking.report import target_document_from_states
from monitor.checking.runner import zones_in_use
from monitor.checking.states import CheckState
from monitor.config import parse_duration
from monitor.daemon.checkjobs import DnsblJobs
from monitor.daemon.runtime import RuntimeHolder
from monitor.daemon.scheduler import Scheduler
from monitor.risk.scorer import RiskScorer
from monitor.store import SqlStore

__all__ = ["Readiness", "TargetQuery"]


class Readiness:
    """Ready when the store answers, the scheduler runs, and (with targets) the resolver
    passes at least one zone's self-test and the last sweep is fresh. A listing is not a
    health problem."""

    def __init__(
        self, runtime: RuntimeHolder, store: SqlStore, scheduler: Scheduler, dnsbl: DnsblJobs
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._scheduler = scheduler
        self._dnsbl = dnsbl

    async def check(self) -> tuple[bool, Mapping[str, JsonValue]]:
        components: dict[str, JsonValue] = {}
        ready = True
        try:
            await self._store.ping()
            components["store"] = {"ok": True}
        except Exception as exc:  # readiness reports any store failure, it never raises
            components["store"] = {"ok": False, "error": type(exc).__name__}
            ready = False
        running = self._scheduler.running
        components["scheduler"] = {"ok": running}
        ready &= running
        rt = self._runtime.current
        health = list(self._dnsbl.health.values())
        if rt.plan.targets:
            in_use = bool(zones_in_use(rt.plan.targets, rt.plan.zones))
            resolver_ok = not in_use or (bool(health) and any(h.healthy for h in health))
            # Counted by zone, as listed: a zone is unhealthy when its self-test fails for
            # any family it is asked in (IPv4, IPv6), and so zones_healthy plus the
            # unhealthy ones is zones_tested.
            tested = {h.zone for h in health}
            unhealthy = {h.zone for h in health if not h.healthy}
            components["resolver"] = {
                "ok": resolver_ok,
                "zones_healthy": len(tested - unhealthy),
                "zones_tested": len(tested),
                # Which zones fail their self-test: their verdicts are unknown, never clean.
                "unhealthy_zones": list[JsonValue](sorted(unhealthy)),
                # And in which family: an IPv6 failure leaves the zone's IPv4 verdicts told.
                "unhealthy_families": list[JsonValue](
                    sorted(f"{h.zone}/{h.family.value}" for h in health if not h.healthy)
                ),
            }
            ready &= resolver_ok
            sweep = self._scheduler.status("sweep")
            interval = parse_duration(rt.config.dnsbl.interval)
            last = sweep.last_success if sweep else None
            age = None if last is None else time.time() - last
            fresh = age is not None and age <= 2 * interval
            components["last_sweep"] = {
                "ok": fresh,
                "age_seconds": None if age is None else round(age, 1),
                "max_age_seconds": 2 * interval,
            }
            ready &= fresh
        return ready, components


class TargetQuery:
    """``check --json``-shaped documents from the stored states, plus ``checked_at`` and risk."""

    def __init__(self, runtime: RuntimeHolder, store: SqlStore, risk: RiskScorer) -> None:
        self._runtime = runtime
        self._store = store
        self._risk = risk

    async def documents(self, target: str | None) -> list[dict[str, JsonValue]]:
        """Latest results from the store (every replica's share), one document per target."""
        plan = self._runtime.current.plan
        wanted = sorted(plan.all_targets) if target is None else [target]
        wanted = [t for t in wanted if t in plan.all_targets]
        if not wanted:
            return []
        states = await self._store.latest_states(targets=wanted)
        zone_ids = [z.id for z in plan.zones]
        by_target: dict[str, list[CheckState]] = {}
        for state in states:
            by_target.setdefault(state.target, []).append(state)
        risks = self._risk.snapshot()
        docs = []
        for name in wanted:
            doc = target_document_from_states(
                name,
                parse_target(name).kind,
                by_target.get(name, []),
                zones=zone_ids,
                plan=plan.all_domains.get(name),
            )
            risk = risks.get(name)
            if risk is not None:
                doc["risk"] = {
                    "score": risk.score,
                    "level": risk.level,
                    # With unknown factors the score is a lower bound: "ok" with every
                    # input unknown says nothing, and the document must show that.
                    "unknown": list(risk.unknown),
                    "factors": [
                        {"name": name, "points": points, "code": code}
                        for name, points, code in risk.details
                    ],
                }
            docs.append(doc)
        return docs
