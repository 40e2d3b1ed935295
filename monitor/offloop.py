"""Parsing a large input off the event loop (docs/architecture.md, "Parse large inputs off
the event loop"): up to the body limit a MIME message takes seconds to read, and the
loop must keep answering health checks, scrapes and other requests meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

__all__ = ["THREAD_AFTER", "off_loop"]

T = TypeVar("T")

# Inputs of at most this many bytes are parsed in the loop's thread: a hand-off to a
# worker thread and back costs more than reading them.
THREAD_AFTER = 256 * 1024


async def off_loop(parse: Callable[[bytes], T], raw: bytes) -> T:
    """``parse(raw)``, in a worker thread when ``raw`` is larger than ``THREAD_AFTER``."""
    if len(raw) <= THREAD_AFTER:
        return parse(raw)
    return await asyncio.to_thread(parse, raw)
