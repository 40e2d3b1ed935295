"""DMARC aggregate reports written for tests and the benchmark: the XML, gzip/zip, the mail.

``Row`` is one ``<record>``; ``aggregate_xml`` writes an RFC 7489 report around rows;
``ingest_context`` is what the store tests ingest them with.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass

from monitor.ingest.kinds import IngestContext
from monitor.model.privacy import Pseudonymizer
from monitor.store.models import Store


def ingest_context(store: Store, now: dt.datetime) -> IngestContext:
    """An ``IngestContext`` over ``store`` as received at ``now`` (no raw bodies kept)."""
    return IngestContext(
        store=store,
        pseudonymizer=Pseudonymizer(b"k" * 32),
        campaign_headers=(),
        store_raw=False,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class Row:
    ip: str
    count: int
    dkim: str = "pass"  # policy_evaluated
    spf: str = "pass"
    disposition: str = "none"
    header_from: str = "example.com"
    dkim_domain: str = "example.com"
    selector: str = "s1"
    dkim_result: str = "pass"
    spf_domain: str = "example.com"
    spf_result: str = "pass"

    def xml(self) -> str:
        return (
            f"<record><row><source_ip>{self.ip}</source_ip><count>{self.count}</count>"
            f"<policy_evaluated><disposition>{self.disposition}</disposition>"
            f"<dkim>{self.dkim}</dkim><spf>{self.spf}</spf></policy_evaluated></row>"
            f"<identifiers><header_from>{self.header_from}</header_from></identifiers>"
            f"<auth_results><dkim><domain>{self.dkim_domain}</domain>"
            f"<selector>{self.selector}</selector><result>{self.dkim_result}</result></dkim>"
            f"<spf><domain>{self.spf_domain}</domain><scope>mfrom</scope>"
            f"<result>{self.spf_result}</result></spf></auth_results></record>\n"
        )


def aggregate_xml(
    rows: Iterable[Row],
    *,
    report_id: str = "r-1",
    org: str = "google.com",
    email: str = "noreply-dmarc-support@google.com",
    domain: str = "example.com",
    begin: int = 1_764_892_800,
    end: int | None = None,
) -> bytes:
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feedback><version>1.0</version>'
        f"<report_metadata><org_name>{org}</org_name><email>{email}</email>"
        f"<report_id>{report_id}</report_id><date_range><begin>{begin}</begin>"
        f"<end>{end if end is not None else begin + 86_399}</end></date_range>"
        f"</report_metadata><policy_published><domain>{domain}</domain><adkim>r</adkim>"
        "<aspf>r</aspf><p>none</p><sp>none</sp><pct>100</pct></policy_published>\n"
    )
    return (head + "".join(row.xml() for row in rows) + "</feedback>\n").encode()


def zipped(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


def report_mail(xml: bytes, *, container: str = "gzip", domain: str = "example.com") -> bytes:
    """The report as a receiver mails it: a multipart message with the archive attached."""
    if container == "gzip":
        data, ctype, name = gzip.compress(xml), "application/gzip", "report.xml.gz"
    else:
        data, ctype, name = zipped("report.xml", xml), "application/zip", "report.zip"
    body = base64.encodebytes(data).decode()
    return (
        "From: noreply-dmarc-support@google.com\r\n"
        "To: dmarc@example.com\r\n"
        f"Subject: Report domain: {domain} Submitter: google.com\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
        "--b1\r\nContent-Type: text/plain\r\n\r\nThis is an aggregate report.\r\n"
        f'--b1\r\nContent-Type: {ctype}; name="{name}"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
        f"{body}\r\n--b1--\r\n"
    ).encode()
