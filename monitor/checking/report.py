"""The ``check --json`` document (version 1), the human report, and exit codes."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TextIO, TypedDict

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.dnsbl import DnsblResult, DnsblTargetResult, Severity, TargetKind, Verdict, ZoneHealth
from checks.findings import Finding, FindingSeverity
from checks.host import MxResult, PtrResult
from checks.spf import SpfResult
from checks.status import CheckStatus
from monitor.checking.authcheck import DomainAuth

__all__ = [
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "CheckReport",
    "build_document",
    "dnsbl_doc",
    "exit_code",
    "render_human",
    "write_document",
]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNKNOWN = 3
REPORT_VERSION = 1


class DnsblDoc(TypedDict):
    zone: str
    verdict: str
    codes: list[str]
    meanings: list[str]
    severity: str | None
    reason: str | None
    error: str | None


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
    targets: list[dict[str, object]]


@dataclass(frozen=True, slots=True)
class CheckReport:
    checked_at: dt.datetime
    catalogue_version: str
    health: tuple[ZoneHealth, ...]
    targets: tuple[DnsblTargetResult, ...]
    auth: Mapping[str, DomainAuth] = field(default_factory=dict)  # domain -> its checks
    ptr: Mapping[str, PtrResult] = field(default_factory=dict)  # IP -> PTR/FCrDNS

    def auth_results(self) -> Iterator[_AuthResult]:
        """Every authentication result in the report, for exit codes and summaries."""
        yield from self.ptr.values()
        for auth in self.auth.values():
            yield auth.spf
            yield from auth.envelope_spf
            yield auth.dmarc
            yield from auth.dkim
            yield auth.mx


_AuthResult = SpfResult | DmarcResult | DkimResult | MxResult | PtrResult
JsonValue = str | int | float | bool | None | list["JsonValue"] | dict[str, "JsonValue"]


def jsonable(value: object) -> JsonValue:
    """Result values (frozen dataclasses, enums, tuples, mappings) as JSON-ready data."""
    if isinstance(value, Enum):
        return jsonable(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def _members(t: DnsblTargetResult, report: CheckReport) -> dict[str, JsonValue]:
    """The per-check members of a target after ``dnsbl``: ptr for IPs, the rest for domains."""
    members: dict[str, JsonValue] = {}
    if t.target.kind is TargetKind.IP and t.target.text in report.ptr:
        members["ptr"] = jsonable(report.ptr[t.target.text])
    auth = report.auth.get(t.target.text)
    if auth is not None:
        members["spf"] = jsonable(auth.spf)
        members["envelope_spf"] = jsonable(auth.envelope_spf)
        members["dmarc"] = jsonable(auth.dmarc)
        members["dkim"] = jsonable(auth.dkim)
        members["mx"] = jsonable(auth.mx)
        compliance = jsonable(auth.compliance)
        assert isinstance(compliance, dict)
        compliance["compliant"] = auth.compliance.compliant
        members["compliance"] = compliance
    members["findings"] = jsonable(t.findings)
    return members


def dnsbl_doc(r: DnsblResult) -> DnsblDoc:
    """One DNSBL result in the ``check --json`` shape (also what the daemon stores)."""
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
        "targets": [_target(t, report) for t in report.targets],
    }


def _target(t: DnsblTargetResult, report: CheckReport) -> dict[str, object]:
    return {
        "target": t.target.text,
        "kind": t.target.kind.value,
        "dnsbl": [dnsbl_doc(r) for r in t.results],
        **_members(t, report),
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
                text = encoded[id(r)] = json.dumps(dnsbl_doc(r), ensure_ascii=False)
            parts.append(text)
        members = json.dumps(_members(t, report), ensure_ascii=False)[1:]  # '"ptr": ..., ...}'
        out.write(
            f'{{"target": {json.dumps(t.target.text)}, "kind": "{t.target.kind.value}", '
            f'"dnsbl": [{", ".join(parts)}], {members}'
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
    for auth in report.auth_results():
        if auth.status is CheckStatus.FAIL:
            return EXIT_PROBLEMS
        unknown = unknown or auth.status is CheckStatus.UNKNOWN
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
    _render_auth(report, console)
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


_STATUS_STYLE = {
    CheckStatus.OK: "green",
    CheckStatus.WARN: "yellow",
    CheckStatus.FAIL: "bold red",
    CheckStatus.UNKNOWN: "magenta",
}


def _status(status: CheckStatus) -> Text:
    return Text(status.value, style=_STATUS_STYLE[status])


def _codes_of(findings: tuple[Finding, ...]) -> str:
    return "\n".join(f"{f.severity.value}: {f.code}" for f in findings if f.severity != "info")


def _render_auth(report: CheckReport, console: Console) -> None:
    """One table per domain (SPF, DMARC, DKIM, MX, then the scorecard) and one for PTRs."""
    for domain, auth in report.auth.items():
        table = Table(title=f"Authentication: {domain}", title_justify="left")
        for col in ("check", "status", "facts", "findings"):
            table.add_column(col, overflow="fold")
        spf = auth.spf
        table.add_row(
            "SPF",
            _status(spf.status),
            f"{spf.dns_lookups} lookups, {spf.void_lookups} void; "
            + ", ".join(f"{ip}: {r}" for ip, r in spf.ip_results.items()),
            _codes_of(spf.findings),
        )
        for envelope in auth.envelope_spf:
            if envelope is spf:
                continue
            table.add_row(
                f"SPF {envelope.domain}",
                _status(envelope.status),
                ", ".join(f"{ip}: {r}" for ip, r in envelope.ip_results.items()),
                _codes_of(envelope.findings),
            )
        dmarc = auth.dmarc
        table.add_row(
            "DMARC",
            _status(dmarc.status),
            f"p={dmarc.policy} at {dmarc.policy_domain}" if dmarc.policy else "",
            _codes_of(dmarc.findings),
        )
        for key in auth.dkim:
            facts = f"{key.key_type} {key.key_bits} bits" if key.key_type else ""
            table.add_row(
                f"DKIM {key.selector}", _status(key.status), facts, _codes_of(key.findings)
            )
        mx = auth.mx
        table.add_row(
            "MX", _status(mx.status), ", ".join(h.name for h in mx.hosts), _codes_of(mx.findings)
        )
        console.print(table)
        card = Table(title=f"Bulk-sender requirements: {domain}", title_justify="left")
        for col in ("requirement", "providers", "status", "detail"):
            card.add_column(col, overflow="fold")
        for row in auth.compliance.rows:
            style = {"pass": "green", "fail": "bold red"}.get(row.status.value, "magenta")
            card.add_row(
                row.requirement,
                ", ".join(row.providers),
                Text(row.status.value, style=style),
                row.detail,
            )
        console.print(card)
    if report.ptr:
        table = Table(title="Reverse DNS (PTR, forward-confirmed)", title_justify="left")
        for col in ("IP", "status", "names", "findings"):
            table.add_column(col, overflow="fold")
        for ip, ptr in report.ptr.items():
            table.add_row(ip, _status(ptr.status), ", ".join(ptr.names), _codes_of(ptr.findings))
        console.print(table)
