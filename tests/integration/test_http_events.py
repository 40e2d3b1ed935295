"""POST /api/v1/events on a real aiohttp server on 127.0.0.1: auth, limits, validation.

Refusals are tested with a sink that fails the test if it is ever called: a
refused request must store nothing. Accepted batches against the real store
are in test_http_store.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence

import pytest
from aiohttp import ClientSession
from httpapp import api_app
from httpserve import ServeHttp, post_for_json

from monitor.config import Config, HttpConfig
from monitor.model.events import Event
from monitor.model.privacy import Pseudonymizer

TOKEN = "ingest-token-for-tests"
NOW = dt.datetime(2026, 11, 28, 12, tzinfo=dt.UTC)


class MustNotStore:
    async def add_events(self, events: Sequence[Event], pseudonymizer: Pseudonymizer) -> object:
        raise AssertionError(f"a refused request reached the store with {len(events)} events")


@pytest.fixture
async def base_url(serve_http: ServeHttp) -> str:
    app = await api_app(
        Config(http=HttpConfig(ingest_token=TOKEN, max_body_bytes=64 * 1024)),
        MustNotStore(),  # type: ignore[arg-type]  # never called: see the class
        Pseudonymizer(b"k" * 32),
        clock=lambda: NOW,
    )
    return await serve_http(app)


async def post(
    base_url: str,
    body: bytes | str,
    *,
    token: str | None = TOKEN,
    content_type: str = "application/json",
) -> tuple[int, dict[str, object]]:
    url = f"{base_url}/api/v1/events"
    return await post_for_json(url, body, token=token, headers={"Content-Type": content_type})


GOOD = json.dumps({"events": [{"type": "sent", "campaign": "spring-sale", "count": 10}]})


async def test_missing_token_is_401_and_wrong_token_403(base_url: str) -> None:
    assert (await post(base_url, GOOD, token=None))[0] == 401
    status, body = await post(base_url, GOOD, token="wrong")
    assert (status, body) == (403, {"error": "invalid token"})


async def test_non_json_content_type_is_415(base_url: str) -> None:
    status, body = await post(base_url, GOOD, content_type="text/plain")
    assert status == 415
    assert "error" in body


async def test_malformed_json_is_400(base_url: str) -> None:
    status, body = await post(base_url, "{not json")
    assert (status, body) == (400, {"error": "body is not valid JSON", "reason": "not_json"})


async def test_body_over_the_limit_is_413_as_json(base_url: str) -> None:
    huge = json.dumps({"events": [{"type": "sent", "campaign": "c" * 100}] * 2000})
    status, body = await post(base_url, huge)
    assert status == 413
    assert body == {"error": "request body too large"}


@pytest.mark.parametrize(
    ("events", "index", "field"),
    [
        pytest.param([{"type": "opened", "campaign": "c"}], 0, "type", id="unknown-type"),
        pytest.param([{"type": "sent", "campaign": "has space"}], 0, "campaign", id="bad-campaign"),
        pytest.param([{"type": "sent", "campaign": "c", "count": 0}], 0, "count", id="zero-count"),
        pytest.param(
            [{"type": "sent", "campaign": "c", "timestamp": "2026-11-28T12:00:00"}],
            0,
            "timestamp",
            id="naive-timestamp",
        ),
        pytest.param(
            [
                {"type": "sent", "campaign": "c"},
                {"type": "sent", "campaign": "c", "recipient": "nobody"},
            ],
            1,
            "recipient",
            id="second-item-bad-recipient",
        ),
        pytest.param(
            [{"type": "sent", "campaign": "c", "extra": 1}], 0, "extra", id="unknown-field"
        ),
    ],
)
async def test_a_batch_with_any_invalid_event_is_refused_whole(
    base_url: str, events: list[dict[str, object]], index: int, field: str
) -> None:
    status, body = await post(base_url, json.dumps({"events": events}))
    assert status == 400
    errors = body["errors"]
    assert isinstance(errors, list)
    assert {"index": index, "field": field} == {k: errors[0][k] for k in ("index", "field")}


async def test_empty_batch_is_400(base_url: str) -> None:
    status, _ = await post(base_url, json.dumps({"events": []}))
    assert status == 400


async def test_refusals_never_echo_an_address(base_url: str) -> None:
    body = json.dumps(
        {"events": [{"type": "sent", "campaign": "c", "recipient": "alice@", "x": 1}]}
    )
    status, answer = await post(base_url, body)
    assert status == 400
    assert "alice" not in json.dumps(answer)
    # An unknown field named with an address: refused, its name not echoed.
    named = {"type": "sent", "campaign": "c", "secret.person@example.org": 1}
    status, answer = await post(base_url, json.dumps({"events": [named]}))
    assert status == 400
    assert "secret.person" not in json.dumps(answer)
    assert answer["errors"][0]["field"] == "<redacted>"


async def test_healthz(base_url: str) -> None:
    async with ClientSession() as session, session.get(f"{base_url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
