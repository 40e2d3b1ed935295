"""A-label conversion: the plain-ASCII fast path gives exactly what full IDNA 2008 gives."""

from __future__ import annotations

import idna
import pytest

from checks.domains import DomainError, to_a_label

NAMES = [
    "mail.example.com",
    "Mail.Example.COM",
    "a--b.example",
    "ab--cd.example",
    "xn--bcher-kva.example",
    "xn--zz.example",
    "bücher.example",
    "-a.example",
    "a-.example",
    "1-2-3.example",
    "x" * 63 + ".example",
    "x" * 64 + ".example",
    "under_score.example",
    "a..b.example",
]


@pytest.mark.parametrize("name", NAMES)
def test_fast_path_agrees_with_idna(name: str) -> None:
    try:
        expected: str | None = idna.encode(name, uts46=True).decode("ascii").lower()
    except idna.IDNAError:
        expected = None
    try:
        got: str | None = to_a_label(name)
    except DomainError:
        got = None
    assert got == expected
