"""An MTA log line's own timestamp is its event time: ISO 8601 / RFC 3339 as given, classic
syslog in the configured zone with the year inferred (the previous one when the current
would put the line more than a day ahead)."""

from __future__ import annotations

import datetime as dt

import pytest

from monitor.config import parse_config
from monitor.ingest.errors import MalformedReportError
from monitor.ingest.mtalog import attempt_events, line_time, log_zone
from monitor.model.errors import ConfigError

UTC = log_zone("UTC")
BERLIN = log_zone("Europe/Berlin")
NEW_YEAR = dt.datetime(2027, 1, 1, 0, 30, tzinfo=dt.UTC)  # just after midnight UTC


def utc(*fields: int) -> dt.datetime:
    return dt.datetime(*fields, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # Postfix maillog_file with long timestamps / rsyslog RFC 3339
        (
            "2026-12-05T12:00:01.123456+01:00 mx postfix/smtp[1]:",
            utc(2026, 12, 5, 11, 0, 1, 123456),
        ),
        ("2026-12-05T12:00:01.123456789Z mx postfix/smtp[1]:", utc(2026, 12, 5, 12, 0, 1, 123456)),
        ("2026-12-05T12:00:01-05:00 mx postfix/smtp[1]:", utc(2026, 12, 5, 17, 0, 1)),
        # Exim: local time, or with log_timezone its offset after a space
        ("2026-12-05 12:00:01 1abcde-000001-AB ** a@example.com", utc(2026, 12, 5, 11, 0, 1)),
        ("2026-12-05 12:00:01 +0100 1abcde-000001-AB ** a@example.com", utc(2026, 12, 5, 11, 0, 1)),
        # classic syslog: Berlin's local time; summer time applies in July
        ("Dec  5 12:00:01 mx postfix/smtp[1]:", utc(2026, 12, 5, 11, 0, 1)),
        ("Jul 15 12:00:01 mx postfix/smtp[1]:", utc(2026, 7, 15, 10, 0, 1)),
    ],
)
def test_formats(line: str, expected: dt.datetime) -> None:
    now = utc(2026, 12, 6, 9)
    assert line_time(line, now, BERLIN) == expected


def test_the_year_rolls_over_the_way_syslog_readers_expect() -> None:
    # Read at 00:30 on New Year's Day: December's lines are last year's ...
    assert line_time("Dec 31 23:59:59 mx x", NEW_YEAR, UTC) == utc(2026, 12, 31, 23, 59, 59)
    # ... today's are this year's, and so is one a little ahead (clocks drift) ...
    assert line_time("Jan  1 00:29:00 mx x", NEW_YEAR, UTC) == utc(2027, 1, 1, 0, 29)
    assert line_time("Jan  1 23:00:00 mx x", NEW_YEAR, UTC) == utc(2027, 1, 1, 23)
    # ... but more than a day ahead is a year ago.
    assert line_time("Jan  2 00:31:00 mx x", NEW_YEAR, UTC) == utc(2026, 1, 2, 0, 31)
    # In Berlin it is already 01:30 on January 1st: the same rule in local time.
    assert line_time("Jan  1 01:00:00 mx x", NEW_YEAR, BERLIN) == utc(2027, 1, 1, 0)
    assert line_time("Dec 31 23:00:00 mx x", NEW_YEAR, BERLIN) == utc(2026, 12, 31, 22)


@pytest.mark.parametrize(
    "line",
    [
        "Feb 29 10:00:00 mx x",  # neither 2027 nor 2026 has one
        "Dec 32 10:00:00 mx x",
        "Dec  5 25:61:61 mx x",
        "2026-02-30T10:00:00Z mx x",
        "2026-13-01 10:00:00 1abcde-000001-AB ** a@example.com",
        "2027-01-02T00:31:00Z mx x",  # an ISO stamp more than a day ahead
    ],
)
def test_a_stamp_that_names_no_real_moment_is_refused(line: str) -> None:
    with pytest.raises(MalformedReportError) as refused:
        line_time(line, NEW_YEAR, UTC)
    assert refused.value.reason == "bad_timestamp"
    assert line.split(" mx")[0].split(" 1abcde")[0] in refused.value.message


def test_a_stamp_that_exists_is_read_and_no_stamp_is_none() -> None:
    assert line_time("Feb 29 10:00:00 mx x", utc(2028, 3, 1), UTC) == utc(2028, 2, 29, 10)
    assert line_time("2027-01-02T00:29:00Z mx x", NEW_YEAR, UTC) == utc(2027, 1, 2, 0, 29)
    assert line_time("mx postfix/smtp[1]: no stamp", NEW_YEAR, UTC) is None


def test_attempts_with_an_impossible_stamp_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = utc(2026, 12, 6, 9)
    lines = [
        DEFERRAL.format(stamp="Dec 32 25:61:61"),
        DEFERRAL.format(stamp="Feb 29 12:00:00"),
        DEFERRAL.format(stamp="Dec  5 12:00:01"),
    ]
    with caplog.at_level("WARNING", logger="monitor.ingest.mtalog"):
        events = attempt_events(lines, now, UTC)
    assert [e.occurred_at for e in events] == [utc(2026, 12, 5, 12, 0, 1)]
    assert [r.getMessage() for r in caplog.records] == [
        "2 MTA log line(s) skipped: a timestamp that names no real moment or lies more "
        "than a day ahead (first: no such moment: Dec 32 25:61:61)"
    ]
    assert "reader@" not in caplog.text


def test_local_means_the_hosts_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert line_time("Dec  5 12:00:01 mx x", NEW_YEAR, log_zone("local")) == utc(
            2026, 12, 5, 17, 0, 1
        )
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


DEFERRAL = (
    "{stamp} mx postfix/smtp[101]: 4A1B2C: to=<reader@gmail.com>, "
    "relay=gmail-smtp-in.l.google.com[192.0.2.27]:25, delay=1, dsn=4.7.28, status=deferred "
    "(host gmail-smtp-in.l.google.com[192.0.2.27] said: 421-4.7.28 unusual rate of "
    "unsolicited mail - gsmtp (in reply to end of DATA command))"
)


def test_events_take_the_lines_time_and_the_read_time_without_one() -> None:
    now = utc(2026, 12, 6, 9)
    stamped, bare = attempt_events(
        [DEFERRAL.format(stamp="Dec  5 12:00:01"), DEFERRAL.format(stamp="").lstrip()], now, UTC
    )
    assert stamped.occurred_at == utc(2026, 12, 5, 12, 0, 1)
    assert bare.occurred_at == now
    # the key is the line: the same line read again is the same event, whatever the time
    again = attempt_events([DEFERRAL.format(stamp="Dec  5 12:00:01")], utc(2027, 1, 5), UTC)
    assert again[0].idempotency_key == stamped.idempotency_key


def test_log_timezone_must_be_a_known_zone() -> None:
    base = '[privacy]\npseudonym_key = "0123456789abcdef0123456789abcdef"\n[bounces]\n'
    assert parse_config(base + 'log_timezone = "Europe/Berlin"\n').bounces.log_timezone == (
        "Europe/Berlin"
    )
    assert parse_config(base).bounces.log_timezone == "local"
    with pytest.raises(ConfigError, match="log_timezone"):
        parse_config(base + 'log_timezone = "Mars/Olympus"\n')
