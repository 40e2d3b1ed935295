"""parse_arf on synthetic reports: one rule of RFC 5965 / 6650 / 6591 (or JMRP) per test.

The public corpus (tests/unit/test_arf_corpus.py) shows real reporters; these pin each
rule, variant and refusal in isolation, including the negative controls the corpus
lacks (DSN bounces, plain mail, broken MIME).
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib

import pytest

from monitor.ingest.arf import (
    MAX_PARTS,
    FeedbackReport,
    FeedbackType,
    Headers,
    OriginalFormat,
    ReportFormat,
    parse_arf,
    parse_date,
    parse_header_block,
    redact_addresses,
)
from monitor.ingest.errors import IngestError, MalformedReportError, NotArfError
from monitor.model.errors import MonitorError

REPORT_FIELDS = "Feedback-Type: abuse\nUser-Agent: TestFBL/1.0\nVersion: 1\n"
ORIGINAL = (
    "Received: from mta.sender.example (mta.sender.example [192.0.2.10])\n"
    "\tby mx.receiver.example; Thu, 29 Apr 2021 10:00:00 +0000\n"
    "From: News <news@sender.example>\n"
    "To: reader@receiver.example\n"
    "Subject: Weekly news\n"
    "Message-ID: <m1@sender.example>\n"
    "X-Campaign-ID: spring-sale\n"
    "\n"
    "Body text\n"
)


def build(
    report: str | None = REPORT_FIELDS,
    *,
    original: str | None = ORIGINAL,
    original_type: str = "message/rfc822",
    content_type: str = 'multipart/report; report-type=feedback-report; boundary="BOUND"',
    report_headers: str = "Content-Type: message/feedback-report\n",
    top: str = "From: FBL <fbl@reports.example>\nSubject: FW: Weekly news\n",
    close: bool = True,
) -> bytes:
    """An ARF message: human part, feedback-report part, original (each optional)."""
    lines = [top + "MIME-Version: 1.0\n" + f"Content-Type: {content_type}\n\n"]
    lines.append("--BOUND\nContent-Type: text/plain\n\nThis is a feedback report.\n\n")
    if report is not None:
        lines.append(f"--BOUND\n{report_headers}\n{report}\n")
    if original is not None:
        lines.append(f"--BOUND\nContent-Type: {original_type}\n\n{original}\n")
    if close:
        lines.append("--BOUND--\n")
    return "".join(lines).encode("utf-8")


def report_with(fields: str) -> FeedbackReport:
    return parse_arf(build(REPORT_FIELDS + fields))


# --- the basic report ---------------------------------------------------------------


def test_minimal_report_gives_its_required_fields() -> None:
    report = parse_arf(build())
    assert report.report_format is ReportFormat.ARF
    assert report.feedback_type is FeedbackType.ABUSE
    assert not report.feedback_type_missing
    assert report.user_agent == "TestFBL/1.0"
    assert report.version == "1"
    assert report.reporter == "reports.example"
    assert report.incidents == 1


def test_raw_sha256_is_the_digest_of_the_bytes_as_received() -> None:
    raw = build()
    assert parse_arf(raw).raw_sha256 == hashlib.sha256(raw).hexdigest()


def test_report_is_frozen() -> None:
    report = parse_arf(build())
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.user_agent = "changed"  # type: ignore[misc]  # the point: it must refuse


def test_missing_feedback_type_is_abuse_and_flagged() -> None:
    report = parse_arf(build("User-Agent: TestFBL/1.0\nVersion: 1\n"))
    assert report.feedback_type is FeedbackType.ABUSE
    assert report.feedback_type_missing
    assert report.is_complaint


@pytest.mark.parametrize(
    ("token", "expected", "complaint"),
    [
        pytest.param("abuse", FeedbackType.ABUSE, True, id="abuse"),
        pytest.param("fraud", FeedbackType.FRAUD, True, id="fraud"),
        pytest.param("virus", FeedbackType.VIRUS, True, id="virus"),
        pytest.param("other", FeedbackType.OTHER, False, id="other"),
        pytest.param("not-spam", FeedbackType.NOT_SPAM, False, id="not-spam-is-not-a-complaint"),
        pytest.param(
            "auth-failure", FeedbackType.AUTH_FAILURE, False, id="auth-failure-is-not-a-complaint"
        ),
        pytest.param("Abuse", FeedbackType.ABUSE, True, id="case-insensitive"),
        pytest.param("abuse (user clicked)", FeedbackType.ABUSE, True, id="trailing-comment"),
    ],
)
def test_feedback_types_are_kept_distinct(
    token: str, expected: FeedbackType, complaint: bool
) -> None:
    report = parse_arf(build(f"Feedback-Type: {token}\nUser-Agent: T/1\nVersion: 1\n"))
    assert report.feedback_type is expected
    assert report.is_complaint is complaint
    assert report.feedback_type_raw is None


def test_unregistered_feedback_type_is_other_and_keeps_its_token() -> None:
    report = parse_arf(build("Feedback-Type: opt-out\nUser-Agent: T/1\nVersion: 0.1\n"))
    assert report.feedback_type is FeedbackType.OTHER
    assert report.feedback_type_raw == "opt-out"
    assert not report.feedback_type_missing
    assert not report.is_complaint


def test_repeated_feedback_type_takes_the_first() -> None:
    report = report_with("Feedback-Type: not-spam\n")
    assert report.feedback_type is FeedbackType.ABUSE


# --- optional and repeatable fields ---------------------------------------------------


def test_repeatable_fields_keep_every_value_in_order() -> None:
    report = report_with(
        "Original-Rcpt-To: <one@receiver.example>\n"
        "Original-Rcpt-To: Two <two@receiver.example>\n"
        "Reported-Domain: Sender.Example\n"
        "Reported-Domain: other.example\n"
        "Reported-Domain: sender.example\n"
        "Reported-URI: http://sender.example/offer\n"
        "Reported-URI: mailto:offers@sender.example\n"
        "Authentication-Results: mx.receiver.example; spf=fail\n"
        "Authentication-Results: mx.receiver.example; dkim=pass\n"
    )
    assert report.original_rcpt_to == ("one@receiver.example", "two@receiver.example")
    assert report.reported_domains == ("sender.example", "other.example")  # lower-cased, unique
    assert report.reported_uris == (
        "http://sender.example/offer",
        "mailto:offers@sender.example",
    )
    assert report.authentication_results == (
        "mx.receiver.example; spf=fail",
        "mx.receiver.example; dkim=pass",
    )


def test_field_names_are_case_insensitive() -> None:
    report = report_with("source-ip: 192.0.2.9\nORIGINAL-MAIL-FROM: <bounce@sender.example>\n")
    assert report.source_ip == "192.0.2.9"
    assert report.original_mail_from == "bounce@sender.example"


def test_folded_fields_are_unfolded() -> None:
    report = report_with(
        "Authentication-Results: mx.receiver.example;\n"
        "\tspf=fail\n    smtp.mailfrom=sender.example\n"
    )
    assert report.authentication_results == (
        "mx.receiver.example;\tspf=fail    smtp.mailfrom=sender.example",
    )


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("", id="empty"),
        pytest.param("<>", id="null-sender"),
        pytest.param("not an address", id="no-at-sign"),
    ],
)
def test_original_mail_from_without_an_address_is_none(value: str) -> None:
    assert report_with(f"Original-Mail-From: {value}\n").original_mail_from is None


def test_empty_repeatable_values_are_dropped() -> None:
    report = report_with("Authentication-Results: \nOriginal-Rcpt-To: redacted\n")
    assert report.authentication_results == ()
    assert report.original_rcpt_to == ()


def test_original_envelope_id_and_incidents() -> None:
    report = report_with("Original-Envelope-Id: 8BE2660E72\nIncidents: 3\n")
    assert report.original_envelope_id == "8BE2660E72"
    assert report.incidents == 3


def test_reporting_mta_drops_the_name_type() -> None:
    assert report_with("Reporting-MTA: dns; mail.receiver.example\n").reporting_mta == (
        "mail.receiver.example"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("192.0.2.1", "192.0.2.1", id="ipv4"),
        pytest.param("148.163.85.135 (sainay.example.org)", "148.163.85.135", id="with-comment"),
        pytest.param("[192.0.2.1]", "192.0.2.1", id="bracketed"),
        pytest.param("192.0.2.1:2525", "192.0.2.1", id="with-port"),
        pytest.param("2001:DB8::1", "2001:db8::1", id="ipv6-normalised"),
        pytest.param("IPv6:2001:db8::1", "2001:db8::1", id="ipv6-tagged"),
        pytest.param("mail.example.com", None, id="hostname-is-not-an-ip"),
    ],
)
def test_source_ip_forms(value: str, expected: str | None) -> None:
    assert report_with(f"Source-IP: {value}\n").source_ip == expected


def test_rfc6591_auth_failure_fields() -> None:
    report = parse_arf(
        build(
            "Feedback-Type: auth-failure\nUser-Agent: DKIMFilter/1.0\nVersion: 1\n"
            "Auth-Failure: bodyhash\nDelivery-Result: Delivered\n"
            "DKIM-Domain: Sender.Example\nDKIM-Selector: s2024\n"
        )
    )
    assert report.feedback_type is FeedbackType.AUTH_FAILURE
    assert report.auth_failure == "bodyhash"
    assert report.delivery_result == "delivered"
    assert report.dkim_domain == "sender.example"
    assert report.dkim_selector == "s2024"


def test_unextracted_fields_stay_available_in_report_fields() -> None:
    report = report_with("Identity-Alignment: spf,dkim\n")
    assert report.report_fields.get("identity-alignment") == "spf,dkim"


# --- dates -------------------------------------------------------------------------------

UTC = dt.UTC


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            "Thu, 8 Mar 2005 14:00:00 EDT",
            dt.datetime(2005, 3, 8, 18, 0, tzinfo=UTC),
            id="zone-name",
        ),
        pytest.param(
            "Wed, 14 Apr 2010 12:15:31 -0700 (PDT)",
            dt.datetime(2010, 4, 14, 19, 15, 31, tzinfo=UTC),
            id="offset-and-comment",
        ),
        pytest.param(
            "Thu, 30 Dec 10 10:37:16 -0800",
            dt.datetime(2010, 12, 30, 18, 37, 16, tzinfo=UTC),
            id="two-digit-year",
        ),
        pytest.param(
            "30 Dec 2010 14:50:29.0339 (UTC)",
            dt.datetime(2010, 12, 30, 14, 50, 29, tzinfo=UTC),
            id="fractional-seconds-no-weekday",
        ),
        pytest.param(
            "Thu, 30 Dec 2010 19:48:55 UT",
            dt.datetime(2010, 12, 30, 19, 48, 55, tzinfo=UTC),
            id="obsolete-UT",
        ),
        pytest.param(
            "2024-05-01T10:20:30+02:00",
            dt.datetime(2024, 5, 1, 8, 20, 30, tzinfo=UTC),
            id="iso-8601",
        ),
        pytest.param(
            "2024-05-01T10:20:30Z", dt.datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC), id="iso-8601-Z"
        ),
        pytest.param(
            "1 May 2024 10:20:30",
            dt.datetime(2024, 5, 1, 10, 20, 30, tzinfo=UTC),
            id="no-zone-is-utc",
        ),
        pytest.param("yesterday", None, id="garbage"),
        pytest.param("Thu, 31 Feb 2024 10:00:00 +0000", None, id="impossible-date"),
    ],
)
def test_dates_are_parsed_tolerantly_into_aware_datetimes(
    value: str, expected: dt.datetime | None
) -> None:
    parsed = parse_date(value)
    assert parsed == expected
    assert parsed is None or parsed.tzinfo is not None


def test_arrival_date_falls_back_to_the_historic_received_date() -> None:
    report = report_with("Received-Date: Thu, 8 Mar 2005 14:00:00 -0400\n")
    assert report.arrival_date == dt.datetime(2005, 3, 8, 18, 0, tzinfo=UTC)


def test_arrival_date_wins_over_received_date() -> None:
    report = report_with(
        "Received-Date: Thu, 8 Mar 2005 14:00:00 -0400\n"
        "Arrival-Date: Fri, 9 Mar 2005 1:00:00 +0000\n"
    )
    assert report.arrival_date == dt.datetime(2005, 3, 9, 1, 0, tzinfo=UTC)


# --- line endings, encodings, charsets ---------------------------------------------------


def _without_digest(report: FeedbackReport) -> FeedbackReport:
    return dataclasses.replace(report, raw_sha256="")


@pytest.mark.parametrize(
    "newline", [pytest.param(b"\r\n", id="crlf"), pytest.param(b"\r", id="cr-only")]
)
def test_line_endings_are_normalised(newline: bytes) -> None:
    raw = build(REPORT_FIELDS + "Original-Rcpt-To: a@receiver.example\n")
    converted = raw.replace(b"\n", newline)
    assert _without_digest(parse_arf(converted)) == _without_digest(parse_arf(raw))


def test_base64_feedback_report_part_with_crlf_inside() -> None:
    encoded = base64.encodebytes(REPORT_FIELDS.replace("\n", "\r\n").encode()).decode()
    report = parse_arf(
        build(
            encoded,
            report_headers=(
                'Content-Type: message/feedback-report; name="ATT00001"\n'
                "Content-Transfer-Encoding: base64\n"
            ),
        )
    )
    assert report.user_agent == "TestFBL/1.0"
    assert report.version == "1"


def test_undecodable_base64_feedback_part_is_malformed() -> None:
    raw = build(
        "abc",  # a single base64 character cannot be decoded
        report_headers="Content-Type: message/feedback-report\nContent-Transfer-Encoding: base64\n",
    )
    with pytest.raises(MalformedReportError) as caught:
        parse_arf(raw)
    assert caught.value.reason == "undecodable"


def test_quoted_printable_feedback_report_part() -> None:
    report = parse_arf(
        build(
            "Feedback-Type: abuse\nUser-Agent: Very=20Long=\n Agent/1.0\nVersion: 1\n",
            report_headers=(
                "Content-Type: message/feedback-report\n"
                "Content-Transfer-Encoding: quoted-printable\n"
            ),
        )
    )
    assert report.user_agent == "Very Long Agent/1.0"


def test_latin1_and_utf8_header_bytes_are_decoded_without_failing() -> None:
    raw = build(original="Subject: caf\xe9\nX-Campaign-ID: s\xfcd\n\nbody\n")
    latin1 = raw.decode("utf-8").encode("latin-1")
    assert parse_arf(latin1).original_headers is not None
    headers = parse_arf(raw).original_headers
    assert headers is not None
    assert headers.get("X-Campaign-ID") == "s\xfcd"


def test_multipart_mixed_with_a_feedback_report_part_is_arf() -> None:
    report = parse_arf(build(content_type='multipart/mixed; boundary="BOUND"'))
    assert report.report_format is ReportFormat.ARF


def test_folded_content_type_and_unquoted_boundary() -> None:
    report = parse_arf(
        build(content_type='multipart/report;\n\treport-type="feedback-report";\n boundary=BOUND')
    )
    assert report.feedback_type is FeedbackType.ABUSE


def test_missing_close_delimiter_is_tolerated() -> None:
    report = parse_arf(build(close=False))
    assert report.original_headers is not None
    assert report.original_headers.get("Subject") == "Weekly news"


def test_a_longer_line_starting_with_the_boundary_is_not_a_delimiter() -> None:
    original = ORIGINAL.replace("Body text", "--BOUNDARY-LIKE line in the body")
    report = parse_arf(build(original=original))
    assert report.original_headers is not None


def test_mbox_from_line_before_the_headers_is_skipped() -> None:
    report = parse_arf(b"From fbl@reports.example Tue Apr 30 02:09:16 2019\n" + build())
    assert report.reporter == "reports.example"


# --- the original message -----------------------------------------------------------------


def test_full_original_keeps_its_header_block_only() -> None:
    report = parse_arf(build())
    assert report.original_format is OriginalFormat.MESSAGE
    assert report.original_headers is not None
    assert report.original_headers.get("x-campaign-id") == "spring-sale"
    assert "Body text" not in repr(report.original_headers.fields)


def test_header_only_original() -> None:
    headers_only = ORIGINAL.split("\n\n")[0] + "\n"
    report = parse_arf(build(original=headers_only, original_type="text/rfc822-headers"))
    assert report.original_format is OriginalFormat.HEADERS
    assert report.original_headers is not None
    assert report.original_headers.get("Message-ID") == "<m1@sender.example>"
    assert len(report.original_headers.get_all("Received")) == 1


def test_singular_rfc822_header_type_is_accepted() -> None:
    report = parse_arf(
        build(original="Subject: x\nFrom: a@b.example\n", original_type="text/rfc822-header")
    )
    assert report.original_format is OriginalFormat.HEADERS


def test_original_headers_pasted_in_a_text_part_are_inline() -> None:
    report = parse_arf(build(original=ORIGINAL, original_type="text/plain"))
    assert report.original_format is OriginalFormat.INLINE
    assert report.original_headers is not None
    assert report.original_headers.get("X-Campaign-ID") == "spring-sale"


def test_report_without_original() -> None:
    report = parse_arf(build(original=None))
    assert report.original_format is None
    assert report.original_headers is None


def test_redacted_original_has_no_fields() -> None:
    report = parse_arf(build(original="REDACTED\n"))
    assert report.original_format is OriginalFormat.MESSAGE
    assert report.original_headers is not None
    assert len(report.original_headers) == 0


# --- Microsoft JMRP ----------------------------------------------------------------------

JMRP_ORIGINAL = (
    "X-HmXmrOriginalRecipient: reader@hotmail.example\n"
    "X-Reporter-IP: 198.51.100.7\n"
    "Return-Path: bounce@sender.example\n"
    "Received: from mta.sender.example ([192.0.2.10]) by mx.hotmail.example;\n"
    "\tThu, 30 Dec 2010 06:50:29 -0800\n"
    "From: News <news@sender.example>\n"
    "X-OriginalArrivalTime: 30 Dec 2010 14:50:29.0339 (UTC) FILETIME=[E6BF62B0:01CBA830]\n"
    "\n"
    "Body\n"
)


def build_jmrp(
    original: str = JMRP_ORIGINAL, subject: str = "complaint about message from 192.0.2.10"
) -> bytes:
    return build(
        None,
        original=original,
        content_type='multipart/mixed; boundary="BOUND"',
        top=f"From: staff@hotmail.com\nSubject: {subject}\n",
    )


def test_jmrp_without_feedback_report_part_is_parsed_from_the_attached_original() -> None:
    report = parse_arf(build_jmrp())
    assert report.report_format is ReportFormat.JMRP
    assert report.feedback_type is FeedbackType.ABUSE
    assert report.original_rcpt_to == ("reader@hotmail.example",)
    assert report.source_ip == "192.0.2.10"
    assert report.original_mail_from == "bounce@sender.example"
    assert report.arrival_date == dt.datetime(2010, 12, 30, 14, 50, 29, tzinfo=UTC)
    assert report.reporter == "hotmail.com"


def test_jmrp_is_recognised_by_reporter_and_subject_without_the_recipient_header() -> None:
    anonymised = JMRP_ORIGINAL.replace("X-HmXmrOriginalRecipient: reader@hotmail.example\n", "")
    report = parse_arf(build_jmrp(anonymised))
    assert report.report_format is ReportFormat.JMRP
    assert report.original_rcpt_to == ()


def test_forwarded_message_from_someone_else_is_not_jmrp() -> None:
    anonymised = JMRP_ORIGINAL.replace("X-HmXmrOriginalRecipient: reader@hotmail.example\n", "")
    raw = build_jmrp(anonymised, subject="FW: look at this")
    with pytest.raises(NotArfError) as caught:
        parse_arf(raw)
    assert caught.value.reason == "no_feedback_report"


# --- refusals ----------------------------------------------------------------------------

PLAIN = b"From: a@sender.example\nTo: b@receiver.example\nSubject: hi\n\nHello\n"
DSN = (
    b"From: MAILER-DAEMON@mx.example\nTo: bounce@sender.example\nSubject: Undelivered\n"
    b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
    b"--B\nContent-Type: text/plain\n\nCould not deliver.\n"
    b"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
    b"Final-Recipient: rfc822; gone@receiver.example\nAction: failed\nStatus: 5.1.1\n"
    b"--B\nContent-Type: text/rfc822-headers\n\nFrom: a@sender.example\n"
    b"--B--\n"
)
DSN_MIXED = DSN.replace(b"multipart/report; report-type=delivery-status", b"multipart/mixed")
MDN = DSN.replace(b"delivery-status", b"disposition-notification")
MIXED = (
    b'From: a@sender.example\nContent-Type: multipart/mixed; boundary="B"\n\n'
    b"--B\nContent-Type: text/plain\n\nsee attached\n"
    b"--B\nContent-Type: application/pdf\n\nJVBERi0=\n--B--\n"
)


@pytest.mark.parametrize(
    ("raw", "error", "reason"),
    [
        pytest.param(b"", MalformedReportError, "empty", id="empty"),
        pytest.param(b"  \r\n\n\t", MalformedReportError, "empty", id="whitespace-only"),
        pytest.param(
            b"\x00\x01\xff binary junk", MalformedReportError, "undecodable", id="no-headers"
        ),
        pytest.param(PLAIN, NotArfError, "not_multipart_report", id="plain-message"),
        pytest.param(DSN, NotArfError, "delivery_status_notification", id="dsn-bounce"),
        pytest.param(
            DSN_MIXED, NotArfError, "delivery_status_notification", id="dsn-part-in-mixed"
        ),
        pytest.param(MDN, NotArfError, "other_report_type", id="read-receipt-mdn"),
        pytest.param(MIXED, NotArfError, "no_feedback_report", id="multipart-without-report"),
        pytest.param(
            build(content_type="multipart/report; report-type=feedback-report"),
            MalformedReportError,
            "missing_boundary",
            id="no-boundary",
        ),
        pytest.param(
            build(content_type='multipart/report; boundary="ELSEWHERE"'),
            MalformedReportError,
            "no_mime_parts",
            id="boundary-never-occurs",
        ),
        pytest.param(
            build("this is not a header block\n"),
            MalformedReportError,
            "bad_feedback_report_part",
            id="report-part-without-fields",
        ),
        pytest.param(
            build("X-Unrelated: 1\n"),
            MalformedReportError,
            "bad_feedback_report_part",
            id="report-part-without-arf-fields",
        ),
        pytest.param(
            build(original="".join(f"--BOUND\n\npart {i}\n" for i in range(MAX_PARTS + 1))),
            MalformedReportError,
            "too_many_parts",
            id="too-many-parts",
        ),
    ],
)
def test_refusals_carry_a_stable_reason(raw: bytes, error: type[IngestError], reason: str) -> None:
    with pytest.raises(error) as caught:
        parse_arf(raw)
    assert caught.value.reason == reason


def test_refusals_belong_to_the_monitor_exception_tree() -> None:
    assert issubclass(NotArfError, IngestError)
    assert issubclass(MalformedReportError, IngestError)
    assert issubclass(IngestError, MonitorError)


def test_refusal_messages_never_quote_the_input() -> None:
    with pytest.raises(NotArfError) as caught:
        parse_arf(PLAIN)
    for text in (str(caught.value), repr(caught.value)):
        assert "@" not in text
        assert "sender.example" not in text


# --- privacy in repr ---------------------------------------------------------------------


def test_repr_redacts_every_address() -> None:
    report = report_with(
        "Original-Mail-From: <bounce@sender.example>\n"
        "Original-Rcpt-To: reader@receiver.example\n"
        "Reported-URI: mailto:reader@receiver.example\n"
        "Authentication-Results: mx; spf=fail smtp.mailfrom=bounce@sender.example\n"
    )
    report = dataclasses.replace(report, user_agent="Agent contact=ops@fbl.example")
    for text in (repr(report), str(report)):
        assert "@" not in text.replace("<redacted>", "")
        assert "receiver.example" not in text
    assert "original_rcpt_to=<1 redacted>" in repr(report)


def test_headers_repr_shows_no_values() -> None:
    headers = parse_header_block("From: someone@sender.example\nTo: x@receiver.example\n")
    assert repr(headers) == "Headers(<2 fields>)"


def test_redact_addresses() -> None:
    # The whole token goes: '=' may be part of a local part (VERP, SRS).
    assert redact_addresses("mailfrom=a.b+c=d@x.example; ok") == "<redacted>; ok"
    assert redact_addresses("To: <a@x.example>, b@y.example") == "To: <<redacted>>, <redacted>"
    assert redact_addresses("no address here") == "no address here"
    quoted = '550 5.1.1 <"john doe"@example.org>: said "no" to x@example.org'
    assert redact_addresses(quoted) == '550 5.1.1 <<redacted>>: said "no" to <redacted>'
    assert redact_addresses('"a"@example.org "b" c@example.org') == '<redacted> "b" <redacted>'
    escaped = r'550 5.1.1 <"john\"doe smith"@example.org> unknown'
    assert redact_addresses(escaped) == "550 5.1.1 <<redacted>> unknown"
    # Percent-encoded, as in a URL's query string.
    assert redact_addresses("Agent (for dave%40example.org)") == "Agent (for <redacted>)"


@pytest.mark.parametrize(
    "written",
    [
        "john&#46;smith&#64;example&#46;org",
        "john.smith&#064;example.org",
        "john.smith&#x40;example.org",
        "john.smith&#X40;example.org",
        "john.smith&commat;example.org",
    ],
)
def test_redact_addresses_written_with_html_character_references(written: str) -> None:
    """An HTML bounce may write the '@' (and the dots) as character references."""
    assert redact_addresses(f"John Q. Smith ({written}) unknown") == (
        "John Q. Smith (<redacted>) unknown"
    )
    assert redact_addresses("AT&T &amp; Co. &#8212; no address") == (
        "AT&T &amp; Co. &#8212; no address"
    )


# --- the header list ------------------------------------------------------------------


def test_headers_are_ordered_repeatable_and_case_insensitive() -> None:
    headers = Headers.from_pairs([("Received", "one"), ("Subject", "s"), ("RECEIVED", "two")])
    assert headers.get("received") == "one"
    assert headers.get_all("Received") == ("one", "two")
    assert headers.count("received") == 2
    assert "subject" in headers
    assert "Missing" not in headers
    assert headers.get("Missing") is None
    assert len(headers) == 3
    assert list(headers) == [("Received", "one"), ("Subject", "s"), ("RECEIVED", "two")]


def test_header_block_skips_lines_that_are_not_fields() -> None:
    headers = parse_header_block(
        "From Tim Tue Dec 28 2010\nSubject: x\n orphan? no: folded\nREDACTED\n"
    )
    assert headers.fields == (("Subject", "x orphan? no: folded"),)


def test_the_idempotency_key_ignores_line_endings() -> None:
    """IMAP serves CRLF, files often hold LF: one report must have one key."""
    lf = (
        b"From: fbl@example.net\nTo: abuse@example.com\nSubject: FW\nMIME-Version: 1.0\n"
        b'Content-Type: multipart/report; report-type=feedback-report; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nA complaint.\n"
        b"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n"
        b"User-Agent: test/1.0\nVersion: 1\n\n"
        b"--b\nContent-Type: text/rfc822-headers\n\nFrom: news@example.com\n"
        b"Subject: Hello\n\n--b--\n"
    )
    crlf = lf.replace(b"\n", b"\r\n")
    assert parse_arf(lf).raw_sha256 == parse_arf(crlf).raw_sha256


@pytest.mark.parametrize(
    ("incidents", "expected"),
    [("\u00b2", 1), ("9" * 5000, 1), ("7", 7)],
    ids=["superscript", "5000-digits", "seven"],
)
def test_incidents_that_int_refuses_are_read_as_one(incidents: str, expected: int) -> None:
    """Found by the hostile-input tests: "²".isdigit() is true and int() refuses it, as it
    refuses 5,000 digits (a 500 before)."""
    assert report_with(f"Incidents: {incidents}\n").incidents == expected
