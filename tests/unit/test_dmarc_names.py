"""A DMARC report's record domains are compared as the policy domain is: an IDN as its
A-label, whichever form the receiver wrote (an outside review: ``bücher.example`` against
``xn--bcher-kva.example`` read as two domains, so aligned passes stored as failures,
forwarders as unknown sources, a monitored selector as unmonitored)."""

from __future__ import annotations

from monitor.ingest.dmarc import parse_dmarc
from monitor.ingest.dmarc.service import _row


def report(header_from: str, dkim_domain: str, spf_domain: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <report_metadata><org_name>example.net</org_name><email>dmarc@example.net</email>
    <report_id>idn-1</report_id>
    <date_range><begin>1764892800</begin><end>1764979199</end></date_range>
  </report_metadata>
  <policy_published><domain>xn--bcher-kva.example</domain><p>none</p></policy_published>
  <record>
    <row><source_ip>192.0.2.10</source_ip><count>7</count>
      <policy_evaluated><disposition>none</disposition></policy_evaluated></row>
    <identifiers><header_from>{header_from}</header_from></identifiers>
    <auth_results>
      <dkim><domain>{dkim_domain}</domain><selector>S1</selector><result>pass</result></dkim>
      <spf><domain>{spf_domain}</domain><result>pass</result></spf>
    </auth_results>
  </record>
</feedback>""".encode()


def test_u_labels_and_a_labels_are_one_domain() -> None:
    for header_from, dkim, spf in [
        ("bücher.example", "xn--bcher-kva.example", "BÜCHER.example."),
        ("XN--BCHER-KVA.example", "bücher.example", "bücher.example"),
    ]:
        parsed = parse_dmarc(report(header_from, dkim, spf))
        [row] = parsed.rows
        assert (row.key.header_from, row.key.dkim_domain, row.key.spf_domain) == (
            "xn--bcher-kva.example",
            "xn--bcher-kva.example",
            "xn--bcher-kva.example",
        )
        assert row.key.dkim_selector == "s1"
        stored = _row(parsed.policy, row)
        assert (stored.dmarc, stored.dkim_aligned, stored.spf_aligned) == ("pass", True, True)


def test_a_name_idna_refuses_is_kept_as_written_not_refused() -> None:
    parsed = parse_dmarc(report("bad_name.example", "xn--bcher-kva.example", "☃☃.-x-"))
    [row] = parsed.rows
    assert (row.key.header_from, row.key.spf_domain) == ("bad_name.example", "☃☃.-x-")
