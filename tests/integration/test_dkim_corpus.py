"""The corpus DKIM key records served by a real NSD under their own names, through check_dkim.

Every row of ../shared/corpus/dkim/dkim-key-records.tsv is published (dkimpy's anonymous
records under ``<file stem>._domainkey.dkimpy.test``), long keys as several TXT strings;
the DNS-condition markers become the condition they name: NXDOMAIN is a name left out of
the zone, SERVFAIL a broken zone, "Query timed out" a nameserver that never answers.
Expectations are the ones tests/unit/test_dkim_corpus.py derives from the table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import CORPUS
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver
from unit.test_dkim_corpus import MARKERS, Row, expected, load_rows
from zonefile import txt

from checks.dkim import DkimPolicy, DkimResult, check_dkim
from checks.status import CheckStatus

ANONYMOUS_DOMAIN = "dkimpy.test"
TIMEOUT_MARKER = "~~Query timed out~~"
SERVFAIL_MARKER = "~~SERVFAIL~~"


def owner(row: Row) -> tuple[str, str]:
    """(selector, domain) under which the row is published."""
    if row.name == "(dkimpy test data)":
        return Path(row.file).stem.replace("_", "-"), ANONYMOUS_DOMAIN
    selector, domain = row.name.split("._domainkey.", 1)
    return selector, domain


def _params() -> list[object]:
    if not CORPUS.is_dir():
        return [pytest.param(None, id="corpus-missing")]
    return [pytest.param(row, id=f"{row.line}-{row.key}") for row in load_rows(CORPUS)]


@pytest.fixture(scope="module")
def server(nsd_module_factory: StartNsd, corpus_dir: Path) -> NsdServer:
    zones: dict[str, list[str]] = {}
    broken: list[str] = []
    for row in load_rows(corpus_dir):
        selector, domain = owner(row)
        if row.record == SERVFAIL_MARKER:
            broken.append(domain)
            continue
        zones.setdefault(domain, [])
        if row.key_check.startswith("DNS condition marker"):
            continue  # NXDOMAIN: leave the name out; timeout: asked of a silent server
        zones[domain].append(f"{selector}._domainkey IN TXT {txt(row.record)}")
    return nsd_module_factory(zones, broken=broken)


async def _check(address: str, row: Row, *, wait: float = 1.0) -> DkimResult:
    selector, domain = owner(row)
    async with stub_resolver(address, timeout=wait, attempts=1) as dns:
        (result,) = await check_dkim(domain, dns=dns, policy=DkimPolicy((selector,)))
    return result


@pytest.mark.parametrize("row", _params())
async def test_corpus_record_served_by_nsd(
    server: NsdServer, silent_udp_port: str, row: Row
) -> None:
    if row.record == TIMEOUT_MARKER:
        result = await _check(silent_udp_port, row, wait=0.2)
    else:
        result = await _check(server.address, row)
    if row.key_check.startswith("DNS condition marker"):
        _outcome, code = MARKERS[row.record]
        assert [f.code for f in result.findings] == [code]
        expected_status = CheckStatus.FAIL if code == "dkim.missing" else CheckStatus.UNKNOWN
        assert result.status is expected_status
        return
    key_type, key_bits, codes = expected(row)
    if key_type == "ed25519" and key_bits is not None:
        codes = codes | {"dkim.ed25519_only"}  # checked alone: no RSA selector beside it
    assert result.record == row.record
    assert (result.key_type, result.key_bits) == (key_type, key_bits)
    assert {f.code for f in result.findings} == codes
