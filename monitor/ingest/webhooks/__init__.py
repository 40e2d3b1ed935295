"""ESP webhook verifiers and parsers: SES via SNS, SendGrid, Mailgun, Postmark.

Pure functions, no I/O: the HTTP layer hands over the raw body (and the headers it
needs) and gets back ``tuple[Event, ...]`` or a :class:`WebhookRefused` with a stable
``reason``. For SNS, :func:`handle_ses` also returns the checked SubscribeURL of a
SubscriptionConfirmation; the caller GETs it (no redirects, a timeout).
"""

from __future__ import annotations

from monitor.ingest.webhooks.errors import (
    AuthenticityRefused,
    CertificateUnavailable,
    CredentialsRefused,
    MalformedPayload,
    Reason,
    UnsafeConfirmation,
    WebhookConfigError,
    WebhookError,
    WebhookRefused,
)
from monitor.ingest.webhooks.mailgun import MailgunVerifier, handle_mailgun, parse_mailgun
from monitor.ingest.webhooks.postmark import (
    PostmarkVerifier,
    check_postmark_credentials,
    handle_postmark,
    parse_postmark,
)
from monitor.ingest.webhooks.replay import ReplayCache, TokenCache
from monitor.ingest.webhooks.sendgrid import (
    SendgridBatch,
    SendgridVerifier,
    SkippedItem,
    handle_sendgrid,
    load_verification_key,
    parse_sendgrid,
)
from monitor.ingest.webhooks.ses import SesOutcome, SesVerifier, handle_ses, parse_ses
from monitor.ingest.webhooks.sns import (
    PinnedCertificates,
    SnsMessage,
    SnsType,
    certificate_keys,
    confirmation_url,
    fetchable_cert_url,
    verify_sns,
)

__all__ = [
    "AuthenticityRefused",
    "CertificateUnavailable",
    "CredentialsRefused",
    "MailgunVerifier",
    "MalformedPayload",
    "PinnedCertificates",
    "PostmarkVerifier",
    "Reason",
    "ReplayCache",
    "SendgridBatch",
    "SendgridVerifier",
    "SesOutcome",
    "SesVerifier",
    "SkippedItem",
    "SnsMessage",
    "SnsType",
    "TokenCache",
    "UnsafeConfirmation",
    "WebhookConfigError",
    "WebhookError",
    "WebhookRefused",
    "certificate_keys",
    "check_postmark_credentials",
    "confirmation_url",
    "fetchable_cert_url",
    "handle_mailgun",
    "handle_postmark",
    "handle_sendgrid",
    "handle_ses",
    "load_verification_key",
    "parse_mailgun",
    "parse_postmark",
    "parse_sendgrid",
    "parse_ses",
    "verify_sns",
]
