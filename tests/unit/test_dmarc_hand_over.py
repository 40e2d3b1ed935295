"""The parser hands summed rows to a ``RowSink`` in batches of at most
``Limits.hand_over_rows``, once the policy is known; the batches, summed by key with what
is left in the report, are the rows a parse without a sink gives."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import pytest
from dmarcreports import Row, aggregate_xml

from monitor.ingest.dmarc import DEFAULT_LIMITS, PolicyPublished, ReportRow, RowKey, parse_dmarc
from monitor.ingest.errors import MalformedReportError

LIMITS = replace(DEFAULT_LIMITS, hand_over_rows=50)


class Sink:
    def __init__(self) -> None:
        self.batches: list[list[ReportRow]] = []
        self.policies: list[PolicyPublished] = []
        self.restarts = 0

    def rows(self, policy: PolicyPublished, rows: list[ReportRow]) -> None:
        self.policies.append(policy)
        self.batches.append(rows)

    def restart(self) -> None:
        self.restarts += 1
        self.batches.clear()


def rows(sources: int) -> list[Row]:
    # Each source three times, far apart: its row is handed over in parts.
    return [
        Row(f"192.0.2.{n % 250 + 1}", n + lap, selector=f"s{n // 250}")
        for lap in range(3)
        for n in range(sources)
    ]


def summed(
    batches: list[list[ReportRow]], rest: tuple[ReportRow, ...]
) -> dict[RowKey, tuple[int, int]]:
    messages: Counter[RowKey] = Counter()
    records: Counter[RowKey] = Counter()
    for row in [row for batch in batches for row in batch] + list(rest):
        messages[row.key] += row.messages
        records[row.key] += row.records
    return {key: (messages[key], records[key]) for key in messages}


def test_batches_are_bounded_and_sum_to_the_rows_held_in_memory() -> None:
    xml = aggregate_xml(rows(180))
    whole = parse_dmarc(xml, limits=LIMITS)
    sink = Sink()
    streamed = parse_dmarc(xml, limits=LIMITS, sink=sink)
    assert len(sink.batches) >= 3
    assert all(len(batch) <= LIMITS.hand_over_rows for batch in sink.batches)
    assert streamed.handed_over == sum(len(batch) for batch in sink.batches)
    assert len(streamed.rows) < LIMITS.hand_over_rows
    assert summed(sink.batches, streamed.rows) == summed([], whole.rows)
    assert (streamed.records, streamed.messages) == (whole.records, whole.messages)
    assert all(policy == whole.policy for policy in sink.policies)
    assert sink.restarts == 0


def test_records_before_the_policy_are_kept_until_it_is_read() -> None:
    xml = aggregate_xml(rows(100))
    head, _, rest = xml.partition(b"<policy_published>")
    policy, _, records = rest.partition(b"</policy_published>")
    moved = head + records.replace(
        b"</feedback>", b"<policy_published>" + policy + b"</policy_published></feedback>"
    )
    sink = Sink()
    report = parse_dmarc(moved, limits=LIMITS, sink=sink)
    assert sink.batches == []  # nothing to read the rows against until the end
    assert summed([], report.rows) == summed([], parse_dmarc(xml, limits=LIMITS).rows)


def test_a_second_read_starts_the_sink_over() -> None:
    xml = aggregate_xml(rows(180)).replace(b"</feedback>", b"<note>caf\xe9</note></feedback>")
    sink = Sink()
    report = parse_dmarc(xml, limits=LIMITS, sink=sink)
    assert sink.restarts == 1
    assert "invalid_utf8" in report.warnings
    clean = parse_dmarc(aggregate_xml(rows(180)), limits=LIMITS)
    assert summed(sink.batches, report.rows) == summed([], clean.rows)


def test_a_sink_that_raises_stops_the_parse() -> None:
    class Failing(Sink):
        def rows(self, policy: PolicyPublished, rows: list[ReportRow]) -> None:
            raise MalformedReportError("store_failed", "the sink refused")

    with pytest.raises(MalformedReportError, match="the sink refused"):
        parse_dmarc(aggregate_xml(rows(180)), limits=LIMITS, sink=Failing())
