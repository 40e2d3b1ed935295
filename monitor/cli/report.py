"""The ``check`` command's human report (tables) and its exit codes (DESIGN.md §2)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

from rich.console import Console
from rich.table import Table
from rich.text import Text

from checks.compliance import Scorecard
from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.dnsbl import Severity, Verdict
from checks.findings import Finding, FindingSeverity
from checks.host import MxResult, PtrResult
from checks.spf import SpfResult
from checks.status import CheckStatus
from monitor.checking.report import CheckReport
from monitor.checking.states import CheckName
from monitor.checking.table import spec

__all__ = [
    "EXIT_BROKEN_PIPE",
    "EXIT_OK",
    "EXIT_PROBLEMS",
    "EXIT_UNKNOWN",
    "EXIT_USAGE",
    "exit_code",
    "render_human",
    "stdout_console",
]

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_USAGE = 2
EXIT_UNKNOWN = 3
EXIT_BROKEN_PIPE = 141  # stdout closed by its reader (128 + SIGPIPE, as a shell shows it)
_R = TypeVar("_R")


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
    for status in report.statuses():
        if status is CheckStatus.FAIL:
            return EXIT_PROBLEMS
        unknown = unknown or status is CheckStatus.UNKNOWN
    return EXIT_UNKNOWN if unknown else EXIT_OK


_VERDICT_STYLE = {
    Verdict.LISTED: "bold red",
    Verdict.UNKNOWN: "yellow",
    Verdict.NOT_LISTED: "green",
}


class _StdoutConsole(Console):
    def on_broken_pipe(self) -> None:
        # rich exits 1 here, which means "problems found": the CLI's main answers 141.
        raise BrokenPipeError


def stdout_console() -> Console:
    """The console for a command's output: text is never read as markup (a reason such as
    "[Errno 111]" or "[dns]" is printed as it is), a pipe or file gets 200 columns rather
    than rich's 80 (tables squeezed to a few letters per column otherwise), and a reader
    that goes away raises ``BrokenPipeError``."""
    console = _StdoutConsole(markup=False, highlight=False)
    if not console.is_terminal:
        console = _StdoutConsole(markup=False, highlight=False, width=200)
    return console


def render_human(report: CheckReport, console: Console, *, show_clean: bool = False) -> None:
    """Tables for people: unhealthy zones, then every listing and unknown, then a summary."""
    bad_zones = [h for h in report.health if not h.healthy]
    if report.health and len(bad_zones) == len(report.health):
        console.print(
            Text(
                "No zone passed its self-test: is the resolver reachable and allowed to "
                "query the lists? (see [dns] nameservers; use a local, non-forwarding resolver)",
                style="yellow",
            )
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
    clean_targets = unasked = 0
    for target in report.targets:
        rows = [r for r in target.results if show_clean or r.verdict is not Verdict.NOT_LISTED]
        for r in target.results:
            counts[r.verdict] += 1
        # From the verdicts, not from what is shown: clean is "asked, and not listed on
        # any zone", and a target no zone applies to was asked nothing.
        if not target.results:
            unasked += 1
        elif all(r.verdict is Verdict.NOT_LISTED for r in target.results):
            clean_targets += 1
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
    if not any(t.results for t in report.targets):
        # No DNSBL verdict at all (--checks auth, or no zone applies): "clean on every
        # zone asked" would be true of nothing.
        console.print(
            f"{len(report.targets)} target(s): no DNSBL zone asked. "
            f"Catalogue {report.catalogue_version}."
        )
        return
    console.print(
        Text.assemble(
            f"{len(report.targets)} target(s), {zones} zone(s): ",
            (f"{counts[Verdict.LISTED]} listed", "bold red"),
            ", ",
            (f"{counts[Verdict.UNKNOWN]} unknown", "yellow"),
            ", ",
            (f"{counts[Verdict.NOT_LISTED]} not listed", "green"),
            f"; {clean_targets} target(s) clean on every zone asked"
            + (f", {unasked} asked no zone (none applies to them)" if unasked else "")
            + f". Catalogue {report.catalogue_version}.",
        )
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


def _domains(report: CheckReport) -> Iterator[tuple[str, Mapping[CheckName, object]]]:
    for target in report.targets:
        results = report.results.get(target.target.text)
        if results and CheckName.SPF in results:
            yield target.target.text, results


def _render_auth(report: CheckReport, console: Console) -> None:
    """One table per domain (SPF, DMARC, DKIM, MX, then the scorecard) and one for PTRs."""
    for domain, results in _domains(report):
        table = Table(title=f"Authentication: {domain}", title_justify="left")
        for col in ("check", "status", "facts", "findings"):
            table.add_column(col, overflow="fold")
        spf = results[CheckName.SPF]
        assert isinstance(spf, SpfResult)
        table.add_row(
            "SPF",
            _status(spf.status),
            f"{spf.dns_lookups} lookups, {spf.void_lookups} void; "
            + ", ".join(f"{ip}: {r}" for ip, r in spf.ip_results.items()),
            _codes_of(spf.findings),
        )
        for envelope in _many(results, CheckName.ENVELOPE_SPF, SpfResult):
            if envelope is spf:
                continue
            table.add_row(
                f"SPF {envelope.domain}",
                # the envelope status (warn while another IP passes there), as the JSON's
                _status(spec(CheckName.ENVELOPE_SPF).status(envelope)),
                ", ".join(f"{ip}: {r}" for ip, r in envelope.ip_results.items()),
                _codes_of(envelope.findings),
            )
        dmarc = results.get(CheckName.DMARC)
        if isinstance(dmarc, DmarcResult):
            table.add_row(
                "DMARC",
                _status(dmarc.status),
                f"p={dmarc.policy} at {dmarc.policy_domain}" if dmarc.policy else "",
                _codes_of(dmarc.findings),
            )
        for key in _many(results, CheckName.DKIM, DkimResult):
            facts = f"{key.key_type} {key.key_bits} bits" if key.key_type else ""
            table.add_row(
                f"DKIM {key.selector}", _status(key.status), facts, _codes_of(key.findings)
            )
        mx = results.get(CheckName.MX)
        if isinstance(mx, MxResult):
            table.add_row(
                "MX",
                _status(mx.status),
                ", ".join(h.name for h in mx.hosts),
                _codes_of(mx.findings),
            )
        console.print(table)
        _render_messages(_auth_findings(results), console)
        card = results.get(CheckName.COMPLIANCE)
        if isinstance(card, Scorecard):
            _render_scorecard(domain, card, console)
    ptrs = [r[CheckName.PTR] for r in report.results.values() if CheckName.PTR in r]
    if ptrs:
        table = Table(title="Reverse DNS (PTR, forward-confirmed)", title_justify="left")
        for col in ("IP", "status", "names", "findings"):
            table.add_column(col, overflow="fold")
        for ptr in ptrs:
            assert isinstance(ptr, PtrResult)
            table.add_row(
                ptr.ip, _status(ptr.status), ", ".join(ptr.names), _codes_of(ptr.findings)
            )
        console.print(table)


def _auth_findings(results: Mapping[CheckName, object]) -> list[Finding]:
    found: list[Finding] = []
    for name in (
        CheckName.SPF,
        CheckName.ENVELOPE_SPF,
        CheckName.DMARC,
        CheckName.DKIM,
        CheckName.MX,
    ):
        value = results.get(name)
        for result in value if isinstance(value, tuple) else (value,):
            findings = getattr(result, "findings", ())
            found += [f for f in findings if f.severity != "info"]
    return found


def _render_messages(findings: list[Finding], console: Console) -> None:
    """What each finding code in the table means, once per code: the codes alone sent a
    reader to docs/findings.md."""
    seen: dict[str, Finding] = {}
    for finding in findings:
        seen.setdefault(finding.code, finding)
    for code, finding in seen.items():
        console.print(Text(f"  {finding.severity.value} {code}: {finding.message}"))


def _render_scorecard(domain: str, card: Scorecard, console: Console) -> None:
    table = Table(title=f"Bulk-sender requirements: {domain}", title_justify="left")
    for col in ("requirement", "providers", "status", "detail"):
        table.add_column(col, overflow="fold")
    for row in card.rows:
        style = {"pass": "green", "fail": "bold red"}.get(row.status.value, "magenta")
        table.add_row(
            row.requirement,
            ", ".join(row.providers),
            Text(row.status.value, style=style),
            row.detail,
        )
    console.print(table)


def _many(results: Mapping[CheckName, object], name: CheckName, kind: type[_R]) -> list[_R]:
    value = results.get(name, ())
    return [r for r in value if isinstance(r, kind)] if isinstance(value, tuple) else []
