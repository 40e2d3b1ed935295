"""A bounce whose text part names a charset no codec reads is still read (as UTF-8 with
replacements), whatever is wrong with the name: ``make fuzz FUZZ_PARSERS=bounce`` found
that a NUL in it made ``bytes.decode`` raise ValueError, which no caller expects."""

from __future__ import annotations

import pytest

from monitor.ingest.dsn import parse_bounce

BOUNCE = (
    "From: Mail Delivery Subsystem <mailer-daemon@example.net>\n"
    "To: sender@example.com\n"
    "Subject: Delivery Status Notification (Failure)\n"
    "MIME-Version: 1.0\n"
    "Content-Type: text/plain; charset={charset}\n"
    "\n"
    "Delivery to the following recipient failed permanently:\n"
    "\n"
    "     nobody@example.org\n"
    "\n"
    "The remote server said: 550 5.1.1 The email account that you tried to reach does "
    "not exist.\n"
)


@pytest.mark.parametrize(
    "charset", ["utf-8", "no-such-charset", '"ISO-8859-\x11\x00"', '"utf-8\x00"']
)
def test_a_charset_no_codec_reads_falls_back_to_utf8(charset: str) -> None:
    bounce = parse_bounce(BOUNCE.format(charset=charset).encode("utf-8", "surrogateescape"))
    [recipient] = bounce.recipients
    assert recipient.recipient == "nobody@example.org"
    assert "550 5.1.1" in f"{recipient.diagnostic} {recipient.context}"
