"""Finding codes of the bounce signals (checks/bounces/findings.py)."""

CODES: dict[str, tuple[str, str]] = {
    "bounce.blocklist_cited": (
        "A receiver refused mail citing a block list. 'sweep' says what delivermon's own "
        "DNSBL sweep shows for the IP the reply names (IPv4 or IPv6; a cited IPv6 network "
        "covers the swept addresses inside it): 'listed' (the sweep agrees), "
        "'not_listed' (the sweep asks that list about the IP and finds no listing: a "
        "listing just lifted), 'unknown' (the sweep asks that list but has no answer for "
        "the IP yet, or could not tell: never read as not listed), 'not_in_sweep' (the "
        "list is not one the sweep asks, the IP is not one it asks about, or it is the "
        "provider's internal list: only the receivers' answers show it).",
        "Stop sending from the named IP to that provider, find the cause (compromised "
        "host, bad list source, volume spike), then request removal where the reply says. "
        "For a provider's internal list use its sender support form (Microsoft: "
        "sender.office.com; GMX: the case URL in the reply).",
    ),
    "bounce.reputation_ratelimit": (
        "A provider is rate limiting or deferring mail for reputation (Gmail 4.7.28 "
        "'unusual rate of unsolicited mail', Yahoo [TSS04], Microsoft 4.7.650): at least "
        "[bounces] ratelimit_threshold such replies in [bounces] window. It is the step "
        "before the spam folder.",
        "Slow down to that provider, check the complaint rate and recent list sources, "
        "and look at its postmaster tools (Gmail Postmaster Tools, Yahoo Sender Hub, SNDS).",
    ),
    "bounce.dmarc_rejected": (
        "A provider rejected mail because it failed DMARC (Gmail 5.7.26, Microsoft "
        "5.7.509, Apple, mail.ru): at least [bounces] dmarc_threshold in the window.",
        "Check the sending domain's SPF and DKIM alignment with the From: domain for the "
        "stream that was rejected (delivermon check --checks auth shows the records).",
    ),
    "bounce.hard_bounce_rate": (
        "The share of delivery attempts of a campaign refused because the mailbox does not "
        "exist is above [bounces] hard_bounce_rate (with at least [feedback] min_volume "
        "attempts). Dead addresses become spam traps.",
        "Remove the bouncing addresses (delivermon suppresses them), and find the list "
        "source that brought them in: old lists, purchased lists, no confirmed opt-in.",
    ),
}
