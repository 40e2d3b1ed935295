"""SPF record syntax (RFC 7208 §4.5, §4.6, §5, §6, §12): record selection and term parsing.

Sans-I/O. :func:`parse_record` checks the whole record before anything is
evaluated (§4.6: a syntax error anywhere is a permerror) and names the
offending term in :class:`SpfSyntaxError`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from checks.errors import ChecksError
from checks.spf.macro import MacroSyntaxError, MacroToken, check_domain_spec, parse_macro_string

__all__ = [
    "DNS_MECHANISMS",
    "Mechanism",
    "MechanismKind",
    "Modifier",
    "Qualifier",
    "RecordParser",
    "SpfRecord",
    "SpfSyntaxError",
    "is_spf_record",
    "parse_record",
    "select_records",
]

_VERSION = "v=spf1"
# re.ASCII: without it IGNORECASE also matches Unicode case folds (U+0131 dotless i for "i",
# U+017F long s for "s"), which the ASCII grammar of RFC 7208 §12 does not allow.
_MECHANISM = re.compile(
    r"(all|include|a|mx|ptr|ip4|ip6|exists)(?=$|[:/])", re.IGNORECASE | re.ASCII
)
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9_.\-]*)=(.*)", re.DOTALL)
_DUAL_CIDR = re.compile(
    r"(?::(?P<spec>.*?))?(?:/(?P<v4>0|[1-9][0-9]?))?(?://(?P<v6>0|[1-9][0-9]{0,2}))?", re.DOTALL
)
_PTR_ARGS = re.compile(r"(?::(?P<spec>.*))?", re.DOTALL)
_IP4 = re.compile(r":(?P<addr>[0-9.]+)(?:/(?P<cidr>0|[1-9][0-9]?))?")
_IP6 = re.compile(r":(?P<addr>[0-9A-Fa-f:.]+)(?:/(?P<cidr>0|[1-9][0-9]{0,2}))?")
_QNUM = re.compile(r"25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9][0-9]|[0-9]")


class SpfSyntaxError(ChecksError):
    """The record breaks the RFC 7208 grammar; ``term`` is the offending term."""

    def __init__(self, term: str, reason: str) -> None:
        super().__init__(f"{reason}: {term!r}")
        self.term = term
        self.reason = reason


class Qualifier(StrEnum):
    """A directive's qualifier, valued as the result it gives when it matches (§4.6.2)."""

    PASS = "pass"  # noqa: S105 - an SPF result, not a password
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"


_QUALIFIERS = {"+": Qualifier.PASS, "-": Qualifier.FAIL, "~": Qualifier.SOFTFAIL}
_QUALIFIERS["?"] = Qualifier.NEUTRAL


class MechanismKind(StrEnum):
    ALL = "all"
    INCLUDE = "include"
    A = "a"
    MX = "mx"
    PTR = "ptr"
    IP4 = "ip4"
    IP6 = "ip6"
    EXISTS = "exists"


_KINDS = {kind.value: kind for kind in MechanismKind}

DNS_MECHANISMS = frozenset(
    {MechanismKind.INCLUDE, MechanismKind.A, MechanismKind.MX, MechanismKind.PTR}
    | {MechanismKind.EXISTS}
)
"""Mechanisms that cost one of the 10 DNS-querying terms (§4.6.4); ``redirect`` does too."""


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One directive. ``domain_spec`` is None where the mechanism defaults to <domain>."""

    text: str
    qualifier: Qualifier
    kind: MechanismKind
    domain_spec: str | None = None
    domain_tokens: tuple[MacroToken, ...] = ()
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    cidr4: int = 32
    cidr6: int = 128


@dataclass(frozen=True, slots=True)
class Modifier:
    """A ``name=value`` term other than ``redirect`` and ``exp`` (kept, and ignored)."""

    text: str
    name: str
    value: str


@dataclass(frozen=True, slots=True)
class SpfRecord:
    """A parsed ``v=spf1`` record."""

    text: str
    mechanisms: tuple[Mechanism, ...]
    redirect: str | None = None
    redirect_tokens: tuple[MacroToken, ...] = ()
    exp: str | None = None
    exp_tokens: tuple[MacroToken, ...] = ()
    modifiers: tuple[Modifier, ...] = ()

    @property
    def all_mechanism(self) -> Mechanism | None:
        """The first ``all``: evaluation always stops there, so ``redirect`` is then unused."""
        return next((m for m in self.mechanisms if m.kind is MechanismKind.ALL), None)

    @property
    def evaluated_mechanisms(self) -> tuple[Mechanism, ...]:
        """The mechanisms up to and including the first ``all``: the only ones ever tested.

        RFC 7208 §5.1: mechanisms after "all" will never be tested.
        """
        for index, mechanism in enumerate(self.mechanisms):
            if mechanism.kind is MechanismKind.ALL:
                return self.mechanisms[: index + 1]
        return self.mechanisms

    @property
    def unreachable_mechanisms(self) -> tuple[Mechanism, ...]:
        """The mechanisms after the first ``all`` (never tested, §5.1)."""
        return self.mechanisms[len(self.evaluated_mechanisms) :]

    @property
    def dns_terms(self) -> int:
        """DNS-querying terms in this record alone (§4.6.4) that evaluation can reach: none
        after the first ``all``, and no redirect when there is an ``all``."""
        count = sum(1 for m in self.evaluated_mechanisms if m.kind in DNS_MECHANISMS)
        redirect_runs = self.redirect is not None and self.all_mechanism is None
        return count + (1 if redirect_runs else 0)


def is_spf_record(text: str) -> bool:
    """§4.5: exactly "v=spf1" (any case), then a space or the end of the record."""
    return text[:6].lower() == _VERSION and (len(text) == 6 or text[6] == " ")


def select_records(texts: Iterable[str]) -> list[str]:
    """The TXT strings that are SPF records (§4.5); the caller decides on 0 or > 1."""
    return [t for t in texts if is_spf_record(t)]


def parse_record(text: str) -> SpfRecord:
    """Parse a whole SPF record (§4.6.1, §12).

    Raises:
        SpfSyntaxError: not a ``v=spf1`` record, or any term is malformed, or
            ``redirect``/``exp`` appear more than once (§6).
    """
    if not is_spf_record(text):
        raise SpfSyntaxError(text[:20], "not an SPF version 1 record")
    mechanisms: list[Mechanism] = []
    modifiers: list[Modifier] = []
    special: dict[str, tuple[str, tuple[MacroToken, ...]]] = {}
    for term in text[6:].split(" "):
        if not term:
            continue  # runs of spaces separate terms too (§4.6.1 "1*SP")
        parsed = _parse_term(term)
        if isinstance(parsed, Mechanism):
            mechanisms.append(parsed)
            continue
        name = parsed.name.lower()
        if name in ("redirect", "exp"):
            if name in special:
                raise SpfSyntaxError(term, f"{name} appears more than once")
            special[name] = (parsed.value, _domain_spec(term, parsed.value))
        else:
            _macro_value(term, parsed.value)
            modifiers.append(parsed)
    redirect = special.get("redirect")
    exp = special.get("exp")
    return SpfRecord(
        text=text,
        mechanisms=tuple(mechanisms),
        redirect=redirect[0] if redirect else None,
        redirect_tokens=redirect[1] if redirect else (),
        exp=exp[0] if exp else None,
        exp_tokens=exp[1] if exp else (),
        modifiers=tuple(modifiers),
    )


class RecordParser:
    """:func:`parse_record` with memory: each distinct record text is parsed once.

    Share one across the evaluations of one check (the tree walk and every sending IP)
    so a record is not parsed again for each of them.
    """

    def __init__(self) -> None:
        self._parsed: dict[str, SpfRecord | SpfSyntaxError] = {}

    def parse(self, text: str) -> SpfRecord:
        """As :func:`parse_record`.

        Raises:
            SpfSyntaxError: as :func:`parse_record`.
        """
        parsed = self._parsed.get(text)
        if parsed is None:
            try:
                parsed = parse_record(text)
            except SpfSyntaxError as exc:
                parsed = exc
            self._parsed[text] = parsed
        if isinstance(parsed, SpfSyntaxError):
            raise SpfSyntaxError(parsed.term, parsed.reason)
        return parsed


def _parse_term(term: str) -> Mechanism | Modifier:
    qualifier = _QUALIFIERS.get(term[0])
    body = term[1:] if qualifier is not None else term
    match = _MECHANISM.match(body)
    kind = _KINDS.get(match.group(1).lower()) if match is not None else None
    if match is not None and kind is not None:
        return _parse_mechanism(term, qualifier or Qualifier.PASS, kind, body[match.end() :])
    modifier = _MODIFIER.fullmatch(body) if qualifier is None else None
    if modifier is None:
        raise SpfSyntaxError(term, "unknown mechanism or malformed term")
    return Modifier(text=term, name=modifier.group(1), value=modifier.group(2))


def _parse_mechanism(term: str, qualifier: Qualifier, kind: MechanismKind, rest: str) -> Mechanism:
    base = Mechanism(text=term, qualifier=qualifier, kind=kind)
    if kind is MechanismKind.ALL:
        if rest:
            raise SpfSyntaxError(term, "all takes no argument")
        return base
    if kind in (MechanismKind.IP4, MechanismKind.IP6):
        return _parse_ip(term, base, rest)
    if kind in (MechanismKind.INCLUDE, MechanismKind.EXISTS):
        if not rest.startswith(":"):
            raise SpfSyntaxError(term, f"{kind} needs ':domain'")
        spec = rest[1:]
        return _with_domain(base, term, spec)
    if kind is MechanismKind.PTR:
        ptr = _PTR_ARGS.fullmatch(rest)
        if ptr is None:
            raise SpfSyntaxError(term, "ptr takes no CIDR length")
        return _with_domain(base, term, ptr.group("spec"))
    return _parse_a_mx(term, base, rest)


def _parse_a_mx(term: str, base: Mechanism, rest: str) -> Mechanism:
    match = _DUAL_CIDR.fullmatch(rest)
    if match is None:
        raise SpfSyntaxError(term, "malformed CIDR length")
    cidr4 = int(match.group("v4") or 32)
    cidr6 = int(match.group("v6") or 128)
    if cidr4 > 32 or cidr6 > 128:
        raise SpfSyntaxError(term, "CIDR length out of range")
    with_domain = _with_domain(base, term, match.group("spec"))
    return Mechanism(
        text=term,
        qualifier=base.qualifier,
        kind=base.kind,
        domain_spec=with_domain.domain_spec,
        domain_tokens=with_domain.domain_tokens,
        cidr4=cidr4,
        cidr6=cidr6,
    )


def _with_domain(base: Mechanism, term: str, spec: str | None) -> Mechanism:
    if spec is None:
        return base
    tokens = _domain_spec(term, spec)
    return Mechanism(
        text=term, qualifier=base.qualifier, kind=base.kind, domain_spec=spec, domain_tokens=tokens
    )


def _parse_ip(term: str, base: Mechanism, rest: str) -> Mechanism:
    v4 = base.kind is MechanismKind.IP4
    match = (_IP4 if v4 else _IP6).fullmatch(rest)
    if match is None:
        raise SpfSyntaxError(term, f"malformed {base.kind} network")
    address, cidr_text = match.group("addr"), match.group("cidr")
    cidr = int(cidr_text) if cidr_text else (32 if v4 else 128)
    if cidr > (32 if v4 else 128):
        raise SpfSyntaxError(term, "CIDR length out of range")
    if v4 and not all(_QNUM.fullmatch(part) for part in _split_quad(address)):
        raise SpfSyntaxError(term, "not an IPv4 address")
    try:
        network = ipaddress.ip_network(f"{address}/{cidr}", strict=False)
    except ValueError:
        raise SpfSyntaxError(term, f"not an {'IPv4' if v4 else 'IPv6'} address") from None
    if network.version != (4 if v4 else 6):
        raise SpfSyntaxError(term, "address of the wrong family")
    return Mechanism(
        text=term, qualifier=base.qualifier, kind=base.kind, network=network, cidr4=cidr, cidr6=cidr
    )


def _split_quad(address: str) -> list[str]:
    parts = address.split(".")
    return parts if len(parts) == 4 else ["x"]


def _domain_spec(term: str, spec: str) -> tuple[MacroToken, ...]:
    try:
        return check_domain_spec(spec)
    except MacroSyntaxError as exc:
        raise SpfSyntaxError(term, str(exc)) from None


def _macro_value(term: str, value: str) -> None:
    try:
        parse_macro_string(value)
    except MacroSyntaxError as exc:
        raise SpfSyntaxError(term, str(exc)) from None
