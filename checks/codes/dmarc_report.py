"""Finding codes from DMARC aggregate reports (what receivers saw; monitor/ingest/dmarc)."""

CODES: dict[str, tuple[str, str]] = {
    "dmarc_report.selector_unmonitored": (
        "Receivers' aggregate reports show a DKIM selector passing, aligned with the domain, "
        "for some of its mail, but delivermon does not check its key (revocation, weak key, "
        "removal): the selector is not in the domain's dkim_selectors, or it signs as "
        "another domain (d=mail.example.com for example.com), whose keys are checked only "
        "when that domain is configured. The detail gives "
        "the selector, the signing domain, the messages it signed and their share of the "
        "domain's reported mail over the window.",
        "Add the selector to dkim_selectors of the signing domain in the configuration (a "
        "[[domains]] entry of its own when it signs as another domain), so its key is "
        "checked and its changes alert; if you do not know the selector, find which of your "
        "services signs with it (GET /api/v1/dmarc/domains/<domain> lists the sources).",
    ),
}
