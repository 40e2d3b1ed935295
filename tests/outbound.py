"""Outbound requests made to land on the test's own servers, without loosening production's
checks: a resolver that answers chosen names with chosen addresses (the name stays what
production validates, e.g. ``sns.us-east-1.amazonaws.com``), and the one allowance a test
must make to connect to its loopback server at all.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Mapping

from aiohttp.abc import AbstractResolver, ResolveResult

from monitor.http.outbound import OutboundPolicy

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


class StaticResolver(AbstractResolver):
    """Answers ``names`` (name -> ``address`` or ``address:port``; the port is where
    aiohttp then connects, so a name without a port in its URL can reach a test server on
    a free port); any other name fails like NXDOMAIN.

    ``asked`` lists every name looked up, so a test can tell a refusal happened after
    resolution, not for want of it.
    """

    def __init__(self, names: Mapping[str, str]) -> None:
        self._names = dict(names)
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self._names:
            raise OSError(f"{host}: no such name (test resolver)")
        address = self._names[host]
        if address.count(":") == 1:  # IPv4 with a port
            address, given = address.split(":")
            port = int(given)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


def loopback_policy(names: Mapping[str, str], **kw: object) -> OutboundPolicy:
    """``names`` served on loopback, which the test explicitly allows (production does not)."""
    return OutboundPolicy(resolver=StaticResolver(names), allow=(LOOPBACK,), **kw)  # type: ignore[arg-type]
