"""Sends the notification outbox: claimed rows are sent once each, retried with back-off.

A row is claimed with a lease, sent, and marked sent, due again (temporary
failure, exponential back-off with jitter, ``RetryPolicy``) or failed for good
(permanent failure, or attempts exhausted). Outcomes are counted in
``delivermon_notifications_total{notifier,status}``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import random
from collections.abc import Callable, Mapping

from monitor.alerting.notify import (
    Notification,
    NotifyPermanentError,
    NotifyTemporaryError,
    RetryPolicy,
    Route,
)
from monitor.store.state import OutboxItem, StateRecords

__all__ = ["OUTBOX_RETRY", "Outbox", "OutboxSender", "notification_from_payload"]

log = logging.getLogger(__name__)
# Longer than any send can take (a notifier's timeout is at most 300 s per request or
# SMTP step), so a row being sent is never claimed by another replica meanwhile.
# Replicas' clocks must agree to well within this (NTP).
LEASE = dt.timedelta(minutes=15)
# The daemon's retries ride out a destination's outage of half an hour to an hour: waits
# of 2, 4, ... 256 s, then 300 s, 19 of them (3,810 s before jitter's factor of 0.5 to
# 1). With the inline default (5 attempts, 15 to 30 s in all) a Slack blip or a receiver's
# deploy lost the alert change for good.
OUTBOX_RETRY = RetryPolicy(attempts=20)


def notification_from_payload(payload: str) -> Notification:
    """The outbox's JSON (``monitor.model.alerts.notification_payload``) as a ``Notification``."""
    data = json.loads(payload)
    started = data.get("started_at")
    ended = data.get("ended_at")
    return Notification(
        key=data["key"],
        kind=data["kind"],
        status=data["status"],
        severity=data["severity"],
        title=data["title"],
        text=data.get("text", ""),
        labels=tuple(sorted((str(k), str(v)) for k, v in data.get("labels", {}).items())),
        started_at=_instant(started) if started else dt.datetime.now(dt.UTC),
        ended_at=_instant(ended) if ended else None,
    )


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class OutboxSender:
    def __init__(
        self,
        store: StateRecords,
        routes: Mapping[str, Route],
        on_outcome: Callable[[str, str], None],
        *,
        clock: Callable[[], dt.datetime],
        policy: RetryPolicy | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._routes = routes
        self._on_outcome = on_outcome  # (notifier, sent|retry|failed), for the metrics
        self._clock = clock
        self._policy = policy or OUTBOX_RETRY
        self._jitter = jitter

    async def send_due(self) -> int:
        """Send every due notification; returns how many were sent."""
        sent = 0
        while True:
            items = await self._store.claim_notifications(self._clock(), lease=LEASE)
            if not items:
                return sent
            outcomes = await asyncio.gather(*(self._send(item) for item in items))
            sent += sum(outcomes)

    async def _send(self, item: OutboxItem) -> bool:
        route = self._routes.get(item.notifier)
        if route is None:
            # Removed from the config on purpose: counted as dropped, not as failed (which
            # DelivermonNotificationsFailing pages on for an hour).
            reason = "notifier no longer configured"
            await self._store.finish_notification(item.id, failed_at=self._clock(), error=reason)
            self._on_outcome(item.notifier, "dropped")
            log.info(
                "notification dropped: its notifier was removed from the config",
                extra={"notifier": item.notifier, "key": item.key, "status": item.status},
            )
            return False
        try:
            notification = notification_from_payload(item.payload)
            await route.notifier.send(notification)
        except NotifyTemporaryError as exc:
            if item.attempts >= self._policy.attempts:
                return await self._fail(item, exc.reason)
            wait = self._policy.delay(item.attempts, self._jitter(), exc.retry_after)
            await self._store.finish_notification(
                item.id,
                retry_at=self._clock() + dt.timedelta(seconds=wait),
                error=exc.reason[:200],
            )
            self._on_outcome(item.notifier, "retry")
            log.warning(
                "notification not delivered, will retry",
                extra={
                    "notifier": item.notifier,
                    "key": item.key,
                    "status": item.status,
                    "reason": exc.reason,
                    "in_seconds": round(wait),
                },
            )
            return False
        except NotifyPermanentError as exc:
            return await self._fail(item, exc.reason)
        except (ValueError, KeyError) as exc:  # a payload that cannot be a Notification
            return await self._fail(item, f"bad payload: {type(exc).__name__}")
        await self._store.finish_notification(item.id, sent_at=self._clock())
        self._on_outcome(item.notifier, "sent")
        log.info("notification sent", extra={"notifier": item.notifier, "key": item.key})
        return True

    async def _fail(self, item: OutboxItem, reason: str) -> bool:
        await self._store.finish_notification(item.id, failed_at=self._clock(), error=reason[:200])
        self._on_outcome(item.notifier, "failed")
        # The key and status: what the destination never learnt (runbook
        # DelivermonNotificationsFailing reads them from here).
        log.error(
            "notification failed for good",
            extra={
                "notifier": item.notifier,
                "key": item.key,
                "status": item.status,
                "reason": reason,
            },
        )
        return False


class Outbox:
    """The notification outbox as the daemon runs it: the notify job and the pending count.

    ``routes`` is read at each run, so a reload's new notifiers take effect at the next
    run; a queued row for a notifier that is gone fails with a reason.
    """

    def __init__(
        self,
        store: StateRecords,
        *,
        routes: Callable[[], Mapping[str, Route]],
        on_outcome: Callable[[str, str], None],
        clock: Callable[[], dt.datetime],
    ) -> None:
        self._store = store
        self._routes = routes
        self._on_outcome = on_outcome
        self._clock = clock
        self._pending = 0

    def pending(self) -> int:
        """Notifications queued and not yet sent, as of the last run."""
        return self._pending

    async def send_due(self) -> None:
        """Send every due notification (the notify job)."""
        sender = OutboxSender(self._store, self._routes(), self._on_outcome, clock=self._clock)
        await sender.send_due()
        await self.count_pending()

    async def count_pending(self) -> None:
        self._pending = (await self._store.outbox_counts())["pending"]
