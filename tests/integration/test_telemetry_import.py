"""The Gmail Postmaster Tools v2 and SNDS importers against local servers that implement the
documented endpoints (tests/telemetryservers.py names the reference pages), including
Google's token endpoint verifying the service-account JWT with the key's public half.
Every fault comes from those servers: 401, 403, 404, 429 then 200, 500, malformed JSON,
an empty window, pagination; SNDS empty data, a blocked range, an outage.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from httpserve import ServeHttp
from telemetryservers import SNDS_KEY, Postmaster, Snds, compliance_rows, snds_line

from monitor.model.errors import ConfigError
from monitor.model.telemetry import FilterResult, GmailState
from monitor.telemetry.auth import GoogleTokenSource, load_google_credentials
from monitor.telemetry.gmailclient import GmailImporter
from monitor.telemetry.http import Retry
from monitor.telemetry.snds import blocked_ranges_for
from monitor.telemetry.sndsclient import SndsImporter

FAST = Retry(attempts=3, backoff=0.01, max_wait=0.05, timeout=10)
START, END = dt.date(2026, 11, 20), dt.date(2026, 12, 3)
D1, D2 = dt.date(2026, 11, 30), dt.date(2026, 12, 2)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
async def postmaster(serve_http: ServeHttp) -> Postmaster:
    server = Postmaster()
    server.url = await serve_http(server.app())
    return server


def write_credentials(tmp_path: Path, info: dict[str, str]) -> str:
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(info))
    return str(path)


def importer(
    session: aiohttp.ClientSession, server: Postmaster, tmp_path: Path, *, user: bool = False
) -> GmailImporter:
    info = server.authorized_user_info() if user else server.service_account_info()
    creds = load_google_credentials(write_credentials(tmp_path, info))
    return GmailImporter(session, GoogleTokenSource(creds), server.url, retry=FAST)


async def test_service_account_token_pages_and_compliance(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    postmaster.stats["example.com"] = {
        (D1, "spam_rate"): 0.0012,
        (D1, "auth_dkim"): 0.99,
        (D1, "tls_outbound"): 1.0,
        (D2, "spam_rate"): 0.0,  # a real 0 %: published, and zero
        (D2, "delivery_reject"): 0.01,
    }
    postmaster.page_size = 2  # five entries: three pages, the newest day on the last one
    postmaster.compliance["example.com"] = compliance_rows(
        SPF="COMPLIANT", DMARC_POLICY="NEEDS_WORK"
    )
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert result.state is GmailState.OK
    got = {(s.day, s.metric): s.value for s in result.stats}
    assert got == postmaster.stats["example.com"]
    assert {(c.requirement, c.status) for c in result.compliance or ()} == {
        ("spf", "compliant"),
        ("dmarc_policy", "needs_work"),
    }
    assert postmaster.token_grants == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    paths = [p for _m, p, _a in postmaster.requests]
    assert paths == [
        "/v2/domainStats:batchQuery",
        "/v2/domains/example.com/domainStats:query",
        "/v2/domains/example.com/domainStats:query",
        "/v2/domains/example.com/complianceStatus",
    ]
    assert all(authed for _m, _p, authed in postmaster.requests)


async def test_authorized_user_refresh_token(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.002}
    [result] = await importer(session, postmaster, tmp_path, user=True).import_domains(
        ["example.com"], START, END
    )
    assert (result.state, [s.value for s in result.stats]) == (GmailState.OK, [0.002])
    assert postmaster.token_grants == ["refresh_token"]


async def test_a_key_the_server_does_not_know_gets_no_token_and_no_rate(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.002}
    stranger = Postmaster(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    stranger.url = postmaster.url
    creds = load_google_credentials(write_credentials(tmp_path, stranger.service_account_info()))
    client = GmailImporter(session, GoogleTokenSource(creds), postmaster.url, retry=FAST)
    [result] = await client.import_domains(["example.com"], START, END)
    assert (result.state, result.reason, result.stats) == (
        GmailState.PERMISSION_DENIED,
        "token_refused",
        (),
    )
    assert postmaster.requests == []  # nothing sent to the API without a token


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_a_token_endpoint_that_fails_is_unavailable_not_a_refusal(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path, status: int
) -> None:
    # A 5xx (or 429) without an OAuth error is the endpoint's outage: "fix the
    # permissions" would send the operator the wrong way.
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.002}
    postmaster.token_failure = status
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert result.state is GmailState.UNAVAILABLE, result
    assert postmaster.requests == []


async def test_per_domain_denials_in_one_batch(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.0005}
    postmaster.stats["denied.example"] = {(D1, "spam_rate"): 0.5}
    postmaster.denied = {"denied.example": 403, "unknown.example": 404}
    results = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com", "denied.example", "unknown.example"], START, END
    )
    assert [(r.domain, r.state, r.stats) for r in results[1:]] == [
        ("denied.example", GmailState.PERMISSION_DENIED, ()),
        ("unknown.example", GmailState.UNVERIFIED, ()),
    ]
    assert results[0].state is GmailState.OK


async def test_429_then_200_is_retried(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.001}
    postmaster.script = [429, 503]
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert result.state is GmailState.OK
    assert [p for _m, p, _a in postmaster.requests].count("/v2/domainStats:batchQuery") == 3


@pytest.mark.parametrize(
    ("script", "reason"),
    [([500, 500, 500], "http_500"), (["malformed"], "malformed")],
    ids=["500", "malformed"],
)
async def test_an_outage_or_a_bad_answer_is_unavailable_never_zero(
    postmaster: Postmaster,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    script: list[int | str],
    reason: str,
) -> None:
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.004}
    postmaster.script = list(script)
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert (result.state, result.reason, result.stats) == (GmailState.UNAVAILABLE, reason, ())


async def test_an_empty_window_is_no_data(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    postmaster.stats["example.com"] = {(dt.date(2026, 10, 1), "spam_rate"): 0.002}  # outside
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert (result.state, result.stats) == (GmailState.NO_DATA, ())


@pytest.mark.parametrize(
    ("name", "day", "value"),
    [
        pytest.param("example.com", END + dt.timedelta(days=5), 0.0, id="after-the-window"),
        pytest.param("other.example", D2, 0.0, id="another-domains-entry"),
        pytest.param("example.com", D2, 1.5, id="not-a-ratio"),
        pytest.param("example.com", D2, "abc", id="not-a-number"),
    ],
)
async def test_an_entry_that_cannot_be_this_domains_day_is_refused_and_reported(
    postmaster: Postmaster,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    name: str,
    day: dt.date,
    value: object,
) -> None:
    """A 0 % dated after the window (or another domain's, or no ratio at all) must not
    become the latest day and hide the 0.5 % before it; the refusal is reported."""
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.005}
    postmaster.raw_entries["example.com"] = [
        {
            "name": f"domains/{name}/domainStats/{day:%Y%m%d}-spam_rate",
            "metric": "spam_rate",
            "date": {"year": day.year, "month": day.month, "day": day.day},
            "value": {"floatValue": value},
        }
    ]
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert (result.state, result.reason) == (GmailState.OK, "refused_entries:1")
    assert [(s.day, s.value) for s in result.stats if s.metric == "spam_rate"] == [(D1, 0.005)]


async def test_a_compliance_status_that_cannot_be_read_is_said_beside_the_state(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """It answered 500 on every run and only an INFO line said so: the stats read ok and
    the last compliance stood, silently, for good."""
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.001}
    postmaster.compliance_broken.add("example.com")
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert (result.state, result.reason) == (GmailState.OK, "compliance:http_500")
    assert result.compliance is None  # the last stored one stands


async def test_an_answer_whose_every_entry_is_refused_is_unavailable_not_no_data(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Every entry refused (another domain's, no ratio): the days could not be read. It was
    no_data, which says the volume is below Google's threshold."""
    postmaster.raw_entries["example.com"] = [
        {
            "name": f"domains/example.org/domainStats/{D1:%Y%m%d}-spam_rate",
            "metric": "spam_rate",
            "date": {"year": D1.year, "month": D1.month, "day": D1.day},
            "value": {"floatValue": 0.001},
        }
    ]
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert (result.state, result.reason) == (GmailState.UNAVAILABLE, "refused_entries:1")


async def test_a_revoked_token_is_refreshed_once(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.001}
    client = importer(session, postmaster, tmp_path)
    await client.import_domains(["example.com"], START, END)
    postmaster.tokens.clear()  # the server forgets the token: the next call gets a 401
    [result] = await client.import_domains(["example.com"], START, END)
    assert result.state is GmailState.OK
    assert len(postmaster.token_grants) == 2


@pytest.mark.parametrize(
    "answer",
    [
        {"access_token": 5},
        {"access_token": ""},
        {},  # no access_token at all, in a 200
        [1, 2],
        {"access_token": "ya29.x", "expires_in": "soon"},
        {"access_token": "ya29.x\r\nX-Injected: 1", "expires_in": 3599},
    ],
)
async def test_a_token_answer_without_a_usable_token_is_unavailable(
    postmaster: Postmaster, session: aiohttp.ClientSession, tmp_path: Path, answer: object
) -> None:
    """The endpoint's fault, not a refusal of the credentials: "unavailable", never
    "unverified" (which sends the operator to verify the domain)."""
    postmaster.stats["example.com"] = {(D1, "spam_rate"): 0.001}
    postmaster.token_answer = answer  # type: ignore[assignment]
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    assert (result.state, result.reason) == (GmailState.UNAVAILABLE, "token_failed")


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("not json", "is not JSON"),
        ('{"type": "service_account", "client_email": "x"}', "not a complete service_account"),
        ('{"type": "external_account"}', "expected"),
        (
            '{"type": "authorized_user", "client_id": "i", "client_secret": "s", '
            '"refresh_token": "r", "token_uri": "http://192.0.2.1/token"}',
            "token_uri that is not https",
        ),
        (
            '{"type": "authorized_user", "client_id": "i", "client_secret": "s", '
            '"refresh_token": "r", "token_uri": "ftp://127.0.0.1/x"}',
            "token_uri that is not https",
        ),
    ],
)
def test_bad_credentials_are_a_config_error_without_their_content(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, problem: str
) -> None:
    monkeypatch.setenv("PM_CREDS", content)
    with pytest.raises(ConfigError) as err:
        load_google_credentials("env:PM_CREDS")
    assert problem in str(err.value)
    assert content not in str(err.value)


# --- SNDS ---------------------------------------------------------------------------------


@pytest.fixture
async def snds(serve_http: ServeHttp) -> Snds:
    server = Snds()
    server.url = await serve_http(server.app()) + "/snds"
    return server


def snds_importer(
    session: aiohttp.ClientSession, server: Snds, key: str = SNDS_KEY
) -> SndsImporter:
    return SndsImporter(session, key, server.url, retry=FAST)


async def test_snds_data_and_a_blocked_range(snds: Snds, session: aiohttp.ClientSession) -> None:
    snds.data[None] = [
        snds_line("192.0.2.10", day=D1, result="YELLOW", traps=3),
        snds_line("192.0.2.99", day=D1),  # in the account, not configured
    ]
    snds.ip_status = [
        "192.0.2.8,192.0.2.15,Yes,Blocked due to user complaints or other evidence of spamming"
    ]
    result = await snds_importer(session, snds).import_once()
    assert result.ok
    assert result.rows is not None
    assert result.blocks is not None
    row = result.rows[0]
    assert (row.ip, row.filter_result, row.trap_hits, row.recipients, row.complaint_rate) == (
        "192.0.2.10",
        FilterResult.YELLOW,
        3,
        1100,
        "< 0.1%",
    )
    assert [b.first_ip for b in blocked_ranges_for("192.0.2.10", result.blocks)] == ["192.0.2.8"]
    assert blocked_ranges_for("192.0.2.99", result.blocks) == []


async def test_snds_block_list_with_an_unreadable_line_clears_nobody(
    snds: Snds, session: aiohttp.ClientSession
) -> None:
    """A range written high to low is that range; a line that is not a range may be the
    one that blocks our IP, so that answer is no block list at all (the last one stands)."""
    snds.data[None] = [snds_line("192.0.2.10", day=D1)]
    snds.ip_status = ["192.0.2.13,192.0.2.11,Yes,written high to low"]
    result = await snds_importer(session, snds).import_once()
    assert result.blocks is not None
    assert [b.first_ip for b in blocked_ranges_for("192.0.2.12", result.blocks)] == ["192.0.2.11"]
    snds.ip_status = ["192.0.2.8,192.0.2.9,Yes,fine", "192.0.2.10,2001:db8::11,Yes,mixed"]
    result = await snds_importer(session, snds).import_once()
    assert result.blocks is None
    assert result.rows is not None
    assert result.reasons == {"ip_status": "refused_lines:1"}
    # What the readable lines block is kept, to be added to the last whole list.
    assert [(b.first_ip, b.last_ip) for b in result.partial_blocks] == [("192.0.2.8", "192.0.2.9")]


async def test_snds_empty_data_is_no_rows_not_zero(
    snds: Snds, session: aiohttp.ClientSession
) -> None:
    result = await snds_importer(session, snds).import_once()
    assert (result.rows, result.blocks, dict(result.reasons)) == ((), (), {})


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda s: setattr(s, "outage", True), "http_503"),
        (lambda s: setattr(s, "key", "another"), "http_401"),
        (lambda s: s.script.extend(["malformed", "malformed"]), "not_csv"),
    ],
    ids=["outage", "wrong-key", "html"],
)
async def test_snds_failures_are_unknown_and_never_name_the_key(
    snds: Snds, session: aiohttp.ClientSession, change: object, reason: str
) -> None:
    snds.data[None] = [snds_line("192.0.2.10", day=D1)]
    change(snds)  # type: ignore[operator]
    result = await snds_importer(session, snds).import_once()
    assert result.rows is None
    assert result.blocks is None
    assert result.reasons == {"data": reason, "ip_status": reason}
    assert SNDS_KEY not in repr(result)


async def test_snds_backfill_asks_each_day(snds: Snds, session: aiohttp.ClientSession) -> None:
    snds.data["113026"] = [snds_line("192.0.2.10", day=D1, result="RED")]
    result = await snds_importer(session, snds).import_once([D1, dt.date(2026, 12, 1)])
    assert [r.filter_result for r in result.rows or ()] == [FilterResult.RED]
    assert [d for p, d in snds.requests if p == "data.aspx"] == ["113026", "120126"]


async def test_a_body_over_the_cap_is_too_large_final_and_not_read_whole(
    serve_http: ServeHttp, session: aiohttp.ClientSession
) -> None:
    """With and without a Content-Length; over the cap is final (no retry), at the cap is
    read. The importers turn it into "unavailable (too_large)", never a parse of half."""
    from aiohttp import web

    from monitor.telemetry.http import fetch

    hits: list[str] = []

    async def sized(request: web.Request) -> web.Response:
        hits.append("sized")
        return web.Response(body=b"x" * 5000)

    async def chunked(request: web.Request) -> web.StreamResponse:
        hits.append("chunked")
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10):
            await response.write(b"y" * 1000)
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/sized", sized)
    app.router.add_get("/chunked", chunked)
    url = await serve_http(app)
    for path in ("/sized", "/chunked"):
        answer = await fetch(session, "GET", url + path, retry=FAST, max_body=4096)
        assert (answer.status, answer.reason, answer.body) == (None, "too_large", b"")
    assert hits == ["sized", "chunked"]
    whole = await fetch(session, "GET", url + "/sized", retry=FAST, max_body=5000)
    assert (whole.status, len(whole.body)) == (200, 5000)


async def test_an_snds_answer_over_32_mib_is_unavailable(
    snds: Snds, session: aiohttp.ClientSession
) -> None:
    line = snds_line("192.0.2.10", day=D1)
    snds.data[None] = [line] * (33 * 1024 * 1024 // len(line) + 1)
    result = await snds_importer(session, snds).import_once()
    assert result.rows is None
    assert result.reasons["data"] == "too_large"
    assert result.blocks is not None  # the other page is read as usual


async def test_a_server_that_never_answers_is_cut_at_the_import_deadline(
    serve_http: ServeHttp,
    session: aiohttp.ClientSession,
    sqlite_store: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It takes each request and never answers: the whole import ends at its deadline,
    stored as unavailable (deadline), never as data."""
    import asyncio

    from aiohttp import web

    from monitor.config import parse_config
    from monitor.daemon.telemetryjobs import run_imports
    from monitor.telemetry.settings import build_telemetry_settings

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response()

    app = web.Application()
    app.router.add_get("/snds/{page}", hang)
    url = await serve_http(app)
    monkeypatch.setenv("DEADLINE_SNDS_KEY", SNDS_KEY)
    config = parse_config(
        '[[domains]]\nname = "example.com"\nsending_ips = ["192.0.2.10"]\n'
        f'[telemetry.snds]\nkey = "env:DEADLINE_SNDS_KEY"\nbase_url = "{url}/snds"\n'
    )
    settings = build_telemetry_settings(config)
    now = dt.datetime.now(dt.UTC)
    loop = asyncio.get_running_loop()
    began = loop.time()
    [summary] = await run_imports(
        sqlite_store,  # type: ignore[arg-type]
        settings,
        session,
        now=now,
        retry=Retry(attempts=3, backoff=0.01, max_wait=0.05, timeout=60),
        deadline=0.5,
    )
    assert loop.time() - began < 10
    assert summary.states == {
        "data": ("unavailable", "deadline"),
        "ip_status": ("unavailable", "deadline"),
    }
    statuses = await sqlite_store.telemetry_statuses()  # type: ignore[attr-defined]
    assert {(s.subject, s.state, s.reason) for s in statuses} == {
        ("data", "unavailable", "deadline"),
        ("ip_status", "unavailable", "deadline"),
    }


async def test_a_server_slower_than_the_request_timeout_is_timeout_not_connection(
    session: aiohttp.ClientSession, serve_http: ServeHttp
) -> None:
    """It was reported as `connection`, and the runbook sent the operator to outbound
    connectivity."""
    import asyncio

    from aiohttp import web

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="")

    app = web.Application()
    app.router.add_get("/snds/{page}", slow)
    url = await serve_http(app) + "/snds"
    retry = Retry(attempts=1, backoff=0.01, max_wait=0.05, timeout=0.3)
    result = await SndsImporter(session, SNDS_KEY, url, retry=retry).import_once()
    assert dict(result.reasons) == {"data": "timeout", "ip_status": "timeout"}


async def test_snds_series_name_only_configured_ips_and_count_the_others(
    snds: Snds, tmp_path: Path
) -> None:
    """An SNDS account that reports many IPs the config does not name (an ESP's network):
    the metrics name only the configured IP and count the others by filter result and
    block; the telemetry document still lists each of them."""
    from daemon import offline_config
    from prometheus_client import CollectorRegistry

    from monitor.config import parse_config
    from monitor.daemon.app import Daemon, DaemonOptions
    from monitor.telemetry.documents import status_document

    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=2)
    configured = "192.0.2.10"
    others = [f"198.51.100.{n}" for n in range(200)] + [f"203.0.113.{n}" for n in range(100)]
    results = ["RED"] * 12 + ["YELLOW"] * 30 + ["GREEN"] * 257 + [""]  # one without a result
    snds.data[None] = [snds_line(configured, day=day, result="YELLOW", traps=2)] + [
        snds_line(ip, day=day, result=result, traps=1)
        for ip, result in zip(others, results, strict=True)
    ]
    snds.ip_status = [
        "192.0.2.8,192.0.2.15,Yes,Blocked due to user complaints",
        "203.0.113.0,203.0.113.9,Yes,Blocked due to user complaints",
    ]
    text = offline_config(
        f"sqlite:///{tmp_path / 'd.db'}",
        extra=(
            f'[[domains]]\nname = "example.com"\nsending_ips = ["{configured}"]\n'
            f'[telemetry.snds]\nkey = "{SNDS_KEY}"\nbase_url = "{snds.url}"\n'
        ),
    )
    config = tmp_path / "delivermon.toml"
    config.write_text(text)
    daemon = Daemon(parse_config(text), DaemonOptions(config_path=config, listen="127.0.0.1:0"))
    await daemon.start()
    try:
        await daemon.scheduler.stop()  # the test runs the import itself
        await daemon.services.telemetry.snds()
        registry: CollectorRegistry = daemon.metrics.registry
        named = {
            sample.labels["ip"]
            for family in registry.collect()
            for sample in family.samples
            if sample.name.startswith("delivermon_snds_") and "ip" in sample.labels
        }
        assert named == {configured}
        value = registry.get_sample_value
        assert value("delivermon_snds_filter_result", {"ip": configured, "result": "yellow"}) == 1
        assert value("delivermon_snds_trap_hits", {"ip": configured}) == 2
        assert value("delivermon_snds_blocked", {"ip": configured}) == 1
        assert {
            result: value("delivermon_snds_unconfigured_ips", {"result": result})
            for result in ("green", "yellow", "red", "unknown")
        } == {"green": 257, "yellow": 30, "red": 12, "unknown": 1}
        assert value("delivermon_snds_unconfigured_blocked_ips") == 10
        document = status_document(daemon.services.telemetry.view())
        assert len(document["snds"]) == 301  # the API lists every IP, named
        assert document["snds"]["203.0.113.5"]["configured"] is False
        assert document["snds"]["203.0.113.5"]["blocked"] is True
    finally:
        await daemon.stop()


@pytest.mark.parametrize("red_first", [True, False], ids=["red-first", "green-first"])
async def test_two_differing_snds_lines_for_one_period_keep_the_worse(
    snds: Snds, session: aiohttp.ClientSession, red_first: bool
) -> None:
    """The last line used to win: a RED period repeated as GREEN read as all clear."""
    red = snds_line("192.0.2.10", day=D1, result="RED", complaint="> 0.3%")
    green = snds_line("192.0.2.10", day=D1)
    same = snds_line("192.0.2.11", day=D1)
    snds.data[None] = [red, green, same, same] if red_first else [green, red, same, same]
    snds.ip_status = []
    result = await snds_importer(session, snds).import_once()
    assert result.rows is not None
    by_ip = {r.ip: r for r in result.rows}
    assert len(result.rows) == 2  # a line repeated as it is is one line, not a conflict
    assert by_ip["192.0.2.10"].filter_result is FilterResult.RED
    assert result.reasons == {"data": "refused_lines:1"}


@pytest.mark.parametrize("high_first", [True, False], ids=["high-first", "low-first"])
async def test_two_snds_lines_differing_in_the_complaint_band_keep_the_higher(
    snds: Snds, session: aiohttp.ClientSession, high_first: bool
) -> None:
    low = snds_line("192.0.2.13", day=D1)
    high = snds_line("192.0.2.13", day=D1, complaint="> 0.3%")
    snds.data[None] = [high, low] if high_first else [low, high]
    snds.ip_status = []
    result = await snds_importer(session, snds).import_once()
    assert result.rows is not None
    assert [r.complaint_rate for r in result.rows] == ["> 0.3%"]


async def test_two_snds_lines_keep_each_signals_worse_value(
    snds: Snds, session: aiohttp.ClientSession
) -> None:
    """A high band with no traps and a low band with 2 trap hits: both signals stay."""
    high_band = snds_line("192.0.2.3", day=D1, complaint="> 1%")
    # The first line again after the second: a repeat, not a second conflict.
    snds.data[None] = [high_band, snds_line("192.0.2.3", day=D1, traps=2), high_band]
    snds.ip_status = []
    result = await snds_importer(session, snds).import_once()
    assert result.rows is not None
    [row] = result.rows
    assert (row.complaint_rate, row.trap_hits, row.trap_start is not None) == ("> 1%", 2, True)
    assert result.reasons == {"data": "refused_lines:1"}


@pytest.mark.parametrize("order", [(0.0042, 0), (0, 0.0042)], ids=["rate-first", "zero-first"])
async def test_two_differing_values_for_one_day_keep_the_worse_and_are_reported(
    postmaster: Postmaster,
    session: aiohttp.ClientSession,
    tmp_path: Path,
    order: tuple[float, float],
) -> None:
    """A spam rate of 0.42 % and a 0 for the same day: the 0 used to win when it came last."""

    def entry(metric: str, value: float) -> dict[str, object]:
        return {
            "metric": metric,
            "date": {"year": D2.year, "month": D2.month, "day": D2.day},
            "value": {"floatValue": value},
        }

    postmaster.raw_entries["example.com"] = [entry("spam_rate", v) for v in order] + [
        entry("auth_dkim", v) for v in (0.99, 0.5)
    ]
    [result] = await importer(session, postmaster, tmp_path).import_domains(
        ["example.com"], START, END
    )
    values = {s.metric: s.value for s in result.stats if s.day == D2}
    assert values == {"spam_rate": 0.0042, "auth_dkim": 0.5}  # the higher rate, the lower pass
    assert (result.state, result.reason) == (GmailState.OK, "refused_entries:2")


async def test_a_large_snds_answer_is_read_off_the_loop(
    snds: Snds, session: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    """50,000 lines took 1.4 s to read in the event loop at each import (/healthz 1.5 s; a
    verification review): past 256 KiB the answer is read in a worker thread (observed:
    the thread the reader ran in), a small one in the loop's."""
    import threading

    import monitor.telemetry.sndsclient as client

    threads: list[int] = []
    read = client.csv_text

    def observed(body: bytes) -> str:
        threads.append(threading.get_ident())
        return read(body)

    monkeypatch.setattr(client, "csv_text", observed)
    snds.data[None] = [snds_line(f"10.0.{n // 256}.{n % 256}", day=D1) for n in range(5000)]
    result = await snds_importer(session, snds).import_once()
    assert result.rows is not None
    assert len(result.rows) == 5000
    loop_thread = threading.get_ident()
    assert [t == loop_thread for t in threads] == [False, True]  # data.aspx, ipStatus.aspx
