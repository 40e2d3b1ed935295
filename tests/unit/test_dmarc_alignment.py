"""Pins identifier alignment (RFC 9989): strict is an exact match, relaxed compares the
tree-walk organisational domains; disagreement with the RFC 7489 PSL answer is noted."""

from __future__ import annotations

from typing import Literal

import pytest

from checks.dmarc import Identity, evaluate_alignment, is_aligned

Mode = Literal["r", "s"]


@pytest.mark.parametrize(
    ("identity", "mode", "identity_org", "expected"),
    [
        ("example.com", "s", "example.com", True),
        ("bounce.example.com", "s", "example.com", False),
        ("bounce.example.com", "r", "example.com", True),
        ("example.net", "r", "example.net", False),
        ("bounce.example.com", "r", None, False),
    ],
)
def test_is_aligned(identity: str, mode: Mode, identity_org: str | None, expected: bool) -> None:
    assert (
        is_aligned("example.com", identity, mode, from_org="example.com", identity_org=identity_org)
        is expected
    )


def test_evaluate_alignment_keys_and_findings() -> None:
    identities = (Identity("spf", "bounce.example.com"), Identity("dkim", "esp.example.net"))
    results, findings = evaluate_alignment(
        "example.com",
        "example.com",
        identities,
        modes={"spf": "r", "dkim": "r"},
        orgs={"bounce.example.com": "example.com", "esp.example.net": "example.net"},
    )
    assert results == {"spf:bounce.example.com": "aligned", "dkim:esp.example.net": "not_aligned"}
    assert [(f.code, f.detail["identity"]) for f in findings] == [
        ("dmarc.identity_not_aligned", "dkim:esp.example.net")
    ]


def test_strict_mode_needs_no_org_domain() -> None:
    results, findings = evaluate_alignment(
        "example.com",
        "example.com",
        (Identity("spf", "bounce.example.com"), Identity("dkim", "example.com")),
        modes={"spf": "s", "dkim": "s"},
        orgs={},
    )
    assert results == {"spf:bounce.example.com": "not_aligned", "dkim:example.com": "aligned"}
    assert [f.code for f in findings] == ["dmarc.identity_not_aligned"]


def test_failed_identity_walk_is_unknown_not_misaligned() -> None:
    results, findings = evaluate_alignment(
        "example.com",
        "example.com",
        (Identity("spf", "bounce.example.com"),),
        modes={"spf": "r", "dkim": "r"},
        orgs={"bounce.example.com": None},
    )
    assert results == {"spf:bounce.example.com": "unknown"}
    assert findings == ()


def test_tree_walk_and_psl_disagreement_is_noted() -> None:
    # bounce.example.com published psd=n: the tree walk makes it its own org domain, so it no
    # longer aligns with example.com, while the PSL still says example.com.
    results, findings = evaluate_alignment(
        "example.com",
        "example.com",
        (Identity("spf", "bounce.example.com"),),
        modes={"spf": "r", "dkim": "r"},
        orgs={"bounce.example.com": "bounce.example.com"},
    )
    assert results == {"spf:bounce.example.com": "not_aligned"}
    assert {f.code for f in findings} == {
        "dmarc.identity_not_aligned",
        "dmarc.psl_alignment_differs",
    }


def test_misalignment_is_an_error_only_when_no_identity_aligns() -> None:
    one_aligned = (Identity("spf", "bounce.esp-mail.net"), Identity("dkim", "example.com"))
    _, findings = evaluate_alignment(
        "example.com",
        "example.com",
        one_aligned,
        modes={"spf": "r", "dkim": "r"},
        orgs={"bounce.esp-mail.net": "esp-mail.net", "example.com": "example.com"},
    )
    assert [(f.code, f.severity.value) for f in findings] == [
        ("dmarc.identity_not_aligned", "warning")
    ]
    _, findings = evaluate_alignment(
        "example.com",
        "example.com",
        one_aligned[:1],
        modes={"spf": "r", "dkim": "r"},
        orgs={"bounce.esp-mail.net": "esp-mail.net"},
    )
    assert [(f.code, f.severity.value) for f in findings] == [
        ("dmarc.identity_not_aligned", "error")
    ]
