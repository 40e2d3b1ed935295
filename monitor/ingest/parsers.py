"""The table of every parser that reads input from outside: what it is called, how raw bytes
reach it, and the one exception family it may raise to refuse them.

Each entry takes the bytes as they arrive (a request body, a mail, a DNS message, a TXT
record) through the same steps production uses before the parser proper. The hostile-input
tests (tests/unit/test_parsers_hostile.py) and the fuzz targets (``make fuzz``) are generated
from this table: a parser added here is attacked without editing them. Adding a parser is
one ``ParserSpec`` (see docs/architecture.md, "Add a parser").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from dns.rdatatype import RdataType

from checks.dkim.record import evaluate_key_record
from checks.dmarc.record import parse_record as parse_dmarc_record
from checks.dns.wire import decode_response, encode_question, response_matches
from checks.spf.record import SpfSyntaxError
from checks.spf.record import parse_record as parse_spf_record
from monitor.ingest.arf import parse_arf
from monitor.ingest.dmarc import parse_dmarc
from monitor.ingest.dsn import parse_bounce
from monitor.ingest.errors import IngestError
from monitor.ingest.events import parse_batch_body
from monitor.ingest.mtalog import attempt_events
from monitor.ingest.webhooks import (
    MalformedPayload,
    PinnedCertificates,
    SesVerifier,
    WebhookConfigError,
    WebhookRefused,
    handle_ses,
    parse_mailgun,
    parse_postmark,
    parse_sendgrid,
    parse_ses,
)
from monitor.ingest.webhooks.fields import load_json, require_mapping
from monitor.model.events import Source
from monitor.model.jsontext import JsonRefused
from monitor.telemetry.gmail import GmailFormatError, load_body, parse_compliance, parse_query
from monitor.telemetry.snds import SndsFormatError, csv_text, parse_data, parse_ip_status

__all__ = ["PARSERS", "ParserSpec", "parser_by_name"]


@dataclass(frozen=True, slots=True)
class ParserSpec:
    """One input parser.

    ``parse`` takes raw bytes and returns a result or raises one of ``refusals`` (the
    documented refusal); any other exception, a hang or runaway memory is a bug.
    ``corpus``: glob patterns under the shared test corpus whose files are samples to
    mutate; ``examples``: small valid inputs written here, so every parser has seeds.
    """

    name: str
    parse: Callable[[bytes], object]
    refusals: tuple[type[Exception], ...]
    examples: tuple[bytes, ...] = ()
    corpus: tuple[str, ...] = ()


_EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _txt(parse: Callable[[str], object]) -> Callable[[bytes], object]:
    """A TXT record's text as the DNS decoder hands it over (UTF-8, errors replaced)."""

    def parse_text(data: bytes) -> object:
        return parse(data.decode("utf-8", errors="replace"))

    return parse_text


_WIRE_NAME = "2.0.0.127.bl.example.org"


def _wire(rdtype: RdataType) -> Callable[[bytes], object]:
    """A UDP reply as the resolver reads it: matched on ID and question, then decoded."""
    question = encode_question(_WIRE_NAME, rdtype)

    def decode(data: bytes) -> object:
        if len(data) < 2 or not response_matches(data, data[0] << 8 | data[1], question):
            return None  # the resolver drops it unread (an unmatched reply)
        return decode_response(data, question, rdtype)

    return decode


def _sns_envelope(data: bytes) -> object:
    # Everything before the signature check; with nothing pinned, nothing verifies.
    return handle_ses(data, config=SesVerifier(frozenset(), PinnedCertificates({})), now=_EPOCH)


def _mailgun(data: bytes) -> object:
    # handle_mailgun's reading of the body, without the signature it checks in between.
    payload = require_mapping(
        load_json(data, provider=Source.MAILGUN), "body", provider=Source.MAILGUN
    )
    return parse_mailgun(
        require_mapping(payload.get("event-data"), "event-data", provider=Source.MAILGUN)
    )


def _sns_certificate(data: bytes) -> object:
    return PinnedCertificates.from_pem({"SimpleNotificationService-0.pem": data})


def _reply(rdtype: RdataType, rdata: bytes) -> bytes:
    header = bytes.fromhex("abcd81800001000100000000")
    return (
        header
        + encode_question(_WIRE_NAME, rdtype)
        + b"\xc0\x0c"
        + int(rdtype).to_bytes(2, "big")
        + b"\x00\x01\x00\x00\x0e\x10"
        + len(rdata).to_bytes(2, "big")
        + rdata
    )


_ARF_EXAMPLE = b"""From: <fbl@example.net>
To: <abuse@example.com>
Subject: FW: offer
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b1"

--b1
Content-Type: text/plain

This is an abuse report.
--b1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: Example-FBL/1.0
Version: 1
Original-Rcpt-To: <someone@example.org>
Arrival-Date: Thu, 8 Mar 2026 14:00:00 +0000
Source-IP: 192.0.2.1

--b1
Content-Type: text/rfc822-headers

From: <news@example.com>
Message-ID: <1@example.com>
X-Campaign-ID: spring

--b1--
"""

PARSERS: tuple[ParserSpec, ...] = (
    ParserSpec(
        "arf",
        parse_arf,
        (IngestError,),
        examples=(_ARF_EXAMPLE,),
        corpus=("arf/*.eml", "bounces/*.eml"),
    ),
    ParserSpec(
        "dmarc_aggregate",
        parse_dmarc,
        (IngestError,),
        examples=(
            b"<feedback><report_metadata><org_name>o</org_name><email>d@example.net</email>"
            b"<report_id>1</report_id><date_range><begin>1</begin><end>2</end></date_range>"
            b"</report_metadata><policy_published><domain>example.com</domain><p>none</p>"
            b"</policy_published><record><row><source_ip>192.0.2.1</source_ip><count>1</count>"
            b"<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf>"
            b"</policy_evaluated></row><identifiers><header_from>example.com</header_from>"
            b"</identifiers><auth_results/></record></feedback>",
        ),
        corpus=("dmarc-aggregate/*/*.xml", "dmarc-aggregate/*/*.gz", "dmarc-aggregate/*/*.eml"),
    ),
    ParserSpec(
        "bounce",
        parse_bounce,
        (IngestError,),
        examples=(_ARF_EXAMPLE,),
        corpus=("bounces/*.eml", "arf/*.eml"),
    ),
    ParserSpec(
        "mtalog",
        lambda data: attempt_events(data.decode("utf-8", "replace").splitlines(), _EPOCH),
        (),
        examples=(
            b"Dec  5 12:00:01 mx postfix/smtp[1]: 4A1B: to=<a@example.org>, "
            b"relay=mx.example.org[192.0.2.1]:25, dsn=5.1.1, status=bounced (host "
            b"mx.example.org[192.0.2.1] said: 550 5.1.1 unknown (in reply to RCPT TO command))\n"
            b"2026-12-05 12:00:05 1tAbCd-000AbC-Xy == b@example.org R=r T=t defer (-45): "
            b"H=mx.example.org [192.0.2.2]: 421 4.7.0 try later\n",
        ),
    ),
    ParserSpec(
        "events",
        lambda data: parse_batch_body(data, _EPOCH),
        (JsonRefused,),
        examples=(
            b'{"events": [{"type": "sent", "campaign": "c1", "count": 3}, '
            b'{"type": "complaint", "campaign": "c1", "recipient": "a@example.org", '
            b'"timestamp": "2026-01-01T00:00:00Z", "id": "k1"}]}',
        ),
    ),
    ParserSpec(
        "sns_envelope",
        _sns_envelope,
        (WebhookRefused,),
        corpus=("webhooks/sns/*.json", "webhooks/ses/sns-envelope-*.json"),
    ),
    ParserSpec(
        "ses_notification",
        parse_ses,
        (MalformedPayload,),
        corpus=("webhooks/ses/ses-*.json",),
    ),
    ParserSpec(
        "sendgrid", parse_sendgrid, (MalformedPayload,), corpus=("webhooks/sendgrid/*.json",)
    ),
    ParserSpec("mailgun", _mailgun, (MalformedPayload,), corpus=("webhooks/mailgun/*.json",)),
    ParserSpec(
        "postmark", parse_postmark, (MalformedPayload,), corpus=("webhooks/postmark/*.json",)
    ),
    ParserSpec(
        "sns_certificate",
        _sns_certificate,
        (WebhookConfigError,),
        corpus=("webhooks/sns/*.pem",),
    ),
    ParserSpec(
        "spf_record",
        _txt(parse_spf_record),
        (SpfSyntaxError,),
        examples=(
            b"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 "
            b"include:_spf.example.net exists:%{ir}.%{l1r+-}._spf.%{d} redirect=_spf.example.org",
            b"v=spf1 -all exp=explain._spf.%{d}",
        ),
    ),
    ParserSpec(
        "dmarc_record",
        _txt(parse_dmarc_record),
        (),
        examples=(
            b"v=DMARC1; p=reject; sp=quarantine; np=reject; pct=50; t=y; adkim=s; aspf=r; "
            b"rua=mailto:dmarc@example.com!10m,mailto:d@example.net; ruf=mailto:f@example.com; "
            b"fo=0:1:d:s; ri=86400; psd=n",
        ),
    ),
    ParserSpec(
        "dkim_key_record",
        _txt(evaluate_key_record),
        (),
        examples=(
            b"v=DKIM1; k=ed25519; t=y:s; h=sha256; s=email; "
            b"p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            b"v=DKIM1; k=rsa; p=",
        ),
    ),
    # Receiver telemetry: the answers of Gmail Postmaster Tools v2 and SNDS, as the importers
    # read them (monitor/telemetry/gmailclient.py, sndsclient.py).
    ParserSpec(
        "gmail_domain_stats",
        lambda data: parse_query("example.com", load_body(data)),
        (GmailFormatError,),
        examples=(
            b'{"domainStats": [{"name": "domains/example.com/domainStats/a", "metric": '
            b'"spam_rate", "date": {"year": 2026, "month": 12, "day": 3}, "value": '
            b'{"floatValue": 0.0012}}, {"metric": "auth_dkim", "date": {"year": 2026, '
            b'"month": 12, "day": 3}, "value": {"intValue": "1"}}], "nextPageToken": "p2"}',
            b"{}",
        ),
    ),
    ParserSpec(
        "gmail_compliance",
        lambda data: parse_compliance(load_body(data)),
        (GmailFormatError,),
        examples=(
            b'{"name": "domains/example.com/complianceStatus", "complianceData": {"rowData": '
            b'[{"requirement": "SPF", "status": {"status": "COMPLIANT"}}], '
            b'"honorUnsubscribeVerdict": {"status": {"status": "NEEDS_WORK"}, '
            b'"reason": "NOT_HONORING"}}}',
        ),
    ),
    ParserSpec(
        "snds_data",
        lambda data: parse_data(csv_text(data)),
        (SndsFormatError,),
        examples=(
            b"192.0.2.10,12/31/2025 8:00 AM,1/1/2026 9:00 PM,14129,14129,13025,GREEN,< 0.1%,"
            b"1/1/2026 8:07 AM,1/1/2026 12:03 PM,41,mta.example.com,bounce@example.com,\r\n",
        ),
    ),
    ParserSpec(
        "snds_ip_status",
        lambda data: parse_ip_status(csv_text(data)),
        (SndsFormatError,),
        examples=(b"192.0.2.0,192.0.2.31,Yes,Blocked due to user complaints\r\n",),
    ),
    ParserSpec(
        "dns_reply_a",
        _wire(RdataType.A),
        (ValueError,),
        examples=(_reply(RdataType.A, bytes([127, 0, 0, 2])),),
    ),
    ParserSpec(
        "dns_reply_txt",
        _wire(RdataType.TXT),
        (ValueError,),
        examples=(_reply(RdataType.TXT, b"\x0flisted: see url\x03two"),),
    ),
)


def parser_by_name(name: str) -> ParserSpec:
    """The entry called ``name``.

    Raises:
        KeyError: no such parser.
    """
    for spec in PARSERS:
        if spec.name == name:
            return spec
    raise KeyError(name)
