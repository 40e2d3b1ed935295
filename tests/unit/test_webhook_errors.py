"""The webhook exception tree: stable reasons, and no address in any message or repr."""

from __future__ import annotations

import pytest

from monitor.ingest.webhooks import (
    AuthenticityRefused,
    CredentialsRefused,
    MalformedPayload,
    Reason,
    UnsafeConfirmation,
    WebhookConfigError,
    WebhookError,
    WebhookRefused,
)
from monitor.model.events import Source


def test_an_address_in_a_message_is_redacted() -> None:
    error = MalformedPayload("recipient jane.doe+x@mail.example.org refused", provider=Source.SES)
    assert "@" not in str(error)
    assert "jane" not in repr(error)
    assert error.reason is Reason.MALFORMED


@pytest.mark.parametrize(
    "cls", [MalformedPayload, CredentialsRefused, AuthenticityRefused, UnsafeConfirmation]
)
def test_refusals_share_the_root(cls: type[WebhookError]) -> None:
    assert issubclass(cls, WebhookRefused)
    assert issubclass(cls, WebhookError)
    assert not issubclass(WebhookConfigError, WebhookRefused)


def test_reason_codes_are_stable() -> None:
    assert {r.value for r in Reason} == {
        "certificate_unavailable",
        "malformed",
        "missing_credentials",
        "wrong_credentials",
        "bad_signature",
        "unsigned",
        "unsupported_signature_version",
        "stale_timestamp",
        "replayed",
        "foreign_topic",
        "untrusted_cert_url",
        "unknown_certificate",
        "untrusted_subscribe_url",
        "not_a_confirmation",
        "bad_config",
    }
