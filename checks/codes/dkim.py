"""Finding codes of the DKIM key (checks/dkim) checks."""

CODES: dict[str, tuple[str, str]] = {}
