"""The bulk-sender scorecard: each row passes, fails or is unknown as the providers' rules say."""

from __future__ import annotations

import pytest

from checks.compliance import RowStatus, Scorecard, build_scorecard
from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.host import PtrResult
from checks.spf import SpfResult
from checks.status import CheckStatus as S

OK, FAIL, UNKNOWN = S.OK, S.FAIL, S.UNKNOWN


def spf(status: S = OK, record: str | None = "v=spf1 ip4:192.0.2.10 -all", **ips: str) -> SpfResult:
    results = {ip.replace("_", "."): r for ip, r in ips.items()} or {"192.0.2.10": "pass"}
    return SpfResult("example.com", status, record, 1, 0, results, None, ())


def dmarc(policy: str | None = "none", status: S = OK, **alignment: str) -> DmarcResult:
    return DmarcResult(
        "example.com", status, policy=policy, policy_domain="example.com", alignment=alignment
    )


def dkim(bits: int | None = 2048, status: S = OK, key_type: str | None = "rsa") -> DkimResult:
    return DkimResult("s1", status, "v=DKIM1; p=...", key_type, bits, False, (), ())


def ptr(confirmed: bool | None = True, ip: str = "192.0.2.10") -> PtrResult:
    status = OK if confirmed else (UNKNOWN if confirmed is None else FAIL)
    return PtrResult(ip, status, ("mail.example.com",), confirmed, (), ())


def card(**kw: object) -> Scorecard:
    parts: dict[str, object] = {"spf": spf(), "dmarc": dmarc(), "dkim": [dkim()], "ptr": [ptr()]}
    parts.update(kw)
    return build_scorecard("example.com", **parts)  # type: ignore[arg-type]


def row(scorecard: Scorecard, requirement: str) -> RowStatus:
    (found,) = [r.status for r in scorecard.rows if r.requirement == requirement]
    return found


def test_a_fully_compliant_domain_passes_every_row() -> None:
    scorecard = card()
    assert {r.status for r in scorecard.rows} == {RowStatus.PASS}
    assert scorecard.compliant is True
    assert all(r.providers for r in scorecard.rows)


@pytest.mark.parametrize(
    ("change", "requirement", "expected"),
    [
        pytest.param(
            {"spf": spf(record=None, **{"192_0_2_10": "none"})},
            "spf_passes_for_sending_ips",
            RowStatus.FAIL,
            id="no-spf",
        ),
        pytest.param(
            {"spf": spf(**{"192_0_2_10": "softfail"})},
            "spf_passes_for_sending_ips",
            RowStatus.FAIL,
            id="ip-softfails",
        ),
        pytest.param(
            {"spf": spf(**{"192_0_2_10": "temperror"})},
            "spf_passes_for_sending_ips",
            RowStatus.UNKNOWN,
            id="ip-temperror",
        ),
        pytest.param(
            {"spf": spf(status=UNKNOWN, **{"192_0_2_10": "temperror"})},
            "spf_passes_for_sending_ips",
            RowStatus.UNKNOWN,
            id="spf-timeout",
        ),
        pytest.param({"dkim": []}, "dkim_key_published", RowStatus.UNKNOWN, id="no-selectors"),
        pytest.param(
            {"dkim": [dkim(status=FAIL, bits=None, key_type=None)]},
            "dkim_key_published",
            RowStatus.FAIL,
            id="key-missing",
        ),
        pytest.param(
            {"dkim": [dkim(status=UNKNOWN, bits=None, key_type=None)]},
            "dkim_key_published",
            RowStatus.UNKNOWN,
            id="key-timeout",
        ),
        pytest.param(
            {"dkim": [dkim(bits=1024)]}, "dkim_key_at_least_1024_bits", RowStatus.PASS, id="1024-ok"
        ),
        pytest.param(
            {"dkim": [dkim(bits=256, key_type="ed25519")]},
            "dkim_key_at_least_1024_bits",
            RowStatus.PASS,
            id="ed25519-ok",
        ),
        pytest.param(
            {"dmarc": dmarc(policy=None)}, "dmarc_policy_published", RowStatus.FAIL, id="no-dmarc"
        ),
        pytest.param(
            {"dmarc": dmarc(status=UNKNOWN, policy=None)},
            "dmarc_policy_published",
            RowStatus.UNKNOWN,
            id="dmarc-timeout",
        ),
        pytest.param(
            {"dmarc": dmarc(policy="none")},
            "dmarc_policy_published",
            RowStatus.PASS,
            id="p-none-is-enough",
        ),
        pytest.param(
            {"dkim": [], "dmarc": dmarc(**{"spf:bounce.example.net": "not_aligned"})},
            "dmarc_alignment_possible",
            RowStatus.FAIL,
            id="nothing-aligns",
        ),
        pytest.param(
            {"dkim": [], "dmarc": dmarc(**{"spf:bounce.example.com": "aligned"})},
            "dmarc_alignment_possible",
            RowStatus.PASS,
            id="spf-aligned",
        ),
        pytest.param(
            {"dkim": [], "dmarc": dmarc(**{"spf:x.example.net": "unknown"})},
            "dmarc_alignment_possible",
            RowStatus.UNKNOWN,
            id="alignment-unknown",
        ),
        pytest.param(
            {"dkim": [], "dmarc": dmarc()},
            "dmarc_alignment_possible",
            RowStatus.UNKNOWN,
            id="no-identities",
        ),
        pytest.param(
            {"ptr": [ptr(), ptr(False, "192.0.2.11")]},
            "fcrdns_for_sending_ips",
            RowStatus.FAIL,
            id="one-ip-without-fcrdns",
        ),
        pytest.param(
            {"ptr": [ptr(None)]}, "fcrdns_for_sending_ips", RowStatus.UNKNOWN, id="ptr-timeout"
        ),
        pytest.param({"ptr": []}, "fcrdns_for_sending_ips", RowStatus.UNKNOWN, id="no-sending-ips"),
    ],
)
def test_row(change: dict[str, object], requirement: str, expected: RowStatus) -> None:
    assert row(card(**change), requirement) is expected


def test_a_short_dkim_key_fails_the_size_row_only_for_gmail_and_yahoo() -> None:
    scorecard = card(dkim=[dkim(bits=512, status=S.WARN)])
    (size,) = [r for r in scorecard.rows if r.requirement == "dkim_key_at_least_1024_bits"]
    assert size.status is RowStatus.FAIL
    assert set(size.providers) == {"gmail", "yahoo"}
    assert scorecard.compliant is False


def test_unknown_rows_make_compliance_undecided_not_true() -> None:
    assert card(ptr=[ptr(None)]).compliant is None


def test_a_512_bit_key_fails_the_size_row_even_beside_a_good_key() -> None:
    short = DkimResult("old", FAIL, "v=DKIM1; p=...", "rsa", 512, False, (), ())
    assert row(card(dkim=[short]), "dkim_key_at_least_1024_bits") is RowStatus.FAIL
    assert row(card(dkim=[dkim(), short]), "dkim_key_at_least_1024_bits") is RowStatus.FAIL


def test_a_testing_key_is_not_counted_as_signing() -> None:
    testing = DkimResult("s1", S.WARN, "v=DKIM1; t=y; p=...", "rsa", 2048, True, (), ())
    assert row(card(dkim=[testing]), "dkim_key_published") is RowStatus.FAIL


def test_certain_ip_results_decide_the_spf_row_despite_an_unknown_branch() -> None:
    assert row(card(spf=spf(status=UNKNOWN)), "spf_passes_for_sending_ips") is RowStatus.PASS


def test_a_certain_failure_decides_the_spf_row_despite_another_ips_dns_error() -> None:
    # 192.0.2.11 fails for certain (a term before the broken include decided it); a DNS
    # error leaves 192.0.2.10 open, but the row fails whatever it would have been.
    mixed = spf(**{"192_0_2_10": "temperror", "192_0_2_11": "fail"})
    scorecard = card(spf=mixed)
    assert row(scorecard, "spf_passes_for_sending_ips") is RowStatus.FAIL
    assert scorecard.compliant is False
    neutral = spf(**{"192_0_2_10": "temperror", "192_0_2_11": "neutral"})
    assert row(card(spf=neutral), "spf_passes_for_sending_ips") is RowStatus.FAIL
    open_only = spf(**{"192_0_2_10": "temperror", "192_0_2_11": "pass"})
    assert row(card(spf=open_only), "spf_passes_for_sending_ips") is RowStatus.UNKNOWN


def test_envelope_domains_decide_the_spf_row_when_configured() -> None:
    envelope = SpfResult(
        "bounce.example.com", OK, "v=spf1 -all", 0, 0, {"192.0.2.10": "fail"}, None, ()
    )
    scorecard = build_scorecard(
        "example.com", spf=spf(), dmarc=dmarc(), dkim=[dkim()], ptr=[ptr()], envelope_spf=[envelope]
    )
    assert row(scorecard, "spf_passes_for_sending_ips") is RowStatus.FAIL


def _envelope(domain: str, result: str, record: str | None = "v=spf1 -all") -> SpfResult:
    status = UNKNOWN if result == "temperror" else (OK if result == "pass" else FAIL)
    return SpfResult(domain, status, record, 0, 0, {"192.0.2.10": result}, None, ())


def test_an_envelope_domain_no_sending_ip_passes_at_fails_the_spf_row() -> None:
    """One envelope domain passing the IP does not hide another that passes no sending IP:
    all mail sent with that one fails SPF."""
    good = _envelope("bounce.example.com", "pass")
    scorecard = card(envelope_spf=[good])
    assert row(scorecard, "spf_passes_for_sending_ips") is RowStatus.PASS
    for broken in (
        _envelope("nospf.example.net", "none", record=None),
        _envelope("split.example.net", "permerror", record="v=spf1 ip4:192.0.2.10-all"),
        _envelope("other.example.net", "fail"),
    ):
        scorecard = card(envelope_spf=[good, broken])
        (found,) = [r for r in scorecard.rows if r.requirement == "spf_passes_for_sending_ips"]
        assert found.status is RowStatus.FAIL, broken.domain
        assert f"no sending IP passes SPF at {broken.domain}" in found.detail
        assert scorecard.compliant is False
    undecided = _envelope("slow.example.net", "temperror")
    scorecard = card(envelope_spf=[good, undecided])
    assert row(scorecard, "spf_passes_for_sending_ips") is RowStatus.UNKNOWN
    assert scorecard.compliant is None
