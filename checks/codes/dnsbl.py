"""Finding codes of the DNSBL checks (checks/dnsbl)."""

_RESOLVER_FIX = (
    "Query the lists through a local, non-forwarding recursive resolver (e.g. unbound) "
    "whose address the list operator accepts, or use the operator's keyed service "
    "(Spamhaus DQS). Never through 1.1.1.1, 8.8.8.8 or an ISP's shared cache."
)

CODES: dict[str, tuple[str, str]] = {
    "dnsbl.listed": (
        "The target is listed on a DNS blacklist. Severity follows the list's weight and "
        "the return code (e.g. a Spamhaus SBL listing is critical, PBL major).",
        "Find and stop the cause (compromised host, bad list source, missing "
        "authentication), then request removal at the list's delisting URL.",
    ),
    "dnsbl.lookup_failed": (
        "The list could not be asked: timeout, SERVFAIL, REFUSED or a network error. "
        "The verdict is unknown, never clean.",
        "Check that the configured resolver is reachable and can resolve the list's zone; "
        "a keyed zone answering SERVFAIL often means the key was switched off.",
    ),
    "dnsbl.zone_unhealthy": (
        "The zone failed its RFC 5782 self-test (its test point is not listed, or it "
        "lists the must-not-list point and so 'lists the world'). Its results are unknown.",
        "Check the resolver and the zone name; a list that lists everything is dead and "
        "should be removed from the configuration.",
    ),
    "dnsbl.error_code.public_resolver": (
        "The list answered with its 'query via public/open resolver' code "
        "(Spamhaus 127.255.255.254). This is not a listing.",
        _RESOLVER_FIX,
    ),
    "dnsbl.error_code.excessive_queries": (
        "The list answered with its 'excessive number of queries' code "
        "(Spamhaus 127.255.255.255). This is not a listing.",
        "Reduce the query rate (per-zone rate limits, a longer sweep interval) or move to "
        "the operator's paid or keyed service.",
    ),
    "dnsbl.error_code.typo_zone_name": (
        "The list answered with its 'typo in the DNSBL name' code (Spamhaus 127.255.255.252).",
        "Correct the zone name in the configuration.",
    ),
    "dnsbl.error_code.ip_sent_to_domain_list": (
        "A domain list answered that it was sent an IP address (Spamhaus DBL 127.0.1.255).",
        "Only query domain lists with domain names; check custom zone kinds.",
    ),
    "dnsbl.error_code.query_refused": (
        "The list refused the query (URIBL/SURBL 127.0.0.1), usually because the resolver is "
        "a public or large shared one. This is not a listing.",
        _RESOLVER_FIX,
    ),
    "dnsbl.error_code.invalid_key": (
        "The keyed service answered that the access key is invalid or expired.",
        "Check the key in the configuration ([dnsbl.keys]) and the account's status.",
    ),
    "dnsbl.error_code.answer_outside_127": (
        "The list answered with an address outside 127.0.0.0/8: an expired or hijacked "
        "list domain with a wildcard, or a resolver that rewrites NXDOMAIN. Not a listing.",
        "Remove the list if it is dead; use a resolver that does not rewrite NXDOMAIN.",
    ),
    "dnsbl.error_code.unexpected_code": (
        "The list answered with a return code its documentation does not define.",
        "Check the list's documentation; update the zone catalogue or custom zone codes.",
    ),
}
