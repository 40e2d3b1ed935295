"""A firing held back for flapping is recorded without a notification; the daemon's log
says so (with when it will be announced if it lasts), so an operator who sees the state
in the API without a notification knows why. Real SQLite store."""

from __future__ import annotations

import datetime as dt
import logging

import aiohttp
import pytest

from monitor.alerting.notify import Route, WebhookNotifier
from monitor.alerting.service import AlertService
from monitor.model.alerts import AlertKind, AlertPolicy, Observation, Severity
from monitor.store import SqlStore

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
KEY = "listed:192.0.2.1:bl.example"
POLICY = AlertPolicy(resolve_after=1, flap_limit=2, flap_window=dt.timedelta(hours=6))


def observation(active: bool) -> Observation:
    return Observation(
        KEY,
        AlertKind.LISTED,
        active,
        severity=Severity.CRITICAL,
        labels={"target": "192.0.2.1", "zone": "bl.example"},
        title="192.0.2.1 is listed on bl.example",
        resolved_title="192.0.2.1 is no longer listed on bl.example",
    )


async def test_a_firing_held_back_for_flapping_is_logged(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    now = [T0]
    session = aiohttp.ClientSession()  # never used: the outbox is not sent here
    hook = Route(WebhookNotifier("hook", "http://127.0.0.1:9/", session=session), "info")
    service = AlertService(
        store,
        clock=lambda: now[0],
        routes=lambda: {"hook": hook},
        policy=lambda: POLICY,
        on_queued=lambda: None,
    )
    await service.apply([observation(False)])  # the first check: clear
    caplog.set_level(logging.INFO, logger="monitor.alerting.service")
    announced = []
    for n in range(3):  # listed, delisted, three times within the window
        now[0] = T0 + dt.timedelta(minutes=10 * (2 * n + 1))
        caplog.clear()
        await service.apply([observation(True)])
        announced.append([r.status for r in caplog.records if r.getMessage() == "alert"])
        held = [r for r in caplog.records if r.getMessage() == "alert held back: flapping"]
        assert len(held) == (n == 2), n
        now[0] += dt.timedelta(minutes=10)
        await service.apply([observation(False)])
    await session.close()
    assert announced == [["firing"], ["firing"], []]
    (record,) = held
    assert (record.key, record.firings, record.flap_limit) == (KEY, 3, 2)  # type: ignore[attr-defined]
    assert record.announced_if_still_firing_at == "2026-03-02T15:50:00+00:00"  # type: ignore[attr-defined]
