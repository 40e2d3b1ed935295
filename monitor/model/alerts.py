"""The alert state machine: one record per alert key, stepped by observations.

Pure: no I/O. The daemon loads the records from the store, steps them with what a
check just saw, and saves the new records together with the notifications they
call for (the outbox), in one transaction. So a restart neither re-sends nor
forgets, and two replicas never announce the same change twice.

Rules (``AlertPolicy``):

- An **unknown** observation (DNS failure, rate below the volume guard) changes
  nothing: it neither fires nor resolves.
- The **first** known observation of a key (no record yet) is its baseline: it is
  recorded (a clear one too, so "never evaluated" and "evaluated, all clear" stay
  apart across restarts), and a condition already present is recorded as firing
  but not announced, unless ``notify_existing``.
- An alert **resolves** after ``resolve_after`` consecutive clear observations, so
  one good answer in a flapping series does not send "resolved".
- **Flapping**: when an alert has fired more than ``flap_limit`` times within
  ``flap_window``, further firings are recorded but not announced; one that then
  stays firing for a whole ``flap_window`` is announced (flapping has stopped,
  the problem has not).
- A firing alert whose severity **escalates** (warning → critical, or up the
  observation's ``order`` within a severity) is announced again; so is a pre-existing
  state (recorded, not announced) that escalates.
- A resolution is announced only when the firing was.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

__all__ = [
    "AlertKind",
    "AlertPolicy",
    "AlertRecord",
    "AlertStatus",
    "Observation",
    "Severity",
    "Transition",
    "held_for_flapping",
    "notification_payload",
    "one_shot",
    "retire",
    "step",
]


class AlertKind(StrEnum):
    LISTED = "listed"
    ZONE_UNHEALTHY = "zone_unhealthy"
    RESOLVER_REFUSED = "resolver_refused"
    RECORD_BROKEN = "record_broken"
    RECORD_CHANGED = "record_changed"
    RISK_LEVEL = "risk_level"
    COMPLAINT_RATE = "complaint_rate"
    UNSUBSCRIBE_DEADLINE = "unsubscribe_deadline"
    GMAIL_SPAM_RATE = "gmail_spam_rate"
    GMAIL_COMPLIANCE = "gmail_compliance"
    SNDS_FILTER = "snds_filter"
    SNDS_TRAP_HITS = "snds_trap_hits"
    SNDS_BLOCKED = "snds_blocked"
    SNDS_UNCONFIGURED = "snds_unconfigured"
    BOUNCE_BLOCKLIST_CITED = "bounce_blocklist_cited"
    BOUNCE_REPUTATION_RATELIMIT = "bounce_reputation_ratelimit"
    BOUNCE_DMARC_REJECTED = "bounce_dmarc_rejected"
    BOUNCE_HARD_BOUNCE_RATE = "bounce_hard_bounce_rate"


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    notify_existing: bool = False
    resolve_after: int = 2
    flap_window: dt.timedelta = dt.timedelta(hours=6)
    flap_limit: int = 3


@dataclass(frozen=True, slots=True)
class Observation:
    """What a check saw for one alert key: ``active`` None means could not tell.

    ``lower_bound``: some inputs could not tell, so the severity is at least this one (a
    risk score with a list that stopped answering); a firing alert of a higher severity
    stands as it is, neither lowered nor announced again when the inputs tell again.
    """

    key: str
    kind: AlertKind
    active: bool | None
    severity: Severity = Severity.WARNING
    labels: Mapping[str, str] = field(default_factory=dict)
    title: str = ""
    text: str = ""
    resolved_title: str = ""
    lower_bound: bool = False
    # A finer order within a severity: a label and its values, lowest first. A firing
    # alert whose label moves up it is announced again, as one whose severity rises (a
    # risk level from elevated to high, both warnings); a lower bound never lowers it.
    order: tuple[str, tuple[str, ...]] | None = None
    # ``active`` None because the checks it reads have not all run yet (a risk score right
    # after start): not a "could not tell" after which a first told state would be news.
    unchecked: bool = False


def _rank(severity: Severity, labels: Mapping[str, str], obs: Observation) -> tuple[int, int]:
    """The severity's rank, then the rank of ``obs.order``'s label among its values."""
    if obs.order is None:
        return (severity.rank, 0)
    name, values = obs.order
    value = labels.get(name, "")
    return (severity.rank, values.index(value) if value in values else -1)


@dataclass(frozen=True, slots=True)
class AlertRecord:
    key: str
    kind: AlertKind
    severity: Severity
    status: AlertStatus
    labels: Mapping[str, str]
    title: str
    text: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    notified: bool
    clear_count: int
    fire_times: tuple[dt.datetime, ...]
    updated_at: dt.datetime

    def observed(self, active: bool | None, resolved_title: str) -> Observation:
        """What a check that no longer sees this alert's subject observes: the alert as
        it is (key, kind, severity, labels, texts) with ``active`` as given."""
        return Observation(
            key=self.key,
            kind=self.kind,
            active=active,
            severity=self.severity,
            labels=self.labels,
            title=self.title,
            text=self.text,
            resolved_title=resolved_title,
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """The new record (None: nothing to save) and the status to announce (None: nothing)."""

    record: AlertRecord | None
    announce: AlertStatus | None = None


def step(
    prev: AlertRecord | None,
    obs: Observation,
    now: dt.datetime,
    policy: AlertPolicy,
    *,
    baseline_allowed: bool = True,
) -> Transition:
    """Advance one alert by one observation.

    ``baseline_allowed=False``: a key seen for the first time is news, not a
    pre-existing state (a campaign that starts after the daemon's first check).
    """
    if obs.active is None:
        return Transition(None)
    if obs.active:
        if prev is None or prev.status is AlertStatus.RESOLVED:
            return _fire(prev, obs, now, policy, baseline=prev is None and baseline_allowed)
        return _still_firing(prev, obs, now, policy)
    if prev is None:
        return Transition(_clear_baseline(obs, now))
    if prev.status is AlertStatus.RESOLVED:
        return Transition(None)
    clear = prev.clear_count + 1
    if clear < policy.resolve_after:
        return Transition(replace(prev, clear_count=clear, updated_at=now))
    resolved = replace(
        prev,
        status=AlertStatus.RESOLVED,
        ended_at=now,
        clear_count=clear,
        title=obs.resolved_title or prev.title,
        updated_at=now,
    )
    return Transition(resolved, AlertStatus.RESOLVED if prev.notified else None)


def _new_record(
    obs: Observation,
    now: dt.datetime,
    *,
    status: AlertStatus,
    started_at: dt.datetime | None,
    ended_at: dt.datetime | None,
    notified: bool,
    fire_times: tuple[dt.datetime, ...],
) -> AlertRecord:
    """A record made from an observation (what it says, and when)."""
    firing = status is AlertStatus.FIRING
    return AlertRecord(
        key=obs.key,
        kind=obs.kind,
        severity=obs.severity,
        status=status,
        labels=dict(obs.labels),
        title=obs.title if firing else obs.resolved_title or obs.title,
        text=obs.text if firing else "",
        started_at=started_at,
        ended_at=ended_at,
        notified=notified,
        clear_count=0,
        fire_times=fire_times,
        updated_at=now,
    )


def _clear_baseline(obs: Observation, now: dt.datetime) -> AlertRecord:
    return _new_record(
        obs,
        now,
        status=AlertStatus.RESOLVED,
        started_at=None,
        ended_at=None,
        notified=False,
        fire_times=(),
    )


def _fire(
    prev: AlertRecord | None,
    obs: Observation,
    now: dt.datetime,
    policy: AlertPolicy,
    *,
    baseline: bool,
) -> Transition:
    recent = tuple(t for t in (prev.fire_times if prev else ()) if now - t < policy.flap_window)
    fire_times = (*recent, now)
    flapping = len(fire_times) > policy.flap_limit
    announce = not flapping and (not baseline or policy.notify_existing)
    if baseline and not announce:
        # A pre-existing state: no firing instants, which tells it apart from a
        # firing held back for flapping (announced once it has lasted, below).
        fire_times = ()
    record = _new_record(
        obs,
        now,
        status=AlertStatus.FIRING,
        started_at=now,
        ended_at=None,
        notified=announce,
        fire_times=fire_times,
    )
    return Transition(record, AlertStatus.FIRING if announce else None)


def _still_firing(
    prev: AlertRecord, obs: Observation, now: dt.datetime, policy: AlertPolicy
) -> Transition:
    now_rank = _rank(obs.severity, obs.labels, obs)
    was_rank = _rank(prev.severity, prev.labels, obs)
    escalated = now_rank > was_rank
    held = (
        not prev.notified
        and bool(prev.fire_times)  # held for flapping, not a pre-existing state
        and prev.started_at is not None
        and now - prev.started_at >= policy.flap_window
    )
    record = replace(
        prev,
        severity=obs.severity,
        labels=dict(obs.labels),
        title=obs.title,
        text=obs.text,
        clear_count=0,
        updated_at=now,
    )
    if held:
        # The flapping stopped with the problem present: it has lasted a whole
        # window, so it is announced now (and its resolution will be too).
        return Transition(replace(record, notified=True), AlertStatus.FIRING)
    if obs.lower_bound and now_rank < was_rank:
        # Not a drop: what could not tell may still be what made it worse.
        return Transition(None if prev.clear_count == 0 else replace(prev, clear_count=0))
    if escalated and prev.notified:
        return Transition(record, AlertStatus.FIRING)
    if escalated and not prev.fire_times:
        # A state present at the first check (recorded, not announced) got worse since:
        # that is news. (One held back for flapping has firing instants: it waits.)
        return Transition(replace(record, notified=True), AlertStatus.FIRING)
    unchanged = (
        prev.clear_count == 0
        and prev.severity is obs.severity
        and prev.title == obs.title
        and prev.text == obs.text
    )
    return Transition(None if unchanged else record)


def held_for_flapping(record: AlertRecord, now: dt.datetime) -> bool:
    """A firing that ``step`` just recorded without announcing it because the key fired
    more than ``flap_limit`` times in the window (a pre-existing state has no firing
    instants; see ``_fire``)."""
    return (
        record.status is AlertStatus.FIRING
        and not record.notified
        and bool(record.fire_times)
        and record.started_at == now
    )


def retire(record: AlertRecord, now: dt.datetime, reason: str) -> Transition:
    """End a firing alert whose subject is no longer watched (removed from the config).

    Its resolution is announced when its firing was, so nobody is left waiting.
    """
    resolved = replace(
        record,
        status=AlertStatus.RESOLVED,
        ended_at=now,
        title=f"{record.title} (no longer monitored: {reason})",
        updated_at=now,
    )
    return Transition(resolved, AlertStatus.RESOLVED if record.notified else None)


def one_shot(obs: Observation, now: dt.datetime, at: dt.datetime | None = None) -> AlertRecord:
    """A record for an event that is announced once and never resolves (a record changed).

    ``at`` is when the event happened (default ``now``); it is the record's ``started_at``.
    """
    at = at or now
    return _new_record(
        obs,
        now,
        status=AlertStatus.FIRING,
        started_at=at,
        ended_at=at,
        notified=True,
        fire_times=(at,),
    )


def _instant(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds").replace("+00:00", "Z") if value else None


def notification_payload(record: AlertRecord, status: AlertStatus) -> str:
    """The outbox payload (JSON text) for announcing ``record`` as ``status``."""
    return json.dumps(
        {
            "key": record.key,
            "kind": record.kind.value,
            "status": status.value,
            "severity": record.severity.value,
            "title": record.title,
            "text": record.text,
            "labels": dict(sorted(record.labels.items())),
            "started_at": _instant(record.started_at),
            "ended_at": _instant(record.ended_at) if status is AlertStatus.RESOLVED else None,
        },
        ensure_ascii=False,
        sort_keys=True,
    )
