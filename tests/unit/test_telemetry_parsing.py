"""Postmaster v2 and SNDS answers parsed (shapes from the references named in
tests/telemetryservers.py), the telemetry view and its alerts: no data is never 0, a
failed import observes "unknown"."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.alerting.telemetry import telemetry_observations
from monitor.model.alerts import Observation
from monitor.model.telemetry import (
    FilterResult,
    GmailStat,
    GmailState,
    SndsBlock,
    SndsRow,
    TelemetrySource,
)
from monitor.store.telemetry import TelemetryStatus
from monitor.telemetry.gmail import (
    GmailFormatError,
    parse_batch,
    parse_compliance,
    parse_error_status,
    parse_query,
    query_body,
)
from monitor.telemetry.snds import parse_data, parse_ip_status
from monitor.telemetry.views import TelemetryView, build_view, gmail_findings

DAY = {"year": 2026, "month": 12, "day": 3}
AT = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


def test_query_body_asks_every_metric_daily_with_the_documented_nesting() -> None:
    body = query_body("example.com", dt.date(2026, 11, 1), dt.date(2026, 11, 7), "tok")
    assert body["timeQuery"]["dateRanges"]["dateRanges"] == [
        {
            "start": {"year": 2026, "month": 11, "day": 1},
            "end": {"year": 2026, "month": 11, "day": 7},
        }
    ]
    assert body["aggregationGranularity"] == "DAILY"
    assert body["pageToken"] == "tok"
    spam = next(m for m in body["metricDefinitions"] if m["name"] == "spam_rate")
    assert spam == {"name": "spam_rate", "baseMetric": {"standardMetric": "SPAM_RATE"}}
    dkim = next(m for m in body["metricDefinitions"] if m["name"] == "auth_dkim")
    assert dkim["filter"] == 'auth_type = "dkim"'


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"floatValue": 0.0012}, 0.0012),
        ({"doubleValue": 0.5}, 0.5),
        ({"intValue": "0"}, 0.0),  # int64 as a JSON string
        ({"floatValue": 0}, 0.0),  # a published 0 is a real 0
    ],
)
def test_statistic_values(value: dict[str, object], expected: float) -> None:
    page = parse_query(
        "example.com", {"domainStats": [{"metric": "spam_rate", "date": DAY, "value": value}]}
    )
    assert [s.value for s in page.stats] == [expected]


@pytest.mark.parametrize(
    "entry",
    [
        {"metric": "spam_rate", "date": DAY, "value": {"floatValue": 12.5}},  # not a ratio
        {"metric": "spam_rate", "date": DAY, "value": {"stringValue": "x"}},
        {"metric": "spam_rate", "date": {"year": 2026}, "value": {"floatValue": 0.1}},
        {"metric": "unknown_metric", "date": DAY, "value": {"floatValue": 0.1}},
        {"metric": "spam_rate", "date": DAY, "value": {"floatValue": "NaN"}},
    ],
)
def test_entries_that_are_not_a_ratio_for_a_day_are_refused_never_zero(
    entry: dict[str, object],
) -> None:
    page = parse_query("example.com", {"domainStats": [entry]})
    assert (page.stats, page.refused) == ((), 1)


@pytest.mark.parametrize("doc", [[], {"domainStats": {}}, {"nextPageToken": 3}, "x"])
def test_a_wrong_shape_is_a_format_error(doc: object) -> None:
    with pytest.raises(GmailFormatError):
        parse_query("example.com", doc)


def test_an_empty_answer_is_no_data() -> None:
    assert parse_query("example.com", {}).stats == ()


def test_batch_results_keep_order_and_per_entry_errors() -> None:
    doc = {
        "results": [
            {"response": {}},
            {"error": {"code": 7, "message": "no", "status": "PERMISSION_DENIED"}},
        ]
    }
    first, second = parse_batch(["a.example", "b.example"], doc)
    assert second == 7
    assert not isinstance(first, int)
    with pytest.raises(GmailFormatError):
        parse_batch(["a.example"], doc)  # not one result per request


def test_compliance_rows_and_verdicts_nested_status() -> None:
    doc = {
        "complianceData": {
            "rowData": [
                {"requirement": "SPF", "status": {"status": "COMPLIANT"}},
                {"requirement": "DMARC_POLICY", "status": {"status": "NEEDS_WORK"}},
                {"requirement": "DKIM", "status": {"status": "STATE_UNSPECIFIED"}},
            ],
            "oneClickUnsubscribeVerdict": {
                "status": {"status": "NEEDS_WORK"},
                "reason": "NO_UNSUB_GENERAL",
            },
        },
        "subdomainComplianceData": {
            "rowData": [{"requirement": "SPF", "status": {"status": "NEEDS_WORK"}}]
        },
    }
    got = {(c.requirement, c.status) for c in parse_compliance(doc)}
    assert got == {
        ("spf", "needs_work"),
        ("dmarc_policy", "needs_work"),
        ("one_click_unsubscribe", "needs_work"),
    }


def test_error_status_prefers_the_reason_in_details() -> None:
    doc = {
        "error": {
            "code": 403,
            "status": "PERMISSION_DENIED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "SERVICE_DISABLED"}
            ],
        }
    }
    assert parse_error_status(doc) == "SERVICE_DISABLED"
    assert parse_error_status({"error": {"status": "UNAUTHENTICATED"}}) == "UNAUTHENTICATED"
    assert parse_error_status("nope") == ""


def test_snds_lines_in_the_documented_order_and_bad_lines_counted() -> None:
    text = (
        "1.1.1.0,12/31/2019 8:00 AM,9/29/2020 9:00 PM,14129,14129,13025,GREEN,< 0.1%,"
        "9/29/2020 8:07 AM,9/29/2020 12:03 PM,41,,,\r\n"
        "192.0.2.10,12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5,RED,,,,0,"
        '"helo, with comma",b@example.com,JMR\r\n'
        "not an ip,12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5,RED,,,,0,,,\r\n"
        # a trap period that is not two dates: another column layout, refused
        "192.0.2.11,12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5,GREEN,,9,x,0,,,\r\n"
        "\r\n"
    )
    parsed = parse_data(text)
    assert parsed.refused == 2
    first, second = parsed.items
    assert (first.trap_hits, first.recipients, first.filter_result) == (
        41,
        13025,
        FilterResult.GREEN,
    )
    assert first.activity_end == dt.datetime(2020, 9, 29, 21, 0, tzinfo=dt.UTC)
    assert (second.sample_helo, second.comments, second.complaint_rate) == (
        "helo, with comma",
        "JMR",
        "",
    )


def test_an_snds_filter_result_it_does_not_document_refuses_the_row() -> None:
    # Read as "no result", ORANGE replaced a period's RED with what looks all clear.
    period = "12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5"
    parsed = parse_data(
        f"192.0.2.10,{period},ORANGE,,,,0,,,\r\n"
        f"192.0.2.11,{period},,,,,0,,,\r\n"
        f"192.0.2.12,{period}, Yellow ,,,,0,,,\r\n"
    )
    assert parsed.refused == 1
    assert [(r.ip, r.filter_result) for r in parsed.items] == [
        ("192.0.2.11", None),  # none given
        ("192.0.2.12", FilterResult.YELLOW),
    ]


def test_snds_ip_status_ranges() -> None:
    parsed = parse_ip_status("1.1.1.0,1.1.1.1,Yes,Blocked due to user complaints\r\nbad,line\r\n")
    assert parsed.refused == 1
    assert [(b.first_ip, b.last_ip, b.blocked) for b in parsed.items] == [
        ("1.1.1.0", "1.1.1.1", True)
    ]


def status(
    state: str, subject: str = "example.com", source: TelemetrySource = TelemetrySource.GMAIL
) -> TelemetryStatus:
    return TelemetryStatus(source, subject, state, "", "{}", AT, AT)


def view(state: str, rates: dict[dt.date, float]) -> TelemetryView:
    return build_view(
        gmail_domains=["example.com"],
        stats=[GmailStat("example.com", d, "spam_rate", v) for d, v in rates.items()],
        statuses=[status(state)],
        snds_ips=None,
        snds_rows=[],
        blocks=[],
    )


D = [dt.date(2026, 12, 1) + dt.timedelta(days=n) for n in range(10)]


def test_the_recovery_clock_runs_seven_days_after_the_last_day_at_0_3() -> None:
    v = view("ok", {D[0]: 0.004, D[1]: 0.0005, D[3]: 0.0004})
    d = v.gmail["example.com"]
    assert (d.spam_rate, d.recovery_date) == (0.0004, D[7])
    assert {f.code for f in gmail_findings(d)} == {"gmail.spam_rate_recovering"}
    [rate, _compliance] = telemetry_observations(v)
    assert (rate.active, rate.severity.value) == (True, "critical")
    later = view("ok", {D[0]: 0.004, D[8]: 0.0004}).gmail["example.com"]
    assert later.recovery_date is None  # D[0] + 7 is before the latest day with data


@pytest.mark.parametrize("state", ["unavailable", "permission_denied", "unverified"])
def test_a_failed_import_observes_unknown_and_keeps_the_rate(state: str) -> None:
    v = view(state, {D[0]: 0.004})
    d = v.gmail["example.com"]
    assert (d.state, d.spam_rate) == (GmailState(state), 0.004)
    assert [o.active for o in telemetry_observations(v)] == [None, None]


def test_no_data_has_no_rate_and_observes_unknown() -> None:
    v = view("no_data", {})
    d = v.gmail["example.com"]
    assert d.spam_rate is None
    assert telemetry_observations(v)[0].active is None
    assert [f.code for f in gmail_findings(d)] == ["gmail.no_data"]


def test_a_block_list_never_fetched_is_unknown_and_a_fetched_one_stands() -> None:
    """ipStatus.aspx failed on every import so far: no IP may read as "not blocked"
    (metric absent; the risk input takes ``blocked`` None as unknown); once a fetch got
    through, its list stands."""
    from monitor.metrics.telemetry import telemetry_families

    def snds_view(last_ok: dt.datetime | None) -> TelemetryView:
        return build_view(
            gmail_domains=[],
            stats=[],
            statuses=[
                status("ok", "data", TelemetrySource.SNDS),
                TelemetryStatus(
                    TelemetrySource.SNDS, "ip_status", "unavailable", "http_500", "{}", AT, last_ok
                ),
            ],
            snds_ips=["192.0.2.12"],
            snds_rows=[],
            blocks=[],
        )

    never = snds_view(None)
    assert never.snds["192.0.2.12"].blocked is None
    blocked = [f for f in telemetry_families(never) if f.name == "delivermon_snds_blocked"]
    assert [s.value for f in blocked for s in f.samples] == []
    assert snds_view(AT - dt.timedelta(days=1)).snds["192.0.2.12"].blocked is False


def test_snds_text_one_bad_byte_is_replaced_and_utf16_is_not_text() -> None:
    from monitor.telemetry.snds import SndsFormatError, csv_text

    line = "192.0.2.10,12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5,RED,,,,0,h\xe9lo,,\r\n"
    parsed = parse_data(csv_text(line.encode("latin-1")))
    assert [(r.ip, r.filter_result, r.sample_helo) for r in parsed.items] == [
        ("192.0.2.10", FilterResult.RED, "h\ufffdlo")
    ]
    for body in (line.encode("utf-16"), b"\x00\x01binary"):
        with pytest.raises(SndsFormatError) as refused:
            csv_text(body)
        assert refused.value.reason == "not_text"


def test_snds_counts_that_are_not_ascii_digits_refuse_the_line_not_the_answer() -> None:
    good = "192.0.2.10,12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5,RED,,,,0,,,\r\n"
    odd = "192.0.2.11,12/1/2026 12:00 AM,12/1/2026 11:00 PM,\u00b2,5,5,RED,,,,0,,,\r\n"
    parsed = parse_data(good + odd)
    assert ([r.ip for r in parsed.items], parsed.refused) == (["192.0.2.10"], 1)


@pytest.mark.parametrize("count", ["99999999999999999999999", "9" * 5000])
def test_an_snds_count_too_large_to_be_real_refuses_the_line_not_the_answer(count: str) -> None:
    """A 23-digit trap count crashed the import's transaction (SQLite's 64-bit integers),
    losing the whole answer; 5,000 digits is past Python's own int() limit."""
    good = "192.0.2.10,12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5,RED,,,,0,,,\r\n"
    huge = f"192.0.2.11,12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5,RED,,,,{count},,,\r\n"
    parsed = parse_data(good + huge)
    assert ([r.ip for r in parsed.items], parsed.refused) == (["192.0.2.10"], 1)


def test_an_snds_period_ending_after_latest_is_refused() -> None:
    """A far-future row stood as the IP's latest period and hid every real one."""
    text = (
        "192.0.2.10,1/1/2099 12:00 AM,1/2/2099 12:00 AM,1,1,1,GREEN,< 0.1%,,,0,,,\r\n"
        "192.0.2.10,12/6/2026 12:00 AM,12/7/2026 12:00 AM,1,1,1,RED,> 0.3%,,,9,,,\r\n"
    )
    parsed = parse_data(text, latest=dt.datetime(2026, 12, 8, tzinfo=dt.UTC))
    assert ([r.filter_result for r in parsed.items], parsed.refused) == ([FilterResult.RED], 1)


def test_an_ipv4_mapped_snds_address_is_the_ipv4_address() -> None:
    parsed = parse_data("::ffff:192.0.2.10,12/1/2026 12:00 AM,12/1/2026 11:00 PM,5,5,5,RED,,,,0,,,")
    assert [r.ip for r in parsed.items] == ["192.0.2.10"]


@pytest.mark.parametrize("order", [1, -1], ids=["red-first", "green-first"])
def test_two_snds_periods_ending_together_keep_the_worse_whatever_the_order(order: int) -> None:
    """Periods ending at one moment (one starting later): the verdict was the store's last."""
    rows = parse_data(
        "192.0.2.10,12/6/2026 12:00 AM,12/7/2026 12:00 AM,1,1,1,RED,> 0.3%,,,5,,,\r\n"
        "192.0.2.10,12/6/2026 11:59 PM,12/7/2026 12:00 AM,1,1,1,GREEN,< 0.1%,,,0,,,\r\n"
    ).items
    seen = build_view(
        gmail_domains=[],
        stats=[],
        statuses=[],
        snds_ips=["192.0.2.10"],
        snds_rows=list(rows)[::order],
        blocks=[],
    ).snds["192.0.2.10"]
    assert (seen.filter_result, seen.trap_hits) == (FilterResult.RED, 5)


def test_a_retry_after_that_is_not_ascii_digits_is_ignored() -> None:
    from monitor.telemetry.http import Retry, _wait

    retry = Retry(attempts=3, backoff=1.0, max_wait=60.0)
    assert _wait({"Retry-After": "\u00b2"}, 0, retry) == 1.0
    assert _wait({"Retry-After": "7"}, 0, retry) == 7.0


def snds_row(ip: str, result: FilterResult, traps: int = 0) -> SndsRow:
    end = AT - dt.timedelta(days=1)
    return SndsRow(
        ip, end - dt.timedelta(days=1), end, 10, 10, 10, result, "", None, None, traps, "", "", ""
    )


def snds_account(*, data: str = "ok", blocks: str = "ok", others: int = 4) -> TelemetryView:
    """A configured IP (RED) and unconfigured ones: RED, YELLOW, GREEN with trap hits and
    GREEN in a blocked range, then GREEN ones up to ``others``."""
    rows = [snds_row("192.0.2.10", FilterResult.RED)]
    rows += [
        snds_row("192.0.2.20", FilterResult.RED),
        snds_row("192.0.2.21", FilterResult.YELLOW),
        snds_row("192.0.2.22", FilterResult.GREEN, traps=3),
        snds_row("192.0.2.23", FilterResult.GREEN),
    ][:others]
    rows += [snds_row(f"198.51.100.{n}", FilterResult.GREEN) for n in range(others - 4)]
    return build_view(
        gmail_domains=[],
        stats=[],
        statuses=[
            TelemetryStatus(TelemetrySource.SNDS, "data", data, "", "{}", AT, AT),
            TelemetryStatus(TelemetrySource.SNDS, "ip_status", blocks, "", "{}", AT, AT),
        ],
        snds_ips=["192.0.2.10"],
        snds_rows=rows,
        blocks=[SndsBlock("192.0.2.23", "192.0.2.23", True, "Blocked due to spam")][
            : 1 if others >= 4 else 0
        ],
    )


def test_unconfigured_snds_ips_are_one_summary_alert_not_one_alert_each() -> None:
    """An SNDS account may hold a whole network: per-IP alerts are for the configured
    sending IPs; the others that are YELLOW, RED, trapped or blocked are one alert."""
    found = {o.key: o for o in telemetry_observations(snds_account(others=200))}
    assert {k for k in found if k.startswith("snds_") and ":" in k} == {
        "snds_filter:192.0.2.10",
        "snds_trap_hits:192.0.2.10",
        "snds_blocked:192.0.2.10",
    }
    others = found["snds_unconfigured"]
    assert (others.kind.value, others.active, others.severity.value) == (
        "snds_unconfigured",
        True,
        "critical",
    )
    assert others.labels == {}
    assert others.title == (
        "SNDS: 4 IPs of the account that no sending_ips lists need attention "
        "(1 RED, 1 YELLOW, 1 with trap hits, 1 blocked)"
    )
    # Worst first: blocked and RED, then YELLOW, then trap hits; never the GREEN ones.
    assert others.text.startswith(
        "192.0.2.20 (RED), 192.0.2.23 (blocked), 192.0.2.21 (YELLOW), 192.0.2.22 (3 trap hits)."
    )
    assert "198.51.100." not in others.text


def test_the_unconfigured_summary_lists_ten_and_counts_the_rest() -> None:
    rows = [snds_row(f"198.51.100.{n}", FilterResult.YELLOW) for n in range(25)]
    v = build_view(
        gmail_domains=[],
        stats=[],
        statuses=[TelemetryStatus(TelemetrySource.SNDS, "data", "ok", "", "{}", AT, AT)],
        snds_ips=[],
        snds_rows=rows,
        blocks=[],
    )
    [others] = telemetry_observations(v)
    assert (others.active, others.severity.value) == (True, "warning")
    assert others.text.count("(YELLOW)") == 10
    assert "and 15 more" in others.text
    # Numeric order, not text order: .2 before .10.
    assert others.text.startswith("198.51.100.0 (YELLOW), 198.51.100.1 (YELLOW), 198.51.100.2 ")


@pytest.mark.parametrize(
    ("data", "blocks", "others", "active"),
    [
        ("ok", "ok", 0, False),  # no unconfigured IP: nothing to tell
        ("unavailable", "ok", 0, None),  # the data could not be read: could not tell
        ("ok", "unavailable", 0, None),
        ("unavailable", "unavailable", 4, None),  # nothing new said: neither fires nor clears
        ("unavailable", "ok", 4, True),  # the block list still speaks: 192.0.2.23 is blocked
    ],
)
def test_the_unconfigured_summary_could_not_tell_while_snds_is_down(
    data: str, blocks: str, others: int, active: bool | None
) -> None:
    found = {
        o.key: o
        for o in telemetry_observations(snds_account(data=data, blocks=blocks, others=others))
    }
    assert found["snds_unconfigured"].active is active


def test_the_unconfigured_summary_announces_a_rise_to_critical_not_a_new_count() -> None:
    """What docs/notifications.md says: the counts in the title change silently, a rise
    from warning to critical is announced."""
    from monitor.model.alerts import AlertPolicy, AlertStatus, step

    def summary(rows: list[SndsRow]) -> Observation:
        v = build_view(
            gmail_domains=[],
            stats=[],
            statuses=[
                TelemetryStatus(TelemetrySource.SNDS, "data", "ok", "", "{}", AT, AT),
                TelemetryStatus(TelemetrySource.SNDS, "ip_status", "ok", "", "{}", AT, AT),
            ],
            snds_ips=[],
            snds_rows=rows,
            blocks=[],
        )
        [found] = telemetry_observations(v)
        return found

    policy = AlertPolicy()
    clear = step(None, summary([snds_row("192.0.2.20", FilterResult.GREEN)]), AT, policy)
    one = step(clear.record, summary([snds_row("192.0.2.20", FilterResult.YELLOW)]), AT, policy)
    assert one.announce is AlertStatus.FIRING
    yellow = [snds_row(f"192.0.2.{n}", FilterResult.YELLOW) for n in (20, 21)]
    two = step(one.record, summary(yellow), AT, policy)
    assert two.announce is None
    assert two.record is not None
    assert two.record.title.startswith("SNDS: 2 IPs")
    red = step(two.record, summary([*yellow, snds_row("192.0.2.22", FilterResult.RED)]), AT, policy)
    assert red.announce is AlertStatus.FIRING
    assert red.record is not None
    assert red.record.severity.value == "critical"


def _naive_blocked(ip: str, blocks: list[SndsBlock]) -> list[SndsBlock]:
    """The definition, written out: every blocked range of the address's family whose
    bounds contain it, in the list's order."""
    import ipaddress

    address = ipaddress.ip_address(ip)
    found = []
    for block in blocks:
        low, high = ipaddress.ip_address(block.first_ip), ipaddress.ip_address(block.last_ip)
        same = low.version == high.version == address.version
        if block.blocked and same and int(low) <= int(address) <= int(high):
            found.append(block)
    return found


@settings(max_examples=300, deadline=None)
@given(
    ranges=st.lists(
        st.tuples(
            st.booleans(),  # IPv6
            st.integers(0, 40),
            st.integers(0, 12),
            st.booleans(),  # blocked
        ),
        max_size=25,
    ),
    probes=st.lists(st.tuples(st.booleans(), st.integers(0, 55)), min_size=1, max_size=20),
)
def test_the_block_index_finds_what_every_range_compared_finds(
    ranges: list[tuple[bool, int, int, bool]], probes: list[tuple[bool, int]]
) -> None:
    """Overlapping, nested and repeated ranges, both families, entries that block
    nothing: the index (bisection over ranges sorted by first address) finds the same
    ranges in the same order as comparing the address with each range."""
    from monitor.telemetry.snds import BlockIndex

    def address(v6: bool, n: int) -> str:
        return f"2001:db8::{n:x}" if v6 else f"192.0.2.{n}"

    blocks = [
        SndsBlock(address(v6, first), address(v6, first + width), blocked, f"r{i}")
        for i, (v6, first, width, blocked) in enumerate(ranges)
    ]
    index = BlockIndex(blocks)
    for v6, n in probes:
        ip = address(v6, n)
        assert index.ranges_for(ip) == _naive_blocked(ip, blocks), ip


def test_blocked_ranges_without_traffic_rows_are_in_the_summary() -> None:
    """A blocked address often has no data.aspx rows (because it is blocked): a range of
    the account covering no reported IP was never announced (a verification review)."""
    v = build_view(
        gmail_domains=[],
        stats=[],
        statuses=[
            TelemetryStatus(TelemetrySource.SNDS, "data", "ok", "", "{}", AT, AT),
            TelemetryStatus(TelemetrySource.SNDS, "ip_status", "ok", "", "{}", AT, AT),
        ],
        snds_ips=["192.0.2.1"],
        snds_rows=[
            snds_row("192.0.2.1", FilterResult.GREEN),
            snds_row("198.51.100.12", FilterResult.YELLOW),
        ],
        blocks=[
            SndsBlock("203.0.113.0", "203.0.113.255", True, "Blocked due to user complaints"),
            SndsBlock("192.0.2.0", "192.0.2.3", True, "covers the configured IP"),
            SndsBlock("198.51.100.0", "198.51.100.255", False, "not blocked"),
        ],
    )
    assert [(b.first_ip, b.last_ip) for b in v.snds_unlisted_blocks] == [
        ("203.0.113.0", "203.0.113.255")
    ]
    found = {o.key: o for o in telemetry_observations(v)}
    others = found["snds_unconfigured"]
    assert (others.active, others.severity.value) == (True, "critical")
    assert others.title == (
        "SNDS: 1 IP and 1 blocked range of the account that no sending_ips lists need "
        "attention (1 YELLOW, 256 addresses blocked without traffic rows)"
    )
    assert others.text.startswith(
        "203.0.113.0-203.0.113.255 (blocked range, 256 addresses), 198.51.100.12 (YELLOW)."
    )
    assert found["snds_blocked:192.0.2.1"].active is True  # its own alert, as before
