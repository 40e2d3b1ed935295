"""Who may call what: every route the running daemon's router serves, against every kind of
caller, generated from the router itself so a new route cannot be forgotten.

The daemon runs in process (SQLite, every webhook provider configured, both tokens set).
Each route of its aiohttp router is matched to the ``RouteSpec`` that declared it; a route
without one, or whose ``access`` the ``EXPECTED`` table cannot classify, fails the test.
Callers: no credentials, a wrong bearer token, the ingest token, the admin token, and each
token in the query string instead of the header (never accepted).
"""

from __future__ import annotations

import base64
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import leaks
import pytest
from aiohttp import web
from certs import rsa_signer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from daemon import offline_config
from sns import CERT_NAME, TOPIC

from monitor.config import parse_config
from monitor.daemon.app import Daemon, DaemonOptions
from monitor.http.routes import KEY_ROUTES, Access, RouteSpec

INGEST = "matrix-ingest-token"
ADMIN = "matrix-admin-token"
DENIED = frozenset({401, 403})

CALLERS = ("none", "wrong", "ingest", "admin", "query_ingest", "query_admin")


def _headers(caller: str) -> dict[str, str]:
    token = {"wrong": "not-a-token", "ingest": INGEST, "admin": ADMIN}.get(caller)
    return {"Authorization": f"Bearer {token}"} if token else {}


def _query(caller: str) -> str:
    if caller == "query_ingest":
        return f"?access_token={INGEST}&token={INGEST}"
    if caller == "query_admin":
        return f"?access_token={ADMIN}&token={ADMIN}"
    return ""


# Access -> caller -> expected status: an int, or "allowed" (anything but 401/403).
ALLOWED = "allowed"
_TOKEN_ROUTE = {"none": 401, "wrong": 403, "query_ingest": 401, "query_admin": 401}
EXPECTED: dict[Access, dict[str, int | str]] = {
    Access.PUBLIC: dict.fromkeys(CALLERS, ALLOWED),
    Access.INGEST: {**_TOKEN_ROUTE, "ingest": ALLOWED, "admin": 403},
    Access.ADMIN: {**_TOKEN_ROUTE, "ingest": 403, "admin": ALLOWED},
    Access.READ: {**_TOKEN_ROUTE, "ingest": ALLOWED, "admin": ALLOWED},
    # The ESP's own verification decides; a bearer token of ours never stands in for it.
    Access.PROVIDER: dict.fromkeys(CALLERS, "refused_by_provider_check"),
}


def _config(tmp_path: Path) -> str:
    cert = tmp_path / CERT_NAME
    cert.write_bytes(rsa_signer()[1])
    der = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return offline_config(
        f"sqlite:///{tmp_path / 'd.db'}",
        extra=f"""
[http]
ingest_token = "{INGEST}"
admin_token = "{ADMIN}"
[webhooks.ses]
topic_arns = ["{TOPIC}"]
certificate_files = ["{cert}"]
[webhooks.sendgrid]
verification_key = "{base64.b64encode(der).decode()}"
[webhooks.mailgun]
signing_key = "matrix-mailgun-key"
[webhooks.postmark]
username = "pm"
password = "matrix-postmark-password"
""",
    )


@pytest.fixture
async def daemon(tmp_path: Path) -> AsyncIterator[Daemon]:
    path = tmp_path / "delivermon.toml"
    path.write_text(_config(tmp_path))
    started = Daemon(
        parse_config(path.read_text()), DaemonOptions(config_path=path, listen="127.0.0.1:0")
    )
    await started.start()
    yield started
    await started.stop()


def _served_routes(daemon: Daemon) -> list[tuple[str, str, RouteSpec | None]]:
    """(method, path, its RouteSpec or None) for every route the router serves."""
    runner = daemon._runner  # the running app, as served
    assert runner is not None
    app = runner.app
    declared = {(s.method, s.path): s for s in app[KEY_ROUTES]}
    found = []
    for route in app.router.routes():
        if route.method == "HEAD":  # added by aiohttp beside each GET
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        assert isinstance(path, str), info
        found.append((route.method, path, declared.get((route.method, path))))
    return found


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "someone%40example.org", path)


async def test_every_route_for_every_caller_gets_the_expected_status(daemon: Daemon) -> None:
    routes = _served_routes(daemon)
    assert len(routes) >= 15
    base = f"http://127.0.0.1:{daemon.listen_port}"
    problems = []
    async with aiohttp.ClientSession() as session:
        for method, path, spec in routes:
            if spec is None:
                problems.append(f"{method} {path}: served but declared by no RouteSpec")
                continue
            expected = EXPECTED.get(spec.access)
            if expected is None:
                problems.append(f"{method} {path}: access {spec.access!r} is not in EXPECTED")
                continue
            for caller in CALLERS:
                url = base + _concrete(path) + _query(caller)
                async with session.request(
                    method, url, headers=_headers(caller), data=b"{}"
                ) as response:
                    status = response.status
                    leaks.RESPONSES.append(await response.read())
                want = expected[caller]
                if want == ALLOWED:
                    ok = status not in DENIED and status < 500
                elif want == "refused_by_provider_check":
                    ok = 400 <= status < 500  # malformed, unsigned or wrong credentials
                else:
                    ok = status == want
                if not ok:
                    problems.append(f"{method} {path} as {caller}: {status}, expected {want}")
    assert not problems, "\n".join(problems)


def test_every_access_kind_has_an_expectation() -> None:
    assert set(EXPECTED) == set(Access)
    for access, row in EXPECTED.items():
        assert set(row) == set(CALLERS), access


async def test_the_matrix_fails_for_a_route_it_cannot_classify(daemon: Daemon) -> None:
    """A route served outside the table is reported, not skipped."""
    runner = daemon._runner
    assert runner is not None

    async def handler(_request: web.Request) -> web.Response:
        return web.Response()

    runner.app.router._frozen = False  # test-only: add a route the table does not declare
    runner.app.router.add_get("/undeclared", handler)
    unclassified = [(m, p) for m, p, spec in _served_routes(daemon) if spec is None]
    assert unclassified == [("GET", "/undeclared")]


async def test_a_token_that_is_not_utf8_is_refused_not_a_server_error(daemon: Daemon) -> None:
    """Raw bytes 0xff 0xfe after "Bearer " (aiohttp hands them over as surrogates): a 403
    like any other wrong token, never a 500 with a traceback."""
    import asyncio

    for path in ("/api/v1/campaigns", "/api/v1/subjects/someone%40example.org"):
        reader, writer = await asyncio.open_connection("127.0.0.1", daemon.listen_port)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".encode()
            + b"Authorization: Bearer \xff\xfe\r\n\r\n"
        )
        await writer.drain()
        answer = await reader.read()
        writer.close()
        assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 403 Forbidden", answer[:200]


async def _metric(daemon: Daemon, line_start: str) -> float:
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{daemon.listen_port}/metrics") as r,
    ):
        text = await r.text()
    found = [ln for ln in text.splitlines() if ln.startswith(line_start)]
    return float(found[0].rsplit(" ", 1)[1]) if found else 0.0


async def test_a_client_that_goes_away_or_a_corrupt_gzip_is_no_server_error(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """A sender that drops the connection mid-body is counted client_aborted (the
    'server_error' reason reads as 'the daemon failed'); a gzip body that does not decode
    is a 400 bad_body. Neither logs an ERROR."""
    import asyncio

    port = daemon.listen_port
    with caplog.at_level("INFO"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + f"Authorization: Bearer {INGEST}\r\nContent-Length: 100000\r\n\r\n".encode()
            + b'{"events": ['
        )
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.transport.abort()
        for _ in range(50):
            await asyncio.sleep(0.1)
            if "client went away" in caplog.text:
                break
        async with (
            aiohttp.ClientSession() as s,
            s.post(
                f"http://127.0.0.1:{port}/api/v1/events",
                data=b"\x1f\x8b" + b"\0" * 18,
                headers={
                    "Authorization": f"Bearer {INGEST}",
                    "Content-Type": "application/json",
                    "Content-Encoding": "gzip",
                },
            ) as r,
        ):
            assert (r.status, (await r.json())["reason"]) == (400, "bad_body")
    prefix = 'delivermon_ingest_refused_total{reason="%s",source="events"}'
    assert await _metric(daemon, prefix % "client_aborted") == 1
    assert await _metric(daemon, prefix % "server_error") == 0
    assert [r for r in caplog.records if r.levelname == "ERROR"] == []
    del reader


async def test_a_token_in_a_header_aiohttp_refuses_is_not_logged(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """A control byte after the admin token: aiohttp's parser refuses the request (400)
    and used to log the raw header, token included, at ERROR."""
    import asyncio

    with caplog.at_level("DEBUG"):
        reader, writer = await asyncio.open_connection("127.0.0.1", daemon.listen_port)
        writer.write(
            b"GET /api/v1/campaigns HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            + f"Authorization: Bearer {ADMIN}\x01\r\n\r\n".encode()
        )
        await writer.drain()
        answer = await reader.read()
        writer.close()
        await asyncio.sleep(0.1)
    assert b" 400 " in answer.split(b"\r\n", 1)[0]  # aiohttp answers HTTP/1.0 here
    assert ADMIN not in caplog.text
    assert [r for r in caplog.records if r.levelno >= 40] == []


async def test_the_access_log_shows_no_query_string(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """A token put in the query string by mistake is refused (401) and not logged."""
    with caplog.at_level("DEBUG"):
        async with (
            aiohttp.ClientSession() as s,
            s.get(
                f"http://127.0.0.1:{daemon.listen_port}/api/v1/campaigns?access_token={INGEST}"
            ) as r,
        ):
            assert r.status == 401
        async with (
            aiohttp.ClientSession() as s,
            s.get(
                f"http://127.0.0.1:{daemon.listen_port}/api/v1/suppressions/someone@example.org",
                headers={"Authorization": f"Bearer {INGEST}"},
            ) as r,
        ):
            assert r.status == 200
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("GET /api/v1/campaigns HTTP/1.1" in line for line in access), access
    assert any("/api/v1/suppressions/redacted" in line for line in access), access
    assert INGEST not in caplog.text
    assert "someone@example.org" not in caplog.text


async def test_the_access_log_has_no_referer_and_no_user_agent(
    daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    """Both are the client's free text: a referring page's ?email= and a token a client put
    in its User-Agent reached the DEBUG access log verbatim."""
    headers = {
        "Referer": "https://crm.example/u?email=referred@example.org",
        "User-Agent": f"client token={INGEST}",
    }
    with caplog.at_level("DEBUG"):
        async with (
            aiohttp.ClientSession() as s,
            s.get(f"http://127.0.0.1:{daemon.listen_port}/healthz", headers=headers) as r,
        ):
            assert r.status == 200
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("GET /healthz HTTP/1.1" in line for line in access), access
    assert "referred@example.org" not in caplog.text
    assert INGEST not in caplog.text


@pytest.mark.parametrize("encoding", ["bogus", "compress", "gzip, gzip", "x-gzip"])
async def test_a_body_in_an_encoding_not_decoded_is_415(daemon: Daemon, encoding: str) -> None:
    """aiohttp decodes gzip and deflate and passes any other encoding's body on as it
    is: it was read as plain JSON and accepted (202). Now 415, as JSON, nothing stored."""
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"http://127.0.0.1:{daemon.listen_port}/api/v1/events",
            data=b'{"events": [{"type": "sent", "campaign": "c1"}]}',
            headers={
                "Authorization": f"Bearer {INGEST}",
                "Content-Type": "application/json",
                "Content-Encoding": encoding,
            },
        ) as r,
    ):
        assert r.status == 415
        assert "Content-Encoding" in (await r.json())["error"]
    assert await daemon.store.counts() == ()


@pytest.mark.parametrize("path", ["/api/v1/targets?x=1", "/api/v1/targets/192.0.2.10?x=1&x=2"])
async def test_the_public_target_routes_refuse_a_query_parameter(daemon: Daemon, path: str) -> None:
    """They read none; README: one the route does not read is a 400 on the API's GET
    routes. The public ones answered 200 (the check ran only behind a token)."""
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{daemon.listen_port}{path}") as r,
    ):
        assert r.status == 400
        assert "'x'" in (await r.json())["error"]


async def test_an_unknown_query_parameter_named_like_an_address_is_not_echoed(
    daemon: Daemon,
) -> None:
    """The 400 named the parameter as sent: ?bob@example.org=1 put the address in a
    response (README: no address appears in an error)."""
    async with (
        aiohttp.ClientSession() as s,
        s.get(f"http://127.0.0.1:{daemon.listen_port}/api/v1/targets?bob%40example.org=1") as r,
    ):
        assert r.status == 400
        body = await r.text()
    assert "bob" not in body
    assert "<redacted>" in body


async def test_erasing_with_a_query_parameter_is_400_and_erases_nothing(daemon: Daemon) -> None:
    """DELETE /api/v1/subjects/{email}?dry_run=1 erased for real: the route reads no
    parameter, and one given (a typo, a dry run it does not have) is now a 400."""
    async with (
        aiohttp.ClientSession() as s,
        s.delete(
            f"http://127.0.0.1:{daemon.listen_port}/api/v1/subjects/someone%40example.org",
            params={"dry_run": "1"},
            headers={"Authorization": f"Bearer {ADMIN}"},
        ) as r,
    ):
        assert r.status == 400
        assert "dry_run" in (await r.json())["error"]


async def _first_line(daemon: Daemon, rest: bytes) -> bytes:
    """The status line the daemon answers a Mailgun webhook POST whose header ends with
    ``rest`` (its length and the first bytes of its body, if any), within 5 s."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.listen_port)
    writer.write(
        b"POST /api/v1/webhooks/mailgun HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\n" + rest
    )
    await writer.drain()
    async with asyncio.timeout(5):
        status = await reader.readline()
    writer.close()
    return status


async def _post_event(daemon: Daemon) -> int:
    """One good events POST with the ingest token: its status."""
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"http://127.0.0.1:{daemon.listen_port}/api/v1/events",
            json={"events": [{"type": "sent", "campaign": "c1"}]},
            headers={"Authorization": f"Bearer {INGEST}"},
        ) as r,
    ):
        return r.status


async def test_a_declared_oversized_body_is_413_before_it_is_sent(daemon: Daemon) -> None:
    """Content-Length: 10 GB and no body at all: the answer comes at once (the server
    does not wait for bytes it would refuse), on a provider route with no credentials."""

    status = await _first_line(daemon, b"Content-Length: 10000000000\r\n\r\n")
    assert b" 413 " in status


async def test_strangers_slow_webhook_bodies_do_not_hold_up_a_token_route(daemon: Daemon) -> None:
    """Bodies on the signed webhooks (read before their signature can be checked) that
    trickle in, more of them than there are slots: a request with the ingest token is
    served at once; they used to share its slots, and it waited for one to be freed."""
    import asyncio

    from monitor.http.routes import BODY_SLOTS, KEY_BODIES

    runner = daemon._runner
    assert runner is not None
    runner.app[KEY_BODIES].seconds = 20.0
    strangers = []
    for n in range(BODY_SLOTS + 4):
        route = ("sendgrid", "mailgun", "ses")[n % 3]
        _reader, writer = await asyncio.open_connection("127.0.0.1", daemon.listen_port)
        writer.write(
            f"POST /api/v1/webhooks/{route} HTTP/1.1\r\nHost: x\r\n".encode()
            + b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n["
        )
        await writer.drain()
        strangers.append(writer)
    await asyncio.sleep(0.3)  # every stranger is in its slot, or waits for one
    try:
        async with asyncio.timeout(5):
            assert await _post_event(daemon) == 202
    finally:
        for writer in strangers:
            writer.close()


async def test_a_webhook_not_configured_is_404_before_its_body_is_read(
    daemon: Daemon, tmp_path: Path
) -> None:
    """With [webhooks.mailgun] removed by a reload, a body that would trickle in is not
    waited for: 404 at once (it used to be read first, holding a slot for 30 s)."""

    path = tmp_path / "delivermon.toml"
    text = path.read_text()
    path.write_text(text.replace('[webhooks.mailgun]\nsigning_key = "matrix-mailgun-key"\n', ""))
    assert "mailgun" not in path.read_text()
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"http://127.0.0.1:{daemon.listen_port}/-/reload",
            headers={"Authorization": f"Bearer {ADMIN}"},
        ) as r,
    ):
        assert r.status == 200, await r.text()
    status = await _first_line(daemon, b"Content-Length: 1000\r\n\r\n[")
    assert b" 404 " in status, status


async def test_a_body_that_trickles_in_is_408_and_frees_its_slot(daemon: Daemon) -> None:
    """One byte at a time, slower than the body deadline (set to 1 s here; 30 s by
    default): 408, and the next request is served."""
    import asyncio

    from monitor.http.routes import KEY_BODIES

    runner = daemon._runner
    assert runner is not None
    runner.app[KEY_BODIES].seconds = 1.0
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.listen_port)
    writer.write(
        b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Authorization: Bearer {INGEST}\r\nContent-Length: 1000\r\n\r\n".encode()
    )
    status = b""
    async with asyncio.timeout(10):
        for _ in range(20):
            writer.write(b" ")
            await writer.drain()
            try:
                status = await asyncio.wait_for(reader.readline(), 0.5)
            except TimeoutError:
                continue
            break
    writer.close()
    assert b" 408 " in status, status
    assert await _post_event(daemon) == 202
