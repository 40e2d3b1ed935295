"""The notification outbox sender (monitor/alerting/outbox.py) on SQLite and PostgreSQL, delivering
through a real WebhookNotifier to an aiohttp receiver on 127.0.0.1.

Pins: a queued announcement is sent once and marked sent; a 500 is retried when due (the
clock is a value the test moves, nothing sleeps) and then delivered; a 400 fails for good;
exhausted attempts fail; a notifier gone from the config fails with a reason; outcomes are
counted in delivermon_notifications_total{notifier,status}; the payload round-trips.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from receiver import Receiver
from sqlalchemy import select

from monitor.alerting.notify import Notification, RetryPolicy, Route, WebhookNotifier
from monitor.alerting.outbox import OutboxSender, notification_from_payload
from monitor.metrics.collector import Metrics, MetricsSources
from monitor.model.alerts import (
    AlertKind,
    AlertPolicy,
    AlertRecord,
    AlertStatus,
    Observation,
    Severity,
    notification_payload,
    step,
)
from monitor.store import SqlStore
from monitor.store.schema import notifications

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
KEY = "listed:192.0.2.1:zen.spamhaus.org"
HOOK = "ops-webhook"


@dataclass
class Clock:
    """The sender's clock: the test moves ``now``."""

    now: dt.datetime = T0

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(MetricsSources(), version="t", catalogue_version="t")


def record() -> AlertRecord:
    observation = Observation(
        KEY,
        AlertKind.LISTED,
        True,
        severity=Severity.CRITICAL,
        labels={"target": "192.0.2.1", "zone": "zen.spamhaus.org"},
        title="192.0.2.1 is listed on zen.spamhaus.org",
        text="Return codes: 127.0.0.2",
    )
    transition = step(None, observation, T0, AlertPolicy(notify_existing=True))
    assert transition.record is not None
    return transition.record


async def queue(store: SqlStore, *notifiers: str) -> None:
    rec = record()
    payload = notification_payload(rec, AlertStatus.FIRING)
    await store.save_alerts([rec], [(KEY, "firing", payload, list(notifiers))], now=T0)


def sender(
    store: SqlStore,
    metrics: Metrics,
    clock: Clock,
    routes: dict[str, Route],
    policy: RetryPolicy | None = None,
) -> OutboxSender:
    return OutboxSender(
        store,
        routes,
        metrics.count_notification,
        clock=clock,
        policy=policy or RetryPolicy(attempts=4, base_delay=2, max_delay=60),
        jitter=lambda: 0.0,
    )


def webhook(receiver: Receiver, session: aiohttp.ClientSession) -> dict[str, Route]:
    return {HOOK: Route(WebhookNotifier(HOOK, receiver.url, session=session))}


def counted(metrics: Metrics, status: str, notifier: str = HOOK) -> float:
    value = metrics.registry.get_sample_value(
        "delivermon_notifications_total", {"notifier": notifier, "status": status}
    )
    return value or 0.0


async def last_errors(store: SqlStore) -> list[str | None]:
    async with store._engine.connect() as conn:
        rows = await conn.execute(select(notifications.c.last_error).order_by(notifications.c.id))
        return [r[0] for r in rows]


async def test_a_queued_announcement_is_sent_once_and_marked_sent(
    store: SqlStore, metrics: Metrics, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    await queue(store, HOOK)
    out = sender(store, metrics, Clock(), webhook(receiver, session))
    assert await out.send_due() == 1
    assert await out.send_due() == 0
    (body,) = receiver.received
    assert (body["key"], body["status"], body["severity"]) == (KEY, "firing", "critical")
    assert await store.outbox_counts() == {"pending": 0, "sent": 1, "failed": 0}
    assert counted(metrics, "sent") == 1


async def test_http_500_is_retried_when_due_then_delivered(
    store: SqlStore, metrics: Metrics, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.statuses = [500]
    await queue(store, HOOK)
    clock = Clock()
    out = sender(store, metrics, clock, webhook(receiver, session))
    assert await out.send_due() == 0
    assert await store.outbox_counts() == {"pending": 1, "sent": 0, "failed": 0}
    assert counted(metrics, "retry") == 1
    assert await last_errors(store) == ["http.status_500"]
    assert await out.send_due() == 0  # not due yet: the back-off holds it
    assert len(receiver.received) == 1
    clock.advance(seconds=60)  # past the longest back-off of the policy
    assert await out.send_due() == 1
    assert len(receiver.received) == 2
    assert receiver.received[0] == receiver.received[1]
    assert await store.outbox_counts() == {"pending": 0, "sent": 1, "failed": 0}
    assert counted(metrics, "sent") == 1


async def test_a_keys_notifications_reach_a_notifier_in_the_order_they_were_queued(
    store: SqlStore, metrics: Metrics, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    """A "firing" in its back-off holds back the "resolved" queued after it for the same
    key and notifier: sent first, the resolved one would be followed by the stale firing,
    and a receiver pairing by key would end on "firing" for a listing that ended."""
    receiver.statuses = [500]
    await queue(store, HOOK)
    clock = Clock()
    out = sender(store, metrics, clock, webhook(receiver, session))
    assert await out.send_due() == 0  # the firing: 500, retried later
    rec = dataclasses.replace(record(), status=AlertStatus.RESOLVED, ended_at=clock.now)
    resolved = notification_payload(rec, AlertStatus.RESOLVED)
    await store.save_alerts([rec], [(KEY, "resolved", resolved, [HOOK])], now=clock.now)
    assert await out.send_due() == 0  # due, but behind the firing in its back-off
    assert len(receiver.received) == 1
    clock.advance(seconds=60)
    # Both in one pass, the resolved one claimed only once the firing was marked sent.
    assert await out.send_due() == 2
    assert [b["status"] for b in receiver.received] == ["firing", "firing", "resolved"]
    assert await store.outbox_counts() == {"pending": 0, "sent": 2, "failed": 0}


async def test_the_daemons_retries_outlast_a_half_hour_outage(
    store: SqlStore, metrics: Metrics, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    """The outbox's default policy (OUTBOX_RETRY): a destination answering 500 for 30
    minutes still gets the notification once it is back, with the shortest waits (jitter
    at its low end); the inline policy's 5 attempts gave up after 15 to 30 s."""
    receiver.statuses = [500] * 100
    await queue(store, HOOK)
    clock = Clock()
    out = OutboxSender(
        store, webhook(receiver, session), metrics.count_notification, clock=clock,
        jitter=lambda: 0.0,
    )  # fmt: skip
    while clock.now - T0 < dt.timedelta(minutes=30):
        assert await out.send_due() == 0
        clock.advance(seconds=10)
    assert await store.outbox_counts() == {"pending": 1, "sent": 0, "failed": 0}
    tries = len(receiver.received)
    assert tries >= 15
    receiver.statuses = []
    clock.advance(seconds=300)  # the longest wait of the policy
    assert await out.send_due() == 1
    assert await store.outbox_counts() == {"pending": 0, "sent": 1, "failed": 0}
    assert counted(metrics, "retry") == tries


async def test_http_400_fails_for_good_and_is_never_retried(
    store: SqlStore,
    metrics: Metrics,
    receiver: Receiver,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.statuses = [400]
    await queue(store, HOOK)
    clock = Clock()
    out = sender(store, metrics, clock, webhook(receiver, session))
    assert await out.send_due() == 0
    # The log names what the destination never learnt (the runbook reads it there).
    (given_up,) = [r for r in caplog.records if r.getMessage() == "notification failed for good"]
    assert (given_up.key, given_up.status, given_up.reason) == (KEY, "firing", "http.status_400")  # type: ignore[attr-defined]
    clock.advance(days=1)
    assert await out.send_due() == 0
    assert len(receiver.received) == 1
    assert await store.outbox_counts() == {"pending": 0, "sent": 0, "failed": 1}
    assert await last_errors(store) == ["http.status_400"]
    assert (counted(metrics, "failed"), counted(metrics, "retry")) == (1, 0)


async def test_exhausted_attempts_fail(
    store: SqlStore, metrics: Metrics, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.statuses = [500, 503, 500]
    await queue(store, HOOK)
    clock = Clock()
    policy = RetryPolicy(attempts=2, base_delay=2, max_delay=60)
    out = sender(store, metrics, clock, webhook(receiver, session), policy)
    assert await out.send_due() == 0
    clock.advance(seconds=60)
    assert await out.send_due() == 0
    clock.advance(days=1)
    assert await out.send_due() == 0
    assert len(receiver.received) == 2
    assert await store.outbox_counts() == {"pending": 0, "sent": 0, "failed": 1}
    assert await last_errors(store) == ["http.status_503"]
    assert (counted(metrics, "retry"), counted(metrics, "failed")) == (1, 1)


async def test_a_notifier_removed_from_the_config_is_dropped_with_a_reason(
    store: SqlStore, metrics: Metrics, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    await queue(store, HOOK, "old-mail")
    out = sender(store, metrics, Clock(), webhook(receiver, session))
    assert await out.send_due() == 1  # the configured notifier still gets its message
    assert await store.outbox_counts() == {"pending": 0, "sent": 1, "failed": 1}
    assert sorted(e or "" for e in await last_errors(store)) == [
        "",
        "notifier no longer configured",
    ]
    # Dropped, not failed: DelivermonNotificationsFailing paged for an hour about a
    # notifier the operator had removed on purpose.
    assert counted(metrics, "dropped", "old-mail") == 1
    assert counted(metrics, "failed", "old-mail") == 0
    assert counted(metrics, "sent") == 1


async def test_one_failing_notifier_does_not_hold_up_another(
    store: SqlStore, metrics: Metrics, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    await queue(store, HOOK, "broken")
    routes = webhook(receiver, session)
    routes["broken"] = Route(WebhookNotifier("broken", f"{receiver.url}/missing", session=session))
    out = sender(store, metrics, Clock(), routes)
    assert await out.send_due() == 1  # /hook/missing answers 404: permanent
    assert await store.outbox_counts() == {"pending": 0, "sent": 1, "failed": 1}
    assert counted(metrics, "failed", "broken") == 1


@pytest.mark.parametrize("status", [AlertStatus.FIRING, AlertStatus.RESOLVED])
def test_payload_round_trips_into_a_notification(status: AlertStatus) -> None:
    rec = record()
    ended = T0 + dt.timedelta(hours=2)
    if status is AlertStatus.RESOLVED:
        rec = dataclasses.replace(rec, status=AlertStatus.RESOLVED, ended_at=ended)
    assert notification_from_payload(notification_payload(rec, status)) == Notification(
        key=KEY,
        kind="listed",
        status=status.value,
        severity="critical",
        title="192.0.2.1 is listed on zen.spamhaus.org",
        text="Return codes: 127.0.0.2",
        labels=(("target", "192.0.2.1"), ("zone", "zen.spamhaus.org")),
        started_at=T0,
        ended_at=ended if status is AlertStatus.RESOLVED else None,
    )
