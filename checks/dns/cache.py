"""A bounded, TTL-respecting cache of DNS outcomes, owned by one client (no global cache)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from dns.rdatatype import RdataType

from checks.dns.outcome import Answer, DnsOutcome, NoData, NxDomain

__all__ = ["OutcomeCache"]

_Key = tuple[str, int]


class OutcomeCache:
    """Caches answers and negative outcomes for their TTL (capped by ``max_ttl``).

    Unknown outcomes are never cached: a timeout must be retried, not remembered.
    When full, the oldest entry is evicted (insertion order).
    """

    def __init__(self, *, max_entries: int, max_ttl: int, clock: Callable[[], float]) -> None:
        # OrderedDict: evicting the oldest is O(1); a plain dict degrades when its
        # front is deleted over and over (iteration skips the dead slots).
        self._entries: OrderedDict[_Key, tuple[float, DnsOutcome]] = OrderedDict()
        self._max_entries = max_entries
        self._max_ttl = max_ttl
        self._clock = clock
        self.hits = 0

    def get(self, name: str, rdtype: RdataType) -> DnsOutcome | None:
        key = (name, rdtype)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, outcome = entry
        if self._clock() >= expires:
            del self._entries[key]
            return None
        self.hits += 1
        return outcome

    def put(self, name: str, rdtype: RdataType, outcome: DnsOutcome) -> None:
        if self._max_entries <= 0:
            return
        if isinstance(outcome, Answer | NxDomain | NoData):
            ttl = min(outcome.ttl, self._max_ttl)
        else:
            return
        if ttl <= 0:
            return
        key = (name, rdtype)
        if key not in self._entries and len(self._entries) >= self._max_entries:
            self._entries.popitem(last=False)
        self._entries[key] = (self._clock() + ttl, outcome)

    def __len__(self) -> int:
        return len(self._entries)
