"""Local stand-ins for Gmail Postmaster Tools API v2 (with Google's OAuth2 token endpoint) and
Microsoft SNDS automated access, served on 127.0.0.1 by the tests.

The shapes follow the public references, not delivermon's code:
- Postmaster Tools API v2: https://developers.google.com/workspace/gmail/postmaster/reference/rest/v2
  (discovery document gmailpostmastertools.v2.json): ``POST /v2/domainStats:batchQuery``,
  ``POST /v2/domains/{domain}/domainStats:query``, ``GET /v2/domains/{domain}/complianceStatus``;
  errors as google.rpc.Status JSON (https://cloud.google.com/apis/design/errors).
- OAuth2 token endpoint: https://developers.google.com/identity/protocols/oauth2/service-account
  (JWT-bearer grant: RS256 assertion with iss, scope, aud, iat, exp) and the refresh-token grant
  (RFC 6749 section 6). The assertion is verified here with the key's public half.
- SNDS: https://sendersupport.olc.protection.outlook.com/snds/ (``data.aspx?key=&date=MMDDYY``,
  ``ipStatus.aspx?key=``): headerless CSV, CRLF line ends.

Faults are scripted: ``script`` answers the next API requests with the given statuses
(``"malformed"``: a 200 whose body is not JSON), ``outage`` answers 503 to everything.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_AUD = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/postmaster.traffic.readonly"
CLIENT_EMAIL = "delivermon-test@example-project.iam.gserviceaccount.com"

Fault = int | str  # an HTTP status, or "malformed"


def _b64d(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _google_error(status: int, rpc: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": status, "message": message, "status": rpc}}, status=status
    )


_RPC = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
_RPC_CODE = {"PERMISSION_DENIED": 7, "NOT_FOUND": 5, "UNAUTHENTICATED": 16}


@dataclass
class Postmaster:
    """The Postmaster Tools v2 stand-in and its token endpoint (``/token``)."""

    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    # domain -> {(date, metric): value}; a missing day is a day without data
    stats: dict[str, dict[tuple[dt.date, str], float]] = field(default_factory=dict)
    compliance: dict[str, dict[str, Any]] = field(default_factory=dict)
    compliance_broken: set[str] = field(default_factory=set)  # complianceStatus answers 500
    denied: dict[str, int] = field(default_factory=dict)  # domain -> 403 or 404
    page_size: int | None = None  # the server's page size, below the request's (pagination)
    token_answer: dict[str, Any] | None = None  # answered to every valid grant instead
    # domain -> entries answered as they are, whatever the window (a server that errs)
    raw_entries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    script: list[Fault] = field(default_factory=list)
    outage: bool = False
    token_failure: int | None = None  # the token endpoint answers this status, plain text
    refresh_token: str = "refresh-token-for-tests"
    tokens: set[str] = field(default_factory=set)
    token_grants: list[str] = field(default_factory=list)  # grant_type of each token request
    requests: list[tuple[str, str, bool]] = field(default_factory=list)  # method, path, authed
    url: str = ""

    # --- credentials files a client would be given --------------------------------------

    def service_account_info(self) -> dict[str, str]:
        pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        return {
            "type": "service_account",
            "project_id": "example-project",
            "private_key_id": "0123456789abcdef",
            "private_key": pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1234567890",
            "token_uri": f"{self.url}/token",
        }

    def authorized_user_info(self) -> dict[str, str]:
        return {
            "type": "authorized_user",
            "client_id": "client-id.apps.example.com",
            "client_secret": "client-secret-for-tests",
            "refresh_token": self.refresh_token,
            "token_uri": f"{self.url}/token",
        }

    # --- the app ---------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application()
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/token", self._token)
        app.router.add_post("/v2/domainStats:batchQuery", self._batch)
        app.router.add_post("/v2/domains/{domain}/domainStats:query", self._query)
        app.router.add_get("/v2/domains/{domain}/complianceStatus", self._compliance)

    async def _token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = str(form.get("grant_type", ""))
        self.token_grants.append(grant)
        if self.outage:
            return web.json_response({"error": "temporarily_unavailable"}, status=503)
        if self.token_failure is not None:
            return web.Response(text="Internal Server Error", status=self.token_failure)
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            problem = self._verify_assertion(str(form.get("assertion", "")))
        elif grant == "refresh_token":
            ok = (
                form.get("refresh_token") == self.refresh_token
                and form.get("client_secret") == "client-secret-for-tests"
            )
            problem = None if ok else "bad refresh token"
        else:
            problem = "unsupported grant"
        if problem is not None:
            return web.json_response(
                {"error": "invalid_grant", "error_description": problem}, status=400
            )
        if self.token_answer is not None:
            return web.json_response(self.token_answer)
        token = "ya29." + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return web.json_response(
            {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}
        )

    def _verify_assertion(self, assertion: str) -> str | None:
        """The JWT-bearer assertion, checked as Google documents it; None when valid."""
        try:
            head, body, signature = assertion.split(".")
            header, claims = json.loads(_b64d(head)), json.loads(_b64d(body))
            self.key.public_key().verify(
                _b64d(signature),
                f"{head}.{body}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception as exc:
            return f"bad assertion: {type(exc).__name__}"
        now = time.time()
        if header.get("alg") != "RS256" or header.get("kid") != "0123456789abcdef":
            return "bad header"
        if claims.get("iss") != CLIENT_EMAIL or claims.get("aud") != GOOGLE_TOKEN_AUD:
            return "bad iss or aud"
        if SCOPE not in str(claims.get("scope", "")).split():
            return "scope missing"
        if not claims.get("iat", now + 999) <= now + 5 < claims.get("exp", 0) + 5:
            return "expired"
        if claims["exp"] - claims["iat"] > 3600:
            return "lifetime over an hour"
        return None

    def _fault(self, request: web.Request) -> web.Response | None:
        authed = request.headers.get("Authorization", "").removeprefix("Bearer ") in self.tokens
        self.requests.append((request.method, request.path, authed))
        if self.outage:
            return _google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
        if not authed:
            return _google_error(401, "UNAUTHENTICATED", "Request had invalid credentials.")
        if self.script:
            fault = self.script.pop(0)
            if fault == "malformed":
                return web.Response(text='{"domainStats": [', content_type="application/json")
            if isinstance(fault, int) and fault != 200:
                return _google_error(fault, _RPC.get(fault, "UNKNOWN"), "scripted fault")
        return None

    def _page(self, domain: str, body: dict[str, Any]) -> dict[str, Any]:
        names = {m["name"]: m for m in body["metricDefinitions"]}
        ranges = body["timeQuery"]["dateRanges"]["dateRanges"]
        start, end = (dt.date(**ranges[0][k]) for k in ("start", "end"))
        entries = [
            {
                "name": f"domains/{domain}/domainStats/{day:%Y%m%d}-{metric}",
                "metric": metric,
                "date": {"year": day.year, "month": day.month, "day": day.day},
                "value": {"floatValue": value},
            }
            for (day, metric), value in sorted(self.stats.get(domain, {}).items())
            if start <= day <= end and metric in names
        ] + self.raw_entries.get(domain, [])
        size = min(int(body.get("pageSize", 10)), self.page_size or 200)
        offset = int(_b64d(body["pageToken"]).decode()) if body.get("pageToken") else 0
        page: dict[str, Any] = {}
        if entries[offset : offset + size]:
            page["domainStats"] = entries[offset : offset + size]
        if offset + size < len(entries):
            page["nextPageToken"] = base64.urlsafe_b64encode(str(offset + size).encode()).decode()
        return page

    async def _batch(self, request: web.Request) -> web.Response:
        if (fault := self._fault(request)) is not None:
            return fault
        body = await request.json()
        results = []
        for one in body["requests"]:
            domain = one["parent"].removeprefix("domains/")
            if domain in self.denied:
                rpc = _RPC[self.denied[domain]]
                results.append(
                    {"error": {"code": _RPC_CODE[rpc], "message": "denied", "status": rpc}}
                )
            else:
                results.append({"response": self._page(domain, one)})
        return web.json_response({"results": results})

    async def _query(self, request: web.Request) -> web.Response:
        if (fault := self._fault(request)) is not None:
            return fault
        domain = request.match_info["domain"]
        if domain in self.denied:
            status = self.denied[domain]
            return _google_error(status, _RPC[status], "denied")
        return web.json_response(self._page(domain, await request.json()))

    async def _compliance(self, request: web.Request) -> web.Response:
        if (fault := self._fault(request)) is not None:
            return fault
        domain = request.match_info["domain"]
        if domain in self.denied:
            status = self.denied[domain]
            return _google_error(status, _RPC[status], "denied")
        if domain in self.compliance_broken:
            return _google_error(500, "INTERNAL", "broken")
        return web.json_response(
            {"name": f"domains/{domain}/complianceStatus", **self.compliance.get(domain, {})}
        )


def compliance_rows(**statuses: str) -> dict[str, Any]:
    """``complianceData`` with one row per requirement (``SPF="COMPLIANT"``, ...)."""
    return {
        "complianceData": {
            "domainId": "example.com",
            "rowData": [
                {"requirement": req, "status": {"status": status}}
                for req, status in statuses.items()
            ],
        }
    }


SNDS_KEY = "00000000-1111-2222-3333-444444444444"


def snds_line(
    ip: str,
    *,
    day: dt.date,
    result: str = "GREEN",
    traps: int = 0,
    complaint: str = "< 0.1%",
) -> str:
    """One data.aspx line, the 14 documented columns in order."""
    start = f"{day.month}/{day.day}/{day.year} 12:00 AM"
    end = f"{day.month}/{day.day}/{day.year} 11:00 PM"
    trap_start, trap_end = (start, end) if traps else ("", "")
    return (
        f"{ip},{start},{end},1200,1150,1100,{result},{complaint},{trap_start},{trap_end},"
        f"{traps},mta1.example.com,bounce@example.com,"
    )


@dataclass
class Snds:
    """The SNDS stand-in: ``data`` (latest, or by MMDDYY date) and ``ip_status`` bodies."""

    key: str = SNDS_KEY
    data: dict[str | None, list[str]] = field(default_factory=dict)
    ip_status: list[str] = field(default_factory=list)
    script: list[Fault] = field(default_factory=list)
    outage: bool = False
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # page, date
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        self.add_routes(app)
        return app

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/snds/data.aspx", self._data)
        app.router.add_get("/snds/ipStatus.aspx", self._status)

    def _fault(self, request: web.Request) -> web.Response | None:
        self.requests.append((request.path.rsplit("/", 1)[-1], request.query.get("date")))
        if self.outage:
            return web.Response(status=503, text="Service Unavailable")
        if request.query.get("key") != self.key:
            return web.Response(status=401, text="<html><body>Not authorized</body></html>")
        if self.script:
            fault = self.script.pop(0)
            if fault == "malformed":
                return web.Response(
                    text="<html><body>Sign in</body></html>", content_type="text/html"
                )
            if isinstance(fault, int) and fault != 200:
                return web.Response(status=fault, text="error")
        return None

    @staticmethod
    def _csv(lines: list[str]) -> web.Response:
        return web.Response(
            body="".join(f"{line}\r\n" for line in lines).encode(), content_type="text/plain"
        )

    async def _data(self, request: web.Request) -> web.Response:
        if (fault := self._fault(request)) is not None:
            return fault
        return self._csv(self.data.get(request.query.get("date"), []))

    async def _status(self, request: web.Request) -> web.Response:
        if (fault := self._fault(request)) is not None:
            return fault
        return self._csv(self.ip_status)


class ThreadedApps:
    """aiohttp apps on 127.0.0.1 in a thread of their own (for a daemon in a subprocess)."""

    def __init__(self, *apps: web.Application) -> None:
        self._apps = apps
        self.urls: list[str] = []
        self._loop = asyncio.new_event_loop()
        self._runners: list[web.AppRunner] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _start(self) -> list[str]:
        urls = []
        for app in self._apps:
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            self._runners.append(runner)
            port = runner.addresses[0][1]
            urls.append(f"http://127.0.0.1:{port}")
        return urls

    async def _stop(self) -> None:
        for runner in self._runners:
            await runner.cleanup()

    def __enter__(self) -> Self:
        self._thread.start()
        self.urls = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(30)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def days_back(today: dt.date, count: int) -> Iterator[dt.date]:
    """``count`` days ending yesterday, oldest first."""
    for back in range(count, 0, -1):
        yield today - dt.timedelta(days=back)
