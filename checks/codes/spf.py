"""Finding codes of the SPF (checks/spf) checks."""

_LOOKUP_FIX = (
    "Cut DNS-querying terms: replace a, mx and ptr with ip4/ip6 ranges, drop includes of "
    "services you no longer use, or move some senders to a subdomain with its own SPF "
    "record. The include tree in the result shows which include costs the most."
)

CODES: dict[str, tuple[str, str]] = {
    "spf.missing": (
        "The domain publishes no SPF record (no TXT record starting with 'v=spf1'; the name "
        "does not exist or has no TXT records). Receivers get SPF 'none', and Gmail, Yahoo "
        "and Microsoft junk or reject bulk mail without SPF or DKIM authentication.",
        "Publish one TXT record such as 'v=spf1 ip4:192.0.2.10 include:_spf.example.net -all' "
        "listing every host and service that sends mail as this domain. A domain that sends "
        "no mail should publish 'v=spf1 -all'.",
    ),
    "spf.multiple_records": (
        "The domain publishes more than one 'v=spf1' TXT record. RFC 7208 §4.5 makes this a "
        "permerror: receivers treat the domain as having a broken SPF policy.",
        "Merge the records into a single 'v=spf1' record and delete the others.",
    ),
    "spf.syntax_error": (
        "The SPF record breaks the RFC 7208 grammar (the detail names the offending term). "
        "Any syntax error anywhere makes the whole record a permerror (§4.6).",
        "Correct or remove the term named in the detail; check spacing (terms are separated "
        "by single spaces), mechanism names, CIDR lengths and macros.",
    ),
    "spf.too_many_lookups": (
        "Evaluating the record can take more than 10 DNS-querying terms (include, a, mx, ptr, "
        "exists, redirect, counted over the whole include tree). RFC 7208 §4.6.4 makes this a "
        "permerror, so SPF fails for every message that reaches the limit.",
        _LOOKUP_FIX,
    ),
    "spf.lookups_near_limit": (
        "The record needs 9 or 10 of the 10 DNS-querying terms RFC 7208 allows: one more "
        "include (or a provider adding an include to theirs) breaks SPF.",
        _LOOKUP_FIX,
    ),
    "spf.too_many_void_lookups": (
        "More than 2 of the record's lookups return no data (NXDOMAIN or an empty answer). "
        "RFC 7208 §4.6.4 lets receivers return permerror after 2 such 'void lookups'. Counted "
        "per address family, since a receiver asks A for an IPv4 client and AAAA for an IPv6 "
        "one: an error when a family your sending IPs use is over the limit (IPv4 when none "
        "are configured), a warning when only the other family is.",
        "Remove a, mx, exists and include terms that point at names that no longer exist or "
        "have no addresses for the family you send from (e.g. hosts without AAAA records "
        "before sending over IPv6).",
    ),
    "spf.plus_all": (
        "The record ends in '+all' (or a bare 'all'): every host on the Internet passes SPF "
        "as this domain. This is critical, not a style issue: it authorises anyone to send "
        "as you and makes SPF alignment worthless for DMARC.",
        "Replace '+all' with '-all' (or '~all' while you are still finding your senders).",
    ),
    "spf.neutral_all": (
        "The record ends in '?all': mail from hosts not listed gets 'neutral', which "
        "receivers treat like no SPF at all.",
        "Once every sender is listed, end the record with '-all' (or '~all').",
    ),
    "spf.no_all": (
        "The record has neither an 'all' mechanism nor a 'redirect': unlisted hosts get the "
        "default result 'neutral' (RFC 7208 §4.7), which protects nothing.",
        "End the record with '-all' (or '~all').",
    ),
    "spf.redirect_ignored": (
        "The record has both 'all' and 'redirect='. Evaluation always stops at 'all', so the "
        "redirect is never used (RFC 7208 §6.1).",
        "Remove the redirect, or remove 'all' if the redirect target should decide.",
    ),
    "spf.terms_after_all": (
        "The record has mechanisms after 'all'. Evaluation stops at 'all', so they are never "
        "tested (RFC 7208 §5.1): the hosts they name do not pass SPF, and they are not counted "
        "in the DNS lookup figures. Usually a term was appended to the end of the record.",
        "Move the terms before 'all' if those hosts send mail as this domain, otherwise "
        "delete them; 'all' should be the last mechanism.",
    ),
    "spf.ptr_mechanism": (
        "The record uses the 'ptr' mechanism, which RFC 7208 §5.5 says SHOULD NOT be used: it "
        "is slow, unreliable and costs the receiver many DNS lookups; some receivers ignore it.",
        "Replace 'ptr' with ip4/ip6 ranges or 'a' terms for the sending hosts.",
    ),
    "spf.record_too_long": (
        "The SPF record is over 450 octets. RFC 7208 §3.4 recommends keeping answers within "
        "512 octets of UDP; longer answers need TCP or EDNS and are lost by some resolvers.",
        "Shorten the record: use CIDR ranges instead of single addresses, or move part of it "
        "into an included record on a subdomain.",
    ),
    "spf.include_failed": (
        "An include or redirect target has no SPF record, several, a syntax error, or is part "
        "of a loop (the detail says which target and why). Evaluation ends in permerror "
        "whenever it reaches that term (RFC 7208 §5.2, §6.1).",
        "Fix or remove the include/redirect; for a third-party service, check the include "
        "host its documentation gives today.",
    ),
    "spf.mx_too_many_hosts": (
        "An 'mx' term points at more than 10 MX hosts; RFC 7208 §4.6.4 makes evaluating it a "
        "permerror.",
        "Replace the 'mx' term with ip4/ip6 ranges of the hosts that actually send.",
    ),
    "spf.macro_unresolved": (
        "A term's target uses macros (e.g. %{i} or %{l}), so it depends on the sender and IP "
        "and cannot be followed statically. The term itself is counted; what it may include "
        "is not, so the lookup figures are a lower bound.",
        "Nothing to do if the macro is intended; evaluate your sending IPs (sending_ips) to "
        "see the real results.",
    ),
    "spf.sending_ip_not_permitted": (
        "A configured sending IP does not get 'pass' for this domain's SPF policy (the detail "
        "has the IP and the RFC 7208 result). Mail from it fails SPF, and with it DMARC "
        "unless DKIM aligns.",
        "Add the IP (ip4:/ip6:) or the include of the service that uses it to the record, or "
        "correct the sending_ips configuration.",
    ),
    "spf.lookup_failed": (
        "A DNS lookup the SPF verdict depends on failed (timeout, SERVFAIL, REFUSED). The "
        "status is unknown; this is not 'no SPF record'.",
        "Check the resolver and the domain's name servers (and those of included domains); "
        "the result will be re-checked.",
    ),
}
