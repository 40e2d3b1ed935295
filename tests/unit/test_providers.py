"""Mailbox providers from recipient domains: a bounded label set."""

from __future__ import annotations

import pytest

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
