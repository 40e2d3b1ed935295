"""Campaign registry, counts and rates over HTTP: a real aiohttp server on 127.0.0.1 and the
real store (SQLite, and PostgreSQL where installed). Rates per window and per provider, the
minimum-volume guard (null, never 0), category and consent breakdowns, config registration at
startup, validation and auth."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientSession
from httpapp import api_app
from httpserve import ServeHttp

from monitor.config import CampaignConfig, Config, FeedbackConfig, HttpConfig
from monitor.ingest.service import ingest_arf
from monitor.model.events import Category, Consent, Event, EventType, Provider, Source
from monitor.model.privacy import Pseudonymizer
from monitor.store import SqlStore

ADMIN = "admin-token-for-tests"
INGEST = "ingest-token-for-tests"
NOW = dt.datetime(2026, 11, 28, 12, 30, tzinfo=dt.UTC)
P = Pseudonymizer(b"k" * 32)
MIN_VOLUME = 100
CONFIGURED = [
    CampaignConfig(id="spring", category=Category.COMMERCIAL, consent=Consent.SINGLE_OPT_IN),
    CampaignConfig(id="welcome", category=Category.COMMERCIAL, consent=Consent.DOUBLE_OPT_IN),
    CampaignConfig(
        id="receipts",
        category=Category.TRANSACTIONAL,
        consent=Consent.TRANSACTIONAL,
        sending_domain="mail.example.com",
    ),
]


@dataclass
class Api:
    session: ClientSession
    base_url: str
    store: SqlStore  # for seeding beside the HTTP routes

    async def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = ADMIN,
        body: object = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = body if isinstance(body, str) else json.dumps(body)
        async with self.session.request(
            method, f"{self.base_url}{path}", data=data, headers=headers
        ) as response:
            assert response.content_type == "application/json"
            return response.status, await response.json()


@pytest.fixture
async def api(store: SqlStore, serve_http: ServeHttp) -> AsyncIterator[Api]:
    config = Config(
        http=HttpConfig(admin_token=ADMIN, ingest_token=INGEST),
        feedback=FeedbackConfig(min_volume=MIN_VOLUME),
        campaigns=CONFIGURED,
    )
    base_url = await serve_http(await api_app(config, store, P, clock=lambda: NOW))
    async with ClientSession() as session:
        yield Api(session, base_url, store)


def ev(kind: EventType, campaign: str, count: int, ago: dt.timedelta, **kw: Any) -> Event:
    return Event(kind, campaign, NOW - ago, Source.API, count=count, **kw)


MINUTES = dt.timedelta(minutes=10)
DAYS_3 = dt.timedelta(days=3)
DAYS_30 = dt.timedelta(days=30)


async def seed_spring(api: Api) -> None:
    """spring: 1h 1500 google + 50 yahoo delivered; 3 days ago 400 more; 30 days ago 10000."""
    events = [
        {"type": "sent", "campaign": "spring", "count": 1600, "provider": "google"},
        {"type": "delivered", "campaign": "spring", "count": 1500, "provider": "google"},
        {"type": "complaint", "campaign": "spring", "count": 3, "provider": "google"},
        {"type": "sent", "campaign": "spring", "count": 50, "provider": "yahoo"},
        {"type": "delivered", "campaign": "spring", "count": 50, "provider": "yahoo"},
        {"type": "complaint", "campaign": "spring", "count": 1, "provider": "yahoo"},
        {"type": "bounce", "campaign": "spring", "count": 100, "provider": "google"},
    ]
    for item in events:
        item["timestamp"] = (NOW - MINUTES).isoformat()
    status, _ = await api.call("POST", "/api/v1/events", token=INGEST, body={"events": events})
    assert status == 202
    await api.store.add_events(
        [
            ev(EventType.DELIVERED, "spring", 400, DAYS_3, provider=Provider.GOOGLE),
            ev(EventType.UNSUBSCRIBE, "spring", 4, DAYS_3, provider=Provider.GOOGLE),
            ev(EventType.DELIVERED, "spring", 10_000, DAYS_30, provider=Provider.MICROSOFT),
            ev(EventType.COMPLAINT, "spring", 50, DAYS_30, provider=Provider.MICROSOFT),
        ],
        P,
    )


# --- rates --------------------------------------------------------------------


async def test_campaign_counts_and_rates_per_window(api: Api) -> None:
    await seed_spring(api)
    status, doc = await api.call("GET", "/api/v1/campaigns/spring")
    assert status == 200
    assert (doc["campaign"], doc["category"], doc["consent"]) == (
        "spring",
        "commercial",
        "single_opt_in",
    )
    assert doc["min_volume"] == MIN_VOLUME
    hour, day, week, life = (doc["windows"][w] for w in ("1h", "24h", "7d", "lifetime"))
    assert hour["since"] == "2026-11-28T11:00:00Z"
    assert life["since"] is None
    assert (hour["sent"], hour["delivered"], hour["complaints"], hour["bounces"]) == (
        1650,
        1550,
        4,
        100,
    )
    assert hour["complaint_rate"] == pytest.approx(4 / 1550)
    assert hour["bounce_rate"] == pytest.approx(100 / 1650)
    assert hour["unsubscribe_rate"] == 0.0
    assert day["since"] == "2026-11-27T12:00:00Z"
    assert {**day, "since": None} == {**hour, "since": None}
    assert (week["delivered"], week["unsubscribes"]) == (1950, 4)
    assert week["unsubscribe_rate"] == pytest.approx(4 / 1950)
    assert (life["delivered"], life["complaints"]) == (11_950, 54)
    assert life["complaint_rate"] == pytest.approx(54 / 11_950)
    # The campaign's top level is its lifetime figures.
    assert {k: doc[k] for k in life if k not in ("since", "providers")} == {
        k: v for k, v in life.items() if k not in ("since", "providers")
    }


async def test_rates_below_the_minimum_volume_are_null_and_marked_never_zero(api: Api) -> None:
    await seed_spring(api)
    _, doc = await api.call("GET", "/api/v1/campaigns/spring")
    yahoo = doc["windows"]["1h"]["providers"]["yahoo"]
    assert (yahoo["delivered"], yahoo["complaints"]) == (50, 1)
    assert yahoo["complaint_rate"] is None
    assert yahoo["unsubscribe_rate"] is None
    assert yahoo["bounce_rate"] is None
    assert yahoo["meaningful"] is False
    google = doc["windows"]["1h"]["providers"]["google"]
    assert google["complaint_rate"] == pytest.approx(3 / 1500)
    assert google["meaningful"] is True
    # 7 days: google's 1500 + 400 delivered; microsoft only in lifetime.
    assert set(doc["windows"]["7d"]["providers"]) == {"google", "yahoo"}
    assert doc["windows"]["lifetime"]["providers"]["microsoft"]["complaint_rate"] == 50 / 10_000


async def test_a_registered_campaign_without_traffic_has_null_rates(api: Api) -> None:
    status, doc = await api.call("GET", "/api/v1/campaigns/welcome")
    assert status == 200
    assert (doc["registered"], doc["delivered"], doc["complaints"]) == (True, 0, 0)
    assert (doc["complaint_rate"], doc["bounce_rate"], doc["meaningful"]) == (None, None, False)
    assert doc["windows"]["1h"]["providers"] == {}


async def test_list_has_configured_and_counted_campaigns_with_figures(api: Api) -> None:
    await seed_spring(api)
    await api.store.add_events([ev(EventType.SENT, "adhoc", 5, MINUTES)], P)
    status, doc = await api.call("GET", "/api/v1/campaigns", token=INGEST)
    assert status == 200
    by_id = {c["campaign"]: c for c in doc["campaigns"]}
    assert sorted(by_id) == ["adhoc", "receipts", "spring", "welcome"]
    assert by_id["adhoc"]["registered"] is False
    # Not registered, no label on its events: "unknown", as the rates and the metric say.
    assert (by_id["adhoc"]["category"], by_id["adhoc"]["consent"]) == ("unknown", "unknown")
    assert by_id["receipts"]["sending_domain"] == "mail.example.com"
    spring = by_id["spring"]
    figures = {"sent", "delivered", "complaints", "unsubscribes", "bounces"}
    figures |= {"complaint_rate", "unsubscribe_rate", "bounce_rate", "unsubscribe_violations"}
    assert {"campaign", "category", "consent", "windows"} | figures <= set(spring)
    assert set(spring["windows"]) == {"1h", "24h", "7d", "lifetime"}
    assert figures <= set(spring["windows"]["1h"])
    assert figures <= set(spring["windows"]["1h"]["providers"]["google"])
    assert spring["windows"]["1h"]["providers"]["google"]["delivered"] == 1500


async def test_rates_break_down_by_consent_and_category(api: Api) -> None:
    await seed_spring(api)
    await api.store.add_events(
        [
            ev(EventType.DELIVERED, "welcome", 1000, MINUTES),
            ev(EventType.COMPLAINT, "welcome", 1, MINUTES),
            ev(EventType.DELIVERED, "receipts", 300, MINUTES),
        ],
        P,
    )
    status, doc = await api.call("GET", "/api/v1/rates?group_by=consent")
    assert status == 200
    assert doc["group_by"] == ["consent"]
    groups = {g["consent"]: g for g in doc["windows"]["1h"]["groups"]}
    assert sorted(groups) == ["double_opt_in", "single_opt_in", "transactional"]
    assert groups["single_opt_in"]["complaint_rate"] == pytest.approx(4 / 1550)
    assert groups["double_opt_in"]["complaint_rate"] == pytest.approx(1 / 1000)
    assert "campaign" not in groups["single_opt_in"]

    _, doc = await api.call("GET", "/api/v1/rates?group_by=category,provider", token=INGEST)
    keys = {(g["category"], g["provider"]): g["delivered"] for g in doc["windows"]["1h"]["groups"]}
    assert keys == {
        ("commercial", "google"): 1500,
        ("commercial", "other"): 1000,
        ("commercial", "yahoo"): 50,
        ("transactional", "other"): 300,
    }


async def test_rates_without_group_by_give_one_overall_group_and_filter_by_campaign(
    api: Api,
) -> None:
    await seed_spring(api)
    _, doc = await api.call("GET", "/api/v1/rates?campaign=spring&group_by=provider")
    assert doc["campaign"] == "spring"
    assert {g["provider"] for g in doc["windows"]["lifetime"]["groups"]} == {
        "google",
        "microsoft",
        "yahoo",
    }
    _, doc = await api.call("GET", "/api/v1/rates")
    (overall,) = doc["windows"]["lifetime"]["groups"]
    assert overall["delivered"] == 11_950


async def test_an_unknown_group_by_dimension_is_400(api: Api) -> None:
    status, doc = await api.call("GET", "/api/v1/rates?group_by=recipient")
    assert status == 400
    assert "error" in doc


async def test_a_campaign_filter_given_twice_is_400(api: Api) -> None:
    status, doc = await api.call("GET", "/api/v1/rates?campaign=spring&campaign=welcome")
    assert (status, doc) == (400, {"error": "campaign is given more than once"})


async def test_a_campaign_filter_no_campaign_can_have_is_400(api: Api) -> None:
    """An address (no campaign id has an @) was answered 200 and echoed back."""
    status, doc = await api.call("GET", "/api/v1/rates?campaign=alice%40example.org")
    assert status == 400
    assert "alice" not in str(doc)


async def test_an_unknown_query_parameter_is_400_not_ignored(api: Api) -> None:
    # A typo used to be answered with the default grouping, as if nothing were asked.
    status, doc = await api.call("GET", "/api/v1/rates?groupby=campaign")
    assert (status, doc) == (
        400,
        {"error": "unknown query parameter 'groupby' (this route takes: group_by, campaign)"},
    )
    status, _ = await api.call("GET", "/api/v1/campaigns?page=2")
    assert status == 400
    status, _ = await api.call("GET", "/api/v1/rates?group_by=campaign")
    assert status == 200


async def test_unsubscribe_deadline_violations_are_counted_per_campaign(api: Api) -> None:
    alice = "alice@example.com"
    await api.store.add_events(
        [
            ev(EventType.UNSUBSCRIBE, "spring", 1, DAYS_3, recipient=alice),
            ev(EventType.SENT, "spring", 1, MINUTES, recipient=alice),
            ev(EventType.SENT, "welcome", 1, MINUTES, recipient=alice),
        ],
        P,
    )
    _, doc = await api.call("GET", "/api/v1/campaigns")
    by_id = {c["campaign"]: c for c in doc["campaigns"]}
    assert by_id["spring"]["unsubscribe_violations"] == 1
    assert by_id["spring"]["windows"]["1h"]["unsubscribe_violations"] == 1
    assert by_id["welcome"]["unsubscribe_violations"] == 1
    assert by_id["receipts"]["unsubscribe_violations"] == 0


# --- registry -----------------------------------------------------------------


async def test_put_registers_then_replaces_a_campaign(api: Api) -> None:
    body = {"category": "commercial", "consent": "double_opt_in", "sending_domain": "News.Example"}
    status, doc = await api.call("PUT", "/api/v1/campaigns/autumn-2026", body=body)
    assert status == 200
    assert {k: doc[k] for k in ("campaign", "category", "consent", "sending_domain")} == {
        "campaign": "autumn-2026",
        "category": "commercial",
        "consent": "double_opt_in",
        "sending_domain": "news.example",
    }
    assert doc["created_at"].endswith("Z")
    status, doc = await api.call(
        "PUT",
        "/api/v1/campaigns/autumn-2026",
        body={"category": "transactional", "consent": "transactional"},
    )
    assert (status, doc["category"], doc["sending_domain"]) == (200, "transactional", None)
    status, doc = await api.call("GET", "/api/v1/campaigns/autumn-2026")
    assert (status, doc["category"], doc["consent"], doc["registered"]) == (
        200,
        "transactional",
        "transactional",
        True,
    )


async def test_events_after_registration_are_counted_under_its_labels(api: Api) -> None:
    body = {"category": "commercial", "consent": "existing_customer"}
    assert (await api.call("PUT", "/api/v1/campaigns/loyalty", body=body))[0] == 200
    await api.store.add_events([ev(EventType.DELIVERED, "loyalty", 7, MINUTES)], P)
    _, doc = await api.call("GET", "/api/v1/rates?group_by=consent,campaign")
    groups = doc["windows"]["1h"]["groups"]
    assert {"campaign": "loyalty", "consent": "existing_customer"}.items() <= groups[0].items()


async def test_events_without_labels_take_those_their_campaign_carried(api: Api) -> None:
    """The README's own example labels only the sends: the deliveries and the complaint of
    the same unregistered campaign must not make an "unknown" group of their own."""
    await api.store.add_events(
        [
            ev(EventType.SENT, "c-cat", 200, MINUTES, category=Category.TRANSACTIONAL),
            ev(EventType.DELIVERED, "c-cat", 200, MINUTES),
            ev(EventType.COMPLAINT, "c-cat", 1, MINUTES),
        ],
        P,
    )
    for window in ("1h", "lifetime"):
        _, doc = await api.call("GET", "/api/v1/rates?group_by=campaign,category")
        (group,) = doc["windows"][window]["groups"]
        assert (group["category"], group["sent"], group["delivered"], group["complaints"]) == (
            "transactional",
            200,
            200,
            1,
        )
        assert group["complaint_rate"] == pytest.approx(1 / 200)
    # Two categories carried: which one an unlabelled count belongs to cannot be told.
    await api.store.add_events(
        [ev(EventType.SENT, "c-cat", 5, MINUTES, category=Category.COMMERCIAL)], P
    )
    _, doc = await api.call("GET", "/api/v1/rates?group_by=category")
    groups = {g["category"]: g["delivered"] for g in doc["windows"]["1h"]["groups"]}
    assert groups == {"commercial": 0, "transactional": 0, "unknown": 200}


async def test_a_campaign_registered_after_its_events_takes_them_under_its_labels(
    api: Api,
) -> None:
    await api.store.add_events(
        [
            ev(EventType.DELIVERED, "late", 300, MINUTES),
            ev(EventType.COMPLAINT, "late", 2, MINUTES),
        ],
        P,
    )
    body = {"category": "commercial", "consent": "double_opt_in"}
    assert (await api.call("PUT", "/api/v1/campaigns/late", body=body))[0] == 200
    await api.store.add_events([ev(EventType.DELIVERED, "late", 100, MINUTES)], P)
    _, doc = await api.call("GET", "/api/v1/rates?campaign=late&group_by=category,consent")
    (group,) = doc["windows"]["1h"]["groups"]
    assert (group["category"], group["consent"], group["delivered"], group["complaints"]) == (
        "commercial",
        "double_opt_in",
        400,
        2,
    )


async def test_a_campaign_re_registered_moves_its_unlabelled_counts_with_it(api: Api) -> None:
    """An operator who fixes a wrong category sees the campaign's counts move, all of them:
    a registered campaign is one group, whatever some of its events carried (the README's
    own example labels the sends)."""
    body = {"category": "commercial", "consent": "double_opt_in"}
    assert (await api.call("PUT", "/api/v1/campaigns/fixed", body=body))[0] == 200
    await api.store.add_events(
        [
            ev(EventType.DELIVERED, "fixed", 2000, MINUTES),
            ev(EventType.COMPLAINT, "fixed", 2, MINUTES),
            ev(EventType.DELIVERED, "fixed", 50, MINUTES, category=Category.COMMERCIAL),
        ],
        P,
    )
    body = {"category": "transactional", "consent": "transactional"}
    assert (await api.call("PUT", "/api/v1/campaigns/fixed", body=body))[0] == 200
    for window in ("1h", "lifetime"):
        _, doc = await api.call("GET", "/api/v1/rates?campaign=fixed&group_by=category,consent")
        groups = {
            (g["category"], g["consent"]): (g["delivered"], g["complaints"])
            for g in doc["windows"][window]["groups"]
        }
        assert groups == {("transactional", "transactional"): (2050, 2)}


async def test_a_registration_without_consent_leaves_the_events_consent(api: Api) -> None:
    """A [[campaigns]] entry without consent registers 'unknown': that says nothing, so the
    consent the events carried counts (the API's PUT requires one)."""
    await api.store.upsert_campaign("cfgc", category=Category.COMMERCIAL, consent=Consent.UNKNOWN)
    await api.store.add_events(
        [
            ev(EventType.SENT, "cfgc", 5, MINUTES, consent=Consent.DOUBLE_OPT_IN),
            ev(EventType.DELIVERED, "cfgc", 5, MINUTES),
        ],
        P,
    )
    _, doc = await api.call("GET", "/api/v1/rates?campaign=cfgc&group_by=category,consent")
    groups = {(g["category"], g["consent"]) for g in doc["windows"]["1h"]["groups"]}
    assert groups == {("commercial", "double_opt_in")}
    _, campaign = await api.call("GET", "/api/v1/campaigns/cfgc")
    assert (campaign["category"], campaign["consent"]) == ("commercial", "double_opt_in")


async def test_campaigns_from_config_are_registered_at_startup(api: Api, store: SqlStore) -> None:
    registered = await store.get_campaign("receipts")
    assert registered is not None
    assert (registered.category, registered.consent, registered.sending_domain) == (
        Category.TRANSACTIONAL,
        Consent.TRANSACTIONAL,
        "mail.example.com",
    )


async def test_an_unknown_campaign_is_404_json(api: Api) -> None:
    assert await api.call("GET", "/api/v1/campaigns/nope") == (404, {"error": "unknown campaign"})


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        pytest.param("c1", {"category": "bulk", "consent": "unknown"}, ["category"], id="category"),
        pytest.param("c1", {"category": "commercial"}, ["consent"], id="missing-consent"),
        pytest.param(
            "c1", {"category": "commercial", "consent": "opt_out"}, ["consent"], id="consent"
        ),
        pytest.param(
            "c1",
            {"category": "commercial", "consent": "unknown", "owner": "x"},
            ["owner"],
            id="unknown-field",
        ),
        pytest.param(
            "c1",
            {"category": "commercial", "consent": "unknown", "owner@example.com": "x"},
            ["<redacted>"],
            id="unknown-field-named-with-an-address",
        ),
        pytest.param(
            "c1",
            {"category": "commercial", "consent": "unknown", "sending_domain": "not a domain"},
            ["sending_domain"],
            id="sending-domain",
        ),
        pytest.param(
            "has%20space", {"category": "commercial", "consent": "unknown"}, ["id"], id="space"
        ),
        pytest.param(
            "x" * 129, {"category": "commercial", "consent": "unknown"}, ["id"], id="long"
        ),
        pytest.param(
            "caf%C3%A9",
            {"category": "x", "consent": "unknown"},
            ["id", "category"],
            id="non-ascii-and-category",
        ),
        pytest.param("c1", ["commercial"], ["(body)"], id="not-an-object"),
    ],
)
async def test_put_refuses_invalid_campaigns_with_field_errors(
    api: Api, store: SqlStore, path: str, body: object, fields: list[str]
) -> None:
    status, doc = await api.call("PUT", f"/api/v1/campaigns/{path}", body=body)
    assert status == 400
    assert [e["field"] for e in doc["errors"]] == fields
    assert all(isinstance(e["message"], str) for e in doc["errors"])
    assert await store.get_campaign("c1") is None


async def test_put_needs_json(api: Api) -> None:
    body = '{"category": "commercial", "consent": "unknown"}'
    status, _ = await api.call("PUT", "/api/v1/campaigns/c1", body=body, content_type="text/plain")
    assert status == 415
    status, doc = await api.call("PUT", "/api/v1/campaigns/c1", body="{nope")
    assert (status, doc) == (400, {"error": "body is not valid JSON", "reason": "not_json"})


# --- auth ---------------------------------------------------------------------

ROUTES = [
    ("PUT", "/api/v1/campaigns/c1", {"category": "commercial", "consent": "unknown"}),
    ("GET", "/api/v1/campaigns", None),
    ("GET", "/api/v1/campaigns/spring", None),
    ("GET", "/api/v1/rates?group_by=consent", None),
]
# Which tokens each route takes: writes need the admin token, reading aggregates either.
ALLOWED = {0: {ADMIN}, 1: {ADMIN, INGEST}, 2: {ADMIN, INGEST}, 3: {ADMIN, INGEST}}


@pytest.mark.parametrize("index", range(len(ROUTES)), ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_every_route_needs_its_token(api: Api, index: int) -> None:
    method, path, body = ROUTES[index]
    status, doc = await api.call(method, path, token=None, body=body)
    assert (status, doc) == (401, {"error": "missing bearer token"})
    assert (await api.call(method, path, token="wrong", body=body))[0] == 403
    for token in (ADMIN, INGEST):
        status, _ = await api.call(method, path, token=token, body=body)
        assert status == (200 if token in ALLOWED[index] else 403)


async def test_a_campaign_registered_by_put_is_listed_before_any_traffic(api: Api) -> None:
    body = {"category": "commercial", "consent": "single_opt_in"}
    status, _ = await api.call("PUT", "/api/v1/campaigns/no-traffic-yet", body=body)
    assert status == 200
    status, doc = await api.call("GET", "/api/v1/campaigns")
    assert status == 200
    listed = {c["campaign"]: c for c in doc["campaigns"]}
    assert listed["no-traffic-yet"]["consent"] == "single_opt_in"
    assert listed["no-traffic-yet"]["registered"] is True


def _arf(original_headers: bytes) -> bytes:
    return (
        b"From: fbl@example.net\nTo: abuse@example.com\nSubject: FW\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nA complaint.\n"
        b"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
        b"User-Agent: test/1.0\nVersion: 1\n\n"
        b"--b\nContent-Type: text/rfc822-headers\n\n" + original_headers + b"\n--b--\n"
    )


COMPLIANT = (
    b"From: news@example.com\nX-Campaign-ID: audit-test\nMessage-ID: <1@example.com>\n"
    b"List-Unsubscribe: <https://example.com/u/opaque-token>\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\n"
    b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1;"
    b" h=from:list-unsubscribe:list-unsubscribe-post; bh=x; b=y\n"
)
MAILTO_ONLY = (
    b"From: news@example.com\nX-Campaign-ID: audit-test\nMessage-ID: <2@example.com>\n"
    b"List-Unsubscribe: <mailto:unsub@example.com>\n"
)


async def test_the_one_click_audit_is_counted_per_campaign(api: Api) -> None:
    for original in (COMPLIANT, MAILTO_ONLY):
        await ingest_arf(
            _arf(original),
            store=api.store,
            pseudonymizer=P,
            campaign_headers=("X-Campaign-ID",),
            store_raw=False,
            now=NOW,
        )
    status, doc = await api.call("GET", "/api/v1/campaigns/audit-test")
    assert status == 200
    assert doc["one_click_audit"] == {
        "complaint_reports": 2,
        "audited": 2,
        "list_unsubscribe_https": 1,
        "one_click_post": 1,
        "dkim_covers_list_unsubscribe": 1,
        "one_click_compliant": 1,
        "feedback_id_invalid": 0,
    }
    status, listing = await api.call("GET", "/api/v1/campaigns")
    (entry,) = [c for c in listing["campaigns"] if c["campaign"] == "audit-test"]
    assert entry["one_click_audit"]["one_click_compliant"] == 1
    # The retention purge deletes the reports; the campaign's lifetime figures (and the
    # metric) keep them, and so does the audit beside them (it fell to 0: an outside
    # review).
    assert (await api.store.purge(NOW + dt.timedelta(days=1))).reports == 2
    assert (await api.call("GET", "/api/v1/campaigns/audit-test"))[1]["one_click_audit"] == (
        doc["one_click_audit"]
    )
    listing = (await api.call("GET", "/api/v1/campaigns"))[1]
    (entry,) = [c for c in listing["campaigns"] if c["campaign"] == "audit-test"]
    assert entry["one_click_audit"] == doc["one_click_audit"]
