"""What one configuration means for the running daemon: its settings, this replica's plan and
the resolvers (``Runtime``), built whole and swapped atomically on reload.

Jobs and handlers read ``RuntimeHolder.current`` once per run or request; a reload
between two runs takes effect at the next one.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from checks.dns import StubResolver
from monitor.checking.plans import Plan, build_plan
from monitor.checking.runner import build_resolver
from monitor.checking.sharding import Shard, parse_shard
from monitor.config import Config
from monitor.daemon.settings import Settings

__all__ = ["Runtime", "RuntimeHolder", "build_runtime"]


@dataclass(frozen=True, slots=True)
class Runtime:
    """Everything derived from one config; the resolvers open in ``open()``."""

    settings: Settings
    plan: Plan
    resolver: StubResolver
    auth_resolver: StubResolver | None
    confirm_resolver: StubResolver  # no cache: re-checks a new listing at the server

    @property
    def config(self) -> Config:
        return self.settings.config

    @property
    def auth_dns(self) -> StubResolver:
        return self.auth_resolver or self.resolver

    async def open(self) -> None:
        for resolver in self._resolvers():
            await resolver.__aenter__()

    async def close(self) -> None:
        for resolver in self._resolvers():
            with contextlib.suppress(Exception):
                await resolver.__aexit__(None, None, None)

    def _resolvers(self) -> list[StubResolver]:
        found = [self.resolver, self.confirm_resolver]
        if self.auth_resolver is not None:
            found.append(self.auth_resolver)
        return found


def build_runtime(settings: Settings, shard: Shard | None = None) -> Runtime:
    """``shard`` (``--shard``) overrides ``[cluster] shard``."""
    config = settings.config
    return Runtime(
        settings=settings,
        plan=build_plan(config.domains, settings.zones, shard or parse_shard(config.cluster.shard)),
        resolver=build_resolver(config.dns),
        auth_resolver=build_resolver(config.auth_dns) if config.auth_dns else None,
        confirm_resolver=build_resolver(config.dns.model_copy(update={"cache_entries": 0})),
    )


class RuntimeHolder:
    """The current runtime; the composition root swaps it on reload."""

    def __init__(self) -> None:
        self._current: Runtime | None = None

    @property
    def current(self) -> Runtime:
        assert self._current is not None, "the daemon is not started"
        return self._current

    @property
    def started(self) -> bool:
        return self._current is not None

    def swap(self, runtime: Runtime) -> Runtime | None:
        """Install ``runtime``; returns the one it replaces."""
        old, self._current = self._current, runtime
        return old
