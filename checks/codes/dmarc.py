"""Finding codes of the DMARC (checks/dmarc) checks."""

CODES: dict[str, tuple[str, str]] = {}
