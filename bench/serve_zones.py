"""NSD for the benchmarks: the tests' harness, loaded for a benchmark, serving its zone files.

The server code itself is ``tests/dnsserver.py`` (`NsdServer`). Here it gets the
settings for a loopback load test (`LOAD_OPTIONS`: large socket buffers; the harness
already runs one server process with response-rate limiting off, no chroot, no
privilege drop, no database file) and serves the complete zone files a benchmark
generated, on a free port on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from dnsserver import LOAD_OPTIONS, NsdError, NsdServer, nsd_version

__all__ = ["NsdError", "NsdServer", "nsd_version", "serve_zone_files"]

# Loading tens of thousands of records into many zones takes longer than a test's zones.
READY_TIMEOUT = 60.0


@contextlib.contextmanager
def serve_zone_files(
    directory: Path, zone_files: Mapping[str, Path], *, serial: int
) -> Iterator[NsdServer]:
    """Start NSD on `zone_files` (zone -> complete zone file whose SOA carries `serial`).

    Returns once every zone answers with that serial; stops NSD on leaving.
    NSD's config, log and control socket live in ``directory/nsd``.

    Raises:
        NsdError: NSD did not start, or a zone did not load in time (with NSD's log).
    """
    server = NsdServer(directory / "nsd", options=LOAD_OPTIONS, ready_timeout=READY_TIMEOUT)
    for zone, path in zone_files.items():
        server.add_zone_file(zone, path, serial=serial)
    with server:
        yield server
