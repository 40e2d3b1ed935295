"""Finding codes of the SPF (checks/spf) checks."""

CODES: dict[str, tuple[str, str]] = {}
