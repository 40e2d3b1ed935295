"""Finding codes of the DMARC (checks/dmarc) checks."""

_PUBLISH_ONE = (
    "Publish exactly one TXT record starting with v=DMARC1 at _dmarc.<your domain>, for "
    "example 'v=DMARC1; p=none; rua=mailto:dmarc-reports@<your domain>', then move to "
    "p=quarantine and p=reject once the aggregate reports show all your mail aligned."
)

CODES: dict[str, tuple[str, str]] = {
    "dmarc.missing": (
        "No DMARC policy record applies to the domain: the RFC 9989 tree walk found no "
        "record at the domain, its organisational domain or its public suffix domain. "
        "Receivers apply no DMARC to its mail; Gmail, Yahoo and Microsoft require at least "
        "p=none from bulk senders.",
        _PUBLISH_ONE,
    ),
    "dmarc.multiple_records": (
        "More than one TXT record starting with v=DMARC1 at one _dmarc name. RFC 9989 "
        "§4.10: receivers discard all of them, as if none were published there.",
        "Delete all but one; merge what you need (e.g. several rua addresses) into one record.",
    ),
    "dmarc.not_a_record": (
        "A TXT record at a _dmarc name looks meant as DMARC but is not one: it does not "
        "start with 'v=DMARC1' followed by ';' (or the end), e.g. 'p=reject; v=DMARC1', "
        "'v=DMARC1 p=reject' or 'v=dmarc1; p=reject' (DMARC1 is case-sensitive). RFC 9989 "
        "§4.10: receivers take only records that start so, and ignore this one.",
        "Rewrite it as 'v=DMARC1; p=...; ...': v=DMARC1 first, then a semicolon.",
    ),
    "dmarc.syntax_error": (
        "Part of the record is not tag=value syntax (RFC 9989 formal definition); receivers "
        "ignore that part, so whatever it meant to say is lost. The detail names the term.",
        "Rewrite the record as 'v=DMARC1; tag=value; tag=value' with semicolons between tags.",
    ),
    "dmarc.invalid_tag_value": (
        "A known tag has a value its grammar does not allow (e.g. p=foo, adkim=x, fo=2). "
        "An invalid p, sp or np makes receivers treat the record as p=none when rua has a "
        "valid URI, and ignore the record entirely otherwise (RFC 9989 §4.10.1).",
        "Use one of the values RFC 9989 §4.7 lists for the tag named in the detail.",
    ),
    "dmarc.duplicate_tag": (
        "A tag appears more than once in the record; receivers disagree on which one wins.",
        "Keep one occurrence of the tag.",
    ),
    "dmarc.unknown_tag": (
        "A tag that is not in the DMARC tag registry; RFC 9989 §4.7 says receivers ignore it.",
        "Check it for a typo (e.g. 'rue' for 'rua'); otherwise remove it.",
    ),
    "dmarc.p_missing": (
        "The record has no p tag. RFC 9989 treats that as p=none, but RFC 7489 receivers "
        "(still the majority) ignore such a record unless rua holds a valid URI.",
        "Add p= explicitly, right after v=DMARC1.",
    ),
    "dmarc.p_not_first": (
        "The p tag does not immediately follow v=DMARC1. RFC 9989 allows any order; the "
        "RFC 7489 grammar did not, and strict old parsers may reject the record.",
        "Put p= right after v=DMARC1 for the widest compatibility.",
    ),
    "dmarc.policy_none": (
        "The policy that applies to the domain is none: monitoring only. Mail that fails "
        "DMARC is delivered as if there were no policy, so spoofing is not stopped.",
        "Read the aggregate reports, fix every legitimate source that fails alignment, then "
        "move to p=quarantine and later p=reject.",
    ),
    "dmarc.pct_below_100": (
        "pct is below 100. RFC 9989 removed pct, but RFC 7489 receivers still honour it and "
        "apply the policy to only that share of failing mail.",
        "Remove pct (or set it to 100) once you are ready to enforce; use t=y for testing.",
    ),
    "dmarc.obsolete_tag": (
        "The record uses pct, rf or ri, which RFC 9989 removed. New receivers ignore them; "
        "old ones may still act on them.",
        "Remove the tag; pct's testing role is taken by t=y, rf and ri have no replacement.",
    ),
    "dmarc.testing": (
        "t=y: the domain owner asks receivers not to apply the policy (RFC 9989 test mode); "
        "mail failing DMARC is not quarantined or rejected.",
        "Remove t=y (or set t=n) when the reports show your mail passes.",
    ),
    "dmarc.subdomain_policy_weaker": (
        "sp (existing subdomains) or np (non-existent subdomains) is weaker than p, so "
        "spoofed mail from made-up subdomains gets a weaker policy than the domain itself.",
        "Set sp and np at least as strong as p, or drop them so they inherit p; np=reject "
        "is safe for names that do not exist.",
    ),
    "dmarc.subdomain_policy_ignored": (
        "The domain's own record sets sp or np, but the domain is not an organisational "
        "domain: subdomains take their policy from the organisational domain's record, so "
        "these tags have no effect (RFC 9989 §4.7).",
        "Set sp/np in the organisational domain's record, or declare this domain its own "
        "organisational domain with psd=n.",
    ),
    "dmarc.no_rua": (
        "No valid rua URI, so no receiver sends aggregate reports (RFC 9989 §4.7). Yahoo "
        "strongly recommends rua; without reports you cannot see who sends as your domain "
        "or safely move to enforcement.",
        "Add rua=mailto:<a mailbox or report service you read>.",
    ),
    "dmarc.rua_unauthorized": (
        "An rua address is in another organisational domain and that domain does not "
        "publish the authorisation record <policy domain>._report._dmarc.<destination> "
        "(TXT starting v=DMARC1), so receivers will not send it reports "
        "(RFC 9990, external report destinations).",
        "Ask the report receiver (or your DMARC service) to publish the authorisation record, "
        "or use an address in your own domain.",
    ),
    "dmarc.ruf_unauthorized": (
        "A ruf address is in another organisational domain without the authorisation record "
        "<policy domain>._report._dmarc.<destination>, so no failure reports reach it.",
        "Have the destination publish the authorisation record, or use your own domain.",
    ),
    "dmarc.report_auth_unknown": (
        "The external-destination authorisation record for an rua/ruf address could not be "
        "looked up (timeout, SERVFAIL, REFUSED); whether receivers will send reports there "
        "is unknown.",
        "Check that the destination domain's DNS answers; the check is retried next run.",
    ),
    "dmarc.too_many_uris": (
        "More than two URIs in rua or ruf; receivers may send to only the first two.",
        "Keep at most two destinations per tag.",
    ),
    "dmarc.invalid_uri": (
        "An rua/ruf entry is not a valid URI (e.g. a bare address without 'mailto:'); "
        "receivers skip it.",
        "Write each destination as mailto:user@domain, separated by commas.",
    ),
    "dmarc.uri_not_mailto": (
        "An rua/ruf URI uses a scheme other than mailto; receivers only have to support "
        "mailto and ignore others.",
        "Use a mailto: URI.",
    ),
    "dmarc.uri_size_suffix": (
        "An rua/ruf URI carries the RFC 7489 '!size' suffix, which RFC 9989 removed; new "
        "receivers may read it as part of the address and fail to deliver reports.",
        "Drop the '!size' suffix.",
    ),
    "dmarc.identity_not_aligned": (
        "A configured sending identity (envelope MAIL FROM domain for SPF, or DKIM d= "
        "domain) does not align with the From domain under the record's aspf/adkim mode, "
        "so it cannot make mail pass DMARC. An error when no configured identity aligns "
        "(mail cannot pass DMARC); a warning when another identity does (RFC 9989: SPF or "
        "DKIM aligned is enough).",
        "Use an envelope/DKIM domain in the From domain's organisational domain (or the "
        "exact From domain under strict mode), or relax aspf/adkim to r.",
    ),
    "dmarc.psl_alignment_differs": (
        "An identity's alignment differs between the RFC 9989 tree walk and the RFC 7489 "
        "Public Suffix List: receivers on the old and new standards will disagree.",
        "Publish records (or psd=n) so that both methods find the same organisational domain.",
    ),
    "dmarc.org_domain_differs": (
        "The organisational domain found by the RFC 9989 tree walk differs from the RFC 7489 "
        "one (Public Suffix List); RFC 7489 receivers may apply another policy or alignment.",
        "Usually intended (psd=n delegation); otherwise publish the record at the registered "
        "domain so both standards agree.",
    ),
    "dmarc.lookup_failed": (
        "A DNS lookup the result depends on failed (timeout, SERVFAIL, REFUSED): the DMARC "
        "status is unknown, not missing.",
        "Check that the domain's nameservers answer for _dmarc names; the check is retried "
        "next run.",
    ),
    "dmarc.alignment_unknown": (
        "The tree walk of a configured envelope or DKIM domain failed (a DNS timeout, "
        "SERVFAIL), so whether it aligns with the From domain under relaxed alignment could "
        "not be told: its alignment entry is unknown (and so is the scorecard's alignment "
        "row while no other identity aligns). The From domain's own record and policy were "
        "read, so the DMARC status stays what they show.",
        "Check that the nameservers of that domain answer for its _dmarc names; the check "
        "is retried next run.",
    ),
}
