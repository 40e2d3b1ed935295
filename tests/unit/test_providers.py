"""Mailbox providers from recipient domains: a bounded label set."""

from __future__ import annotations

import pytest

from checks.bounces import provider_of as bounce_provider_of
from monitor.ingest.attribution import provider_of as attribution_provider_of
from monitor.ingest.providers import provider_of_address, provider_of_domain
from monitor.model.events import Provider


@pytest.mark.parametrize(
    ("domain", "provider"),
    [
        ("gmail.com", Provider.GOOGLE),
        ("GoogleMail.com", Provider.GOOGLE),
        ("yahoo.co.uk", Provider.YAHOO),
        ("aol.com", Provider.YAHOO),
        ("hotmail.fr", Provider.MICROSOFT),
        ("outlook.com", Provider.MICROSOFT),
        ("live.de", Provider.MICROSOFT),
        ("icloud.com", Provider.APPLE),
        ("comcast.net", Provider.COMCAST),
        ("example.com", Provider.OTHER),
        ("livemail.example", Provider.OTHER),
        ("live.example.org", Provider.OTHER),
        ("yahoo.example.com", Provider.OTHER),
        ("gmail.co.uk", Provider.GOOGLE),
        ("yahoo.co.jp", Provider.OTHER),
    ],
)
def test_provider_of_domain(domain: str, provider: Provider) -> None:
    assert provider_of_domain(domain) is provider


def test_provider_of_address_uses_the_domain() -> None:
    assert provider_of_address("someone@gmail.com") is Provider.GOOGLE


@pytest.mark.parametrize(
    ("domain", "provider"),
    [
        ("gmx.de", Provider.GMX),
        ("gmx.net", Provider.GMX),
        ("web.de", Provider.GMX),
        ("mail.com", Provider.GMX),
        ("mail.ru", Provider.MAILRU),
        ("inbox.ru", Provider.MAILRU),
        ("att.net", Provider.YAHOO),
        ("sbcglobal.net", Provider.YAHOO),
        ("bellsouth.net", Provider.YAHOO),
        ("outlook.com.br", Provider.MICROSOFT),
        ("yahoo.com.au", Provider.YAHOO),
    ],
)
def test_every_signal_names_a_mailbox_the_same_provider(domain: str, provider: Provider) -> None:
    """Sends, deliveries and complaints (this mapper) and bounces (the bounce classifier's)
    must put one mailbox in one group, or its per-provider rates mix two groups."""
    assert provider_of_domain(domain) is provider
    assert bounce_provider_of(recipient_domain=domain) == provider.value


def test_a_recipient_domain_is_matched_whole_not_by_suffix() -> None:
    """mail.gmail.com is no mailbox domain of Google's: an ARF report's recipient there is
    'other', as a send to it is (a reporter's host is matched by suffix, a mailbox not)."""
    assert provider_of_domain("mail.gmail.com") is Provider.OTHER
    assert attribution_provider_of(None, "mail.gmail.com", None) is Provider.OTHER
    assert attribution_provider_of("mail.gmail.com", None, None) is Provider.GOOGLE
