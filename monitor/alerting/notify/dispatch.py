"""Delivery of one notification to every notifier, each on its own, with retries and back-off.

Temporary failures are retried with capped exponential back-off and jitter; permanent
ones end the attempts at once. One notifier failing never holds up or stops another.
The outcomes are values the caller persists and counts (``delivermon_notifications_total``).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from monitor.alerting.notify.errors import NotifyError, NotifyPermanentError
from monitor.alerting.notify.model import Notification, Notifier, Severity, severity_at_least

__all__ = [
    "DeliveryOutcome",
    "DeliveryStatus",
    "Dispatcher",
    "RetryPolicy",
    "Route",
    "deliver",
]

log = logging.getLogger(__name__)

DeliveryStatus = Literal["sent", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """At most ``attempts`` tries; the wait before try k+1 is ``base_delay * 2**(k-1)``,
    capped at ``max_delay``, then scaled by a random factor in [0.5, 1) (jitter)."""

    attempts: int = 5
    base_delay: float = 2.0
    max_delay: float = 300.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("attempts >= 1 and 0 <= base_delay <= max_delay")

    def delay(self, failed_attempts: int, jitter: float, retry_after: float | None = None) -> float:
        """Seconds to wait after ``failed_attempts`` failures (1-based); ``jitter`` in [0, 1).

        A server's ``Retry-After`` hint raises the wait, never above ``max_delay``.
        """
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (failed_attempts - 1))
        wait = backoff * (0.5 + jitter / 2)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.max_delay))
        return wait


@dataclass(frozen=True, slots=True)
class Route:
    """A notifier and the notifications it wants (from its ``[[notify]]`` entry)."""

    notifier: Notifier
    min_severity: Severity = "warning"
    send_resolved: bool = True

    def accepts(self, n: Notification) -> bool:
        """True when ``n`` is severe enough and, if resolved, resolved messages are wanted."""
        if n.resolved and not self.send_resolved:
            return False
        return severity_at_least(n.severity, self.min_severity)


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What became of one notification at one notifier.

    ``status`` is the ``status`` label of ``delivermon_notifications_total{notifier,status}``;
    ``reason`` is the last error's stable code (``http.status_500``, ``smtp.auth``, ...).
    """

    notifier: str
    status: DeliveryStatus
    attempts: int = 0
    reason: str | None = None


async def deliver(
    routes: Sequence[Route],
    notification: Notification,
    *,
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
) -> tuple[DeliveryOutcome, ...]:
    """Send ``notification`` through every route concurrently; one outcome per route, in order.

    Never raises for a delivery failure (that is an outcome); cancellation propagates.
    """
    retry = policy or RetryPolicy()
    return tuple(
        await asyncio.gather(*(_deliver_one(r, notification, retry, sleep, jitter) for r in routes))
    )


async def _deliver_one(
    route: Route,
    n: Notification,
    policy: RetryPolicy,
    sleep: Callable[[float], Awaitable[None]],
    jitter: Callable[[], float],
) -> DeliveryOutcome:
    name = route.notifier.name
    if not route.accepts(n):
        return DeliveryOutcome(name, "skipped")
    for attempt in range(1, policy.attempts + 1):
        try:
            await route.notifier.send(n)
        except NotifyPermanentError as exc:
            log.error("notify %s: %s for %s refused, not retried: %s", name, n.status, n.key, exc)
            return DeliveryOutcome(name, "failed", attempt, exc.reason)
        except NotifyError as exc:
            if attempt == policy.attempts:
                log.error(
                    "notify %s: %s for %s failed after %d attempts: %s",
                    name, n.status, n.key, attempt, exc,
                )  # fmt: skip
                return DeliveryOutcome(name, "failed", attempt, exc.reason)
            wait = policy.delay(attempt, jitter(), getattr(exc, "retry_after", None))
            log.warning(
                "notify %s: attempt %d for %s failed (%s), retrying in %.1fs",
                name, attempt, n.key, exc, wait,
            )  # fmt: skip
            await sleep(wait)
        except Exception:
            # A bug in one notifier must not lose the others' deliveries or kill the caller.
            log.exception("notify %s: unexpected error for %s", name, n.key)
            return DeliveryOutcome(name, "failed", attempt, "internal_error")
        else:
            log.info("notify %s: %s %s sent (attempt %d)", name, n.status, n.key, attempt)
            return DeliveryOutcome(name, "sent", attempt)
    raise AssertionError("unreachable: the loop returns on its last attempt")


class Dispatcher:
    """The routes and retry policy built once at start; ``await dispatcher.deliver(n)``."""

    def __init__(
        self,
        routes: Sequence[Route],
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.routes = tuple(routes)
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._jitter = jitter

    async def deliver(self, notification: Notification) -> tuple[DeliveryOutcome, ...]:
        """As the module-level ``deliver``, with this dispatcher's routes and policy."""
        return await deliver(
            self.routes,
            notification,
            policy=self._policy,
            sleep=self._sleep,
            jitter=self._jitter,
        )
