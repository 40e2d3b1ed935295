"""Receiver-telemetry metric families, from the telemetry view at scrape time.

Bounded labels: the configured Gmail domains, the configured sending IPs, fixed state
and metric sets. The IPs SNDS reports that are not configured (the account may hold a
whole network) are counted, never named. A rate is absent when there is no data; never 0
for "no data".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric

from monitor.model.telemetry import GMAIL_METRICS, FilterResult, GmailState, TelemetrySource
from monitor.telemetry.views import TelemetryView

__all__ = ["IMPORT_FAILURE_STATES", "telemetry_families"]

# ``state`` of delivermon_telemetry_import_failures_total (per subject of an import).
IMPORT_FAILURE_STATES = ("unverified", "permission_denied", "unavailable")


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _day_seconds(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def telemetry_families(view: TelemetryView) -> Iterator[Metric]:
    yield from _gmail(view)
    yield from _snds(view)
    up = _gauge(
        "delivermon_telemetry_up",
        "1 when the source's last import got through, 0 when it failed (wholly or in part).",
        ["source"],
    )
    last = _gauge(
        "delivermon_telemetry_last_success_timestamp_seconds",
        "When the source's last import got through.",
        ["source"],
    )
    for source in TelemetrySource:
        src = view.sources.get(source)
        if src is None:
            continue
        if src.up is not None:
            up.add_metric([source.value], 1 if src.up else 0)
        if src.last_success is not None:
            last.add_metric([source.value], src.last_success.timestamp())
    yield from (up, last)


def _gmail(view: TelemetryView) -> Iterator[Metric]:
    rate = _gauge(
        "delivermon_gmail_spam_rate",
        "Gmail's user-reported spam rate (0..1) for the latest day with data; absent without.",
        ["domain"],
    )
    day = _gauge(
        "delivermon_gmail_spam_rate_day_timestamp_seconds",
        "The day (00:00 UTC) the Gmail spam rate is for.",
        ["domain"],
    )
    state = _gauge(
        "delivermon_gmail_telemetry_state",
        "The last Postmaster Tools import of the domain; 1 for the current state, 0 the others.",
        ["domain", "state"],
    )
    stat = _gauge(
        "delivermon_gmail_stat",
        "Postmaster Tools ratios (0..1) for each metric's latest day with data: auth_spf, "
        "auth_dkim, auth_dmarc, tls_inbound, tls_outbound, delivery_error, delivery_reject, "
        "delivery_temp_fail, spam_rate.",
        ["domain", "metric"],
    )
    compliance = _gauge(
        "delivermon_gmail_compliance",
        "Gmail compliance requirement status: 1 compliant, 0 needs work.",
        ["domain", "requirement"],
    )
    recovery = _gauge(
        "delivermon_gmail_recovery_timestamp_seconds",
        "While Gmail's 7-day clock runs after a day at 0.3% or more: the day it may recover.",
        ["domain"],
    )
    for domain in sorted(view.gmail_tracked):
        d = view.gmail[domain]
        if d.state is not None:
            for current in GmailState:
                state.add_metric([domain, current.value], 1 if current is d.state else 0)
        if d.spam_rate is not None and d.spam_rate_day is not None:
            rate.add_metric([domain], d.spam_rate)
            day.add_metric([domain], _day_seconds(d.spam_rate_day))
        for metric, value in d.latest.items():
            if metric in GMAIL_METRICS:
                stat.add_metric([domain, metric], value)
        for requirement, status in d.compliance.items():
            compliance.add_metric([domain, requirement], 1 if status == "compliant" else 0)
        if d.recovery_date is not None:
            recovery.add_metric([domain], _day_seconds(d.recovery_date))
    yield from (rate, day, state, stat, compliance, recovery)


def _snds(view: TelemetryView) -> Iterator[Metric]:
    result = _gauge(
        "delivermon_snds_filter_result",
        "SNDS filter result of the configured IP's latest period; 1 for the current result, "
        "0 the others.",
        ["ip", "result"],
    )
    traps = _gauge(
        "delivermon_snds_trap_hits",
        "SNDS spam-trap hits in the configured IP's latest period.",
        ["ip"],
    )
    blocked = _gauge(
        "delivermon_snds_blocked",
        "1 when an SNDS blocked range covers the configured IP, 0 when none does; absent "
        "before the first IP-status import.",
        ["ip"],
    )
    configured = _gauge(
        "delivermon_snds_ip_configured",
        "1 for each configured sending IP while SNDS is imported (the IPs the other SNDS "
        "families may name).",
        ["ip"],
    )
    period = _gauge(
        "delivermon_snds_activity_end_timestamp_seconds",
        "End of the configured IP's latest SNDS activity period.",
        ["ip"],
    )
    others = _gauge(
        "delivermon_snds_unconfigured_ips",
        "IPs SNDS reports that are no configured sending IP, by the filter result of their "
        "latest period (unknown: SNDS gave no result); absent before the first "
        "data import.",
        ["result"],
    )
    others_blocked = _gauge(
        "delivermon_snds_unconfigured_blocked_ips",
        "IPs SNDS reports that are no configured sending IP and that an SNDS blocked range "
        "covers; absent before the first data and IP-status imports.",
        [],
    )
    if view.snds_others is not None:
        for name, count in view.snds_others.by_result.items():
            others.add_metric([name], count)
        if view.snds_others.blocked is not None:
            others_blocked.add_metric([], view.snds_others.blocked)
    for ip, v in sorted(view.snds.items()):
        if not v.configured:
            continue  # counted above: an IP the config does not name is no label
        configured.add_metric([ip], 1)
        if v.filter_result is not None:
            for value in FilterResult:
                result.add_metric([ip, value.value], 1 if value is v.filter_result else 0)
        if v.trap_hits is not None:
            traps.add_metric([ip], v.trap_hits)
        if v.blocked is not None:
            blocked.add_metric([ip], 1 if v.blocked else 0)
        if v.activity_end is not None:
            period.add_metric([ip], v.activity_end.timestamp())
    yield from (result, traps, blocked, configured, period, others, others_blocked)
