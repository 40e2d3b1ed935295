"""Which replica checks which target: a stable hash of the target, modulo the shard count.

SHA-256 rather than ``hash()``: the same target lands on the same shard in every
process and every Python version, so replicas agree without talking to each other.
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

    def owns(self, key: str) -> bool:
        """True when ``key`` (a target, a zone, a campaign) belongs to this shard."""
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
    if not sep or not index.isdigit() or not count.isdigit():
        raise ValueError(f"shard must be INDEX/COUNT, like 0/2; got {text!r}")
    return Shard(int(index), int(count))
