"""The mailbox provider of a recipient domain: one table for every signal.

Sends, deliveries, complaints and unsubscribes (``monitor.ingest.providers``) and bounces
(``checks.bounces.providers``) name a mailbox's provider from this one table, so that one
mailbox's figures fall in one group and its per-provider rates never mix two. The ids are
a closed set (``PROVIDERS``), so they can be metric labels.
"""

from __future__ import annotations

from checks.domains import registered_domain

__all__ = ["PROVIDERS", "provider_of_domain"]

PROVIDERS = ("google", "microsoft", "yahoo", "apple", "gmx", "comcast", "mailru", "other")

_DOMAINS: dict[str, str] = {
    **dict.fromkeys(("gmail.com", "googlemail.com"), "google"),
    **dict.fromkeys(
        ("outlook.com", "hotmail.com", "live.com", "msn.com", "windowslive.com"), "microsoft"
    ),
    **dict.fromkeys(
        (
            "yahoo.com",
            "ymail.com",
            "rocketmail.com",
            "aol.com",
            "verizon.net",
            # AT&T's consumer mailboxes are hosted by Yahoo.
            "att.net",
            "sbcglobal.net",
            "bellsouth.net",
        ),
        "yahoo",
    ),
    **dict.fromkeys(("icloud.com", "me.com", "mac.com"), "apple"),
    # United Internet: GMX, WEB.DE and mail.com.
    **dict.fromkeys(("gmx.de", "gmx.net", "gmx.com", "gmx.at", "gmx.ch", "web.de"), "gmx"),
    **dict.fromkeys(("mail.com",), "gmx"),
    **dict.fromkeys(("comcast.net",), "comcast"),
    **dict.fromkeys(("mail.ru", "bk.ru", "list.ru", "inbox.ru"), "mailru"),
}
# Country variants (yahoo.co.uk, hotmail.fr, outlook.com.br): the brand is the registered
# label itself, so live.example.org or yahoo.example.com do not match.
_BRANDS = {
    "yahoo": "yahoo",
    "hotmail": "microsoft",
    "outlook": "microsoft",
    "live": "microsoft",
    "gmail": "google",
}
_NOT_BRANDS = frozenset({"yahoo.co.jp", "yahoo.ne.jp"})  # Yahoo Japan: another company


def provider_of_domain(domain: str) -> str | None:
    """The provider id of a mailbox domain, matched whole (``mail.gmail.com`` is none),
    else None."""
    name = domain.strip().lower().rstrip(".")
    found = _DOMAINS.get(name)
    if found is not None or name in _NOT_BRANDS:
        return found
    brand = _BRANDS.get(name.partition(".")[0])
    if brand is not None and registered_domain(name) == name:
        return brand
    return None
