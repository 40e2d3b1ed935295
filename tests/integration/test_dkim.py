"""DKIM selectors end to end against a real NSD serving zone files written here.

Keys are generated at test time (openssl). Long keys are published as several TXT
character-strings, as operators must, and a selector is CNAMEd into an ESP's zone served
by the same server.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator

import pytest
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver
from unit.test_dkim_keygen import (
    b64,
    ed25519_public_spki,
    ed25519_record,
    rsa_public_der,
    rsa_record,
)
from zonefile import txt

from checks.dkim import DkimPolicy, DkimResult, check_dkim
from checks.dns import StubResolver
from checks.status import CheckStatus

DOMAIN = "example.com"


def _selector_records() -> dict[str, list[str]]:
    truncated_b64 = b64(rsa_public_der(2048))[:-6]
    der_cut = b64(rsa_public_der(2048)[:-10])
    return {
        "ok": [rsa_record(2048)],
        "big": [rsa_record(4096)],
        "weak": [rsa_record(1024)],
        "short": [rsa_record(512)],
        "revoked": ["v=DKIM1; k=rsa; p="],
        "testing": [rsa_record(2048, tags="v=DKIM1; k=rsa; t=y")],
        "strict": [rsa_record(2048, tags="v=DKIM1; k=rsa; t=s")],
        "unknownk": [rsa_record(2048, tags="v=DKIM1; k=foobar")],
        "sha1": [rsa_record(2048, tags="v=DKIM1; k=rsa; h=sha1")],
        "badtags": [rsa_record(2048, tags="v=DKIM1; k=rsa; t")],
        "badversion": [rsa_record(2048, tags="v=DKIM2; k=rsa")],
        "truncated": [f"v=DKIM1; k=rsa; p={truncated_b64}"],
        "notakey": [f"v=DKIM1; k=rsa; p={der_cut}"],
        "edspki": [f"v=DKIM1; k=ed25519; p={b64(ed25519_public_spki())}"],
        "twice": [rsa_record(2048), rsa_record(1024)],
        "pkcs1": [rsa_record(2048, form="pkcs1")],
        "tlsrpt": [rsa_record(2048, tags="v=DKIM1; k=rsa; s=tlsrpt")],
        "vlast": [rsa_record(2048, tags="k=rsa; v=DKIM1")],
        "ed": [ed25519_record()],
    }


@pytest.fixture(scope="module")
def server(nsd_module_factory: StartNsd) -> NsdServer:
    example = [
        f"{sel}._domainkey IN TXT {txt(r)}" for sel, rs in _selector_records().items() for r in rs
    ]
    example += [
        "esp._domainkey IN CNAME s1.dkim.esp.test.",
        "gone._domainkey IN CNAME s2.dkim.esp.test.",
        "nodata._domainkey IN A 192.0.2.1",
        "down._domainkey IN CNAME s1.broken.test.",
        "loop._domainkey IN CNAME loop2._domainkey",
        "loop2._domainkey IN CNAME loop._domainkey",
    ]
    esp = [f"s1.dkim IN TXT {txt(rsa_record(2048, tags='k=rsa; t=s'))}"]
    return nsd_module_factory({DOMAIN: example, "esp.test": esp}, broken=["broken.test"])


@pytest.fixture
async def dns(server: NsdServer) -> AsyncIterator[StubResolver]:
    async with stub_resolver(server.address, timeout=1.0) as resolver:
        yield resolver


async def _one(dns: StubResolver, selector: str) -> DkimResult:
    (result,) = await check_dkim(DOMAIN, dns=dns, policy=DkimPolicy((selector,)))
    return result


STATUS_CASES = {
    "ok": (CheckStatus.OK, [], "rsa", 2048),
    "big": (CheckStatus.OK, [], "rsa", 4096),
    "weak": (CheckStatus.WARN, ["dkim.key_weak"], "rsa", 1024),
    "short": (CheckStatus.FAIL, ["dkim.key_too_short"], "rsa", 512),
    "revoked": (CheckStatus.FAIL, ["dkim.revoked"], "rsa", None),
    "testing": (CheckStatus.WARN, ["dkim.testing"], "rsa", 2048),
    "strict": (CheckStatus.OK, ["dkim.strict_subdomain"], "rsa", 2048),
    "unknownk": (CheckStatus.FAIL, ["dkim.unknown_key_type"], None, None),
    "sha1": (CheckStatus.FAIL, ["dkim.unsupported_hash"], "rsa", 2048),
    "badtags": (CheckStatus.FAIL, ["dkim.malformed_record"], None, None),
    "badversion": (CheckStatus.FAIL, ["dkim.malformed_record"], None, None),
    "truncated": (CheckStatus.FAIL, ["dkim.malformed_key"], "rsa", None),
    "notakey": (CheckStatus.FAIL, ["dkim.malformed_key"], "rsa", None),
    "edspki": (CheckStatus.FAIL, ["dkim.malformed_key"], "ed25519", None),
    "twice": (CheckStatus.FAIL, ["dkim.multiple_records"], None, None),
    "pkcs1": (CheckStatus.WARN, ["dkim.rsa_key_not_spki"], "rsa", 2048),
    "tlsrpt": (CheckStatus.FAIL, ["dkim.service_not_email"], "rsa", 2048),
    "vlast": (CheckStatus.WARN, ["dkim.version_not_first"], "rsa", 2048),
    "ed": (CheckStatus.WARN, ["dkim.ed25519_only"], "ed25519", 256),
    "absent": (CheckStatus.FAIL, ["dkim.missing"], None, None),
    "nodata": (CheckStatus.FAIL, ["dkim.missing"], None, None),
    "down": (CheckStatus.UNKNOWN, ["dkim.lookup_failed"], None, None),
}


@pytest.mark.parametrize(
    ("selector", "status", "codes", "key_type", "key_bits"),
    [(sel, *case) for sel, case in STATUS_CASES.items()],
    ids=list(STATUS_CASES),
)
async def test_selector_finding_and_status(
    dns: StubResolver,
    selector: str,
    status: CheckStatus,
    codes: list[str],
    key_type: str | None,
    key_bits: int | None,
) -> None:
    result = await _one(dns, selector)
    assert [f.code for f in result.findings] == codes
    assert (result.status, result.key_type, result.key_bits) == (status, key_type, key_bits)


async def test_long_key_in_several_txt_strings_is_joined(dns: StubResolver) -> None:
    result = await _one(dns, "big")
    assert result.record == rsa_record(4096)
    assert len(result.record) > 255 * 2


async def test_selector_cnamed_into_an_esp_zone_reports_the_chain(dns: StubResolver) -> None:
    result = await _one(dns, "esp")
    assert result.cname_chain == ("s1.dkim.esp.test",)
    assert (result.status, result.key_bits) == (CheckStatus.OK, 2048)
    assert [f.code for f in result.findings] == ["dkim.strict_subdomain"]


async def test_dangling_cname_is_missing_and_names_the_target(dns: StubResolver) -> None:
    result = await _one(dns, "gone")
    assert (result.status, [f.code for f in result.findings]) == (
        CheckStatus.FAIL,
        ["dkim.missing"],
    )
    assert result.findings[0].detail["cname_target"] == "s2.dkim.esp.test"


async def test_a_cname_loop_is_a_broken_key_not_could_not_tell(dns: StubResolver) -> None:
    """Every answer arrived: the zone's CNAMEs loop, so no receiver can fetch the key."""
    result = await _one(dns, "loop")
    assert (result.status, [f.code for f in result.findings]) == (
        CheckStatus.FAIL,
        ["dkim.cname_loop"],
    )


async def test_several_selectors_in_order_with_dual_signing(dns: StubResolver) -> None:
    results = await check_dkim("Example.COM.", dns=dns, policy=DkimPolicy(("ed", "ok", "testing")))
    assert [r.selector for r in results] == ["ed", "ok", "testing"]
    assert [r.status for r in results] == [CheckStatus.OK, CheckStatus.OK, CheckStatus.WARN]
    assert results[2].testing is True


async def test_timeout_is_unknown_not_missing(silent_udp_port: str) -> None:
    async with stub_resolver(silent_udp_port, timeout=0.2, attempts=1) as dns:
        (result,) = await check_dkim(DOMAIN, dns=dns, policy=DkimPolicy(("s1",)))
    assert result.status is CheckStatus.UNKNOWN
    assert [f.code for f in result.findings] == ["dkim.lookup_failed"]
    assert result.findings[0].detail["reason"] == "timeout"


async def test_servfail_zone_is_unknown(nsd_factory: StartNsd) -> None:
    broken = nsd_factory(broken=[DOMAIN])
    async with stub_resolver(broken.address, timeout=1.0) as dns:
        (result,) = await check_dkim(DOMAIN, dns=dns, policy=DkimPolicy(("s1",)))
    assert result.status is CheckStatus.UNKNOWN
    assert result.findings[0].detail["reason"] == "servfail"


def test_txt_helper_splits_at_255() -> None:
    record = "p=" + base64.b64encode(bytes(300)).decode()
    assert txt(record).count('" "') == len(record) // 255
