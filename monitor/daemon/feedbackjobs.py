"""The daemon's jobs over feedback: campaign figures with their alerts and the risk score,
the retention purge, and the IMAP feedback mailbox."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from monitor.alerting.bounces import BOUNCE_KINDS, bounce_observations
from monitor.alerting.outbox import Outbox
from monitor.alerting.service import AlertService
from monitor.checking.cache import StateCache
from monitor.daemon.runtime import RuntimeHolder
from monitor.ingest.imap import ImapPoller, PollResult
from monitor.ingest.mtalog import LogFollower, log_zone, parse_line, store_lines
from monitor.model.privacy import Pseudonymizer
from monitor.risk.bounces import BounceFigures
from monitor.risk.campaigns import CampaignFigures
from monitor.risk.scorer import RiskScorer
from monitor.store import SqlStore

__all__ = ["FeedbackJobs"]

log = logging.getLogger(__name__)

# Sent notifications are kept this long in the outbox (for the record), then purged.
_SENT_NOTIFICATIONS_KEPT = dt.timedelta(days=30)

# Lines of a followed log with no delivery line among them before it is warned about.
UNRECOGNISED_AFTER = 1_000

# An mtalog run reads at most 20 batches of 5,000 lines of each log: 100,000 lines, at the
# default 10 s interval 10,000 lines a second.
_LOG_BATCH = 5_000
_LOG_BATCHES = 20


class FeedbackJobs:
    """``campaigns``, ``mtalog``, ``purge`` and ``imap``; ``refresh_risk`` re-scores from
    the cache."""

    log_batch = _LOG_BATCH  # MTA log lines read and stored at once
    log_batches = _LOG_BATCHES  # batches of each MTA log one mtalog run reads at most

    def __init__(
        self,
        runtime: RuntimeHolder,
        store: SqlStore,
        campaigns: CampaignFigures,
        bounces: BounceFigures,
        states: StateCache,
        alerts: AlertService,
        risk: RiskScorer,
        outbox: Outbox,
        *,
        pseudonymizer: Pseudonymizer,
        refresh_risk: Callable[[], None],
        load_foreign_spf: Callable[[], Awaitable[None]],
        clock: Callable[[], dt.datetime],
        count_poll: Callable[[PollResult], None],
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._campaigns = campaigns
        self._bounces = bounces
        self._states = states
        self._alerts = alerts
        self._risk = risk
        self._outbox = outbox
        self._pseudonymizer = pseudonymizer
        self._refresh_risk = refresh_risk
        self._load_foreign_spf = load_foreign_spf
        self._clock = clock
        self._count_poll = count_poll
        self._first_campaign_run = True
        self._followers: dict[Path, LogFollower] = {}
        self._log_errors: dict[Path, str] = {}  # the last error of each log, said once
        # Lines read from each log before its first delivery line (None once one came,
        # or once the warning was given): a file of another MTA or format is all skipped.
        self._unrecognised: dict[Path, int | None] = {}

    async def campaigns(self) -> None:
        """Campaign and bounce figures from the store, their alerts, then the risk."""
        rt = self._runtime.current
        config = rt.config
        observations = await self._campaigns.refresh(
            config, rt.settings.guard, rt.plan.shard, self._clock()
        )
        snapshot = self._campaigns.snapshot()
        bounces = await self._bounces.refresh(
            config,
            states=self._states.snapshot(),
            zones=rt.settings.zones,
            labels=snapshot.info if snapshot is not None else (),
            now=self._clock(),
        )
        await self._outbox.count_pending()
        observations += await self._alerts.quiet_campaigns(
            observations, shard=rt.plan.shard, window=config.alerts.complaint_window
        )
        # Only the first evaluation after start can meet a pre-existing state; a
        # campaign that appears later and crosses a line at once is news.
        await self._alerts.apply(observations, baseline_allowed=self._first_campaign_run)
        self._first_campaign_run = False
        if rt.plan.shard.first:
            # The bounce findings are over the whole store, not a shard: one replica
            # announces them. They count replies received, so a first sight is news.
            await self._alerts.apply(
                bounce_observations(
                    bounces.findings,
                    await self._alerts.firing(BOUNCE_KINDS),
                    attempts=bounces.attempts,
                    min_volume=config.feedback.min_volume,
                    window=bounces.window,
                ),
                baseline_allowed=False,
            )
        await self._load_foreign_spf()  # other replicas' domains listing this one's IPs
        self._refresh_risk()
        await self._alerts.apply(self._risk.observations(config.alerts.risk_level))

    async def mtalog(self) -> None:
        """Read the new lines of each ``[bounces] mta_logs`` file (across rotation) into
        the store: each delivery attempt one event, keyed by its line, at the line's own time.

        A batch of ``log_batch`` lines is read and stored before the next, up to
        ``log_batches`` batches of each file a run: memory does not grow with the file, and
        a backlog (the whole file after a start: no position is kept, and a line read
        again counts once) is caught up over the next runs."""
        config = self._runtime.current.config.bounces
        paths = [Path(p) for p in config.mta_logs]
        zone = log_zone(config.log_timezone)
        for gone in set(self._followers) - set(paths):
            self._followers.pop(gone).close()
        stored = 0
        for path in paths:
            follower = self._followers.setdefault(path, LogFollower(path))
            for _batch in range(self.log_batches):
                try:
                    lines = await asyncio.to_thread(follower.read_new, limit=self.log_batch)
                except OSError as exc:  # unreadable, or no longer a file: say so once, go on
                    self._log_failed(path, exc)
                    follower.close()
                    self._followers.pop(path, None)
                    break
                if self._log_errors.pop(path, None) is not None:
                    log.info("mta log readable again", extra={"path": str(path)})
                if lines:
                    self._look_for_attempts(path, lines)
                    stored += await store_lines(
                        lines, self._store, self._pseudonymizer, self._clock(), zone=zone
                    )
                if len(lines) < self.log_batch:
                    break  # read to its end
        if stored:
            log.info("mta log lines stored", extra={"events": stored})

    def _look_for_attempts(self, path: Path, lines: Sequence[str]) -> None:
        """Warn once when ``UNRECOGNISED_AFTER`` lines of a log held no Postfix or Exim
        delivery line: its lines are all skipped (another MTA, another format, not the
        main log), which would otherwise go unsaid."""
        seen = self._unrecognised.setdefault(path, 0)
        if seen is None:
            return
        if any(parse_line(line.rstrip("\r\n")) is not None for line in lines):
            self._unrecognised[path] = None
            return
        seen += len(lines)
        if seen < UNRECOGNISED_AFTER:
            self._unrecognised[path] = seen
            return
        self._unrecognised[path] = None
        log.warning(
            "no Postfix or Exim delivery line in the first %d lines of an mta log: its "
            "lines are skipped (another MTA or format, or not the main mail log?)",
            seen,
            extra={"path": str(path)},
        )

    def _log_failed(self, path: Path, exc: OSError) -> None:
        error = f"{type(exc).__name__}: {exc.strerror or exc}"
        if self._log_errors.get(path) != error:
            log.warning("cannot read an mta log", extra={"path": str(path), "error": error})
            self._log_errors[path] = error

    def close(self) -> None:
        """Close the followed MTA logs (at stop: the jobs have finished)."""
        for follower in self._followers.values():
            follower.close()
        self._followers.clear()

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
