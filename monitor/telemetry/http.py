"""One HTTP exchange with retries: 429 and 5xx (and connection failures) are retried with
exponential backoff, honouring ``Retry-After`` up to a cap; any other answer is final.

Errors carry a short machine reason (``http_503``, ``connection``, ``too_large``), never
the URL: the SNDS key travels in the query string. A body over ``MAX_BODY`` is not read
further (``too_large``, final): the largest documented answers, 100 domains' page of
Postmaster statistics or a day of SNDS data for a large account, are a few MB.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

__all__ = ["DEFAULT_RETRY", "MAX_BODY", "RETRY_STATUSES", "Answer", "Retry", "fetch"]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_BODY = 32 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Retry:
    """``attempts`` in all; waits ``backoff``, then twice that, ... (at most ``max_wait``)."""

    attempts: int = 4
    backoff: float = 1.0
    max_wait: float = 60.0
    timeout: float = 60.0


@dataclass(frozen=True, slots=True)
class Answer:
    """The final answer: its status (None: no answer at all) and body."""

    status: int | None
    body: bytes = b""
    attempts: int = 1
    too_large: bool = False  # the body went over the cap: status is None, body empty
    timed_out: bool = False  # no answer within the timeout (a slow server, not a refusal)

    @property
    def reason(self) -> str:
        if self.too_large:
            return "too_large"
        if self.status is None:
            return "timeout" if self.timed_out else "connection"
        return f"http_{self.status}"


DEFAULT_RETRY = Retry()


def _wait(answer_headers: Mapping[str, str], attempt: int, retry: Retry) -> float:
    wait = retry.backoff * (2**attempt)
    after = answer_headers.get("Retry-After", "")
    if after.isascii() and after.isdigit():
        wait = max(wait, float(after))
    return float(min(wait, retry.max_wait))


async def fetch(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    headers: Callable[[], Awaitable[Mapping[str, str]]] | None = None,
    json_body: Any = None,
    retry: Retry | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    max_body: int = MAX_BODY,
) -> Answer:
    """``method url``, retried as the module says. ``headers`` is awaited before each try
    (a token source may refresh in between)."""
    retry = retry or DEFAULT_RETRY
    answer = Answer(None)
    for attempt in range(retry.attempts):
        sent = dict(await headers()) if headers is not None else {}
        answer_headers: Mapping[str, str] = {}
        try:
            async with session.request(
                method,
                url,
                json=json_body,
                headers=sent,
                timeout=aiohttp.ClientTimeout(total=retry.timeout),
                allow_redirects=False,
            ) as response:
                body = await _read(response, max_body)
                if body is None:
                    return Answer(None, b"", attempt + 1, too_large=True)
                answer = Answer(response.status, body, attempt + 1)
                answer_headers = response.headers
        except TimeoutError:  # aiohttp's total timeout: the server took too long
            answer = Answer(None, b"", attempt + 1, timed_out=True)
        except aiohttp.ClientError:
            answer = Answer(None, b"", attempt + 1)
        if answer.status is not None and answer.status not in RETRY_STATUSES:
            return answer
        if attempt + 1 < retry.attempts:
            await sleep(_wait(answer_headers, attempt, retry))
    return answer


async def _read(response: aiohttp.ClientResponse, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be longer than ``limit``."""
    if response.content_length is not None and response.content_length > limit:
        return None
    parts = []
    size = 0
    while chunk := await response.content.read(_CHUNK):
        size += len(chunk)
        if size > limit:
            return None
        parts.append(chunk)
    return b"".join(parts)
