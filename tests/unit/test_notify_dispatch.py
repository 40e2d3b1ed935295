"""Pins the retry policy and the per-notifier outcomes of ``deliver`` (with scripted notifiers)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable

import pytest

from monitor.alerting.notify import (
    DeliveryOutcome,
    Dispatcher,
    Notification,
    NotifyPermanentError,
    NotifyTemporaryError,
    RetryPolicy,
    Route,
    deliver,
)

STARTED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)


def notification(*, severity: str = "critical", resolved: bool = False) -> Notification:
    return Notification(
        key="listed:192.0.2.1:zen.spamhaus.org",
        kind="listed",
        status="resolved" if resolved else "firing",
        severity=severity,  # type: ignore[arg-type]  # parametrised with valid values
        title="192.0.2.1 is listed on zen.spamhaus.org",
        text="",
        labels=(("target", "192.0.2.1"),),
        started_at=STARTED,
        ended_at=STARTED + dt.timedelta(hours=1) if resolved else None,
    )


class Scripted:
    """A notifier that raises the scripted errors in turn, then succeeds."""

    def __init__(self, name: str, script: Iterable[Exception] = ()) -> None:
        self.name = name
        self.script = list(script)
        self.calls = 0
        self.delivered: list[Notification] = []

    async def send(self, n: Notification) -> None:
        self.calls += 1
        if self.script:
            raise self.script.pop(0)
        self.delivered.append(n)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def temporary(reason: str = "http.status_500", retry_after: float | None = None) -> Exception:
    return NotifyTemporaryError(reason, "https://example.com answered", retry_after=retry_after)


POLICY = RetryPolicy(attempts=4, base_delay=1.0, max_delay=3.0)


async def test_temporary_errors_are_retried_with_exponential_backoff() -> None:
    notifier = Scripted("hook", [temporary(), temporary(), temporary()])
    sleeps = Sleeps()
    outcomes = await deliver(
        [Route(notifier)], notification(), policy=POLICY, sleep=sleeps, jitter=lambda: 0.0
    )
    assert outcomes == (DeliveryOutcome("hook", "sent", attempts=4),)
    assert len(notifier.delivered) == 1
    # base 1 s doubling, capped at 3 s, jitter 0 halves each wait.
    assert sleeps.waits == [0.5, 1.0, 1.5]


def test_jitter_scales_the_wait_between_half_and_full_backoff() -> None:
    policy = RetryPolicy(attempts=5, base_delay=2.0, max_delay=60.0)
    assert policy.delay(3, 0.0) == 4.0
    assert policy.delay(3, 0.999) == pytest.approx(7.996)
    assert policy.delay(30, 0.999) < 60.0


def test_retry_after_hint_raises_the_wait_up_to_max_delay() -> None:
    assert POLICY.delay(1, 0.0, retry_after=2.0) == 2.0
    assert POLICY.delay(1, 0.0, retry_after=3600.0) == 3.0


async def test_temporary_errors_give_up_after_the_last_attempt() -> None:
    notifier = Scripted("hook", [temporary()] * 10)
    sleeps = Sleeps()
    outcomes = await deliver([Route(notifier)], notification(), policy=POLICY, sleep=sleeps)
    assert outcomes == (DeliveryOutcome("hook", "failed", 4, "http.status_500"),)
    assert notifier.calls == 4
    assert len(sleeps.waits) == 3


async def test_permanent_error_is_not_retried() -> None:
    notifier = Scripted("hook", [NotifyPermanentError("http.status_400", "refused")])
    sleeps = Sleeps()
    outcomes = await deliver([Route(notifier)], notification(), policy=POLICY, sleep=sleeps)
    assert outcomes == (DeliveryOutcome("hook", "failed", 1, "http.status_400"),)
    assert notifier.calls == 1
    assert sleeps.waits == []


async def test_each_notifier_is_delivered_independently() -> None:
    broken = Scripted("mail", [NotifyPermanentError("smtp.auth", "refused")])
    flaky = Scripted("slack", [temporary("http.timeout")])
    fine = Scripted("hook")
    outcomes = await Dispatcher(
        [Route(broken), Route(flaky), Route(fine)], policy=POLICY, sleep=Sleeps()
    ).deliver(notification())
    assert [(o.notifier, o.status, o.attempts) for o in outcomes] == [
        ("mail", "failed", 1),
        ("slack", "sent", 2),
        ("hook", "sent", 1),
    ]


async def test_unexpected_exception_in_a_notifier_is_a_failed_outcome(
    caplog: pytest.LogCaptureFixture,
) -> None:
    buggy = Scripted("hook", [KeyError("bug")])
    fine = Scripted("slack")
    with caplog.at_level(logging.ERROR):
        outcomes = await deliver([Route(buggy), Route(fine)], notification(), sleep=Sleeps())
    assert outcomes[0] == DeliveryOutcome("hook", "failed", 1, "internal_error")
    assert outcomes[1].status == "sent"
    assert "unexpected error" in caplog.text


@pytest.mark.parametrize(
    ("severity", "minimum", "sent"),
    [
        ("info", "warning", False),
        ("warning", "warning", True),
        ("critical", "warning", True),
        ("warning", "critical", False),
        ("info", "info", True),
    ],
)
async def test_min_severity_filters(severity: str, minimum: str, sent: bool) -> None:
    notifier = Scripted("hook")
    route = Route(notifier, min_severity=minimum)  # type: ignore[arg-type]  # valid values
    (outcome,) = await deliver([route], notification(severity=severity), sleep=Sleeps())
    assert outcome.status == ("sent" if sent else "skipped")
    assert notifier.calls == (1 if sent else 0)


async def test_send_resolved_false_skips_resolved_messages_only() -> None:
    notifier = Scripted("hook")
    route = Route(notifier, send_resolved=False)
    (resolved,) = await deliver([route], notification(resolved=True), sleep=Sleeps())
    (firing,) = await deliver([route], notification(), sleep=Sleeps())
    assert (resolved.status, firing.status) == ("skipped", "sent")


async def test_logs_carry_the_redacted_endpoint_only(caplog: pytest.LogCaptureFixture) -> None:
    notifier = Scripted("hook", [temporary()] * 2)
    with caplog.at_level(logging.DEBUG):
        await deliver([Route(notifier)], notification(), policy=POLICY, sleep=Sleeps())
    assert "https://example.com answered" in caplog.text
    assert "retrying" in caplog.text


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(base_delay=10, max_delay=1)
