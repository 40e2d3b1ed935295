"""Pins the RFC 9989 DNS Tree Walk as pure functions: which names are queried (at most 8),
which TXT strings count as the record, where psd=y/n ends the walk, and how the
organisational domain and the policy domain are chosen (RFC 9989 §4.10, §4.10.1, §4.10.2)."""

from __future__ import annotations

import pytest

from checks.dmarc import (
    MAX_QUERIES,
    StepOutcome,
    TreeWalk,
    WalkStep,
    organizational_domain,
    parse_record,
    policy_domain,
    select_record,
    tree_walk,
    walk_names,
)
from checks.dns import Answer, DnsOutcome, NxDomain, RdataType, Unknown, UnknownReason

RFC_EXAMPLE = "a.b.c.d.e.f.g.h.i.j.mail.example.com"


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        ("com", ("com",)),
        ("example.com", ("example.com", "com")),
        ("a.mail.example.com", ("a.mail.example.com", "mail.example.com", "example.com", "com")),
        (
            "a.b.c.d.e.f.example.com",  # 8 labels: shortened to 7, i.e. still one at a time
            (
                "a.b.c.d.e.f.example.com",
                "b.c.d.e.f.example.com",
                "c.d.e.f.example.com",
                "d.e.f.example.com",
                "e.f.example.com",
                "f.example.com",
                "example.com",
                "com",
            ),
        ),
        (
            RFC_EXAMPLE,  # RFC 9989 §4.10's own example: 13 labels, eight queries
            (
                RFC_EXAMPLE,
                "g.h.i.j.mail.example.com",
                "h.i.j.mail.example.com",
                "i.j.mail.example.com",
                "j.mail.example.com",
                "mail.example.com",
                "example.com",
                "com",
            ),
        ),
    ],
)
def test_walk_names_follow_rfc9989_shortcut(domain: str, expected: tuple[str, ...]) -> None:
    assert walk_names(domain) == expected


@pytest.mark.parametrize("labels", range(1, 40))
def test_walk_never_exceeds_eight_queries(labels: int) -> None:
    names = walk_names(".".join(f"l{i}" for i in range(labels)))
    assert len(names) == min(labels, MAX_QUERIES)
    assert names[-1] == f"l{labels - 1}"


@pytest.mark.parametrize(
    ("records", "outcome"),
    [
        ((), StepOutcome.NONE),
        (("v=spf1 -all", "hello"), StepOutcome.NONE),
        (("v=DMARC1; p=reject", "unrelated"), StepOutcome.RECORD),
        (("v=DMARC1; p=reject", "v=DMARC1; p=none"), StepOutcome.MULTIPLE),
    ],
    ids=["empty", "unrelated-only", "one-plus-unrelated", "two"],
)
def test_select_record_discards_unrelated_and_multiple(
    records: tuple[str, ...], outcome: StepOutcome
) -> None:
    assert select_record(records)[0] is outcome


def walk(start: str, found: dict[str, str]) -> TreeWalk:
    """A completed walk over walk_names(start) with records at the names in ``found``."""
    steps = []
    for name in walk_names(start):
        text = found.get(name)
        record = parse_record(text) if text else None
        steps.append(WalkStep(name, StepOutcome.RECORD if record else StepOutcome.NONE, record))
        if record is not None and record.psd in ("y", "n"):
            break
    return TreeWalk(start, tuple(steps))


@pytest.mark.parametrize(
    ("start", "found", "org", "where"),
    [
        pytest.param("example.com", {}, "example.com", None, id="nothing"),
        pytest.param(
            "a.mail.example.com",
            {"mail.example.com": "v=DMARC1; p=none", "example.com": "v=DMARC1; p=reject"},
            "example.com",
            "example.com",
            id="rfc-example-fewest-labels",
        ),
        pytest.param(
            "a.mail.example.com",
            {"mail.example.com": "v=DMARC1; p=none; psd=n", "example.com": "v=DMARC1; p=reject"},
            "mail.example.com",
            "mail.example.com",
            id="psd-n-is-org",
        ),
        pytest.param(
            "a.mail.example.com",
            {"com": "v=DMARC1; p=reject; psd=y"},
            "example.com",
            "com",
            id="psd-y-org-one-below",
        ),
        pytest.param(
            "mail.example.com",
            {"mail.example.com": "v=DMARC1; p=none", "example.com": "v=DMARC1; p=reject"},
            "example.com",
            "mail.example.com",
            id="own-record-wins-policy",
        ),
        pytest.param(
            "example.com",
            {"example.com": "v=DMARC1; p=reject; psd=y"},
            "example.com",
            "example.com",
            id="psd-y-at-start-is-own-org",
        ),
    ],
)
def test_org_and_policy_domain(
    start: str, found: dict[str, str], org: str, where: str | None
) -> None:
    w = walk(start, found)
    assert organizational_domain(w) == org
    assert policy_domain(w, org) == where


def test_psd_record_ends_the_walk() -> None:
    w = walk("a.b.example.com", {"b.example.com": "v=DMARC1; p=reject; psd=n"})
    assert w.query_names == ("_dmarc.a.b.example.com", "_dmarc.b.example.com")


class FakeDns:
    """In-memory DnsClient: TXT answers by name, everything else NXDOMAIN, or a failure."""

    def __init__(self, txt: dict[str, tuple[str, ...]], fail: str | None = None) -> None:
        self.txt = txt
        self.fail = fail
        self.asked: list[str] = []

    async def query(
        self, name: str, rdtype: RdataType, *, rate_key: str | None = None
    ) -> DnsOutcome:
        self.asked.append(name)
        if name == self.fail:
            return Unknown(name, UnknownReason.TIMEOUT)
        if name in self.txt:
            return Answer(name, rdtype, self.txt[name], 300)
        return NxDomain(name)


async def test_tree_walk_stops_at_first_failure() -> None:
    dns = FakeDns({}, fail="_dmarc.example.com")
    result = await tree_walk("a.example.com", dns)
    assert dns.asked == ["_dmarc.a.example.com", "_dmarc.example.com"]
    assert result.failed is not None
    assert result.failed.reason == "timeout"


async def test_tree_walk_continues_past_a_plain_record() -> None:
    dns = FakeDns({"_dmarc.a.example.com": ("v=DMARC1; p=none",)})
    result = await tree_walk("a.example.com", dns)
    assert result.query_names == ("_dmarc.a.example.com", "_dmarc.example.com", "_dmarc.com")
    assert set(result.records) == {"a.example.com"}
