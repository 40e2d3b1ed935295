"""The daemon's long-lived services, built once by the composition root (``monitor.daemon.app``).

The job table binds each job to a method of one of them; HTTP handlers get the ones
they use through typed app keys. Nothing here is built anywhere else.
"""

from __future__ import annotations

from dataclasses import dataclass

from monitor.alerting.outbox import Outbox
from monitor.alerting.service import AlertService
from monitor.checking.cache import StateCache
from monitor.daemon.checkjobs import AuthJobs, DnsblJobs
from monitor.daemon.dmarcjobs import DmarcJobs
from monitor.daemon.feedbackjobs import FeedbackJobs
from monitor.daemon.runtime import RuntimeHolder
from monitor.daemon.telemetryjobs import TelemetryJobs
from monitor.risk.bounces import BounceFigures
from monitor.risk.campaigns import CampaignFigures
from monitor.risk.scorer import RiskScorer
from monitor.store import SqlStore

__all__ = ["Services"]


@dataclass(frozen=True, slots=True)
class Services:
    runtime: RuntimeHolder
    store: SqlStore
    states: StateCache
    alerts: AlertService
    risk: RiskScorer
    campaigns: CampaignFigures
    bounces: BounceFigures
    outbox: Outbox
    dnsbl: DnsblJobs
    auth: AuthJobs
    feedback: FeedbackJobs
    telemetry: TelemetryJobs
    dmarc: DmarcJobs
