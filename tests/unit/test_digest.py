"""The message key: the same report or bounce however it reached delivermon, and two
different ones never one."""

from __future__ import annotations

import pytest

from monitor.ingest.digest import message_key

REPORT = (
    b"From: fbl@example.org\r\nTo: abuse@example.com\r\nSubject: complaint\r\n"
    b"X-Report-Id: 42\r\n\r\nthe report\r\n"
)
RECEIVED = (
    b"From fbl@example.org  Sat Nov 28 12:00:00 2026\r\n"
    b"Return-Path: <fbl@example.org>\r\nReceived: from mx.example.org\r\n"
    b"\tby mail.example.com; Sat, 28 Nov 2026 12:00:00 +0000\r\n"
    b"Received-SPF: Pass\r\nAuthentication-Results: mail.example.com; spf=pass\r\n"
    b"X-Spam: No\r\nX-Spamd-Bar: /\r\nX-MS-TrafficTypeDiagnostic: AM0\r\n"
)


def test_the_receiving_sides_fields_and_line_endings_do_not_count() -> None:
    assert message_key(RECEIVED + REPORT) == message_key(REPORT)
    assert message_key(REPORT.replace(b"\r\n", b"\n")) == message_key(REPORT)


def test_a_message_without_such_fields_keys_as_its_plain_hash() -> None:
    import hashlib

    assert message_key(REPORT) == hashlib.sha256(REPORT.replace(b"\r\n", b"\n")).hexdigest()


def test_two_different_reports_are_two_keys() -> None:
    keys = {
        message_key(REPORT),
        message_key(REPORT.replace(b"the report", b"another report")),
        message_key(REPORT.replace(b"X-Report-Id: 42", b"X-Report-Id: 43")),
        # A kept field after a dropped folded one is still the message's own.
        message_key(b"Received: x\r\n\tby y\r\n" + REPORT.replace(b"42", b"44")),
        # The same trace text inside the body is the body.
        message_key(REPORT.replace(b"the report", b"Received: from mx.example.org")),
    }
    assert len(keys) == 5


@pytest.mark.parametrize(
    "added",
    [
        b"X-Gm-Message-State: AOJu0Yw\r\n",
        b"X-Apparently-To: abuse@example.com; Sat, 28 Nov 2026 12:00:00 +0000\r\n",
        b"X-Quarantine-ID: <abc123>\r\n",
        b"X-Amavis-Alert: BAD HEADER\r\n",
        b"X-Greylist: delayed 300 seconds by postgrey\r\n",
        b"X-Forwarded-To: ops@example.net\r\nX-Forwarded-For: abuse@example.com\r\n",
        b"X-Proofpoint-Spam-Details: rule=notspam\r\n",
        b"X-Mimecast-Spam-Score: 0\r\n",
        b"X-Barracuda-Connect: mx.example.org\r\n",
        b"X-IronPort-AV: E=Sophos\r\n",
        b"X-Sieve: CMU Sieve 3.0\r\n",
        b"Resent-From: fbl@example.org\r\nResent-Date: Sat, 28 Nov 2026 12:00:00 +0000\r\n",
    ],
)
def test_what_mailboxes_and_forwarders_add_on_top_does_not_count(added: bytes) -> None:
    """An outside review posted one report, then again with one such field on top: each
    was stored as a new report and counted again (ten complaints for one)."""
    assert message_key(added + REPORT) == message_key(REPORT)
