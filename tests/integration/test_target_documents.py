"""The API's target document equals ``check --json``'s for the same targets and DNS data, and
both validate against the schemas in docs/schema/ (NSD serves the zones; the daemon runs as
a process, as an operator runs it).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from daemon import DaemonProcess, fast_config, wait_for
from dnsserver import StartNsd
from jsonschema import Draft202012Validator
from receiver import Receiver
from test_cli import run
from unit.test_dkim_keygen import rsa_record
from zonefile import txt

SCHEMAS = Path(__file__).resolve().parents[2] / "docs" / "schema"
ZONES = ["bl.docs.test", "bl2.docs.test"]
IP = "192.0.2.10"
TEST_POINTS = ["2.0.0.127 IN A 127.0.0.2"]


def schema(name: str) -> Draft202012Validator:
    return Draft202012Validator(json.loads((SCHEMAS / name).read_text("utf-8")))


def serve(nsd_factory: StartNsd) -> str:
    server = nsd_factory(
        {
            ZONES[0]: [*TEST_POINTS, "10.2.0.192 IN A 127.0.0.2", '10.2.0.192 IN TXT "seen"'],
            ZONES[1]: TEST_POINTS,
            "example.com": [
                f"@ IN TXT {txt(f'v=spf1 ip4:{IP} -all')}",
                f"bounce IN TXT {txt('v=spf1 ip4:192.0.2.99 -all')}",
                f"_dmarc IN TXT {txt('v=DMARC1; p=quarantine; rua=mailto:d@example.com')}",
                f"s1._domainkey IN TXT {txt(rsa_record(2048))}",
                f"a0._domainkey IN TXT {txt(rsa_record(1024))}",
                "@ IN MX 10 mail.example.com.",
                f"mail IN A {IP}",
            ],
            "com": [],
            "2.0.192.in-addr.arpa": ["10 IN PTR mail.example.com."],
        }
    )
    return server.address


def write_config(path: Path, nameserver: str, receiver: Receiver) -> Path:
    path.write_text(
        fast_config(
            nameserver=nameserver,
            zones=ZONES,
            store_url=f"sqlite:///{path.parent / 'delivermon.db'}",
            notify_url=receiver.url,
            extra=f"""
[[domains]]
name = "example.com"
dkim_selectors = ["s1", "a0"]
sending_ips = ["{IP}"]
envelope_domains = ["bounce.example.com", "example.com"]
""",
        )
    )
    return path


def complete(doc: Any) -> bool:
    if doc.get("kind") == "ip":
        return "ptr" in doc and len(doc["dnsbl"]) == len(ZONES)
    return "compliance" in doc  # the zones are IP lists: a domain has no DNSBL verdicts


def test_the_api_target_equals_the_cli_target_and_both_follow_the_schema(
    nsd_factory: StartNsd, receiver: Receiver, tmp_path: Path
) -> None:
    config = write_config(tmp_path / "delivermon.toml", serve(nsd_factory), receiver)
    proc = run("check", "--config", str(config), "--json")
    assert proc.returncode == 1, proc.stderr  # the IP is listed on the first zone
    cli = json.loads(proc.stdout)
    schema("check-v1.schema.json").validate(cli)
    by_target = {t["target"]: t for t in cli["targets"]}
    assert set(by_target) == {"example.com", IP}
    assert [k["selector"] for k in by_target["example.com"]["dkim"]] == ["s1", "a0"]
    assert [e["domain"] for e in by_target["example.com"]["envelope_spf"]] == [
        "example.com",
        "bounce.example.com",
    ]

    target_schema = schema("target-v1.schema.json")
    with DaemonProcess(config) as daemon:

        def documents() -> dict[str, Any] | None:
            docs = daemon.json("/api/v1/targets")
            assert isinstance(docs, dict)
            found = {d["target"]: d for d in docs["targets"]}
            return found if all(complete(d) for d in found.values()) else None

        api = wait_for(documents, what="every target checked by the daemon")
        single = daemon.json(f"/api/v1/targets/{IP}")
        # A domain is the same target in any case and with its root dot.
        spelled = daemon.json("/api/v1/targets/Example.COM.")
    for name, doc in api.items():
        target_schema.validate(doc)
        assert doc.pop("checked_at")
        doc.pop("risk", None)
        assert doc == by_target[name], name
    assert isinstance(single, dict)
    target_schema.validate(single)
    assert single["dnsbl"][0]["verdict"] == "listed"
    assert isinstance(spelled, dict)
    assert spelled["target"] == "example.com"


def test_a_risk_scored_from_unknown_inputs_says_which_are_unknown(
    closed_udp_port: str, receiver: Receiver, tmp_path: Path
) -> None:
    """No resolver answers: both zones' verdicts are "could not tell". The API's risk must not
    be a bare "ok": it names the unknown factors (the score is a lower bound) and every factor
    with its points, and validates against the schema. The zones are generic (major), so the
    unknown listing factor is listing_major; no critical or early-warning zone is configured,
    so those factors are clear rather than unknown. (Before the first sweep every listing
    factor is unknown; the test waits for a risk scored from the sweep's verdicts, not only
    for the verdicts: the score is refreshed after the sweep's states are stored, so the
    document can hold the verdicts with the risk of before them for a moment.)"""
    config = write_config(tmp_path / "delivermon.toml", closed_udp_port, receiver)
    with DaemonProcess(config) as daemon:

        def scored() -> dict[str, Any] | None:
            doc = daemon.json(f"/api/v1/targets/{IP}")
            assert isinstance(doc, dict)
            swept = len(doc.get("dnsbl", [])) == len(ZONES)
            risk = doc.get("risk")
            # Before the sweep every listing factor is unknown, critical ones included.
            rescored = isinstance(risk, dict) and "listing_critical" not in risk["unknown"]
            return doc if swept and rescored else None

        doc = wait_for(scored, what="the IP swept and its risk scored")
    schema("target-v1.schema.json").validate(doc)
    assert {v["verdict"] for v in doc["dnsbl"]} == {"unknown"}
    risk = doc["risk"]
    assert (risk["score"], risk["level"]) == (0, "ok")
    by_name = {f["name"]: f for f in risk["factors"]}
    assert "listing_major" in risk["unknown"]
    assert by_name["listing_major"] == {
        "name": "listing_major",
        "points": 0,
        "code": "listing_major.unknown",
    }
    assert {"listing_critical", "early_warning"}.isdisjoint(risk["unknown"])
    assert by_name["listing_critical"]["code"] == "listing_critical.clear"
    assert set(risk["unknown"]) <= set(by_name)
