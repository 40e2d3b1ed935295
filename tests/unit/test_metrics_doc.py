"""Pins docs/metrics.md to what the daemon exposes: the same metric names, types and labels.

The exposition is built from a ``DaemonView`` holding every kind of state (see
``metrics_view``) with every event counter incremented once, so every family the
collector can yield has at least one sample.
"""

from __future__ import annotations

import pytest
from metricsdoc import Documented, documented
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from .metrics_view import full_metrics


def exposed() -> dict[str, Documented]:
    """Exposed names as scraped (counters with ``_total``), without the ``_created`` series."""
    text = generate_latest(full_metrics().registry).decode("utf-8")
    found: dict[str, Documented] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            entry = found.get(sample.name)
            labels = frozenset(sample.labels)
            found[sample.name] = Documented(
                family.type, labels if entry is None else entry.labels | labels
            )
    return found


DOCUMENTED = documented()
EXPOSED = exposed()


def test_the_doc_parser_finds_the_metric_tables() -> None:
    # guards the comparisons below against a parser that silently finds nothing
    assert {"delivermon_dnsbl_listed", "delivermon_complaints_total"} <= set(DOCUMENTED)
    assert DOCUMENTED["delivermon_dnsbl_listed"].labels == {"target", "zone"}


@pytest.mark.parametrize("name", sorted(EXPOSED), ids=sorted(EXPOSED))
def test_exposed_metric_is_documented(name: str) -> None:
    assert name in DOCUMENTED, f"{name} is exposed but not in docs/metrics.md"


@pytest.mark.parametrize("name", sorted(DOCUMENTED), ids=sorted(DOCUMENTED))
def test_documented_metric_is_exposed(name: str) -> None:
    assert name in EXPOSED, f"{name} is in docs/metrics.md but not exposed"


@pytest.mark.parametrize("name", sorted(DOCUMENTED), ids=sorted(DOCUMENTED))
def test_documented_labels_and_type_match_the_exposed_ones(name: str) -> None:
    if name not in EXPOSED:
        pytest.fail(f"{name} is not exposed")
    assert DOCUMENTED[name].labels == EXPOSED[name].labels
    assert DOCUMENTED[name].type == EXPOSED[name].type


@pytest.mark.parametrize("name", sorted(DOCUMENTED), ids=sorted(DOCUMENTED))
def test_documented_name_follows_the_naming_rules(name: str) -> None:
    kind = DOCUMENTED[name].type
    assert kind in {"counter", "gauge"}
    assert name.endswith("_total") == (kind == "counter")
