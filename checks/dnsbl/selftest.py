"""RFC 5782 §5 zone self-tests: the listed test point must be listed, the other not.

A zone that fails is unhealthy: its results in that run are ``unknown`` with
reason ``zone_unhealthy``, never listed or clean. A zone that lists its
must-not-list point "lists the world" (a dead list with a wildcard).
"""

from __future__ import annotations

import asyncio
import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from checks.dns.client import DnsClient
from checks.dns.outcome import RdataType
from checks.dnsbl.catalogue import ZoneKind, ZoneSpec
from checks.dnsbl.targets import ip_query_label
from checks.dnsbl.verdict import Verdict, evaluate_answer

__all__ = [
    "REASON_LISTS_EVERYTHING",
    "REASON_TEST_POINT_NOT_LISTED",
    "ZoneHealth",
    "self_test_name",
    "self_test_zone",
]

REASON_TEST_POINT_NOT_LISTED = "test_point_not_listed"
REASON_LISTS_EVERYTHING = "lists_everything"


class Family(StrEnum):
    """The address family (or domain) a self-test vouches for."""

    IPV4 = "ipv4"
    IPV6 = "ipv6"
    DOMAIN = "domain"


@dataclass(frozen=True, slots=True)
class ZoneHealth:
    """Self-test outcome for one zone and family.

    ``reason`` is a machine code; ``test_point`` the failing point. An IPv6
    failure does not condemn the zone's IPv4 results, nor the reverse.
    """

    zone: str
    family: Family
    healthy: bool
    reason: str | None = None
    test_point: str | None = None


def family_of(zone: ZoneSpec, ip_version: int | None) -> Family:
    if zone.kind is ZoneKind.DOMAIN:
        return Family.DOMAIN
    return Family.IPV6 if ip_version == 6 else Family.IPV4


def self_test_name(zone: ZoneSpec, point: str) -> str:
    """The query name of a test point: a reversed address, or a name, under the zone."""
    if zone.kind is ZoneKind.IP:
        return f"{ip_query_label(ipaddress.ip_address(point))}.{zone.query_zone}"
    return f"{point}.{zone.query_zone}"


async def self_test_zone(zone: ZoneSpec, *, dns: DnsClient) -> tuple[ZoneHealth, ...]:
    """Query every test point of ``zone``; one health value per family the zone serves."""
    plans: list[tuple[Family, tuple[str, ...], tuple[str, ...]]] = []
    if zone.kind is ZoneKind.DOMAIN:
        plans.append((Family.DOMAIN, zone.test_listed, zone.test_not_listed))
    else:
        if zone.ipv4:
            plans.append((Family.IPV4, zone.test_listed, zone.test_not_listed))
        if zone.ipv6:
            plans.append((Family.IPV6, zone.test_listed_v6, zone.test_not_listed_v6))
    return tuple(
        await asyncio.gather(*(_test_family(zone, f, yes, no, dns) for f, yes, no in plans))
    )


async def _test_family(
    zone: ZoneSpec,
    family: Family,
    listed: tuple[str, ...],
    not_listed: tuple[str, ...],
    dns: DnsClient,
) -> ZoneHealth:
    points = [(p, True) for p in listed] + [(p, False) for p in not_listed]
    outcomes = await asyncio.gather(
        *(dns.query(self_test_name(zone, p), RdataType.A, rate_key=zone.id) for p, _ in points)
    )
    for (point, must_be_listed), outcome in zip(points, outcomes, strict=True):
        result = evaluate_answer(zone, outcome)
        if result.verdict is Verdict.UNKNOWN:
            return ZoneHealth(zone.id, family, False, result.error, point)
        if must_be_listed and result.verdict is not Verdict.LISTED:
            return ZoneHealth(zone.id, family, False, REASON_TEST_POINT_NOT_LISTED, point)
        if not must_be_listed and result.verdict is Verdict.LISTED:
            return ZoneHealth(zone.id, family, False, REASON_LISTS_EVERYTHING, point)
    return ZoneHealth(zone.id, family, True)
