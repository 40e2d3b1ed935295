"""The bounce classifier (checks.bounces): reply parsing, providers, the table's rules.

The replies are the providers' documented texts (see checks/bounces/sources.py) or MTA
defaults with RFC 5737 addresses; the corpus is in test_bounce_corpus.py.
"""

from __future__ import annotations

import pytest

from checks.bounces import BounceClass, classify_reply, parse_reply, provider_of
from checks.bounces.sources import SOURCES
from checks.bounces.table import CODE_RULES, RULES

B = BounceClass


@pytest.mark.parametrize(
    ("raw", "status", "enhanced", "permanent"),
    [
        ("550 5.1.1 <a@example.com>: User unknown", "550", "5.1.1", True),
        ("smtp; 421-4.7.28 [192.0.2.1] Our system 421-4.7.28 has detected", "421", "4.7.28", False),
        ("host mx.example.com[192.0.2.1] said: 452 4.2.2 over quota", "452", "4.2.2", False),
        ("SIZE=2022: 553 5.7.1 [BL21] Connections", "553", "5.7.1", True),
        ("421 4.7.0 [TSS04] deferred - 4.16.55.1; see", "421", "4.7.0", False),
        ("4.7.32 This mail has been rate limited", None, "4.7.32", False),
        ("451 example.yahoo.com Resources temporarily unavailable [#4.16.1].", "451", None, False),
        ("Mailbox unknown", None, None, None),
        # A greeting quoted before the failure (the corpus' rhost-franceptt-11): was "220".
        ("smtp; 220-laposte 421 4.2.1 Service refuse. Veuillez essayer", "421", "4.2.1", False),
        ("250 2.0.0 Ok: queued as 4FCB21B", "250", "2.0.0", None),
    ],
)
def test_reply_codes(
    raw: str, status: str | None, enhanced: str | None, permanent: bool | None
) -> None:
    reply = parse_reply(raw)
    assert (reply.status, reply.enhanced, reply.permanent) == (status, enhanced, permanent)


def test_continuation_prefixes_leave_the_text() -> None:
    reply = parse_reply("550-5.7.26 Unauthenticated email 550-5.7.26 from example.com is")
    assert reply.text == "unauthenticated email from example.com is"


@pytest.mark.parametrize(
    ("raw", "domain", "cls", "provider", "blocklist"),
    [
        (
            "421-4.7.28 [192.0.2.1] Gmail has detected an unusual rate of unsolicited mail"
            " originating from your IP address. - gsmtp",
            None,
            B.REPUTATION_RATELIMIT,
            "google",
            None,
        ),
        ("421 4.7.28 Try later", "gmail.com", B.REPUTATION_RATELIMIT, "google", None),
        ("421 4.7.28 Try later", "example.com", B.TRANSIENT_OTHER, "other", None),
        (
            "554 5.7.1 Service unavailable; Client host [192.0.2.10] blocked using "
            "zen.spamhaus.org; https://www.spamhaus.org/query/ip/192.0.2.10",
            "example.com",
            B.BLOCKLISTED,
            "other",
            "spamhaus",
        ),
        (
            "550 5.7.606 Access denied, banned sending IP [192.0.2.10]",
            "outlook.com",
            B.BLOCKLISTED,
            "microsoft",
            "microsoft",
        ),
        (
            "550 5.7.509 Access denied, sending domain [EXAMPLE.COM] does not pass DMARC "
            "verification and has a DMARC policy of reject.",
            "hotmail.com",
            B.AUTH_FAILURE_DMARC,
            "microsoft",
            None,
        ),
        (
            "421 4.7.0 [TSS04] Messages from 192.0.2.10 temporarily deferred due to "
            "unexpected volume or user complaints - 4.16.55.1",
            "yahoo.com",
            B.REPUTATION_RATELIMIT,
            "yahoo",
            None,
        ),
        ("550 IP address is block listed", "web.de", B.BLOCKLISTED, "gmx", "gmx"),
        (
            "554 comcast 192.0.2.10 Comcast block for spam. "
            "http://postmaster.comcast.net/smtp-error-codes.php#BL000000",
            "comcast.net",
            B.BLOCKLISTED,
            "comcast",
            "comcast",
        ),
        (
            "550 5.7.1 This message was not accepted due to domain (example.com) owner DMARC "
            "policy (RFC 7489) https://help.mail.ru/mail-help/postmaster/dmarc",
            "mail.ru",
            B.AUTH_FAILURE_DMARC,
            "mailru",
            None,
        ),
        (
            "550 5.7.27 The sender's domain did not pass SPF",
            "gmail.com",
            B.AUTH_FAILURE_SPF_DKIM,
            "google",
            None,
        ),
        ("552 5.2.2 Mailbox full", "icloud.com", B.MAILBOX_FULL, "apple", None),
        ("550 5.1.1", "example.com", B.MAILBOX_UNKNOWN, "other", None),
        ("550 5.7.1 Go away", "example.com", B.UNCLASSIFIED, "other", None),
        ("250 2.0.0 Ok: queued as 12345", None, B.UNCLASSIFIED, "other", None),
        ("", None, B.UNCLASSIFIED, "other", None),
    ],
)
def test_classify(
    raw: str, domain: str | None, cls: BounceClass, provider: str, blocklist: str | None
) -> None:
    found = classify_reply(raw, recipient_domain=domain)
    assert (found.cls, found.provider, found.blocklist) == (cls, provider, blocklist)
    assert (found.source is None) == (cls is B.UNCLASSIFIED)


def test_unclassified_is_not_guessed_from_a_bare_code() -> None:
    """5.7.1 is every kind of refusal; without text no class is claimed."""
    assert classify_reply("550 5.7.1").cls is B.UNCLASSIFIED
    assert classify_reply("421 4.7.0").cls is B.UNCLASSIFIED


def test_every_rule_cites_a_document() -> None:
    for rule in (*RULES, *CODE_RULES):
        assert rule.source in SOURCES, rule
        assert rule.text is not None or rule.enhanced is not None, rule


@pytest.mark.parametrize(
    ("host", "domain", "text", "provider"),
    [
        ("gmail-smtp-in.l.google.com", "example.com", "", "google"),
        ("example-com.mail.protection.outlook.com", None, "", "microsoft"),
        ("mta7.am0.yahoodns.net", None, "", "yahoo"),
        (None, "hotmail.fr", "", "microsoft"),
        (None, "yahoo.co.jp", "", "other"),
        (None, "bk.ru", "", "mailru"),
        (None, None, "550 5.7.1 ... - gsmtp", "google"),
        ("mx.example.net", "example.net", "", "other"),
    ],
)
def test_provider(host: str | None, domain: str | None, text: str, provider: str) -> None:
    assert provider_of(remote_host=host, recipient_domain=domain, text=text) == provider


@pytest.mark.parametrize(
    ("raw", "cls", "blocklist"),
    [
        # The sender's side refused: nothing about the recipient, who stays deliverable.
        (
            "550 5.1.8 <bounces@example.com>: Sender address rejected: Domain not found",
            B.POLICY_OTHER,
            None,
        ),
        (
            "553 5.1.8 <b@example.com>... Domain of sender address b@example.com does not exist",
            B.POLICY_OTHER,
            None,
        ),
        ("550 5.1.7 Bad sender address syntax", B.POLICY_OTHER, None),
        ("550 <x@example.org> not found (in reply to MAIL FROM command)", B.POLICY_OTHER, None),
        # Our own sender, HELO name or host refused, in the words a dead address uses too.
        (
            "550-Verification failed for <bounces@example.com> 550-Unrouteable address "
            "550 Sender verify failed",
            B.POLICY_OTHER,
            None,
        ),
        (
            "550 5.1.0 <bounces@example.com> sender rejected: domain does not exist",
            B.POLICY_OTHER,
            None,
        ),
        (
            "550 5.7.1 Your IP address 192.0.2.10 is not recognized, reverse DNS lookup failed",
            B.POLICY_OTHER,
            None,
        ),
        ("550 Rejected: HELO name does not exist", B.POLICY_OTHER, None),
        (
            "550 5.7.0 Our system has determined your domain does not exist in DNS (HELO)",
            B.POLICY_OTHER,
            None,
        ),
        ("550 5.7.1 Domain does not exist", B.POLICY_OTHER, None),
        # A policy code with the recipient named is still the recipient's.
        ("550 5.7.1 Recipient does not exist", B.MAILBOX_UNKNOWN, None),
        # RFC 5321's stock 550 text under a policy code; an allow list we are not on.
        ("550 5.7.1 Requested action not taken: mailbox unavailable", B.POLICY_OTHER, None),
        (
            "550 5.7.1 <x@example.org> does not exist in our whitelist of senders",
            B.POLICY_OTHER,
            None,
        ),
        ("550 5.7.1 Your IP is not listed in our whitelist", B.POLICY_OTHER, None),
        ("550 not listed in DNSWL", B.POLICY_OTHER, None),
        # A list the sender is said not to be on is not cited; one it is on still is.
        (
            "550 5.7.1 Your IP 192.0.2.1 is not listed in zen.spamhaus.org but rejected by policy",
            B.POLICY_OTHER,
            None,
        ),
        ("550 5.7.1 Rejected: not listed in Spamhaus; contact postmaster", B.UNCLASSIFIED, None),
        ("550 5.7.1 192.0.2.1 isn't listed in zen.spamhaus.org", B.UNCLASSIFIED, None),
        ("550 5.7.1 192.0.2.1 is no longer listed in zen.spamhaus.org", B.UNCLASSIFIED, None),
        ("550 5.7.1 192.0.2.1 was not found in zen.spamhaus.org", B.UNCLASSIFIED, None),
        ("550 5.7.1 Your address is not on zen.spamhaus.org", B.UNCLASSIFIED, None),
        (
            "554 5.7.1 not listed in bl.spamcop.net, but blocked using zen.spamhaus.org",
            B.BLOCKLISTED,
            "spamhaus",
        ),
        # Still the recipient's: the stock text without a policy code, a 5.1.1.
        ("550 Requested action not taken: mailbox unavailable", B.MAILBOX_UNKNOWN, None),
        (
            "550 5.1.1 <x@example.org>: Recipient address rejected: User unknown",
            B.MAILBOX_UNKNOWN,
            None,
        ),
        # A list named as the reply's last word; a citation at the MAIL FROM stage.
        ("550 5.7.1 Message rejected by Spamhaus", B.BLOCKLISTED, "spamhaus"),
        ("550 5.7.1 Message rejected by Spamhaus.", B.BLOCKLISTED, "spamhaus"),
        (
            "554 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org "
            "(in reply to MAIL FROM command)",
            B.BLOCKLISTED,
            "spamhaus",
        ),
    ],
)
def test_senders_side_refusals_and_allow_lists_are_not_dead_addresses(
    raw: str, cls: BounceClass, blocklist: str | None
) -> None:
    found = classify_reply(raw, recipient_domain="example.org")
    assert (found.cls, found.blocklist) == (cls, blocklist)


def test_docs_bounces_is_the_table() -> None:
    from pathlib import Path

    from checks.bounces.doc import render

    doc = Path(__file__).resolve().parents[2] / "docs" / "bounces.md"
    assert doc.read_text(encoding="utf-8") == render()
