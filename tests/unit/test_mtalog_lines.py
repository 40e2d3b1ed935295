"""The delivery attempts Postfix and Exim log lines record (monitor.ingest.mtalog.parse_line)."""

from __future__ import annotations

import pytest

from monitor.ingest.mtalog import parse_line

POSTFIX = "Dec  7 01:10:01 mx postfix/smtp[101]: 4A1B2C3D: to=<{rcpt}>, relay={relay}, {rest}"
EXIM = "2026-12-07 01:10:01 1rAbcD-000010-AB {flag} {rest}"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            POSTFIX.format(
                rcpt="a@example.org",
                relay="none",
                rest="delay=432000, dsn=4.4.1, status=expired, returned to sender "
                "(connect to mx.example.org[192.0.2.5]:25: Connection timed out)",
            ),
            ("a@example.org", "bounced", "4.4.1"),
        ),
        (
            POSTFIX.format(
                rcpt="b@example.org",
                relay="none",
                rest="dsn=4.4.1, status=expired (connect to mx.example.org: timed out)",
            ),
            ("b@example.org", "bounced", "4.4.1"),
        ),
        (
            EXIM.format(flag="**", rest="y1@example.org: Unrouteable address"),
            ("y1@example.org", "bounced", None),
        ),
        (
            EXIM.format(flag="**", rest="y2@example.org R=dnslookup: Unrouteable address"),
            ("y2@example.org", "bounced", None),
        ),
        (
            EXIM.format(flag="**", rest='"john doe"@example.org: Unrouteable address'),
            ('"john doe"@example.org', "bounced", None),
        ),
        (
            EXIM.format(flag="==", rest="y3@example.org: retry time not reached"),
            None,
        ),
    ],
)
def test_attempts(line: str, expected: tuple[str, str, str | None] | None) -> None:
    found = parse_line(line)
    got = None if found is None else (found.recipient, found.outcome, found.dsn)
    assert got == expected


def test_the_reply_of_an_expired_message_and_of_an_exim_bounce_without_a_router() -> None:
    expired = parse_line(
        POSTFIX.format(
            rcpt="a@example.org",
            relay="none",
            rest="dsn=4.4.1, status=expired, returned to sender (connect to "
            "mx.example.org[192.0.2.5]:25: Connection timed out)",
        )
    )
    assert expired is not None
    assert expired.reply == "connect to mx.example.org[192.0.2.5]:25: Connection timed out"
    unrouteable = parse_line(EXIM.format(flag="**", rest="y1@example.org: Unrouteable address"))
    assert unrouteable is not None
    assert unrouteable.reply == "Unrouteable address"
