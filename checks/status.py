"""Check status semantics, the same for every check (issue 3, item 5).

``ok``: no finding above info; ``warn``: warnings only; ``fail``: at least one
error or critical finding (seen in the data that could be fetched); ``unknown``:
no such failure, but the check could not tell (timeout, SERVFAIL, REFUSED) -
never reported as "missing".
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
    """The status a check's findings imply, the same rule for every check.

    An error or critical finding makes it ``fail`` even when some other lookup
    failed: that failure was seen in data that was fetched, and a later answer
    cannot undo it. Otherwise a lookup the verdict depends on that failed
    (``unknown=True``) makes it ``unknown`` - never "missing", never ``ok``.
    Then warnings give ``warn``, and anything else ``ok``.
    """
    severities = {f.severity for f in findings}
    if severities & {FindingSeverity.ERROR, FindingSeverity.CRITICAL}:
        return CheckStatus.FAIL
    if unknown:
        return CheckStatus.UNKNOWN
    if FindingSeverity.WARNING in severities:
        return CheckStatus.WARN
    return CheckStatus.OK
