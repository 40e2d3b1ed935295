"""DMARC end to end against a real NSD on 127.0.0.1: every finding, the RFC 9989 tree walk,
external report authorisation, sp/np by existence, alignment, and DNS failures as unknown.

Every test also serves the top-level zones, so the walk ends on NXDOMAIN at ``_dmarc.<tld>``
rather than on a REFUSED answer for a zone the server does not hold.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver

from checks.dmarc import DmarcPolicy, DmarcResult, check_dmarc
from checks.findings import FindingSeverity
from checks.status import CheckStatus

TLDS = ("com", "net", "test")
RUA = "rua=mailto:dmarc@example.com"


def serve(start_nsd: StartNsd, zones: dict[str, Sequence[str]], **kw: Sequence[str]) -> NsdServer:
    return start_nsd({**{tld: [] for tld in TLDS}, **zones}, **kw)


async def check(
    address: str, domain: str, policy: DmarcPolicy | None = None, *, wait: float = 2.0
) -> DmarcResult:
    async with stub_resolver(address, timeout=wait, attempts=1) as dns:
        return await check_dmarc(domain, dns=dns, policy=policy or DmarcPolicy())


def codes(result: DmarcResult) -> set[str]:
    return {f.code for f in result.findings}


async def test_enforcing_record_with_own_rua_is_ok(nsd_factory: StartNsd) -> None:
    server = serve(nsd_factory, {"example.com": [f'_dmarc IN TXT "v=DMARC1; p=reject; {RUA}"']})
    result = await check(server.address, "example.com")
    assert result.status is CheckStatus.OK, result.findings
    assert (result.policy, result.policy_domain, result.organizational_domain) == (
        "reject",
        "example.com",
        "example.com",
    )
    assert result.psl_organizational_domain == "example.com"
    assert result.rua == ("mailto:dmarc@example.com",)
    assert result.tree_walk == ("_dmarc.example.com", "_dmarc.com")


async def test_no_record_anywhere_is_missing_and_fails(nsd_factory: StartNsd) -> None:
    server = serve(nsd_factory, {"example.com": ["www IN A 192.0.2.1"]})
    result = await check(server.address, "www.example.com")
    assert result.status is CheckStatus.FAIL
    assert "dmarc.missing" in codes(result)
    assert result.record is None
    assert result.policy is None
    assert result.tree_walk == ("_dmarc.www.example.com", "_dmarc.example.com", "_dmarc.com")


@pytest.mark.parametrize(
    ("record", "status", "code"),
    [
        pytest.param(f"p=none; {RUA}", CheckStatus.WARN, "dmarc.policy_none", id="p-none-warns"),
        pytest.param(f"p=reject; pct=50; {RUA}", CheckStatus.WARN, "dmarc.pct_below_100", id="pct"),
        pytest.param(f"p=reject; t=y; {RUA}", CheckStatus.WARN, "dmarc.testing", id="t-y"),
        pytest.param("p=reject", CheckStatus.WARN, "dmarc.no_rua", id="no-rua"),
        pytest.param(f"p=reject; ri=3600; {RUA}", CheckStatus.WARN, "dmarc.obsolete_tag", id="ri"),
        pytest.param(
            f"p=reject; sp=none; {RUA}", CheckStatus.WARN, "dmarc.subdomain_policy_weaker", id="sp"
        ),
        pytest.param(
            f"p=reject; np=none; {RUA}", CheckStatus.WARN, "dmarc.subdomain_policy_weaker", id="np"
        ),
        pytest.param(f"{RUA}", CheckStatus.WARN, "dmarc.p_missing", id="p-missing"),
        pytest.param(
            f"sp=reject; p=reject; {RUA}", CheckStatus.OK, "dmarc.p_not_first", id="p-2nd"
        ),
        pytest.param(f"p=reject; zz=1; {RUA}", CheckStatus.OK, "dmarc.unknown_tag", id="unknown"),
        pytest.param(f"p=reject; {RUA}; junk", CheckStatus.FAIL, "dmarc.syntax_error", id="syntax"),
        pytest.param(f"p=block; {RUA}", CheckStatus.FAIL, "dmarc.invalid_tag_value", id="bad-p"),
        pytest.param(f"p=reject; adkim=x; {RUA}", CheckStatus.FAIL, "dmarc.invalid_tag_value"),
        pytest.param(f"p=reject; p=none; {RUA}", CheckStatus.FAIL, "dmarc.duplicate_tag", id="dup"),
        pytest.param("p=reject; rua=dmarc@example.com", CheckStatus.FAIL, "dmarc.invalid_uri"),
        pytest.param(
            "p=reject; rua=mailto:a@example.com,mailto:b@example.com,mailto:c@example.com",
            CheckStatus.WARN,
            "dmarc.too_many_uris",
            id="three-uris",
        ),
        pytest.param(
            "p=reject; rua=https://example.com/r", CheckStatus.WARN, "dmarc.uri_not_mailto"
        ),
        pytest.param(
            "p=reject; rua=mailto:dmarc@example.com!10m", CheckStatus.WARN, "dmarc.uri_size_suffix"
        ),
    ],
)
async def test_record_finding_and_status(
    nsd_factory: StartNsd, record: str, status: CheckStatus, code: str
) -> None:
    server = serve(nsd_factory, {"example.com": [f'_dmarc IN TXT "v=DMARC1; {record}"']})
    result = await check(server.address, "example.com")
    assert code in codes(result)
    assert result.status is status, result.findings


async def test_multiple_records_are_discarded_and_org_policy_applies(
    nsd_factory: StartNsd,
) -> None:
    server = serve(
        nsd_factory,
        {
            "example.com": [
                f'_dmarc IN TXT "v=DMARC1; p=quarantine; {RUA}"',
                '_dmarc.mail IN TXT "v=DMARC1; p=reject"',
                '_dmarc.mail IN TXT "v=DMARC1; p=none"',
                "mail IN A 192.0.2.1",
            ]
        },
    )
    result = await check(server.address, "mail.example.com")
    assert "dmarc.multiple_records" in codes(result)
    assert result.status is CheckStatus.FAIL
    assert (result.policy_domain, result.policy) == ("example.com", "quarantine")


async def test_multiple_records_alone_read_as_missing(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {"example.com": ['_dmarc IN TXT "v=DMARC1; p=reject"', '_dmarc IN TXT "v=DMARC1; p=none"']},
    )
    result = await check(server.address, "example.com")
    assert {"dmarc.multiple_records", "dmarc.missing"} <= codes(result)


async def test_deep_subdomain_finds_org_record_and_takes_sp(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {
            "example.com": [
                f'_dmarc IN TXT "v=DMARC1; p=reject; sp=quarantine; {RUA}"',
                "a.b.c IN A 192.0.2.1",
            ]
        },
    )
    result = await check(server.address, "a.b.c.example.com")
    assert result.tree_walk == (
        "_dmarc.a.b.c.example.com",
        "_dmarc.b.c.example.com",
        "_dmarc.c.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
    )
    assert (result.policy_domain, result.organizational_domain) == ("example.com", "example.com")
    assert (result.policy, result.subdomain_policy) == ("quarantine", "quarantine")
    assert "dmarc.subdomain_policy_weaker" in codes(result)


async def test_name_of_more_than_eight_labels_takes_eight_queries(nsd_factory: StartNsd) -> None:
    server = serve(nsd_factory, {"example.com": [f'_dmarc IN TXT "v=DMARC1; p=reject; {RUA}"']})
    domain = "a.b.c.d.e.f.g.h.i.j.mail.example.com"
    result = await check(server.address, domain)
    assert result.tree_walk == (
        f"_dmarc.{domain}",
        "_dmarc.g.h.i.j.mail.example.com",
        "_dmarc.h.i.j.mail.example.com",
        "_dmarc.i.j.mail.example.com",
        "_dmarc.j.mail.example.com",
        "_dmarc.mail.example.com",
        "_dmarc.example.com",
        "_dmarc.com",
    )
    # The name does not exist, and np inherits p here.
    assert (result.policy_domain, result.policy) == ("example.com", "reject")


async def test_psd_y_stops_the_walk_and_org_is_one_below(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {
            "test": ['_dmarc IN TXT "v=DMARC1; p=reject; np=reject; psd=y"'],
            "example.test": ["mail IN A 192.0.2.1"],
        },
    )
    result = await check(server.address, "mail.example.test")
    assert result.tree_walk == (
        "_dmarc.mail.example.test",
        "_dmarc.example.test",
        "_dmarc.test",
    )
    assert (result.organizational_domain, result.policy_domain) == ("example.test", "test")
    assert result.policy == "reject"


async def test_psd_n_stops_the_walk_and_differs_from_psl(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {
            "example.com": [
                f'_dmarc.dept IN TXT "v=DMARC1; p=quarantine; psd=n; {RUA}"',
                "x.dept IN A 192.0.2.1",
            ]
        },
    )
    result = await check(server.address, "x.dept.example.com")
    assert result.tree_walk == ("_dmarc.x.dept.example.com", "_dmarc.dept.example.com")
    assert result.organizational_domain == "dept.example.com"
    assert result.psl_organizational_domain == "example.com"
    assert "dmarc.org_domain_differs" in codes(result)
    info = [f for f in result.findings if f.code == "dmarc.org_domain_differs"]
    assert info[0].severity is FindingSeverity.INFO


async def test_sp_and_np_chosen_by_nxdomain(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {
            "example.com": [
                f'_dmarc IN TXT "v=DMARC1; p=reject; sp=quarantine; np=reject; {RUA}"',
                "exists IN MX 10 mx.example.net.",
            ]
        },
    )
    existing = await check(server.address, "exists.example.com")
    ghost = await check(server.address, "ghost.example.com")
    assert (existing.policy, ghost.policy) == ("quarantine", "reject")
    assert existing.nonexistent_policy == ghost.nonexistent_policy == "reject"


async def test_sp_np_in_non_org_record_are_noted_as_ignored(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {
            "example.com": [
                f'_dmarc IN TXT "v=DMARC1; p=reject; {RUA}"',
                f'_dmarc.mail IN TXT "v=DMARC1; p=reject; sp=none; {RUA}"',
            ]
        },
    )
    result = await check(server.address, "mail.example.com")
    assert result.policy_domain == "mail.example.com"
    assert result.organizational_domain == "example.com"
    assert result.subdomain_policy == "reject"  # from example.com, not mail's sp=none
    assert "dmarc.subdomain_policy_ignored" in codes(result)


@pytest.mark.parametrize(
    ("authorisation", "expected"),
    [
        pytest.param([], True, id="absent"),
        pytest.param(['example.com._report._dmarc IN TXT "v=DMARC1"'], False, id="present"),
        pytest.param(['*._report._dmarc IN TXT "v=DMARC1"'], False, id="wildcard"),
        pytest.param(['example.com._report._dmarc IN TXT "hello"'], True, id="unrelated-txt"),
    ],
)
async def test_external_rua_needs_authorisation(
    nsd_factory: StartNsd, authorisation: list[str], expected: bool
) -> None:
    server = serve(
        nsd_factory,
        {
            "example.com": ['_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:r@reports.example.net"'],
            "reports.example.net": authorisation,
        },
    )
    result = await check(server.address, "example.com")
    assert ("dmarc.rua_unauthorized" in codes(result)) is expected
    assert result.status is (CheckStatus.WARN if expected else CheckStatus.OK)


async def test_external_ruf_unauthorised(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {"example.com": [f'_dmarc IN TXT "v=DMARC1; p=reject; {RUA}; ruf=mailto:f@example.net"']},
    )
    result = await check(server.address, "example.com")
    assert "dmarc.ruf_unauthorized" in codes(result)
    assert result.status is CheckStatus.WARN


async def test_authorisation_lookup_failure_warns_but_keeps_verdict(
    nsd_factory: StartNsd,
) -> None:
    server = serve(
        nsd_factory,
        {"example.com": ['_dmarc IN TXT "v=DMARC1; p=reject; rua=mailto:r@reports.example.net"']},
        broken=["reports.example.net"],
    )
    result = await check(server.address, "example.com")
    assert "dmarc.report_auth_unknown" in codes(result)
    assert "dmarc.rua_unauthorized" not in codes(result)
    assert result.status is CheckStatus.WARN


async def test_timeout_is_unknown_never_missing(silent_udp_port: str) -> None:
    result = await check(silent_udp_port, "example.com", wait=0.2)
    assert result.status is CheckStatus.UNKNOWN
    assert codes(result) == {"dmarc.lookup_failed"}
    assert result.tree_walk == ("_dmarc.example.com",)


async def test_servfail_is_unknown_never_missing(nsd_factory: StartNsd) -> None:
    server = serve(nsd_factory, {}, broken=["example.com"])
    result = await check(server.address, "mail.example.com")
    assert result.status is CheckStatus.UNKNOWN
    assert "dmarc.missing" not in codes(result)
    (failed,) = [f for f in result.findings if f.code == "dmarc.lookup_failed"]
    assert failed.detail["reason"] == "servfail"


async def test_failure_above_own_record_keeps_record_but_is_unknown(
    nsd_factory: StartNsd,
) -> None:
    server = serve(
        nsd_factory,
        {"mail.example.com": [f'_dmarc IN TXT "v=DMARC1; p=reject; {RUA}"']},
        broken=["example.com"],
    )
    result = await check(server.address, "mail.example.com")
    assert result.status is CheckStatus.UNKNOWN
    assert (result.policy_domain, result.policy) == ("mail.example.com", "reject")
    assert result.organizational_domain is None


async def test_alignment_of_configured_identities(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {
            "example.com": [f'_dmarc IN TXT "v=DMARC1; p=reject; adkim=s; {RUA}"'],
            "example.net": [],
        },
    )
    policy = DmarcPolicy(
        envelope_domains=("bounce.example.com", "esp.example.net"),
        dkim_domains=("example.com", "mail.example.com"),
    )
    result = await check(server.address, "example.com", policy)
    assert dict(result.alignment) == {
        "spf:bounce.example.com": "aligned",
        "spf:esp.example.net": "not_aligned",
        "dkim:example.com": "aligned",
        "dkim:mail.example.com": "not_aligned",  # adkim=s
    }
    misaligned = {
        f.detail["identity"] for f in result.findings if f.code == "dmarc.identity_not_aligned"
    }
    assert misaligned == {"spf:esp.example.net", "dkim:mail.example.com"}
    # Two identities align, so mail can pass DMARC (RFC 9989: SPF or DKIM aligned):
    # the misaligned ones are warnings, not a failure.
    assert result.status is CheckStatus.WARN


async def test_no_identities_no_alignment_findings(nsd_factory: StartNsd) -> None:
    server = serve(nsd_factory, {"example.com": [f'_dmarc IN TXT "v=DMARC1; p=reject; {RUA}"']})
    result = await check(server.address, "example.com")
    assert dict(result.alignment) == {}


async def test_identity_walk_failure_makes_alignment_unknown(nsd_factory: StartNsd) -> None:
    """Only the identity's alignment: the From domain's record was read, so its policy
    and status stand (they used to turn unknown, and the policy metric went away)."""
    server = serve(
        nsd_factory,
        {"example.com": [f'_dmarc IN TXT "v=DMARC1; p=reject; {RUA}"']},
        broken=["example.net"],
    )
    result = await check(server.address, "example.com", DmarcPolicy(("esp.example.net",)))
    assert dict(result.alignment) == {"spf:esp.example.net": "unknown"}
    assert (result.status, result.policy) == (CheckStatus.OK, "reject")
    assert "dmarc.alignment_unknown" in codes(result)
    assert "dmarc.lookup_failed" not in codes(result)


async def test_identity_with_own_psd_n_aligns_only_by_psl(nsd_factory: StartNsd) -> None:
    server = serve(
        nsd_factory,
        {
            "example.com": [
                f'_dmarc IN TXT "v=DMARC1; p=reject; {RUA}"',
                '_dmarc.bounce IN TXT "v=DMARC1; p=none; psd=n"',
            ]
        },
    )
    result = await check(server.address, "example.com", DmarcPolicy(("bounce.example.com",)))
    assert dict(result.alignment) == {"spf:bounce.example.com": "not_aligned"}
    assert {"dmarc.identity_not_aligned", "dmarc.psl_alignment_differs"} <= codes(result)


@pytest.mark.parametrize(
    "text",
    ["p=reject; v=DMARC1", "v=DMARC1 p=reject", "v=dmarc1; p=reject"],
    ids=["version-not-first", "no-semicolon", "lower-case"],
)
async def test_a_record_meant_as_dmarc_that_is_none_is_named(
    nsd_factory: StartNsd, text: str
) -> None:
    server = serve(nsd_factory, {"example.com": [f'_dmarc IN TXT "{text}"']})
    result = await check(server.address, "example.com")
    # Receivers ignore it: it reads as missing, and the finding says what is there.
    assert {"dmarc.not_a_record", "dmarc.missing"} <= codes(result)
    (finding,) = [f for f in result.findings if f.code == "dmarc.not_a_record"]
    assert finding.detail == {"name": "_dmarc.example.com", "record": text}
    assert result.status is CheckStatus.FAIL


async def test_an_unrelated_txt_beside_no_record_is_not_named(nsd_factory: StartNsd) -> None:
    server = serve(nsd_factory, {"example.com": ['_dmarc IN TXT "google-site-verification=x"']})
    result = await check(server.address, "example.com")
    assert "dmarc.not_a_record" not in codes(result)
