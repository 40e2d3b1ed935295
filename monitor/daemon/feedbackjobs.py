"""The daemon's jobs over feedback: campaign figures with their alerts and the risk score,
the retention purge, and the IMAP feedback mailbox."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from monitor.alerting.outbox import Outbox
from monitor.alerting.service import AlertService
from monitor.daemon.runtime import RuntimeHolder
from monitor.ingest.imap import ImapPoller, PollResult
from monitor.model.privacy import Pseudonymizer
from monitor.risk.campaigns import CampaignFigures
from monitor.risk.scorer import RiskScorer
from monitor.store import SqlStore

__all__ = ["FeedbackJobs"]

log = logging.getLogger(__name__)

# Sent notifications are kept this long in the outbox (for the record), then purged.
_SENT_NOTIFICATIONS_KEPT = dt.timedelta(days=30)


class FeedbackJobs:
    """``campaigns``, ``purge`` and ``imap``; ``refresh_risk`` re-scores from the cache."""

    def __init__(
        self,
        runtime: RuntimeHolder,
        store: SqlStore,
        campaigns: CampaignFigures,
        alerts: AlertService,
        risk: RiskScorer,
        outbox: Outbox,
        *,
        pseudonymizer: Pseudonymizer,
        refresh_risk: Callable[[], None],
        clock: Callable[[], dt.datetime],
        count_poll: Callable[[PollResult], None],
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._campaigns = campaigns
        self._alerts = alerts
        self._risk = risk
        self._outbox = outbox
        self._pseudonymizer = pseudonymizer
        self._refresh_risk = refresh_risk
        self._clock = clock
        self._count_poll = count_poll
        self._first_campaign_run = True

    async def campaigns(self) -> None:
        """Campaign figures from the store, complaint and deadline alerts, then the risk."""
        rt = self._runtime.current
        config = rt.config
        observations = await self._campaigns.refresh(
            config, rt.settings.guard, rt.plan.shard, self._clock()
        )
        await self._outbox.count_pending()
        observations += await self._alerts.quiet_campaigns(
            observations, shard=rt.plan.shard, window=config.alerts.complaint_window
        )
        # Only the first evaluation after start can meet a pre-existing state; a
        # campaign that appears later and crosses a line at once is news.
        await self._alerts.apply(observations, baseline_allowed=self._first_campaign_run)
        self._first_campaign_run = False
        self._refresh_risk()
        await self._alerts.apply(self._risk.observations(config.alerts.risk_level))

    async def purge(self) -> None:
        """Delete per-person data older than ``[privacy] retention_days``."""
        now = self._clock()
        days = self._runtime.current.config.privacy.retention_days
        result = await self._store.purge(now - dt.timedelta(days=days))
        sent = await self._store.purge_outbox(now - _SENT_NOTIFICATIONS_KEPT)
        log.info(
            "retention purge",
            extra={"events": result.events, "reports": result.reports, "notifications": sent},
        )

    async def imap(self) -> None:
        """Poll the feedback mailbox once with the current ``[imap]`` settings."""
        settings = self._runtime.current.settings
        if settings.imap is None:
            return
        config = settings.config
        poller = ImapPoller(
            settings.imap.config,
            password=settings.imap.password,
            store=self._store,
            pseudonymizer=self._pseudonymizer,
            campaign_headers=config.feedback.campaign_headers,
            store_raw=config.privacy.store_raw,
            clock=self._clock,
        )
        self._count_poll(await poller.poll_once())
