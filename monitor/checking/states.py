"""Check results as rows of state: one ``CheckState`` per (target, check, item).

The daemon keeps the latest state of every check it runs and a history of its
changes. The check table (``monitor.checking.table``) turns each result into its
state; this module holds the values and the DNSBL engine's adapters. Pure: no I/O.

Checks and items:

================  ===============  =====================  ==========================
check             target           item                   status
================  ===============  =====================  ==========================
``dnsbl``         IP or domain     zone id                listed/not_listed/unknown
``zone``          zone id          family (ipv4/ipv6/…)   healthy/unhealthy
``ptr``           IP               ""                     ok/warn/fail/unknown
``spf``           domain           ""                     ok/warn/fail/unknown
``envelope_spf``  domain           envelope domain        ok/warn/fail/unknown
``dmarc``         domain           ""                     ok/warn/fail/unknown
``dkim``          domain           selector               ok/warn/fail/unknown
``mx``            domain           ""                     ok/warn/fail/unknown
``compliance``    domain           ""                     ok/fail/unknown
================  ===============  =====================  ==========================

``detail`` is the check's member of the ``check --json`` target document (the same
serialiser), so the API rebuilds that document from states. ``fingerprint`` is the
SHA-256 of the published record (SPF, DMARC, DKIM, the MX set, the PTR names), so a
changed record is noticed even when its status is not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum

from checks.dnsbl import DnsblTargetResult, ZoneHealth
from checks.dnsbl.verdict import RESOLVER_REFUSAL_REASONS
from monitor.checking.documents import JsonValue, dnsbl_doc, zone_doc

__all__ = [
    "RESOLVER_REFUSED_ERRORS",
    "CheckName",
    "CheckRun",
    "CheckState",
    "StateChange",
    "dump_detail",
    "fingerprint_of",
    "states_from_dnsbl",
    "states_from_health",
]

# DNSBL error codes that mean "this list refuses our resolver", not "the target is bad".
RESOLVER_REFUSED_ERRORS = RESOLVER_REFUSAL_REASONS


class CheckName(StrEnum):
    DNSBL = "dnsbl"
    ZONE = "zone"
    PTR = "ptr"
    SPF = "spf"
    ENVELOPE_SPF = "envelope_spf"
    DMARC = "dmarc"
    DKIM = "dkim"
    MX = "mx"
    COMPLIANCE = "compliance"


@dataclass(frozen=True, slots=True)
class CheckState:
    """The latest result of one check for one target (and item); ``detail`` is JSON text."""

    target: str
    check: CheckName
    item: str
    status: str
    severity: str | None
    detail: str
    fingerprint: str | None
    checked_at: dt.datetime
    changed_at: dt.datetime | None = None  # when the status last changed (from the store)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.target, self.check.value, self.item)

    def detail_json(self) -> JsonValue:
        value: JsonValue = json.loads(self.detail)
        return value

    def detail_dict(self) -> dict[str, object]:
        """``detail`` as a JSON object; ``{}`` when it is not one (never raises)."""
        try:
            value = json.loads(self.detail)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class StateChange:
    """A state whose status or fingerprint differs from the stored one (``old`` None: new)."""

    old: CheckState | None
    new: CheckState

    @property
    def status_changed(self) -> bool:
        return self.old is None or self.old.status != self.new.status

    @property
    def record_changed(self) -> bool:
        return self.old is not None and fingerprint_changed(
            self.old.status, self.old.fingerprint, self.new.status, self.new.fingerprint
        )


def fingerprint_changed(
    old_status: str | None, old: str | None, new_status: str, new: str | None
) -> bool:
    """Whether the published record changed between two states of one check: its
    fingerprint differs, a record appearing or going away (a second SPF record, a deleted
    DKIM key: no fingerprint) included. A state that could not tell and knew no record
    before (``unknown``, no fingerprint; the store keeps the last known fingerprint
    across a failure) is neither side of a change; a first-seen state (``old_status``
    None) is not a change."""
    if old_status is None or old == new:
        return False
    return not (
        (old_status == "unknown" and old is None) or (new_status == "unknown" and new is None)
    )


@dataclass(frozen=True, slots=True)
class CheckRun:
    """The last run of one check for one target."""

    check: str
    target: str
    success: bool
    duration_seconds: float
    ran_at: dt.datetime


def dump_detail(value: JsonValue) -> str:
    """A state's detail as stored: compact, keys sorted."""
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def fingerprint_of(*parts: str | None) -> str | None:
    """SHA-256 of a published record's parts; None when nothing was published."""
    present = [p for p in parts if p is not None]
    if not present:
        return None
    return hashlib.sha256("\n".join(present).encode("utf-8")).hexdigest()


def states_from_dnsbl(
    results: Iterable[DnsblTargetResult], at: dt.datetime
) -> Iterator[CheckState]:
    for target in results:
        for r in target.results:
            yield CheckState(
                target=target.target.text,
                check=CheckName.DNSBL,
                item=r.zone,
                status=r.verdict.value,
                severity=r.severity.value if r.severity else None,
                detail=dump_detail(dnsbl_doc(r)),
                fingerprint=None,
                checked_at=at,
            )


def states_from_health(health: Iterable[ZoneHealth], at: dt.datetime) -> Iterator[CheckState]:
    for h in health:
        yield CheckState(
            target=h.zone,
            check=CheckName.ZONE,
            item=h.family.value,
            status="healthy" if h.healthy else "unhealthy",
            severity=None,
            detail=dump_detail(zone_doc(h)),
            fingerprint=None,
            checked_at=at,
        )
