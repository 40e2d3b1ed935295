"""Which replica does which work: a stable hash of the target, zone or campaign, modulo the
shard count.

SHA-256 rather than ``hash()``: the same key lands on the same shard in every process
and every Python version, so replicas agree without talking to each other. The hashed
keys (``<target>``, ``zone:<id>``, ``campaign:<id>``) are part of that agreement: they
must not change between versions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["Shard", "parse_shard"]


@dataclass(frozen=True, slots=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(
                f"shard must satisfy 0 <= index < count, got {self.index}/{self.count}"
            )

    def owns_target(self, target: str) -> bool:
        """This replica checks ``target`` (an IP or a domain): its DNSBL, PTR and auth checks."""
        return self._owns(target)

    def owns_zone(self, zone: str) -> bool:
        """This replica self-tests zone ``zone``, exports its health and alerts on it."""
        return self._owns(f"zone:{zone}")

    def owns_campaign(self, campaign: str) -> bool:
        """This replica alerts on campaign ``campaign``'s rates."""
        return self._owns(f"campaign:{campaign}")

    @property
    def first(self) -> bool:
        """The first replica: it runs the jobs whose work is global (IMAP, retention purge)."""
        return self.index == 0

    def _owns(self, key: str) -> bool:
        if self.count == 1:
            return True
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str) -> Shard:
    """``"1/3"`` to ``Shard(1, 3)``.

    Raises:
        ValueError: not INDEX/COUNT with 0 <= INDEX < COUNT.
    """
    index, sep, count = text.partition("/")
    if not sep or not (index + count).isascii() or not index.isdigit() or not count.isdigit():
        raise ValueError(f"shard must be INDEX/COUNT, like 0/2; got {text!r}")
    return Shard(int(index), int(count))
