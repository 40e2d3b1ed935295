"""DKIM key records (RFC 6376 §3.6.1, RFC 8463, RFC 8301): sans-I/O evaluation of one TXT record.

The tag list and the RSA key are parsed with dkimpy (``dkim.util.parse_tag_value``,
``dkim.crypto.parse_public_key``); dkimpy is synchronous but parsing one key record takes
microseconds, so it runs inline rather than in an executor (verifying signatures, which
is slow, is not done here). Ed25519 keys are checked by :mod:`checks.dkim.ed25519`.
"""

from __future__ import annotations

import base64
from typing import NamedTuple

from dkim.asn1 import ASN1FormatError, asn1_parse
from dkim.crypto import ASN1_RSAPublicKey, UnparsableKeyError, parse_public_key
from dkim.util import DuplicateTag, InvalidTagValueList, parse_tag_value

from checks.dkim.ed25519 import ED25519_KEY_BYTES, is_ed25519_point
from checks.findings import Finding, FindingSeverity

__all__ = [
    "KEY_TYPES",
    "MAX_VERIFIER_RSA_BITS",
    "MIN_RSA_BITS",
    "RECOMMENDED_RSA_BITS",
    "KeyRecordEvaluation",
    "evaluate_key_record",
]

KEY_TYPES = ("rsa", "ed25519")
MIN_RSA_BITS = 1024  # RFC 8301 §3.2; Gmail's minimum
RECOMMENDED_RSA_BITS = 2048  # Gmail's and RFC 8301's recommendation
MAX_VERIFIER_RSA_BITS = 4096  # RFC 8301 §3.2: verifiers MUST handle up to 4096 bits
ED25519_BITS = 256
# DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE, SEQUENCE, OID 1.3.101.112.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")

_ERROR = FindingSeverity.ERROR
_WARNING = FindingSeverity.WARNING
_INFO = FindingSeverity.INFO


class KeyRecordEvaluation(NamedTuple):
    """What one key record says: ``key_type`` when recognised, ``key_bits`` when the key parsed."""

    key_type: str | None
    key_bits: int | None
    findings: tuple[Finding, ...]


def evaluate_key_record(text: str) -> KeyRecordEvaluation:
    """Evaluate a key record's text (TXT strings already joined).

    RFC 6376 §3.6.1: v= must be DKIM1 (and first), k= defaults to rsa, an empty p= means
    revoked, t= flags y (testing) and s (strict), h= and s= restrict hashes and services;
    unknown tags and flags are ignored. RFC 8463 §4.2: an Ed25519 p= is the raw 32-byte key.
    """
    try:
        raw_tags = parse_tag_value(text.encode("utf-8"))
    except InvalidTagValueList as exc:
        return _malformed(f"not a valid tag list: {_describe_tag_error(exc)}", problem="syntax")
    tags = {
        key.decode("utf-8", "replace"): value.decode("utf-8", "replace")
        for key, value in raw_tags.items()
    }
    findings: list[Finding] = []

    version = tags.get("v")
    if version is not None and version != "DKIM1":
        return _malformed(f"v={version!r} is not DKIM1; verifiers discard the record", v=version)
    if version is not None and next(iter(tags)) != "v":
        findings.append(
            Finding("dkim.version_not_first", _WARNING, "v=DKIM1 is not the first tag", {})
        )
    if "p" not in tags:
        return _malformed("the record has no p= tag (the public key is required)", problem="no_p")
    findings += _flag_findings(tags)

    key_type = tags.get("k", "rsa").strip().lower()
    if key_type not in KEY_TYPES:
        findings.append(
            Finding(
                "dkim.unknown_key_type",
                _ERROR,
                f"k={key_type} is not a key type verifiers know (rsa, ed25519)",
                {"k": key_type},
            )
        )
        return KeyRecordEvaluation(None, None, tuple(findings))

    key_text = "".join(tags["p"].split())  # RFC 6376 §3.6.1: p= may contain folding whitespace
    if not key_text:
        findings.append(Finding("dkim.revoked", _ERROR, "p= is empty: the key is revoked", {}))
        return KeyRecordEvaluation(key_type, None, tuple(findings))
    try:
        der = base64.b64decode(key_text, validate=True)
    except ValueError as exc:  # binascii.Error, and plain ValueError for non-ASCII text
        findings.append(
            Finding(
                "dkim.malformed_key",
                _ERROR,
                f"p= is not valid base64 (truncated or stray characters): {exc}",
                {"problem": "base64", "length": len(key_text)},
            )
        )
        return KeyRecordEvaluation(key_type, None, tuple(findings))

    if key_type == "rsa":
        bits, key_findings = _evaluate_rsa(der)
    else:
        bits, key_findings = _evaluate_ed25519(der)
    findings += key_findings
    return KeyRecordEvaluation(key_type, bits, tuple(findings))


def _malformed(message: str, **detail: str | int | bool | None) -> KeyRecordEvaluation:
    finding = Finding("dkim.malformed_record", _ERROR, message, detail)
    return KeyRecordEvaluation(None, None, (finding,))


def _describe_tag_error(exc: InvalidTagValueList) -> str:
    spec = exc.args[0] if exc.args else b""
    text = spec.decode("utf-8", "replace").strip() if isinstance(spec, bytes) else str(spec)
    kind = "duplicate tag" if isinstance(exc, DuplicateTag) else "bad tag"
    return f"{kind} {text!r}"


def _colon_list(value: str) -> set[str]:
    return {item.strip().lower() for item in value.split(":") if item.strip()}


def _flag_findings(tags: dict[str, str]) -> list[Finding]:
    findings: list[Finding] = []
    flags = _colon_list(tags.get("t", ""))
    if "y" in flags:
        findings.append(
            Finding(
                "dkim.testing",
                _WARNING,
                "t=y: the domain is testing DKIM; verifiers treat its mail as unsigned",
                {},
            )
        )
    if "s" in flags:
        findings.append(
            Finding(
                "dkim.strict_subdomain",
                _INFO,
                "t=s: signatures whose i= is a subdomain of d= are not valid with this key",
                {},
            )
        )
    if "h" in tags and "sha256" not in _colon_list(tags["h"]):
        findings.append(
            Finding(
                "dkim.unsupported_hash",
                _ERROR,
                f"h={tags['h']} lists no sha256: no signature acceptable today can use this key",
                {"h": tags["h"]},
            )
        )
    if "s" in tags and not _colon_list(tags["s"]) & {"*", "email"}:
        findings.append(
            Finding(
                "dkim.service_not_email",
                _ERROR,
                f"s={tags['s']} does not include email or *: the key is not for mail",
                {"s": tags["s"]},
            )
        )
    return findings


def _evaluate_rsa(der: bytes) -> tuple[int | None, list[Finding]]:
    try:
        key = parse_public_key(der)
    except (UnparsableKeyError, ASN1FormatError, AssertionError, IndexError, ValueError) as exc:
        # dkimpy raises UnparsableKeyError for what it recognises as bad; on arbitrary bytes its
        # ASN.1 walker can also fail an internal assert or index out of range (found by
        # fuzzing) - all of them mean "not an RSA key".
        return None, [
            Finding(
                "dkim.malformed_key",
                _ERROR,
                f"p= decodes but is not an RSA public key: {exc}",
                {"problem": "not_a_key"},
            )
        ]
    modulus, exponent = int(key["modulus"]), int(key["publicExponent"])
    if modulus <= 0 or exponent <= 1:
        return None, [
            Finding(
                "dkim.malformed_key",
                _ERROR,
                "p= is an RSA key with an impossible modulus or exponent",
                {"problem": "not_a_key"},
            )
        ]
    bits = modulus.bit_length()
    findings = [*_rsa_size_findings(bits)]
    if _is_pkcs1(der):
        findings.append(
            Finding(
                "dkim.rsa_key_not_spki",
                _WARNING,
                "p= is a bare PKCS#1 RSAPublicKey, which some verifiers cannot parse",
                {},
            )
        )
    return bits, findings


def _rsa_size_findings(bits: int) -> list[Finding]:
    if bits < MIN_RSA_BITS:
        return [
            Finding(
                "dkim.key_too_short",
                _ERROR,
                f"{bits}-bit RSA key: verifiers reject keys under {MIN_RSA_BITS} bits",
                {"bits": bits},
            )
        ]
    if bits < RECOMMENDED_RSA_BITS:
        return [
            Finding(
                "dkim.key_weak",
                _WARNING,
                f"{bits}-bit RSA key: {RECOMMENDED_RSA_BITS} bits is recommended",
                {"bits": bits},
            )
        ]
    if bits > MAX_VERIFIER_RSA_BITS:
        return [
            Finding(
                "dkim.key_oversized",
                _WARNING,
                f"{bits}-bit RSA key: verifiers need only handle up to {MAX_VERIFIER_RSA_BITS}",
                {"bits": bits},
            )
        ]
    return []


def _is_pkcs1(der: bytes) -> bool:
    try:
        asn1_parse(ASN1_RSAPublicKey, der)
    except (ASN1FormatError, AssertionError, IndexError, ValueError):
        return False
    return True


def _evaluate_ed25519(key: bytes) -> tuple[int | None, list[Finding]]:
    if len(key) != ED25519_KEY_BYTES:
        wrapped = key.startswith(_ED25519_SPKI_PREFIX)
        why = "wrapped in SubjectPublicKeyInfo; RFC 8463 wants the raw key" if wrapped else ""
        return None, [
            Finding(
                "dkim.malformed_key",
                _ERROR,
                f"Ed25519 p= is {len(key)} bytes, not {ED25519_KEY_BYTES}"
                + (f" ({why})" if why else ""),
                {"problem": "ed25519_spki" if wrapped else "ed25519_length", "length": len(key)},
            )
        ]
    if not is_ed25519_point(key):
        return None, [
            Finding(
                "dkim.malformed_key",
                _ERROR,
                "Ed25519 p= is not a point on the curve",
                {"problem": "ed25519_point"},
            )
        ]
    return ED25519_BITS, []
