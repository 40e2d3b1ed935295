"""The tools of the authentication benchmark, each run as its own process by auth_checks.py.

`python bench/auth_drivers.py TOOL --domains-file F --nameserver 127.0.0.1:PORT --out OUT`
checks every (domain, sending IP) pair in F and writes
`{"seconds": in-loop time, "results": {domain: {...}}}` to OUT. Each tool imports
only its own libraries, so that peak RSS is the tool's own.

- `delivermon`: the library API (check_spf, check_dmarc, check_dkim) on one
  StubResolver, `--concurrency` domains at a time under an asyncio.Semaphore (1: one
  domain after another, as the peers run), on `--loop` asyncio or uvloop.
- `checkdmarc`: checkdmarc.spf.check_spf and checkdmarc.dmarc.check_dmarc per domain,
  one after the other, as checkdmarc's own check_domains() does (it has no DKIM check).
- `pyspf`: spf.check2(i=ip, s="postmaster@<domain>", h=<domain>) per domain.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

Pairs = list[tuple[str, str]]
Results = dict[str, dict[str, Any]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tool", choices=["delivermon", "checkdmarc", "pyspf"])
    parser.add_argument("--domains-file", type=Path, required=True, help="JSON [[domain, ip]]")
    parser.add_argument("--nameserver", required=True, help="host:port")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--loop", choices=["asyncio", "uvloop"], default="asyncio")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--checks", default="spf,dmarc,dkim", help="delivermon: which checks")
    args = parser.parse_args(argv)
    pairs: Pairs = [(d, ip) for d, ip in json.loads(args.domains_file.read_text())]
    host, _, port = args.nameserver.rpartition(":")
    # Each tool's imports and set-up happen here, outside the timed loop.
    run: Callable[[], Results]
    if args.tool == "delivermon":
        checks = frozenset(args.checks.split(","))
        run = prepare_delivermon(pairs, args.nameserver, args.concurrency, args.loop, checks)
    elif args.tool == "checkdmarc":
        run = prepare_checkdmarc(pairs, host, int(port))
    else:
        run = prepare_pyspf(pairs, host, int(port))
    started = time.perf_counter()
    results = run()
    seconds = time.perf_counter() - started
    args.out.write_text(json.dumps({"seconds": seconds, "results": results}))
    return 0


def prepare_delivermon(
    pairs: Pairs, nameserver: str, concurrency: int, loop: str, checks: frozenset[str]
) -> Callable[[], Results]:
    import asyncio

    from checks.dkim import DkimPolicy, check_dkim
    from checks.dmarc import DmarcPolicy, check_dmarc
    from checks.dns import Nameserver, ResolverConfig, StubResolver
    from checks.spf import SpfPolicy, check_spf

    async def sweep() -> Results:
        config = ResolverConfig(nameservers=(Nameserver.parse(nameserver),))
        gate = asyncio.Semaphore(concurrency)
        async with StubResolver(config) as dns:

            async def one(domain: str, ip: str) -> tuple[str, dict[str, Any]]:
                row: dict[str, Any] = {}
                async with gate:
                    jobs = []
                    if "spf" in checks:
                        jobs.append(check_spf(domain, dns=dns, policy=SpfPolicy(sending_ips=(ip,))))
                    if "dmarc" in checks:
                        identities = DmarcPolicy(envelope_domains=(domain,), dkim_domains=(domain,))
                        jobs.append(check_dmarc(domain, dns=dns, policy=identities))
                    if "dkim" in checks:
                        jobs.append(
                            check_dkim(domain, dns=dns, policy=DkimPolicy(selectors=("s1",)))
                        )
                    done = list(await asyncio.gather(*jobs))
                if "spf" in checks:
                    spf = done.pop(0)
                    row["spf_result"] = spf.ip_results.get(ip)
                    row["spf_status"] = str(spf.status)
                    row["spf_record"] = spf.record
                    row["spf_lookups"] = spf.dns_lookups
                    row["spf_void_lookups"] = spf.void_lookups
                    row["spf_findings"] = [f.code for f in spf.findings]
                if "dmarc" in checks:
                    dmarc = done.pop(0)
                    row["dmarc_status"] = str(dmarc.status)
                    row["dmarc_policy"] = dmarc.policy
                    row["dmarc_findings"] = [f.code for f in dmarc.findings]
                if "dkim" in checks:
                    (dkim,) = done.pop(0)
                    row["dkim_status"] = str(dkim.status)
                    row["dkim_bits"] = dkim.key_bits
                    row["dkim_findings"] = [f.code for f in dkim.findings]
                    row["dkim_state"] = _dkim_state(row["dkim_findings"])
                return domain, row

            pairs_done = await asyncio.gather(*(one(d, ip) for d, ip in pairs))
        return dict(pairs_done)

    if loop == "uvloop":
        import uvloop

        def run() -> Results:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                return runner.run(sweep())

        return run
    return lambda: asyncio.run(sweep())


def _dkim_state(codes: list[str]) -> str:
    """The key's state as the benchmark's truth names it, from delivermon's finding codes."""
    for code, state in (
        ("dkim.missing", "missing"),
        ("dkim.revoked", "revoked"),
        ("dkim.testing", "testing"),
    ):
        if code in codes:
            return state
    return "key"


def prepare_checkdmarc(pairs: Pairs, host: str, port: int) -> Callable[[], Results]:
    import dns.nameserver
    from checkdmarc.dmarc import check_dmarc
    from checkdmarc.spf import check_spf

    # checkdmarc accepts dnspython Nameserver objects in `nameservers` and passes them
    # to its resolver untouched; a plain "127.0.0.1" would mean port 53.
    nameservers = [dns.nameserver.Do53Nameserver(host, port)]

    def run() -> Results:
        results: Results = {}
        for domain, _ip in pairs:
            spf = check_spf(domain, nameservers=nameservers)
            dmarc = check_dmarc(domain, nameservers=nameservers)
            results[domain] = {
                "spf_valid": spf.get("valid"),
                "spf_error": spf.get("error"),
                "spf_lookups": spf.get("dns_lookups"),
                "spf_void_lookups": spf.get("void_dns_lookups"),
                "dmarc_valid": dmarc.get("valid"),
                "dmarc_policy": (
                    dmarc["tags"]["p"]["value"]
                    if dmarc.get("valid") and "p" in dmarc.get("tags", {})
                    else None
                ),
                "dmarc_error": dmarc.get("error"),
                "dmarc_location": dmarc.get("location"),
            }
        return results

    return run


def prepare_pyspf(pairs: Pairs, host: str, port: int) -> Callable[[], Results]:
    import dns.nameserver
    import dns.resolver
    import spf

    # pyspf calls the module-level dns.resolver.query(), i.e. dnspython's default
    # resolver; it has no nameserver option, so the default resolver is replaced.
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)]
    dns.resolver.default_resolver = resolver
    warnings.simplefilter("ignore", DeprecationWarning)  # dns.resolver.query()

    def run() -> Results:
        results: Results = {}
        for domain, ip in pairs:
            result, explanation = spf.check2(i=ip, s=f"postmaster@{domain}", h=domain)
            results[domain] = {"spf_result": result, "explanation": explanation}
        return results

    return run


if __name__ == "__main__":
    sys.exit(main())
