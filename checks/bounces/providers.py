"""Which mailbox provider answered: from the rejecting host, the recipient domain, the text.

Precedence (as sisimai's rhost tables and the providers' MX names suggest): the host that
gave the reply (DSN ``Remote-MTA``, Postfix ``host X said``, Exim ``H=``), then the
recipient domain (``checks.mailboxes``, the table every signal shares), then a signature
in the reply text (``- gsmtp``, ``(S3150)``, ``[TSS04]``).
The ids are a closed set, so they can be metric labels.
"""

from __future__ import annotations

import re

from checks.mailboxes import PROVIDERS, provider_of_domain

__all__ = ["PROVIDERS", "provider_of"]

# MX / remote host name suffixes (the providers' published MX names).
_HOST_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("google.com", "google"),
    ("googlemail.com", "google"),
    ("outlook.com", "microsoft"),  # *.mail.protection.outlook.com, *.olc.protection...
    ("hotmail.com", "microsoft"),
    ("outlook.office365.com", "microsoft"),
    ("yahoodns.net", "yahoo"),
    ("yahoo.com", "yahoo"),
    ("aol.com", "yahoo"),
    ("icloud.com", "apple"),
    ("me.com", "apple"),
    ("gmx.net", "gmx"),
    ("gmx.com", "gmx"),
    ("web.de", "gmx"),
    ("mail.com", "gmx"),
    ("comcast.net", "comcast"),
    ("mail.ru", "mailru"),
)
# Signatures the providers put in their replies (see docs/bounces.md for the sources).
_SIGNATURES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"- gsmtp\b|\bgcdp\b|support\.google\.com/(?:mail|a)\b"), "google"),
    (
        re.compile(
            r"protection\.outlook\.com|prod\.outlook\.com|\[outlook\.com\]|postmaster\.live\.com|"
            r"sender\.office\.com|mail\.live\.com|\((?:a?s\d{3,8})\)"
        ),
        "microsoft",
    ),
    (
        re.compile(r"\[ts[s]?\d\d\]|4\.16\.55\.1|postmaster\.yahoo|senders\.yahooinc|yahoo\.com"),
        "yahoo",
    ),
    (re.compile(r"support\.apple\.com|\[(?:cs|hm)\d\d\]|\[hme1\]"), "apple"),
    (re.compile(r"postmaster\.(?:gmx|web\.de)|\(mxgmx|nemesis esmtp"), "gmx"),
    (re.compile(r"postmaster\.comcast\.net|\bcomcast\b"), "comcast"),
    (re.compile(r"help\.mail\.ru|corp\.mail\.ru"), "mailru"),
)


def _of_host(host: str) -> str | None:
    name = host.lower().strip().strip("[]").rstrip(".")
    for suffix, provider in _HOST_SUFFIXES:
        if name == suffix or name.endswith("." + suffix):
            return provider
    return None


def provider_of(
    *, remote_host: str | None = None, recipient_domain: str | None = None, text: str = ""
) -> str:
    """The provider id (``PROVIDERS``): host, then domain, then the reply's signature."""
    if remote_host:
        found = _of_host(remote_host)
        if found:
            return found
    if recipient_domain:
        found = provider_of_domain(recipient_domain)
        if found:
            return found
    lowered = text.lower()
    for pattern, provider in _SIGNATURES:
        if pattern.search(lowered):
            return provider
    return "other"
