"""The ``check --json`` document (version 1) and the API's target document, built by one path.

A target document is ``{"target", "kind", "dnsbl": [...], <one member per table check
that ran>, "findings": [...]}``; the API's adds ``checked_at`` and ``risk``. The CLI
builds it from fresh results, the API from stored states whose details are the same
members (``docs/schema/`` pins both).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

from checks.dnsbl import DnsblResult, DnsblTargetResult, TargetKind, ZoneHealth
from checks.dnsbl.catalogue import Severity
from checks.dnsbl.sweep import dnsbl_findings
from checks.dnsbl.verdict import Verdict
from checks.status import CheckStatus
from monitor.checking.documents import JsonValue, dnsbl_doc, findings_doc, zone_doc
from monitor.checking.plans import DomainPlan
from monitor.checking.states import CheckName, CheckState
from monitor.checking.table import CHECKS

__all__ = [
    "REPORT_VERSION",
    "CheckReport",
    "build_document",
    "format_time",
    "target_document_from_states",
    "write_document",
]

REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class CheckReport:
    """One ``check`` run: zone self-tests, every target's DNSBL verdicts, the table's results.

    ``results`` maps a target (or a domain's sending IP, whose PTR feeds its scorecard)
    to its table results.
    """

    checked_at: dt.datetime
    catalogue_version: str
    health: tuple[ZoneHealth, ...]
    targets: tuple[DnsblTargetResult, ...]
    results: Mapping[str, Mapping[CheckName, object]] = field(default_factory=dict)

    def statuses(self) -> Iterator[CheckStatus]:
        """The status of every table result that counts on its own (exit codes, summaries)."""
        for results in self.results.values():
            for spec in CHECKS:
                if spec.name in results and not spec.derived:
                    for r in spec.results(results[spec.name]):
                        yield spec.status(r)


def format_time(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def _members(kind: TargetKind, results: Mapping[CheckName, object]) -> dict[str, JsonValue]:
    return {
        s.member: s.member_document(results[s.name])
        for s in CHECKS
        if s.kind is kind and s.name in results
    }


def _target(t: DnsblTargetResult, report: CheckReport) -> dict[str, JsonValue]:
    return {
        "target": t.target.text,
        "kind": t.target.kind.value,
        "dnsbl": [dnsbl_doc(r) for r in t.results],
        **_members(t.target.kind, report.results.get(t.target.text, {})),
        "findings": findings_doc(t.findings),
    }


def build_document(report: CheckReport) -> dict[str, JsonValue]:
    """The stable JSON document of DESIGN.md §2 (version 1)."""
    return {
        "version": REPORT_VERSION,
        "checked_at": format_time(report.checked_at),
        "catalogue_version": report.catalogue_version,
        "zones": [zone_doc(h) for h in report.health],
        "targets": [_target(t, report) for t in report.targets],
    }


def write_document(report: CheckReport, out: TextIO) -> None:
    """Write the JSON document target by target (C encoder, no whole-document string)."""
    head = json.dumps(build_document(dataclasses.replace(report, targets=())), ensure_ascii=False)
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
        rest: dict[str, JsonValue] = {
            **_members(t.target.kind, report.results.get(t.target.text, {})),
            "findings": findings_doc(t.findings),
        }
        members = json.dumps(rest, ensure_ascii=False)[1:]  # '"ptr": ..., "findings": []}'
        out.write(
            f'{{"target": {json.dumps(t.target.text)}, "kind": "{t.target.kind.value}", '
            f'"dnsbl": [{", ".join(parts)}], {members}'
        )
    out.write("]}\n")


# --- from stored states (the API) -----------------------------------------------------------


def target_document_from_states(
    target: str,
    kind: TargetKind,
    states: Sequence[CheckState],
    *,
    zones: Sequence[str],
    plan: DomainPlan | None,
) -> dict[str, JsonValue]:
    """One target's document from its latest states, in the order ``check --json`` gives.

    ``zones`` orders the DNSBL verdicts (the configured order); ``plan`` orders the items
    of "many" checks (DKIM selectors, envelope domains). Adds ``checked_at``, the newest
    of the states: the parts may come from different runs.
    """
    by_check: dict[CheckName, dict[str, CheckState]] = {}
    for state in states:
        by_check.setdefault(state.check, {})[state.item] = state
    dnsbl_states = by_check.get(CheckName.DNSBL, {})
    dnsbl = [dnsbl_states[z].detail_json() for z in zones if z in dnsbl_states]
    doc: dict[str, JsonValue] = {"target": target, "kind": kind.value, "dnsbl": dnsbl}
    for spec in CHECKS:
        found = by_check.get(spec.name)
        if spec.kind is not kind or not found:
            continue
        if spec.many:
            order = list(spec.items(plan)) if spec.items and plan else []
            order += sorted(i for i in found if i not in order)
            doc[spec.member] = [found[i].detail_json() for i in order if i in found]
        else:
            doc[spec.member] = found[""].detail_json() if "" in found else None
    doc["findings"] = findings_doc(dnsbl_findings(_dnsbl_results(dnsbl)))
    newest = max((s.checked_at for s in states), default=None)
    doc["checked_at"] = format_time(newest) if newest else None
    return doc


def _dnsbl_results(docs: Iterable[JsonValue]) -> list[DnsblResult]:
    """Stored DNSBL documents read back as results (for the target's findings)."""
    results = []
    for doc in docs:
        assert isinstance(doc, dict)
        severity = doc.get("severity")
        results.append(
            DnsblResult(
                zone=str(doc["zone"]),
                verdict=Verdict(str(doc["verdict"])),
                codes=tuple(str(c) for c in _list(doc.get("codes"))),
                meanings=tuple(str(m) for m in _list(doc.get("meanings"))),
                severity=Severity(severity) if isinstance(severity, str) else None,
                reason=_str_or_none(doc.get("reason")),
                error=_str_or_none(doc.get("error")),
            )
        )
    return results


def _list(value: JsonValue | None) -> list[JsonValue]:
    return value if isinstance(value, list) else []


def _str_or_none(value: JsonValue | None) -> str | None:
    return value if isinstance(value, str) else None
