"""Rate math over counters: pure functions, no I/O.

Complaint and unsubscribe rates are per *delivered* message (what Gmail and
Yahoo measure, 0.1 % warn / 0.3 % block), the bounce rate per *sent* message.
Below a minimum volume a rate is ``None`` ("not meaningful"), never 0: three
deliveries and no complaint say nothing about a campaign.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Literal

__all__ = [
    "DEFAULT_GUARD",
    "DIMENSIONS",
    "CountRow",
    "Dimension",
    "RateRow",
    "Rates",
    "Totals",
    "VolumeGuard",
    "Window",
    "compute_rates",
    "floor_hour",
    "group_rows",
    "window_start",
]

Dimension = Literal["campaign", "provider", "category", "consent"]
DIMENSIONS: tuple[Dimension, ...] = ("campaign", "provider", "category", "consent")


class Window(StrEnum):
    """Rate windows. Counters are hourly, so a window starts at a whole hour."""

    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"
    LIFETIME = "lifetime"

    @property
    def duration(self) -> dt.timedelta | None:
        return _DURATIONS[self]


_DURATIONS: dict[Window, dt.timedelta | None] = {
    Window.HOUR: dt.timedelta(hours=1),
    Window.DAY: dt.timedelta(days=1),
    Window.WEEK: dt.timedelta(days=7),
    Window.LIFETIME: None,
}


def floor_hour(moment: dt.datetime) -> dt.datetime:
    """Start of the UTC hour holding ``moment`` (the counter bucket)."""
    if moment.tzinfo is not dt.UTC:  # events arrive in UTC already: skip the conversion
        moment = moment.astimezone(dt.UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def window_start(window: Window, now: dt.datetime) -> dt.datetime | None:
    """First bucket of ``window`` ending at ``now``; None for lifetime.

    The bucket holding ``now - duration`` is included, so a window covers at
    least its duration and at most one hour more (1 h at 10:20 = 09:00-10:20).
    """
    duration = window.duration
    return None if duration is None else floor_hour(now - duration)


@dataclass(frozen=True, slots=True)
class Totals:
    """Summed counters. ``bounces`` is every bounce, whatever its kind."""

    sent: int = 0
    delivered: int = 0
    bounces_permanent: int = 0
    bounces_transient: int = 0
    bounces_undetermined: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    unsubscribe_violations: int = 0

    @property
    def bounces(self) -> int:
        return self.bounces_permanent + self.bounces_transient + self.bounces_undetermined

    def __add__(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(Totals)))


@dataclass(frozen=True, slots=True)
class VolumeGuard:
    """Minimum volume under which a rate is not meaningful (reported as None)."""

    min_delivered: int = 1000  # for complaint and unsubscribe rates
    min_sent: int = 1000  # for the bounce rate

    def __post_init__(self) -> None:
        if self.min_delivered < 1 or self.min_sent < 1:
            raise ValueError("minimum volumes must be at least 1 (a rate over 0 is undefined)")


DEFAULT_GUARD = VolumeGuard()


@dataclass(frozen=True, slots=True)
class Rates:
    """Fractions (0.003 = 0.3 %), or None when the volume is below the guard."""

    complaint_rate: float | None
    unsubscribe_rate: float | None
    bounce_rate: float | None


def compute_rates(totals: Totals, guard: VolumeGuard) -> Rates:
    """Complaint and unsubscribe rates per delivered, bounce rate per sent, guarded."""
    per_delivered = totals.delivered >= guard.min_delivered
    return Rates(
        complaint_rate=totals.complaints / totals.delivered if per_delivered else None,
        unsubscribe_rate=totals.unsubscribes / totals.delivered if per_delivered else None,
        bounce_rate=totals.bounces / totals.sent if totals.sent >= guard.min_sent else None,
    )


@dataclass(frozen=True, slots=True)
class CountRow:
    """Counters of one campaign x provider x category x consent over a time range."""

    campaign: str
    provider: str
    category: str
    consent: str
    totals: Totals


@dataclass(frozen=True, slots=True)
class RateRow:
    """Totals and rates of one group; a dimension not grouped by is None (all of them)."""

    campaign: str | None
    provider: str | None
    category: str | None
    consent: str | None
    totals: Totals
    rates: Rates


_GroupKey = tuple[str | None, str | None, str | None, str | None]


def group_rows(
    rows: Iterable[CountRow], by: Sequence[Dimension], guard: VolumeGuard
) -> tuple[RateRow, ...]:
    """Sum ``rows`` per value of the ``by`` dimensions and compute each group's rates.

    ``by=()`` gives one overall row (even with no rows at all). Sorted by group.
    """
    unknown = set(by) - set(DIMENSIONS)
    if unknown:
        raise ValueError(f"unknown dimensions: {sorted(unknown)}")
    sums: dict[_GroupKey, Totals] = {} if by else {(None, None, None, None): Totals()}
    for row in rows:
        key: _GroupKey = (
            row.campaign if "campaign" in by else None,
            row.provider if "provider" in by else None,
            row.category if "category" in by else None,
            row.consent if "consent" in by else None,
        )
        sums[key] = sums.get(key, Totals()) + row.totals
    return tuple(
        RateRow(campaign, provider, category, consent, totals, compute_rates(totals, guard))
        for (campaign, provider, category, consent), totals in sorted(
            sums.items(), key=lambda item: [k or "" for k in item[0]]
        )
    )
