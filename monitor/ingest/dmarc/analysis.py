"""What the stored DMARC reports say about a sending domain: sources classified, DKIM
selectors seen but not monitored, and the policy-readiness verdict.

``classify`` is the rule (own / forwarder / unknown); the daemon's ``dmarc`` job applies
it with SPF evaluated against the domain's current record and stores the result. The
API and the job's metric snapshot read it back through ``domain_summary`` and
``dmarc_figures``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from checks.findings import Finding, FindingSeverity
from monitor.config import Config, DmarcConfig, DomainConfig
from monitor.store.dmarc import DmarcSource, DmarcTotal, SourceFigures
from monitor.store.models import Store

__all__ = [
    "CLASSIFICATIONS",
    "MAX_DAYS",
    "Readiness",
    "classify",
    "domain_sources",
    "domain_summary",
    "metric_disposition",
    "readiness",
    "selector_findings",
]

CLASSIFICATIONS = ("own", "forwarder", "unknown")
MAX_DAYS = 366
MAX_SOURCES = 100  # sources the API lists, most mail first (/sources: by default)
MAX_SOURCES_LIMIT = 10_000  # /sources?limit= at most
SELECTOR_CODE = "dmarc_report.selector_unmonitored"
_METRIC_DISPOSITIONS = frozenset({"none", "quarantine", "reject"})


def classify(figures: SourceFigures, *, own_ip: bool, spf_pass: bool) -> str:
    """own: a configured sending IP, or one the domain's SPF record passes. forwarder: not
    ours, but DKIM passes and aligns for most of its mail (lists, forwarding). unknown:
    neither (spoofing, or a service sending for us that is not set up)."""
    if own_ip or spf_pass:
        return "own"
    if figures.messages and figures.dkim_aligned * 2 >= figures.messages:
        return "forwarder"
    return "unknown"


def provisional(figures: SourceFigures, domain: DomainConfig | None) -> str:
    """The class of a source the job has not classified yet (no SPF evaluated)."""
    own = domain is not None and figures.source_ip in domain.sending_ips
    return classify(figures, own_ip=own, spf_pass=False)


def metric_disposition(disposition: str) -> str:
    """The ``disposition`` label: RFC 9990's ``pass`` (and any unknown token) is ``none``."""
    return disposition if disposition in _METRIC_DISPOSITIONS else "none"


@dataclass(frozen=True, slots=True)
class Window:
    own_messages: int
    own_pass: int

    @property
    def ratio(self) -> float | None:
        return self.own_pass / self.own_messages if self.own_messages else None

    def document(self) -> dict[str, object]:
        return {
            "own_messages": self.own_messages,
            "own_pass": self.own_pass,
            "own_pass_ratio": self.ratio,
        }


@dataclass(frozen=True, slots=True)
class Readiness:
    """Would p=quarantine/reject have hit own mail? ``verdict``: ready, not_ready,
    insufficient_data (fewer own messages than ``min_messages`` in 30 days, or none in
    the last 7)."""

    verdict: str
    week: Window
    month: Window
    reporters: tuple[tuple[str, int, int], ...]  # (reporter, own messages, own failing)
    threshold: float
    min_messages: int

    def document(self) -> dict[str, object]:
        return {
            "verdict": self.verdict,
            "threshold": self.threshold,
            "min_messages": self.min_messages,
            "windows": {"7d": self.week.document(), "30d": self.month.document()},
            "would_hit_own": any(fail for _r, _m, fail in self.reporters),
            "reporters": [
                {"reporter": r, "own_messages": m, "own_fail": f, "would_hit_own": f > 0}
                for r, m, f in self.reporters
            ],
        }


def _window(figures: Sequence[tuple[str, str, str, int]], classes: Mapping[str, str]) -> Window:
    own = [(dmarc, n) for _r, ip, dmarc, n in figures if classes.get(ip) == "own"]
    return Window(sum(n for _d, n in own), sum(n for d, n in own if d == "pass"))


def readiness(
    week: Sequence[tuple[str, str, str, int]],
    month: Sequence[tuple[str, str, str, int]],
    classes: Mapping[str, str],
    policy: DmarcConfig,
) -> Readiness:
    """The verdict from (reporter, source, dmarc, messages) of the last 7 and 30 days."""
    seven, thirty = _window(week, classes), _window(month, classes)
    by_reporter: dict[str, list[int]] = {}
    for reporter, ip, dmarc, n in month:
        if classes.get(ip) == "own":
            figures = by_reporter.setdefault(reporter, [0, 0])
            figures[0] += n
            figures[1] += n if dmarc == "fail" else 0
    at_each = all(
        (messages - failing) / messages >= policy.readiness_ratio
        for messages, failing in by_reporter.values()
        if messages
    )
    if thirty.own_messages < policy.min_messages or not seven.own_messages:
        # No own mail this week says nothing about the streams as they are now.
        verdict = "insufficient_data"
    elif at_each and all((w.ratio or 0.0) >= policy.readiness_ratio for w in (seven, thirty)):
        verdict = "ready"
    else:
        verdict = "not_ready"
    return Readiness(
        verdict,
        seven,
        thirty,
        tuple((r, m, f) for r, (m, f) in sorted(by_reporter.items())),
        policy.readiness_ratio,
        policy.min_messages,
    )


def selector_findings(
    domain: DomainConfig | None, selectors: Sequence[tuple[str, str, int]], total: int
) -> list[dict[str, object]]:
    """Selectors that pass aligned in the reports whose keys delivermon does not check:
    not in ``dkim_selectors``, or signing as another domain (``d=mail.example.com`` for
    example.com: the checks read ``<selector>._domainkey.<domain>`` only)."""
    if domain is None or not total:
        return []
    monitored = {s.lower() for s in domain.dkim_selectors}  # DNS labels: no case
    findings: list[dict[str, object]] = []
    for dkim_domain, selector, messages in sorted(selectors, key=lambda s: (-s[2], s[1])):
        own = dkim_domain in ("", domain.name)
        if not selector or (own and selector.lower() in monitored):
            continue
        share = messages / total
        signer = "" if own else f" of {dkim_domain}"
        finding = Finding(  # registered code (checks/codes/dmarc_report.py)
            SELECTOR_CODE,
            FindingSeverity.WARNING,
            f"selector {selector}{signer} signs {share:.0%} of your mail but is not monitored",
        )
        findings.append(
            {
                "code": finding.code,
                "severity": finding.severity.value,
                "message": finding.message,
                "detail": {
                    "selector": selector,
                    "dkim_domain": dkim_domain,
                    "messages": messages,
                    "share": round(share, 4),
                },
            }
        )
    return findings


def _domain_config(config: Config, domain: str) -> DomainConfig | None:
    return next((d for d in config.domains if d.name == domain), None)


async def _classes(
    store: Store, domain: str, figures: Sequence[SourceFigures], config: Config
) -> dict[str, tuple[str, DmarcSource | None]]:
    stored = {s.source_ip: s for s in await store.dmarc_sources(domain)}
    settings = _domain_config(config, domain)
    return {
        f.source_ip: (
            (stored[f.source_ip].classification, stored[f.source_ip])
            if f.source_ip in stored
            else (provisional(f, settings), None)
        )
        for f in figures
    }


def _class_of(found: tuple[str, DmarcSource | None]) -> str:
    """The class a source is counted and filtered under: the job's, else ``unclassified``
    (its provisional class is only shown, marked ``"classified": false``)."""
    cls, stored = found
    return cls if stored is not None else "unclassified"


def _source(figures: SourceFigures, cls: str, stored: DmarcSource | None) -> dict[str, object]:
    return {
        "ip": figures.source_ip,
        "messages": figures.messages,
        "classification": cls,
        "dmarc_pass": figures.dmarc_pass,
        "dmarc_fail": figures.dmarc_fail,
        "dkim_aligned": figures.dkim_aligned,
        "spf_aligned": figures.spf_aligned,
        "ptr": stored.ptr if stored else None,
        "classified": stored is not None,
    }


async def domain_summary(
    store: Store, domain: str, *, config: Config, now: dt.datetime, days: int
) -> dict[str, object] | None:
    """``GET /api/v1/dmarc/domains/{domain}``; None when no report for it is stored."""
    if not await store.dmarc_report_count(domain):
        return None
    since = now - dt.timedelta(days=days)
    figures = await store.dmarc_source_figures(domain, since)
    classes = await _classes(store, domain, figures, config)
    month_since = now - dt.timedelta(days=30)
    month_figures = await store.dmarc_source_figures(domain, month_since)
    month_classes = await _classes(store, domain, month_figures, config)
    plain = {ip: cls for ip, (cls, _s) in month_classes.items()}
    verdict = readiness(
        await store.dmarc_reporter_figures(domain, now - dt.timedelta(days=7)),
        await store.dmarc_reporter_figures(domain, month_since),
        plain,
        config.dmarc,
    )
    total = sum(f.messages for f in figures)
    return {
        "domain": domain,
        "days": days,
        "reports": await store.dmarc_report_count(domain, since),
        "messages": total,
        "dmarc_pass": sum(f.dmarc_pass for f in figures),
        "dmarc_fail": sum(f.dmarc_fail for f in figures),
        "classifications": {
            name: sum(f.messages for f in figures if _class_of(classes[f.source_ip]) == name)
            for name in METRIC_CLASSIFICATIONS
        },
        "sources": [_source(f, *classes[f.source_ip]) for f in figures[:MAX_SOURCES]],
        "readiness": verdict.document(),
        "findings": selector_findings(
            _domain_config(config, domain), await store.dmarc_selectors(domain, since), total
        ),
    }


async def domain_sources(
    store: Store,
    domain: str,
    *,
    config: Config,
    since: dt.datetime,
    classification: str | None,
    limit: int = MAX_SOURCES,
    offset: int = 0,
) -> dict[str, object] | None:
    """``GET /api/v1/dmarc/domains/{domain}/sources``, the ``limit`` sources from ``offset``
    on (most mail first); None when no report for the domain is stored."""
    if not await store.dmarc_report_count(domain):
        return None
    figures = await store.dmarc_source_figures(domain, since)
    classes = await _classes(store, domain, figures, config)
    rows = []
    for f in figures:
        cls, source = classes[f.source_ip]
        if classification is None or _class_of((cls, source)) == classification:
            rows.append(_source(f, cls, source))
    return {
        "sources": rows[offset : offset + limit],
        "total_sources": len(rows),
        "offset": offset,
        "limit": limit,
    }


@dataclass(frozen=True, slots=True, order=True)
class FigureKey:
    domain: str
    classification: str
    dmarc: str
    disposition: str


def dmarc_figures(
    totals: Sequence[DmarcTotal], classes: Mapping[tuple[str, str], str]
) -> dict[FigureKey, int]:
    """Messages by the labels of ``delivermon_dmarc_messages_total``."""
    out: dict[FigureKey, int] = {}
    for t in totals:
        key = FigureKey(
            t.domain,
            classes.get((t.domain, t.source_ip), "unclassified"),
            t.dmarc,
            metric_disposition(t.disposition),
        )
        out[key] = out.get(key, 0) + t.messages
    return out


# --- the metric snapshot ----------------------------------------------------------

METRIC_CLASSIFICATIONS = (*CLASSIFICATIONS, "unclassified")
READINESS_VERDICTS = ("ready", "not_ready", "insufficient_data")
OTHER = "_other"


@dataclass(frozen=True, slots=True)
class DmarcSnapshot:
    """What the ``dmarc`` job computed last: the metric families' values (bounded labels)."""

    messages: Mapping[FigureKey, int]
    recent: Mapping[FigureKey, int]  # reports whose range reaches into the last RECENT
    reports: Mapping[tuple[str, str], int]  # (domain, reporter) -> reports stored
    reporter_last: Mapping[tuple[str, str], float]  # (domain, reporter) -> end of latest
    pass_ratio: Mapping[tuple[str, str], float]  # (domain, "7d"|"30d") -> own pass ratio
    readiness: Mapping[str, str]  # domain -> verdict
    unmonitored_selectors: Mapping[str, int]
    sources: Mapping[tuple[str, str], int]  # (domain, classification) -> sources, 30 days
    failures: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (domain, failure)

    def counter_series(self) -> set[tuple[str, ...]]:
        """The counters' series, each as (family, *labels): what ``NewSeriesHold`` keys."""
        keys: set[tuple[str, ...]] = {
            ("messages", k.domain, k.classification, k.dmarc, k.disposition) for k in self.messages
        }
        keys |= {("reports", *pair) for pair in self.reports}
        keys |= {("failures", *pair) for pair in self.failures}
        return keys


RECENT = dt.timedelta(hours=72)  # a day's report arrives a day or two after the day


def zero_snapshot(domains: Sequence[str]) -> DmarcSnapshot:
    """Every configured domain's series at 0, so rules see them before the first report."""
    zeros = {
        FigureKey(d, c, r, p): 0
        for d in domains
        for c in METRIC_CLASSIFICATIONS
        for r in ("pass", "fail")
        for p in sorted(_METRIC_DISPOSITIONS)
    }
    return DmarcSnapshot(
        messages=zeros,
        recent=dict(zeros),
        reports={},
        reporter_last={},
        pass_ratio={},
        readiness=dict.fromkeys(domains, "insufficient_data"),
        unmonitored_selectors=dict.fromkeys(domains, 0),
        sources={(d, c): 0 for d in domains for c in METRIC_CLASSIFICATIONS},
        failures=zero_failures(domains),
    )


AUTH_FAILURES = frozenset({"dmarc", "spf", "signature", "bodyhash", "revoked", "adsp"})
# Failure reports are counted once they are this old: every transaction that stored one
# received earlier has committed by then (see SqlStore.tally_dmarc_failures).
FAILURE_SETTLE = dt.timedelta(minutes=1)


def zero_failures(domains: Sequence[str]) -> dict[tuple[str, str], int]:
    """Every configured domain's failure-report series at 0 (alerts use ``increase``)."""
    return {(d, f): 0 for d in domains for f in (*sorted(AUTH_FAILURES), "other")}


def failure_label(token: str) -> str:
    """The ``auth_failure`` label: RFC 6591 / RFC 7489 tokens, anything else ``other``."""
    return token if token in AUTH_FAILURES else "other"


def top_labels(counts: Mapping[str, int], keep: Sequence[str], limit: int) -> dict[str, str]:
    """Each name's label: ``keep`` and the ``limit`` largest by count as themselves, the
    rest ``_other``."""
    ranked = sorted(counts, key=lambda name: (-counts[name], name))
    shown = set(keep) | set(ranked[:limit])
    return {name: name if name in shown else OTHER for name in counts}
