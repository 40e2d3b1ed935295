"""Feedback ingestion routes: ARF reports and the ESP webhooks (DESIGN.md §2).

``POST /api/v1/feedback/arf`` takes a raw RFC 5322 message behind the ingest
Bearer token; ``POST /api/v1/webhooks/{ses,sendgrid,mailgun,postmark}`` take the
provider's payload, verified as the provider specifies (signatures over the raw
body bytes). A refusal stores nothing; an acknowledgement (202) means committed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from monitor.config import Config, resolve_secret
from monitor.http import app as http_app  # a module, not names: app.py imports this one
from monitor.http.auth import check_bearer
from monitor.http.errors import json_error
from monitor.ingest.errors import IngestError, MalformedReportError, NotArfError
from monitor.ingest.service import ingest_arf
from monitor.ingest.webhooks import (
    MailgunWebhookConfig,
    MalformedPayload,
    PinnedCertificates,
    PostmarkWebhookConfig,
    Reason,
    SendgridWebhookConfig,
    SesWebhookConfig,
    SnsType,
    TokenCache,
    WebhookConfigError,
    WebhookRefused,
    check_postmark_credentials,
    handle_mailgun,
    handle_sendgrid,
    handle_ses,
    load_verification_key,
    parse_postmark,
)
from monitor.model.errors import ConfigError
from monitor.model.events import Event
from monitor.model.privacy import PrivacyError
from monitor.store import StoreUnavailableError

__all__ = [
    "ARF_CONTENT_TYPES",
    "CONFIRM_TIMEOUT_SECONDS",
    "KEY_CONFIRMER",
    "KEY_WEBHOOKS",
    "Confirmer",
    "WebhookSettings",
    "add_routes",
    "build_webhook_settings",
    "confirm_subscription",
]

log = logging.getLogger(__name__)

ARF_CONTENT_TYPES = frozenset({"message/rfc822", "text/plain", "application/octet-stream"})
CONFIRM_TIMEOUT_SECONDS = 5.0

# GETs a checked SNS SubscribeURL and returns the HTTP status; raises aiohttp.ClientError
# or TimeoutError when there is no answer. Injectable so tests can answer locally.
Confirmer = Callable[[str], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """Verifier configs built once per app; None for a provider without a section (404)."""

    ses: SesWebhookConfig | None = None
    sendgrid: SendgridWebhookConfig | None = None
    mailgun: MailgunWebhookConfig | None = None
    postmark: PostmarkWebhookConfig | None = None
    mailgun_tokens: TokenCache = field(default_factory=TokenCache)


KEY_WEBHOOKS = web.AppKey("feedback_webhooks", WebhookSettings)
KEY_CONFIRMER: web.AppKey[Confirmer] = web.AppKey("feedback_sns_confirmer")


async def confirm_subscription(url: str) -> int:
    """GET a verified SubscribeURL: no redirects followed, a 5 s timeout; the HTTP status."""
    timeout = aiohttp.ClientTimeout(total=CONFIRM_TIMEOUT_SECONDS)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.get(url, allow_redirects=False) as response,
    ):
        return response.status


def add_routes(app: web.Application) -> None:
    """Register the ARF and webhook routes; the webhook verifiers are built here, once.

    Raises:
        ConfigError: a ``[webhooks.<provider>]`` section that cannot be used (a missing
            secret, a bad key, an unreadable certificate file), every problem listed.
    """
    app[KEY_WEBHOOKS] = build_webhook_settings(app[http_app.KEY_DEPS].config)
    app[KEY_CONFIRMER] = confirm_subscription
    app.router.add_post("/api/v1/feedback/arf", _post_arf)
    app.router.add_post("/api/v1/webhooks/ses", _post_ses)
    app.router.add_post("/api/v1/webhooks/sendgrid", _post_sendgrid)
    app.router.add_post("/api/v1/webhooks/mailgun", _post_mailgun)
    app.router.add_post("/api/v1/webhooks/postmark", _post_postmark)


def build_webhook_settings(config: Config) -> WebhookSettings:
    """The verifier config of every configured provider.

    Raises:
        ConfigError: every unusable setting at once.
    """
    hooks = config.webhooks
    problems: list[str] = []
    ses = sendgrid = mailgun = postmark = None
    if hooks.ses is not None:
        try:
            ses = SesWebhookConfig(
                topic_arns=frozenset(hooks.ses.topic_arns),
                certificates=PinnedCertificates.from_files(hooks.ses.certificate_files),
                campaign_field=hooks.ses.campaign_field,
                campaign_headers=tuple(config.feedback.campaign_headers),
            )
        except WebhookConfigError as exc:
            problems.append(f"webhooks.ses.certificate_files: {exc.message}")
        if not hooks.ses.topic_arns or not hooks.ses.certificate_files:
            log.warning("webhooks.ses needs topic_arns and certificate_files: all refused")
    if hooks.sendgrid is not None:
        key = _secret(hooks.sendgrid.verification_key, "sendgrid.verification_key", problems)
        if key is not None:
            try:
                sendgrid = SendgridWebhookConfig(
                    verification_key=load_verification_key(key),
                    campaign_field=hooks.sendgrid.campaign_field,
                    max_age=dt.timedelta(seconds=hooks.sendgrid.max_age_seconds),
                )
            except WebhookConfigError as exc:
                problems.append(f"webhooks.sendgrid.verification_key: {exc.message}")
    if hooks.mailgun is not None:
        key = _secret(hooks.mailgun.signing_key, "mailgun.signing_key", problems)
        if key is not None:
            mailgun = MailgunWebhookConfig(
                signing_key=key,
                campaign_field=hooks.mailgun.campaign_field,
                max_age=dt.timedelta(seconds=hooks.mailgun.max_age_seconds),
            )
    if hooks.postmark is not None:
        username = _secret(hooks.postmark.username, "postmark.username", problems)
        password = _secret(hooks.postmark.password, "postmark.password", problems)
        if username is not None and password is not None:
            postmark = PostmarkWebhookConfig(
                username=username,
                password=password,
                campaign_field=hooks.postmark.campaign_field,
            )
    if problems:
        raise ConfigError(problems, source="[webhooks]")
    return WebhookSettings(ses=ses, sendgrid=sendgrid, mailgun=mailgun, postmark=postmark)


def _secret(value: str | None, name: str, problems: list[str]) -> str | None:
    resolved = resolve_secret(value) if value else None
    if resolved is None:
        problems.append(f"webhooks.{name}: missing (or its environment variable is unset)")
    return resolved


# --- ARF --------------------------------------------------------------------------


async def _post_arf(request: web.Request) -> web.Response:
    deps = _deps(request)
    denied = check_bearer(request, deps.ingest_token)
    if denied is not None:
        return denied
    if request.content_type not in ARF_CONTENT_TYPES:
        return json_error(
            415, "Content-Type must be message/rfc822, text/plain or application/octet-stream"
        )
    raw = await request.read()  # over max_body_bytes: 413 (error middleware)
    if not raw.strip():
        return _refuse_arf(MalformedReportError("empty", "the message is empty"))
    try:
        result = await ingest_arf(
            raw,
            store=deps.store,
            pseudonymizer=deps.pseudonymizer,
            campaign_headers=tuple(deps.config.feedback.campaign_headers),
            store_raw=deps.config.privacy.store_raw,
            now=deps.clock(),
        )
    except IngestError as exc:
        return _refuse_arf(exc)
    except PrivacyError:
        return _refuse_arf(MalformedReportError("invalid_recipient", "a recipient is unusable"))
    except StoreUnavailableError:
        return _store_unavailable()
    return web.json_response(
        {
            "id": result.id,
            "campaign": result.campaign,
            "feedback_type": result.feedback_type,
            "duplicate": result.duplicate,
        },
        status=202,
    )


def _refuse_arf(exc: IngestError) -> web.Response:
    status = 422 if isinstance(exc, NotArfError) else 400
    log.warning("ARF report refused: %s", exc.reason)
    return json_error(status, exc.message, reason=exc.reason)


# --- webhooks ---------------------------------------------------------------------


async def _post_ses(request: web.Request) -> web.Response:
    config = request.app[KEY_WEBHOOKS].ses
    if config is None:
        return _not_configured()
    body = await request.read()
    try:
        outcome = handle_ses(body, config=config, now=_deps(request).clock())
    except WebhookRefused as exc:
        return _refuse_webhook(exc)
    if outcome.confirm_url is not None:
        return await _confirm(request, outcome.confirm_url)
    if outcome.message.type is SnsType.UNSUBSCRIBE_CONFIRMATION:
        log.info("SNS unsubscribe confirmation received for a topic")
    return await _store_events(request, outcome.events)


async def _confirm(request: web.Request, url: str) -> web.Response:
    """Confirm an SNS subscription whose signature, host and Action were checked."""
    try:
        status = await request.app[KEY_CONFIRMER](url)
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("SNS subscription confirmation failed: %s", type(exc).__name__)
        return json_error(502, "subscription confirmation failed: no answer from SNS")
    if status != 200:
        log.warning("SNS subscription confirmation failed: HTTP %d", status)
        return json_error(502, "subscription confirmation failed", upstream_status=status)
    log.info("SNS subscription confirmed")
    return web.json_response({"confirmed": True}, status=202)


async def _post_sendgrid(request: web.Request) -> web.Response:
    config = request.app[KEY_WEBHOOKS].sendgrid
    if config is None:
        return _not_configured()
    body = await request.read()
    try:
        events = handle_sendgrid(body, request.headers, config=config, now=_deps(request).clock())
    except WebhookRefused as exc:
        return _refuse_webhook(exc)
    return await _store_events(request, events)


async def _post_mailgun(request: web.Request) -> web.Response:
    settings = request.app[KEY_WEBHOOKS]
    if settings.mailgun is None:
        return _not_configured()
    body = await request.read()
    try:
        events = handle_mailgun(
            body,
            config=settings.mailgun,
            replay_cache=settings.mailgun_tokens,
            now=_deps(request).clock(),
        )
    except WebhookRefused as exc:
        return _refuse_webhook(exc)
    response = await _store_events(request, events)
    if response.status >= 500:
        # Nothing was stored: Mailgun will retry with the same token, which must not be
        # refused as a replay, or the event would be lost.
        token = _mailgun_token(body)
        if token is not None:
            settings.mailgun_tokens.forget(token)
    return response


def _mailgun_token(body: bytes) -> str | None:
    try:
        token = json.loads(body)["signature"]["token"]
    except (ValueError, KeyError, TypeError):
        return None
    return token if isinstance(token, str) else None


async def _post_postmark(request: web.Request) -> web.Response:
    config = request.app[KEY_WEBHOOKS].postmark
    if config is None:
        return _not_configured()
    try:  # credentials before the body is read: a stranger's body is never buffered
        check_postmark_credentials(
            request.headers.get("Authorization"),
            username=config.username,
            password=config.password,
        )
        events = parse_postmark(await request.read(), campaign_field=config.campaign_field)
    except WebhookRefused as exc:
        return _refuse_webhook(exc)
    return await _store_events(request, events)


async def _store_events(request: web.Request, events: tuple[Event, ...]) -> web.Response:
    """Commit the events, then acknowledge (202); a re-delivered event is a duplicate."""
    accepted = duplicates = 0
    if events:
        deps = _deps(request)
        try:
            result = await deps.store.add_events(events, deps.pseudonymizer)
        except ValueError:  # PrivacyError too: an unusable recipient or campaign, nothing stored
            return _refuse_webhook(
                MalformedPayload("a recipient or campaign is unusable", provider=events[0].source)
            )
        except StoreUnavailableError:
            return _store_unavailable()
        accepted, duplicates = result.accepted, result.duplicates
    return web.json_response({"accepted": accepted, "duplicates": duplicates}, status=202)


def _deps(request: web.Request) -> http_app.HttpDeps:
    return request.app[http_app.KEY_DEPS]


def _refuse_webhook(exc: WebhookRefused) -> web.Response:
    """400 malformed, 401 missing credentials, 403 for every other refusal."""
    log.warning("%s webhook refused: %s", exc.provider.value, exc.reason.value)
    if isinstance(exc, MalformedPayload):
        return json_error(400, exc.message, reason=exc.reason.value)
    if exc.reason is Reason.MISSING_CREDENTIALS:
        response = json_error(401, exc.message, reason=exc.reason.value)
        response.headers["WWW-Authenticate"] = 'Basic realm="delivermon"'
        return response
    return json_error(403, exc.message, reason=exc.reason.value)


def _not_configured() -> web.Response:
    return json_error(404, "webhook not configured")


def _store_unavailable() -> web.Response:
    # 503 so the sender retries later; nothing was acknowledged.
    log.warning("feedback refused: store unavailable")
    return json_error(503, "store unavailable, retry later")
