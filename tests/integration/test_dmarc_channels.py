"""DMARC aggregate reports through every channel into SQLite and PostgreSQL: the HTTP route,
``delivermon ingest dmarc`` and the IMAP poller (Dovecot) share one path, so a re-sent
report is a duplicate whichever channel brings it, and a refused one stores nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import logging
from pathlib import Path

import pytest
from aiohttp import ClientSession
from cli import run_cli
from dmarcreports import Row, aggregate_xml, ingest_context, report_mail, zipped
from dovecot import DovecotAccount
from httpapp import api_app
from httpserve import ServeHttp, post_for_json

from monitor.config import (
    Config,
    DomainConfig,
    HttpConfig,
    ImapConfig,
    PrivacyConfig,
    StoreConfig,
)
from monitor.ingest.dmarc.service import ingest_dmarc
from monitor.ingest.imap import ImapPoller
from monitor.ingest.kinds import DMARC, IngestContext, IngestOutcome
from monitor.model.privacy import Pseudonymizer
from monitor.store.store import SqlStore

TOKEN = "ingest-token-for-dmarc-tests"
NOW = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
KEY = "0123456789abcdef0123456789abcdef"
ROWS = (Row("192.0.2.10", 40), Row("198.51.100.7", 3, dkim="fail", spf="fail", dkim_result="fail"))
REPORT = aggregate_xml(ROWS, report_id="http-1")
HUGE_COUNT = aggregate_xml([Row("192.0.2.10", 10**20)], report_id="huge")
LONG_ID = aggregate_xml(ROWS, report_id="x" * 256)
FUTURE = aggregate_xml(ROWS, report_id="future", begin=int(NOW.timestamp()) + 2 * 86_400)
LAUGHS = b'<?xml version="1.0"?><!DOCTYPE f [<!ENTITY a "aaaa">]><feedback>&a;</feedback>'


def two_reports_mail() -> bytes:
    """A report mail with a second report attached after the first (RFC 7489: one)."""
    one = report_mail(REPORT)
    second = report_mail(aggregate_xml(ROWS, report_id="http-2"))
    attachment = second[second.index(b"--b1\r\nContent-Type: application/gzip") :]
    return one.replace(b"--b1--\r\n", attachment.partition(b"--b1--")[0] + b"--b1--\r\n")


def config(store_url: str) -> Config:
    return Config(
        http=HttpConfig(ingest_token=TOKEN, max_body_bytes=64 * 1024),
        store=StoreConfig(url=store_url),
        privacy=PrivacyConfig(pseudonym_key=KEY),
        domains=[DomainConfig(name="example.com", dkim_selectors=["s1"])],
    )


async def serve(serve_http: ServeHttp, store: SqlStore, store_url: str) -> str:
    app = await api_app(config(store_url), store, Pseudonymizer(KEY.encode()), clock=lambda: NOW)
    return await serve_http(app) + "/api/v1/dmarc/reports"


def write_config(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "delivermon.toml"
    path.write_text(f'[store]\nurl = "{store_url}"\n[privacy]\npseudonym_key = "{KEY}"\n')
    return path


async def test_http_contract_and_a_resent_report_is_a_duplicate(
    serve_http: ServeHttp, store: SqlStore, store_url: str
) -> None:
    url = await serve(serve_http, store, store_url)
    gz = {"Content-Type": "application/gzip"}
    status, body = await post_for_json(url, gzip.compress(REPORT), headers=gz, token=TOKEN)
    assert status == 202
    assert body["duplicate"] is False
    assert (body["domain"], body["records"], body["messages"]) == ("example.com", 2, 43)
    # The same report again, as XML this time: the same id, a duplicate.
    xml = {"Content-Type": "application/xml"}
    status, again = await post_for_json(url, REPORT, headers=xml, token=TOKEN)
    assert (status, again["duplicate"], again["id"]) == (202, True, body["id"])
    assert await store.dmarc_report_count("example.com") == 1
    figures = await store.dmarc_source_figures("example.com")
    assert [(f.source_ip, f.messages, f.dmarc_pass) for f in figures] == [
        ("192.0.2.10", 40, 40),
        ("198.51.100.7", 3, 0),
    ]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "reason"),
    [
        (LAUGHS, "application/xml", 422, "doctype_forbidden"),
        (gzip.compress(REPORT)[:40], "application/gzip", 422, "gzip_truncated"),
        (zipped("a.xml.gz", gzip.compress(REPORT)), "application/zip", 422, "nested_archive"),
        (b"From: a@example.net\r\n\r\nhello\r\n", "message/rfc822", 422, "no_dmarc_report"),
        (HUGE_COUNT, "application/xml", 422, "bad_count"),
        (LONG_ID, "application/xml", 422, "field_too_long"),
        (FUTURE, "application/xml", 422, "bad_date"),
        (two_reports_mail(), "message/rfc822", 422, "several_reports"),
        (b"", "application/xml", 400, "empty"),
        (REPORT, "text/html", 415, None),
        (b"<feedback/>" + b" " * 70_000, "application/xml", 413, None),
    ],
    ids=[
        "billion-laughs",
        "truncated-gzip",
        "nested",
        "not-a-report",
        "count-over-int64",
        "report-id-longer-than-stored",
        "dated-in-the-future",
        "two-reports-in-one-mail",
        "empty",
        "media",
        "big",
    ],
)
async def test_http_refusals_store_nothing(
    serve_http: ServeHttp,
    store: SqlStore,
    store_url: str,
    body: bytes,
    content_type: str,
    status: int,
    reason: str | None,
) -> None:
    url = await serve(serve_http, store, store_url)
    got, answer = await post_for_json(
        url, body, headers={"Content-Type": content_type}, token=TOKEN
    )
    assert got == status
    if reason is not None:
        assert answer["reason"] == reason
    assert await store.dmarc_domains() == []


async def test_http_needs_the_ingest_token(
    serve_http: ServeHttp, store: SqlStore, store_url: str
) -> None:
    url = await serve(serve_http, store, store_url)
    status, _ = await post_for_json(url, REPORT, headers={"Content-Type": "application/xml"})
    assert status == 401
    assert await store.dmarc_domains() == []


async def test_cli_json_contract_files_directories_stdin_and_duplicates(
    tmp_path: Path, store: SqlStore, store_url: str
) -> None:
    conf = write_config(tmp_path, store_url)
    reports = tmp_path / "reports"
    (reports / "sub").mkdir(parents=True)
    (reports / "a.xml.gz").write_bytes(gzip.compress(REPORT))
    (reports / "sub" / "b.zip").write_bytes(zipped("b.xml", aggregate_xml(ROWS, report_id="b")))
    (reports / "bomb.xml").write_bytes(LAUGHS)
    # Hidden files and folders are not read (.Trash, .DS_Store, an editor's swap file).
    (reports / ".hidden.xml").write_bytes(LAUGHS)
    (reports / ".Trash").mkdir()
    (reports / ".Trash" / "old.xml").write_bytes(LAUGHS)
    mail = report_mail(aggregate_xml(ROWS, report_id="c"), container="zip")
    done = run_cli(
        "ingest", "dmarc", "--config", str(conf), "--json", str(reports), "-", stdin=mail
    )
    assert done.returncode == 1, done.stderr  # one input was refused
    documents = json.loads(done.stdout)
    assert [(d["path"].rpartition("/")[2], d["status"], d["reason"]) for d in documents] == [
        ("a.xml.gz", "stored", None),
        ("bomb.xml", "refused", "doctype_forbidden"),
        ("b.zip", "stored", None),
        ("-", "stored", None),
    ]
    assert documents[0]["report"] == {
        "org_name": "google.com",
        "report_id": "http-1",
        "domain": "example.com",
        "begin": "2025-12-05T00:00:00Z",
        "end": "2025-12-05T23:59:59Z",
        "records": 2,
        "messages": 43,
    }
    assert documents[1]["report"] is None
    (reports / "bomb.xml").unlink()
    again = run_cli("ingest", "dmarc", "--config", str(conf), "--json", str(reports))
    assert again.returncode == 0, again.stderr
    assert {d["status"] for d in json.loads(again.stdout)} == {"duplicate"}
    assert await store.dmarc_report_count("example.com") == 3
    missing = run_cli("ingest", "dmarc", "--config", str(conf), str(tmp_path / "nope"))
    assert missing.returncode == 2


async def test_cli_goes_on_after_a_refused_input_and_reports_every_one(
    tmp_path: Path, store: SqlStore, store_url: str
) -> None:
    # A count over 2^63 used to reach SQLite: OverflowError ended the run with a
    # traceback, the first report stored but never reported, the third never read.
    conf = write_config(tmp_path, store_url)
    (tmp_path / "a.xml").write_bytes(aggregate_xml(ROWS, report_id="a"))
    (tmp_path / "b.xml").write_bytes(HUGE_COUNT)
    (tmp_path / "c.xml").write_bytes(aggregate_xml(ROWS, report_id="c"))
    paths = [str(tmp_path / name) for name in ("a.xml", "b.xml", "c.xml")]
    done = run_cli("ingest", "dmarc", "--config", str(conf), "--json", *paths)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    documents = json.loads(done.stdout)
    assert [(d["status"], d["reason"]) for d in documents] == [
        ("stored", None),
        ("refused", "bad_count"),
        ("stored", None),
    ]
    assert await store.dmarc_report_count("example.com") == 2
    plain = run_cli("ingest", "dmarc", "--config", str(conf), *paths)
    assert plain.stdout.splitlines()[-1] == "3 input(s): 0 stored, 2 duplicate, 1 refused"


async def test_cli_answers_a_bug_on_one_input_as_internal_error_and_goes_on(
    tmp_path: Path, store: SqlStore, store_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # No input is known to hit a bug, so one is made: the kind's ingest raises for the
    # second input (a stand-in for a fault that cannot be produced otherwise).
    from monitor.cli.feedback import _ingest_all, _Message
    from monitor.config import load_config

    async def faulty(raw: bytes, ctx: IngestContext) -> IngestOutcome:
        if b"report_id>b<" in raw:
            raise RuntimeError("a bug")
        return await DMARC.ingest(raw, ctx)

    kind = dataclasses.replace(DMARC, ingest=faulty)
    messages = []
    for name in ("a", "b", "c"):
        path = tmp_path / f"{name}.xml"
        path.write_bytes(aggregate_xml(ROWS, report_id=name))
        messages.append(_Message(str(path), path))
    conf = load_config(write_config(tmp_path, store_url))
    tally = await _ingest_all(kind, messages, conf, None)
    assert [(d["status"], d["reason"]) for d in tally.documents] == [
        ("stored", None),
        ("refused", "internal_error"),
        ("stored", None),
    ]
    assert "RuntimeError: a bug" in capsys.readouterr().err
    assert await store.dmarc_report_count("example.com") == 2


async def test_api_counts_sources_the_job_has_not_classified_as_unclassified(
    serve_http: ServeHttp, store: SqlStore, store_url: str
) -> None:
    url = await serve(serve_http, store, store_url)
    status, _ = await post_for_json(
        url, REPORT, headers={"Content-Type": "application/xml"}, token=TOKEN
    )
    assert status == 202
    domain_url = url.replace("/reports", "/domains/example.com")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with ClientSession() as session:
        async with session.get(domain_url, params={"days": "366"}, headers=auth) as response:
            assert response.status == 200
            summary = await response.json()
        for days in ("²", "\uff15", "9" * 5000, "0"):  # a superscript, a full-width 5
            async with session.get(domain_url, params={"days": days}, headers=auth) as response:
                assert response.status == 400, days
        found = {}
        for cls in ("own", "forwarder", "unknown", "unclassified"):
            async with session.get(
                domain_url + "/sources",
                params={"classification": cls, "since": "2025-01-01T00:00:00Z"},
                headers=auth,
            ) as response:
                assert response.status == 200
                found[cls] = [s["ip"] for s in (await response.json())["sources"]]
        # The path's domain in another case, with its root dot: the same domain.
        spelled = url.replace("/reports", "/domains/Example.COM.")
        async with session.get(spelled, params={"days": "366"}, headers=auth) as response:
            assert response.status == 200
            assert (await response.json()) == summary
    # No dmarc job has run: nothing is known, whatever the reports alone suggest.
    assert summary["classifications"] == {
        "own": 0,
        "forwarder": 0,
        "unknown": 0,
        "unclassified": 43,
    }
    assert {s["ip"]: (s["classification"], s["classified"]) for s in summary["sources"]} == {
        "192.0.2.10": ("forwarder", False),  # provisional: DKIM aligned
        "198.51.100.7": ("unknown", False),
    }
    assert found == {
        "own": [],
        "forwarder": [],
        "unknown": [],
        "unclassified": ["192.0.2.10", "198.51.100.7"],
    }


async def test_an_idn_policy_domain_is_stored_and_asked_for_as_its_a_label(
    serve_http: ServeHttp, store: SqlStore, store_url: str
) -> None:
    """The config keeps an IDN as its A-label: a report naming the domain in Unicode is
    stored under the A-label, and the API finds it by either spelling."""
    url = await serve(serve_http, store, store_url)
    raw = aggregate_xml(ROWS, report_id="idn-1", domain="B\u00fccher.example")
    status, body = await post_for_json(
        url, raw, headers={"Content-Type": "application/xml"}, token=TOKEN
    )
    assert (status, body["domain"]) == (202, "xn--bcher-kva.example")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    async with ClientSession() as session:
        for spelled in ("b\u00fccher.example", "XN--BCHER-KVA.example."):
            domain_url = url.replace("/reports", f"/domains/{spelled}")
            async with session.get(domain_url, headers=auth) as response:
                assert response.status == 200, spelled
                assert (await response.json())["domain"] == "xn--bcher-kva.example"


async def test_sources_are_paged_past_the_first_hundred(
    serve_http: ServeHttp, store: SqlStore, store_url: str
) -> None:
    url = await serve(serve_http, store, store_url)
    # 250 sources (RFC 3849), each with a message count of its own: the order is known.
    many = [Row(f"2001:db8::{n:x}", 1000 - n) for n in range(1, 251)]
    status, _ = await post_for_json(
        url,
        gzip.compress(aggregate_xml(many, report_id="many")),  # within the test's body cap
        headers={"Content-Type": "application/gzip"},
        token=TOKEN,
    )
    assert status == 202
    sources_url = url.replace("/reports", "/domains/example.com/sources")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    since = {"since": "2025-01-01T00:00:00Z"}
    pages = {}
    async with ClientSession() as session:
        for name, params in {
            "default": {},
            "all": {"limit": "1000"},
            "last": {"limit": "100", "offset": "200"},
            "past": {"offset": "250"},
        }.items():
            async with session.get(sources_url, params=since | params, headers=auth) as response:
                assert response.status == 200
                pages[name] = await response.json()
        for bad in ({"limit": "0"}, {"limit": "10001"}, {"limit": "x"}, {"offset": "-1"}):
            async with session.get(sources_url, params=since | bad, headers=auth) as response:
                assert response.status == 400, bad
        async with session.get(sources_url, params={"classfication": "own"}, headers=auth) as r:
            assert r.status == 400
            assert "unknown query parameter 'classfication'" in (await r.json())["error"]
        # Which of two values was meant cannot be told: refused, not the first one taken.
        twice = [("limit", "10"), ("limit", "20")]
        async with session.get(sources_url, params=twice, headers=auth) as response:
            assert (response.status, await response.json()) == (
                400,
                {"error": "limit is given more than once"},
            )
    want = [row.ip for row in many]
    assert [s["ip"] for s in pages["default"]["sources"]] == want[:100]
    assert [s["ip"] for s in pages["all"]["sources"]] == want
    assert [s["ip"] for s in pages["last"]["sources"]] == want[200:]
    assert pages["past"]["sources"] == []
    assert {p["total_sources"] for p in pages.values()} == {250}
    assert (pages["last"]["offset"], pages["last"]["limit"]) == (200, 100)


async def test_what_was_odd_about_a_stored_report_is_logged(
    store: SqlStore, caplog: pytest.LogCaptureFixture
) -> None:
    odd = aggregate_xml(ROWS, report_id="odd-1").replace(
        b"<header_from>example.com<", b"<header_from>caf\xe9.example.com<"
    )
    caplog.set_level(logging.INFO, logger="monitor.ingest.dmarc.service")
    outcome = await ingest_dmarc(odd, ingest_context(store, NOW))
    assert not outcome.duplicate
    (line,) = [r.getMessage() for r in caplog.records if "warnings" in r.getMessage()]
    assert line == "DMARC report odd-1 from google.com stored with warnings: invalid_utf8"
    caplog.clear()
    again = await ingest_dmarc(odd, ingest_context(store, NOW))
    assert again.duplicate
    assert not [r for r in caplog.records if "warnings" in r.getMessage()]


@pytest.mark.dovecot
async def test_imap_routes_reports_by_content_and_refuses_hostile_mail(
    dovecot: DovecotAccount, store: SqlStore
) -> None:
    dovecot.append(report_mail(REPORT, container="zip"))
    dovecot.append(report_mail(REPORT, container="gzip"))  # re-sent: a duplicate
    dovecot.append(report_mail(LAUGHS))
    poller = ImapPoller(
        ImapConfig(
            host=dovecot.host,
            port=dovecot.port,
            security="none",
            username=dovecot.username,
            password=dovecot.password,
        ),
        store=store,
        pseudonymizer=Pseudonymizer(KEY.encode()),
        campaign_headers=(),
        store_raw=False,
        clock=lambda: NOW,
    )
    result = await poller.poll_once()
    assert (result.stored, result.duplicates, result.refused) == (1, 1, 1)
    assert await store.dmarc_report_count("example.com") == 1
    assert len(dovecot.messages("delivermon/processed")) == 2
    assert len(dovecot.messages("delivermon/refused")) == 1
