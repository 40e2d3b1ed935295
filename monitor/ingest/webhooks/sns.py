"""Amazon SNS message verification, the SigningCertURL and SubscribeURL guards.

Nothing here fetches anything. Signing certificates come from files the operator pins
(``[webhooks.ses] certificate_files``) or, unless ``fetch_certificates = false``, from
the URL :func:`fetchable_cert_url` approves (the HTTP layer fetches it: no redirects, size-
and time-limited, cached). :func:`confirmation_url` only *checks* the SubscribeURL; the
caller performs the GET.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from urllib.parse import SplitResult, parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from monitor.ingest.webhooks.errors import (
    AuthenticityRefused,
    MalformedPayload,
    Reason,
    UnsafeConfirmation,
    WebhookConfigError,
)
from monitor.ingest.webhooks.fields import (
    parse_iso_time,
    require_mapping,
    require_str,
    resolve_now,
)
from monitor.model.events import Source

__all__ = [
    "PinnedCertificates",
    "SnsMessage",
    "SnsType",
    "canonical_string",
    "certificate_keys",
    "confirmation_url",
    "fetchable_cert_url",
    "sns_host",
    "verify_sns",
]

_SES = Source.SES

# sns.<region>.amazonaws.com, or sns.cn-<...>.amazonaws.com.cn in the China partition.
_CERT_HOST = re.compile(
    r"sns\.(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2})\.amazonaws\.com(?:\.cn)?"
)
_TOPIC_ARN = re.compile(
    r"arn:aws(?:-cn|-us-gov)?:sns:(?P<region>[a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):[0-9]{12}:[A-Za-z0-9_.-]{1,256}"
)
_CERT_NAME = re.compile(r"[A-Za-z0-9_.-]{1,200}\.pem")
# What SNS itself serves (AWS's SDK validators and every SigningCertURL seen): one file at
# the root of the regional endpoint, named after a hex digest. Only these are fetched.
_FETCHABLE_PATH = re.compile(r"/SimpleNotificationService-[0-9a-f]{16,64}\.pem")


class SnsType(StrEnum):
    NOTIFICATION = "Notification"
    SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
    UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"


# The string-to-sign: "Name\nvalue\n" for these fields, in this (byte) order; Subject only
# when present. SNS docs, "Verifying the signatures of Amazon SNS messages".
_SIGNED_FIELDS: dict[SnsType, tuple[str, ...]] = {
    SnsType.NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SnsType.SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_FIELDS[SnsType.UNSUBSCRIBE_CONFIRMATION] = _SIGNED_FIELDS[SnsType.SUBSCRIPTION_CONFIRMATION]
_OPTIONAL_FIELDS = frozenset({"Subject"})
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}


@dataclass(frozen=True, slots=True)
class SnsMessage:
    """A verified SNS message (only :func:`verify_sns` makes one)."""

    type: SnsType
    message_id: str
    topic_arn: str
    region: str
    timestamp: dt.datetime
    message: str = field(repr=False)  # an SES notification carries recipient addresses
    subject: str | None = field(default=None, repr=False)
    subscribe_url: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


class PinnedCertificates:
    """SNS signing certificates the operator pinned, by name; nothing is ever downloaded.

    A ``SigningCertURL`` finds its certificate by the full URL or by the URL path's
    basename (``SimpleNotificationService-<hash>.pem``). ``from_files`` names each file by
    its own basename; ``named`` maps a basename or URL to a file of any name.
    """

    __slots__ = ("_keys",)

    def __init__(self, keys: Mapping[str, Sequence[RSAPublicKey]]) -> None:
        self._keys = {name: tuple(found) for name, found in keys.items()}

    @classmethod
    def from_pem(cls, pems: Mapping[str, bytes]) -> PinnedCertificates:
        """Certificates from PEM bytes keyed by basename or URL.

        Raises:
            WebhookConfigError: a PEM holds no certificate, or a non-RSA one.
        """
        return cls({name: _rsa_keys(pem, name) for name, pem in pems.items()})

    @classmethod
    def from_files(
        cls, files: Iterable[Path | str] = (), *, named: Mapping[str, Path | str] | None = None
    ) -> PinnedCertificates:
        """Load ``[webhooks.ses] certificate_files`` (and an optional name -> file mapping).

        Raises:
            WebhookConfigError: a file is unreadable or holds no RSA certificate.
        """
        pems: dict[str, bytes] = {}
        for name, path in [(Path(p).name, Path(p)) for p in files] + [
            (n, Path(p)) for n, p in (named or {}).items()
        ]:
            try:
                pems[name] = path.read_bytes()
            except OSError as exc:
                raise WebhookConfigError(
                    f"certificate file {str(path)!r} cannot be read: {exc.strerror or exc}",
                    provider=_SES,
                ) from None
        return cls.from_pem(pems)

    def __len__(self) -> int:
        return len(self._keys)

    def with_keys(self, url: str, keys: Sequence[RSAPublicKey]) -> PinnedCertificates:
        """These certificates, plus ``keys`` for ``url`` (a fetched certificate)."""
        return PinnedCertificates({**self._keys, url: tuple(keys)})

    def lookup(self, url: str) -> tuple[RSAPublicKey, ...]:
        """The pinned keys for a (validated) certificate URL; empty when none is pinned."""
        found = self._keys.get(url)
        if found is None:
            found = self._keys.get(PurePosixPath(urlsplit(url).path).name, ())
        return found

    def __repr__(self) -> str:
        return f"PinnedCertificates({sorted(self._keys)!r})"


def _rsa_keys(pem: bytes, name: str) -> tuple[RSAPublicKey, ...]:
    try:
        certificates = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise WebhookConfigError(f"{name!r} holds no PEM certificate", provider=_SES) from None
    try:
        keys = tuple(c.public_key() for c in certificates)
    except (ValueError, UnsupportedAlgorithm):
        # A key cryptography cannot read (an unknown algorithm or a broken encoding).
        raise WebhookConfigError(f"{name!r} is not an RSA certificate", provider=_SES) from None
    rsa = tuple(k for k in keys if isinstance(k, RSAPublicKey))
    if not rsa or len(rsa) != len(keys):
        raise WebhookConfigError(f"{name!r} is not an RSA certificate", provider=_SES)
    return rsa


def sns_host(region: str) -> str:
    """The SNS endpoint host of a region (``.com.cn`` in the China partition)."""
    suffix = ".amazonaws.com.cn" if region.startswith("cn-") else ".amazonaws.com"
    return f"sns.{region}{suffix}"


def canonical_string(message: Mapping[str, object], kind: SnsType) -> bytes:
    """The bytes SNS signed for this message type.

    Raises:
        MalformedPayload: a signed field is missing or not a string.
    """
    parts: list[str] = []
    for name in _SIGNED_FIELDS[kind]:
        value = message.get(name)
        if value is None and name in _OPTIONAL_FIELDS:
            continue
        if not isinstance(value, str):
            raise MalformedPayload(f"{name} is missing or not a string", provider=_SES)
        parts.append(f"{name}\n{value}\n")
    return "".join(parts).encode("utf-8")


def verify_sns(
    message: Mapping[str, object],
    *,
    topic_arns: Collection[str],
    certificates: PinnedCertificates,
    now: dt.datetime | None = None,
    max_age: dt.timedelta | None = None,
) -> SnsMessage:
    """Verify an SNS message (SignatureVersion 1: SHA1withRSA, 2: SHA256withRSA).

    Checks, in order: it is signed, its type and version are known, ``SigningCertURL`` is
    ``https://sns.<topic's region>.amazonaws.com/<name>.pem``, that certificate is pinned,
    the signature verifies, ``TopicArn`` is allowed and, with ``max_age``, it is recent.

    Raises:
        MalformedPayload: not an SNS message.
        AuthenticityRefused: unsigned, unsupported_signature_version, untrusted_cert_url,
            unknown_certificate, bad_signature, foreign_topic, stale_timestamp.
    """
    message = require_mapping(message, "SNS message", provider=_SES)
    if "Signature" not in message or "SignatureVersion" not in message:
        raise AuthenticityRefused(
            Reason.UNSIGNED,
            "unsigned SNS message (raw message delivery cannot be authenticated)",
            provider=_SES,
        )
    try:
        kind = SnsType(require_str(message, "Type", provider=_SES))
    except ValueError:
        raise MalformedPayload("unknown SNS message Type", provider=_SES) from None
    version = message.get("SignatureVersion")
    algorithm = _HASHES.get(version) if isinstance(version, str) else None
    if algorithm is None:
        raise AuthenticityRefused(
            Reason.UNSUPPORTED_SIGNATURE_VERSION,
            "SignatureVersion must be 1 or 2",
            provider=_SES,
        )
    signed = canonical_string(message, kind)
    topic_arn = require_str(message, "TopicArn", provider=_SES)
    arn = _TOPIC_ARN.fullmatch(topic_arn)
    if arn is None:
        raise MalformedPayload("TopicArn is not an SNS topic ARN", provider=_SES)
    region = arn["region"]
    cert_url = require_str(message, "SigningCertURL", provider=_SES)
    _check_cert_url(cert_url, region)
    keys = certificates.lookup(cert_url)
    if not keys:
        raise AuthenticityRefused(
            Reason.UNKNOWN_CERTIFICATE,
            "the signing certificate is neither pinned nor fetched",
            provider=_SES,
        )
    signature = _decode_signature(message.get("Signature"))
    if not any(_rsa_verifies(key, signature, signed, algorithm()) for key in keys):
        raise AuthenticityRefused(
            Reason.BAD_SIGNATURE, "the SNS signature does not verify", provider=_SES
        )
    if topic_arn not in topic_arns:
        raise AuthenticityRefused(
            Reason.FOREIGN_TOPIC, "TopicArn is not in topic_arns", provider=_SES
        )
    timestamp = parse_iso_time(message.get("Timestamp"), "Timestamp", provider=_SES)
    if max_age is not None and resolve_now(now) - timestamp > max_age:
        raise AuthenticityRefused(
            Reason.STALE_TIMESTAMP, "the SNS message is older than max_age", provider=_SES
        )
    return SnsMessage(
        type=kind,
        message_id=require_str(message, "MessageId", provider=_SES),
        topic_arn=topic_arn,
        region=region,
        timestamp=timestamp,
        message=require_str(message, "Message", provider=_SES),
        subject=_optional(message, "Subject"),
        subscribe_url=_optional(message, "SubscribeURL"),
        token=_optional(message, "Token"),
    )


def _optional(message: Mapping[str, object], name: str) -> str | None:
    value = message.get(name)
    return value if isinstance(value, str) else None


def _strict_https_parts(url: str) -> SplitResult | None:
    """An https URL without port, odd characters or ambiguity; None for anything else.

    Non-ASCII, whitespace and backslashes are refused before parsing, since
    parsers disagree about them (a classic way to smuggle another host past a check).
    """
    if not url.isascii() or any(c.isspace() or c == "\\" for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or port is not None:
        return None
    return parts


def fetchable_cert_url(message: Mapping[str, object], *, topic_arns: Collection[str]) -> str | None:
    """The SigningCertURL to fetch for ``message``, or None.

    Only for a message of an allowed topic whose URL passes the SigningCertURL check for
    the topic's region and names ``/SimpleNotificationService-<hex>.pem``: an attacker
    cannot make the daemon fetch anything else. None means "do not fetch"; the
    verification that follows then refuses the message with its own reason.
    """
    topic_arn = message.get("TopicArn")
    url = message.get("SigningCertURL")
    if not isinstance(topic_arn, str) or not isinstance(url, str) or topic_arn not in topic_arns:
        return None
    arn = _TOPIC_ARN.fullmatch(topic_arn)
    if arn is None:
        return None
    try:
        _check_cert_url(url, arn["region"])
    except AuthenticityRefused:
        return None
    return url if _FETCHABLE_PATH.fullmatch(urlsplit(url).path) else None


def certificate_keys(pem: bytes) -> tuple[RSAPublicKey, ...]:
    """The RSA keys of a fetched signing certificate (PEM).

    Raises:
        WebhookConfigError: no PEM certificate, or not RSA.
    """
    return _rsa_keys(pem, "the fetched signing certificate")


def _check_cert_url(url: str, region: str) -> None:
    """``https://sns.<region>.amazonaws.com/<name>.pem`` exactly (go.sns #2: attacker-chosen)."""
    refuse = AuthenticityRefused(
        Reason.UNTRUSTED_CERT_URL,
        "SigningCertURL is not an https://sns.<topic region>.amazonaws.com/ certificate",
        provider=_SES,
    )
    parts = _strict_https_parts(url)
    host = _CERT_HOST.fullmatch(parts.netloc) if parts is not None else None
    if (
        parts is None
        or host is None
        or parts.netloc != sns_host(host["region"])  # .com.cn only in cn- regions
        or host["region"] != region
        or parts.query
        or parts.fragment
        or "%" in parts.path
        or _CERT_NAME.fullmatch(PurePosixPath(parts.path).name) is None
    ):
        raise refuse


def _decode_signature(value: object) -> bytes:
    # The corpus shows base64 wrapped at 60 columns; whitespace is not part of it.
    if isinstance(value, str):
        compact = "".join(value.split())
        try:
            return base64.b64decode(compact, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise AuthenticityRefused(Reason.BAD_SIGNATURE, "Signature is not base64", provider=_SES)


def _rsa_verifies(
    key: RSAPublicKey, signature: bytes, data: bytes, algorithm: hashes.HashAlgorithm
) -> bool:
    try:
        key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def confirmation_url(message: SnsMessage) -> str:
    """The SubscribeURL of a verified SubscriptionConfirmation, once proven safe to GET.

    It must be ``https://sns.<topic's region>.amazonaws.com/?Action=ConfirmSubscription``
    with this ``TopicArn`` and a ``Token`` (Mailtrain #1389: following any SubscribeURL is
    blind SSRF). The caller GETs it without following redirects, with a short timeout.

    Raises:
        UnsafeConfirmation: not_a_confirmation, untrusted_subscribe_url.
    """
    if message.type is not SnsType.SUBSCRIPTION_CONFIRMATION or message.subscribe_url is None:
        raise UnsafeConfirmation(
            Reason.NOT_A_CONFIRMATION, "not a SubscriptionConfirmation", provider=_SES
        )
    url = message.subscribe_url
    refuse = UnsafeConfirmation(
        Reason.UNTRUSTED_SUBSCRIBE_URL,
        "SubscribeURL is not an https ConfirmSubscription on the topic's SNS host",
        provider=_SES,
    )
    parts = _strict_https_parts(url)
    if parts is None:
        raise refuse
    try:
        query = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise refuse from None
    if (
        parts.netloc != sns_host(message.region)
        or parts.path not in ("", "/")
        or parts.fragment
        or any(len(values) != 1 for values in query.values())
        or query.get("Action") != ["ConfirmSubscription"]
        or query.get("TopicArn") != [message.topic_arn]
        or not query.get("Token", [""])[0]
    ):
        raise refuse
    return url
