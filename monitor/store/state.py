"""The daemon's memory in the store: latest check state, its history, last runs, alerts
and the notification outbox.

Mixed into ``SqlStore``. State and alert rows are written only by the replica that
owns the target (sharding), so a read-then-upsert inside one transaction does not
race. Outbox rows are claimed with a lease (``claimed_until``): whichever replica
claims a row first sends it; a replica that dies mid-send leaves a lease that
expires, and the row is sent again (at-least-once, never lost). A single replica
releases the leases at its start (``release_claims``): nobody else can hold them.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import (
    RowMapping,
    Table,
    and_,
    delete,
    func,
    insert,
    not_,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from monitor.checking.states import (
    CheckName,
    CheckRun,
    CheckState,
    StateChange,
    fingerprint_changed,
)
from monitor.model.alerts import AlertKind, AlertRecord, AlertStatus, Severity
from monitor.store.engine import Writer
from monitor.store.schema import (
    alerts,
    cacheable_insert,
    check_runs,
    check_state,
    notifications,
    state_changes,
)

__all__ = ["OutboxItem", "StateHistoryItem", "StateRecords"]

_CHUNK = 400  # keys per IN (...) clause: below SQLite's and asyncpg's parameter limits


@dataclass(frozen=True, slots=True)
class StateHistoryItem:
    target: str
    check: str
    item: str
    old_status: str | None
    new_status: str
    record_changed: bool
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A notification to send to one notifier; ``payload`` is the JSON text."""

    id: int
    key: str
    notifier: str
    status: str
    payload: str
    attempts: int


class StateRecords:
    """Latest state, history, runs, alerts and outbox over an async engine."""

    _engine: AsyncEngine
    _writer: Writer

    # --- check state ----------------------------------------------------------

    async def save_states(self, states: Sequence[CheckState]) -> list[StateChange]:
        """Store the latest states; returns those whose status or fingerprint changed.

        A state first seen is a change with ``old`` None. Every change is kept in the
        history (``state_changes``).
        """
        if not states:
            return []
        by_key = {s.key: s for s in states}
        async with self._writer.begin() as conn:
            old = await _load_states(conn, list(by_key))
            changes = []
            rows = []
            history = []
            for key, new in by_key.items():
                prev = old.get(key)
                if new.status == "unknown" and new.fingerprint is None and prev is not None:
                    # Could not tell is not "the record is gone": keep the last known
                    # record's fingerprint, so a change across a DNS failure is seen.
                    new = replace(new, fingerprint=prev.fingerprint)
                change = StateChange(prev, new)
                changed = change.status_changed or change.record_changed
                changed_at = (
                    new.checked_at if changed or prev is None else prev.changed_at or new.checked_at
                )
                rows.append(_state_row(new, changed_at))
                if changed:
                    changes.append(change)
                    history.append(
                        {
                            "target": new.target,
                            "check": new.check.value,
                            "item": new.item,
                            "old_status": prev.status if prev else None,
                            "new_status": new.status,
                            "old_fingerprint": prev.fingerprint if prev else None,
                            "new_fingerprint": new.fingerprint,
                            "at": new.checked_at,
                        }
                    )
            await conn.execute(_UPSERT_STATE, rows)
            if history:
                await conn.execute(insert(state_changes), history)
        return changes

    async def latest_states(
        self, *, targets: Iterable[str] | None = None, check: CheckName | None = None
    ) -> list[CheckState]:
        query = select(check_state)
        if check is not None:
            query = query.where(check_state.c.check == check.value)
        async with self._engine.connect() as conn:
            if targets is None:
                result = await conn.execute(query)
                return [_state(row) for row in result.mappings()]
            found: list[CheckState] = []
            wanted = sorted(set(targets))
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                result = await conn.execute(query.where(check_state.c.target.in_(chunk)))
                found.extend(_state(row) for row in result.mappings())
            return found

    async def forget_states(self, keep_targets: Iterable[str], checks: Iterable[CheckName]) -> int:
        """Delete the states of targets no longer configured (for the given checks)."""
        keep = set(keep_targets)
        names = [c.value for c in checks]
        async with self._writer.begin() as conn:
            result = await conn.execute(
                select(check_state.c.target).where(check_state.c.check.in_(names)).distinct()
            )
            gone = [t for (t,) in result if t not in keep]
            for start in range(0, len(gone), _CHUNK):
                await conn.execute(
                    delete(check_state).where(
                        check_state.c.target.in_(gone[start : start + _CHUNK]),
                        check_state.c.check.in_(names),
                    )
                )
        return len(gone)

    async def forget_items(self, watched: Mapping[tuple[str, str], frozenset[str]]) -> int:
        """Delete the states of items their (target, check) no longer lists in ``watched``
        (a DKIM selector, an envelope domain removed from the config)."""
        checks = sorted({check for _target, check in watched})
        if not checks:
            return 0
        c = check_state.c
        async with self._writer.begin() as conn:
            found = await conn.execute(select(c.target, c.check, c.item).where(c.check.in_(checks)))
            gone = [
                (target, check, item)
                for target, check, item in found
                if (target, check) in watched and item not in watched[(target, check)]
            ]
            for target, check, item in gone:
                await conn.execute(
                    delete(check_state).where(c.target == target, c.check == check, c.item == item)
                )
        return len(gone)

    async def state_history(self, target: str, limit: int = 100) -> list[StateHistoryItem]:
        c = state_changes.c
        query = (
            select(state_changes)
            .where(c.target == target)
            .order_by(c.at.desc(), c.id.desc())
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return [
                StateHistoryItem(
                    target=row["target"],
                    check=row["check"],
                    item=row["item"],
                    old_status=row["old_status"],
                    new_status=row["new_status"],
                    record_changed=fingerprint_changed(
                        row["old_status"],
                        row["old_fingerprint"],
                        row["new_status"],
                        row["new_fingerprint"],
                    ),
                    at=row["at"],
                )
                for row in result.mappings()
            ]

    async def last_record_changes(self) -> dict[tuple[str, str, str], dt.datetime]:
        """When each (target, check, item)'s published record last changed (fingerprints)."""
        c = state_changes.c
        query = (
            select(c.target, c.check, c.item, func.max(c.at))
            .where(  # fingerprint_changed, in SQL
                c.old_status.is_not(None),
                c.old_fingerprint.is_distinct_from(c.new_fingerprint),
                not_(and_(c.old_status == "unknown", c.old_fingerprint.is_(None))),
                not_(and_(c.new_status == "unknown", c.new_fingerprint.is_(None))),
            )
            .group_by(c.target, c.check, c.item)
        )
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return {(t, ch, i): _utc(at) for t, ch, i, at in result}

    async def known_targets(self, check: CheckName) -> set[str]:
        """Targets that have a stored state for ``check`` (seen at least once)."""
        async with self._engine.connect() as conn:
            result = await conn.execute(
                select(check_state.c.target).where(check_state.c.check == check.value).distinct()
            )
            return {t for (t,) in result}

    # --- runs -----------------------------------------------------------------

    async def record_runs(self, runs: Sequence[CheckRun]) -> None:
        if not runs:
            return
        rows = [
            {
                "check": r.check,
                "target": r.target,
                "success": r.success,
                "duration_seconds": r.duration_seconds,
                "ran_at": r.ran_at,
            }
            for r in runs
        ]
        async with self._writer.begin() as conn:
            await conn.execute(_UPSERT_RUN, rows)

    async def check_runs(self) -> list[CheckRun]:
        async with self._engine.connect() as conn:
            result = await conn.execute(select(check_runs))
            return [CheckRun(**dict(row)) for row in result.mappings()]

    # --- alerts and outbox ------------------------------------------------------

    async def load_alerts(self, keys: Iterable[str] | None = None) -> dict[str, AlertRecord]:
        async with self._engine.connect() as conn:
            if keys is None:
                result = await conn.execute(select(alerts))
                return {row["key"]: _alert(row) for row in result.mappings()}
            found: dict[str, AlertRecord] = {}
            wanted = sorted(set(keys))
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                result = await conn.execute(select(alerts).where(alerts.c.key.in_(chunk)))
                found.update((row["key"], _alert(row)) for row in result.mappings())
            return found

    async def firing_alerts(self, kinds: Sequence[AlertKind] | None = None) -> list[AlertRecord]:
        """Alerts currently firing, of the given kinds (all kinds when None)."""
        query = select(alerts).where(alerts.c.status == AlertStatus.FIRING.value)
        if kinds is not None:
            query = query.where(alerts.c.kind.in_([k.value for k in kinds]))
        async with self._engine.connect() as conn:
            result = await conn.execute(query)
            return [_alert(row) for row in result.mappings()]

    async def save_alerts(
        self,
        records: Sequence[AlertRecord],
        announcements: Sequence[tuple[str, str, str, Sequence[str]]],
        *,
        now: dt.datetime,
    ) -> int:
        """Save alert records and queue their announcements, in one transaction.

        ``announcements`` are (key, status, payload JSON, notifier names); each is
        queued once per notifier named. Returns the number of outbox rows queued.
        """
        outbox = [
            {
                "key": key,
                "notifier": name,
                "status": status,
                "payload": payload,
                "created_at": now,
                "next_attempt_at": now,
                "claimed_until": None,
                "attempts": 0,
                "sent_at": None,
                "failed_at": None,
                "last_error": None,
            }
            for key, status, payload, names in announcements
            for name in names
        ]
        if not records and not outbox:
            return 0
        async with self._writer.begin() as conn:
            if records:
                await conn.execute(_UPSERT_ALERT, [_alert_row(r) for r in records])
            if outbox:
                await conn.execute(insert(notifications), outbox)
        return len(outbox)

    async def claim_notifications(
        self, now: dt.datetime, *, lease: dt.timedelta, limit: int = 50
    ) -> list[OutboxItem]:
        """Claim due, unsent notifications for ``lease``; another replica skips them meanwhile."""
        n = notifications.c
        earlier = notifications.alias("earlier")
        # A key's notifications reach a notifier in the order they were queued: a row
        # waits while an older one for the same key and notifier is neither sent nor
        # failed, so a retried "firing" never arrives after the "resolved" behind it.
        waiting = (
            select(earlier.c.id)
            .where(
                earlier.c.key == n.key,
                earlier.c.notifier == n.notifier,
                earlier.c.id < n.id,
                earlier.c.sent_at.is_(None),
                earlier.c.failed_at.is_(None),
            )
            .exists()
        )
        due = and_(
            n.sent_at.is_(None),
            n.failed_at.is_(None),
            n.next_attempt_at <= now,
            or_(n.claimed_until.is_(None), n.claimed_until < now),
            ~waiting,
        )
        claimed: list[OutboxItem] = []
        async with self._writer.begin() as conn:
            candidates = await conn.execute(select(n.id).where(due).order_by(n.id).limit(limit))
            for (row_id,) in list(candidates):
                result = await conn.execute(
                    update(notifications)
                    .where(n.id == row_id, due)
                    .values(claimed_until=now + lease, attempts=n.attempts + 1)
                    .returning(n.id, n.key, n.notifier, n.status, n.payload, n.attempts)
                )
                row = result.first()
                if row is not None:
                    claimed.append(OutboxItem(*row))
        return claimed

    async def finish_notification(
        self,
        item_id: int,
        *,
        sent_at: dt.datetime | None = None,
        failed_at: dt.datetime | None = None,
        retry_at: dt.datetime | None = None,
        error: str | None = None,
    ) -> None:
        """Mark a claimed notification sent, failed for good, or due again at ``retry_at``."""
        values: dict[str, object] = {"claimed_until": None, "last_error": error}
        if sent_at is not None:
            values["sent_at"] = sent_at
        if failed_at is not None:
            values["failed_at"] = failed_at
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        async with self._writer.begin() as conn:
            await conn.execute(
                update(notifications).where(notifications.c.id == item_id).values(**values)
            )

    async def release_claims(self) -> int:
        """Make every claimed, unfinished notification due again; returns how many.

        Only for a daemon that knows no other replica is sending (a single replica at its
        start): the claims it finds are its killed predecessor's, whose sends never
        completed, or completed without being marked.
        """
        n = notifications.c
        async with self._writer.begin() as conn:
            result = await conn.execute(
                update(notifications)
                .where(n.sent_at.is_(None), n.failed_at.is_(None), n.claimed_until.is_not(None))
                .values(claimed_until=None)
            )
        return result.rowcount

    async def outbox_counts(self) -> dict[str, int]:
        """Outbox rows by state: pending, sent, failed."""
        n = notifications.c
        async with self._engine.connect() as conn:
            pending = await conn.scalar(
                select(func.count()).where(n.sent_at.is_(None), n.failed_at.is_(None))
            )
            sent = await conn.scalar(select(func.count()).where(n.sent_at.is_not(None)))
            failed = await conn.scalar(select(func.count()).where(n.failed_at.is_not(None)))
        return {"pending": pending or 0, "sent": sent or 0, "failed": failed or 0}

    async def purge_outbox(self, before: dt.datetime) -> int:
        """Delete sent or failed notifications older than ``before``."""
        n = notifications.c
        async with self._writer.begin() as conn:
            result = await conn.execute(
                delete(notifications).where(
                    n.created_at < before, or_(n.sent_at.is_not(None), n.failed_at.is_not(None))
                )
            )
        return result.rowcount


def _set_all(table: Table, keys: tuple[str, ...]) -> str:
    names = [c.name for c in table.columns if c.name not in keys]
    quoted = ", ".join(f'"{k}"' for k in keys)
    return f"ON CONFLICT ({quoted}) DO UPDATE SET " + ", ".join(
        f'"{n}" = excluded."{n}"' for n in names
    )


_UPSERT_STATE = cacheable_insert(check_state, _set_all(check_state, ("target", "check", "item")))
_UPSERT_RUN = cacheable_insert(check_runs, _set_all(check_runs, ("check", "target")))
_UPSERT_ALERT = cacheable_insert(alerts, _set_all(alerts, ("key",)))


async def _load_states(
    conn: AsyncConnection, keys: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], CheckState]:
    found: dict[tuple[str, str, str], CheckState] = {}
    c = check_state.c
    for start in range(0, len(keys), _CHUNK // 3):
        chunk = keys[start : start + _CHUNK // 3]
        result = await conn.execute(
            select(check_state).where(tuple_(c.target, c.check, c.item).in_(chunk))
        )
        for row in result.mappings():
            state = _state(row)
            found[state.key] = state
    return found


def _utc(value: dt.datetime | str) -> dt.datetime:
    """MAX() over a SQLite datetime column comes back as text, untyped."""
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _state_row(state: CheckState, changed_at: dt.datetime) -> dict[str, object]:
    return {
        "target": state.target,
        "check": state.check.value,
        "item": state.item,
        "status": state.status,
        "severity": state.severity,
        "detail": state.detail,
        "fingerprint": state.fingerprint,
        "checked_at": state.checked_at,
        "changed_at": changed_at,
    }


def _state(row: RowMapping) -> CheckState:
    return CheckState(
        target=row["target"],
        check=CheckName(row["check"]),
        item=row["item"],
        status=row["status"],
        severity=row["severity"],
        detail=row["detail"],
        fingerprint=row["fingerprint"],
        checked_at=row["checked_at"],
        changed_at=row["changed_at"],
    )


def _alert_row(record: AlertRecord) -> dict[str, object]:
    return {
        "key": record.key,
        "kind": record.kind.value,
        "severity": record.severity.value,
        "status": record.status.value,
        "labels": json.dumps(dict(sorted(record.labels.items())), ensure_ascii=False),
        "title": record.title,
        "text": record.text,
        "started_at": record.started_at,
        "ended_at": record.ended_at,
        "notified": record.notified,
        "clear_count": record.clear_count,
        "fire_times": json.dumps([t.isoformat() for t in record.fire_times]),
        "updated_at": record.updated_at,
    }


def _alert(row: RowMapping) -> AlertRecord:
    return AlertRecord(
        key=row["key"],
        kind=AlertKind(row["kind"]),
        severity=Severity(row["severity"]),
        status=AlertStatus(row["status"]),
        labels=json.loads(row["labels"]),
        title=row["title"],
        text=row["text"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        notified=bool(row["notified"]),
        clear_count=row["clear_count"],
        fire_times=tuple(dt.datetime.fromisoformat(t) for t in json.loads(row["fire_times"])),
        updated_at=row["updated_at"],
    )
