"""Finding codes of the resolver check (checks/resolver.py, ``delivermon doctor``)."""

_OWN_RESOLVER = (
    "Run a local, non-forwarding recursive resolver (e.g. `apt-get install unbound`; the "
    "docker compose stack ships one as the `resolver` service, configured by "
    "deploy/unbound.conf) and point [dns] nameservers at it."
)

CODES: dict[str, tuple[str, str]] = {
    "resolver.no_answer": (
        "Nothing answered at the configured address: the query timed out or the network "
        "refused it. Every DNSBL verdict would be unknown.",
        _OWN_RESOLVER + " If one runs, check its address, port and access control.",
    ),
    "resolver.no_recursion": (
        "The server answered but does not recurse for us: it refused the question or left "
        "the RA (recursion available) flag off, as an authoritative-only server or a "
        "resolver whose access control leaves us out does.",
        "Point [dns] nameservers at a recursive resolver, or allow this host in its access "
        "control (Unbound: access-control).",
    ),
    "resolver.refused_by_list": (
        "A list answered its own test point with its documented code for refused resolvers "
        "(public or open resolver, too many queries, query refused): it will not answer "
        "this resolver, and its verdicts would be unknown.",
        "Do not use a public or shared resolver (8.8.8.8, 1.1.1.1, an ISP's, one that "
        "forwards to them): " + _OWN_RESOLVER + " Keyed services (Spamhaus DQS) are the "
        "other way out.",
    ),
    "resolver.list_unreachable": (
        "A list's test point could not be asked through the resolver (timeout, SERVFAIL, "
        "an unexpected answer), so whether the list accepts this resolver could not be told.",
        "Run `delivermon zones` to see the self-test of each list; check that the resolver "
        "reaches the internet without a forwarder.",
    ),
    "resolver.not_validating": (
        "A signed name came back without the AD (authenticated data) flag: the resolver "
        "does not validate DNSSEC, so a forged answer would be taken as true.",
        "Turn validation on (Unbound: auto-trust-anchor-file with the root trust anchor, as "
        "deploy/unbound.conf does); delivermon does not validate by itself.",
    ),
    "resolver.dnssec_unknown": (
        "The signed name could not be asked (timeout, SERVFAIL, no such name), so whether "
        "the resolver validates DNSSEC could not be told.",
        "Check that the resolver reaches the root servers, or give `--dnssec-name` a "
        "signed name it can resolve.",
    ),
    "resolver.slow": (
        "The resolver takes long to answer even from its cache: every DNSBL query pays it.",
        "Run the resolver on this host or next to it; a sweep's speed is bounded by this "
        "round trip.",
    ),
}
