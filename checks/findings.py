"""Findings: stable dotted codes with a severity, a message and detail.

``FINDING_CODES`` is the registry every check draws its codes from; the docs
page ``docs/findings.md`` is generated from it (``python -m checks.findings``),
and a test keeps the two in sync.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from checks.codes import bounces, dkim, dmarc, dmarc_report, dnsbl, host, resolver, spf, telemetry

__all__ = ["FINDING_CODES", "Finding", "FindingDoc", "FindingSeverity", "render_findings_doc"]


class FindingSeverity(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Finding:
    code: str
    severity: FindingSeverity
    message: str
    detail: Mapping[str, str | int | bool | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in FINDING_CODES:
            raise ValueError(f"unregistered finding code {self.code!r}")


@dataclass(frozen=True, slots=True)
class FindingDoc:
    meaning: str
    fix: str


def _registry() -> Mapping[str, FindingDoc]:
    codes: dict[str, FindingDoc] = {}
    for area in _AREAS:
        for code, (meaning, fix) in area.items():
            if code in codes:
                raise ValueError(f"finding code {code} registered twice")
            codes[code] = FindingDoc(meaning, fix)
    return MappingProxyType(codes)


_AREAS = (
    dnsbl.CODES,
    spf.CODES,
    dmarc.CODES,
    dkim.CODES,
    host.CODES,
    resolver.CODES,
    telemetry.CODES,
    dmarc_report.CODES,
    bounces.CODES,
)
FINDING_CODES: Mapping[str, FindingDoc] = _registry()


def render_findings_doc() -> str:
    """Markdown for docs/findings.md."""
    lines = [
        "# Finding codes",
        "",
        "Generated from `checks/findings.py` by `python -m checks.findings > docs/findings.md`;",
        "do not edit by hand. Codes are stable: alerts, dashboards and scripts key on them.",
        "",
    ]
    groups: dict[str, list[str]] = {}
    for code in sorted(FINDING_CODES):
        groups.setdefault(code.split(".", 1)[0], []).append(code)
    for group, codes in groups.items():
        lines += [f"## {group}", ""]
        for code in codes:
            doc = FINDING_CODES[code]
            lines += [f"### `{code}`", "", doc.meaning, "", f"**What to do:** {doc.fix}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.stdout.write(render_findings_doc())
