"""Finding-code registries, one data module per check area.

Each module holds ``CODES: dict[str, tuple[str, str]]``: code -> (meaning, what
to do). Data only, no imports from the checks, so ``checks.findings`` can
assemble them without import cycles. Codes are stable dotted ids.
"""
