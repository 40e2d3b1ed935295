"""Check status semantics, the same for every check (issue 3, item 5).

``ok``: no finding above info; ``warn``: warnings only; ``fail``: at least one
error or critical finding; ``unknown``: the check could not tell (timeout,
SERVFAIL, REFUSED) - never reported as "missing".
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from checks.findings import Finding, FindingSeverity

__all__ = ["CheckStatus", "status_of"]


class CheckStatus(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


def status_of(findings: Iterable[Finding], *, unknown: bool = False) -> CheckStatus:
    """The status a set of findings implies; ``unknown`` wins when the check could not tell.

    A check that could not tell must not also claim a failure it could not see:
    callers pass ``unknown=True`` only when a lookup the verdict depends on failed.
    """
    if unknown:
        return CheckStatus.UNKNOWN
    severities = {f.severity for f in findings}
    if severities & {FindingSeverity.ERROR, FindingSeverity.CRITICAL}:
        return CheckStatus.FAIL
    if FindingSeverity.WARNING in severities:
        return CheckStatus.WARN
    return CheckStatus.OK
