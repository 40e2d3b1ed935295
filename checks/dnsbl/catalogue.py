"""The bundled, versioned DNSBL zone catalogue (``catalogue.toml``) and custom zones.

A zone's entry says what kind of list it is (IP or domain, IPv4/IPv6), how to
read its answers (a return-code table, a bitmask, or any 127/8 answer), which
answers are errors rather than listings, its severity, whether it needs a key
or a registered resolver, where to delist, and its RFC 5782 §5 test points.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from checks.domains import DomainError, to_a_label
from checks.errors import ChecksError

__all__ = [
    "Catalogue",
    "CatalogueError",
    "ErrorCode",
    "Match",
    "ReturnCode",
    "Severity",
    "ZoneKind",
    "ZoneSpec",
    "generic_zone",
    "load_catalogue",
    "parse_zone",
]

KEY_PLACEHOLDER = "{key}"
_E = TypeVar("_E", bound=StrEnum)
# A domain list's test point: one or more LDH labels ("test", "invalid", "dbltest.com").
_NAME_POINT = re.compile(r"[A-Za-z0-9_-]{1,63}(?:\.[A-Za-z0-9_-]{1,63})*")
_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")


class CatalogueError(ChecksError):
    """The catalogue or a custom zone definition is invalid; ``problems`` lists every issue."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class ZoneKind(StrEnum):
    IP = "ip"
    DOMAIN = "domain"


class Match(StrEnum):
    EXACT = "exact"  # a table of return codes
    BITMASK = "bitmask"  # bits of the last octet (URIBL, SURBL)
    ANY = "any"  # any 127/8 answer is a listing (generic RFC 5782 list)


class Severity(StrEnum):
    CRITICAL = "critical"
    MAJOR = "major"
    MINOR = "minor"
    INFO = "info"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {Severity.INFO: 0, Severity.MINOR: 1, Severity.MAJOR: 2, Severity.CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class ReturnCode:
    """One documented answer: an exact address, or a bit of the last octet.

    ``listing`` is false for documented answers that are not listings, such as
    the good-reputation levels of a reputation zone.
    """

    meaning: str
    value: str | None = None
    bit: int | None = None
    severity: Severity | None = None
    listing: bool = True


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """An answer that is not a listing but says the query or resolver is broken."""

    value: str
    reason: str
    meaning: str


@dataclass(frozen=True, slots=True)
class ZoneSpec:
    """One DNSBL zone. ``id`` is safe to log and label; ``query_zone`` may hold a key."""

    id: str
    query_zone: str
    kind: ZoneKind
    match: Match
    severity: Severity
    ipv4: bool = True
    ipv6: bool = False
    operator: str = ""
    description: str = ""
    early_warning: bool = False
    recommended: bool = False
    requires_key: bool = False
    key_name: str = ""
    requires_registration: bool = False
    refuses_public_resolvers: bool = False
    delist_url: str = ""
    codes: tuple[ReturnCode, ...] = ()
    errors: tuple[ErrorCode, ...] = ()
    test_listed: tuple[str, ...] = ()
    test_not_listed: tuple[str, ...] = ()
    test_listed_v6: tuple[str, ...] = ()
    test_not_listed_v6: tuple[str, ...] = ()
    custom: bool = False

    @property
    def has_key(self) -> bool:
        """True once a keyed zone's key has been filled in."""
        return KEY_PLACEHOLDER not in self.query_zone

    def with_key(self, key: str) -> ZoneSpec:
        """The zone with its ``{key}`` placeholder filled; the id stays key-free."""
        if not key or not key.isascii() or not key.replace("-", "").isalnum():
            raise CatalogueError([f"zone {self.id}: the key must be an ASCII alphanumeric code"])
        return replace(self, query_zone=self.query_zone.replace(KEY_PLACEHOLDER, key.lower()))

    def applies_to_ip(self, version: int) -> bool:
        return self.kind is ZoneKind.IP and (self.ipv4 if version == 4 else self.ipv6)


@dataclass(frozen=True, slots=True)
class Catalogue:
    version: str
    zones: tuple[ZoneSpec, ...]

    def get(self, zone_id: str) -> ZoneSpec | None:
        """Look a zone up by id or by its (key-free) query zone name."""
        wanted = zone_id.lower().rstrip(".")
        for zone in self.zones:
            if wanted in (zone.id, zone.query_zone):
                return zone
        return None

    def recommended(self) -> tuple[ZoneSpec, ...]:
        return tuple(z for z in self.zones if z.recommended)


def generic_zone(name: str, kind: ZoneKind = ZoneKind.IP) -> ZoneSpec:
    """A zone not in the catalogue: RFC 5782 semantics, any 127/8 answer is a listing."""
    zone = name.lower().rstrip(".")
    ip = kind is ZoneKind.IP
    return ZoneSpec(
        id=zone,
        query_zone=zone,
        kind=kind,
        match=Match.ANY,
        severity=Severity.MAJOR,
        ipv4=ip,
        ipv6=False,
        test_listed=("127.0.0.2",) if ip else ("test",),
        test_not_listed=("127.0.0.1",) if ip else ("invalid",),
        custom=True,
    )


def load_catalogue(path: Path | None = None) -> Catalogue:
    """Load the bundled catalogue (or ``path``).

    Raises:
        CatalogueError: listing every invalid entry.
    """
    if path is None:
        text = resources.files("checks.dnsbl").joinpath("catalogue.toml").read_text("utf-8")
    else:
        text = path.read_text("utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError([f"catalogue is not valid TOML: {exc}"]) from exc
    problems: list[str] = []
    zones: list[ZoneSpec] = []
    for index, entry in enumerate(data.get("zone", [])):
        try:
            zones.append(parse_zone(entry))
        except CatalogueError as exc:
            problems.extend(f"zone #{index}: {p}" for p in exc.problems)
    seen: set[str] = set()
    for zone in zones:
        if zone.id in seen:
            problems.append(f"duplicate zone id {zone.id}")
        seen.add(zone.id)
    if problems:
        raise CatalogueError(problems)
    return Catalogue(version=str(data.get("version", "unversioned")), zones=tuple(zones))


def parse_zone(entry: Mapping[str, Any], *, custom: bool = False) -> ZoneSpec:
    """Build a :class:`ZoneSpec` from a catalogue/config mapping.

    Raises:
        CatalogueError: listing every problem in the entry.
    """
    problems: list[str] = []
    zone_id = str(entry.get("id", "")).lower().rstrip(".")
    if not zone_id:
        problems.append("missing id")
    else:
        zone_id = zone_name(zone_id, "id", problems)
    query_zone = str(entry.get("query_zone", zone_id)).lower().rstrip(".")
    if query_zone != zone_id:
        query_zone = zone_name(query_zone, "query_zone", problems)
    kind = _enum(ZoneKind, entry.get("kind", "ip"), "kind", problems)
    match = _enum(Match, entry.get("match", "any"), "match", problems)
    severity = _enum(Severity, entry.get("severity", "major"), "severity", problems)
    requires_key = bool(entry.get("requires_key", False))
    if requires_key != (KEY_PLACEHOLDER in query_zone):
        problems.append(f"{zone_id}: requires_key and a '{{key}}' in query_zone go together")
    codes = tuple(_code(c, match, zone_id, problems) for c in entry.get("code", ()))
    errors = tuple(
        ErrorCode(value=str(e["value"]), reason=str(e["reason"]), meaning=str(e.get("meaning", "")))
        for e in entry.get("error", ())
        if _has(e, ("value", "reason"), zone_id, problems)
        and _answer(e["value"], f"error value {e['value']!r}", zone_id, problems)
    )
    if kind is not None:
        _test_points(entry, kind, zone_id, problems)
    if match is Match.EXACT and not codes:
        problems.append(f"{zone_id}: match = 'exact' needs at least one code")
    if problems or kind is None or match is None or severity is None:
        raise CatalogueError(problems)
    ip = kind is ZoneKind.IP
    default_listed = ("127.0.0.2",) if ip else ("test",)
    default_clean = ("127.0.0.1",) if ip else ("invalid",)
    ipv6 = ip and bool(entry.get("ipv6", False))
    return ZoneSpec(
        id=zone_id,
        query_zone=query_zone,
        kind=kind,
        match=match,
        severity=severity,
        ipv4=ip and bool(entry.get("ipv4", True)),
        ipv6=ipv6,
        operator=str(entry.get("operator", "")),
        description=str(entry.get("description", "")),
        early_warning=bool(entry.get("early_warning", False)),
        recommended=bool(entry.get("recommended", False)),
        requires_key=requires_key,
        key_name=str(entry.get("key_name", "")),
        requires_registration=bool(entry.get("requires_registration", False)),
        refuses_public_resolvers=bool(entry.get("refuses_public_resolvers", False)),
        delist_url=str(entry.get("delist_url", "")),
        codes=codes,
        errors=errors,
        test_listed=tuple(entry.get("test_listed", default_listed)),
        test_not_listed=tuple(entry.get("test_not_listed", default_clean)),
        test_listed_v6=tuple(entry.get("test_listed_v6", ("::ffff:7f00:2",) if ipv6 else ())),
        test_not_listed_v6=tuple(
            entry.get("test_not_listed_v6", ("::ffff:7f00:1",) if ipv6 else ())
        ),
        custom=custom,
    )


def _enum(cls: type[_E], value: object, key: str, problems: list[str]) -> _E | None:
    try:
        return cls(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        problems.append(f"{key} must be one of {allowed}, got {value!r}")
        return None


def _has(entry: Mapping[str, Any], keys: Iterable[str], zone_id: str, problems: list[str]) -> bool:
    missing = [k for k in keys if k not in entry]
    if missing:
        problems.append(f"{zone_id}: entry lacks {', '.join(missing)}")
    return not missing


def zone_name(name: str, what: str, problems: list[str]) -> str:
    """``name`` as a zone to query under (A-labels, lower-case), or a problem; a key's
    placeholder stands for one label."""
    try:
        if KEY_PLACEHOLDER in name:
            to_a_label(name.replace(KEY_PLACEHOLDER, "key"))
            return name.lower().rstrip(".")
        return to_a_label(name)
    except DomainError as exc:
        problems.append(f"{what}: {exc}")
        return name


def _answer(value: object, what: str, zone_id: str, problems: list[str]) -> bool:
    """A return code a list answers with: an IPv4 address in 127.0.0.0/8 (RFC 5782 §2.1;
    delivermon reads any other answer as an error of the list, never as a code)."""
    try:
        address = ipaddress.IPv4Address(str(value))
    except ValueError:
        problems.append(f"{zone_id}: {what} is not an IPv4 address")
        return False
    if address not in _LOOPBACK:
        problems.append(f"{zone_id}: {what} is outside 127.0.0.0/8, so no answer can match it")
        return False
    return True


def _test_points(
    entry: Mapping[str, Any], kind: ZoneKind, zone_id: str, problems: list[str]
) -> None:
    """RFC 5782 §5 test points of the zone's kind: IPv4 and IPv6 addresses in their own
    lists for an IP list, names for a domain list."""
    checks: tuple[tuple[str, int], ...]  # (key, IP version or 0 for a name)
    if kind is ZoneKind.IP:
        checks = (("test_listed", 4), ("test_not_listed", 4))
        checks += (("test_listed_v6", 6), ("test_not_listed_v6", 6))
    else:
        checks = (("test_listed", 0), ("test_not_listed", 0))
    for key, version in checks:
        for point in entry.get(key, ()):
            if version:
                try:
                    good = ipaddress.ip_address(str(point)).version == version
                except ValueError:
                    good = False
                expected = f"an IPv{version} address"
            else:
                good = isinstance(point, str) and _NAME_POINT.fullmatch(point) is not None
                expected = "a domain name"
            if not good:
                problems.append(f"{zone_id}: {key} {point!r} is not {expected}")


def _code(
    entry: Mapping[str, Any], match: Match | None, zone_id: str, problems: list[str]
) -> ReturnCode:
    severity = entry.get("severity")
    sev = _enum(Severity, severity, "code severity", problems) if severity is not None else None
    bit = entry.get("bit")
    if match is Match.BITMASK and not isinstance(bit, int):
        problems.append(f"{zone_id}: bitmask codes need an integer 'bit'")
    if bit is not None and (not isinstance(bit, int) or not 0 < bit < 256):
        # A mask over the answer's last octet (127.0.0.x & bit).
        problems.append(f"{zone_id}: code bit {bit!r} is not a mask of the last octet (1-255)")
    if match is not Match.BITMASK and "value" not in entry:
        problems.append(f"{zone_id}: codes need a 'value'")
    if "value" in entry:
        _answer(entry["value"], f"code value {entry['value']!r}", zone_id, problems)
    return ReturnCode(
        meaning=str(entry.get("meaning", "")),
        value=str(entry["value"]) if "value" in entry else None,
        bit=bit if isinstance(bit, int) else None,
        severity=sev,
        listing=bool(entry.get("listing", True)),
    )
