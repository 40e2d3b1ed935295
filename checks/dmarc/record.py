"""Sans-I/O DMARC policy record parsing and validation (RFC 9989 record format, RFC 7489 compat).

``parse_record`` never raises for a bad record: what receivers would ignore is
ignored here too, and each problem becomes a finding naming the tag or term.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from checks.dmarc.report_uri import ReportUri, uri_list_findings
from checks.findings import Finding, FindingSeverity

__all__ = ["DmarcRecord", "Policy", "is_dmarc_record", "parse_record", "stronger"]

# RFC 9989: "v" is case-insensitive (ABNF), the value "DMARC1" is case-sensitive (%s).
_VERSION = re.compile(r"\s*[vV]\s*=\s*DMARC1\s*(?:;|$)")
_TAG_NAME = re.compile(r"[A-Za-z]+")
_OBSOLETE = frozenset({"pct", "rf", "ri"})
_FO_OPTIONS = frozenset({"0", "1", "d", "s"})


class Policy(StrEnum):
    NONE = "none"
    QUARANTINE = "quarantine"
    REJECT = "reject"


_STRENGTH = {Policy.NONE: 0, Policy.QUARANTINE: 1, Policy.REJECT: 2}


def stronger(a: Policy, b: Policy) -> bool:
    """Whether policy ``a`` is strictly stronger than ``b`` (none < quarantine < reject)."""
    return _STRENGTH[a] > _STRENGTH[b]


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """One parsed DMARC policy record.

    ``p``/``sp``/``np`` are None when the tag is absent *or* invalid;
    ``invalid_policy`` says a present p, sp or np had a bad value (RFC 9989
    §4.10.1 then treats the whole record as p=none if rua has a valid URI,
    and as no record otherwise). ``rua``/``ruf`` hold every URI as written,
    ``rua_uris``/``ruf_uris`` the valid ones.
    """

    text: str
    p: Policy | None = None
    sp: Policy | None = None
    np: Policy | None = None
    invalid_policy: bool = False
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    fo: tuple[str, ...] = ("0",)
    testing: bool = False
    psd: Literal["y", "n", "u"] = "u"
    rua: tuple[str, ...] = ()
    ruf: tuple[str, ...] = ()
    rua_uris: tuple[ReportUri, ...] = ()
    ruf_uris: tuple[ReportUri, ...] = ()
    pct: int | None = None
    findings: tuple[Finding, ...] = ()

    @property
    def has_valid_rua(self) -> bool:
        return any(uri.address is not None for uri in self.rua_uris)


def is_dmarc_record(text: str) -> bool:
    """Whether a TXT string is a DMARC record: it starts with ``v=DMARC1`` (RFC 9989 §4.10)."""
    return _VERSION.match(text) is not None


def parse_record(text: str) -> DmarcRecord | None:
    """Parse one TXT string; None when it is not a DMARC record at all (no leading v=DMARC1)."""
    if not is_dmarc_record(text):
        return None
    builder = _Builder(text)
    terms = [term.strip() for term in text.split(";")]
    for index, term in enumerate(terms[1:], start=1):
        if term:
            builder.term(term, index)
    return builder.build()


def _error(code: str, message: str, **detail: str | int | bool | None) -> Finding:
    return Finding(code, FindingSeverity.ERROR, message, detail)


def _warning(code: str, message: str, **detail: str | int | bool | None) -> Finding:
    return Finding(code, FindingSeverity.WARNING, message, detail)


def _info(code: str, message: str, **detail: str | int | bool | None) -> Finding:
    return Finding(code, FindingSeverity.INFO, message, detail)


def _parse_fo(value: str) -> tuple[str, ...]:
    # RFC 7489 allows a colon list of 0/1/d/s; RFC 9989 narrows it to 0, 1, d, s, d:s, s:d.
    options = tuple(option.strip().lower() for option in value.split(":"))
    if not all(option in _FO_OPTIONS for option in options):
        raise ValueError(value)
    return options


class _Builder:
    """Accumulates tags of one record; the first occurrence of a tag wins."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.flags: dict[str, str] = {}
        self.policies: dict[str, Policy] = {}
        self.fo: tuple[str, ...] = ("0",)
        self.uris: dict[str, tuple[str, ...]] = {}
        self.valid_uris: dict[str, tuple[ReportUri, ...]] = {}
        self.pct: int | None = None
        self.seen: set[str] = set()
        self.findings: list[Finding] = []
        self.invalid_policy = False
        self.p_index: int | None = None

    def term(self, term: str, index: int) -> None:
        name, equals, value = term.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not _TAG_NAME.fullmatch(name) or not value:
            self.findings.append(
                _error("dmarc.syntax_error", f"'{term}' is not a tag=value pair", term=term)
            )
            return
        tag = name.lower()
        if tag in self.seen or tag == "v":
            self.findings.append(
                _error("dmarc.duplicate_tag", f"tag {tag} appears more than once", tag=tag)
            )
            return
        self.seen.add(tag)
        if tag == "p":
            self.p_index = index
        self._tag(tag, value)

    def _tag(self, tag: str, value: str) -> None:
        if tag in _OBSOLETE:
            self._obsolete(tag, value)
        elif tag in ("rua", "ruf"):
            self._uris(tag, value)
        elif tag in _KNOWN:
            try:
                self._known(tag, value)
            except ValueError:
                self._invalid(tag, value)
        else:
            self.findings.append(
                _info("dmarc.unknown_tag", f"unknown tag {tag} is ignored", tag=tag, value=value)
            )

    def _known(self, tag: str, value: str) -> None:
        if tag in ("p", "sp", "np"):
            self.policies[tag] = Policy(value.lower())
        elif tag == "fo":
            self.fo = _parse_fo(value)
        else:
            lowered = value.lower()
            if lowered not in _KNOWN[tag]:
                raise ValueError(value)
            self.flags[tag] = lowered

    def _invalid(self, tag: str, value: str) -> None:
        if tag in ("p", "sp", "np"):
            self.invalid_policy = True
        self.findings.append(
            _error(
                "dmarc.invalid_tag_value",
                f"{tag}={value} is not a valid value for {tag}",
                tag=tag,
                value=value,
            )
        )

    def _obsolete(self, tag: str, value: str) -> None:
        self.findings.append(
            _warning(
                "dmarc.obsolete_tag",
                f"{tag} was removed in RFC 9989; RFC 7489 receivers may still act on it",
                tag=tag,
                value=value,
            )
        )
        # ASCII digits, few of them: "²".isdigit() is true and int() refuses it, and a
        # 5,000-digit pct would pass int()'s digit limit.
        if tag == "pct" and value.isascii() and value.isdigit() and len(value) <= 3:
            self.pct = int(value)
            if self.pct < 100:
                self.findings.append(
                    _warning(
                        "dmarc.pct_below_100",
                        f"pct={value}: RFC 7489 receivers apply the policy to {value}% of "
                        "failing mail only",
                        pct=self.pct,
                    )
                )

    def _uris(self, tag: str, value: str) -> None:
        texts = tuple(part.strip() for part in value.split(","))
        uris, findings = uri_list_findings(tag, texts)
        self.uris[tag] = texts
        self.valid_uris[tag] = uris
        self.findings.extend(findings)

    def build(self) -> DmarcRecord:
        if "p" not in self.seen:
            self.findings.append(
                _warning(
                    "dmarc.p_missing",
                    "no p tag: RFC 9989 reads p=none, RFC 7489 receivers may ignore the record",
                )
            )
        elif self.p_index != 1:
            self.findings.append(
                _info("dmarc.p_not_first", "p does not immediately follow v=DMARC1")
            )
        flags = self.flags
        psd = flags.get("psd", "u")
        return DmarcRecord(
            text=self.text,
            p=self.policies.get("p"),
            sp=self.policies.get("sp"),
            np=self.policies.get("np"),
            invalid_policy=self.invalid_policy,
            adkim="s" if flags.get("adkim") == "s" else "r",
            aspf="s" if flags.get("aspf") == "s" else "r",
            fo=self.fo,
            testing=flags.get("t") == "y",
            psd="y" if psd == "y" else "n" if psd == "n" else "u",
            rua=self.uris.get("rua", ()),
            ruf=self.uris.get("ruf", ()),
            rua_uris=self.valid_uris.get("rua", ()),
            ruf_uris=self.valid_uris.get("ruf", ()),
            pct=self.pct,
            findings=tuple(self.findings),
        )


# Tags with a closed set of one-letter values; p/sp/np and fo are parsed apart.
_KNOWN: dict[str, frozenset[str]] = {
    "p": frozenset(),
    "sp": frozenset(),
    "np": frozenset(),
    "fo": frozenset(),
    "adkim": frozenset("rs"),
    "aspf": frozenset("rs"),
    "t": frozenset("yn"),
    "psd": frozenset("ynu"),
}
