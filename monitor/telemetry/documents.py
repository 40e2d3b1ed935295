"""The ``telemetry status`` document (version 1): the view with each subject's findings."""

from __future__ import annotations

import datetime as dt
from typing import Any

from checks.findings import Finding
from monitor.telemetry.views import TelemetryView, gmail_findings, snds_findings, source_findings

__all__ = ["status_document"]


def _when(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _findings(found: list[Finding]) -> list[dict[str, Any]]:
    return [
        {
            "code": f.code,
            "severity": f.severity.value,
            "message": f.message,
            "detail": dict(f.detail),
        }
        for f in found
    ]


def status_document(view: TelemetryView) -> dict[str, Any]:
    return {
        "version": 1,
        "sources": {
            source.value: {
                "up": s.up,
                "last_success": _when(s.last_success),
                "reason": s.reason,
                "findings": _findings(source_findings(s)),
            }
            for source, s in sorted(view.sources.items())
        },
        "gmail": {
            domain: {
                "state": d.state.value if d.state else None,
                "reason": d.reason,
                "spam_rate": d.spam_rate,
                "spam_rate_day": _when(d.spam_rate_day),
                "recovery_date": _when(d.recovery_date),
                "latest": dict(d.latest),
                "compliance": dict(d.compliance),
                "checked_at": _when(d.checked_at),
                "findings": _findings(gmail_findings(d)),
            }
            for domain, d in sorted(view.gmail.items())
        },
        "snds": {
            ip: {
                "configured": v.configured,
                "filter_result": v.filter_result.value if v.filter_result else None,
                "trap_hits": v.trap_hits,
                "complaint_rate": v.complaint_rate or None,
                "activity_end": _when(v.activity_end),
                "blocked": v.blocked,
                "block_reason": v.block_reason or None,
                "findings": _findings(snds_findings(v)),
            }
            for ip, v in sorted(view.snds.items())
        },
    }
