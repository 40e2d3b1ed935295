"""Campaign figures read from the store (monitor/risk/campaigns.py), on SQLite and PostgreSQL.

One scenario, ingested through ``store.add_events``, read at a fixed ``now``:

========  ===============  =================================================  ===========
campaign  sending domain   traffic                                            label
========  ===============  =================================================  ===========
big       example.com      1000 delivered 2 h ago (600 google, 400 yahoo),    big
                           4 complaints (0.4 %: critical)
mid       example.com      500 delivered 3 h ago, 1 complaint (0.2 %:         mid
                           warning); 200 delivered 3 days ago, 1 complaint
small     -                50 delivered 1 h ago, 1 complaint (below the       _other
                           guard of 100); one send to an address that opted
                           out 5 days before (a deadline violation)
old       example.org      2000 delivered 30 days ago (outside the 7 d        _other
                           campaign window, busiest of all in lifetime)
========  ===============  =================================================  ===========

``[metrics] max_campaigns = 2``: big and mid keep their labels.
"""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.checking.sharding import Shard
from monitor.config import Config, parse_config
from monitor.model.alerts import AlertKind, Observation, Severity
from monitor.model.events import Category, Consent, Event, EventType, Provider, Source
from monitor.model.privacy import Pseudonymizer
from monitor.risk.campaigns import OTHER, CampaignSnapshot, refresh_campaigns
from monitor.risk.inputs import DomainFigures
from monitor.store import Rates, SqlStore, Totals
from monitor.store.rates import VolumeGuard

P = Pseudonymizer(b"k" * 32)
NOW = dt.datetime(2026, 3, 10, 10, 20, tzinfo=dt.UTC)
CONFIG = """
[feedback]
min_volume = 100

[metrics]
max_campaigns = 2

[alerts]
complaint_window = "24h"
complaint_warning = 0.001
complaint_critical = 0.003

[[domains]]
name = "example.com"

[[domains]]
name = "example.org"

[[domains]]
name = "example.net"
"""


def ev(
    kind: EventType,
    campaign: str,
    ago: dt.timedelta,
    count: int = 1,
    provider: Provider = Provider.OTHER,
    recipient: str | None = None,
) -> Event:
    return Event(
        kind,
        campaign=campaign,
        occurred_at=NOW - ago,
        source=Source.API,
        count=count,
        provider=provider,
        recipient=recipient,
    )


def traffic(
    campaign: str,
    ago: dt.timedelta,
    delivered: int,
    complaints: int,
    provider: Provider = Provider.OTHER,
) -> list[Event]:
    events = [
        ev(EventType.SENT, campaign, ago, delivered, provider),
        ev(EventType.DELIVERED, campaign, ago, delivered, provider),
    ]
    if complaints:
        events.append(ev(EventType.COMPLAINT, campaign, ago, complaints, provider))
    return events


HOURS = dt.timedelta(hours=1)
DAYS = dt.timedelta(days=1)


Figures = tuple[CampaignSnapshot, dict[str, DomainFigures], list[Observation]]


@pytest.fixture
def config() -> Config:
    return parse_config(CONFIG)


async def refresh(store: SqlStore, config: Config) -> Figures:
    guard = VolumeGuard(
        min_delivered=config.feedback.min_volume, min_sent=config.feedback.min_volume
    )
    return await refresh_campaigns(store, config, guard, Shard(), now=NOW)


@pytest.fixture
async def figures(store: SqlStore, config: Config) -> Figures:
    await store.add_events(
        [
            *traffic("big", 2 * HOURS, 600, 4, Provider.GOOGLE),
            *traffic("big", 2 * HOURS, 400, 0, Provider.YAHOO),
            *traffic("mid", 3 * HOURS, 500, 1),
            *traffic("mid", 3 * DAYS, 200, 1),
            *traffic("small", 1 * HOURS, 49, 1),
            ev(EventType.UNSUBSCRIBE, "small", 5 * DAYS, recipient="gone@example.net"),
            *traffic("old", 30 * DAYS, 2000, 0),
        ],
        P,
    )
    # the late send: after the 48 h deadline, to the address that opted out
    await store.add_events(
        [
            ev(EventType.SENT, "small", HOURS, recipient="gone@example.net"),
            ev(EventType.DELIVERED, "small", HOURS),
        ],
        P,
    )
    for campaign, domain in (
        ("big", "example.com"),
        ("mid", "example.com"),
        ("old", "example.org"),
    ):
        await store.upsert_campaign(
            campaign,
            category=Category.COMMERCIAL,
            consent=Consent.DOUBLE_OPT_IN,
            sending_domain=domain,
        )
    return await refresh(store, config)


def test_busiest_recent_campaigns_keep_their_labels_the_rest_is_other(figures: Figures) -> None:
    snapshot, _, _ = figures
    assert {row.campaign for row in snapshot.lifetime} == {"big", "mid", OTHER}
    assert (snapshot.campaigns_total, snapshot.campaigns_other) == (4, 2)
    assert snapshot.info == {
        "big": ("commercial", "double_opt_in"),
        "mid": ("commercial", "double_opt_in"),
    }


def test_lifetime_totals_per_label_and_provider(figures: Figures) -> None:
    snapshot, _, _ = figures
    totals = {(row.campaign, row.provider): row.totals for row in snapshot.lifetime}
    assert totals == {
        ("big", "google"): Totals(sent=600, delivered=600, complaints=4),
        ("big", "yahoo"): Totals(sent=400, delivered=400),
        ("mid", "other"): Totals(sent=700, delivered=700, complaints=2),
        (OTHER, "other"): Totals(
            sent=2050,
            delivered=2050,
            complaints=1,
            unsubscribes=1,
            unsubscribe_violations=1,
        ),
    }


def test_rates_per_window_and_none_below_the_volume_guard(figures: Figures) -> None:
    snapshot, _, _ = figures
    rates = snapshot.rates
    assert rates["big", "24h"] == Rates(0.004, 0.0, 0.0)
    assert rates["mid", "24h"].complaint_rate == pytest.approx(0.002)
    assert rates["mid", "7d"].complaint_rate == pytest.approx(2 / 700)
    assert rates[OTHER, "24h"] == Rates(None, None, None)  # 50 delivered < min_volume 100
    assert rates[OTHER, "lifetime"].complaint_rate == pytest.approx(1 / 2050)
    assert ("big", "1h") not in rates  # no traffic in that window at all
    assert snapshot.provider_rates["big", "yahoo", "24h"] == Rates(0.0, 0.0, 0.0)
    assert snapshot.provider_rates["big", "google", "24h"].complaint_rate == pytest.approx(4 / 600)


def test_complaint_and_deadline_alerts_per_campaign(figures: Figures) -> None:
    _, _, observations = figures
    found = {o.key: o for o in observations}
    assert {k: (o.active, o.severity) for k, o in found.items()} == {
        "complaint_rate:big": (True, Severity.CRITICAL),
        "complaint_rate:mid": (True, Severity.WARNING),
        "complaint_rate:small": (None, Severity.WARNING),  # below the guard: unknown
        "unsubscribe_deadline:big": (False, Severity.CRITICAL),
        "unsubscribe_deadline:mid": (False, Severity.CRITICAL),
        "unsubscribe_deadline:small": (True, Severity.CRITICAL),
    }
    assert found["complaint_rate:big"].kind is AlertKind.COMPLAINT_RATE
    assert found["complaint_rate:big"].labels == {"campaign": "big", "window": "24h"}


def test_domain_figures_come_from_the_campaigns_sending_for_it(figures: Figures) -> None:
    _, domains, _ = figures
    assert set(domains) == {"example.com", "example.org"}  # example.net has no campaign
    com = domains["example.com"]
    assert com.complaint_rate == pytest.approx(5 / 1500)
    assert com.unsubscribe_rate == 0.0
    assert com.bounce_rate == 0.0
    assert com.complaint_rate_daily == pytest.approx(
        (None, None, None, 1 / 200, None, None, 5 / 1500)
    )
    org = domains["example.org"]
    assert org.complaint_rate is None  # no traffic today
    assert org.complaint_rate_daily == (None,) * 7


async def test_a_store_without_events_gives_empty_figures(store: SqlStore, config: Config) -> None:
    snapshot, domains, observations = await refresh(store, config)
    assert (snapshot.lifetime, snapshot.campaigns_total, snapshot.campaigns_other) == ((), 0, 0)
    assert (domains, observations) == ({}, [])


async def test_an_unregistered_campaign_is_labelled_as_its_events_were(
    store: SqlStore, config: Config
) -> None:
    labelled = Event(
        EventType.SENT, "newsletter", NOW - HOURS, Source.API, count=500,
        category=Category.COMMERCIAL, consent=Consent.SINGLE_OPT_IN,
    )  # fmt: skip
    await store.add_events([labelled, ev(EventType.DELIVERED, "newsletter", HOURS, 500)], P)
    snapshot, _, _ = await refresh(store, config)
    # delivermon_campaign_info says what the rates API says, not "unknown".
    assert snapshot.info == {"newsletter": ("commercial", "single_opt_in")}
