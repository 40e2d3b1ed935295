"""Hosts and URLs: which hosts are this machine, which outbound URLs are acceptable, and
how a URL is shown without its secrets."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["check_webhook_url", "is_loopback_host", "redact_url"]


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP literal (``127.0.0.0/8``, ``::1``)."""
    if host.lower() in {"localhost", "localhost.", "ip6-localhost"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


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
