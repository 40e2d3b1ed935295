"""Campaign attribution from the original's headers, and the mailbox provider of a report."""

from __future__ import annotations

import pytest

from monitor.ingest.arf import Headers
from monitor.ingest.attribution import (
    MAX_CAMPAIGN_LENGTH,
    AttributionSource,
    attribute,
    attribute_campaign,
    provider_of,
    sanitise_campaign,
)
from monitor.model.events import UNATTRIBUTED, Provider

SES_FEEDBACK_ID = "1.us-west-2.0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f=:AmazonSES"


def h(*pairs: tuple[str, str]) -> Headers:
    return Headers.from_pairs(pairs)


# --- campaign order ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "campaign", "source"),
    [
        pytest.param(
            h(
                ("List-Id", "News <news.sender.example>"),
                ("Feedback-ID", "fb-camp:cust:promo:sender01"),
                ("X-Campaign-ID", "spring-sale"),
            ),
            "spring-sale",
            AttributionSource.HEADER,
            id="configured-header-first",
        ),
        pytest.param(
            h(("List-Id", "News <news.sender.example>"), ("Feedback-ID", "camp7:cust:promo:sndr1")),
            "camp7",
            AttributionSource.FEEDBACK_ID,
            id="feedback-id-before-list-id",
        ),
        pytest.param(
            h(("Feedback-ID", "camp7:sender01")),
            "camp7",
            AttributionSource.FEEDBACK_ID,
            id="feedback-id-two-fields",
        ),
        pytest.param(
            h(("Feedback-ID", "sender01"), ("List-Id", "<news.sender.example>")),
            "news.sender.example",
            AttributionSource.LIST_ID,
            id="single-field-feedback-id-is-only-a-sender-id",
        ),
        pytest.param(
            h(("Feedback-ID", SES_FEEDBACK_ID)),
            UNATTRIBUTED,
            AttributionSource.NONE,
            id="ses-feedback-id-is-per-message-not-a-campaign",
        ),
        pytest.param(
            h(("Feedback-ID", SES_FEEDBACK_ID), ("Feedback-ID", "camp9:cust:t:sender01")),
            "camp9",
            AttributionSource.FEEDBACK_ID,
            id="sender-feedback-id-beside-the-ses-one",
        ),
        pytest.param(
            h(("Feedback-ID", "1.eu-central-1.abcdef0123456789:Other")),
            UNATTRIBUTED,
            AttributionSource.NONE,
            id="ses-shaped-first-field-with-another-sender-id",
        ),
        pytest.param(
            h(("Feedback-ID", ":cust:promo:sender01")),
            UNATTRIBUTED,
            AttributionSource.NONE,
            id="feedback-id-with-empty-first-field",
        ),
        pytest.param(
            h(("List-Id", "Weekly news <weekly.news.sender.example>")),
            "weekly.news.sender.example",
            AttributionSource.LIST_ID,
            id="list-id-inside-brackets",
        ),
        pytest.param(
            h(("List-Id", "weekly.news.sender.example")),
            "weekly.news.sender.example",
            AttributionSource.LIST_ID,
            id="bare-list-id-tolerated",
        ),
        pytest.param(
            h(("List-Id", "just a description")),
            UNATTRIBUTED,
            AttributionSource.NONE,
            id="list-id-description-only",
        ),
        pytest.param(
            h(("X-Campaign-ID", "   "), ("List-Id", "<l.sender.example>")),
            "l.sender.example",
            AttributionSource.LIST_ID,
            id="blank-configured-header-falls-through",
        ),
        pytest.param(
            h(("Subject", "hello")), UNATTRIBUTED, AttributionSource.NONE, id="nothing-to-go-on"
        ),
        pytest.param(Headers(), UNATTRIBUTED, AttributionSource.NONE, id="no-headers"),
    ],
)
def test_campaign_order(headers: Headers, campaign: str, source: AttributionSource) -> None:
    result = attribute(headers)
    assert (result.campaign, result.source) == (campaign, source)
    assert attribute_campaign(headers) == campaign


def test_missing_original_is_unattributed() -> None:
    assert attribute_campaign(None) == UNATTRIBUTED


def test_configured_headers_are_tried_in_their_order_case_insensitively() -> None:
    headers = h(("x-mailing", "from-mailing"), ("X-Campaign-ID", "from-default"))
    names = ("X-Journey", "X-Mailing", "X-Campaign-ID")
    assert attribute_campaign(headers, campaign_headers=names) == "from-mailing"


def test_configured_headers_replace_the_default() -> None:
    headers = h(("X-Campaign-ID", "ignored"), ("List-Id", "<l.sender.example>"))
    assert attribute_campaign(headers, campaign_headers=("X-Journey",)) == "l.sender.example"


# --- sanitising ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("spring-sale", "spring-sale", id="kept"),
        pytest.param("  spring sale \t 2024 ", "spring_sale_2024", id="whitespace-to-underscore"),
        pytest.param("a\x00b\x1bc\x7fd", "abcd", id="controls-dropped"),
        pytest.param("caf\xe9-\u2603", "caf-", id="non-ascii-dropped"),
        pytest.param("x" * 500, "x" * MAX_CAMPAIGN_LENGTH, id="length-bounded"),
        pytest.param("reader@receiver.example", None, id="address-refused"),
        pytest.param("\u2603\u2603", None, id="nothing-left"),
        pytest.param("", None, id="empty"),
    ],
)
def test_sanitise_campaign(value: str, expected: str | None) -> None:
    assert sanitise_campaign(value) == expected


def test_a_campaign_header_holding_an_address_is_not_a_campaign() -> None:
    headers = h(("X-Campaign-ID", "token-for reader@receiver.example"), ("List-Id", "<l.example>"))
    assert attribute_campaign(headers) == "l.example"


def test_attributed_campaigns_are_label_safe() -> None:
    headers = h(("X-Campaign-ID", "\tBlack  Friday\r\n" + "é" * 300 + "z" * 300))
    campaign = attribute_campaign(headers)
    assert 0 < len(campaign) <= MAX_CAMPAIGN_LENGTH
    assert all("\x21" <= char <= "\x7e" for char in campaign)


# --- mailbox provider ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("reporter", "recipient", "agent", "provider"),
    [
        pytest.param(None, "gmail.com", None, Provider.GOOGLE, id="gmail-recipient"),
        pytest.param(None, "googlemail.com", None, Provider.GOOGLE, id="googlemail-recipient"),
        pytest.param(None, "yahoo.co.uk", None, Provider.YAHOO, id="yahoo-country-recipient"),
        pytest.param(None, "aol.com", None, Provider.YAHOO, id="aol-recipient"),
        pytest.param(None, "Hotmail.FR", None, Provider.MICROSOFT, id="hotmail-recipient"),
        pytest.param(None, "outlook.com", None, Provider.MICROSOFT, id="outlook-recipient"),
        pytest.param(None, "live.com", None, Provider.MICROSOFT, id="live-recipient"),
        pytest.param(None, "msn.com", None, Provider.MICROSOFT, id="msn-recipient"),
        pytest.param(None, "icloud.com", None, Provider.APPLE, id="icloud-recipient"),
        pytest.param(None, "me.com", None, Provider.APPLE, id="me-recipient"),
        pytest.param(None, "mac.com", None, Provider.APPLE, id="mac-recipient"),
        pytest.param(None, "comcast.net", None, Provider.COMCAST, id="comcast-recipient"),
        pytest.param("arf.mail.yahoo.com", None, None, Provider.YAHOO, id="yahoo-arf-host"),
        pytest.param("aol.net", None, None, Provider.YAHOO, id="aol-scomp-host"),
        pytest.param("feedback.verizonmedia.com", None, None, Provider.YAHOO, id="verizonmedia"),
        pytest.param("hotmail.com", None, None, Provider.MICROSOFT, id="jmrp-staff-hotmail"),
        pytest.param("jmrp.microsoft.com", None, None, Provider.MICROSOFT, id="microsoft-host"),
        pytest.param(
            "comcastfbl.senderscore.net", None, None, Provider.COMCAST, id="comcast-fbl-host"
        ),
        pytest.param(
            "rackspacefbl.senderscore.net", None, None, Provider.OTHER, id="other-senderscore-fbl"
        ),
        pytest.param(
            "email-abuse.amazonses.com",
            "y.example.com",
            "Yahoo!-Mail-Feedback/2.0",
            Provider.YAHOO,
            id="yahoo-report-resent-by-ses-by-user-agent",
        ),
        pytest.param(None, None, "AOL SComp", Provider.YAHOO, id="aol-user-agent"),
        pytest.param(
            None, None, "comcast Feedback Loop (V0.01)", Provider.COMCAST, id="comcast-ua"
        ),
        pytest.param(
            "arf.mail.yahoo.com", "hotmail.com", None, Provider.MICROSOFT, id="recipient-first"
        ),
        pytest.param("reports.example", "receiver.example", "Lua/1.0", Provider.OTHER, id="other"),
        pytest.param("notyahoo.com", "mygmail.com", None, Provider.OTHER, id="lookalikes"),
        pytest.param(None, None, None, Provider.OTHER, id="nothing-known"),
        pytest.param("", "", "", Provider.OTHER, id="empty-strings"),
    ],
)
def test_provider_of(
    reporter: str | None, recipient: str | None, agent: str | None, provider: Provider
) -> None:
    assert provider_of(reporter, recipient, agent) is provider


def test_provider_of_is_bounded_for_huge_inputs() -> None:
    huge = "a." * 10_000 + "example"
    assert provider_of(huge, huge, "x" * 100_000) is Provider.OTHER
