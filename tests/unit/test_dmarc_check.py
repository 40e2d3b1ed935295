"""Pins check_dmarc's handling of the sp/np existence test with an in-memory DnsClient:
NXDOMAIN picks np, an answer picks sp, failed lookups leave the policy unknown."""

from __future__ import annotations

import pytest

from checks.dmarc import DmarcPolicy, check_dmarc
from checks.dns import Answer, DnsOutcome, NoData, NxDomain, RdataType, Unknown, UnknownReason
from checks.status import CheckStatus

RECORD = "v=DMARC1; p=reject; sp=quarantine; np=none; rua=mailto:d@example.com"


class ZoneDns:
    """TXT at _dmarc.example.com; the existence lookups for the subdomain answer ``sub``."""

    def __init__(self, sub: str) -> None:
        self.sub = sub
        self.asked: list[tuple[str, RdataType]] = []

    async def query(
        self, name: str, rdtype: RdataType, *, rate_key: str | None = None
    ) -> DnsOutcome:
        self.asked.append((name, rdtype))
        if name == "_dmarc.example.com":
            return Answer(name, rdtype, (RECORD,), 300)
        if name == "x.example.com":
            if self.sub == "fail":
                return Unknown(name, UnknownReason.SERVFAIL)
            if self.sub == "nodata":
                return NoData(name, rdtype)
        return NxDomain(name)


@pytest.mark.parametrize(
    ("sub", "policy", "status"),
    [
        ("nxdomain", "none", CheckStatus.WARN),
        ("nodata", "quarantine", CheckStatus.WARN),  # sp weaker than p warns
        ("fail", None, CheckStatus.UNKNOWN),
    ],
)
async def test_existence_decides_sp_or_np(
    sub: str, policy: str | None, status: CheckStatus
) -> None:
    dns = ZoneDns(sub)
    result = await check_dmarc("x.example.com", dns=dns, policy=DmarcPolicy())
    assert result.policy == policy
    assert result.status is status
    existence = [t for n, t in dns.asked if n == "x.example.com"]
    expected = [RdataType.A, RdataType.AAAA, RdataType.MX] if sub == "fail" else [RdataType.A]
    assert existence == expected
    if sub == "fail":
        assert "dmarc.lookup_failed" in {f.code for f in result.findings}
