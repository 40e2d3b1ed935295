"""The ``check --json`` document (version 1), the human report, and exit codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass
from typing import TextIO, TypedDict

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checks.dnsbl import DnsblResult, DnsblTargetResult, Severity, Verdict, ZoneHealth
from checks.findings import Finding, FindingSeverity

__all__ = [
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "CheckReport",
    "build_document",
    "exit_code",
    "render_human",
    "write_document",
]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNKNOWN = 3
REPORT_VERSION = 1


class FindingDoc(TypedDict):
    code: str
    severity: str
    message: str
    detail: dict[str, str | int | bool | None]


class DnsblDoc(TypedDict):
    zone: str
    verdict: str
    codes: list[str]
    meanings: list[str]
    severity: str | None
    reason: str | None
    error: str | None


class TargetDoc(TypedDict):
    target: str
    kind: str
    dnsbl: list[DnsblDoc]
    findings: list[FindingDoc]


class ZoneDoc(TypedDict):
    zone: str
    family: str
    healthy: bool
    reason: str | None
    test_point: str | None


class ReportDoc(TypedDict):
    version: int
    checked_at: str
    catalogue_version: str
    zones: list[ZoneDoc]
    targets: list[TargetDoc]


@dataclass(frozen=True, slots=True)
class CheckReport:
    checked_at: dt.datetime
    catalogue_version: str
    health: tuple[ZoneHealth, ...]
    targets: tuple[DnsblTargetResult, ...]


def _finding(f: Finding) -> FindingDoc:
    return {
        "code": f.code,
        "severity": f.severity.value,
        "message": f.message,
        "detail": dict(f.detail),
    }


def _dnsbl(r: DnsblResult) -> DnsblDoc:
    return {
        "zone": r.zone,
        "verdict": r.verdict.value,
        "codes": list(r.codes),
        "meanings": list(r.meanings),
        "severity": r.severity.value if r.severity else None,
        "reason": r.reason,
        "error": r.error,
    }


def build_document(report: CheckReport) -> ReportDoc:
    """The stable JSON document of DESIGN.md §2 (version 1)."""
    return {
        "version": REPORT_VERSION,
        "checked_at": report.checked_at.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "catalogue_version": report.catalogue_version,
        "zones": [
            {
                "zone": h.zone,
                "family": h.family.value,
                "healthy": h.healthy,
                "reason": h.reason,
                "test_point": h.test_point,
            }
            for h in report.health
        ],
        "targets": [_target(t) for t in report.targets],
    }


def _target(t: DnsblTargetResult) -> TargetDoc:
    return {
        "target": t.target.text,
        "kind": t.target.kind.value,
        "dnsbl": [_dnsbl(r) for r in t.results],
        "findings": [_finding(f) for f in t.findings],
    }


def write_document(report: CheckReport, out: TextIO) -> None:
    """Write the JSON document target by target (C encoder, no whole-document string)."""
    doc = build_document(dataclasses.replace(report, targets=()))
    head = json.dumps(doc, ensure_ascii=False)
    out.write(head[: -len("[]}")] + "[")
    # Clean verdicts are one shared value per zone: encode each distinct result once.
    encoded: dict[int, str] = {}
    for index, t in enumerate(report.targets):
        if index:
            out.write(",")
        parts = []
        for r in t.results:
            text = encoded.get(id(r))
            if text is None:
                text = encoded[id(r)] = json.dumps(_dnsbl(r), ensure_ascii=False)
            parts.append(text)
        findings = json.dumps([_finding(f) for f in t.findings], ensure_ascii=False)
        out.write(
            f'{{"target": {json.dumps(t.target.text)}, "kind": "{t.target.kind.value}", '
            f'"dnsbl": [{", ".join(parts)}], "findings": {findings}}}'
        )
    out.write("]}\n")


def exit_code(report: CheckReport) -> int:
    """0 healthy; 1 a listing (above info) or an error/critical finding; 3 otherwise unknowns."""
    unknown = False
    for target in report.targets:
        for result in target.results:
            if result.verdict is Verdict.LISTED and result.severity is not Severity.INFO:
                return EXIT_PROBLEMS
            unknown = unknown or result.verdict is Verdict.UNKNOWN
        for finding in target.findings:
            if finding.severity in (FindingSeverity.ERROR, FindingSeverity.CRITICAL):
                return EXIT_PROBLEMS
    return EXIT_UNKNOWN if unknown else EXIT_OK


_VERDICT_STYLE = {
    Verdict.LISTED: "bold red",
    Verdict.UNKNOWN: "yellow",
    Verdict.NOT_LISTED: "green",
}


def render_human(report: CheckReport, console: Console, *, show_clean: bool = False) -> None:
    """Tables for people: unhealthy zones, then every listing and unknown, then a summary."""
    bad_zones = [h for h in report.health if not h.healthy]
    if report.health and len(bad_zones) == len(report.health):
        console.print(
            "[yellow]No zone passed its self-test: is the resolver reachable and allowed to "
            "query the lists? (see [dns] nameservers; use a local, non-forwarding resolver)[/]"
        )
    if bad_zones:
        table = Table(title="Unhealthy zones (their results are unknown)", title_justify="left")
        for col in ("zone", "family", "reason", "test point"):
            table.add_column(col)
        for h in bad_zones:
            table.add_row(h.zone, h.family.value, h.reason or "", h.test_point or "")
        console.print(table)
    table = Table(title="DNSBL results", title_justify="left")
    for col in ("target", "zone", "verdict"):
        table.add_column(col, no_wrap=True)
    for col in ("codes", "meaning / error", "severity", "reason"):
        table.add_column(col, overflow="fold")
    counts = dict.fromkeys(Verdict, 0)
    clean_targets = 0
    for target in report.targets:
        rows = [r for r in target.results if show_clean or r.verdict is not Verdict.NOT_LISTED]
        for r in target.results:
            counts[r.verdict] += 1
        if not rows:
            clean_targets += 1
            continue
        for r in rows:
            table.add_row(
                target.target.text,
                r.zone,
                Text(r.verdict.value, style=_VERDICT_STYLE[r.verdict]),
                _codes(r.codes),
                r.error or "; ".join(dict.fromkeys(r.meanings)),
                r.severity.value if r.severity else "",
                r.reason or "",
            )
    if table.row_count:
        console.print(table)
    zones = len({h.zone for h in report.health})
    console.print(
        f"{len(report.targets)} target(s), {zones} zone(s): "
        f"[bold red]{counts[Verdict.LISTED]} listed[/], "
        f"[yellow]{counts[Verdict.UNKNOWN]} unknown[/], "
        f"[green]{counts[Verdict.NOT_LISTED]} not listed[/]; "
        f"{clean_targets} target(s) clean on every zone asked. "
        f"Catalogue {report.catalogue_version}."
    )


def _codes(codes: tuple[str, ...], limit: int = 4) -> str:
    shown = ", ".join(codes[:limit])
    return f"{shown} (+{len(codes) - limit} more)" if len(codes) > limit else shown
