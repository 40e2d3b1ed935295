"""Sans-I/O rua/ruf URIs: parsing ``mailto:`` destinations and the external-destination rule.

RFC 9989 §4.7: a comma-separated list of URIs; receivers must support mailto.
RFC 7489 allowed a ``!size`` suffix, which RFC 9989 removed. A destination in
another organisational domain must publish
``<policy-domain>._report._dmarc.<destination-host>`` (TXT, v=DMARC1).
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from checks.domains import DomainError, registered_domain, to_a_label
from checks.errors import ChecksError
from checks.findings import Finding, FindingSeverity

__all__ = [
    "MAX_URIS",
    "InvalidUriError",
    "ReportUri",
    "authorization_name",
    "needs_authorization",
    "parse_report_uri",
    "uri_list_findings",
]

MAX_URIS = 2  # receivers may ignore URIs past the second
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*):")
_SIZE = re.compile(r"!\d+[kmgtKMGT]?$")


class InvalidUriError(ChecksError):
    """An rua/ruf entry that is not a usable URI; the message says why."""


@dataclass(frozen=True, slots=True)
class ReportUri:
    """One valid rua/ruf URI. ``address``/``domain`` are None for a non-mailto scheme."""

    text: str
    scheme: str
    address: str | None = None
    domain: str | None = None
    size: str | None = None


def parse_report_uri(text: str) -> ReportUri:
    """Parse one URI of an rua/ruf list.

    Raises:
        InvalidUriError: no scheme, or a mailto URI without a valid user@domain.
    """
    match = _SCHEME.match(text)
    if match is None:
        raise InvalidUriError("no URI scheme (expected mailto:)")
    scheme = match.group(1).lower()
    if scheme != "mailto":
        return ReportUri(text, scheme)
    rest = text[match.end() :]
    size_match = _SIZE.search(rest)
    size = size_match.group(0)[1:] if size_match else None
    if size_match:
        rest = rest[: size_match.start()]
    address = urllib.parse.unquote(rest.split("?", 1)[0])
    local, at, host = address.rpartition("@")
    if not at or not local or any(c in address for c in " ,!<>\t"):
        raise InvalidUriError("mailto: needs exactly one address user@domain")
    try:
        domain = to_a_label(host)
    except DomainError as exc:
        raise InvalidUriError(str(exc)) from None
    return ReportUri(text, scheme, f"{local}@{domain}", domain, size)


def uri_list_findings(
    tag: str, texts: tuple[str, ...]
) -> tuple[tuple[ReportUri, ...], tuple[Finding, ...]]:
    """Parse every URI of one rua/ruf tag: the valid URIs and the findings about the list."""
    uris: list[ReportUri] = []
    findings: list[Finding] = []
    for text in texts:
        try:
            uri = parse_report_uri(text)
        except InvalidUriError as exc:
            findings.append(
                Finding(
                    "dmarc.invalid_uri",
                    FindingSeverity.ERROR,
                    f"{tag} entry '{text}' is not a valid report URI: {exc}",
                    {"tag": tag, "uri": text},
                )
            )
            continue
        uris.append(uri)
        findings.extend(_uri_findings(tag, uri))
    if len(texts) > MAX_URIS:
        findings.append(
            Finding(
                "dmarc.too_many_uris",
                FindingSeverity.WARNING,
                f"{tag} lists {len(texts)} URIs; receivers may use only the first {MAX_URIS}",
                {"tag": tag, "count": len(texts)},
            )
        )
    return tuple(uris), tuple(findings)


def _uri_findings(tag: str, uri: ReportUri) -> list[Finding]:
    detail: dict[str, str | int | bool | None] = {"tag": tag, "uri": uri.text}
    if uri.address is None:
        return [
            Finding(
                "dmarc.uri_not_mailto",
                FindingSeverity.WARNING,
                f"{tag} URI '{uri.text}' is not mailto:; receivers need only support mailto",
                detail,
            )
        ]
    if uri.size is not None:
        return [
            Finding(
                "dmarc.uri_size_suffix",
                FindingSeverity.WARNING,
                f"{tag} URI '{uri.text}' has the '!{uri.size}' suffix RFC 9989 removed",
                detail,
            )
        ]
    return []


def needs_authorization(policy_domain: str, destination: str) -> bool:
    """Whether a report destination is external: its registered domain differs (PSL)."""
    return registered_domain(destination) != registered_domain(policy_domain)


def authorization_name(policy_domain: str, destination: str) -> str:
    """The TXT name a destination publishes to accept reports for ``policy_domain``."""
    return f"{policy_domain}._report._dmarc.{destination}"
