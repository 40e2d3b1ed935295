"""A bounded, expiring set of seen webhook tokens (Mailgun replay protection).

The caller owns its lifetime (one per route, built at the composition root); it is in
memory, so a restart or another replica does not know it: the fast path within one
process. What every replica and restart sees is the token's claim in the store, made
with the events (``Store.add_events(claim=...)``, monitor/http/feedback_api.py).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

__all__ = ["ReplayCache", "TokenCache"]


class ReplayCache(Protocol):
    def remember(self, token: str, *, until: float, now: float) -> bool:
        """Record ``token`` until ``until`` (Unix seconds); False if it is already known."""
        ...


class TokenCache:
    """At most ``max_entries`` tokens; expired ones are dropped, then the oldest.

    Only tokens of verified payloads go in, so a forger cannot flush real ones out.
    """

    __slots__ = ("_max_entries", "_tokens")

    def __init__(self, *, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._max_entries = max_entries
        self._tokens: OrderedDict[str, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tokens)

    def remember(self, token: str, *, until: float, now: float) -> bool:
        self._expire(now)
        expires = self._tokens.get(token)
        if expires is not None and expires > now:
            return False
        self._tokens[token] = until
        self._tokens.move_to_end(token)
        while len(self._tokens) > self._max_entries:
            self._tokens.popitem(last=False)
        return True

    def forget(self, token: str) -> None:
        """Drop a token whose payload could not be stored, so the provider's retry is accepted."""
        self._tokens.pop(token, None)

    def _expire(self, now: float) -> None:
        # Insertion order is close to expiry order (one window for all); stop at the first live one.
        while self._tokens:
            token, expires = next(iter(self._tokens.items()))
            if expires > now:
                return
            del self._tokens[token]
