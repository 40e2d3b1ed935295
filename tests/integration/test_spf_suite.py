"""The OpenSPF RFC 7208 test suite, every test a case, DNS served by a real NSD per scenario.

Zone building from each scenario's ``zonedata`` (the suite's own harness,
pyspf's testspf.py, defines the semantics reproduced here):

* Names are grouped into zones by top-level label (``com``, ``org``, ``arpa``...).
* ``SPF`` entries are served as type 99 records and, where the name has no
  ``TXT`` entry at all, also as TXT (the harness does the same); ``TXT: NONE``
  means "no TXT record". A list value is one record of several
  character-strings; every string is written byte for byte (``\\DDD`` escapes)
  and split into 255-octet character-strings.
* ``TIMEOUT``: the harness makes a query time out unless a record of the asked
  type precedes ``TIMEOUT`` in the entry list. We only ask TXT of such names,
  so a name whose TXT lookup would time out becomes its own zone served from a
  zone file that does not parse, for which NSD answers SERVFAIL: a real DNS
  error for exactly that name. Names with data below it get zones of their own
  (NSD answers from the closest zone it serves). A name whose TXT records come
  before ``TIMEOUT`` is served normally (only its TXT records are ever asked).
* Names under no zone we serve (e.g. a macro-expanded HELO name with no dot)
  get REFUSED from NSD, an authoritative-only server. A recursive resolver
  would answer NXDOMAIN for them, which is what the harness does, so the test
  client maps REFUSED (and only REFUSED) to NXDOMAIN.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from corpus import CORPUS
from dnsserver import NsdServer, StartNsd
from resolvers import stub_resolver

from checks.dns import (
    DnsOutcome,
    NxDomain,
    RdataType,
    StubResolver,
    Unknown,
    UnknownReason,
)
from checks.spf import check_mail_from

SUITE = "spf-suite/openspf/rfc7208-tests.yml"

KNOWN_GAPS: dict[str, str] = {
    "macro-expansion-rules::v-macro-ip6": (
        "The suite expects the IPv6 %{i} nibbles in upper case "
        "('...E.B.A.B.E.F.A.C.ip6.arpa'); RFC 7208 §7.4's own example expands "
        "%{ir} of 2001:db8::cb01 in lower case ('1.0.b.c...'), which we follow. "
        "DNS names are case-insensitive, so only this explanation text differs."
    ),
}


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _load() -> list[dict[str, Any]]:
    path = CORPUS / SUITE
    if not path.is_file():
        return []
    with path.open(encoding="utf-8") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


SCENARIOS = _load()


def _cases() -> list[Any]:
    if not SCENARIOS:
        return [pytest.param(None, None, id="corpus-missing")]
    cases = []
    for index, scenario in enumerate(SCENARIOS):
        for name in scenario["tests"]:
            case_id = f"{_slug(scenario['description'])}::{name}"
            marks = []
            if case_id in KNOWN_GAPS:
                marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_GAPS[case_id]))
            cases.append(pytest.param(index, name, id=case_id, marks=marks))
    return cases


# -- zone files from zonedata -------------------------------------------------


def _wire_bytes(text: str) -> bytes:
    try:
        return text.encode("latin-1")  # the YAML spells raw octets as U+0000-U+00FF
    except UnicodeEncodeError:
        return text.encode("utf-8")


def _quote(chunk: bytes) -> str:
    out = []
    for byte in chunk:
        if 0x20 < byte < 0x7F and byte not in (0x22, 0x5C, 0x3B):
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _txt_rdata(value: str | list[str]) -> str:
    strings = [value] if isinstance(value, str) else list(value)
    chunks: list[str] = []
    for text in strings or [""]:
        raw = _wire_bytes(text)
        parts = [raw[i : i + 255] for i in range(0, len(raw), 255)] or [b""]
        chunks += [_quote(part) for part in parts]
    return " ".join(chunks)


def _owner(name: str) -> str:
    labels = name.rstrip(".").split(".")
    escaped = [
        "".join(
            c if c.isascii() and (c.isalnum() or c in "-_") else f"\\{ord(c):03d}" for c in label
        )
        for label in labels
    ]
    return ".".join(escaped) + "."


def _lines(name: str, entries: list[Any]) -> list[str]:
    owner = _owner(name)
    has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
    lines: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue  # TIMEOUT: handled by the zone plan
        ((rtype, value),) = entry.items()
        if value == "NONE":
            continue
        if rtype in ("TXT", "SPF"):
            lines.append(f"{owner} IN {rtype} {_txt_rdata(value)}")
            if rtype == "SPF" and not has_txt:
                lines.append(f"{owner} IN TXT {_txt_rdata(value)}")
        elif rtype == "MX":
            priority, target = value
            lines.append(f"{owner} IN MX {priority} {_owner(target) if target else '.'}")
        elif rtype in ("PTR", "CNAME"):
            lines.append(f"{owner} IN {rtype} {_owner(value)}")
        else:
            lines.append(f"{owner} IN {rtype} {value}")
    return lines


def _txt_times_out(entries: list[Any]) -> bool:
    """The harness: TIMEOUT before any TXT record (generated TXT come last) times TXT out."""
    for entry in entries:
        if entry == "TIMEOUT":
            return True
        if isinstance(entry, dict) and entry.get("TXT", "NONE") != "NONE":
            return False
    return False


def _zone_plan(zonedata: dict[str, list[Any]]) -> tuple[dict[str, list[str]], list[str]]:
    data = {name.lower().rstrip("."): entries for name, entries in zonedata.items()}
    broken = sorted(n for n, e in data.items() if _txt_times_out(e))
    apexes = {n.rsplit(".", 1)[-1] for n in data} | set(broken)
    apexes |= {n for n in data for b in broken if n.endswith("." + b)}
    zones: dict[str, list[str]] = {a: [] for a in apexes if a not in broken}
    for name, entries in data.items():
        if name in broken:
            continue
        labels = name.split(".")
        apex = next(
            ".".join(labels[i:]) for i in range(len(labels)) if ".".join(labels[i:]) in apexes
        )
        assert apex not in broken, f"{name} would be hidden under a SERVFAIL zone"
        zones[apex] += _lines(name, entries)
    return zones, broken


@pytest.fixture(scope="module")
def suite_servers(nsd_module_factory: StartNsd) -> dict[int, NsdServer]:
    """One NSD per scenario, started on first use and kept for the module."""

    class _Lazy(dict[int, NsdServer]):
        def __missing__(self, index: int) -> NsdServer:
            zones, broken = _zone_plan(SCENARIOS[index]["zonedata"])
            server = self[index] = nsd_module_factory(zones, broken=broken)
            return server

    return _Lazy()


class _AsRecursive:
    """Our DnsClient over NSD, with REFUSED (a name in no zone NSD serves) read as NXDOMAIN."""

    def __init__(self, inner: StubResolver) -> None:
        self._inner = inner

    async def query(
        self, name: str, rdtype: RdataType, *, rate_key: str | None = None
    ) -> DnsOutcome:
        outcome = await self._inner.query(name, rdtype, rate_key=rate_key)
        if isinstance(outcome, Unknown) and outcome.reason is UnknownReason.REFUSED:
            return NxDomain(outcome.name)
        return outcome


@pytest.mark.parametrize(("scenario", "name"), _cases())
async def test_rfc7208_suite(
    corpus_dir: Path, suite_servers: dict[int, NsdServer], scenario: int, name: str
) -> None:
    """Each RFC 7208 suite test gets one of its accepted results (and its explanation)."""
    test = SCENARIOS[scenario]["tests"][name]
    server = suite_servers[scenario]
    async with stub_resolver(server.address, timeout=1.0) as resolver:
        evaluation = await check_mail_from(
            test["host"], test.get("mailfrom") or "", dns=_AsRecursive(resolver), helo=test["helo"]
        )
    expected = test["result"]
    accepted = [expected] if isinstance(expected, str) else list(expected)
    assert evaluation.result.value in accepted, evaluation
    if "explanation" in test:
        assert (evaluation.explanation or "DEFAULT") == test["explanation"]
