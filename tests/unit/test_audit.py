"""The original-message audit: RFC 8058 one-click, DKIM h= coverage, Gmail's Feedback-ID rules."""

from __future__ import annotations

import pytest

from monitor.ingest.arf import Headers, parse_arf
from monitor.ingest.audit import AuditFinding, OriginalAudit, audit_original, check_feedback_id

HTTPS = "<https://unsub.sender.example/u/opaque-token>"
POST = "List-Unsubscribe=One-Click"
SIGNED = (
    "v=1; a=rsa-sha256; c=relaxed/relaxed; d=sender.example; s=s1;\r\n"
    " h=From:To:Subject:Date:List-Unsubscribe:List-Unsubscribe-Post:Feedback-ID;\r\n"
    " bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=; b=AAAA"
)


def audit(*pairs: tuple[str, str]) -> OriginalAudit:
    result = audit_original(Headers.from_pairs(pairs))
    assert result is not None
    return result


def compliant(**replace: str | None) -> OriginalAudit:
    """A one-click compliant message with some fields replaced (None: removed)."""
    fields: dict[str, str | None] = {
        "List-Unsubscribe": HTTPS,
        "List-Unsubscribe-Post": POST,
        "DKIM-Signature": SIGNED,
        "Feedback-ID": "camp1:cust2:promo:sender01",
    }
    fields.update({key.replace("_", "-"): value for key, value in replace.items()})
    return audit(*((name, value) for name, value in fields.items() if value is not None))


def test_compliant_message() -> None:
    result = compliant()
    assert result.has_list_unsubscribe_https
    assert result.has_one_click_post
    assert result.dkim_covers_list_unsubscribe
    assert result.has_feedback_id
    assert result.feedback_id_well_formed
    assert result.one_click_compliant
    assert result.findings == ()


def test_no_original_means_no_audit() -> None:
    assert audit_original(None) is None


def test_original_without_any_field_means_no_audit() -> None:
    assert audit_original(Headers()) is None


def test_header_only_original_is_audited() -> None:
    raw = (
        'From: fbl@reports.example\nContent-Type: multipart/report; boundary="B"\n\n'
        "--B\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
        "User-Agent: T/1\nVersion: 1\n"
        "--B\nContent-Type: text/rfc822-headers\n\n"
        f"List-Unsubscribe: <mailto:u@sender.example>,\n {HTTPS}\n"
        f"List-Unsubscribe-Post: {POST}\nDKIM-Signature: {SIGNED}\n"
        "--B--\n"
    ).encode()
    result = audit_original(parse_arf(raw).original_headers)
    assert result is not None
    assert result.one_click_compliant
    assert result.findings == (AuditFinding.FEEDBACK_ID_MISSING,)


# --- List-Unsubscribe -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(HTTPS, True, id="https"),
        pytest.param(
            f"<mailto:unsub@sender.example?subject=u>, {HTTPS}", True, id="mailto-and-https"
        ),
        pytest.param("<HTTPS://Unsub.Sender.Example/x>", True, id="scheme-case-insensitive"),
        pytest.param(
            "<https://unsub.sender.example/u/\r\n tok>", True, id="folded-inside-brackets"
        ),
        pytest.param("<http://unsub.sender.example/u>", False, id="plain-http"),
        pytest.param("<mailto:unsub@sender.example>", False, id="mailto-only"),
        pytest.param("https://unsub.sender.example/u", False, id="no-angle-brackets"),
        pytest.param("<https:///path-without-host>", False, id="no-host"),
        pytest.param("<https://[::1>", False, id="invalid-uri"),
    ],
)
def test_list_unsubscribe_https(value: str, expected: bool) -> None:
    result = compliant(List_Unsubscribe=value)
    assert result.has_list_unsubscribe_https is expected
    assert result.one_click_compliant is expected
    assert (AuditFinding.LIST_UNSUBSCRIBE_NO_HTTPS in result.findings) is not expected


def test_missing_list_unsubscribe() -> None:
    result = compliant(List_Unsubscribe=None)
    assert not result.has_list_unsubscribe_https
    assert AuditFinding.LIST_UNSUBSCRIBE_MISSING in result.findings


# --- List-Unsubscribe-Post (RFC 8058 §3.1) ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected", "finding"),
    [
        pytest.param(POST, True, None, id="exact"),
        pytest.param(f"  {POST}  ", True, None, id="surrounding-space-ignored"),
        pytest.param(
            "list-unsubscribe=one-click", False, AuditFinding.ONE_CLICK_MALFORMED, id="wrong-case"
        ),
        pytest.param(
            f"{POST}; extra=1", False, AuditFinding.ONE_CLICK_MALFORMED, id="extra-parameter"
        ),
        pytest.param(
            "List-Unsubscribe = One-Click",
            False,
            AuditFinding.ONE_CLICK_MALFORMED,
            id="spaces-around-equals",
        ),
        pytest.param("", False, AuditFinding.ONE_CLICK_MALFORMED, id="empty"),
        pytest.param(None, False, AuditFinding.ONE_CLICK_MISSING, id="missing"),
    ],
)
def test_one_click_post_must_match_exactly(
    value: str | None, expected: bool, finding: AuditFinding | None
) -> None:
    result = compliant(List_Unsubscribe_Post=value)
    assert result.has_one_click_post is expected
    assert result.one_click_compliant is expected
    if finding is not None:
        assert finding in result.findings


def test_repeated_one_click_post_is_not_one_click() -> None:
    result = audit(
        ("List-Unsubscribe", HTTPS),
        ("List-Unsubscribe-Post", POST),
        ("List-Unsubscribe-Post", POST),
        ("DKIM-Signature", SIGNED),
    )
    assert not result.has_one_click_post
    assert AuditFinding.ONE_CLICK_REPEATED in result.findings


# --- DKIM h= coverage (RFC 8058 §4) ------------------------------------------------------


@pytest.mark.parametrize(
    ("signature", "expected"),
    [
        pytest.param(SIGNED, True, id="both-listed"),
        pytest.param(
            "d=s.example; s=s1; h=from : LIST-UNSUBSCRIBE :\r\n\tlist-unsubscribe-post; b=x",
            True,
            id="case-and-folding-whitespace",
        ),
        pytest.param(
            "d=s.example; h=From:List-Unsubscribe; b=x", False, id="post-header-not-signed"
        ),
        pytest.param(
            "d=s.example; h=From:List-Unsubscribe-Post; b=x", False, id="uri-header-not-signed"
        ),
        pytest.param(
            "d=s.example; bh=List-Unsubscribe:List-Unsubscribe-Post; h=From; b=x",
            False,
            id="bh-tag-is-not-h",
        ),
        pytest.param("d=s.example; s=s1; b=x", False, id="no-h-tag"),
    ],
)
def test_dkim_must_cover_both_headers(signature: str, expected: bool) -> None:
    result = compliant(DKIM_Signature=signature)
    assert result.dkim_covers_list_unsubscribe is expected
    assert result.one_click_compliant is expected
    assert (AuditFinding.DKIM_NOT_COVERED in result.findings) is not expected


def test_any_one_signature_covering_both_is_enough() -> None:
    result = audit(
        ("DKIM-Signature", "d=esp.example; h=From:To; b=x"),
        ("DKIM-Signature", SIGNED),
        ("List-Unsubscribe", HTTPS),
        ("List-Unsubscribe-Post", POST),
    )
    assert result.dkim_covers_list_unsubscribe
    assert result.one_click_compliant


def test_unsigned_message() -> None:
    result = compliant(DKIM_Signature=None)
    assert not result.dkim_covers_list_unsubscribe
    assert AuditFinding.DKIM_UNSIGNED in result.findings


# --- Feedback-ID (Gmail) ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "findings"),
    [
        pytest.param(("camp1:cust2:promo:sender01",), (), id="four-fields"),
        pytest.param(("camp1:sender01",), (), id="two-fields"),
        pytest.param(("sender01",), (), id="sender-id-alone"),
        pytest.param((" camp1:sender01 ",), (), id="surrounding-space"),
        pytest.param(("1.us-west-2.abcdef0123456789=:AmazonSES",), (), id="ses-is-well-formed-too"),
        pytest.param(("12345",), (), id="sender-id-5-chars"),
        pytest.param(("a" * 15,), (), id="sender-id-15-chars"),
        pytest.param((), (AuditFinding.FEEDBACK_ID_MISSING,), id="missing"),
        pytest.param(
            ("a:sender01", "b:sender01"), (AuditFinding.FEEDBACK_ID_REPEATED,), id="two-headers"
        ),
        pytest.param(
            ("a:b:c:d:sender01",), (AuditFinding.FEEDBACK_ID_TOO_MANY_FIELDS,), id="five-fields"
        ),
        pytest.param(
            ("camp1::promo:sender01",), (AuditFinding.FEEDBACK_ID_EMPTY_FIELD,), id="empty-field"
        ),
        pytest.param(
            ("camp 1:sender01",), (AuditFinding.FEEDBACK_ID_INVALID_CHARACTER,), id="inner-space"
        ),
        pytest.param(
            ("caf\xe9:sender01",), (AuditFinding.FEEDBACK_ID_INVALID_CHARACTER,), id="non-ascii"
        ),
        pytest.param(("2",), (AuditFinding.FEEDBACK_ID_SENDER_ID_LENGTH,), id="sender-id-1-char"),
        pytest.param(
            ("camp1:1234",), (AuditFinding.FEEDBACK_ID_SENDER_ID_LENGTH,), id="sender-id-4-chars"
        ),
        pytest.param(
            ("camp1:" + "a" * 16,),
            (AuditFinding.FEEDBACK_ID_SENDER_ID_LENGTH,),
            id="sender-id-16-chars",
        ),
        pytest.param(
            ("camp1:",),
            (AuditFinding.FEEDBACK_ID_EMPTY_FIELD, AuditFinding.FEEDBACK_ID_SENDER_ID_LENGTH),
            id="empty-sender-id",
        ),
        pytest.param(
            ("sender01:cust:sender01",),
            (AuditFinding.FEEDBACK_ID_REPEATED_IDENTIFIER,),
            id="identifier-repeated-across-fields",
        ),
    ],
)
def test_feedback_id_rules(values: tuple[str, ...], findings: tuple[AuditFinding, ...]) -> None:
    assert check_feedback_id(values) == findings
    result = audit(("Subject", "x"), *(("Feedback-ID", value) for value in values))
    assert result.has_feedback_id is bool(values)
    assert result.feedback_id_well_formed is (findings == ())


def test_feedback_id_does_not_affect_one_click() -> None:
    result = compliant(Feedback_ID="x")
    assert result.one_click_compliant
    assert not result.feedback_id_well_formed


# --- codes -------------------------------------------------------------------------------


def test_finding_codes_are_stable() -> None:
    assert {finding.value for finding in AuditFinding} == {
        "audit.list_unsubscribe.missing",
        "audit.list_unsubscribe.no_https",
        "audit.one_click.missing",
        "audit.one_click.malformed",
        "audit.one_click.repeated",
        "audit.dkim.unsigned",
        "audit.dkim.list_unsubscribe_not_covered",
        "audit.feedback_id.missing",
        "audit.feedback_id.repeated",
        "audit.feedback_id.too_many_fields",
        "audit.feedback_id.empty_field",
        "audit.feedback_id.invalid_character",
        "audit.feedback_id.sender_id_length",
        "audit.feedback_id.repeated_identifier",
    }


def test_a_bare_message_collects_one_finding_per_check() -> None:
    assert audit(("Subject", "hello")).findings == (
        AuditFinding.LIST_UNSUBSCRIBE_MISSING,
        AuditFinding.ONE_CLICK_MISSING,
        AuditFinding.DKIM_UNSIGNED,
        AuditFinding.FEEDBACK_ID_MISSING,
    )
