"""The DMARC metric families, from the ``dmarc`` job's snapshot (``DmarcSnapshot``).

Labels are bounded: configured domains (and at most 100 reported ones, the rest
``_other``), the major reporters plus the top ten (the rest ``_other``), closed sets
for classification, result, disposition, window and verdict. Never a source IP.
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from monitor.ingest.dmarc.analysis import READINESS_VERDICTS, DmarcSnapshot

__all__ = ["dmarc_families"]


def dmarc_families(
    snap: DmarcSnapshot, held: Mapping[Hashable, float] | None = None
) -> Iterator[Metric]:
    """``held``: counter series new since start, shown at 0 until then (``NewSeriesHold``,
    keyed as ``DmarcSnapshot.counter_series``)."""
    now = time.time()

    def shown(key: tuple[str, ...], n: int) -> int:
        return 0 if held and held.get(key, 0.0) > now else n

    messages = CounterMetricFamily(
        "delivermon_dmarc_messages",
        "Messages in the DMARC aggregate reports stored, each report counted once by the "
        "dmarc job, by policy domain, the source's class then (own, forwarder, unknown; "
        "unclassified when the job could not tell), DMARC result and the receiver's "
        "disposition. Purged reports stay counted.",
        labels=["domain", "classification", "dmarc", "disposition"],
    )
    for key, n in sorted(messages_items(snap)):
        messages.add_metric(list(key), shown(("messages", *key), n))
    yield messages
    recent = GaugeMetricFamily(
        "delivermon_dmarc_recent_messages",
        "Messages in stored reports whose date range reaches into the last 72 hours, labelled "
        "as delivermon_dmarc_messages_total (what the alert rules watch: it falls when a "
        "source is authorised or its mail stops).",
        labels=["domain", "classification", "dmarc", "disposition"],
    )
    for k, n in sorted(snap.recent.items()):
        recent.add_metric([k.domain, k.classification, k.dmarc, k.disposition], n)
    yield recent
    reports = CounterMetricFamily(
        "delivermon_dmarc_reports",
        "DMARC aggregate reports stored, by policy domain and reporter (each counted once "
        "by the dmarc job; purged reports stay counted).",
        labels=["domain", "reporter"],
    )
    for (domain, reporter), n in sorted(snap.reports.items()):
        reports.add_metric([domain, reporter], shown(("reports", domain, reporter), n))
    yield reports
    last = GaugeMetricFamily(
        "delivermon_dmarc_reporter_last_report_timestamp_seconds",
        "End of the date range of the latest report from each reporter, per domain.",
        labels=["domain", "reporter"],
    )
    for (domain, reporter), at in sorted(snap.reporter_last.items()):
        last.add_metric([domain, reporter], at)
    yield last
    ratio = GaugeMetricFamily(
        "delivermon_dmarc_own_pass_ratio",
        "Share of own mail (own sources) passing DMARC over the window; absent without own mail.",
        labels=["domain", "window"],
    )
    for (domain, window), value in sorted(snap.pass_ratio.items()):
        ratio.add_metric([domain, window], value)
    yield ratio
    ready = GaugeMetricFamily(
        "delivermon_dmarc_policy_readiness",
        "Policy-readiness verdict per domain (one-hot over ready, not_ready, insufficient_data).",
        labels=["domain", "verdict"],
    )
    for domain, verdict in sorted(snap.readiness.items()):
        for name in READINESS_VERDICTS:
            ready.add_metric([domain, name], 1.0 if name == verdict else 0.0)
    yield ready
    selectors = GaugeMetricFamily(
        "delivermon_dmarc_unmonitored_selectors",
        "DKIM selectors passing aligned in the last 30 days' reports whose keys are not checked.",
        labels=["domain"],
    )
    for domain, n in sorted(snap.unmonitored_selectors.items()):
        selectors.add_metric([domain], n)
    yield selectors
    failures = CounterMetricFamily(
        "delivermon_dmarc_failure_reports",
        "DMARC failure reports (ARF auth-failure) stored, by the domain they are about and "
        "Auth-Failure (dmarc, spf, signature, bodyhash, revoked, adsp, other).",
        labels=["domain", "auth_failure"],
    )
    for (domain, token), n in sorted(snap.failures.items()):
        failures.add_metric([domain, token], shown(("failures", domain, token), n))
    yield failures
    sources = GaugeMetricFamily(
        "delivermon_dmarc_sources",
        "Source IPs seen in the last 30 days' reports, by policy domain and class.",
        labels=["domain", "classification"],
    )
    for (domain, cls), n in sorted(snap.sources.items()):
        sources.add_metric([domain, cls], n)
    yield sources


def messages_items(snap: DmarcSnapshot) -> list[tuple[tuple[str, str, str, str], int]]:
    return [
        ((k.domain, k.classification, k.dmarc, k.disposition), n) for k, n in snap.messages.items()
    ]
