"""delivermon's stub resolver pointed at test servers (NSD on 127.0.0.1, silent ports)."""

from __future__ import annotations

from typing import Any

from checks.dns import Nameserver, ResolverConfig, StubResolver


def stub_resolver(*servers: str, **config: Any) -> StubResolver:
    """A `StubResolver` asking `servers` (``"127.0.0.1:PORT"``) in order.

    `config` sets other `ResolverConfig` fields (timeout, attempts, ...); use it as
    ``async with stub_resolver(nsd.address, timeout=1.0) as dns:``.
    """
    return StubResolver(
        ResolverConfig(nameservers=tuple(Nameserver.parse(s) for s in servers), **config)
    )
