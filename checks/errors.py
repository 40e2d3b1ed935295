"""Exceptions of the ``checks`` package: one root, ``ChecksError`` (a ``ValueError``: every one
of them is a value that cannot be used, and callers such as config validators catch it so).

ChecksError
├── TargetError        an IP or domain that is not a DNSBL target (checks.dnsbl.targets)
├── CatalogueError     a zone catalogue or zone entry that cannot be used (checks.dnsbl.catalogue)
├── DomainError        a name that is not a valid domain (checks.domains)
├── InvalidNameError   a DNS name that cannot be encoded on the wire (checks.dns.wire)
├── InvalidUriError    a DMARC rua/ruf URI that cannot be used (checks.dmarc.report_uri)
├── SpfSyntaxError     an SPF record that does not parse (checks.spf.record)
└── MacroSyntaxError   an SPF macro that does not parse (checks.spf.macro)

Results are values, not exceptions: a DNS failure or a broken record is a result with
findings. These exceptions are for inputs the caller gave that cannot be checked at all.
"""

from __future__ import annotations

__all__ = ["ChecksError"]


class ChecksError(ValueError):
    """Root of the checks package's exceptions."""
