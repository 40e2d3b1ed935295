"""Per-key query rate limits (e.g. per DNSBL zone), fair by reservation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

__all__ = ["RateLimiter"]


class RateLimiter:
    """Spaces queries under one key to at most ``rate`` per second, allowing a burst.

    Each caller reserves the next free slot and sleeps until it, so waiters are
    served in arrival order and never spin.
    """

    def __init__(
        self, rates: Mapping[str, float], *, clock: Callable[[], float], burst: float = 1.0
    ) -> None:
        for key, rate in rates.items():
            if rate <= 0:
                raise ValueError(f"rate limit for {key!r} must be positive")
        self._interval = {key: 1.0 / rate for key, rate in rates.items()}
        self._next: dict[str, float] = {}
        self._burst = burst
        self._clock = clock

    def limits(self, key: str) -> bool:
        return key in self._interval

    async def acquire(self, key: str) -> None:
        interval = self._interval.get(key)
        if interval is None:
            return
        now = self._clock()
        earliest = now - (self._burst - 1.0) * interval  # unused capacity, up to the burst
        slot = max(earliest, self._next.get(key, earliest))
        self._next[key] = slot + interval
        if slot > now:
            await asyncio.sleep(slot - now)
