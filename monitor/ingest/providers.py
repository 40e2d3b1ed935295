"""Mailbox provider of a recipient address, a bounded label set."""

from __future__ import annotations

from monitor.events import Provider

__all__ = ["provider_of_address", "provider_of_domain"]

_DOMAINS: dict[str, Provider] = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), Provider.GOOGLE),
    **dict.fromkeys(
        ("yahoo.com", "ymail.com", "rocketmail.com", "aol.com", "verizon.net"), Provider.YAHOO
    ),
    **dict.fromkeys(
        ("hotmail.com", "outlook.com", "live.com", "msn.com", "windowslive.com"),
        Provider.MICROSOFT,
    ),
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), Provider.APPLE),
    **dict.fromkeys(("comcast.net",), Provider.COMCAST),
}
_PREFIXES = (
    ("yahoo.", Provider.YAHOO),
    ("hotmail.", Provider.MICROSOFT),
    ("outlook.", Provider.MICROSOFT),
    ("live.", Provider.MICROSOFT),
)


def provider_of_domain(domain: str) -> Provider:
    """google, yahoo, microsoft, apple, comcast, else other (country domains included)."""
    name = domain.lower().rstrip(".")
    if name in _DOMAINS:
        return _DOMAINS[name]
    for prefix, provider in _PREFIXES:
        if name.startswith(prefix):  # yahoo.co.uk, hotmail.fr, live.de ...
            return provider
    return Provider.OTHER


def provider_of_address(address: str) -> Provider:
    return provider_of_domain(address.rpartition("@")[2])
