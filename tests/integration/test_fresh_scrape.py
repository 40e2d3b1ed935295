"""A fresh daemon's first scrape has every series the shipped rules and dashboards select.

The daemon starts on a new store in the operations scenario's world (tests/opsworld.py:
a listed sending IP, a broken list, a compliant domain, a notifier, a campaign in the
config) and sees no event at all. Once each of its jobs has run, /metrics is scraped
once. Every selector of every expression in rules/*.yml and dashboards/*.json (the metric
name and its equality label matchers; regular-expression matchers and template variables
select nothing in particular) must match a series of that scrape, unless docs/metrics.md
lists the metric as appearing only with its first event. The same scrape must agree with
the metric tables of docs/metrics.md, name by name and label by label.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from daemon import DaemonProcess, wait_for
from dnsserver import StartNsd
from metricsdoc import documented, first_event_metrics
from opsworld import BROKEN_ZONE, write_config, zones
from prometheus_client.parser import text_string_to_metric_families
from receiver import Receiver

pytestmark = pytest.mark.nsd

ROOT = Path(__file__).resolve().parents[2]
JOBS = ("selftest", "sweep", "auth", "drift", "campaigns", "notify", "purge")

# A metric name of ours, not part of a recorded series' name (level:metric:operations).
_NAME = re.compile(r"(?<![\w:])((?:delivermon|process)_[A-Za-z0-9_]+)(?![\w:])(\s*\{[^}]*\})?")
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')

Selector = tuple[str, tuple[tuple[str, str], ...]]


def selectors(expression: str) -> Iterator[Selector]:
    """(metric name, equality matchers) of each vector selector of ours in a PromQL text."""
    for match in _NAME.finditer(expression):
        name, braces = match.group(1), match.group(2) or ""
        equal = tuple(
            (label, value)
            for label, op, value in _MATCHER.findall(braces)
            if op == "=" and "$" not in value and "{{" not in value
        )
        yield name, equal


def rule_expressions() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text("utf-8"))["groups"]:
            for rule in group["rules"]:
                yield f"{path.name}:{rule.get('alert') or rule.get('record')}", rule["expr"]


def dashboard_expressions() -> Iterator[tuple[str, str]]:
    def walk(node: object, where: str) -> Iterator[tuple[str, str]]:
        if isinstance(node, dict):
            title = node.get("title", where)
            for key, value in node.items():
                if key == "expr" and isinstance(value, str):
                    yield f"{where}:{title}", value
                else:
                    yield from walk(value, str(title))
        elif isinstance(node, list):
            for item in node:
                yield from walk(item, where)

    for path in sorted((ROOT / "dashboards").glob("*.json")):
        yield from walk(json.loads(path.read_text("utf-8")), path.stem)


def used_selectors() -> dict[Selector, list[str]]:
    found: dict[Selector, list[str]] = {}
    for where, expression in [*rule_expressions(), *dashboard_expressions()]:
        for selector in selectors(expression):
            found.setdefault(selector, []).append(where)
    return found


def test_the_selector_parser_reads_names_and_equality_matchers_only() -> None:
    expression = (
        'max by (job) (delivermon_record_status{check="spf", status="fail"} == 1) '
        'or campaign:delivermon_complaint_ratio:rate1h{campaign!="_other"} '
        'and delivermon_targets{instance=~"$instance"} + delivermon_x{t="{{ $labels.t }}"}'
    )
    assert list(selectors(expression)) == [
        ("delivermon_record_status", (("check", "spf"), ("status", "fail"))),
        ("delivermon_targets", ()),
        ("delivermon_x", ()),
    ]
    used = used_selectors()
    assert ("delivermon_record_status", (("check", "spf"), ("status", "fail"))) in used
    assert len(used) > 40  # the rules and the three dashboards were read


def scrape(daemon: DaemonProcess) -> dict[str, list[tuple[dict[str, str], str]]]:
    """Sample name -> [(labels, family type)] of one scrape."""
    status, body = daemon.get("/metrics")
    assert status == 200
    samples: dict[str, list[tuple[dict[str, str], str]]] = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((dict(sample.labels), family.type))
    return samples


def test_a_fresh_daemon_exports_every_series_the_rules_and_dashboards_select(
    tmp_path: Path, nsd_factory: StartNsd, receiver: Receiver
) -> None:
    nsd = nsd_factory(zones(), broken=[BROKEN_ZONE])
    config = tmp_path / "delivermon.toml"
    write_config(config, nsd, receiver.url)
    with DaemonProcess(config) as daemon:
        for job in JOBS:
            wait_for(
                lambda job=job: daemon.value(  # type: ignore[misc]
                    "delivermon_job_last_success_timestamp_seconds", task=job
                ),
                what=f"the first successful run of {job}",
            )
        samples = scrape(daemon)  # once

    later = first_event_metrics()
    assert "delivermon_sent_total" in later  # the doc's list was found
    missing = {}
    for (name, equal), where in sorted(used_selectors().items()):
        if name in later:
            continue
        if not any(set(equal) <= set(labels.items()) for labels, _ in samples.get(name, [])):
            missing[f"{name}{dict(equal) or ''}"] = where
    assert missing == {}, "selected by the rules or dashboards, absent from a fresh scrape"
    # the counters whose first event this daemon never saw are there, at 0
    for name in (
        "delivermon_config_reloads_total",
        "delivermon_notifications_total",
        "delivermon_ingest_refused_total",
        "delivermon_dnsbl_unknown_results_total",
        "delivermon_errors_total",
    ):
        assert samples.get(name), name

    docs = documented()
    for name, found in samples.items():
        assert name in docs, f"{name} is in a real scrape but not in docs/metrics.md"
        labels = frozenset(label for labels, _ in found for label in labels)
        assert labels == docs[name].labels, name
        assert {kind for _, kind in found} == {docs[name].type}, name
