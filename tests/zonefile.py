"""Zone-file text for records the tests serve from NSD."""

from __future__ import annotations


def txt(record: str) -> str:
    """TXT rdata for ``record``: quoted character-strings of at most 255 octets, escaped."""
    parts = [record[i : i + 255] for i in range(0, max(len(record), 1), 255)]
    return " ".join('"' + p.replace("\\", "\\\\").replace('"', '\\"') + '"' for p in parts)
