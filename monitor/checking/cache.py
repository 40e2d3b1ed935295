"""The latest state of every check this replica runs, in memory: loaded from the store at
start, updated by the check jobs after each save, read through immutable snapshots.

The store holds the truth; this cache is what the metrics, the risk score and the
alerts read without I/O. Writers replace whole mappings (copy on write), so a snapshot
taken by a scrape never changes under it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from monitor.checking.states import CheckName, CheckRun, CheckState, StateChange

__all__ = ["StateCache", "StateKey", "StateSnapshot"]

log = logging.getLogger(__name__)

StateKey = tuple[str, str, str]  # (target, check, item)


def _empty() -> Mapping[object, object]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class StateSnapshot:
    """One consistent view: states, when each published record last changed, last runs."""

    states: Mapping[StateKey, CheckState] = field(default_factory=_empty)  # type: ignore[arg-type]
    record_changed: Mapping[StateKey, float] = field(default_factory=_empty)  # type: ignore[arg-type]
    runs: Mapping[tuple[str, str], CheckRun] = field(default_factory=_empty)  # type: ignore[arg-type]

    def of_target(self, target: str) -> list[CheckState]:
        return [s for s in self.states.values() if s.target == target]


class StateCache:
    """Owned by the composition root; the check jobs write it, everyone else reads snapshots."""

    def __init__(self) -> None:
        self._snapshot = StateSnapshot()

    def snapshot(self) -> StateSnapshot:
        return self._snapshot

    def get(self, key: StateKey) -> CheckState | None:
        return self._snapshot.states.get(key)

    def load(
        self,
        states: Iterable[CheckState],
        record_changes: Mapping[StateKey, dt.datetime],
        runs: Iterable[CheckRun],
    ) -> None:
        """Replace everything with what the store holds (at start)."""
        self._snapshot = StateSnapshot(
            MappingProxyType({s.key: s for s in states}),
            MappingProxyType({k: at.timestamp() for k, at in record_changes.items()}),
            MappingProxyType({(r.check, r.target): r for r in runs}),
        )

    def apply(self, states: Iterable[CheckState], changes: Iterable[StateChange]) -> None:
        """States just saved and the changes the store found; logs each status change.

        Each state keeps ``changed_at``: when its status last changed (this save's time
        for a change, else the previous state's).
        """
        snap = self._snapshot
        changed = {c.new.key: c.new.checked_at for c in changes}
        new_states = dict(snap.states)
        for state in states:
            prev = new_states.get(state.key)
            since = (
                changed.get(state.key) or (prev.changed_at if prev else None) or state.checked_at
            )
            new_states[state.key] = replace(state, changed_at=since)
        record_changed = dict(snap.record_changed)
        for change in changes:
            if change.record_changed:
                record_changed[change.new.key] = change.new.checked_at.timestamp()
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
        self._snapshot = StateSnapshot(
            MappingProxyType(new_states), MappingProxyType(record_changed), snap.runs
        )

    def record_runs(self, runs: Iterable[CheckRun]) -> None:
        snap = self._snapshot
        new_runs = {**snap.runs, **{(r.check, r.target): r for r in runs}}
        self._snapshot = StateSnapshot(snap.states, snap.record_changed, MappingProxyType(new_runs))

    def retain(
        self,
        *,
        targets: frozenset[str],
        zones: frozenset[str],
        items: Mapping[tuple[str, str], frozenset[str]] | None = None,
    ) -> None:
        """Forget states of targets and zones no longer checked here (after a reload), and
        of the items ``items`` no longer lists for their (target, check): a DKIM selector
        or an envelope domain removed from the config."""
        snap = self._snapshot
        watched = items or {}

        def item_kept(key: tuple[str, str, str]) -> bool:
            listed = watched.get((key[0], key[1]))
            return listed is None or key[2] in listed

        def kept(s: CheckState) -> bool:
            if s.check is CheckName.ZONE:
                return s.target in zones
            if s.target not in targets or not item_kept(s.key):
                return False
            return s.check is not CheckName.DNSBL or s.item in zones

        self._snapshot = StateSnapshot(
            MappingProxyType({k: s for k, s in snap.states.items() if kept(s)}),
            MappingProxyType(
                {k: t for k, t in snap.record_changed.items() if k[0] in targets and item_kept(k)}
            ),
            MappingProxyType({k: r for k, r in snap.runs.items() if r.target in targets}),
        )
