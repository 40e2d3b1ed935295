"""Real DKIM public keys made at test time with the openssl CLI, plus a test that they are real.

The private key only ever passes through a pipe between two openssl processes; nothing
secret is written to disk or kept. The integration tests import the helpers from here.
"""

from __future__ import annotations

import base64
import functools
import os
import shutil
import subprocess
from typing import Literal

import pytest
from dkim.crypto import parse_public_key

from checks.dkim.ed25519 import is_ed25519_point

RsaForm = Literal["spki", "pkcs1"]


def _openssl() -> str:
    found = shutil.which("openssl")
    if found is None:
        reason = "openssl CLI not installed: apt-get install openssl"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason} (CI=true: a missing tool is a failure, not a skip)")
        pytest.skip(reason)
    return found


def _run(*args: str, data: bytes = b"") -> bytes:
    return subprocess.run(args, input=data, capture_output=True, check=True).stdout


@functools.cache
def _rsa_private_pem(bits: int) -> bytes:
    return _run(_openssl(), "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}")


@functools.cache
def rsa_public_der(bits: int, form: RsaForm = "spki") -> bytes:
    """DER of a fresh RSA public key: SubjectPublicKeyInfo or a bare PKCS#1 RSAPublicKey."""
    pem = _rsa_private_pem(bits)
    if form == "spki":
        return _run(_openssl(), "pkey", "-pubout", "-outform", "DER", data=pem)
    return _run(_openssl(), "rsa", "-RSAPublicKey_out", "-outform", "DER", data=pem)


@functools.cache
def ed25519_public_raw() -> bytes:
    """The raw 32-byte public key of a fresh Ed25519 key (RFC 8463 §4.2 form)."""
    pem = _run(_openssl(), "genpkey", "-algorithm", "ed25519")
    spki = _run(_openssl(), "pkey", "-pubout", "-outform", "DER", data=pem)
    return spki[-32:]


@functools.cache
def ed25519_public_spki() -> bytes:
    """The same key wrapped in SubjectPublicKeyInfo (RFC 8410), which DKIM does not accept."""
    return bytes.fromhex("302a300506032b6570032100") + ed25519_public_raw()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def rsa_record(bits: int, *, form: RsaForm = "spki", tags: str = "v=DKIM1; k=rsa") -> str:
    """A key record ``<tags>; p=<key>`` with a fresh RSA key."""
    return f"{tags}; p={b64(rsa_public_der(bits, form))}"


def ed25519_record(tags: str = "v=DKIM1; k=ed25519") -> str:
    return f"{tags}; p={b64(ed25519_public_raw())}"


@pytest.mark.parametrize("form", ["spki", "pkcs1"])
@pytest.mark.parametrize("bits", [512, 1024, 2048, 4096])
def test_generated_rsa_key_parses_with_dkimpy_at_the_requested_size(
    bits: int, form: RsaForm
) -> None:
    key = parse_public_key(rsa_public_der(bits, form))
    assert int(key["modulus"]).bit_length() == bits


def test_generated_ed25519_key_is_a_raw_curve_point() -> None:
    raw = ed25519_public_raw()
    assert len(raw) == 32
    assert is_ed25519_point(raw)
    assert ed25519_public_spki().endswith(raw)
