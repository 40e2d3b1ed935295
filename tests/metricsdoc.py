"""docs/metrics.md read as data: the metric tables, and the families that appear only
with their first event."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
FIRST_EVENT_SECTION = "## Series that appear with their first event"

# A metric row: | `delivermon_name` | type | labels | meaning |
_ROW = re.compile(r"^\|\s*`((?:delivermon|process)_[a-z0-9_]+)`\s*\|\s*(\w+)\s*\|([^|]*)\|")
_BACKTICKED = re.compile(r"`([^`]+)`")
_METRIC = re.compile(r"`(delivermon_[a-z0-9_]+)`")


@dataclass(frozen=True, slots=True)
class Documented:
    type: str
    labels: frozenset[str]


def documented() -> dict[str, Documented]:
    """Rows of the doc's metric tables: the Labels column names each label in backticks."""
    found: dict[str, Documented] = {}
    for line in DOC.read_text("utf-8").splitlines():
        match = _ROW.match(line)
        if match is None:
            continue
        name, kind, labels = match.groups()
        assert name not in found, f"{name} is documented twice"
        found[name] = Documented(kind, frozenset(_BACKTICKED.findall(labels)))
    return found


def first_event_metrics() -> frozenset[str]:
    """The metrics the doc lists as appearing only with their first event."""
    text = DOC.read_text("utf-8")
    start = text.index(FIRST_EVENT_SECTION)
    end = text.find("\n## ", start + 1)
    return frozenset(_METRIC.findall(text[start : end if end >= 0 else None]))
