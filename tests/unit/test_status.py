"""One status rule for every check: fail beats unknown, unknown beats warn and ok."""

from __future__ import annotations

import pytest

from checks.findings import Finding, FindingSeverity
from checks.status import CheckStatus, status_of


def finding(severity: FindingSeverity) -> Finding:
    return Finding("spf.no_all", severity, "test")


@pytest.mark.parametrize(
    ("severities", "unknown", "expected"),
    [
        pytest.param([], False, CheckStatus.OK, id="nothing-is-ok"),
        pytest.param([FindingSeverity.INFO], False, CheckStatus.OK, id="info-is-ok"),
        pytest.param([FindingSeverity.WARNING], False, CheckStatus.WARN, id="warning-is-warn"),
        pytest.param([FindingSeverity.ERROR], False, CheckStatus.FAIL, id="error-is-fail"),
        pytest.param([FindingSeverity.CRITICAL], False, CheckStatus.FAIL, id="critical-is-fail"),
        pytest.param([], True, CheckStatus.UNKNOWN, id="failed-lookup-is-unknown"),
        pytest.param([FindingSeverity.WARNING], True, CheckStatus.UNKNOWN, id="unknown-beats-warn"),
        pytest.param(
            [FindingSeverity.ERROR], True, CheckStatus.FAIL, id="seen-error-beats-unknown"
        ),
        pytest.param(
            [FindingSeverity.CRITICAL], True, CheckStatus.FAIL, id="seen-critical-beats-unknown"
        ),
    ],
)
def test_status_rule(
    severities: list[FindingSeverity], unknown: bool, expected: CheckStatus
) -> None:
    assert status_of([finding(s) for s in severities], unknown=unknown) is expected
