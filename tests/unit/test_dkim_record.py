"""DKIM key-record evaluation and per-selector verdicts, sans-I/O, with keys made at test time."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from checks.codes.dkim import CODES
from checks.dkim import (
    DkimPolicy,
    DkimResult,
    evaluate_key_record,
    evaluate_selector,
    flag_ed25519_only,
    key_record_name,
)
from checks.dkim.ed25519 import is_ed25519_point
from checks.dns import Answer, NoData, NxDomain, RdataType, Unknown, UnknownReason
from checks.findings import FindingSeverity
from checks.status import CheckStatus

from .test_dkim_keygen import (
    b64,
    ed25519_public_raw,
    ed25519_public_spki,
    ed25519_record,
    rsa_public_der,
    rsa_record,
)

E, W, INFO = FindingSeverity.ERROR, FindingSeverity.WARNING, FindingSeverity.INFO
# The severity of every DKIM code, pinned: docs, alerts and the scorecard depend on them.
SEVERITIES = {
    "dkim.missing": E,
    "dkim.multiple_records": E,
    "dkim.revoked": E,
    "dkim.testing": W,
    "dkim.strict_subdomain": INFO,
    "dkim.unknown_key_type": E,
    "dkim.unsupported_hash": E,
    "dkim.malformed_record": E,
    "dkim.malformed_key": E,
    "dkim.key_too_short": E,
    "dkim.key_weak": W,
    "dkim.key_oversized": W,
    "dkim.rsa_key_not_spki": W,
    "dkim.service_not_email": E,
    "dkim.version_not_first": W,
    "dkim.ed25519_only": W,
    "dkim.lookup_failed": W,
    "dkim.cname_loop": E,
}
# RFC 8032 §7.1 TEST 1 public key: a valid point.
RFC8032_TEST1_PUBLIC = bytes.fromhex(
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
)


def test_every_dkim_code_is_registered_with_a_pinned_severity() -> None:
    assert set(SEVERITIES) == set(CODES)


def _not_on_curve() -> bytes:
    # y values whose x^2 = (y^2-1)/(d y^2+1) has no root; about half of all y qualify.
    return next(
        y.to_bytes(32, "little")
        for y in range(2, 100)
        if not is_ed25519_point(y.to_bytes(32, "little"))
    )


def _truncated_der_key() -> str:
    return b64(rsa_public_der(2048)[:-8])


def _spki_b64(bits: int = 2048) -> str:
    return b64(rsa_public_der(bits))


Case = tuple[Callable[[], str], str | None, int | None, set[str]]
CASES: dict[str, Case] = {
    "rsa2048-spki": (lambda: rsa_record(2048), "rsa", 2048, set()),
    "rsa4096-spki": (lambda: rsa_record(4096), "rsa", 4096, set()),
    "rsa1024-is-weak": (lambda: rsa_record(1024), "rsa", 1024, {"dkim.key_weak"}),
    "rsa512-too-short": (lambda: rsa_record(512), "rsa", 512, {"dkim.key_too_short"}),
    "rsa2048-pkcs1": (
        lambda: rsa_record(2048, form="pkcs1"),
        "rsa",
        2048,
        {"dkim.rsa_key_not_spki"},
    ),
    "rsa512-pkcs1": (
        lambda: rsa_record(512, form="pkcs1"),
        "rsa",
        512,
        {"dkim.key_too_short", "dkim.rsa_key_not_spki"},
    ),
    "defaults-without-v-and-k": (lambda: f"p={_spki_b64()}", "rsa", 2048, set()),
    "key-type-is-case-insensitive": (lambda: rsa_record(2048, tags="k=RSA"), "rsa", 2048, set()),
    "unknown-tags-and-notes-ignored": (
        lambda: rsa_record(2048, tags="v=DKIM1; g=*; x1=extra; n=send%20notes"),
        "rsa",
        2048,
        set(),
    ),
    "trailing-semicolon": (lambda: rsa_record(2048) + ";", "rsa", 2048, set()),
    "folding-whitespace-inside-p": (
        lambda: "v=DKIM1; p=" + " ".join(_spki_b64()[i : i + 60] for i in range(0, 392, 60)),
        "rsa",
        2048,
        set(),
    ),
    "ed25519-raw": (lambda: ed25519_record(), "ed25519", 256, set()),
    "ed25519-rfc8032-vector": (
        lambda: f"v=DKIM1; k=ed25519; p={b64(RFC8032_TEST1_PUBLIC)}",
        "ed25519",
        256,
        set(),
    ),
    "ed25519-wrapped-in-spki": (
        lambda: f"v=DKIM1; k=ed25519; p={b64(ed25519_public_spki())}",
        "ed25519",
        None,
        {"dkim.malformed_key"},
    ),
    "ed25519-not-on-curve": (
        lambda: f"v=DKIM1; k=ed25519; p={b64(_not_on_curve())}",
        "ed25519",
        None,
        {"dkim.malformed_key"},
    ),
    "ed25519-key-under-k-rsa": (
        lambda: f"v=DKIM1; k=rsa; p={b64(ed25519_public_raw())}",
        "rsa",
        None,
        {"dkim.malformed_key"},
    ),
    "revoked": (lambda: "v=DKIM1; k=rsa; p=", "rsa", None, {"dkim.revoked"}),
    "revoked-with-spaces": (lambda: "v=DKIM1; p= ;", "rsa", None, {"dkim.revoked"}),
    "testing": (lambda: rsa_record(2048, tags="v=DKIM1; t=y"), "rsa", 2048, {"dkim.testing"}),
    "strict": (
        lambda: rsa_record(2048, tags="v=DKIM1; t=s"),
        "rsa",
        2048,
        {"dkim.strict_subdomain"},
    ),
    "testing-and-strict-with-spaces": (
        lambda: rsa_record(2048, tags="v=DKIM1; t = y : s"),
        "rsa",
        2048,
        {"dkim.testing", "dkim.strict_subdomain"},
    ),
    "unknown-flag-ignored": (lambda: rsa_record(2048, tags="v=DKIM1; t=n"), "rsa", 2048, set()),
    "h-sha1-only": (
        lambda: rsa_record(2048, tags="v=DKIM1; h=sha1"),
        "rsa",
        2048,
        {"dkim.unsupported_hash"},
    ),
    "h-unknown-only": (
        lambda: rsa_record(2048, tags="v=DKIM1; h=md5:bad"),
        "rsa",
        2048,
        {"dkim.unsupported_hash"},
    ),
    "h-sha1-and-sha256": (
        lambda: rsa_record(2048, tags="v=DKIM1; h=sha1:sha256"),
        "rsa",
        2048,
        set(),
    ),
    "s-email": (lambda: rsa_record(2048, tags="v=DKIM1; s=email"), "rsa", 2048, set()),
    "s-star": (lambda: rsa_record(2048, tags="v=DKIM1; s=*"), "rsa", 2048, set()),
    "s-email-among-others": (
        lambda: rsa_record(2048, tags="v=DKIM1; s=tlsrpt:email"),
        "rsa",
        2048,
        set(),
    ),
    "s-tlsrpt-only": (
        lambda: rsa_record(2048, tags="v=DKIM1; s=tlsrpt"),
        "rsa",
        2048,
        {"dkim.service_not_email"},
    ),
    "k-is-the-algorithm-name": (
        lambda: rsa_record(2048, tags="v=DKIM1; k=ed25519-sha256"),
        None,
        None,
        {"dkim.unknown_key_type"},
    ),
    "k-unknown-with-testing": (
        lambda: rsa_record(2048, tags="k=dsa; t=y"),
        None,
        None,
        {"dkim.unknown_key_type", "dkim.testing"},
    ),
    "v-not-first": (
        lambda: rsa_record(2048, tags="k=rsa; v=DKIM1"),
        "rsa",
        2048,
        {"dkim.version_not_first"},
    ),
    "v-wrong-version": (
        lambda: rsa_record(2048, tags="v=DKIM2"),
        None,
        None,
        {"dkim.malformed_record"},
    ),
    "v-colon-instead-of-semicolon": (
        lambda: rsa_record(2048, tags="v=DKIM1: k=rsa"),
        None,
        None,
        {"dkim.malformed_record"},
    ),
    "bare-tag-without-value": (
        lambda: rsa_record(2048, tags="k=rsa; t"),
        None,
        None,
        {"dkim.malformed_record"},
    ),
    "duplicate-tag": (
        lambda: rsa_record(2048) + "; p=" + _spki_b64(),
        None,
        None,
        {"dkim.malformed_record"},
    ),
    "no-p-tag": (lambda: "v=DKIM1; k=rsa", None, None, {"dkim.malformed_record"}),
    "empty-record": (lambda: "", None, None, {"dkim.malformed_record"}),
    "not-a-tag-list": (lambda: "hello world", None, None, {"dkim.malformed_record"}),
    "spf-record-at-selector": (
        lambda: "v=spf1 -all",
        None,
        None,
        {"dkim.malformed_record"},
    ),
    "base64-truncated": (
        lambda: f"v=DKIM1; p={_spki_b64()[:-5]}",
        "rsa",
        None,
        {"dkim.malformed_key"},
    ),
    "base64-stray-characters": (
        lambda: f"v=DKIM1; p={_spki_b64()[:100]}!!{_spki_b64()[100:]}",
        "rsa",
        None,
        {"dkim.malformed_key"},
    ),
    "der-truncated": (
        lambda: f"v=DKIM1; p={_truncated_der_key()}",
        "rsa",
        None,
        {"dkim.malformed_key"},
    ),
    "asn1-null-with-length-trips-dkimpy-assert": (
        lambda: f"p={b64(rsa_public_der(1024).replace(bytes([5, 0]), bytes([5, 127]), 1))}",
        "rsa",
        None,
        {"dkim.malformed_key"},
    ),
    "non-ascii-tag-name": (lambda: rsa_record(2048, tags="v=DKIM1; x\u00e9=1"), "rsa", 2048, set()),
    "not-der-at-all": (
        lambda: f"v=DKIM1; p={b64(b'this is not a key at all, just text')}",
        "rsa",
        None,
        {"dkim.malformed_key"},
    ),
}


@pytest.mark.parametrize(
    ("make_record", "key_type", "key_bits", "codes"), CASES.values(), ids=CASES
)
def test_key_record_evaluation(
    make_record: Callable[[], str], key_type: str | None, key_bits: int | None, codes: set[str]
) -> None:
    evaluation = evaluate_key_record(make_record())
    assert (evaluation.key_type, evaluation.key_bits) == (key_type, key_bits)
    assert {f.code for f in evaluation.findings} == codes
    for finding in evaluation.findings:
        assert finding.severity is SEVERITIES[finding.code], finding.code


def test_evaluation_unpacks_as_type_bits_findings() -> None:
    key_type, key_bits, findings = evaluate_key_record(rsa_record(1024))
    assert (key_type, key_bits, [f.code for f in findings]) == ("rsa", 1024, ["dkim.key_weak"])


def test_malformed_key_detail_says_what_is_wrong() -> None:
    details = {
        "base64": f"p={_spki_b64()[:-5]}",
        "not_a_key": f"p={_truncated_der_key()}",
        "ed25519_spki": f"k=ed25519; p={b64(ed25519_public_spki())}",
        "ed25519_length": f"k=ed25519; p={b64(bytes(31))}",
    }
    for problem, record in details.items():
        (finding,) = evaluate_key_record(record).findings
        assert (finding.code, finding.detail["problem"]) == ("dkim.malformed_key", problem)


@pytest.mark.parametrize(
    ("key", "valid"),
    [
        pytest.param(RFC8032_TEST1_PUBLIC, True, id="rfc8032-test1"),
        pytest.param(bytes(32), True, id="y-zero-order-four-point"),
        pytest.param(b"\x01" + bytes(31), True, id="neutral-element"),
        pytest.param(b"\x01" + bytes(30) + b"\x80", False, id="x-zero-with-sign-bit"),
        pytest.param(b"\xff" * 31 + b"\x7f", False, id="y-not-below-p"),
        pytest.param(RFC8032_TEST1_PUBLIC[:31], False, id="31-bytes"),
    ],
)
def test_ed25519_point_decoding(key: bytes, valid: bool) -> None:
    assert is_ed25519_point(key) is valid


# -- per-selector verdicts -------------------------------------------------------------

NAME = "s1._domainkey.example.com"


def _answer(*records: str, chain: tuple[str, ...] = ()) -> Answer:
    return Answer(NAME, RdataType.TXT, records, 300, chain)


@pytest.mark.parametrize(
    ("outcome", "status", "codes"),
    [
        pytest.param(lambda: _answer(rsa_record(2048)), CheckStatus.OK, [], id="2048-ok"),
        pytest.param(
            lambda: _answer(rsa_record(2048, tags="v=DKIM1; t=s")),
            CheckStatus.OK,
            ["dkim.strict_subdomain"],
            id="t=s-info-is-ok",
        ),
        pytest.param(
            lambda: _answer(rsa_record(1024)), CheckStatus.WARN, ["dkim.key_weak"], id="1024-warn"
        ),
        pytest.param(
            lambda: _answer(rsa_record(2048, tags="v=DKIM1; t=y")),
            CheckStatus.WARN,
            ["dkim.testing"],
            id="t=y-warn",
        ),
        pytest.param(
            lambda: _answer(rsa_record(512)),
            CheckStatus.FAIL,
            ["dkim.key_too_short"],
            id="512-fail",
        ),
        pytest.param(
            lambda: _answer("v=DKIM1; p="), CheckStatus.FAIL, ["dkim.revoked"], id="revoked-fail"
        ),
        pytest.param(
            lambda: NxDomain(NAME), CheckStatus.FAIL, ["dkim.missing"], id="nxdomain-missing"
        ),
        pytest.param(
            lambda: NoData(NAME, RdataType.TXT),
            CheckStatus.FAIL,
            ["dkim.missing"],
            id="nodata-missing",
        ),
        pytest.param(
            lambda: _answer(rsa_record(2048), rsa_record(1024)),
            CheckStatus.FAIL,
            ["dkim.multiple_records"],
            id="two-records-fail",
        ),
        pytest.param(
            lambda: Unknown(NAME, UnknownReason.TIMEOUT),
            CheckStatus.UNKNOWN,
            ["dkim.lookup_failed"],
            id="timeout-unknown-not-missing",
        ),
        pytest.param(
            lambda: Unknown(NAME, UnknownReason.SERVFAIL),
            CheckStatus.UNKNOWN,
            ["dkim.lookup_failed"],
            id="servfail-unknown-not-missing",
        ),
    ],
)
def test_selector_status(
    outcome: Callable[[], Answer | NxDomain | NoData | Unknown],
    status: CheckStatus,
    codes: list[str],
) -> None:
    result = evaluate_selector("s1", outcome())
    assert result.status is status
    assert [f.code for f in result.findings] == codes


def test_selector_result_carries_record_key_and_chain() -> None:
    record = rsa_record(2048, tags="v=DKIM1; k=rsa; t=y")
    chain = ("s1.domainkey.u123.esp.example",)
    result = evaluate_selector("s1", _answer(record, chain=chain))
    assert result == DkimResult(
        selector="s1",
        status=CheckStatus.WARN,
        record=record,
        key_type="rsa",
        key_bits=2048,
        testing=True,
        cname_chain=chain,
        findings=result.findings,
    )


def test_missing_selector_behind_a_dangling_cname_names_the_target() -> None:
    result = evaluate_selector("s1", NxDomain(NAME), dangling_cname="gone.esp.example")
    (finding,) = result.findings
    assert finding.detail["cname_target"] == "gone.esp.example"
    assert result.cname_chain == ("gone.esp.example",)
    assert result.record is None


def _result(outcome: Answer | Unknown, selector: str = "s1") -> DkimResult:
    return evaluate_selector(selector, outcome)


def _codes(result: DkimResult) -> list[str]:
    return [f.code for f in result.findings]


def test_ed25519_alone_is_flagged_and_warns() -> None:
    (result,) = flag_ed25519_only([_result(_answer(ed25519_record()))])
    assert _codes(result) == ["dkim.ed25519_only"]
    assert result.status is CheckStatus.WARN


def test_ed25519_dual_signed_with_usable_rsa_is_not_flagged() -> None:
    results = flag_ed25519_only(
        [_result(_answer(ed25519_record()), "ed"), _result(_answer(rsa_record(1024)), "rsa")]
    )
    assert [_codes(r) for r in results] == [[], ["dkim.key_weak"]]


def test_ed25519_with_only_a_failing_rsa_selector_is_flagged() -> None:
    results = flag_ed25519_only(
        [_result(_answer(ed25519_record()), "ed"), _result(_answer(rsa_record(512)), "rsa")]
    )
    assert _codes(results[0]) == ["dkim.ed25519_only"]


def test_ed25519_is_not_flagged_while_another_selector_is_unknown() -> None:
    results = flag_ed25519_only(
        [
            _result(_answer(ed25519_record()), "ed"),
            _result(Unknown(NAME, UnknownReason.TIMEOUT), "rsa"),
        ]
    )
    assert _codes(results[0]) == []


def test_key_record_name_lowercases_the_selector() -> None:
    assert key_record_name("S1", "example.com") == "s1._domainkey.example.com"


@pytest.mark.parametrize("selector", ["", "a..b", "-x", "x" * 64, "sel ector", "s1._domainkey."])
def test_policy_rejects_malformed_selectors(selector: str) -> None:
    with pytest.raises(ValueError, match="invalid DKIM selector"):
        DkimPolicy(selectors=(selector,))


def test_policy_accepts_multi_label_and_dated_selectors() -> None:
    assert DkimPolicy(("s1", "2023-05-ed25519", "k1.mail", "Google")).selectors[0] == "s1"


def test_base64_module_agrees_that_truncated_text_is_invalid() -> None:
    # Guard for the "base64-truncated" case: dropping 5 characters must break the padding.
    with pytest.raises(ValueError, match=r"."):
        base64.b64decode(_spki_b64()[:-5], validate=True)


@pytest.mark.parametrize(
    "key", ["MIIBIjANé", "MIIB\ufffdIjAN", "ключ"], ids=["accented", "replacement-char", "cyrillic"]
)
def test_non_ascii_key_text_is_a_malformed_key_not_a_crash(key: str) -> None:
    evaluation = evaluate_key_record(f"v=DKIM1; k=rsa; p={key}")
    assert "dkim.malformed_key" in {f.code for f in evaluation.findings}
    assert evaluation.key_bits is None
