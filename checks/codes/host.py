"""Finding codes of the PTR / forward-confirmed reverse DNS and MX (checks/host) checks."""

CODES: dict[str, tuple[str, str]] = {}
