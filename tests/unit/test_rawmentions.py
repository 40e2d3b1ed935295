"""What the raw-copy search for an erasure or export does not do, as README's
Limitations say (the forms it finds are tested against a real store in
tests/integration/test_store_subjects.py)."""

from __future__ import annotations

import base64
import hashlib

from monitor.store.rawmentions import address_pattern, names_address

BOB = "bob@example.org"


def test_an_address_after_a_single_quote_or_hashed_is_not_found() -> None:
    pattern = address_pattern(BOB)
    assert not names_address(f"<input value='{BOB}'>".encode(), pattern)
    digest = hashlib.sha256(BOB.encode()).hexdigest().encode()
    assert not names_address(b"https://example.com/u?h=" + digest, pattern)
    # The same text with a double quote is found (the limitation is the quote itself).
    assert names_address(f'<input value="{BOB}">'.encode(), pattern)


def test_two_rare_spellings_of_another_address_are_taken_for_it() -> None:
    pattern = address_pattern(BOB)
    other = base64.b64encode(b"ab?" + BOB.encode())
    assert b"/" in other  # "ab?" ends its base64 group in "/": the piece after it is BOB's
    assert names_address(b"https://example.com/u?t=" + other, pattern)
    assert names_address(b"ab%20" + BOB.encode(), pattern)
