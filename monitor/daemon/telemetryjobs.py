"""The receiver-telemetry jobs: import Gmail Postmaster Tools and SNDS, store what came back,
rebuild the view, re-score the risk and step the telemetry alerts.

Both run on the first replica only (global work). A failed import is stored as the
source's state (``unavailable``, ...) and then raised as a ``TelemetryImportError``, so
the scheduler's failure counters see it; the last known values stand meanwhile.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from monitor.alerting.service import AlertService
from monitor.alerting.telemetry import (
    SNDS_IP_KINDS,
    TELEMETRY_KINDS,
    telemetry_observations,
    untracked,
)
from monitor.daemon.runtime import RuntimeHolder
from monitor.model.alerts import AlertKind, AlertRecord
from monitor.model.errors import MonitorError
from monitor.model.telemetry import GmailDomainImport, GmailState, SndsImport, TelemetrySource
from monitor.store import SqlStore
from monitor.telemetry.auth import GoogleTokenSource
from monitor.telemetry.gmailclient import GmailImporter
from monitor.telemetry.http import Retry
from monitor.telemetry.settings import GmailSettings, TelemetrySettings
from monitor.telemetry.sndsclient import SndsImporter
from monitor.telemetry.views import TelemetryView, build_view

__all__ = ["ImportSummary", "TelemetryImportError", "TelemetryJobs", "load_view", "run_imports"]

log = logging.getLogger(__name__)

# How far back the view looks: the Gmail window (and at least the 7-day recovery clock),
# and SNDS rows (one a day per IP, sometimes several).
_SNDS_VIEW_DAYS = 30
_RETRY = Retry(attempts=3, backoff=1.0, max_wait=30.0, timeout=60.0)
# One source's whole import (every page, domain and day): a server that takes requests
# and never answers would otherwise hold the job (and the CLI) for 3 minutes per request.
IMPORT_DEADLINE = 600.0


class TelemetryImportError(MonitorError):
    """An import that did not get through (its state is stored; no secret in the message)."""


@dataclass(frozen=True, slots=True)
class ImportSummary:
    """One import: per subject (a domain; SNDS ``data``/``ip_status``) its state and reason."""

    source: TelemetrySource
    states: dict[str, tuple[str, str]]

    @property
    def failed(self) -> list[str]:
        return [s for s, (state, _r) in self.states.items() if state == "unavailable"]


async def run_imports(
    store: SqlStore,
    settings: TelemetrySettings,
    session: aiohttp.ClientSession,
    *,
    now: dt.datetime,
    source: TelemetrySource | None = None,
    since: dt.date | None = None,
    tokens: GoogleTokenSource | None = None,
    retry: Retry = _RETRY,
    deadline: float = IMPORT_DEADLINE,
) -> list[ImportSummary]:
    """Import the configured sources (or one) once and store the results; the CLI's backfill
    (``since``) and the jobs share it. A source not done within ``deadline`` seconds is
    stored as unavailable (``deadline``) for each of its subjects."""
    done = []
    today = now.date()
    gmail, snds = settings.gmail, settings.snds
    if gmail is not None and source in (None, TelemetrySource.GMAIL):
        # A backfill widens the window, never narrows it: a --since inside the lookback
        # would leave the days before it out, and a domain with data would read no_data.
        start = today - dt.timedelta(days=gmail.config.lookback_days)
        start = min(since, start) if since is not None else start
        client = GmailImporter(
            session,
            tokens or GoogleTokenSource(gmail.credentials),
            gmail.config.api_base,
            retry=retry,
        )
        try:
            async with asyncio.timeout(deadline):
                results = await client.import_domains(gmail.domains, start, today)
        except TimeoutError:
            results = [
                GmailDomainImport(d, GmailState.UNAVAILABLE, reason="deadline")
                for d in gmail.domains
            ]
        await store.save_gmail(results, now)
        done.append(
            ImportSummary(
                TelemetrySource.GMAIL, {r.domain: (r.state.value, r.reason) for r in results}
            )
        )
    if snds is not None and source in (None, TelemetrySource.SNDS):
        days = []
        if since is not None:
            days = [since + dt.timedelta(days=n) for n in range((today - since).days)]
        importer = SndsImporter(
            session, snds.key, snds.config.base_url, retry=retry, clock=lambda: now
        )
        try:
            async with asyncio.timeout(deadline):
                result = await importer.import_once(days)
        except TimeoutError:
            result = SndsImport(None, None, {"data": "deadline", "ip_status": "deadline"})
        await store.save_snds(result, now)
        done.append(
            ImportSummary(
                TelemetrySource.SNDS,
                {
                    name: ("ok" if got is not None else "unavailable", result.reasons.get(name, ""))
                    for name, got in (("data", result.rows), ("ip_status", result.blocks))
                },
            )
        )
    return done


async def load_view(
    store: SqlStore, settings: TelemetrySettings, now: dt.datetime
) -> TelemetryView:
    """The view of what is stored, for the configured domains and IPs."""
    gmail, snds = settings.gmail, settings.snds
    days = max(gmail.config.lookback_days, 8) if gmail is not None else 8
    stats = (
        await store.gmail_stats(since=now.date() - dt.timedelta(days=days), domains=gmail.domains)
        if gmail is not None
        else []
    )
    return build_view(
        gmail_domains=gmail.domains if gmail is not None else (),
        stats=stats,
        statuses=await store.telemetry_statuses(),
        snds_ips=snds.ips if snds is not None else None,
        snds_rows=(
            await store.snds_rows(since=now - dt.timedelta(days=_SNDS_VIEW_DAYS))
            if snds is not None
            else []
        ),
        blocks=await store.snds_blocks() if snds is not None else [],
    )


class TelemetryJobs:
    """``gmail`` and ``snds`` jobs; ``view()`` is what the metrics, risk and CLI read."""

    def __init__(
        self,
        runtime: RuntimeHolder,
        store: SqlStore,
        alerts: AlertService,
        *,
        session: Callable[[], aiohttp.ClientSession],
        refresh_risk: Callable[[], None],
        clock: Callable[[], dt.datetime],
        count_failure: Callable[[str, str], None],
    ) -> None:
        self._runtime = runtime
        self._store = store
        self._alerts = alerts
        self._session = session
        self._refresh_risk = refresh_risk
        self._clock = clock
        self._count_failure = count_failure
        self._view = TelemetryView()
        # Announced per-IP SNDS alerts were retired into the unconfigured-IP summary: its
        # next first observation is news, not a state found at start.
        self._summary_is_news = False
        self._tokens: tuple[GmailSettings, GoogleTokenSource] | None = None

    def view(self) -> TelemetryView:
        return self._view

    async def load(self) -> None:
        """Rebuild the view from the store (at start, after a reload), without alerting."""
        self._view = await load_view(
            self._store, self._runtime.current.settings.telemetry, self._clock()
        )

    async def retire_untracked(self) -> None:
        """Resolve the firing telemetry alerts whose domain or IP the config no longer
        tracks (``untracked``), read against the view ``load`` last built (the first
        replica's: it runs the imports)."""
        view = self._view

        def gone(record: AlertRecord) -> str | None:
            reason = untracked(record.kind, record.labels, view)
            if reason is not None and record.kind in SNDS_IP_KINDS and view.snds_tracked:
                # An announced per-IP alert of an IP SNDS still reports, now one of the
                # account's others: the summary alert carries it on, and must say so
                # even when it is first observed (not a state that was there before).
                self._summary_is_news = self._summary_is_news or record.notified
            return reason

        count = await self._alerts.retire_where(TELEMETRY_KINDS, gone)
        if self._summary_is_news:
            # At once (a reload, a start), not at the next import up to a day later: the
            # IPs just handed over are in the view already.
            summary = [
                o for o in telemetry_observations(view) if o.kind is AlertKind.SNDS_UNCONFIGURED
            ]
            if summary and summary[0].active is not None:
                self._summary_is_news = False
                await self._alerts.apply(summary, baseline_allowed=False)
        if count:
            log.info(
                "telemetry alerts of untracked domains and IPs retired", extra={"count": count}
            )

    async def gmail(self) -> None:
        await self._run(TelemetrySource.GMAIL)

    async def snds(self) -> None:
        await self._run(TelemetrySource.SNDS)

    async def _run(self, source: TelemetrySource) -> None:
        settings = self._runtime.current.settings.telemetry
        summaries = await run_imports(
            self._store,
            settings,
            self._session(),
            now=self._clock(),
            source=source,
            tokens=self._token_source(settings),
        )
        await self.load()
        self._refresh_risk()
        observations = telemetry_observations(self._view)
        await self.retire_untracked()  # first: what it hands over makes the summary news
        others = [o for o in observations if o.kind is AlertKind.SNDS_UNCONFIGURED]
        await self._alerts.apply([o for o in observations if o not in others])
        if others:
            news, self._summary_is_news = self._summary_is_news, False
            await self._alerts.apply(others, baseline_allowed=not news)
        for summary in summaries:
            for subject, (state, reason) in summary.states.items():
                if state not in (GmailState.OK.value, GmailState.NO_DATA.value):
                    self._count_failure(summary.source.value, state)
                    log.warning(
                        "telemetry import incomplete",
                        extra={
                            "source": summary.source.value,
                            "subject": subject,
                            "state": state,
                            "reason": reason,
                        },
                    )
            if summary.failed:
                raise TelemetryImportError(
                    f"{summary.source.value} import unavailable for {len(summary.failed)} "
                    f"of {len(summary.states)}"
                )

    def _token_source(self, settings: TelemetrySettings) -> GoogleTokenSource | None:
        """One token source per loaded credentials (kept across runs, new after a reload)."""
        if settings.gmail is None:
            return None
        if self._tokens is None or self._tokens[0] is not settings.gmail:
            self._tokens = (settings.gmail, GoogleTokenSource(settings.gmail.credentials))
        return self._tokens[1]
