"""Which campaign and which mailbox provider a feedback report belongs to.

Campaigns come from the complained-about message's own headers (issue 4 item 4);
providers from the report's origin. Both end up as metric labels, so both are
bounded: a campaign id is at most ``MAX_CAMPAIGN_LENGTH`` printable ASCII
characters and never carries an address, a provider is a :class:`Provider`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from monitor.ingest.arf import Headers
from monitor.ingest.providers import provider_of_domain
from monitor.model.events import UNATTRIBUTED, Provider

__all__ = [
    "DEFAULT_CAMPAIGN_HEADERS",
    "MAX_CAMPAIGN_LENGTH",
    "Attribution",
    "AttributionSource",
    "attribute",
    "attribute_campaign",
    "provider_of",
    "sanitise_campaign",
]

MAX_CAMPAIGN_LENGTH = 128
DEFAULT_CAMPAIGN_HEADERS = ("X-Campaign-ID",)


class AttributionSource(StrEnum):
    """Where a campaign id was found (``none``: the campaign is ``unattributed``)."""

    HEADER = "header"
    FEEDBACK_ID = "feedback_id"
    LIST_ID = "list_id"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class Attribution:
    campaign: str
    source: AttributionSource


_WHITESPACE = re.compile(r"\s+")
_NOT_LABEL_SAFE = re.compile(r"[^\x21-\x7e]")


def sanitise_campaign(value: str) -> str | None:
    """A label-safe campaign id, or None when nothing usable remains.

    Whitespace runs become ``_``; characters outside printable ASCII (controls,
    non-ASCII) are dropped; the result is cut to ``MAX_CAMPAIGN_LENGTH``. A value
    containing ``@`` is refused: campaign ids become metric labels and must never
    carry an address (a per-recipient token in the wrong header, for instance).
    """
    text = _NOT_LABEL_SAFE.sub("", _WHITESPACE.sub("_", value.strip()))
    if not text or "@" in text:
        return None
    return text[:MAX_CAMPAIGN_LENGTH]


# Amazon SES adds its own Feedback-ID, "1.us-west-2.<per-message hash>:AmazonSES". It
# has two fields, but its first one is unique to each message: taking it as a campaign
# would make every complaint its own campaign (and an unbounded label set).
_ESP_SENDER_IDS = frozenset({"amazonses"})
_SES_FIRST_FIELD = re.compile(r"\d+\.[a-z]{2}(?:-[a-z]+)+-\d+\.", re.IGNORECASE)


def _feedback_id_campaign(values: Sequence[str]) -> str | None:
    """The first field of a Gmail ``campaign:customer:mailtype:SenderId`` Feedback-ID.

    Only a Feedback-ID with at least two fields names a campaign (a lone field is
    the SenderId); ESP-generated per-message Feedback-IDs are skipped.
    """
    for value in values:
        fields = [part.strip() for part in value.strip().split(":")]
        if len(fields) < 2 or not fields[0]:
            continue
        if fields[-1].lower() in _ESP_SENDER_IDS or _SES_FIRST_FIELD.match(fields[0]):
            continue
        campaign = sanitise_campaign(fields[0])
        if campaign is not None:
            return campaign
    return None


def _list_id_campaign(values: Sequence[str]) -> str | None:
    """The list identifier of ``List-Id: Description <list-id.example.com>`` (RFC 2919 §3)."""
    for value in values:
        start, end = value.rfind("<"), value.rfind(">")
        if 0 <= start < end:
            candidate = value[start + 1 : end].strip()
        elif "<" in value or ">" in value or len(value.split()) != 1:
            continue
        else:
            candidate = value.strip()  # tolerated: a bare list-id without brackets
        campaign = sanitise_campaign(candidate)
        if campaign is not None:
            return campaign
    return None


def attribute(
    headers: Headers | None, *, campaign_headers: Sequence[str] = DEFAULT_CAMPAIGN_HEADERS
) -> Attribution:
    """The campaign of a message and where it was found (see :func:`attribute_campaign`)."""
    if headers is None:
        return Attribution(UNATTRIBUTED, AttributionSource.NONE)
    for name in campaign_headers:
        for value in headers.get_all(name):
            campaign = sanitise_campaign(value)
            if campaign is not None:
                return Attribution(campaign, AttributionSource.HEADER)
    campaign = _feedback_id_campaign(headers.get_all("Feedback-ID"))
    if campaign is not None:
        return Attribution(campaign, AttributionSource.FEEDBACK_ID)
    campaign = _list_id_campaign(headers.get_all("List-Id"))
    if campaign is not None:
        return Attribution(campaign, AttributionSource.LIST_ID)
    return Attribution(UNATTRIBUTED, AttributionSource.NONE)


def attribute_campaign(
    headers: Headers | None, *, campaign_headers: Sequence[str] = DEFAULT_CAMPAIGN_HEADERS
) -> str:
    """The campaign of a complained-about message, from its headers, in this order:

    1. the configured headers (``[feedback] campaign_headers``, default ``X-Campaign-ID``);
    2. the first field of ``Feedback-ID`` when it has at least two fields (Gmail's
       ``campaign:customer:mailtype:SenderId``), never an ESP's per-message id;
    3. the id inside ``<...>`` of ``List-Id`` (RFC 2919);
    4. otherwise (or without an original message: ``headers`` None) ``unattributed``.
    """
    return attribute(headers, campaign_headers=campaign_headers).campaign


# Suffixes of the hosts that send feedback reports, and of mailbox domains that
# ``provider_of_domain`` does not list (sub-domains, corporate domains).
_SUFFIXES: tuple[tuple[str, Provider], ...] = (
    *((s, Provider.GOOGLE) for s in ("google.com", "gmail.com", "googlemail.com")),
    *(
        (s, Provider.YAHOO)
        for s in (
            "yahoo.com",
            "yahoo.net",
            "yahoodns.net",
            "yahooinc.com",
            "aol.com",
            "aol.net",
            "verizonmedia.com",
            "oath.com",
        )
    ),
    *(
        (s, Provider.MICROSOFT)
        for s in ("hotmail.com", "outlook.com", "live.com", "msn.com", "microsoft.com")
    ),
    *((s, Provider.APPLE) for s in ("apple.com", "icloud.com", "me.com", "mac.com")),
    # Comcast's feedback loop is run by Validity (Return Path) on senderscore.net.
    *((s, Provider.COMCAST) for s in ("comcast.net", "comcast.com", "comcastfbl.senderscore.net")),
)
_USER_AGENTS: tuple[tuple[re.Pattern[str], Provider], ...] = (
    (re.compile(r"\byahoo|\baol\b"), Provider.YAHOO),  # Yahoo!-Mail-Feedback, AOL SComp
    (re.compile(r"\b(?:hotmail|jmrp|microsoft|outlook)"), Provider.MICROSOFT),
    (re.compile(r"\bcomcast"), Provider.COMCAST),
    (re.compile(r"\b(?:google|gmail)"), Provider.GOOGLE),
    (re.compile(r"\b(?:apple|icloud)"), Provider.APPLE),
)


def _provider_of_host(domain: str) -> Provider:
    name = domain.strip().rstrip(".").lower()[:253]
    if not name:
        return Provider.OTHER
    known = provider_of_domain(name)
    if known is not Provider.OTHER:
        return known
    for suffix, provider in _SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            return provider
    return Provider.OTHER


def provider_of(
    reporter_domain: str | None, recipient_domain: str | None, user_agent: str | None
) -> Provider:
    """The mailbox provider a report speaks for: google, yahoo (Yahoo, AOL and their
    ARF hosts), microsoft (Hotmail/Outlook/Live/MSN, JMRP), apple, comcast, else other.

    The recipient's domain decides first (it is the mailbox), then the reporter's
    domain (the feedback-loop host), then the report's User-Agent (a Yahoo report
    re-sent by Amazon SES is recognised by ``Yahoo!-Mail-Feedback``).
    """
    if recipient_domain:  # a mailbox domain, matched whole as a send's recipient is
        provider = provider_of_domain(recipient_domain.strip()[:253])
        if provider is not Provider.OTHER:
            return provider
    if reporter_domain:  # a feedback-loop host, matched by suffix
        provider = _provider_of_host(reporter_domain)
        if provider is not Provider.OTHER:
            return provider
    if user_agent:
        agent = user_agent[:256].lower()
        for pattern, provider in _USER_AGENTS:
            if pattern.search(agent):
                return provider
    return Provider.OTHER
