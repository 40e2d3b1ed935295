"""Bounce findings (checks.bounces.findings): thresholds, the sweep join, the volume guard."""

from __future__ import annotations

import datetime as dt

from checks.bounces.findings import BounceCount, BounceThresholds, bounce_findings, cited_ips
from checks.dnsbl.catalogue import generic_zone
from monitor.checking.cache import StateSnapshot
from monitor.checking.states import CheckName, CheckState
from monitor.risk.bounces import sweep_verdicts

T = BounceThresholds(ratelimit=10, dmarc=1, hard_bounce_rate=0.02, min_volume=1000)


def codes(findings: tuple[object, ...]) -> list[tuple[str, dict[str, object]]]:
    return [(f.code, dict(f.detail)) for f in findings]  # type: ignore[attr-defined]


def test_cited_ips_skip_versions_and_loopback() -> None:
    text = "554 5.7.1 Client host [192.0.2.10] blocked; 4.16.55.1; 127.0.0.2; v1.2.3.4.5"
    assert cited_ips(text) == {"192.0.2.10", "4.16.55.1"}


def test_cited_ipv6_addresses_and_networks() -> None:
    text = (
        "550 5.7.1 [2001:DB8:0:0::11] blocked using zen.spamhaus.org; range 2001:db8::/32 "
        "listed; ::1 and :: skipped; at 12:00:01 said: 421-4.7.28 dsn=5.7.1"
    )
    assert cited_ips(text) == {"2001:db8::11", "2001:db8::/32"}


def test_ipv6_citations_are_joined_with_the_sweep() -> None:
    def sweep(cited: set[str], verdicts: dict[str, str]) -> tuple[object, object]:
        (found,) = bounce_findings(
            [BounceCount("c", "other", "blocklisted", "spamhaus", 1, 0)],
            attempts={},
            cited={("other", "spamhaus"): cited},
            verdicts={"spamhaus": verdicts},
            thresholds=T,
        )
        return found.detail["sweep"], found.detail["ip"]

    # the swept target written in full, the reply's compressed: the same address
    assert sweep({"2001:db8::11"}, {"2001:0db8:0000:0000:0000:0000:0000:0011": "listed"}) == (
        "listed",
        "2001:0db8:0000:0000:0000:0000:0000:0011",
    )
    # a cited network covers the swept addresses inside it; listed wins
    swept = {"2001:db8::10": "not_listed", "2001:db8:1::20": "listed", "192.0.2.10": "listed"}
    assert sweep({"2001:db8::/32"}, swept) == ("listed", "2001:db8:1::20")
    assert sweep({"2001:db8::/48"}, swept) == ("not_listed", "2001:db8::10")
    assert sweep({"2001:db9::1"}, swept) == ("not_in_sweep", "2001:db9::1")


def test_a_swept_list_without_an_answer_is_unknown_never_not_listed() -> None:
    def sweep(cited: set[str], verdicts: dict[str, dict[str, str]]) -> tuple[object, object]:
        (found,) = bounce_findings(
            [BounceCount("c", "other", "blocklisted", "spamhaus", 1, 0)],
            attempts={},
            cited={("other", "spamhaus"): cited},
            verdicts=verdicts,
            thresholds=T,
        )
        return found.detail["sweep"], found.detail["ip"]

    # The sweep asks the list but has no state yet (a resolver down since the start).
    assert sweep({"192.0.2.10"}, {"spamhaus": {}}) == ("unknown", "192.0.2.10")
    # It could not tell for the cited IP; listed elsewhere in a cited network still wins.
    could_not_tell = {"192.0.2.10": "unknown", "192.0.2.11": "not_listed"}
    assert sweep({"192.0.2.10"}, {"spamhaus": could_not_tell}) == ("unknown", "192.0.2.10")
    assert sweep({"192.0.2.0/24"}, {"spamhaus": could_not_tell}) == ("unknown", "192.0.2.10")
    assert sweep({"192.0.2.11"}, {"spamhaus": could_not_tell}) == ("not_listed", "192.0.2.11")
    with_listed = {**could_not_tell, "192.0.2.12": "listed"}
    assert sweep({"192.0.2.0/24"}, {"spamhaus": with_listed}) == ("listed", "192.0.2.12")
    # A list the sweep does not ask stays not_in_sweep.
    assert sweep({"192.0.2.10"}, {"spamcop": {}}) == ("not_in_sweep", "192.0.2.10")


def test_blocklist_joined_with_the_sweep() -> None:
    rows = [
        BounceCount("c", "other", "blocklisted", "spamhaus", 2, 0),
        BounceCount("c", "microsoft", "blocklisted", "microsoft", 1, 0),
        BounceCount("c", "yahoo", "blocklisted", "spamcop", 1, 0),
    ]
    found = bounce_findings(
        rows,
        attempts={},
        cited={
            ("other", "spamhaus"): {"192.0.2.10"},
            ("microsoft", "microsoft"): {"192.0.2.10"},
            ("yahoo", "spamcop"): {"192.0.2.11"},
        },
        verdicts={"spamhaus": {"192.0.2.10": "listed"}, "spamcop": {"192.0.2.11": "not_listed"}},
        thresholds=T,
    )
    sweeps = {(d["provider"], d["blocklist"]): d["sweep"] for _c, d in codes(found)}
    assert sweeps == {
        ("other", "spamhaus"): "listed",
        ("microsoft", "microsoft"): "not_in_sweep",  # a provider's internal list
        ("yahoo", "spamcop"): "not_listed",
    }
    internal = next(f for f in found if f.detail["blocklist"] == "microsoft")
    assert "internal list" in internal.message


def test_a_public_list_the_sweep_does_not_ask_is_not_called_internal() -> None:
    rows = [
        BounceCount("c", "other", "blocklisted", "sorbs", 1, 0),
        BounceCount("c", "other", "blocklisted", "unknown", 1, 0),
    ]
    found = bounce_findings(
        rows,
        attempts={},
        cited={("other", "sorbs"): {"192.0.2.10"}, ("other", "unknown"): {"192.0.2.10"}},
        verdicts={},
        thresholds=T,
    )
    said = {f.detail["blocklist"]: f.message for f in found}
    assert "citing list sorbs, which the sweep does not ask" in said["sorbs"]
    assert "citing a list it does not name" in said["unknown"]
    assert not any("internal" in m for m in said.values())


def test_a_swept_list_cited_for_an_ip_the_sweep_does_not_ask_says_so() -> None:
    """The sweep asks spamhaus about our IPs; the reply cites another IP. The title said
    "which the sweep does not ask" about a list it asks (an outside review)."""
    found = bounce_findings(
        [BounceCount("c", "microsoft", "blocklisted", "spamhaus", 1, 0)],
        attempts={},
        cited={("microsoft", "spamhaus"): {"203.0.113.9"}},
        verdicts={"spamhaus": {"192.0.2.10": "not_listed"}},
        thresholds=T,
    )
    [finding] = found
    assert finding.detail["sweep"] == "not_in_sweep"
    assert "which the sweep asks about other IPs, not the one cited" in finding.message
    assert "does not ask" not in finding.message


def test_thresholds_and_volume_guard() -> None:
    rows = [
        BounceCount("c", "google", "reputation_ratelimit", "", 0, 9),
        BounceCount("c", "google", "auth_failure_dmarc", "", 1, 0),
        BounceCount("big", "other", "mailbox_unknown", "", 30, 0),
        BounceCount("small", "other", "mailbox_unknown", "", 30, 0),
    ]
    found = bounce_findings(
        rows, attempts={"big": 1000, "small": 999}, cited={}, verdicts={}, thresholds=T
    )
    assert [c for c, _ in codes(found)] == ["bounce.dmarc_rejected", "bounce.hard_bounce_rate"]
    more = [*rows, BounceCount("d", "google", "reputation_ratelimit", "", 1, 0)]
    found = bounce_findings(more, attempts={}, cited={}, verdicts={}, thresholds=T)
    assert ("bounce.reputation_ratelimit", {"provider": "google", "count": 10}) in codes(found)


def test_every_swept_list_has_its_entry_before_any_answer() -> None:
    zones = [generic_zone("zen.spamhaus.org"), generic_zone("bl.spamcop.net")]
    assert sweep_verdicts(StateSnapshot(), zones) == {"spamhaus": {}, "spamcop": {}}
    at = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    state = CheckState(
        "192.0.2.10", CheckName.DNSBL, "zen.spamhaus.org", "unknown", None, "{}", None, at
    )
    snapshot = StateSnapshot({("192.0.2.10", "dnsbl", "zen.spamhaus.org"): state})
    assert sweep_verdicts(snapshot, zones)["spamhaus"] == {"192.0.2.10": "unknown"}
