"""Synthetic DNSBL zones for the benchmark: seeded listings, zone files, targets and truth.

Everything is derived from one seed, so two runs with the same options query the
same names and expect the same verdicts.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

# RFC 2544 benchmarking range; the benchmark uses its first `range_size` addresses.
BENCH_NETWORK = ipaddress.IPv4Network("198.18.0.0/15")
ZONE_SUFFIX = "bench.test"
# RFC 5782 §5 test points, checked by delivermon's zone self-test before a sweep.
TEST_POINT_LISTED = "127.0.0.2"
TEST_POINT_CLEAN = "127.0.0.1"
DEFAULT_SEED = 20250101
SOA_SERIAL = 1  # every zone is written once; NSD is started when it carries this serial

Codes = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BenchConfig:
    """What to generate; the defaults are the spec's 20 zones x 10,000 targets."""

    seed: int = DEFAULT_SEED
    zones: int = 20
    range_size: int = 100_000
    listed_fraction: float = 0.01
    targets: int = 10_000


@dataclass(frozen=True, slots=True)
class BenchZones:
    """The generated zones (name -> listed address -> codes) and the sampled targets."""

    config: BenchConfig
    listings: Mapping[str, Mapping[str, Codes]]
    targets: tuple[str, ...]

    @property
    def zone_names(self) -> tuple[str, ...]:
        return tuple(self.listings)

    def expected(self, target: str, zone: str) -> Codes | None:
        """Codes `target` is listed with in `zone`, or None when it is not listed."""
        return self.listings[zone].get(target)

    def checks(self) -> Iterator[tuple[str, str]]:
        """Every (target, zone) pair a sweep must return a verdict for."""
        for target in self.targets:
            for zone in self.listings:
                yield target, zone

    def listed_checks(self) -> int:
        return sum(1 for t, z in self.checks() if self.expected(t, z) is not None)


def build_zones(config: BenchConfig) -> BenchZones:
    """Draw each zone's listings and the target sample from `config.seed`."""
    if not 0 < config.range_size <= BENCH_NETWORK.num_addresses:
        raise ValueError(f"range_size must be within {BENCH_NETWORK}")
    if not 0 < config.targets <= config.range_size:
        raise ValueError("targets must be between 1 and range_size")
    rng = random.Random(config.seed)
    base = int(BENCH_NETWORK.network_address)
    per_zone = max(1, round(config.range_size * config.listed_fraction))
    listings: dict[str, dict[str, Codes]] = {}
    for index in range(config.zones):
        zone = f"bl{index:02d}.{ZONE_SUFFIX}"
        offsets = sorted(rng.sample(range(config.range_size), per_zone))
        listings[zone] = {
            str(ipaddress.IPv4Address(base + offset)): _draw_codes(rng) for offset in offsets
        }
    target_rng = random.Random(config.seed + 1)
    targets = tuple(
        str(ipaddress.IPv4Address(base + offset))
        for offset in target_rng.sample(range(config.range_size), config.targets)
    )
    return BenchZones(config=config, listings=listings, targets=targets)


def _draw_codes(rng: random.Random) -> Codes:
    # Mostly the plain 127.0.0.2; a few other codes and a few multi-A answers so
    # that every A record of an answer has to be read.
    roll = rng.random()
    if roll < 0.04:
        return ("127.0.0.3",)
    if roll < 0.08:
        return ("127.0.0.2", "127.0.0.4")
    return ("127.0.0.2",)


def reverse_name(address: str, zone: str) -> str:
    """RFC 5782 §2.1 query name: the IPv4 octets reversed, then the zone."""
    return ".".join(reversed(address.split("."))) + "." + zone


def write_zone_files(zones: BenchZones, directory: Path) -> dict[str, Path]:
    """Write one NSD zone file per zone, with the RFC 5782 test points; return zone -> path."""
    paths: dict[str, Path] = {}
    for zone, listed in zones.listings.items():
        lines = [
            f"$ORIGIN {zone}.",
            "$TTL 300",
            f"@ IN SOA ns.{zone}. hostmaster.{zone}. {SOA_SERIAL} 3600 600 86400 300",
            "@ IN NS ns",
            "ns IN A 127.0.0.1",
            # 127.0.0.2 listed; 127.0.0.1 deliberately has no entry (NXDOMAIN).
            f"2.0.0.127 IN A {TEST_POINT_LISTED}",
            '2.0.0.127 IN TXT "RFC 5782 test point"',
        ]
        for address, codes in listed.items():
            owner = ".".join(reversed(address.split(".")))
            lines.extend(f"{owner} IN A {code}" for code in codes)
            lines.append(f'{owner} IN TXT "Listed in {zone}: see https://bench.test/{address}"')
        path = directory / f"{zone}.zone"
        path.write_text("\n".join(lines) + "\n")
        paths[zone] = path
    return paths


def write_targets_file(zones: BenchZones, path: Path) -> None:
    """One target per line, as `delivermon check --targets-file` reads them."""
    path.write_text("\n".join(zones.targets) + "\n")


def write_dnsperf_queries(zones: BenchZones, path: Path) -> int:
    """dnsperf input: the A query of every (target, zone) pair; returns the line count."""
    count = 0
    with path.open("w") as out:
        for target, zone in zones.checks():
            out.write(f"{reverse_name(target, zone)} A\n")
            count += 1
    return count
