"""Hosts and URLs: which hosts are this machine, which outbound URLs are acceptable, and
how a URL is shown without its secrets."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["check_webhook_url", "is_loopback_host", "is_public_address", "redact_url"]


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP literal (``127.0.0.0/8``, ``::1``)."""
    if host.lower() in {"localhost", "localhost.", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """A globally routable unicast address: not loopback, private (RFC 1918, ULA), link-local
    (169.254.0.0/16 holds cloud metadata services), shared (100.64.0.0/10), multicast,
    reserved or unspecified. IPv4-mapped and NAT64-style IPv6 forms are judged by the IPv4
    address they carry."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return is_public_address(address.ipv4_mapped)
        if address in _NAT64:
            return is_public_address(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return address.is_global and not address.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def redact_url(url: str) -> str:
    """Scheme and host (and port) only: webhook paths and queries hold secrets."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "<invalid url>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port is not None else host
    return f"{parts.scheme or '?'}://{netloc}"


def check_webhook_url(url: str) -> None:
    """An absolute http(s) URL; plain ``http`` only for a loopback host.

    Raises:
        ValueError: any other URL (the message shows the redacted URL only).
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 -- evaluated for its ValueError on a bad port
    except ValueError:
        raise ValueError("webhook url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"webhook url must be an absolute http(s) URL, got {redact_url(url)}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(
            f"webhook url {redact_url(url)} uses plain http; use https "
            "(http is allowed only for a loopback host)"
        )
