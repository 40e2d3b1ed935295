"""Rate math: per-delivered complaint/unsubscribe rates, per-sent bounce rate, the volume guard,
grouping and hour-aligned windows."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.store.rates import (
    CountRow,
    Totals,
    VolumeGuard,
    Window,
    compute_rates,
    group_rows,
    window_start,
)

GUARD = VolumeGuard(min_delivered=1000, min_sent=1000)


def test_complaint_and_unsubscribe_rates_are_per_delivered_bounce_rate_per_sent() -> None:
    totals = Totals(sent=2000, delivered=1500, complaints=3, unsubscribes=15, bounces_permanent=40)
    rates = compute_rates(totals, GUARD)
    assert rates.complaint_rate == pytest.approx(0.002)
    assert rates.unsubscribe_rate == pytest.approx(0.01)
    assert rates.bounce_rate == pytest.approx(0.02)


@pytest.mark.parametrize(
    ("delivered", "expected"),
    [
        pytest.param(999, None, id="below-guard-not-meaningful"),
        pytest.param(1000, 0.0, id="at-guard-zero-is-a-real-zero"),
        pytest.param(0, None, id="nothing-delivered"),
    ],
)
def test_volume_guard_reports_none_not_zero(delivered: int, expected: float | None) -> None:
    rates = compute_rates(Totals(sent=delivered, delivered=delivered), GUARD)
    assert rates.complaint_rate == expected
    assert rates.unsubscribe_rate == expected


def test_bounce_rate_guard_is_on_sent_and_counts_every_bounce_kind() -> None:
    totals = Totals(sent=1000, bounces_permanent=1, bounces_transient=2, bounces_undetermined=3)
    assert totals.bounces == 6
    assert compute_rates(totals, GUARD).bounce_rate == pytest.approx(0.006)
    assert compute_rates(Totals(sent=999, bounces_permanent=50), GUARD).bounce_rate is None


def test_a_guard_of_zero_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        VolumeGuard(min_delivered=0)


def test_totals_add_field_by_field() -> None:
    assert Totals(sent=1, complaints=2) + Totals(sent=3, unsubscribe_violations=1) == Totals(
        sent=4, complaints=2, unsubscribe_violations=1
    )


ROWS = (
    CountRow("a", "google", "commercial", "single_opt_in", Totals(delivered=600, complaints=3)),
    CountRow("a", "yahoo", "commercial", "single_opt_in", Totals(delivered=600, complaints=1)),
    CountRow("b", "google", "transactional", "transactional", Totals(delivered=2000)),
)


def test_group_rows_sums_per_campaign_and_applies_the_guard_per_group() -> None:
    by_campaign = group_rows(ROWS, ("campaign",), GUARD)
    assert [(r.campaign, r.provider, r.totals.delivered) for r in by_campaign] == [
        ("a", None, 1200),
        ("b", None, 2000),
    ]
    assert by_campaign[0].rates.complaint_rate == pytest.approx(4 / 1200)
    per_provider = group_rows(ROWS, ("campaign", "provider"), GUARD)
    assert [r.rates.complaint_rate for r in per_provider] == [None, None, 0.0]


def test_group_rows_by_consent_and_overall() -> None:
    consent = group_rows(ROWS, ("consent",), GUARD)
    assert [(r.consent, r.totals.complaints) for r in consent] == [
        ("single_opt_in", 4),
        ("transactional", 0),
    ]
    (overall,) = group_rows(ROWS, (), GUARD)
    assert overall.totals.delivered == 3200
    assert group_rows((), (), GUARD)[0].rates.complaint_rate is None


def test_group_rows_refuses_an_unknown_dimension() -> None:
    with pytest.raises(ValueError, match="unknown dimensions"):
        group_rows(ROWS, ("recipient",), GUARD)  # type: ignore[arg-type]  # the misuse under test


NOW = dt.datetime(2025, 3, 10, 10, 20, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("window", "start"),
    [
        (Window.HOUR, dt.datetime(2025, 3, 10, 9, tzinfo=dt.UTC)),
        (Window.DAY, dt.datetime(2025, 3, 9, 10, tzinfo=dt.UTC)),
        (Window.WEEK, dt.datetime(2025, 3, 3, 10, tzinfo=dt.UTC)),
        (Window.LIFETIME, None),
    ],
    ids=lambda v: str(v),
)
def test_windows_start_at_the_hour_holding_now_minus_duration(
    window: Window, start: dt.datetime | None
) -> None:
    assert window_start(window, NOW) == start


def test_window_start_converts_other_zones_to_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    assert window_start(Window.HOUR, NOW.astimezone(paris)) == dt.datetime(
        2025, 3, 10, 9, tzinfo=dt.UTC
    )
