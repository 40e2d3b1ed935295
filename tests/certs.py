"""Self-signed certificates made at test time, never written anywhere but the test's directory.

Two uses: a TLS server certificate for 127.0.0.1 and localhost (Dovecot's IMAPS, the SMTP
server of the e-mail notifier tests), which a client trusts by loading it as its CA file;
and a stand-in for Amazon SNS's signing certificate, an RSA key whose certificate is
pinned by name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

LOOPBACK_NAMES = ("localhost", "127.0.0.1")


def self_signed(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    common_name: str,
    *,
    hosts: Sequence[str] = (),
    ca: bool = False,
) -> x509.Certificate:
    """A certificate for `key`, issued by itself, valid from 5 minutes ago for a day.

    `hosts` become subjectAltNames (IP addresses as such, the rest as DNS names); `ca`
    marks it a CA, which lets a client load it as its trust anchor.
    """
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )
    if hosts:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in hosts]), critical=False
        )
    if ca:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
    return builder.sign(key, hashes.SHA256())


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def write_tls_pair(
    cert_file: Path, key_file: Path, *, common_name: str, hosts: Sequence[str] = LOOPBACK_NAMES
) -> None:
    """A P-256 key and its self-signed CA certificate for `hosts`, as PEM files (key 0600)."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert_file.write_bytes(pem(self_signed(key, common_name, hosts=hosts, ca=True)))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_file.chmod(0o600)


def rsa_signer(common_name: str = "sns.test.invalid") -> tuple[rsa.RSAPrivateKey, bytes]:
    """A 2048-bit RSA key and its self-signed certificate (PEM), as SNS signs with."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, pem(self_signed(key, common_name))


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)
