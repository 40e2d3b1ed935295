"""The webhook verifiers of a config: one per ``[webhooks.<provider>]`` section, its secrets
read and its keys and certificates loaded (the settings builder calls this)."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from monitor.config import Config, resolve_secret
from monitor.ingest.webhooks.errors import WebhookConfigError
from monitor.ingest.webhooks.mailgun import MailgunVerifier
from monitor.ingest.webhooks.postmark import PostmarkVerifier
from monitor.ingest.webhooks.sendgrid import SendgridVerifier, load_verification_key
from monitor.ingest.webhooks.ses import SesVerifier
from monitor.ingest.webhooks.sns import PinnedCertificates
from monitor.model.errors import ConfigError

__all__ = ["WebhookVerifiers", "build_webhook_verifiers"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WebhookVerifiers:
    """One verifier per configured provider; None for a provider without a section (404)."""

    ses: SesVerifier | None = None
    sendgrid: SendgridVerifier | None = None
    mailgun: MailgunVerifier | None = None
    postmark: PostmarkVerifier | None = None


def build_webhook_verifiers(config: Config) -> WebhookVerifiers:
    """The verifier of every provider that has a ``[webhooks.<provider>]`` section.

    Raises:
        ConfigError: every unusable setting at once.
    """
    hooks = config.webhooks
    problems: list[str] = []
    ses = sendgrid = mailgun = postmark = None
    if hooks.ses is not None:
        try:
            ses = SesVerifier(
                topic_arns=frozenset(hooks.ses.topic_arns),
                certificates=PinnedCertificates.from_files(hooks.ses.certificate_files),
                campaign_field=hooks.ses.campaign_field,
                campaign_headers=tuple(config.feedback.campaign_headers),
                fetch_certificates=hooks.ses.fetch_certificates,
            )
        except WebhookConfigError as exc:
            problems.append(f"webhooks.ses.certificate_files: {exc.message}")
        if not hooks.ses.topic_arns:
            log.warning("webhooks.ses has no topic_arns: every message is refused")
        elif not hooks.ses.certificate_files and not hooks.ses.fetch_certificates:
            log.warning(
                "webhooks.ses has no certificate_files and fetch_certificates = false: "
                "every message is refused"
            )
    if hooks.sendgrid is not None:
        key = _secret(hooks.sendgrid.verification_key, "sendgrid.verification_key", problems)
        if key is not None:
            try:
                sendgrid = SendgridVerifier(
                    verification_key=load_verification_key(key),
                    campaign_field=hooks.sendgrid.campaign_field,
                    max_age=dt.timedelta(seconds=hooks.sendgrid.max_age_seconds),
                )
            except WebhookConfigError as exc:
                problems.append(f"webhooks.sendgrid.verification_key: {exc.message}")
    if hooks.mailgun is not None:
        key = _secret(hooks.mailgun.signing_key, "mailgun.signing_key", problems)
        if key is not None:
            mailgun = MailgunVerifier(
                signing_key=key,
                campaign_field=hooks.mailgun.campaign_field,
                max_age=dt.timedelta(seconds=hooks.mailgun.max_age_seconds),
            )
    if hooks.postmark is not None:
        username = _secret(hooks.postmark.username, "postmark.username", problems)
        password = _secret(hooks.postmark.password, "postmark.password", problems)
        if username is not None and password is not None:
            postmark = PostmarkVerifier(
                username=username,
                password=password,
                campaign_field=hooks.postmark.campaign_field,
            )
    if problems:
        raise ConfigError(problems, source="[webhooks]")
    return WebhookVerifiers(ses=ses, sendgrid=sendgrid, mailgun=mailgun, postmark=postmark)


def _secret(value: str | None, name: str, problems: list[str]) -> str | None:
    resolved = resolve_secret(value) if value else None
    if resolved is None:
        problems.append(f"webhooks.{name}: missing (or its environment variable is unset)")
    return resolved
