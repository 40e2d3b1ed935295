"""Hostile request bodies against every route that takes one, on a real server and SQLite.

The routes come from the route table (``API_ROUTES``): every route that is not a GET is
sent each body below, with the credentials it asks for, so a route added later is attacked
too. Each must be refused cleanly (a 4xx with a JSON error, never a 5xx), quickly, and
store nothing. The limits are the documented ones (docs/reliability.md): ``max_body_bytes``
for every body, gzip/deflate request bodies counted after decompression, JSON per
``monitor.model.jsontext``, ARF per ``monitor.ingest.arf`` (MAX_PARTS, MAX_RECIPIENTS).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import gzip
import json
import time
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import leaks
import pytest
import pytest_asyncio
from certs import rsa_signer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from httpapp import api_app
from httpserve import served_apps
from sns import CERT_NAME, TOPIC
from sqlitefile import row_counts

from monitor.config import (
    Config,
    HttpConfig,
    MailgunWebhookConfig,
    PostmarkWebhookConfig,
    SendgridWebhookConfig,
    SesWebhookConfig,
    WebhooksConfig,
)
from monitor.http.routes import Access, RouteSpec
from monitor.http.table import API_ROUTES
from monitor.ingest.arf import MAX_RECIPIENTS
from monitor.ingest.parsers import parser_by_name
from monitor.model.privacy import Pseudonymizer
from monitor.store import open_store

NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)
INGEST = "hostile-ingest-token"
ADMIN = "hostile-admin-token"
PM_USER, PM_PASS = "pm-hostile", "pm-hostile-pass"
MAX_BODY = 256 * 1024
TABLES = ("feedback_reports", "events", "event_keys", "counters", "suppressions", "campaigns")
ARF = parser_by_name("arf").examples[0]
# Every route that reads a request body (DELETE and GET routes do not).
WRITES = [r for r in API_ROUTES if r.method in ("POST", "PUT", "PATCH")]


def _path(route: RouteSpec) -> str:
    return route.path.replace("{id}", "spring").replace("{email}", "someone%40example.org")


def _headers(route: RouteSpec, content_type: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": content_type or _content_type(route)}
    if route.access in (Access.INGEST, Access.READ):
        headers["Authorization"] = f"Bearer {INGEST}"
    elif route.access is Access.ADMIN:
        headers["Authorization"] = f"Bearer {ADMIN}"
    elif route.path.endswith("/postmark"):
        basic = base64.b64encode(f"{PM_USER}:{PM_PASS}".encode()).decode()
        headers["Authorization"] = f"Basic {basic}"
    return headers


def _content_type(route: RouteSpec) -> str:
    """A media type the route accepts, so the body limit, not a 415, is what answers."""
    if route.path.endswith(("/arf", "/bounces")):
        return "message/rfc822"
    if route.path.startswith("/api/v1/dmarc/"):
        return "application/xml"
    return "application/json"


# One app and store for the module: a refusal stores nothing, so the tests can share them
# (each compares the row counts before and after), and 110 tests start in a blink.
pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile") / "delivermon.db"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def base_url(db: Path) -> AsyncIterator[str]:
    """Every provider configured, so each route reads the body it is sent."""
    cert = db.parent / CERT_NAME
    cert.write_bytes(rsa_signer()[1])
    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    config = Config(
        http=HttpConfig(ingest_token=INGEST, admin_token=ADMIN, max_body_bytes=MAX_BODY),
        webhooks=WebhooksConfig(
            ses=SesWebhookConfig(topic_arns=[TOPIC], certificate_files=[str(cert)]),
            sendgrid=SendgridWebhookConfig(verification_key=base64.b64encode(der).decode()),
            mailgun=MailgunWebhookConfig(signing_key="env:DELIVERMON_TEST_HOSTILE_MG"),
            postmark=PostmarkWebhookConfig(username=PM_USER, password=PM_PASS),
        ),
    )
    store = await open_store(f"sqlite:///{db}")
    try:
        with pytest.MonkeyPatch.context() as env:
            env.setenv("DELIVERMON_TEST_HOSTILE_MG", "hostile-mailgun-key")
            async with served_apps() as serve:
                app = await api_app(config, store, Pseudonymizer(b"k" * 32), clock=lambda: NOW)
                yield await serve(app)
    finally:
        await store.close()


def _nested_json(depth: int) -> bytes:
    return b'{"events": ' + b"[" * depth + b"]" * depth + b"}"


def _nested_mime(depth: int) -> bytes:
    head = b"From: <a@example.net>\nContent-Type: multipart/report; boundary=b0\n\n"
    parts = [
        b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(depth)
    ]
    return head + b"".join(parts) + b"--b%d--\n" % depth


def _huge_headers() -> bytes:
    line = b"X-Filler: " + b"a" * 60 + b"\n"
    return line * ((MAX_BODY - 1024) // len(line)) + b"From: <a@example.net>\n\nbody\n"


def _many_recipients() -> bytes:
    extra = b"".join(
        b"Original-Rcpt-To: <r%d@example.org>\n" % i for i in range(MAX_RECIPIENTS + 1)
    )
    return ARF.replace(b"Version: 1\n", b"Version: 1\n" + extra)


BODIES: dict[str, bytes] = {
    "invalid_utf8": b'{"events": [{"type": "sent", "campaign": "\xc3\x28"}]}',
    "duplicate_keys": b'{"events": [], "events": [{"type": "sent", "campaign": "c"}]}',
    "nested_10000": _nested_json(10_000),
    "nested_65": _nested_json(65),
    "number_overflow": b'{"events": [{"type": "sent", "campaign": "c", "count": 1e999}]}',
    "huge_integer": b'{"events": [{"type": "sent", "campaign": "c", "count": '
    + b"9" * 5000
    + b"}]}",
    "nan": b'{"events": [{"type": "sent", "campaign": "c", "count": NaN}]}',
    "nested_mime_10000": _nested_mime(10_000),
    "huge_header_block": _huge_headers(),
    "too_many_recipients": _many_recipients(),
    "nul_bytes": b"\x00" * 4096,
}


def _counts(db: Path) -> dict[str, int]:
    return row_counts(db, TABLES)


async def _send(
    base_url: str, route: RouteSpec, body: bytes, headers: dict[str, str]
) -> tuple[int, object]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(route.method, base_url + _path(route), data=body, headers=headers) as r,
    ):
        assert r.content_type == "application/json", (route.path, r.status)
        leaks.RESPONSES.append(await r.read())  # an error body must not echo the input
        return r.status, await r.json()


@pytest.mark.parametrize("body", list(BODIES), ids=list(BODIES))
@pytest.mark.parametrize("route", WRITES, ids=[f"{r.method} {r.path}" for r in WRITES])
async def test_hostile_body_is_refused_cleanly_and_stores_nothing(
    base_url: str, db: Path, route: RouteSpec, body: str
) -> None:
    before = _counts(db)
    started = time.monotonic()
    status, answer = await _send(base_url, route, BODIES[body], _headers(route))
    assert time.monotonic() - started < 10, "a refusal must not take long"
    assert 400 <= status < 500, (status, answer)
    assert isinstance(answer, dict)
    assert "error" in answer
    assert _counts(db) == before


@functools.cache
def _bomb(encoding: str) -> bytes:
    """64 MiB of zeros, compressed to about 64 KiB (made once: it takes a third of a second)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    return b"".join(packer.compress(bytes(1 << 20)) for _ in range(64)) + packer.flush()


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
@pytest.mark.parametrize("route", WRITES, ids=[f"{r.method} {r.path}" for r in WRITES])
async def test_compression_bomb_is_413_after_max_body_bytes(
    base_url: str, db: Path, route: RouteSpec, encoding: str
) -> None:
    # The limit applies to the decompressed bytes: 64 MiB of them is refused at MAX_BODY.
    bomb = _bomb(encoding)
    assert len(bomb) < MAX_BODY
    before = _counts(db)
    headers = {**_headers(route), "Content-Encoding": encoding}
    status, answer = await _send(base_url, route, bomb, headers)
    assert (status, answer) == (413, {"error": "request body too large"})
    assert _counts(db) == before


@pytest.mark.parametrize("route", WRITES, ids=[f"{r.method} {r.path}" for r in WRITES])
async def test_oversized_body_is_413(base_url: str, db: Path, route: RouteSpec) -> None:
    before = _counts(db)
    status, _ = await _send(base_url, route, b"x" * (MAX_BODY + 1), _headers(route))
    assert status == 413
    assert _counts(db) == before


async def test_a_compressed_good_body_is_accepted(base_url: str, db: Path) -> None:
    """The bomb is refused for its size, not for being compressed."""
    route = next(r for r in WRITES if r.path == "/api/v1/events")
    body = gzip.compress(json.dumps({"events": [{"type": "sent", "campaign": "c"}]}).encode())
    headers = {**_headers(route), "Content-Encoding": "gzip"}
    assert await _send(base_url, route, body, headers) == (202, {"accepted": 1, "duplicates": 0})


async def test_arf_with_too_many_recipients_is_400(base_url: str, db: Path) -> None:
    route = next(r for r in WRITES if r.path.endswith("/arf"))
    status, answer = await _send(base_url, route, _many_recipients(), _headers(route))
    assert status == 400
    assert isinstance(answer, dict)
    assert answer["reason"] == "too_many_recipients"
    assert _counts(db)["feedback_reports"] == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("duplicate_keys", "duplicate_key"),
        ("nested_10000", "too_deep"),
        ("nested_65", "too_deep"),
        ("number_overflow", "number_out_of_range"),
        ("huge_integer", "number_out_of_range"),
        ("nan", "number_out_of_range"),
        ("invalid_utf8", "not_json"),
    ],
)
async def test_events_json_refusals_name_their_reason(
    base_url: str, body: str, reason: str
) -> None:
    route = next(r for r in WRITES if r.path == "/api/v1/events")
    status, answer = await _send(base_url, route, BODIES[body], _headers(route))
    assert (status, answer) == (400, {"error": "body is not valid JSON", "reason": reason})
