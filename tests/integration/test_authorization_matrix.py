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
