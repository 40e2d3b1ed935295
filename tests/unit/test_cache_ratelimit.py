"""Pins OutcomeCache (TTL, cap, eviction, never caching Unknown) and RateLimiter (fair slots)."""

from __future__ import annotations

import asyncio

import pytest

from checks.dns import ratelimit
from checks.dns.cache import OutcomeCache
from checks.dns.outcome import (
    Answer,
    DnsOutcome,
    NoData,
    NxDomain,
    RdataType,
    Unknown,
    UnknownReason,
)
from checks.dns.ratelimit import RateLimiter

NAME = "2.0.0.127.zen.example"


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_cache(clock: FakeClock, *, max_entries: int = 100, max_ttl: int = 3600) -> OutcomeCache:
    return OutcomeCache(max_entries=max_entries, max_ttl=max_ttl, clock=clock)


# --- OutcomeCache --------------------------------------------------------------------------

CACHEABLE: list[DnsOutcome] = [
    Answer(NAME, RdataType.A, ("127.0.0.2",), ttl=300),
    NxDomain(NAME, ttl=300),
    NoData(NAME, RdataType.A, ttl=300),
]


@pytest.mark.parametrize("outcome", CACHEABLE, ids=["answer", "nxdomain", "nodata"])
def test_cache_returns_outcome_until_its_ttl_expires(clock: FakeClock, outcome: DnsOutcome) -> None:
    cache = make_cache(clock)
    cache.put(NAME, RdataType.A, outcome)
    clock.now += 299.9
    assert cache.get(NAME, RdataType.A) == outcome
    clock.now += 0.1
    assert cache.get(NAME, RdataType.A) is None
    assert len(cache) == 0


@pytest.mark.parametrize("outcome", CACHEABLE, ids=["answer", "nxdomain", "nodata"])
def test_cache_caps_ttl_at_max_ttl(clock: FakeClock, outcome: DnsOutcome) -> None:
    cache = make_cache(clock, max_ttl=60)
    cache.put(NAME, RdataType.A, outcome)
    clock.now += 59
    assert cache.get(NAME, RdataType.A) == outcome
    clock.now += 1
    assert cache.get(NAME, RdataType.A) is None


@pytest.mark.parametrize("reason", list(UnknownReason), ids=[r.value for r in UnknownReason])
def test_cache_never_stores_unknown(clock: FakeClock, reason: UnknownReason) -> None:
    cache = make_cache(clock)
    cache.put(NAME, RdataType.A, Unknown(NAME, reason))
    assert cache.get(NAME, RdataType.A) is None
    assert len(cache) == 0


@pytest.mark.parametrize(
    "outcome",
    [
        Answer(NAME, RdataType.A, ("127.0.0.2",), ttl=0),
        NxDomain(NAME, ttl=0),
        NoData(NAME, RdataType.A, ttl=0),
    ],
    ids=["answer", "nxdomain", "nodata"],
)
def test_cache_does_not_store_ttl_zero(clock: FakeClock, outcome: DnsOutcome) -> None:
    cache = make_cache(clock)
    cache.put(NAME, RdataType.A, outcome)
    assert len(cache) == 0
    assert cache.get(NAME, RdataType.A) is None


def test_cache_keys_on_name_and_type(clock: FakeClock) -> None:
    cache = make_cache(clock)
    answer = Answer(NAME, RdataType.A, ("127.0.0.2",), ttl=300)
    cache.put(NAME, RdataType.A, answer)
    assert cache.get(NAME, RdataType.TXT) is None
    assert cache.get("other.example", RdataType.A) is None
    assert cache.get(NAME, RdataType.A) == answer


def test_cache_evicts_the_oldest_entry_when_full(clock: FakeClock) -> None:
    cache = make_cache(clock, max_entries=2)
    first, second, third = (NxDomain(f"{i}.example", ttl=300) for i in range(3))
    cache.put("0.example", RdataType.A, first)
    cache.put("1.example", RdataType.A, second)
    cache.put("2.example", RdataType.A, third)
    assert len(cache) == 2
    assert cache.get("0.example", RdataType.A) is None
    assert cache.get("1.example", RdataType.A) == second
    assert cache.get("2.example", RdataType.A) == third


def test_cache_replacing_an_entry_when_full_evicts_nothing(clock: FakeClock) -> None:
    cache = make_cache(clock, max_entries=2)
    cache.put("0.example", RdataType.A, NxDomain("0.example", ttl=300))
    cache.put("1.example", RdataType.A, NxDomain("1.example", ttl=300))
    newer = NxDomain("1.example", ttl=600)
    cache.put("1.example", RdataType.A, newer)
    assert len(cache) == 2
    assert cache.get("0.example", RdataType.A) is not None
    assert cache.get("1.example", RdataType.A) == newer


def test_cache_with_zero_entries_stores_nothing(clock: FakeClock) -> None:
    cache = make_cache(clock, max_entries=0)
    cache.put(NAME, RdataType.A, NxDomain(NAME, ttl=300))
    assert len(cache) == 0


def test_cache_counts_hits_but_not_misses_or_expired_entries(clock: FakeClock) -> None:
    cache = make_cache(clock)
    cache.put(NAME, RdataType.A, NxDomain(NAME, ttl=10))
    cache.get(NAME, RdataType.A)
    cache.get(NAME, RdataType.A)
    cache.get("missing.example", RdataType.A)
    clock.now += 10
    cache.get(NAME, RdataType.A)
    assert cache.hits == 2


# --- RateLimiter ---------------------------------------------------------------------------


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record the delays RateLimiter asks asyncio.sleep for, without sleeping."""
    delays: list[float] = []

    async def fake_sleep(delay: float) -> None:
        delays.append(delay)

    monkeypatch.setattr(ratelimit.asyncio, "sleep", fake_sleep)
    return delays


@pytest.mark.parametrize("rate", [0, -1, -0.5], ids=["zero", "negative", "negative-fraction"])
def test_rate_limiter_refuses_non_positive_rates(rate: float, clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        RateLimiter({"zen.example": rate}, clock=clock)


async def test_rate_limiter_does_not_wait_for_an_unlimited_key(
    clock: FakeClock, sleeps: list[float]
) -> None:
    limiter = RateLimiter({"zen.example": 1}, clock=clock)
    for _ in range(10):
        await limiter.acquire("other.example")
    assert not limiter.limits("other.example")
    assert limiter.limits("zen.example")
    assert sleeps == []


async def test_rate_limiter_first_acquire_does_not_wait(
    clock: FakeClock, sleeps: list[float]
) -> None:
    limiter = RateLimiter({"zen.example": 10}, clock=clock)
    await limiter.acquire("zen.example")
    assert sleeps == []


async def test_rate_limiter_spaces_acquires_one_interval_apart_in_arrival_order(
    clock: FakeClock, sleeps: list[float]
) -> None:
    limiter = RateLimiter({"zen.example": 10}, clock=clock)
    await asyncio.gather(*(limiter.acquire("zen.example") for _ in range(5)))
    # the first takes the free slot; each later caller reserves the next one, 0.1 s apart
    assert sleeps == pytest.approx([0.1, 0.2, 0.3, 0.4])


async def test_rate_limiter_keys_are_independent(clock: FakeClock, sleeps: list[float]) -> None:
    limiter = RateLimiter({"a.example": 10, "b.example": 10}, clock=clock)
    await limiter.acquire("a.example")
    await limiter.acquire("b.example")
    assert sleeps == []


async def test_rate_limiter_does_not_wait_after_an_idle_interval(
    clock: FakeClock, sleeps: list[float]
) -> None:
    limiter = RateLimiter({"zen.example": 10}, clock=clock)
    await limiter.acquire("zen.example")
    clock.now += 0.1
    await limiter.acquire("zen.example")
    clock.now += 5
    await limiter.acquire("zen.example")
    assert sleeps == []


async def test_rate_limiter_burst_after_idle_lets_burst_acquires_through(
    clock: FakeClock, sleeps: list[float]
) -> None:
    limiter = RateLimiter({"zen.example": 10}, clock=clock, burst=3)
    await limiter.acquire("zen.example")
    clock.now += 60
    for _ in range(4):
        await limiter.acquire("zen.example")
    assert sleeps == pytest.approx([0.1])


async def test_rate_limiter_burst_on_a_fresh_key_lets_burst_acquires_through(
    clock: FakeClock, sleeps: list[float]
) -> None:
    # A fresh key has been idle forever: it must allow the same burst as a key idle for a minute.
    limiter = RateLimiter({"zen.example": 10}, clock=clock, burst=3)
    for _ in range(4):
        await limiter.acquire("zen.example")
    assert sleeps == pytest.approx([0.1])
