"""Pins the notification value, the webhook, Slack and e-mail renderings, and URL redaction."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json

import pytest

from monitor.alerting.notify import (
    Notification,
    build_email_message,
    build_slack_payload,
    build_webhook_payload,
)
from monitor.alerting.notify.model import severity_at_least
from monitor.model.hosts import check_webhook_url, is_loopback_host, redact_url

STARTED = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
ENDED = dt.datetime(2024, 5, 1, 14, 30, 15, tzinfo=dt.UTC)


def listing(*, resolved: bool = False) -> Notification:
    return Notification(
        key="listed:192.0.2.1:zen.spamhaus.org",
        kind="listed",
        status="resolved" if resolved else "firing",
        severity="critical",
        title="192.0.2.1 is listed on zen.spamhaus.org",
        text="Return code 127.0.0.2 (SBL).\nDelisting: https://check.spamhaus.org/",
        labels=(("target", "192.0.2.1"), ("zone", "zen.spamhaus.org")),
        started_at=STARTED,
        ended_at=ENDED if resolved else None,
        url="https://monitor.example.com/targets/192.0.2.1",
    )


# --- Notification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"started_at": dt.datetime(2024, 5, 1)}, id="naive-started"),
        pytest.param({"title": "two\nlines"}, id="multiline-title"),
        pytest.param({"status": "pending"}, id="unknown-status"),
        pytest.param({"severity": "major"}, id="unknown-severity"),
        pytest.param({"ended_at": ENDED}, id="ended-while-firing"),
        pytest.param({"status": "resolved"}, id="resolved-without-end"),
        pytest.param({"key": ""}, id="empty-key"),
    ],
)
def test_notification_refuses_inconsistent_values(changes: dict[str, object]) -> None:
    fields: dict[str, object] = {
        "key": "k",
        "kind": "listed",
        "status": "firing",
        "severity": "warning",
        "title": "t",
        "text": "",
        "labels": (),
        "started_at": STARTED,
        "ended_at": None,
    }
    fields.update(changes)
    with pytest.raises(ValueError):  # noqa: PT011 -- each case has its own message
        Notification(**fields)  # type: ignore[arg-type]  # deliberately wrong values


def test_severity_order_is_info_warning_critical() -> None:
    assert severity_at_least("critical", "warning")
    assert severity_at_least("warning", "warning")
    assert not severity_at_least("info", "warning")


# --- webhook payload -------------------------------------------------------------------------


def test_webhook_payload_version_1_shape_is_pinned() -> None:
    payload = build_webhook_payload(listing(resolved=True))
    assert payload == {
        "version": 1,
        "status": "resolved",
        "key": "listed:192.0.2.1:zen.spamhaus.org",
        "kind": "listed",
        "severity": "critical",
        "title": "192.0.2.1 is listed on zen.spamhaus.org",
        "text": "Return code 127.0.0.2 (SBL).\nDelisting: https://check.spamhaus.org/",
        "labels": {"target": "192.0.2.1", "zone": "zen.spamhaus.org"},
        "started_at": "2024-05-01T12:00:00Z",
        "ended_at": "2024-05-01T14:30:15Z",
        "url": "https://monitor.example.com/targets/192.0.2.1",
    }
    json.dumps(payload)  # serialisable as is


def test_webhook_payload_times_are_utc_and_ended_at_null_while_firing() -> None:
    n = listing()
    offset = dt.timezone(dt.timedelta(hours=2))
    local = Notification(**{**_fields(n), "started_at": STARTED.astimezone(offset)})
    payload = build_webhook_payload(local)
    assert payload["started_at"] == "2024-05-01T12:00:00Z"
    assert payload["ended_at"] is None


def _fields(n: Notification) -> dict[str, object]:
    return {name: getattr(n, name) for name in Notification.__slots__}


# --- Slack payload ---------------------------------------------------------------------------


def test_slack_payload_has_text_and_blocks_and_marks_severity() -> None:
    payload = build_slack_payload(listing())
    assert isinstance(payload["text"], str)
    assert "[CRITICAL] 192.0.2.1 is listed on zen.spamhaus.org" in payload["text"]
    assert "Return code 127.0.0.2" in payload["text"]
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    assert blocks[0]["type"] == "header"
    assert "RESOLVED" not in json.dumps(payload)


def test_slack_payload_marks_resolved_messages() -> None:
    payload = build_slack_payload(listing(resolved=True))
    assert str(payload["text"]).startswith(":white_check_mark: [RESOLVED] ")
    assert "[RESOLVED]" in json.dumps(payload["blocks"])


def test_slack_payload_escapes_mrkdwn_control_characters() -> None:
    n = Notification(
        key="record_changed:example.com:spf",
        kind="record_changed",
        status="firing",
        severity="warning",
        title="SPF of example.com changed",
        text="now: v=spf1 include:<x> & -all",
        labels=(),
        started_at=STARTED,
    )
    text = json.dumps(build_slack_payload(n))
    assert "<x>" not in text
    assert "&lt;x&gt; &amp; -all" in text


# --- e-mail ----------------------------------------------------------------------------------


def test_email_message_headers_and_body() -> None:
    now = dt.datetime(2024, 5, 1, 12, 0, 5, tzinfo=dt.UTC)
    message = build_email_message(
        listing(), sender="delivermon@example.com", recipients=["ops@example.com"], now=now
    )
    parsed = email.message_from_bytes(bytes(message), policy=email.policy.default)
    assert parsed["Subject"] == "[delivermon] [CRITICAL] 192.0.2.1 is listed on zen.spamhaus.org"
    assert parsed["Date"].datetime == now
    assert parsed["Message-ID"].endswith("@example.com>")
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed.get_content_type() == "text/plain"
    body = parsed.get_content()
    assert "target:   192.0.2.1" in body
    assert "started:  2024-05-01T12:00:00Z" in body


def test_email_resolved_subject_and_threading() -> None:
    kwargs: dict[str, object] = {
        "sender": "Delivermon <delivermon@example.com>",
        "recipients": ["ops@example.com", "noc@example.com"],
        "subject_prefix": "[mon]",
        "now": ENDED,
    }
    firing = build_email_message(listing(), **kwargs)  # type: ignore[arg-type]
    resolved = build_email_message(listing(resolved=True), **kwargs)  # type: ignore[arg-type]
    assert resolved["Subject"] == "[mon] [RESOLVED] 192.0.2.1 is listed on zen.spamhaus.org"
    assert resolved["In-Reply-To"] == firing["Message-ID"]
    assert resolved["Message-ID"] != firing["Message-ID"]
    assert resolved["To"] == "ops@example.com, noc@example.com"


# --- URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://hooks.slack.com/services/T000/B000/SECRET", "https://hooks.slack.com"),
        ("http://127.0.0.1:8080/hook?token=SECRET", "http://127.0.0.1:8080"),
        ("https://user:pw@example.com/x", "https://example.com"),
        ("http://[::1]:9/x", "http://[::1]:9"),
    ],
)
def test_redact_url_keeps_scheme_and_host_only(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


@pytest.mark.parametrize(
    "url",
    ["http://example.com/hook", "ftp://example.com/", "/relative", "https://", "http://[::1]:x/"],
)
def test_check_webhook_url_refuses_plain_http_and_non_urls(url: str) -> None:
    with pytest.raises(ValueError, match="webhook url") as info:
        check_webhook_url(url)
    assert "/hook" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["https://example.com/hook", "http://127.0.0.1:8080/x", "http://localhost/x"]
)
def test_check_webhook_url_accepts_https_and_loopback_http(url: str) -> None:
    check_webhook_url(url)


def test_loopback_hosts() -> None:
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("::1")
    assert is_loopback_host("localhost")
    assert not is_loopback_host("192.0.2.1")
    assert not is_loopback_host("smtp.example.com")
