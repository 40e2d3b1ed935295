"""Who failed, in a plain-text bounce (no delivery-status part): the recipients its format
names, each with the reply of its own paragraph, and never our own sender.

Taking the first address of the text took the sender wherever the text named it first
(qmail's "your message from <addr>", a transcript's MAIL FROM) and suppressed them for
another's failure; a bounce naming several recipients counted only the first.
"""

from __future__ import annotations

import pytest

from checks.bounces import BounceClass
from monitor.ingest.dsn import classify_recipient, parse_bounce

B = BounceClass
HEAD = "From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n\n"

QMAIL = (
    HEAD + "Hi. This is the qmail-send program at mx.example.net.\n"
    "I'm afraid I wasn't able to deliver your message{sender} to the following addresses.\n"
    "This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
    "<qa@example.net>:\n"
    "192.0.2.1 does not like recipient.\n"
    "Remote host said: 550 5.1.1 unknown user\n"
    "Giving up on 192.0.2.1.\n\n"
    "<qb@example.net>:\n"
    "192.0.2.1 does not like recipient.\n"
    "Remote host said: 552 5.2.2 mailbox full\n"
    "Giving up on 192.0.2.1.\n\n"
    "--- Below this line is a copy of the message.\n\n"
    "From: news@example.com\nTo: qa@example.net, qb@example.net\n\nHello\n"
)
TRANSCRIPT = (
    HEAD + "The message could not be delivered. The session with mx.example.org:\n"
    "--> MAIL From:<news@example.com>\n"
    "<-- 250 2.1.0 Ok\n"
    "--> RCPT To:<ok@example.org>\n"
    "<-- 250 2.1.5 Ok\n"
    "--> RCPT To:<yuki@example.org>\n"
    "<-- 550 5.1.1 <yuki@example.org>... User unknown\n"
    "--> QUIT\n"
)
EXIM = (
    HEAD + "This message was created automatically by mail delivery software.\n\n"
    "A message that you sent could not be delivered to one or more of its\n"
    "recipients. This is a permanent error. The following address(es) failed:\n\n"
    "  ea@example.net\n"
    "    host mx.example.net [192.0.2.1]\n"
    "    SMTP error from remote mail server after RCPT TO:<ea@example.net>:\n"
    "    550 5.1.1 <ea@example.net>: Recipient address rejected: User unknown\n"
    "  eb@example.net\n"
    "    host mx.example.net [192.0.2.1]\n"
    "    SMTP error from remote mail server after RCPT TO:<eb@example.net>:\n"
    "    452 4.2.2 <eb@example.net>: mailbox full\n"
)
POSTFIX = (
    HEAD + "This is the mail system at host mx.example.com.\n\n"
    "I'm sorry to have to inform you that your message could not\n"
    "be delivered to one or more recipients.\n\n"
    "<pa@example.org>: host mx.example.org[192.0.2.2] said: 550 5.1.1 <pa@example.org>:\n"
    "    Recipient address rejected: User unknown (in reply to RCPT TO command)\n"
)
# The reply names our sender at the start of an indented (continuation) line.
POSTFIX_SENDER_REFUSED = (
    HEAD + "This is the mail system at host mx.example.com.\n\n"
    "<pb@example.org>: host mx.example.org[192.0.2.2] said: 553 5.7.1\n"
    "    <bounces+x1@example.com>: Sender address rejected: not owned by user (in\n"
    "    reply to MAIL FROM command)\n"
)
MENTIONED = (
    HEAD + "Your message from news@example.com to yuki@example.org was not delivered:\n"
    "550 5.1.1 user unknown\n"
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            QMAIL.format(sender=" from <news@example.com>"),
            [("qa@example.net", B.MAILBOX_UNKNOWN), ("qb@example.net", B.MAILBOX_FULL)],
        ),
        (
            QMAIL.format(sender=" from\n<news@example.com>"),
            [("qa@example.net", B.MAILBOX_UNKNOWN), ("qb@example.net", B.MAILBOX_FULL)],
        ),
        (
            QMAIL.format(sender=""),
            [("qa@example.net", B.MAILBOX_UNKNOWN), ("qb@example.net", B.MAILBOX_FULL)],
        ),
        (TRANSCRIPT, [("yuki@example.org", B.MAILBOX_UNKNOWN)]),
        (EXIM, [("ea@example.net", B.MAILBOX_UNKNOWN), ("eb@example.net", B.MAILBOX_FULL)]),
        (POSTFIX, [("pa@example.org", B.MAILBOX_UNKNOWN)]),
        (POSTFIX_SENDER_REFUSED, [("pb@example.org", B.POLICY_OTHER)]),
        # An address merely mentioned is nobody's failure: counted, suppressing nobody.
        (MENTIONED, [(None, B.MAILBOX_UNKNOWN)]),
    ],
    ids=[
        "qmail-sender",
        "qmail-sender-wrapped",
        "qmail",
        "transcript",
        "exim",
        "postfix",
        "postfix-sender-refused",
        "mentioned",
    ],
)
def test_plain_text_bounces_name_every_failed_recipient_with_its_own_reply(
    raw: str, expected: list[tuple[str | None, BounceClass]]
) -> None:
    bounce = parse_bounce(raw.encode())
    assert not bounce.standard
    found = [(r.recipient, classify_recipient(r).cls) for r in bounce.recipients]
    assert found == expected


def test_our_own_addresses_in_the_headers_are_never_the_recipient() -> None:
    """The bounce's To (our envelope sender) and the returned message's From are ours,
    however the text names them."""
    raw = (
        "From: MAILER-DAEMON@mx.example.net\nTo: news@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b"\n\n'
        "--b\nContent-Type: text/plain\n\n"
        "<news@example.com>:\n"
        "Remote host said: 550 5.7.1 <bounces@example.com>: Sender address rejected\n\n"
        "<bounces@example.com>:\n"
        "Remote host said: 550 5.7.1 <bounces@example.com>: Sender address rejected\n\n"
        "--b\nContent-Type: text/rfc822-headers\n\n"
        "From: Newsletter <bounces@example.com>\nTo: yuki@example.org\n\n"
        "--b--\n"
    )
    [recipient] = parse_bounce(raw.encode()).recipients
    assert recipient.recipient is None
    assert classify_recipient(recipient).cls is B.POLICY_OTHER


def test_an_address_literal_recipient_is_counted_without_an_address() -> None:
    # README's Limitations: such a recipient is not taken as an address.
    raw = (
        b"From: MAILER-DAEMON@mx.example.net\nTo: news@example.com\nSubject: failure notice\n"
        b"Content-Type: text/plain\n\n"
        b"Hi. This is the qmail-send program at mx.example.net.\n"
        b"I'm afraid I wasn't able to deliver your message to the following addresses.\n"
        b"This is a permanent error; I've given up. Sorry it didn't work out.\n\n"
        b"<carol@[192.0.2.77]>:\n192.0.2.1 does not like recipient.\n"
        b"Remote host said: 550 5.1.1 unknown user\n"
    )
    (recipient,) = parse_bounce(raw).recipients
    assert recipient.recipient is None
    assert classify_recipient(recipient).cls is BounceClass.MAILBOX_UNKNOWN


def _dsn(recipients: int) -> bytes:
    blocks = "".join(
        f"Final-Recipient: rfc822; r{n}@example.net\nAction: failed\nStatus: 5.1.1\n\n"
        for n in range(recipients)
    )
    return (
        "From: MAILER-DAEMON@mx.example.net\nTo: news@example.com\n"
        "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        "--b\nContent-Type: message/delivery-status\n\n"
        f"Reporting-MTA: dns; mx.example.net\n\n{blocks}--b--\n"
    ).encode()


def _qmail(recipients: int) -> bytes:
    paragraphs = "".join(
        f"<q{n}@example.net>:\nRemote host said: 550 5.1.1 unknown user\n\n"
        for n in range(recipients)
    )
    return (
        HEAD + "Hi. This is the qmail-send program at mx.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following addresses.\n\n"
        + paragraphs
    ).encode()


@pytest.mark.parametrize("build", [_dsn, _qmail], ids=["dsn", "plain-text"])
def test_a_bounce_naming_more_recipients_than_the_limit_is_refused(build: object) -> None:
    """A mail server returns one message's failures: MAX_RECIPIENTS is far above that,
    and a bounce naming 145,000 recipients held the event loop for seconds and stored
    them all (an outside review). Refused whole, with the reason; at the limit, read."""
    from monitor.ingest.dsn import MAX_RECIPIENTS
    from monitor.ingest.errors import MalformedReportError

    assert callable(build)
    assert len(parse_bounce(build(MAX_RECIPIENTS)).recipients) == MAX_RECIPIENTS
    with pytest.raises(MalformedReportError) as refused:
        parse_bounce(build(MAX_RECIPIENTS + 1))
    assert refused.value.reason == "too_many_recipients"
