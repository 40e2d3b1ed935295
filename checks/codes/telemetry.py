"""Finding codes of receiver telemetry: Gmail Postmaster Tools (v2) and Microsoft SNDS.

The daemon imports both (monitor/telemetry); the codes live here with every other code.
"""

CODES: dict[str, tuple[str, str]] = {
    "gmail.spam_rate_elevated": (
        "Gmail's user-reported spam rate for the domain (Postmaster Tools, latest day with "
        "data) is at or above 0.1%, the line Gmail asks bulk senders to stay below.",
        "Find the campaigns and sources behind the complaints (per-campaign complaint rates, "
        "feedback-loop reports); send only to engaged, consenting recipients; make "
        "unsubscribing one click.",
    ),
    "gmail.spam_rate_high": (
        "Gmail's user-reported spam rate is at or above 0.3%: Gmail does not mitigate "
        "delivery problems until it has stayed below 0.3% for 7 consecutive days. The "
        "finding's detail gives the date it may recover (the last day at 0.3% or more, plus 7).",
        "Stop the offending mail now (pause the campaign, suppress unengaged recipients) and "
        "keep the rate below 0.3% for seven days before asking Gmail for mitigation.",
    ),
    "gmail.spam_rate_recovering": (
        "The latest Gmail spam rate is below 0.3%, but a day at or above 0.3% lies less than "
        "7 days back: Gmail's recovery clock has not run out yet.",
        "Keep the rate below 0.3% until the recovery date in the finding's detail.",
    ),
    "gmail.compliance_failing": (
        "Gmail's compliance status (getComplianceStatus) reports NEEDS_WORK for a sender "
        "requirement: SPF, DKIM, DMARC policy or alignment, message formatting, DNS records, "
        "TLS, the spam rate, one-click unsubscribe or honouring unsubscribes.",
        "Fix the requirement named in the detail; Postmaster Tools' compliance page shows it.",
    ),
    "gmail.no_data": (
        "Postmaster Tools published no statistics for the domain in the imported window: its "
        "volume to Gmail is below Google's threshold, or the days are not published yet "
        "(they lag a day or two). Not a 0% spam rate.",
        "Nothing to fix if the volume is low; otherwise wait for the next import.",
    ),
    "gmail.unverified": (
        "The API does not know the domain for these credentials (401 or 404): it is not "
        "registered and verified in Postmaster Tools for the account (revoked credentials "
        "are permission_denied: the token endpoint refuses them).",
        "Add and verify the domain in Postmaster Tools under the account whose credentials "
        "are configured, or renew the credentials.",
    ),
    "gmail.permission_denied": (
        "The API refused access (403, or the token endpoint refused the credentials): a "
        "missing scope, no access to the domain, or the API not enabled in the Google Cloud "
        "project.",
        "Grant the account access to the domain in Postmaster Tools, enable the Gmail "
        "Postmaster Tools API in the project, and create the token with the "
        "postmaster.traffic.readonly scope.",
    ),
    "gmail.unavailable": (
        "The import failed (an outage, 429/5xx after retries, an unreadable answer, no "
        "token): the spam rate is unknown, and the last known values stay as they were.",
        "Check the daemon's connectivity to Google; the next import retries.",
    ),
    "snds.filter_yellow": (
        "Microsoft SNDS reports YELLOW for the IP: between 10% and 90% of its mail to "
        "Outlook.com was filtered as spam in the latest activity period.",
        "Look at the IP's complaint rate and trap hits in SNDS; reduce volume to unengaged "
        "recipients from this IP.",
    ),
    "snds.filter_red": (
        "Microsoft SNDS reports RED for the IP: over 90% of its mail to Outlook.com was "
        "filtered as spam.",
        "Stop or sharply cut mail from this IP to Outlook.com domains until the source of "
        "the spam verdicts is found and removed.",
    ),
    "snds.trap_hits": (
        "SNDS counted messages from the IP to Outlook.com spam traps in the latest period: "
        "the lists contain addresses that never opted in, or long-dead addresses.",
        "Clean the lists (remove never-engaged and purchased addresses, honour bounces).",
    ),
    "snds.blocked": (
        "The IP lies in a range SNDS's IP status reports as blocked by Outlook.com "
        "(e.g. 'Blocked due to user complaints or other evidence of spamming').",
        "Fix the cause, then request delisting through Microsoft's sender support form.",
    ),
    "snds.ip_not_configured": (
        "SNDS reports data for an IP that is not among the configured sending_ips: an IP of "
        "the account that delivermon does not watch (or a forgotten sender).",
        "Add the IP to a domain's sending_ips, or remove it from the SNDS account.",
    ),
    "snds.unavailable": (
        "The SNDS import failed (an outage, a refused key, an HTML page instead of CSV): "
        "the filter results and blocks are unknown, the last known ones stay.",
        "Check the automated-access key in SNDS and the daemon's connectivity.",
    ),
}
