"""Refusals of ESP webhook payloads, each with a stable ``reason`` code.

WebhookError                 root; ``.reason`` (a :class:`Reason`) and ``.provider``
├── WebhookConfigError       a webhook setting cannot be used: bad_config
└── WebhookRefused           a payload refused; nothing from it may be stored
    ├── MalformedPayload     not the provider's shape (HTTP 400): malformed
    ├── CredentialsRefused   HTTP Basic: missing_credentials (401), wrong_credentials (403)
    ├── AuthenticityRefused  not proven to come from the provider (403): bad_signature,
    │                        unsigned, unsupported_signature_version, stale_timestamp,
    │                        replayed, foreign_topic, untrusted_cert_url, unknown_certificate
    ├── UnsafeConfirmation   an SNS SubscribeURL not to fetch (SSRF): untrusted_subscribe_url,
    │                        not_a_confirmation
    └── CertificateUnavailable  the SNS signing certificate could not be fetched just now
                             (HTTP 503, SNS retries): certificate_unavailable

Messages are fixed prose: they never echo submitted values, so no recipient address (or
attacker-chosen URL) reaches a log line or an HTTP error. Key on ``reason``, not on prose.
"""

from __future__ import annotations

import re
from enum import StrEnum

from monitor.ingest.errors import IngestError
from monitor.model.events import Source

__all__ = [
    "AuthenticityRefused",
    "CertificateUnavailable",
    "CredentialsRefused",
    "MalformedPayload",
    "Reason",
    "UnsafeConfirmation",
    "WebhookConfigError",
    "WebhookError",
    "WebhookRefused",
]


class Reason(StrEnum):
    """Stable reason codes (metrics labels, tests and docs key on them)."""

    MALFORMED = "malformed"
    MISSING_CREDENTIALS = "missing_credentials"
    WRONG_CREDENTIALS = "wrong_credentials"
    BAD_SIGNATURE = "bad_signature"
    UNSIGNED = "unsigned"
    UNSUPPORTED_SIGNATURE_VERSION = "unsupported_signature_version"
    STALE_TIMESTAMP = "stale_timestamp"
    REPLAYED = "replayed"
    FOREIGN_TOPIC = "foreign_topic"
    UNTRUSTED_CERT_URL = "untrusted_cert_url"
    UNKNOWN_CERTIFICATE = "unknown_certificate"
    CERTIFICATE_UNAVAILABLE = "certificate_unavailable"
    UNTRUSTED_SUBSCRIBE_URL = "untrusted_subscribe_url"
    NOT_A_CONFIRMATION = "not_a_confirmation"
    BAD_CONFIG = "bad_config"


# Defence in depth: even a careless message never carries something shaped like an address.
_ADDRESS = re.compile(r"[^\s<>\"'@]+@[^\s<>\"'@]+")


class WebhookError(IngestError):
    """Root of the webhook package's exceptions (an ingestion refusal like a bad report)."""

    reason: Reason

    def __init__(self, reason: Reason, message: str, *, provider: Source) -> None:
        super().__init__(reason, f"{provider.value}: {_ADDRESS.sub('<redacted>', message)}")
        self.provider = provider

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(reason={self.reason.value!r}, provider={self.provider.value!r})"
        )


class WebhookConfigError(WebhookError):
    """A ``[webhooks.<provider>]`` setting cannot be used."""

    def __init__(self, message: str, *, provider: Source) -> None:
        super().__init__(Reason.BAD_CONFIG, message, provider=provider)


class WebhookRefused(WebhookError):  # noqa: N818 - a refusal by design, named like its subclasses
    """A payload refused: the caller answers with an error and stores nothing."""


class MalformedPayload(WebhookRefused):
    def __init__(self, message: str, *, provider: Source) -> None:
        super().__init__(Reason.MALFORMED, message, provider=provider)


class CredentialsRefused(WebhookRefused):
    """HTTP Basic credentials missing (401) or wrong (403)."""


class AuthenticityRefused(WebhookRefused):
    """The payload is not proven to come from the provider, or not fresh, or replayed."""


class UnsafeConfirmation(WebhookRefused):
    """An SNS SubscribeURL that must not be fetched."""


class CertificateUnavailable(WebhookRefused):
    """The signing certificate's host did not answer in time (or answered 5xx): try later."""

    def __init__(self, message: str, *, provider: Source) -> None:
        super().__init__(Reason.CERTIFICATE_UNAVAILABLE, message, provider=provider)
