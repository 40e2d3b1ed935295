"""Bounce findings as alert observations: keys, severities, clear and "could not tell"."""

from __future__ import annotations

import datetime as dt

from checks.findings import Finding, FindingSeverity
from monitor.alerting.bounces import bounce_observations
from monitor.model.alerts import AlertKind, AlertPolicy, AlertStatus, Severity, step

T0 = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
CITED = Finding(
    "bounce.blocklist_cited",
    FindingSeverity.CRITICAL,
    "1 refusal(s) by microsoft citing list spamhaus (spamhaus); sweep: listed",
    {"provider": "microsoft", "blocklist": "spamhaus", "sweep": "listed", "ip": "192.0.2.10"},
)
HARD = Finding(
    "bounce.hard_bounce_rate",
    FindingSeverity.WARNING,
    "3.00% of campaign weekly's attempts hit a dead address",
    {"campaign": "weekly", "count": 60, "attempts": 2000},
)


def observe(findings: list[Finding], firing: list, attempts: dict[str, int] | None = None) -> list:  # type: ignore[type-arg]
    return bounce_observations(
        findings, firing, attempts=attempts or {}, min_volume=1000, window="1h"
    )


def test_findings_become_active_observations_with_stable_keys() -> None:
    cited, hard = observe([CITED, HARD], [])
    assert (cited.key, cited.kind, cited.severity, cited.active) == (
        "bounce_blocklist_cited:microsoft:spamhaus",
        AlertKind.BOUNCE_BLOCKLIST_CITED,
        Severity.CRITICAL,
        True,
    )
    assert dict(cited.labels) == {"provider": "microsoft", "blocklist": "spamhaus"}
    assert (hard.key, hard.severity, dict(hard.labels)) == (
        "bounce_hard_bounce_rate:weekly",
        Severity.WARNING,
        {"campaign": "weekly"},
    )


def test_a_firing_alert_without_its_finding_clears_unless_the_volume_cannot_tell() -> None:
    policy = AlertPolicy()
    records = []
    for obs in observe([CITED, HARD], []):
        t = step(None, obs, T0, policy, baseline_allowed=False)
        assert t.announce is AlertStatus.FIRING  # a first sight is news
        assert t.record is not None
        records.append(t.record)
    cited, hard = observe([], records, {"weekly": 400})  # the window passed; 400 < 1000
    assert cited.active is False
    assert hard.active is None  # still sending, too few attempts: could not tell
    (hard,) = [o for o in observe([], records, {}) if o.kind is AlertKind.BOUNCE_HARD_BOUNCE_RATE]
    assert hard.active is False  # no attempts at all in the window: nothing bounces
    assert cited.resolved_title == "No refusal by microsoft citing spamhaus in the last 1h"
