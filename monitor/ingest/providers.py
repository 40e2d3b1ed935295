"""Mailbox provider of a recipient address, a bounded label set."""

from __future__ import annotations

from checks.mailboxes import provider_of_domain as _provider_of_domain
from monitor.model.events import Provider

__all__ = ["provider_of_address", "provider_of_domain"]


def provider_of_domain(domain: str) -> Provider:
    """The mailbox provider of a recipient domain (``checks.mailboxes``: the table the
    bounce classifier reads too), else other."""
    return Provider(_provider_of_domain(domain) or Provider.OTHER)


def provider_of_address(address: str) -> Provider:
    return provider_of_domain(address.rpartition("@")[2])
