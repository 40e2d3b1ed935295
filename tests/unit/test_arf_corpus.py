"""Every ARF sample of ../shared/corpus/arf/ through parse_arf, against an explicit table.

The table names every ``.eml`` (a corpus file missing from it fails, and so does a row
whose file is gone): parsed with its feedback type, report format, original format and
mailbox provider, or refused with a reason. The public corpus holds only reports; the
negative controls (DSN, plain mail, broken MIME) are in tests/unit/test_arf.py.

Where upstream's ``*.expected.json`` exists (stalwartlabs/mail-auth), the fields we
extract must agree with it; ``NOT_EXTRACTED`` says which of its keys we leave out, and why.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from corpus import corpus_params

from monitor.ingest.arf import (
    FeedbackReport,
    FeedbackType,
    OriginalFormat,
    ReportFormat,
    parse_arf,
    parse_header_block,
)
from monitor.ingest.attribution import attribute_campaign, provider_of
from monitor.ingest.audit import audit_original
from monitor.ingest.errors import IngestError
from monitor.model.events import Provider

ARF = "arf"


class Parsed(NamedTuple):
    feedback_type: FeedbackType
    report_format: ReportFormat
    original: OriginalFormat | None
    provider: Provider


class Refused(NamedTuple):
    reason: str


A, AF, OTHER = FeedbackType.ABUSE, FeedbackType.AUTH_FAILURE, FeedbackType.OTHER
MSG, HDRS = OriginalFormat.MESSAGE, OriginalFormat.HEADERS
P = Provider

EXPECTED: dict[str, Parsed | Refused] = {
    "abusix-spamtrap__sisimai__arf-17.eml": Parsed(A, ReportFormat.ARF, MSG, P.OTHER),
    "aol-scomp__email-arf-report-aol__SampleARFReport1.eml": Parsed(
        A, ReportFormat.ARF, MSG, P.YAHOO
    ),
    "aol-scomp__email-arf-report-aol__SampleARFReport3.eml": Parsed(
        A, ReportFormat.ARF, MSG, P.YAHOO
    ),
    "aol-scomp__phpbh__fbl-aol.eml": Parsed(A, ReportFormat.ARF, MSG, P.YAHOO),
    "authfailure-linkedin__parsedmarc__dmarc_ruf_report_linkedin.eml": Parsed(
        AF, ReportFormat.ARF, MSG, P.OTHER
    ),
    "authfailure-lua__parsedmarc__domain.de.eml": Parsed(AF, ReportFormat.ARF, MSG, P.OTHER),
    "authfailure-lua__sisimai__arf-18.eml": Parsed(AF, ReportFormat.ARF, MSG, P.OTHER),
    # multipart/mixed (not /report) with a base64 feedback-report part holding CRLF lines
    "authfailure-netease__parsedmarc__netease_rent_reminder.eml": Parsed(
        AF, ReportFormat.ARF, MSG, P.OTHER
    ),
    "authfailure-opendmarc__mail-auth__004.eml": Parsed(AF, ReportFormat.ARF, HDRS, P.OTHER),
    "authfailure-opendmarc__sisimai__arf-20.eml": Parsed(AF, ReportFormat.ARF, HDRS, P.OTHER),
    "authfailure-rfc6591__mail-auth__003.eml": Parsed(AF, ReportFormat.ARF, MSG, P.OTHER),
    "comcast__phpbh__fbl-comcast.eml": Parsed(A, ReportFormat.ARF, MSG, P.COMCAST),
    # the pre-RFC "opt-out" type: reported as other (not a complaint), token kept
    "generic-rfc5965-optout__phpbh__arf2.eml": Parsed(OTHER, ReportFormat.ARF, HDRS, P.OTHER),
    "generic-rfc5965__mail-auth__001.eml": Parsed(A, ReportFormat.ARF, MSG, P.OTHER),
    "generic-rfc5965__mail-auth__002.eml": Parsed(A, ReportFormat.ARF, MSG, P.OTHER),
    "generic-rfc5965__phpbh__arf1.eml": Parsed(A, ReportFormat.ARF, MSG, P.OTHER),
    "generic__sisimai__arf-11.eml": Parsed(A, ReportFormat.ARF, MSG, P.OTHER),
    "microsoft-jmrp__phpbh__fbl-hotmail.eml": Parsed(A, ReportFormat.JMRP, MSG, P.MICROSOFT),
    "microsoft-jmrp__sisimai__arf-22.eml": Parsed(A, ReportFormat.JMRP, MSG, P.MICROSOFT),
    "microsoft-jmrp__sisimai__arf-23.eml": Parsed(A, ReportFormat.JMRP, MSG, P.MICROSOFT),
    # its message/rfc822 part is the single word REDACTED: an original with no fields
    "rackspace-returnpath__sisimai__arf-25.eml": Parsed(A, ReportFormat.ARF, MSG, P.OTHER),
    "returnpath-fbl__sisimai__arf-15.eml": Parsed(A, ReportFormat.ARF, MSG, P.OTHER),
    "smp-fbl__sisimai__arf-01.eml": Parsed(A, ReportFormat.ARF, MSG, P.OTHER),
    "yahoo-v1__phpbh__fbl-yahoo.eml": Parsed(A, ReportFormat.ARF, MSG, P.YAHOO),
    "yahoo-v1__sisimai__arf-02.eml": Parsed(A, ReportFormat.ARF, MSG, P.YAHOO),
    # re-sent by Amazon SES: Yahoo recognised by the User-Agent
    "yahoo-v2-via-amazonses__sisimai__arf-14.eml": Parsed(A, ReportFormat.ARF, MSG, P.YAHOO),
}

ADDRESS = re.compile(rb"[A-Za-z0-9._%+=-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _recipient_domain(report: FeedbackReport) -> str | None:
    return report.original_rcpt_to[0].rpartition("@")[2] if report.original_rcpt_to else None


def test_the_table_names_every_corpus_file_and_nothing_else(corpus_dir: Path) -> None:
    files = {path.name for path in (corpus_dir / ARF).glob("*.eml")}
    assert sorted(files - EXPECTED.keys()) == [], "corpus files missing from EXPECTED"
    assert sorted(EXPECTED.keys() - files) == [], "EXPECTED rows without a corpus file"


@pytest.mark.parametrize("path", corpus_params("arf/*.eml"))
def test_corpus_file_is_parsed_or_refused_as_the_table_says(
    path: Path | None, corpus_dir: Path
) -> None:
    assert path is not None
    expected = EXPECTED[path.name]
    raw = path.read_bytes()
    if isinstance(expected, Refused):
        with pytest.raises(IngestError) as caught:
            parse_arf(raw)
        assert caught.value.reason == expected.reason
        return
    report = parse_arf(raw)
    provider = provider_of(report.reporter, _recipient_domain(report), report.user_agent)
    assert (
        Parsed(report.feedback_type, report.report_format, report.original_format, provider)
        == expected
    )
    assert report.arrival_date is None or report.arrival_date.tzinfo is not None


@pytest.mark.parametrize("path", corpus_params("arf/*.eml"))
@pytest.mark.parametrize(
    "newline", [pytest.param(b"\r\n", id="crlf"), pytest.param(b"\r", id="cr-only")]
)
def test_corpus_file_parses_the_same_with_other_line_endings(
    path: Path | None, newline: bytes, corpus_dir: Path
) -> None:
    assert path is not None
    raw = path.read_bytes()
    if isinstance(EXPECTED[path.name], Refused):
        pytest.skip("a refused sample")  # refusals are pinned by the table test
    converted = parse_arf(raw.replace(b"\n", newline))
    assert dataclasses.replace(converted, raw_sha256="") == dataclasses.replace(
        parse_arf(raw), raw_sha256=""
    )


def test_corpus_details_that_were_easy_to_get_wrong(corpus_dir: Path) -> None:
    def parse(name: str) -> FeedbackReport:
        return parse_arf((corpus_dir / ARF / name).read_bytes())

    optout = parse("generic-rfc5965-optout__phpbh__arf2.eml")
    assert optout.feedback_type_raw == "opt-out"
    assert not optout.is_complaint

    abusix = parse("abusix-spamtrap__sisimai__arf-17.eml")
    assert len(abusix.original_rcpt_to) == 2  # repeated Original-Rcpt-To

    rackspace = parse("rackspace-returnpath__sisimai__arf-25.eml")
    assert rackspace.source_ip == "10.0.0.1"  # "Source-Ip" in lower case
    assert rackspace.original_headers is not None
    assert len(rackspace.original_headers) == 0
    assert audit_original(rackspace.original_headers) is None

    jmrp = parse("microsoft-jmrp__phpbh__fbl-hotmail.eml")
    assert jmrp.original_rcpt_to == ("somerecipient@hotmail.com",)  # X-HmXmrOriginalRecipient
    assert jmrp.source_ip == "24.64.1.1"

    netease = parse("authfailure-netease__parsedmarc__netease_rent_reminder.eml")
    assert netease.user_agent == "NtesDmarcReporter/1.0"  # from the base64 report part
    assert netease.dkim_domain == "entrata.com"

    yahoo = parse("yahoo-v1__phpbh__fbl-yahoo.eml")
    assert yahoo.reporter == "arf.mail.yahoo.com"
    assert yahoo.authentication_results == ()  # an empty Authentication-Results is no result
    assert yahoo.original_headers is not None
    assert yahoo.original_headers.get("X-Mailer") == "aspNetEmail ver 2.5.0.0"  # after mbox From

    ses = parse("yahoo-v2-via-amazonses__sisimai__arf-14.eml")
    audit = audit_original(ses.original_headers)
    assert audit is not None
    assert audit.has_feedback_id
    assert not audit.feedback_id_well_formed  # "Feedback-ID: 2": SenderId too short
    assert attribute_campaign(ses.original_headers) == "unattributed"


@pytest.mark.parametrize("path", corpus_params("arf/*.eml"))
def test_corpus_original_is_audited_when_it_has_headers(
    path: Path | None, corpus_dir: Path
) -> None:
    assert path is not None
    if isinstance(EXPECTED[path.name], Refused):
        pytest.skip("a refused sample")
    report = parse_arf(path.read_bytes())
    audit = audit_original(report.original_headers)
    assert (audit is None) == (report.original_headers is None or not report.original_headers)
    # No sample carries one-click unsubscribe: they predate RFC 8058 or are test mail.
    assert audit is None or not audit.one_click_compliant


# --- privacy ---------------------------------------------------------------------------


def _refusing_variants(raw: bytes) -> list[bytes]:
    """Broken copies of a sample, to exercise the refusals on real addresses."""
    head, _, _ = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    return [
        head + b"\n\n",  # multipart without any part
        re.sub(rb"(?i)content-type:[^\n]*(\n[ \t][^\n]*)*", b"Content-Type: text/plain", head)
        + b"\n\nbody\n",
        raw.replace(b"message/feedback-report", b"application/x-unknown")
        .replace(b"X-HmXmrOriginalRecipient", b"X-Removed")
        .replace(b"complaint about message", b"about message"),
    ]


@pytest.mark.parametrize("path", corpus_params("arf/*.eml"))
def test_no_address_from_the_file_appears_in_a_report_or_a_refusal(
    path: Path | None, corpus_dir: Path
) -> None:
    assert path is not None
    raw = path.read_bytes()
    addresses = {match.decode("ascii").lower() for match in ADDRESS.findall(raw)}
    assert addresses, "every sample carries at least one address"
    texts: list[str] = []
    try:
        report = parse_arf(raw)
    except IngestError as error:
        texts += [str(error), repr(error)]
    else:
        audit = audit_original(report.original_headers)
        texts += [repr(report), str(report), repr(report.original_headers), repr(audit)]
        texts.append(repr(report.report_fields))
    for variant in _refusing_variants(raw):
        with pytest.raises(IngestError) as caught:
            parse_arf(variant)
        texts += [str(caught.value), repr(caught.value)]
    for text in texts:
        lowered = text.lower()
        leaked = sorted(address for address in addresses if address in lowered)
        assert leaked == [], f"address leaked into {text[:60]!r}"


# --- upstream expected results (stalwartlabs/mail-auth) ---------------------------------


def _ws(text: str) -> str:
    return " ".join(text.split())


def _opt_lower(value: str | None) -> str | None:
    return None if value in (None, "Unspecified") else str(value).lower()


def _unbracket(value: str | None) -> str | None:
    return None if value is None else value.strip().strip("<>")


def _arrival(report: FeedbackReport) -> int | None:
    return None if report.arrival_date is None else int(report.arrival_date.timestamp())


def _headers_text(report: FeedbackReport) -> list[tuple[str, str]] | None:
    if report.original_format is not OriginalFormat.HEADERS or report.original_headers is None:
        return None
    return [(name, _ws(value)) for name, value in report.original_headers]


# key of *.expected.json -> (their value normalised, our value normalised)
MAPPED: dict[str, Callable[[Any, FeedbackReport], tuple[object, object]]] = {
    # "Abuse" / "AuthFailure" -> abuse / auth-failure
    "feedback_type": lambda v, r: (v.lower(), r.feedback_type.value.replace("-", "")),
    "arrival_date": lambda v, r: (v, _arrival(r)),  # unix seconds
    "authentication_results": lambda v, r: (
        [_ws(x) for x in v],
        [_ws(x) for x in r.authentication_results],
    ),
    "incidents": lambda v, r: (v, r.incidents),
    "original_envelope_id": lambda v, r: (v, r.original_envelope_id),
    "original_mail_from": lambda v, r: (_unbracket(v), r.original_mail_from),
    # theirs holds one recipient; ours is the repeatable list
    "original_rcpt_to": lambda v, r: (
        [] if v is None else [_unbracket(v)],
        list(r.original_rcpt_to),
    ),
    "reported_domain": lambda v, r: (v, list(r.reported_domains)),
    "reported_uri": lambda v, r: (v, list(r.reported_uris)),
    "reporting_mta": lambda v, r: (v, r.reporting_mta),
    "source_ip": lambda v, r: (v, r.source_ip),
    "user_agent": lambda v, r: (v, r.user_agent),
    "version": lambda v, r: (float(v), None if r.version is None else float(r.version)),
    "auth_failure": lambda v, r: (_opt_lower(v), r.auth_failure),  # "Unspecified" = absent
    "delivery_result": lambda v, r: (_opt_lower(v), r.delivery_result),
    "dkim_domain": lambda v, r: (v, r.dkim_domain),
    "dkim_selector": lambda v, r: (v, r.dkim_selector),
    # the text/rfc822-headers part, when the original is headers only
    "headers": lambda v, r: (
        None if v is None else [(n, _ws(x)) for n, x in parse_header_block(v)],
        _headers_text(r),
    ),
}
NOT_EXTRACTED = {
    # Source-IP with a port never occurs in practice; the port adds nothing to rates.
    "source_port": "we keep the IP only",
    # RFC 6591 diagnostics: DNS answers and canonicalised data, large and not needed for
    # rates, attribution or the audit. They stay available in report_fields.
    "dkim_adsp_dns": "diagnostic, in report_fields",
    "dkim_canonicalized_body": "diagnostic, in report_fields",
    "dkim_canonicalized_header": "diagnostic, in report_fields",
    "dkim_selector_dns": "diagnostic, in report_fields",
    "spf_dns": "diagnostic, in report_fields",
    "dkim_identity": "an address (the DKIM i=); in report_fields, never copied out",
    "identity_alignment": "DMARC extension field, in report_fields",
    "message": "the original's body: we never parse bodies (all null upstream anyway)",
}


@pytest.mark.parametrize("path", corpus_params("arf/*.expected.json"))
def test_extracted_fields_agree_with_upstream_expected_json(
    path: Path | None, corpus_dir: Path
) -> None:
    assert path is not None
    expected = json.loads(path.read_text())
    eml = path.with_name(path.name.replace(".expected.json", ".eml"))
    report = parse_arf(eml.read_bytes())
    unknown = expected.keys() - MAPPED.keys() - NOT_EXTRACTED.keys()
    assert unknown == set(), "a key of expected.json that is neither mapped nor explained"
    for key, compare in MAPPED.items():
        theirs, ours = compare(expected[key], report)
        assert ours == theirs, key
