"""Mailbox provider of a recipient address, a bounded label set."""

from __future__ import annotations

from checks.domains import registered_domain
from monitor.model.events import Provider

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
# Country variants (yahoo.co.uk, hotmail.fr, live.de): the brand is the registered
# label itself, so live.example.org or yahoo.example.com do not match.
_BRANDS = {
    "yahoo": Provider.YAHOO,
    "hotmail": Provider.MICROSOFT,
    "outlook": Provider.MICROSOFT,
    "live": Provider.MICROSOFT,
    "gmail": Provider.GOOGLE,
}


_NOT_BRANDS = frozenset({"yahoo.co.jp", "yahoo.ne.jp"})  # Yahoo Japan: another company


def provider_of_domain(domain: str) -> Provider:
    """google, yahoo, microsoft, apple, comcast, else other (country domains included)."""
    name = domain.lower().rstrip(".")
    if name in _DOMAINS:
        return _DOMAINS[name]
    brand, _, _rest = name.partition(".")
    if name in _NOT_BRANDS:
        return Provider.OTHER
    if brand in _BRANDS and registered_domain(name) == name:
        return _BRANDS[brand]
    return Provider.OTHER


def provider_of_address(address: str) -> Provider:
    return provider_of_domain(address.rpartition("@")[2])
