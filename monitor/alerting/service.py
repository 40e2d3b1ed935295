"""Stepping alerts and queueing their announcements: the one place that writes alert state.

Jobs hand it observations (``monitor.alerting.rules`` builds them from states, risk and
rates); it steps each alert's state machine (``monitor.model.alerts``) and saves the
new records with their outbox rows in one transaction, so an announcement is queued
exactly when its transition is stored. Steps are serialised: two jobs may observe the
same key (the auth and drift jobs both see records).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence

from monitor.alerting.notify import Route
from monitor.alerting.outbox import notification_from_payload
from monitor.alerting.rules import RECORD_CHECKS, record_change_key, record_change_observation
from monitor.checking.cache import StateSnapshot
from monitor.checking.sharding import Shard
from monitor.checking.states import CheckName
from monitor.model.alerts import (
    AlertKind,
    AlertPolicy,
    AlertRecord,
    AlertStatus,
    Observation,
    held_for_flapping,
    notification_payload,
    one_shot,
    retire,
    step,
)
from monitor.store.state import StateRecords

__all__ = ["CAMPAIGN_KINDS", "AlertService"]

log = logging.getLogger(__name__)

CAMPAIGN_KINDS = (AlertKind.COMPLAINT_RATE, AlertKind.UNSUBSCRIBE_DEADLINE)
_Announcement = tuple[str, str, str, tuple[str, ...]]


class AlertService:
    """Alert state for this replica's observations; ``routes`` and ``policy`` are read live."""

    def __init__(
        self,
        store: StateRecords,
        *,
        clock: Callable[[], dt.datetime],
        routes: Callable[[], Mapping[str, Route]],
        policy: Callable[[], AlertPolicy],
        on_queued: Callable[[], None],
    ) -> None:
        self._store = store
        self._clock = clock
        self._routes = routes
        self._policy = policy
        self._on_queued = on_queued  # e.g. run the notify job soon
        self._lock = asyncio.Lock()
        # Keys observed since start, told or not: a state first told after an earlier
        # "could not tell" (a list failing its self-test at first) came after the
        # watching began, so it is news and not a pre-existing state.
        self._observed: set[str] = set()

    async def apply(
        self,
        observations: Sequence[Observation],
        one_shots: Sequence[tuple[Observation, dt.datetime]] = (),
        *,
        baseline_allowed: bool = True,
    ) -> None:
        """Step each alert and queue its announcements in the outbox, in one transaction.

        ``baseline_allowed``: a first observation of a key may be a pre-existing state
        (recorded, not announced); False when it cannot be (see ``step``). It can be
        only at the first observation of the key since start: one that follows
        observations that could not tell (no alert record then) is news.
        """
        if not observations and not one_shots:
            return
        async with self._lock:
            now = self._clock()
            policy = self._policy()
            prev = await self._store.load_alerts([o.key for o in observations])
            records: list[AlertRecord] = []
            announcements: list[_Announcement] = []
            for obs in observations:
                first = obs.key not in self._observed
                transition = step(
                    prev.get(obs.key),
                    obs,
                    now,
                    policy,
                    baseline_allowed=baseline_allowed and first,
                )
                if transition.record is None:
                    continue
                records.append(transition.record)
                if transition.announce is not None:
                    announcements.append(self._announcement(transition.record, transition.announce))
                elif held_for_flapping(transition.record, now):
                    # Recorded and not announced: say so, or the operator sees the state
                    # in the API and metrics with no notification and no reason.
                    log.warning(
                        "alert held back: flapping",
                        extra={
                            "key": obs.key,
                            "firings": len(transition.record.fire_times),
                            "flap_limit": policy.flap_limit,
                            "announced_if_still_firing_at": (now + policy.flap_window).isoformat(),
                        },
                    )
            for obs, at in one_shots:
                record = one_shot(obs, now, at)
                records.append(record)
                announcements.append(self._announcement(record, AlertStatus.FIRING))
            await self._save(records, announcements, now)
            # Once saved: a key whose first told state could not be stored is still first.
            self._observed.update(obs.key for obs in observations if not obs.unchecked)

    async def announce_record_changes(self, owned: Iterable[str], states: StateSnapshot) -> None:
        """Announce each change of a published record once, from the stored history.

        The history is written in the transaction that stores the new state, so a
        crash before the announcement is queued leaves a change newer than its alert
        record, and the next run announces it: nothing is lost, nothing is sent twice.
        """
        mine = set(owned)
        changed = {
            key: at
            for key, at in states.record_changed.items()
            if key[0] in mine and CheckName(key[1]) in RECORD_CHECKS
        }
        if not changed:
            return
        keys = {record_change_key(*key): key for key in changed}
        announced = await self._store.load_alerts(list(keys))
        due = []
        for alert_key, key in keys.items():
            record = announced.get(alert_key)
            at = dt.datetime.fromtimestamp(changed[key], dt.UTC)
            if record is not None and record.started_at is not None and record.started_at >= at:
                continue
            state = states.states.get(key)
            if state is not None:
                due.append((record_change_observation(state), at))
        await self.apply((), due)

    async def firing(self, kinds: Sequence[AlertKind]) -> list[AlertRecord]:
        """The alerts of ``kinds`` firing now (to observe the ones whose cause went away)."""
        return await self._store.firing_alerts(kinds)

    async def quiet_campaigns(
        self, observed: Sequence[Observation], *, shard: Shard, window: str
    ) -> list[Observation]:
        """Firing campaign alerts of campaigns with no traffic in the window: clear now.

        Without this, a campaign that stopped sending would keep its alert firing,
        and its next spike would not be announced.
        """
        seen = {o.key for o in observed}
        quiet = []
        for record in await self._store.firing_alerts(CAMPAIGN_KINDS):
            campaign = record.labels.get("campaign", "")
            if record.key in seen or not shard.owns_campaign(campaign):
                continue
            quiet.append(
                record.observed(False, f"Campaign {campaign}: no traffic in the last {window}")
            )
        return quiet

    async def retire_unwatched(
        self,
        *,
        targets: frozenset[str],
        zones: frozenset[str],
        shard: Shard,
        items: Mapping[tuple[str, str], frozenset[str]] | None = None,
    ) -> None:
        """Resolve the firing alerts of targets and zones no longer configured, and of the
        items ``items`` no longer lists for their (target, check)."""
        watched = items or {}

        def gone(record: AlertRecord) -> str | None:
            if record.kind in CAMPAIGN_KINDS:
                return None
            target = record.labels.get("target")
            zone = record.labels.get("zone")
            if target and target not in targets and shard.owns_target(target):
                return f"{target} removed from the config"
            if zone and zone not in zones and shard.owns_zone(zone):
                return f"zone {zone} removed from the config"
            if target and shard.owns_target(target):
                check, item = record.labels.get("check", ""), record.labels.get("item", "")
                listed = watched.get((target, check))
                if listed is not None and item not in listed:
                    return f"{check} {item} of {target} removed from the config"
            return None

        count = await self.retire_where(None, gone)
        if count:
            log.info("alerts of unwatched targets retired", extra={"count": count})

    async def retire_where(
        self, kinds: Sequence[AlertKind] | None, gone: Callable[[AlertRecord], str | None]
    ) -> int:
        """Resolve the firing alerts of ``kinds`` (all when None) for which ``gone`` gives a
        reason (their subject is no longer watched); how many were."""
        now = self._clock()
        records = []
        announcements = []
        for record in await self._store.firing_alerts(kinds):
            reason = gone(record)
            if reason is None:
                continue
            transition = retire(record, now, reason)
            assert transition.record is not None
            records.append(transition.record)
            if transition.announce is not None:
                announcements.append(self._announcement(transition.record, transition.announce))
        if records:
            async with self._lock:
                await self._save(records, announcements, now)
        return len(records)

    async def _save(
        self,
        records: Sequence[AlertRecord],
        announcements: Sequence[_Announcement],
        now: dt.datetime,
    ) -> None:
        queued = await self._store.save_alerts(records, announcements, now=now)
        for key, status, _payload, names in announcements:
            log.info("alert", extra={"key": key, "status": status, "notifiers": list(names)})
        if queued:
            self._on_queued()

    def _announcement(self, record: AlertRecord, status: AlertStatus) -> _Announcement:
        """The outbox entry: the payload and the notifiers whose routes want it."""
        payload = notification_payload(record, status)
        notification = notification_from_payload(payload)
        routes = self._routes()
        names = tuple(name for name, route in routes.items() if route.accepts(notification))
        return (record.key, status.value, payload, names)
