"""Which first told state is a pre-existing one (recorded, not announced) and which is
news, through the alert service on a real SQLite store."""

from __future__ import annotations

import datetime as dt

import aiohttp

from monitor.alerting.notify import Route, WebhookNotifier
from monitor.alerting.rules import risk_observation
from monitor.alerting.service import AlertService
from monitor.model.alerts import AlertPolicy, AlertStatus
from monitor.store import SqlStore

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
KEY = "risk_level:example.com"


async def service(store: SqlStore, session: aiohttp.ClientSession) -> AlertService:
    hook = Route(WebhookNotifier("hook", "http://127.0.0.1:9/", session=session), "info")
    return AlertService(
        store,
        clock=lambda: T0,
        routes=lambda: {"hook": hook},
        policy=AlertPolicy,
        on_queued=lambda: None,
    )


async def test_a_risk_scored_before_its_checks_ran_does_not_make_the_first_state_news(
    store: SqlStore,
) -> None:
    """The first campaigns run scores targets before their checks have run (incomplete:
    no alert yet). That counted as "watching began", so the state the first checks then
    found (elevated, there before the daemon started) was announced as news, or not,
    depending on which job ran first (an outside review saw both)."""
    async with aiohttp.ClientSession() as session:
        alerts = await service(store, session)
        await alerts.apply([risk_observation("example.com", 0, None, "elevated", unchecked=True)])
        await alerts.apply([risk_observation("example.com", 20, "elevated", "elevated")])
    record = (await store.load_alerts([KEY]))[KEY]
    assert (record.status, record.notified) == (AlertStatus.FIRING, False)
    assert (await store.outbox_counts())["pending"] == 0


async def test_a_state_first_told_after_a_check_could_not_tell_is_news(store: SqlStore) -> None:
    """Unlike the above, a check that ran and could not tell (a lower bound) is watching:
    what it then tells is news, as for a list failing its self-test at first."""
    async with aiohttp.ClientSession() as session:
        alerts = await service(store, session)
        await alerts.apply([risk_observation("example.com", 0, None, "elevated")])
        await alerts.apply([risk_observation("example.com", 20, "elevated", "elevated")])
    record = (await store.load_alerts([KEY]))[KEY]
    assert (record.status, record.notified) == (AlertStatus.FIRING, True)
    assert (await store.outbox_counts())["pending"] == 1
