"""Synthetic zones for the authentication benchmark: SPF, DMARC, DKIM, MX and A for seeded domains.

Every domain is `dNNNN.bench-auth.test`. One seed decides each domain's SPF scenario
(includes, nesting, ranges, `a`/`mx`, `all` qualifiers, redirects, deliberate
breakage), its DMARC record, its DKIM key record at `s1._domainkey` and the one
sending IP whose SPF result the tools are compared on. DKIM keys are generated with
openssl in the (temporary) work directory at bench time and never written elsewhere.
"""

from __future__ import annotations

import base64
import ipaddress
import random
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SUFFIX = "bench-auth.test"
TLD = "test"
REPORTS_ZONE = "dmarc-reports.test"  # an external DMARC report destination (another org)
REVERSE_ZONE = "18.198.in-addr.arpa"  # PTRs for the `ptr` scenario's hosts
SELECTOR = "s1"
DEFAULT_SEED = 20260301
SOA_SERIAL = 1  # every zone is written once; NSD is started when it carries this serial
OWN_NETWORK = ipaddress.IPv4Network("198.18.0.0/16")  # a /28 per domain
SECONDS_TTL = 3600

Record = tuple[str, str, str]  # (absolute owner name, type, presentation rdata)

# Weights of the SPF scenarios (sum 100). Labels appear in the results JSON.
SPF_SCENARIOS: tuple[tuple[str, int], ...] = (
    ("ip4_only", 8),
    ("includes", 18),
    ("a_mx", 8),
    ("ip6", 6),
    ("redirect", 5),
    ("private_nested", 7),
    ("exists_macro", 4),
    ("ptr", 3),
    ("dual_cidr", 3),
    ("split_strings", 4),
    ("mixed_case", 2),
    ("plus_all", 2),
    ("neutral_all", 3),
    ("no_all", 2),
    ("none", 4),
    ("multiple_records", 3),
    ("syntax_error", 4),
    ("too_many_lookups", 4),
    ("void_lookups", 3),
    ("include_without_spf", 2),
    ("mx_over_10", 1),
    ("spf10_decoy", 1),
    ("redirect_nxdomain", 1),
    ("include_refused", 1),
    ("include_cname", 1),
)


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """What to generate."""

    seed: int = DEFAULT_SEED
    domains: int = 1_000
    # Share of domains whose sending IP is one the record authorises (the rest get an
    # address it does not list, so that the `all` qualifier decides).
    authorised_fraction: float = 0.55


@dataclass(frozen=True, slots=True)
class Truth:
    """What the records say, decided by the generator from what it wrote (RFC 7208, 7489 and
    6376 applied scenario by scenario), not by any tool under test.

    ``spf_result``: check_host() for the sending IP. Void lookups are counted per DNS
    query that comes back empty, as RFC 7208 section 4.6.4's rationale and the common
    implementations do (so an IPv6 client through ``_spf.p3``, whose three hosts have A
    records only, is a permerror). ``spf_valid``: the published record and everything it
    includes or redirects to parse, exist and stay within the limits (what a static
    checker such as checkdmarc judges; the version tag is case-insensitive like every
    ABNF literal). ``dmarc_policy``: the p= that applies, None when no record does
    (missing, several records), none for an invalid p= beside a valid rua. ``dkim_bits`` and
    ``dkim_state``: the key size, and ``key``, ``testing``, ``revoked`` or ``missing``.
    """

    spf_result: str
    spf_valid: bool
    dmarc_policy: str | None
    dkim_bits: int | None
    dkim_state: str


@dataclass(frozen=True, slots=True)
class AuthDomain:
    """One generated domain: its scenarios, the sending IP the tools evaluate, the truth."""

    name: str
    spf_scenario: str
    dmarc_scenario: str
    dkim_scenario: str
    sending_ip: str
    ip_authorised: bool
    apex_txt: tuple[str, ...]  # every TXT record at the apex, its strings joined
    truth: Truth


@dataclass(frozen=True, slots=True)
class AuthZones:
    """The generated domains and the zone contents (zone name -> records)."""

    config: AuthConfig
    domains: tuple[AuthDomain, ...]
    zones: Mapping[str, tuple[Record, ...]]


@dataclass(slots=True)
class _Spf:
    txts: list[list[str]] = field(default_factory=list)  # one list of strings per TXT RR
    records: list[Record] = field(default_factory=list)
    authorised: list[str] = field(default_factory=list)
    unauthorised: str = ""
    miss: str = "fail"  # the result for an address no term matches
    valid: bool = True  # the record and what it includes parse, exist, stay within limits
    results: dict[str, str] = field(default_factory=dict)  # exceptions: ip -> result

    def result(self, ip: str, authorised: bool) -> str:
        if ip in self.results:
            return self.results[ip]
        return "pass" if authorised else self.miss


def generate_dkim_keys(directory: Path, timeout: float = 120.0) -> dict[int, str]:
    """RSA 1024 and 2048 public keys (base64 DER SubjectPublicKeyInfo) made with openssl."""
    keys = {}
    for bits in (1024, 2048):
        private = directory / f"dkim-{bits}.pem"
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}",
             "-out", str(private)],
            check=True, capture_output=True, timeout=timeout,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "pkey", "-in", str(private), "-pubout", "-outform", "DER"],
            check=True, capture_output=True, timeout=timeout,
        ).stdout  # fmt: skip
        keys[bits] = base64.b64encode(der).decode("ascii")
    return keys


def build_zones(config: AuthConfig, dkim_keys: Mapping[int, str]) -> AuthZones:
    """Generate every domain and the records of the four zones, from `config.seed`."""
    if not 0 < config.domains <= 4096:
        raise ValueError("--domains must be in 1..4096 (a /28 of 198.18.0.0/16 each)")
    rng = random.Random(config.seed)
    main: list[Record] = [*_zone_apex(SUFFIX), *_providers()]
    reports: list[Record] = list(_zone_apex(REPORTS_ZONE))
    reverse: list[Record] = list(_zone_apex(REVERSE_ZONE))
    domains = []
    names, weights = zip(*SPF_SCENARIOS, strict=True)
    for index in range(config.domains):
        name = f"d{index:04d}.{SUFFIX}"
        scenario = rng.choices(names, weights)[0]
        spf = _build_spf(scenario, index, name, rng)
        main += _host_records(index, name)
        main += [(name + ".", "TXT", _txt(strings)) for strings in spf.txts]
        main += [r for r in spf.records if r[1] != "PTR"]
        reverse += [r for r in spf.records if r[1] == "PTR"]
        dmarc_scenario, dmarc_records = _build_dmarc(name, rng)
        main += [r for r in dmarc_records if not r[0].endswith(REPORTS_ZONE + ".")]
        reports += [r for r in dmarc_records if r[0].endswith(REPORTS_ZONE + ".")]
        dkim_scenario, dkim_records = _build_dkim(name, rng, dkim_keys)
        main += dkim_records
        authorised = bool(spf.authorised) and rng.random() < config.authorised_fraction
        ip = rng.choice(spf.authorised) if authorised else spf.unauthorised
        truth = Truth(
            spf_result=spf.result(ip, authorised),
            spf_valid=spf.valid,
            dmarc_policy=_dmarc_truth(dmarc_scenario),
            dkim_bits=_DKIM_TRUTH[dkim_scenario][0],
            dkim_state=_DKIM_TRUTH[dkim_scenario][1],
        )
        domains.append(
            AuthDomain(
                name=name,
                spf_scenario=scenario,
                dmarc_scenario=dmarc_scenario,
                dkim_scenario=dkim_scenario,
                sending_ip=ip,
                ip_authorised=authorised,
                apex_txt=tuple("".join(strings) for strings in spf.txts),
                truth=truth,
            )
        )
    main += [(f"{SELECTOR}.dkim.p2.{SUFFIX}.", "TXT", _txt(_dkim_strings(dkim_keys[2048])))]
    zones = {
        TLD: (*_zone_apex(TLD), ("ns.test.", "A", "127.0.0.1")),
        SUFFIX: tuple(main),
        REPORTS_ZONE: tuple(reports),
        REVERSE_ZONE: tuple(reverse),
    }
    return AuthZones(config=config, domains=tuple(domains), zones=zones)


def write_zone_files(zones: AuthZones, directory: Path) -> dict[str, Path]:
    """One zone file per zone; returns zone name -> path (for serve_zones.serve_zone_files)."""
    paths = {}
    for zone, records in zones.zones.items():
        path = directory / f"{zone}.zone"
        lines = [f"$ORIGIN {zone}.", f"$TTL {SECONDS_TTL}"]
        lines += [f"{owner} IN {rtype} {rdata}" for owner, rtype, rdata in records]
        path.write_text("\n".join(lines) + "\n")
        paths[zone] = path
    return paths


def _zone_apex(zone: str) -> list[Record]:
    apex = zone + "."
    return [
        (apex, "SOA", f"ns.test. hostmaster.test. {SOA_SERIAL} 3600 600 86400 300"),
        (apex, "NS", "ns.test."),
    ]


def _providers() -> list[Record]:
    """Shared include targets, like the SPF records of mail providers (nested up to depth 3)."""
    s = SUFFIX
    spf = {
        f"_spf.p1.{s}": "v=spf1 ip4:198.19.1.0/24 ip6:2001:db8:1::/48 ~all",
        f"_spf.p2.{s}": f"v=spf1 include:_nb1.p2.{s} include:_nb2.p2.{s} -all",
        f"_nb1.p2.{s}": "v=spf1 ip4:198.19.2.0/25 -all",
        f"_nb2.p2.{s}": f"v=spf1 ip4:198.19.2.128/25 include:_nb3.p2.{s} -all",
        f"_nb3.p2.{s}": "v=spf1 ip4:198.19.3.0/24 ?all",
        f"_spf.p3.{s}": f"v=spf1 a:out.p3.{s} mx:p3.{s} -all",
        f"_spf.p4.{s}": f"v=spf1 ip4:198.19.5.0/24 include:_spf.p1.{s} ?all",
        f"_spf.p5.{s}": " ".join(
            ["v=spf1", *(f"include:_s{k}.p5.{s}" for k in range(1, 5)), "~all"]
        ),
        f"_spf.nospf.{s}": "google-site-verification=bench-not-an-spf-record",
        f"_spf.broken.{s}": "v=spf1 ip4:198.19.20.0/24 ipv4:198.19.21.0/24 -all",
    }
    for k in range(1, 5):
        spf[f"_s{k}.p5.{s}"] = f"v=spf1 a:h{k}.p5.{s} ip4:198.19.{10 + k}.0/24 -all"
    records: list[Record] = [(name + ".", "TXT", _txt([text])) for name, text in spf.items()]
    records += [
        (f"out.p3.{s}.", "A", "198.19.4.10"),
        (f"out.p3.{s}.", "A", "198.19.4.11"),
        (f"p3.{s}.", "MX", f"10 mx1.p3.{s}."),
        (f"p3.{s}.", "MX", f"20 mx2.p3.{s}."),
        (f"mx1.p3.{s}.", "A", "198.19.4.20"),
        (f"mx2.p3.{s}.", "A", "198.19.4.21"),
    ]
    records += [(f"h{k}.p5.{s}.", "A", f"198.19.{10 + k}.200") for k in range(1, 5)]
    return records


# Addresses each provider authorises (a sample is enough: any one decides the result).
_PROVIDER_IPS = {
    "p1": ["198.19.1.77", "2001:db8:1::25"],
    "p2": ["198.19.2.10", "198.19.2.200", "198.19.3.33"],
    "p3": ["198.19.4.10", "198.19.4.11", "198.19.4.20", "198.19.4.21"],
    "p4": ["198.19.5.5", "198.19.1.78"],
    "p5": ["198.19.11.9", "198.19.12.9", "198.19.13.9", "198.19.14.9", "198.19.14.200"],
}


def _base(index: int) -> ipaddress.IPv4Address:
    return OWN_NETWORK.network_address + index * 16


def _ip(index: int, offset: int) -> str:
    return str(_base(index) + offset)


def _reverse_name(ip: str) -> str:
    return ipaddress.ip_address(ip).reverse_pointer + "."


def _ip6(index: int, host: int) -> str:
    return f"2001:db8:d:{index:x}::{host:x}"


def _host_records(index: int, name: str) -> list[Record]:
    """Apex A/AAAA, the MX host and a web host: base+1 apex, base+9 mail, base+10 www."""
    apex = name + "."
    return [
        (apex, "A", _ip(index, 1)),
        (apex, "AAAA", _ip6(index, 1)),
        (apex, "MX", f"10 mail.{apex}"),
        (f"mail.{apex}", "A", _ip(index, 9)),
        (f"www.{apex}", "A", _ip(index, 10)),
    ]


def _build_spf(scenario: str, index: int, name: str, rng: random.Random) -> _Spf:
    """The apex SPF TXT record(s), helper records and the IPs that should pass, per scenario."""
    s = SUFFIX
    own = f"ip4:{_base(index)}/29"
    own_ips = [_ip(index, rng.randrange(0, 8))]
    out = _Spf(unauthorised=_ip(index, 14))
    apex = name + "."
    fail = rng.choice(["-all", "~all"])
    out.miss = "fail" if fail == "-all" else "softfail"
    if scenario == "ip4_only":
        variant = rng.randrange(3)
        if variant == 0:  # host bits set below the prefix length are ignored (RFC 7208 §5.6)
            out.txts = [[f"v=spf1 ip4:{_ip(index, 3)}/29 {fail}"]]
        elif variant == 1:  # runs of spaces and a trailing space are allowed (RFC 7208 §12)
            out.txts = [[f"v=spf1  {own}   {fail} "]]
        else:  # an explanation for failures, and a term after `all` that is never reached
            out.txts = [[f"v=spf1 {own} -all exp=explain.{name} ip4:{_ip(index, 14)}"]]
            out.records.append((f"explain.{apex}", "TXT", _txt(["%{i} is not one of %{d}'s"])))
            out.miss = "fail"
        out.authorised = own_ips
    elif scenario == "includes":
        chosen = rng.sample(["p1", "p2", "p3", "p4"], rng.randint(1, 4))
        terms = [f"include:_spf.{p}.{s}" for p in chosen]
        out.txts = [[" ".join(["v=spf1", own, *terms, fail])]]
        out.authorised = own_ips + [ip for p in chosen for ip in _PROVIDER_IPS[p]]
        # An IPv6 client (p1's) reaching p3 first: its a: and mx: hosts have A records only,
        # three empty AAAA lookups, one over the limit of two.
        reached = next(i for i, p in enumerate(chosen) if p in ("p1", "p4") or i == len(chosen) - 1)
        if "p3" in chosen[:reached] or (chosen[reached] == "p3"):
            for ip in out.authorised:
                if ":" in ip:
                    out.results[ip] = "permerror"
    elif scenario == "a_mx":
        variant = rng.randrange(3)
        terms = ["a mx", "a/30 mx", f"a:www.{name} mx/29"][variant]
        out.txts = [[f"v=spf1 {terms} {fail}"]]
        out.authorised = [
            [_ip(index, 1), _ip(index, 9)],
            [_ip(index, 1), _ip(index, 2), _ip(index, 9)],
            [_ip(index, 10), _ip(index, 9), _ip(index, 13)],  # mx/29 covers base+8..15
        ][variant]
        out.unauthorised = _ip(index, 6 if variant == 2 else 14)
    elif scenario == "ip6":
        out.txts = [[f"v=spf1 ip6:2001:db8:d:{index:x}::/64 {own} a {fail}"]]
        out.authorised = [_ip6(index, 0x99), _ip6(index, 1), *own_ips]
        out.unauthorised = rng.choice([f"2001:db8:e:{index:x}::5", _ip(index, 14)])
    elif scenario == "redirect":
        if rng.random() < 0.5:
            provider = rng.choice(["p1", "p2", "p4"])
            out.txts = [[f"v=spf1 redirect=_spf.{provider}.{s}"]]
            out.authorised = list(_PROVIDER_IPS[provider])
            out.miss = {"p1": "softfail", "p2": "fail", "p4": "neutral"}[provider]  # its all
        else:
            out.txts = [[f"v=spf1 {own} redirect=_spf.{name}"]]
            out.records.append(
                (f"_spf.{apex}", "TXT", _txt([f"v=spf1 ip4:{_ip(index, 11)} {fail}"]))
            )
            out.authorised = [*own_ips, _ip(index, 11)]
    elif scenario == "private_nested":
        depth = rng.choice([2, 3])
        out.txts = [[f"v=spf1 include:_spf.{name} {fail}"]]
        for level in range(1, depth + 1):
            inner = f"_spf{'' if level == 1 else level}.{name}"
            nxt = f" include:_spf{level + 1}.{name}" if level < depth else ""
            text = f"v=spf1 ip4:{_ip(index, 8 + level)}{nxt} -all"
            out.records.append((inner + ".", "TXT", _txt([text])))
            out.authorised.append(_ip(index, 8 + level))
    elif scenario == "exists_macro":
        out.txts = [[f"v=spf1 exists:%{{ir}}._ip.%{{d}} {fail}"]]
        allowed = _ip(index, 11)
        reversed_ip = ".".join(reversed(allowed.split(".")))
        out.records.append((f"{reversed_ip}._ip.{apex}", "A", "127.0.0.2"))
        out.authorised = [allowed]
    elif scenario == "ptr":
        host = _ip(index, 12)
        out.txts = [[f"v=spf1 ptr:{name} {fail}"]]
        out.records += [
            (_reverse_name(host), "PTR", f"mx2.{apex}"),
            (f"mx2.{apex}", "A", host),
            # A PTR that does not confirm (its name resolves elsewhere): never a match.
            (_reverse_name(_ip(index, 14)), "PTR", f"bad.{apex}"),
            (f"bad.{apex}", "A", _ip(index, 15)),
        ]
        out.authorised = [host]
    elif scenario == "dual_cidr":
        out.txts = [[f"v=spf1 a/28//64 {fail}"]]
        out.authorised = [_ip(index, 5), _ip6(index, 0xABC)]
        out.unauthorised = rng.choice([_ip(index, 20), f"2001:db8:d:{index + 1:x}::1"])
    elif scenario == "split_strings":
        text = f"v=spf1 {own} include:_spf.p1.{s} ip4:{_ip(index, 11)} {fail}"
        cut = rng.randrange(10, len(text) - 5)
        out.txts = [[text[:cut], text[cut:]]]  # joined without a space (RFC 7208 §3.3)
        out.authorised = [*own_ips, _ip(index, 11), *_PROVIDER_IPS["p1"]]
    elif scenario == "mixed_case":
        version = rng.choice(["v=spf1", "V=SPF1"])
        out.txts = [[f"{version} IP4:{_base(index)}/29 Include:_SPF.P1.{s.upper()} {fail.upper()}"]]
        out.authorised = own_ips + _PROVIDER_IPS["p1"]
    elif scenario == "plus_all":
        out.txts = [[rng.choice(["v=spf1 +all", f"v=spf1 {own} +all", "v=spf1 all"])]]
        out.authorised = own_ips
        out.miss = "pass"
    elif scenario == "neutral_all":
        out.txts = [[f"v=spf1 {own} include:_spf.p{rng.choice('12')}.{s} ?all"]]
        out.authorised = own_ips
        out.miss = "neutral"
    elif scenario == "no_all":
        out.txts = [[f"v=spf1 {own} mx"]]
        out.authorised = [*own_ips, _ip(index, 9)]
        out.miss = "neutral"  # §4.7: no match and no redirect
    elif scenario == "none":
        out.txts = [["google-site-verification=bench"], ["MS=ms12345"]][: rng.randint(0, 2)]
        if rng.random() < 0.25:  # a leading space: not an SPF record at all (RFC 7208 §4.5)
            out.txts.append([f" v=spf1 {own} -all"])
        out.miss, out.valid = "none", False
    elif scenario == "multiple_records":
        out.txts = [[f"v=spf1 {own} -all"], [f"v=spf1 include:_spf.p1.{s} ~all"]]
        out.authorised = own_ips
        out.results = dict.fromkeys(own_ips, "permerror")  # §4.5: two records
        out.miss, out.valid = "permerror", False
    elif scenario == "syntax_error":
        broken = rng.choice(
            [
                f"v=spf1 ip4:{_ip(index, 1)}/33 -all",  # CIDR out of range
                f"v=spf1 ipv4:{_ip(index, 1)} -all",  # unknown mechanism
                f"v=spf1 {own} include -all",  # include without a domain
                f"v=spf1 {own} redirect=_spf.p1.{s} redirect=_spf.p2.{s}",  # redirect twice
                f"v=spf1 {own} a:%{{z}}.{s} -all",  # unknown macro letter
                f"v=spf1 {own} include:_spf.broken.{s} -all",  # error inside an include
            ]
        )
        out.txts = [[broken]]
        out.authorised = own_ips
        out.miss, out.valid = "permerror", False
        if "_spf.broken" not in broken:  # §4.6: an error anywhere in the record itself
            out.results = dict.fromkeys(own_ips, "permerror")
        # else: the own ip4 term matches before the broken include is ever evaluated
    elif scenario == "too_many_lookups":
        # 1 + 9 (p5) + 4 (p2) = 14 DNS-querying terms; an early match still passes.
        terms = f"include:_spf.p5.{s} include:_spf.p2.{s}"
        out.txts = [[f"v=spf1 {own} {terms} {fail}"]]
        out.authorised = own_ips + _PROVIDER_IPS["p5"][:2] + _PROVIDER_IPS["p2"]
        # p5 costs 9 lookups, so p2's addresses are reached only past the 10th: permerror.
        out.results = dict.fromkeys(_PROVIDER_IPS["p2"], "permerror")
        out.miss, out.valid = "permerror", False
    elif scenario == "void_lookups":
        voids = " ".join(f"a:nx{k}.{name}" for k in range(1, 4))
        order = rng.random() < 0.5
        record = f"v=spf1 {own} {voids} {fail}" if order else f"v=spf1 {voids} {own} {fail}"
        out.txts = [[record]]
        out.authorised = own_ips
        out.miss, out.valid = "permerror", False  # the third void lookup
        if not order:  # the voids come before the own range
            out.results = dict.fromkeys(own_ips, "permerror")
    elif scenario == "include_without_spf":
        out.txts = [[f"v=spf1 {own} include:_spf.nospf.{s} {fail}"]]
        out.authorised = own_ips
        out.miss, out.valid = "permerror", False  # §5.2: an include without SPF record
    elif scenario == "mx_over_10":
        out.txts = [[f"v=spf1 mx:many.{name} {own} {fail}"]]
        out.records += [(f"many.{apex}", "MX", f"{k} mx{k}.many.{apex}") for k in range(11)]
        out.records += [(f"mx{k}.many.{apex}", "A", _ip(index, 2)) for k in range(11)]
        out.authorised = own_ips
        out.results = dict.fromkeys(own_ips, "permerror")  # the mx term comes first
        out.miss, out.valid = "permerror", False
    elif scenario == "spf10_decoy":
        out.txts = [["v=spf10 ip4:0.0.0.0/0 +all"], [f"v=spf1 {own} {fail}"]]
        out.authorised = own_ips
    elif scenario == "redirect_nxdomain":
        out.txts = [[f"v=spf1 {own} redirect=_spf.gone.{name}"]]
        out.authorised = own_ips
        out.miss, out.valid = "permerror", False  # §6.1: a redirect to no record
    elif scenario == "include_cname":
        # Providers often publish their SPF record behind a CNAME; TXT lookups follow it.
        provider = rng.choice(["p1", "p2", "p4"])
        out.txts = [[f"v=spf1 include:_spf.{name} {fail}"]]
        out.records.append((f"_spf.{apex}", "CNAME", f"_spf.{provider}.{s}."))
        out.authorised = list(_PROVIDER_IPS[provider])
    elif scenario == "include_refused":
        # NSD is not authoritative for .invalid and answers REFUSED: a DNS error (temperror).
        out.txts = [[f"v=spf1 {own} include:_spf.unserved.invalid {fail}"]]
        out.authorised = own_ips
        out.miss, out.valid = "temperror", False  # §5.2: a DNS error in an include
    else:
        raise ValueError(f"unknown SPF scenario {scenario}")
    return out


def _build_dmarc(name: str, rng: random.Random) -> tuple[str, list[Record]]:
    """`_dmarc.<name>` (or none) and any external report authorisation record."""
    roll = rng.random()
    if roll < 0.15:
        return "missing", []
    owner = f"_dmarc.{name}."
    if roll < 0.18:
        return "invalid_policy", [(owner, "TXT", _txt(["v=DMARC1; p=bogus; rua=mailto:d@" + name]))]
    if roll < 0.20:
        records = [
            (owner, "TXT", _txt(["v=DMARC1; p=none"])),
            (owner, "TXT", _txt(["v=DMARC1; p=reject"])),
        ]
        return "multiple_records", records
    policy = rng.choices(["none", "quarantine", "reject"], [35, 30, 35])[0]
    tags = [f"v=DMARC1; p={policy}"]
    records: list[Record] = []
    rua = rng.choices(
        ["internal", "external_authorised", "external_unauthorised", "none", "three"],
        [45, 25, 10, 15, 5],
    )[0]
    if rua == "internal":
        tags.append(f"rua=mailto:dmarc@{name}")
    elif rua in ("external_authorised", "three"):
        tags.append(
            f"rua=mailto:agg@{REPORTS_ZONE}"
            + (f",mailto:a@{name},mailto:b@{name}" if rua == "three" else "")
        )
        records.append((f"{name}._report._dmarc.{REPORTS_ZONE}.", "TXT", _txt(["v=DMARC1"])))
    elif rua == "external_unauthorised":
        tags.append(f"rua=mailto:agg@{REPORTS_ZONE}")
    if rng.random() < 0.2:
        tags.append(f"ruf=mailto:forensic@{name}; fo=1")
    if rng.random() < 0.15:
        tags.append(f"sp={rng.choice(['none', 'quarantine', 'reject'])}")
    if rng.random() < 0.1:
        tags.append("adkim=s; aspf=s")
    if rng.random() < 0.08:
        tags.append("pct=50")
    records.append((owner, "TXT", _txt(["; ".join(tags)])))
    return f"p={policy},rua={rua}", records


def _dmarc_truth(scenario: str) -> str | None:
    """The p= that applies. None for a missing record and for several records (RFC 7489
    section 6.6.3: as if there were none); the tree walk finds nothing above. An invalid
    p= with a valid rua (the ``invalid_policy`` record has one) is read as p=none (section
    6.6.3, RFC 9989 likewise)."""
    if scenario.startswith("p="):
        return scenario.split(",", 1)[0][2:]
    if scenario == "invalid_policy":
        return "none"
    return None


# DKIM scenario -> (key bits, state). The CNAME leads to p2's 2048-bit key.
_DKIM_TRUTH: dict[str, tuple[int | None, str]] = {
    "rsa2048": (2048, "key"),
    "rsa1024": (1024, "key"),
    "missing": (None, "missing"),
    "revoked": (None, "revoked"),
    "testing": (2048, "testing"),
    "cname": (2048, "key"),
}


def _build_dkim(name: str, rng: random.Random, keys: Mapping[int, str]) -> tuple[str, list[Record]]:
    owner = f"{SELECTOR}._domainkey.{name}."
    kind = rng.choices(
        ["rsa2048", "rsa1024", "missing", "revoked", "testing", "cname"], [55, 20, 10, 5, 5, 5]
    )[0]
    if kind == "missing":
        return kind, []
    if kind == "cname":
        return kind, [(owner, "CNAME", f"{SELECTOR}.dkim.p2.{SUFFIX}.")]
    if kind == "revoked":
        return kind, [(owner, "TXT", _txt(["v=DKIM1; k=rsa; p="]))]
    key = keys[1024 if kind == "rsa1024" else 2048]
    return kind, [(owner, "TXT", _txt(_dkim_strings(key, testing=kind == "testing")))]


def _dkim_strings(key: str, *, testing: bool = False) -> list[str]:
    return [f"v=DKIM1; k=rsa;{' t=y;' if testing else ''} p={key}"]


def _txt(strings: list[str]) -> str:
    """TXT presentation: each string quoted, strings over 255 octets split (RFC 1035 §3.3.14)."""
    chunks = []
    for text in strings:
        for start in range(0, max(len(text), 1), 255):
            chunk = text[start : start + 255].replace("\\", "\\\\").replace('"', '\\"')
            chunks.append(f'"{chunk}"')
    return " ".join(chunks)
