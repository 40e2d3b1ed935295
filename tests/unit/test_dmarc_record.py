"""Pins DMARC record parsing and validation (RFC 9989 record format, RFC 7489 compatibility)
and the effective policy a record yields (p, sp/np inheritance, invalid-policy fallback)."""

from __future__ import annotations

import pytest

from checks.dmarc import (
    DmarcRecord,
    EffectivePolicy,
    InvalidUriError,
    Policy,
    effective_policy,
    is_dmarc_record,
    parse_record,
    parse_report_uri,
    policy_findings,
)
from checks.findings import FindingSeverity


def parsed(text: str) -> DmarcRecord:
    record = parse_record(text)
    assert record is not None
    return record


def codes(text: str) -> set[str]:
    return {f.code for f in parsed(text).findings}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("v=DMARC1; p=reject", True, id="plain"),
        pytest.param("V = DMARC1;p=reject", True, id="tag-name-case-insensitive"),
        pytest.param("v=DMARC1", True, id="version-only"),
        pytest.param("v=dmarc1; p=reject", False, id="value-case-sensitive"),
        pytest.param("p=reject; v=DMARC1", False, id="version-not-first"),
        pytest.param("v=DMARC10; p=reject", False, id="other-version"),
        pytest.param("v=spf1 -all", False, id="spf"),
    ],
)
def test_is_dmarc_record_needs_leading_exact_version(text: str, expected: bool) -> None:
    assert is_dmarc_record(text) is expected
    assert (parse_record(text) is not None) is expected


def test_parse_reads_every_rfc9989_tag() -> None:
    record = parsed(
        "v=DMARC1; p=Quarantine; sp=reject; np=reject; adkim=s; aspf=s; fo=d:s; t=y; psd=n; "
        "rua=mailto:a@example.com,mailto:b@example.com; ruf=mailto:f@example.com"
    )
    assert (record.p, record.sp, record.np) == (Policy.QUARANTINE, Policy.REJECT, Policy.REJECT)
    assert (record.adkim, record.aspf, record.fo) == ("s", "s", ("d", "s"))
    assert record.testing
    assert record.psd == "n"
    assert record.rua == ("mailto:a@example.com", "mailto:b@example.com")
    assert [u.address for u in record.ruf_uris] == ["f@example.com"]
    assert record.findings == ()


def test_defaults_are_relaxed_not_testing_psd_u() -> None:
    record = parsed("v=DMARC1; p=none")
    assert (record.adkim, record.aspf, record.testing, record.psd) == ("r", "r", False, "u")


@pytest.mark.parametrize(
    ("text", "code", "severity"),
    [
        ("v=DMARC1; p", "dmarc.syntax_error", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; =x", "dmarc.syntax_error", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; a-b=x", "dmarc.syntax_error", FindingSeverity.ERROR),
        ("v=DMARC1; p=foo", "dmarc.invalid_tag_value", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; sp=all", "dmarc.invalid_tag_value", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; np=invalid", "dmarc.invalid_tag_value", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; adkim=x", "dmarc.invalid_tag_value", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; aspf=rs", "dmarc.invalid_tag_value", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; t=x", "dmarc.invalid_tag_value", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; psd=x", "dmarc.invalid_tag_value", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; fo=2", "dmarc.invalid_tag_value", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; p=none", "dmarc.duplicate_tag", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; v=DMARC1", "dmarc.duplicate_tag", FindingSeverity.ERROR),
        ("v=DMARC1; p=reject; xyz=foo", "dmarc.unknown_tag", FindingSeverity.INFO),
        ("v=DMARC1; p=reject; pct=100", "dmarc.obsolete_tag", FindingSeverity.WARNING),
        ("v=DMARC1; p=reject; rf=afrf", "dmarc.obsolete_tag", FindingSeverity.WARNING),
        ("v=DMARC1; p=reject; ri=abc", "dmarc.obsolete_tag", FindingSeverity.WARNING),
        ("v=DMARC1; p=reject; pct=50", "dmarc.pct_below_100", FindingSeverity.WARNING),
        ("v=DMARC1; rua=mailto:a@example.com", "dmarc.p_missing", FindingSeverity.WARNING),
        ("v=DMARC1; sp=none; p=reject", "dmarc.p_not_first", FindingSeverity.INFO),
    ],
)
def test_record_problem_is_named_by_code(text: str, code: str, severity: FindingSeverity) -> None:
    found = [f for f in parsed(text).findings if f.code == code]
    assert found, parsed(text).findings
    assert found[0].severity is severity


def test_syntax_error_detail_names_the_term() -> None:
    (finding,) = parsed("v=DMARC1; p=reject; nonsense").findings
    assert finding.detail == {"term": "nonsense"}


def test_pct_100_is_obsolete_but_not_below_100() -> None:
    assert codes("v=DMARC1; p=reject; pct=100") == {"dmarc.obsolete_tag"}


def test_first_occurrence_of_duplicate_tag_wins() -> None:
    assert parsed("v=DMARC1; p=reject; p=none").p is Policy.REJECT


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("v=DMARC1; p=none; rua=reports@example.com", "dmarc.invalid_uri"),
        ("v=DMARC1; p=none; rua=__mailto:reports@example.com", "dmarc.invalid_uri"),
        ("v=DMARC1; p=none; rua=mailto:no-at-sign", "dmarc.invalid_uri"),
        ("v=DMARC1; p=none; rua=mailto:a@bad..name", "dmarc.invalid_uri"),
        ("v=DMARC1; p=none; rua=https://example.com/report", "dmarc.uri_not_mailto"),
        ("v=DMARC1; p=none; rua=mailto:a@example.com!10m", "dmarc.uri_size_suffix"),
        (
            "v=DMARC1; p=none; rua=mailto:a@example.com,mailto:b@example.com,mailto:c@example.com",
            "dmarc.too_many_uris",
        ),
    ],
)
def test_report_uri_problems(text: str, code: str) -> None:
    assert code in codes(text)


def test_two_uris_are_not_too_many() -> None:
    assert codes("v=DMARC1; p=none; rua=mailto:a@example.com, mailto:b@example.com") == set()


def test_mailto_uri_parts() -> None:
    uri = parse_report_uri("mailto:Reports%2Bdmarc@Example.COM!5m")
    assert (uri.scheme, uri.address, uri.domain, uri.size) == (
        "mailto",
        "Reports+dmarc@example.com",
        "example.com",
        "5m",
    )


def test_uri_without_scheme_is_refused() -> None:
    with pytest.raises(InvalidUriError):
        parse_report_uri("reports@example.com")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v=DMARC1; p=reject", EffectivePolicy(Policy.REJECT, Policy.REJECT, Policy.REJECT)),
        (
            "v=DMARC1; p=reject; sp=quarantine",
            EffectivePolicy(Policy.REJECT, Policy.QUARANTINE, Policy.QUARANTINE),
        ),
        (
            "v=DMARC1; p=none; np=reject",
            EffectivePolicy(Policy.NONE, Policy.NONE, Policy.REJECT),
        ),
        ("v=DMARC1", EffectivePolicy(Policy.NONE, Policy.NONE, Policy.NONE)),
        (
            "v=DMARC1; p=foo; rua=mailto:a@example.com",
            EffectivePolicy(Policy.NONE, Policy.NONE, Policy.NONE),
        ),
        (
            "v=DMARC1; p=reject; sp=bad; rua=mailto:a@example.com",
            EffectivePolicy(Policy.NONE, Policy.NONE, Policy.NONE),
        ),
        ("v=DMARC1; p=foo", None),
    ],
    ids=["p-only", "np-from-sp", "np-own", "p-missing", "bad-p-rua", "bad-sp-rua", "bad-p"],
)
def test_effective_policy_inherits_np_from_sp_from_p(
    text: str, expected: EffectivePolicy | None
) -> None:
    assert effective_policy(parsed(text)) == expected


@pytest.mark.parametrize(
    ("text", "applied", "expected"),
    [
        ("v=DMARC1; p=none; rua=mailto:a@example.com", Policy.NONE, {"dmarc.policy_none"}),
        ("v=DMARC1; p=reject; t=y; rua=mailto:a@example.com", Policy.REJECT, {"dmarc.testing"}),
        ("v=DMARC1; p=reject", Policy.REJECT, {"dmarc.no_rua"}),
        (
            "v=DMARC1; p=reject; sp=none; rua=mailto:a@example.com",
            Policy.REJECT,
            {"dmarc.subdomain_policy_weaker"},
        ),
        (
            "v=DMARC1; p=reject; np=quarantine; rua=mailto:a@example.com",
            Policy.REJECT,
            {"dmarc.subdomain_policy_weaker"},
        ),
        ("v=DMARC1; p=quarantine; np=reject; rua=mailto:a@example.com", Policy.QUARANTINE, set()),
    ],
)
def test_policy_findings(text: str, applied: Policy, expected: set[str]) -> None:
    record = parsed(text)
    found = policy_findings(applied, record, effective_policy(record))
    assert {f.code for f in found} == expected
    assert all(f.severity is FindingSeverity.WARNING for f in found)


@pytest.mark.parametrize("pct", ["\u00b2", "\uff15\uff10", "9" * 5000, "-1", ""])
def test_a_pct_that_is_not_a_small_ascii_number_is_no_pct_and_no_crash(pct: str) -> None:
    """A published record is anyone's text: "²".isdigit() is true and int() refuses it, a
    5,000-digit value passes int()'s digit limit. Both used to raise ValueError."""
    record = parse_record(f"v=DMARC1; p=reject; pct={pct}")
    assert record is not None
    assert record.pct is None
