"""The DMARC analysis rules: source classes, the readiness verdict, unmonitored selectors,
bounded labels."""

from __future__ import annotations

import pytest

from monitor.config import DmarcConfig, DomainConfig
from monitor.ingest.dmarc.analysis import (
    OTHER,
    classify,
    metric_disposition,
    readiness,
    selector_findings,
    top_labels,
)
from monitor.ingest.dmarc.service import reporter_of
from monitor.store.dmarc import SourceFigures


def figures(messages: int, dkim_aligned: int) -> SourceFigures:
    return SourceFigures("192.0.2.1", messages, 0, messages, dkim_aligned, 0)


@pytest.mark.parametrize(
    ("own_ip", "spf_pass", "dkim_aligned", "expected"),
    [
        (True, False, 0, "own"),  # a configured sending IP, whatever the results
        (False, True, 0, "own"),  # the domain's SPF record passes it
        (False, False, 60, "forwarder"),  # not ours, aligned DKIM for most of its mail
        (False, False, 40, "unknown"),  # aligned DKIM for a minority: not a forwarder
        (False, False, 0, "unknown"),
    ],
)
def test_classification(own_ip: bool, spf_pass: bool, dkim_aligned: int, expected: str) -> None:
    got = classify(figures(100, dkim_aligned), own_ip=own_ip, spf_pass=spf_pass)
    assert got == expected


POLICY = DmarcConfig(readiness_ratio=0.98, min_messages=100)
OWN = {"192.0.2.1": "own", "203.0.113.9": "unknown"}


def test_readiness_needs_volume_then_the_ratio_in_both_windows() -> None:
    few = [("google", "192.0.2.1", "pass", 50)]
    assert readiness(few, few, OWN, POLICY).verdict == "insufficient_data"
    good = [("google", "192.0.2.1", "pass", 990), ("google", "192.0.2.1", "fail", 10)]
    # Spoofed mail (unknown) failing does not count against readiness.
    spoof = [("yahoo", "203.0.113.9", "fail", 5000)]
    assert readiness(good + spoof, good + spoof, OWN, POLICY).verdict == "ready"
    bad_week = [("microsoft", "192.0.2.1", "fail", 30), ("microsoft", "192.0.2.1", "pass", 70)]
    verdict = readiness(bad_week, good + bad_week, OWN, POLICY)
    assert verdict.verdict == "not_ready"
    document = verdict.document()
    assert document["would_hit_own"] is True
    assert {r["reporter"]: r["own_fail"] for r in document["reporters"]} == {  # type: ignore[attr-defined]  # a list of dicts
        "google": 10,
        "microsoft": 30,
    }


def test_readiness_needs_own_mail_this_week_and_the_share_at_every_reporter() -> None:
    month = [("google", "192.0.2.1", "pass", 500)]
    # All of it ended more than 7 days ago: nothing says how the streams do now.
    assert readiness([], month, OWN, POLICY).verdict == "insufficient_data"
    assert readiness(month, month, OWN, POLICY).verdict == "ready"
    # 98.5 % overall, but all of Yahoo's own mail failed (and was quarantined there).
    yahoo = [("yahoo", "192.0.2.1", "fail", 3)]
    found = readiness(month + yahoo, month + yahoo, OWN, POLICY)
    assert (found.verdict, found.month.ratio) == ("not_ready", 500 / 503)
    assert found.document()["would_hit_own"] is True


def test_selectors_passing_but_not_configured_are_findings() -> None:
    domain = DomainConfig(name="example.com", dkim_selectors=["s1"])
    found = selector_findings(
        domain, [("example.com", "s1", 600), ("example.com", "s2", 400)], 1000
    )
    assert [(f["code"], f["detail"]["selector"], f["detail"]["share"]) for f in found] == [  # type: ignore[index]
        ("dmarc_report.selector_unmonitored", "s2", 0.4)
    ]
    assert found[0]["message"] == "selector s2 signs 40% of your mail but is not monitored"
    assert selector_findings(None, [("example.com", "s2", 400)], 1000) == []
    # Selectors are DNS labels: a configured "S1" is the reported "s1".
    upper = DomainConfig(name="example.com", dkim_selectors=["S1"])
    assert selector_findings(upper, [("example.com", "s1", 600)], 1000) == []
    # A monitored selector name signing as another domain: that key is not checked.
    other = selector_findings(domain, [("mail.example.com", "s1", 800)], 1000)
    assert [f["message"] for f in other] == [
        "selector s1 of mail.example.com signs 80% of your mail but is not monitored"
    ]


def test_reporter_labels_are_bounded() -> None:
    assert reporter_of("noreply-dmarc-support@google.com", "google.com") == "google"
    assert reporter_of("dmarcreport@microsoft.com", "Outlook.com") == "microsoft"
    assert reporter_of("dmarc_support@corp.mail.ru", "Mail.Ru") == "mail.ru"
    counts = {f"r{n}.example": n for n in range(20)} | {"google": 0}
    labels = top_labels(counts, ("google",), 3)
    assert {k for k, v in labels.items() if v != OTHER} == {
        "google",
        "r19.example",
        "r18.example",
        "r17.example",
    }


def test_rfc9990_disposition_pass_counts_as_none() -> None:
    assert [metric_disposition(d) for d in ("pass", "none", "reject", "odd")] == [
        "none",
        "none",
        "reject",
        "none",
    ]
