"""Finding codes of the PTR / forward-confirmed reverse DNS and MX (checks/host) checks."""

CODES: dict[str, tuple[str, str]] = {
    "ptr.missing": (
        "The sending IP has no PTR record (NXDOMAIN or no PTR at the reverse name). Gmail "
        "requires a PTR whose name resolves back to the IP; Yahoo wants valid reverse DNS.",
        "Ask whoever controls the IP range (hosting provider, ISP, cloud console) to set a "
        "PTR to a host name of yours, and publish that name's A/AAAA record with the IP.",
    ),
    "ptr.not_forward_confirmed": (
        "No PTR name of the IP resolves back to it (A for IPv4, AAAA for IPv6): no "
        "forward-confirmed reverse DNS (FCrDNS), which Gmail requires of every sending IP.",
        "Publish an A (or AAAA) record for the PTR name pointing at the sending IP, or change "
        "the PTR to a name that already does.",
    ),
    "ptr.multiple_names": (
        "The IP has more than one PTR name. Resolvers return them in rotating order and many "
        "receivers look at one only, so the reverse-DNS (and HELO) match varies from message "
        "to message; a single PTR per sending IP is the accepted practice. A warning.",
        "Keep one PTR record: the name the MTA uses in HELO/EHLO, forward-confirmed.",
    ),
    "ptr.generic_name": (
        "The PTR name looks generic: it embeds the IP's four octets (e.g. "
        "192-0-2-10.pool.example.net) or has a dynamic-pool label (dynamic, dhcp, dialup, ppp, "
        "pool, dsl, adsl, cable, as a label or label prefix). Receivers and lists (e.g. "
        "Spamhaus PBL policies) treat such names as end-user space. Conservative heuristic: "
        "IPv6 names are checked for the pool labels only.",
        "Set a PTR that names the mail server in your own domain (e.g. mta1.example.com).",
    ),
    "ptr.unexpected_domain": (
        "No PTR name of the IP lies under the domains the configuration expects for it: the "
        "IP may have been re-assigned or be shared with another sender.",
        "Check that the IP is still yours; correct the PTR or the expected domains.",
    ),
    "ptr.lookup_failed": (
        "The PTR or a forward lookup could not be done (timeout, SERVFAIL, REFUSED, network "
        "error); forward confirmation is unknown, never reported as missing.",
        "Check the resolver and the reverse zone's (or the PTR name's zone's) name servers.",
    ),
    "ptr.name_not_forward_confirmed": (
        "The IP has several PTR names; at least one resolves back to it, but these do not. "
        "Resolvers rotate the order, so a receiver that checks one of these names sees no "
        "forward-confirmed reverse DNS for some messages.",
        "Keep a single PTR name per sending IP, and make its A/AAAA record point back to the IP.",
    ),
    "mx.missing": (
        "The domain has no MX record. Mail to it falls back to its A/AAAA address (implicit "
        "MX, RFC 5321 §5.1); the detail says whether that exists. Bounces and replies to a "
        "sending domain without MX are unreliable: a warning with implicit MX, an error "
        "when there is no A/AAAA either (no route at all; receivers may reject its mail).",
        "Publish MX records for the mail servers that receive the domain's mail (bounces, "
        "replies, feedback); publish a null MX ('0 .') only if it must receive no mail.",
    ),
    "mx.domain_not_found": (
        "The domain does not exist (NXDOMAIN). Receivers reject mail whose envelope domain "
        "does not resolve (e.g. Postfix reject_unknown_sender_domain).",
        "Register or delegate the domain, or fix the configured domain name.",
    ),
    "mx.null_mx": (
        "The domain publishes a null MX ('0 .', RFC 7505): it accepts no mail, so bounces and "
        "replies to it fail, and RFC 7505 §4.2 lets receivers reject mail whose envelope "
        "sender uses it. Monitored domains send mail, so this is an error.",
        "If the domain is used as envelope sender (Return-Path) or for replies, replace the "
        "null MX with real MX records; otherwise make sure another domain takes the bounces.",
    ),
    "mx.null_mx_mixed": (
        "A null MX ('.') is published together with other MX records, which RFC 7505 §3 "
        "forbids; senders' behaviour is undefined.",
        "Remove either the null MX or the other MX records.",
    ),
    "mx.host_unresolvable": (
        "An MX host name has no A or AAAA record, so mail routed to it cannot be delivered.",
        "Publish the MX host's A/AAAA records or remove the MX record.",
    ),
    "mx.target_is_ip_literal": (
        "An MX record names an IP address instead of a host name. The MX exchange must be a "
        "domain name (RFC 1035 §3.3.9, RFC 5321 §5.1); senders do not resolve it as an address.",
        "Publish an A/AAAA record for a host name and point the MX at that name.",
    ),
    "mx.target_is_cname": (
        "An MX host name is an alias (CNAME). RFC 2181 §10.3 and RFC 5321 §5.1 say an MX must "
        "point at a name with address records directly; some senders refuse aliases.",
        "Point the MX at the canonical host name (the CNAME's final target).",
    ),
    "mx.lookup_failed": (
        "The MX records or an MX host's addresses could not be fetched (timeout, SERVFAIL, "
        "REFUSED, network error). The result is unknown, never 'missing'.",
        "Check the resolver and the domain's (or the MX host zone's) name servers.",
    ),
}
