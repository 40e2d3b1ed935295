"""The alert state machine: transitions, baseline, damping, flapping, escalation."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from monitor.model.alerts import (
    AlertKind,
    AlertPolicy,
    AlertRecord,
    AlertStatus,
    Observation,
    Severity,
    notification_payload,
    one_shot,
    step,
)

T0 = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
POLICY = AlertPolicy(resolve_after=2, flap_window=dt.timedelta(hours=6), flap_limit=3)


def obs(active: bool | None, severity: Severity = Severity.CRITICAL) -> Observation:
    return Observation(
        key="listed:192.0.2.1:zen.example",
        kind=AlertKind.LISTED,
        active=active,
        severity=severity,
        labels={"target": "192.0.2.1", "zone": "zen.example"},
        title="192.0.2.1 is listed on zen.example",
        resolved_title="192.0.2.1 is no longer listed on zen.example",
    )


def run(
    series: list[bool | None], *, policy: AlertPolicy = POLICY
) -> tuple[AlertRecord | None, list[AlertStatus | None]]:
    """Step one key through ``series`` after a clear baseline observation."""
    record = step(None, obs(False), T0 - dt.timedelta(minutes=15), policy).record
    announced = []
    for i, active in enumerate(series):
        t = step(record, obs(active), T0 + dt.timedelta(minutes=15 * i), policy)
        announced.append(t.announce)
        if t.record is not None:
            record = t.record
    return record, announced


F, R = AlertStatus.FIRING, AlertStatus.RESOLVED


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        pytest.param([False, False], [None, None], id="never-active"),
        pytest.param([False, True], [None, F], id="fires-on-transition"),
        pytest.param([True, True, True], [F, None, None], id="fires-once"),
        pytest.param([True, False, False], [F, None, R], id="resolves-after-two-clears"),
        pytest.param([True, False, True, False, False], [F, None, None, None, R], id="damped"),
        pytest.param(
            [True, None, None, False, None, False],
            [F, None, None, None, None, R],
            id="unknown-changes-nothing",
        ),
        pytest.param([None, None], [None, None], id="unknown-never-fires"),
    ],
)
def test_transitions(series: list[bool | None], expected: list[AlertStatus | None]) -> None:
    assert run(series)[1] == expected


def test_a_state_present_at_the_first_check_is_recorded_not_announced() -> None:
    first = step(None, obs(True), T0, POLICY)
    assert first.announce is None
    assert first.record is not None
    assert first.record.status is AlertStatus.FIRING
    record = first.record
    for i in range(1, 4):
        t = step(record, obs(i == 1), T0 + dt.timedelta(minutes=15 * i), POLICY)
        assert t.announce is None  # no resolution either: the firing was never announced
        record = t.record or record
    assert record.status is AlertStatus.RESOLVED


def test_a_clear_first_check_is_recorded_so_a_restart_knows_it() -> None:
    first = step(None, obs(False), T0, POLICY)
    assert first.record is not None
    assert first.record.status is AlertStatus.RESOLVED
    assert not first.record.notified
    assert step(None, obs(None), T0, POLICY).record is None  # unknown: no baseline yet


def test_notify_existing_announces_the_baseline() -> None:
    policy = AlertPolicy(notify_existing=True)
    assert step(None, obs(True), T0, policy).announce is F


def test_flapping_is_held_after_the_limit() -> None:
    policy = AlertPolicy(resolve_after=1, flap_limit=2, flap_window=dt.timedelta(hours=6))
    record, announced = run([True, False, True, False, True, False, True], policy=policy)
    assert announced == [F, R, F, R, None, None, None]
    assert record is not None
    assert len(record.fire_times) == 4


def test_flapping_window_expires() -> None:
    policy = AlertPolicy(resolve_after=1, flap_limit=1, flap_window=dt.timedelta(minutes=20))
    # firings 30 minutes apart are outside a 20-minute window: each is announced
    assert run([True, False, True, False], policy=policy)[1] == [F, R, F, R]


def test_escalation_is_announced_again_but_not_a_downgrade() -> None:
    base = step(None, obs(False), T0, POLICY).record
    first = step(base, obs(True, Severity.WARNING), T0, POLICY)
    assert first.announce is F
    up = step(first.record, obs(True, Severity.CRITICAL), T0, POLICY)
    assert up.announce is F
    assert up.record is not None
    down = step(up.record, obs(True, Severity.WARNING), T0, POLICY)
    assert down.announce is None
    assert down.record is not None
    assert down.record.severity is Severity.WARNING


def test_a_lower_bound_below_the_firing_severity_neither_lowers_nor_re_announces() -> None:
    """A risk score whose list stopped answering reads lower (a lower bound): the critical
    alert stands, and the list answering again is not an escalation to announce."""
    base = step(None, obs(False), T0, POLICY).record
    fired = step(base, obs(True, Severity.CRITICAL), T0, POLICY)
    assert fired.announce is F
    assert fired.record is not None
    bound = dataclasses.replace(obs(True, Severity.WARNING), title="lower", lower_bound=True)
    held = step(fired.record, bound, T0 + dt.timedelta(minutes=5), POLICY)
    assert held.record is None
    assert held.announce is None
    back = step(fired.record, obs(True, Severity.CRITICAL), T0 + dt.timedelta(minutes=10), POLICY)
    assert back.announce is None
    # A lower bound above the firing severity is an escalation like any other.
    warning = step(base, obs(True, Severity.WARNING), T0, POLICY).record
    up = dataclasses.replace(obs(True, Severity.CRITICAL), lower_bound=True)
    assert step(warning, up, T0, POLICY).announce is F


def risk(level: str, *, lower_bound: bool = False) -> Observation:
    from monitor.alerting.rules import risk_observation

    return risk_observation("192.0.2.1", 50, level, "elevated", lower_bound=lower_bound)


def test_a_risk_level_rising_within_one_severity_is_announced_and_a_lower_bound_holds_it() -> None:
    """Elevated and high are both warnings: a move from one to the other was only a
    silent update of the stored alert (found by an outside review)."""
    base = step(None, risk("ok"), T0, POLICY).record
    elevated = step(base, risk("elevated"), T0, POLICY)
    assert elevated.announce is F
    assert elevated.record is not None
    high = step(elevated.record, risk("high"), T0 + dt.timedelta(minutes=5), POLICY)
    assert (high.announce, high.record and high.record.labels["level"]) == (F, "high")
    assert high.record is not None
    # A lower bound reading elevated neither lowers it nor, when it tells again, re-announces.
    held = step(high.record, risk("elevated", lower_bound=True), T0, POLICY)
    assert (held.record, held.announce) == (None, None)
    again = step(high.record, risk("high"), T0 + dt.timedelta(minutes=10), POLICY)
    assert again.announce is None


def test_a_state_present_at_the_first_check_that_escalates_is_announced() -> None:
    present = step(None, risk("elevated"), T0, POLICY)
    assert present.announce is None  # recorded, not announced
    assert present.record is not None
    worse = step(present.record, risk("critical"), T0 + dt.timedelta(minutes=5), POLICY)
    assert worse.announce is F
    assert worse.record is not None
    assert worse.record.notified
    # ... and then it resolves aloud, as any announced alert does.
    clear = step(worse.record, risk("ok"), T0 + dt.timedelta(minutes=10), POLICY).record
    assert step(clear, risk("ok"), T0 + dt.timedelta(minutes=15), POLICY).announce is R


def test_an_unchanged_firing_alert_needs_no_write() -> None:
    base = step(None, obs(False), T0, POLICY).record
    first = step(base, obs(True), T0, POLICY)
    assert step(first.record, obs(True), T0, POLICY).record is None


def test_payload_carries_labels_and_times() -> None:
    record, _ = run([True, False, False])
    assert record is not None
    payload = json.loads(notification_payload(record, AlertStatus.RESOLVED))
    assert payload["status"] == "resolved"
    assert payload["title"] == "192.0.2.1 is no longer listed on zen.example"
    assert payload["labels"] == {"target": "192.0.2.1", "zone": "zen.example"}
    assert payload["started_at"] == "2026-11-29T12:00:00Z"
    assert payload["ended_at"] == "2026-11-29T12:30:00Z"
    firing = json.loads(notification_payload(record, AlertStatus.FIRING))
    assert firing["ended_at"] is None


def test_one_shot_records_are_notified_and_ended() -> None:
    record = one_shot(obs(True), T0)
    assert record.notified
    assert record.ended_at == T0


def test_a_held_flapping_alert_is_announced_once_it_lasts_a_window() -> None:
    policy = AlertPolicy(resolve_after=1, flap_limit=2, flap_window=dt.timedelta(hours=2))
    record, announced = run([True, False, True, False, True], policy=policy)
    assert announced == [F, R, F, R, None]  # the third firing in the hour is held
    assert record is not None
    t0 = record.started_at
    assert t0 is not None
    still = step(record, obs(True), t0 + dt.timedelta(minutes=30), policy)
    assert still.announce is None
    lasted = step(still.record or record, obs(True), t0 + dt.timedelta(hours=2), policy)
    assert lasted.announce is F
    assert lasted.record is not None
    gone = step(lasted.record, obs(False), t0 + dt.timedelta(hours=3), policy)
    assert gone.announce is R  # and its end is announced too


def test_a_pre_existing_state_is_never_announced_however_long_it_lasts() -> None:
    first = step(None, obs(True), T0, POLICY)
    assert first.record is not None
    later = step(first.record, obs(True), T0 + dt.timedelta(days=3), POLICY)
    assert later.announce is None
