"""ESP bounce and deferral events keep the receiver's reply, classified and address-masked.

Payload fields as the providers document them: SES ``bouncedRecipients[].diagnosticCode``
and ``deliveryDelay.delayedRecipients`` (docs.aws.amazon.com/ses, notification contents),
SendGrid ``reason``/``response``/``status`` (Event Webhook reference), Mailgun
``delivery-status`` (Events API), Postmark ``Details`` (bounce webhook).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from monitor.ingest.webhooks.mailgun import parse_mailgun
from monitor.ingest.webhooks.postmark import parse_postmark
from monitor.ingest.webhooks.sendgrid import parse_sendgrid
from monitor.ingest.webhooks.ses import parse_ses
from monitor.model.events import BounceKind, Event, EventType
from monitor.store.batch import suppression_reason

MAIL: dict[str, Any] = {
    "timestamp": "2026-12-05T09:59:58.000Z",
    "messageId": "0100019-mail-1",
    "source": "news@sender.example",
    "destination": ["a@gmail.com"],
    "tags": {"campaign": ["spring-sale"]},
}
DMARC = (
    "smtp; 550-5.7.26 Unauthenticated email from sender.example is not accepted due to "
    "domain's DMARC policy. <a@gmail.com> - gsmtp"
)
RATE = "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail - gsmtp"


def ses_bounce(recipient: dict[str, str], feedback_id: str = "f-1") -> dict[str, Any]:
    """An SES permanent bounce notification for one bounced recipient."""
    return {
        "notificationType": "Bounce",
        "mail": MAIL,
        "bounce": {
            "bounceType": "Permanent",
            "bouncedRecipients": [recipient],
            "timestamp": "2026-12-05T10:00:00.000Z",
            "feedbackId": feedback_id,
        },
    }


def test_ses_bounce_keeps_the_diagnostic_code() -> None:
    (event,) = parse_ses(
        ses_bounce({"emailAddress": "a@gmail.com", "status": "5.7.26", "diagnosticCode": DMARC})
    )
    assert event.bounce is not None
    assert (event.bounce.cls, event.bounce.enhanced, event.bounce.deferral) == (
        "auth_failure_dmarc",
        "5.7.26",
        False,
    )
    assert event.bounce.reply is not None
    assert "@" not in event.bounce.reply
    assert "<redacted>" in event.bounce.reply


def test_ses_delivery_delay_is_a_deferral() -> None:
    events = parse_ses(
        {
            "eventType": "DeliveryDelay",
            "mail": MAIL,
            "deliveryDelay": {
                "timestamp": "2026-12-05T10:00:00.000Z",
                "delayType": "TransientCommunicationFailure",
                "delayedRecipients": [
                    {"emailAddress": "a@gmail.com", "status": "4.7.28", "diagnosticCode": RATE}
                ],
            },
        }
    )
    (event,) = events
    assert event.type is EventType.BOUNCE
    assert event.bounce_kind is BounceKind.TRANSIENT
    assert event.bounce is not None
    assert (event.bounce.cls, event.bounce.deferral) == ("reputation_ratelimit", True)


def test_sendgrid_bounce_and_deferred_keep_reason_and_response() -> None:
    body = json.dumps(
        [
            {
                "event": "bounce",
                "type": "blocked",
                "email": "x@outlook.com",
                "timestamp": 1764928800,
                "reason": "550 5.7.606 Access denied, banned sending IP [192.0.2.10]",
                "status": "5.7.606",
                "sg_event_id": "e1",
            },
            {
                "event": "deferred",
                "email": "y@yahoo.com",
                "timestamp": 1764928800,
                "response": "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred",
                "attempt": "2",
                "sg_event_id": "e2",
            },
        ]
    )
    blocked, deferred = parse_sendgrid(body).events
    assert blocked.bounce is not None
    assert (blocked.bounce.cls, blocked.bounce.blocklist) == ("blocklisted", "microsoft")
    assert deferred.bounce is not None
    assert (deferred.provider.value, deferred.bounce.cls, deferred.bounce.deferral) == (
        "yahoo",
        "reputation_ratelimit",
        True,
    )


def test_mailgun_failed_keeps_delivery_status() -> None:
    (event,) = parse_mailgun(
        {
            "event": "failed",
            "severity": "permanent",
            "recipient": "z@example.org",
            "timestamp": 1764928800.5,
            "id": "m1",
            "delivery-status": {
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist.",
            },
        }
    )
    assert event.bounce is not None
    assert (event.bounce.cls, event.bounce.status) == ("mailbox_unknown", "550")


def test_postmark_bounce_keeps_details() -> None:
    (event,) = parse_postmark(
        {
            "RecordType": "Bounce",
            "Type": "Blocked",
            "ID": 42,
            "Email": "w@example.net",
            "BouncedAt": "2026-12-05T10:00:00Z",
            "Details": "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
            "bl.spamcop.net",
        }
    )
    assert event.bounce is not None
    assert (event.bounce.cls, event.bounce.blocklist) == ("blocklisted", "spamcop")


BLOCKED = "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org"
UNKNOWN = "550 5.1.1 The email account that you tried to reach does not exist."


def _permanent(esp: str, reply: str) -> Event:
    """One permanent bounce of ``esp`` to w@example.net whose receiver said ``reply``."""
    if esp == "ses":
        (event,) = parse_ses(
            ses_bounce({"emailAddress": "w@example.net", "diagnosticCode": reply}, "f-2")
        )
    elif esp == "sendgrid":
        (event,) = parse_sendgrid(
            json.dumps(
                [
                    {
                        "event": "bounce",
                        "type": "bounce",
                        "email": "w@example.net",
                        "timestamp": 1764928800,
                        "reason": reply,
                        "sg_event_id": "e3",
                    }
                ]
            )
        ).events
    elif esp == "mailgun":
        (event,) = parse_mailgun(
            {
                "event": "failed",
                "severity": "permanent",
                "recipient": "w@example.net",
                "timestamp": 1764928800.5,
                "id": "m2",
                "delivery-status": {"code": 554, "message": reply},
            }
        )
    else:
        (event,) = parse_postmark(
            {
                "RecordType": "Bounce",
                "Type": "HardBounce",
                "ID": 43,
                "Email": "w@example.net",
                "BouncedAt": "2026-12-05T10:00:00Z",
                "Details": reply,
            }
        )
    return event


@pytest.mark.parametrize("esp", ["ses", "sendgrid", "mailgun", "postmark"])
@pytest.mark.parametrize(
    ("reply", "kind"),
    [
        # The receiver refused the sender (a list): the address is not dead, as for a DSN
        # or a log line with the same reply (README, "Only a dead address ...").
        (BLOCKED, BounceKind.TRANSIENT),
        (DMARC, BounceKind.TRANSIENT),
        (UNKNOWN, BounceKind.PERMANENT),
        # A reply nothing reads: the ESP's own verdict stands.
        ("554 delivery failed", BounceKind.PERMANENT),
    ],
)
def test_an_esp_hard_bounce_blaming_the_sender_does_not_suppress_the_recipient(
    esp: str, reply: str, kind: BounceKind
) -> None:
    event = _permanent(esp, reply)
    assert event.bounce_kind is kind
    assert (suppression_reason(event) is not None) is (kind is BounceKind.PERMANENT)
