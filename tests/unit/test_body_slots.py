"""Waiting for a body slot is bounded: with every slot held longer than the body deadline,
the request is answered 503 instead of waiting for good.

Every slot held by slow clients is not cheap to produce on a loopback socket without
racing the slots' own 408 deadline, so the semaphore here has none free (a stand-in for
"all held"); the request is aiohttp's mocked one, with a body that is never read.
"""

from __future__ import annotations

import asyncio
import json
from unittest import mock

from aiohttp.test_utils import make_mocked_request

from monitor.http.routes import _read_body


async def test_no_free_slot_within_the_deadline_is_503() -> None:
    request = make_mocked_request(
        "POST", "/api/v1/events", headers={"Content-Length": "3"}, payload=mock.Mock()
    )
    answer = await _read_body(request, asyncio.Semaphore(0), 0.1)
    assert answer is not None
    assert answer.status == 503
    assert answer.text is not None
    assert "retry later" in json.loads(answer.text)["error"]


async def test_a_free_slot_is_taken_and_given_back() -> None:
    slots = asyncio.Semaphore(1)
    request = make_mocked_request(
        "POST", "/api/v1/events", headers={"Content-Length": "3"}, payload=mock.Mock()
    )
    request.read = mock.AsyncMock(return_value=b"abc")  # type: ignore[method-assign]
    assert await _read_body(request, slots, 0.1) is None
    assert not slots.locked()
