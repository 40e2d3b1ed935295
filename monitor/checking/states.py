"""Check results as rows of state: one ``CheckState`` per (target, check, item).

The daemon keeps the latest state of every check it runs and a history of its
changes. This module turns result values from ``checks/`` into those rows and
back into the ``check --json`` target shape the API serves. Pure: no I/O.

Checks and items:

=============  ===============  =====================  ==========================
check          target           item                   status
=============  ===============  =====================  ==========================
``dnsbl``      IP or domain     zone id                listed/not_listed/unknown
``zone``       zone id          family (ipv4/ipv6/…)   healthy/unhealthy
``ptr``        IP               ""                     ok/warn/fail/unknown
``spf``        domain           ""                     ok/warn/fail/unknown
``dmarc``      domain           ""                     ok/warn/fail/unknown
``dkim``       domain           selector               ok/warn/fail/unknown
``mx``         domain           ""                     ok/warn/fail/unknown
=============  ===============  =====================  ==========================

``fingerprint`` is the SHA-256 of the published record (SPF, DMARC, DKIM, the MX
set, the PTR names), so a changed record is noticed even when its status is not.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.dnsbl import DnsblTargetResult, ZoneHealth
from checks.host import MxResult, PtrResult
from checks.spf import SpfResult
from monitor.checking.authcheck import DomainAuth
from monitor.checking.report import JsonValue, dnsbl_doc, jsonable

__all__ = [
    "RESOLVER_REFUSED_ERRORS",
    "CheckName",
    "CheckState",
    "StateChange",
    "auth_state",
    "states_from_auth",
    "states_from_dnsbl",
    "states_from_health",
    "states_from_ptr",
    "target_document",
]

# DNSBL error codes that mean "this list refuses our resolver", not "the target is bad".
RESOLVER_REFUSED_ERRORS = frozenset({"public_resolver", "excessive_queries", "query_refused"})


class CheckName(StrEnum):
    DNSBL = "dnsbl"
    ZONE = "zone"
    PTR = "ptr"
    SPF = "spf"
    DMARC = "dmarc"
    DKIM = "dkim"
    MX = "mx"


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
        return (
            self.old is not None
            and self.old.fingerprint is not None
            and self.new.fingerprint is not None
            and self.old.fingerprint != self.new.fingerprint
        )


def _dump(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _fingerprint(*parts: str | None) -> str | None:
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
                detail=_dump(dnsbl_doc(r)),
                fingerprint=None,
                checked_at=at,
            )


def states_from_health(health: Iterable[ZoneHealth], at: dt.datetime) -> Iterator[CheckState]:
    for h in health:
        doc: JsonValue = {
            "zone": h.zone,
            "family": h.family.value,
            "healthy": h.healthy,
            "reason": h.reason,
            "test_point": h.test_point,
        }
        yield CheckState(
            target=h.zone,
            check=CheckName.ZONE,
            item=h.family.value,
            status="healthy" if h.healthy else "unhealthy",
            severity=None,
            detail=_dump(doc),
            fingerprint=None,
            checked_at=at,
        )


def states_from_ptr(ptr: Mapping[str, PtrResult], at: dt.datetime) -> Iterator[CheckState]:
    for ip, result in ptr.items():
        yield CheckState(
            target=ip,
            check=CheckName.PTR,
            item="",
            status=result.status.value,
            severity=None,
            detail=_dump(jsonable(result)),
            fingerprint=_fingerprint(*sorted(result.names)) if result.names else None,
            checked_at=at,
        )


def states_from_auth(auth: Mapping[str, DomainAuth], at: dt.datetime) -> Iterator[CheckState]:
    for domain, result in auth.items():
        yield auth_state(domain, CheckName.SPF, "", result.spf, at)
        yield auth_state(domain, CheckName.DMARC, "", result.dmarc, at)
        for dkim in result.dkim:
            yield auth_state(domain, CheckName.DKIM, dkim.selector, dkim, at)
        yield auth_state(domain, CheckName.MX, "", result.mx, at)


def auth_state(
    domain: str,
    check: CheckName,
    item: str,
    result: SpfResult | DmarcResult | DkimResult | MxResult,
    at: dt.datetime,
) -> CheckState:
    """The state of one authentication check (``item`` is the DKIM selector, else "")."""
    if isinstance(result, MxResult):
        hosts = sorted(f"{h.preference} {h.name}" for h in result.hosts)
        fingerprint = _fingerprint(*hosts) if hosts else None
    else:
        fingerprint = _fingerprint(result.record)
    return CheckState(
        target=domain,
        check=check,
        item=item,
        status=result.status.value,
        severity=None,
        detail=_dump(jsonable(result)),
        fingerprint=fingerprint,
        checked_at=at,
    )


def target_document(target: str, kind: str, states: Sequence[CheckState]) -> dict[str, JsonValue]:
    """One target in the shape of a ``check --json`` target, from its latest states.

    Adds ``checked_at`` (the newest of its states) since the parts may come from
    different runs.
    """
    doc: dict[str, JsonValue] = {"target": target, "kind": kind}
    dnsbl: list[JsonValue] = []
    dkim: list[JsonValue] = []
    newest: dt.datetime | None = None
    for state in sorted(states, key=lambda s: (s.check.value, s.item)):
        newest = state.checked_at if newest is None else max(newest, state.checked_at)
        if state.check is CheckName.DNSBL:
            dnsbl.append(state.detail_json())
        elif state.check is CheckName.DKIM:
            dkim.append(state.detail_json())
        elif state.check is not CheckName.ZONE:
            doc[state.check.value] = state.detail_json()
    doc["dnsbl"] = dnsbl
    if kind == "domain":
        doc["dkim"] = dkim
    doc["checked_at"] = (
        newest.isoformat(timespec="seconds").replace("+00:00", "Z") if newest else None
    )
    return doc
