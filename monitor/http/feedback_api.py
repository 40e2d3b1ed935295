"""Feedback ingestion routes: ARF reports and the ESP webhooks (DESIGN.md §2).

``POST /api/v1/feedback/arf`` takes a raw RFC 5322 message behind the ingest
Bearer token; ``POST /api/v1/webhooks/{ses,sendgrid,mailgun,postmark}`` take the
provider's payload, verified as the provider specifies (signatures over the raw
body bytes). A refusal stores nothing; an acknowledgement (202) means committed.
"""

from __future__ import annotations

import hashlib
import logging

import aiohttp
from aiohttp import web

from monitor.http.context import KEY_CONTEXT, HttpContext
from monitor.http.errors import (
    KEY_WEBHOOK_REFUSALS,
    SKIPPED_ITEMS,
    RepeatedWarning,
    json_error,
    store_unavailable,
)
from monitor.http.mail_api import kind_route
from monitor.http.routes import Access, Handler, RouteSpec
from monitor.ingest.errors import WrongKindError
from monitor.ingest.events import MAX_AHEAD
from monitor.ingest.kinds import ARF, BOUNCE
from monitor.ingest.webhooks import (
    AuthenticityRefused,
    MalformedPayload,
    PinnedCertificates,
    Reason,
    SesVerifier,
    SkippedItem,
    SnsType,
    WebhookRefused,
    check_postmark_credentials,
    fetchable_cert_url,
    handle_mailgun,
    handle_sendgrid,
    handle_ses,
    parse_postmark,
)
from monitor.model.events import Event, Source
from monitor.model.jsontext import loads_strict
from monitor.store import StoreUnavailableError

__all__ = ["ARF_CONTENT_TYPES", "ROUTES"]

log = logging.getLogger(__name__)
# For an app built without build_app (which gives each app its own).
_REFUSALS = RepeatedWarning(log)

ARF_CONTENT_TYPES = frozenset({"message/rfc822", "text/plain", "application/octet-stream"})


# --- webhooks ---------------------------------------------------------------------


async def _post_ses(request: web.Request) -> web.Response:
    context = _context(request)
    verifier = context.settings().webhooks.ses
    if verifier is None:
        return _not_configured()
    body = await request.read()
    try:
        certificates = await _sns_certificates(context, verifier, body, request.remote or "")
        outcome = handle_ses(body, config=verifier, now=context.clock(), certificates=certificates)
    except WebhookRefused as exc:
        return _refuse_webhook(request, exc)
    if outcome.confirm_url is not None:
        return await _confirm(request, outcome.confirm_url)
    if outcome.message.type is SnsType.UNSUBSCRIBE_CONFIRMATION:
        log.info("SNS unsubscribe confirmation received for a topic")
    return await _store_events(request, outcome.events)


async def _sns_certificates(
    context: HttpContext, verifier: SesVerifier, body: bytes, peer: str
) -> PinnedCertificates | None:
    """The pinned certificates plus, when the message's is not pinned and fetching is on,
    the one its SigningCertURL names (fetched, cached); None: the pinned ones as they are.

    Raises:
        AuthenticityRefused, CertificateUnavailable: from the fetcher.
    """
    if not verifier.fetch_certificates:
        return None
    try:
        message = loads_strict(body)
    except ValueError:
        return None  # handle_ses refuses it with its reason
    if not isinstance(message, dict):
        return None
    url = fetchable_cert_url(message, topic_arns=verifier.topic_arns)
    if url is None or verifier.certificates.lookup(url):
        return None
    keys = await context.sns_certificates.keys(url, peer)
    return verifier.certificates.with_keys(url, keys)


async def _confirm(request: web.Request, url: str) -> web.Response:
    """Confirm an SNS subscription whose signature, host and Action were checked."""
    try:
        status = await _context(request).confirm(url)
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:  # OSError: OutboundRefused
        log.warning("SNS subscription confirmation failed: %s", type(exc).__name__)
        return json_error(502, "subscription confirmation failed: no answer from SNS")
    if status != 200:
        log.warning("SNS subscription confirmation failed: HTTP %d", status)
        return json_error(502, "subscription confirmation failed", upstream_status=status)
    log.info("SNS subscription confirmed")
    return web.json_response({"confirmed": True}, status=202)


async def _post_sendgrid(request: web.Request) -> web.Response:
    context = _context(request)
    verifier = context.settings().webhooks.sendgrid
    if verifier is None:
        return _not_configured()
    body = await request.read()
    try:
        batch = handle_sendgrid(body, request.headers, config=verifier, now=context.clock())
    except WebhookRefused as exc:
        return _refuse_webhook(request, exc)
    if batch.skipped:
        first = batch.skipped[0]
        log.warning(
            "sendgrid webhook: %d item(s) skipped, the rest stored; first: item %d: %s",
            len(batch.skipped),
            first.index,
            first.message,
        )
    return await _store_events(request, batch.events, skipped=batch.skipped)


async def _post_mailgun(request: web.Request) -> web.Response:
    context = _context(request)
    verifier = context.settings().webhooks.mailgun
    if verifier is None:
        return _not_configured()
    body = await request.read()
    try:
        events = handle_mailgun(
            body,
            config=verifier,
            replay_cache=context.mailgun_tokens,
            now=context.clock(),
        )
    except WebhookRefused as exc:
        return _refuse_webhook(request, exc)
    token = _mailgun_token(body)
    # The token is claimed in the store with the events (and when delivermon ignores the
    # event): another replica, or this one after a restart, refuses it as a replay.
    claim = None if token is None else (Source.MAILGUN, _sha256(token))
    response = await _store_events(request, events, claim=claim)
    if response.status >= 500 and token is not None:
        # Nothing was stored: Mailgun will retry with the same token, which must not be
        # refused as a replay, or the event would be lost.
        context.mailgun_tokens.forget(token)
    return response


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _mailgun_token(body: bytes) -> str | None:
    try:
        token = loads_strict(body)["signature"]["token"]  # type: ignore[index]  # checked below
    except (ValueError, KeyError, TypeError):
        return None
    return token if isinstance(token, str) else None


async def _post_postmark(request: web.Request) -> web.Response:
    config = _context(request).settings().webhooks.postmark
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
        return _refuse_webhook(request, exc)
    return await _store_events(request, events)


async def _store_events(
    request: web.Request,
    events: tuple[Event, ...],
    *,
    skipped: tuple[SkippedItem, ...] = (),
    claim: tuple[Source, str] | None = None,
) -> web.Response:
    """Commit the events, then acknowledge (202); a re-delivered event is a duplicate.
    The items of the batch that could not be read (``skipped``) are named in the answer.
    ``claim``: (provider, SHA-256 of a signature's token) the request may use once
    (``Store.add_events``, under the event keys' source ``<provider>-token``), claimed
    even when there is no event; taken already, the request is a replay (403)."""
    accepted = duplicates = 0
    if events or claim is not None:
        context = _context(request)
        latest = context.clock() + MAX_AHEAD
        if any(e.occurred_at > latest for e in events):
            # It would sit in every "last hour" window until it came.
            return _refuse_webhook(
                request,
                MalformedPayload(
                    "an event time more than a day ahead of the server's clock",
                    provider=events[0].source,
                ),
            )
        try:
            used = None if claim is None else (f"{claim[0].value}-token", claim[1])
            result = await context.store.add_events(events, context.pseudonymizer, claim=used)
        except ValueError:  # PrivacyError too: an unusable recipient or campaign, nothing stored
            return _refuse_webhook(
                request,
                MalformedPayload("a recipient or campaign is unusable", provider=events[0].source),
            )
        except StoreUnavailableError:
            return store_unavailable(request, "feedback")
        if result.replayed and claim is not None:
            return _refuse_webhook(
                request,
                AuthenticityRefused(
                    Reason.REPLAYED, "this token was already used", provider=claim[0]
                ),
            )
        accepted, duplicates = result.accepted, result.duplicates
    answer: dict[str, object] = {"accepted": accepted, "duplicates": duplicates}
    if skipped:
        answer["skipped"] = [{"index": item.index, "error": item.message} for item in skipped]
    response = web.json_response(answer, status=202)
    response[SKIPPED_ITEMS] = len(skipped)
    return response


def _context(request: web.Request) -> HttpContext:
    return request.app[KEY_CONTEXT]


def _refuse_webhook(request: web.Request, exc: WebhookRefused) -> web.Response:
    """400 malformed, 401 missing credentials, 403 for every other refusal."""
    provider, reason = exc.provider.value, exc.reason.value
    said = request.app.get(KEY_WEBHOOK_REFUSALS, _REFUSALS)
    said.warn(f"{provider}:{reason}", "%s webhook refused: %s", provider, reason)
    if isinstance(exc, MalformedPayload):
        return json_error(400, exc.message, reason=exc.reason.value)
    if exc.reason is Reason.CERTIFICATE_UNAVAILABLE:
        return json_error(503, exc.message, reason=exc.reason.value)  # nothing stored: retry
    if exc.reason is Reason.MISSING_CREDENTIALS:
        response = json_error(401, exc.message, reason=exc.reason.value)
        response.headers["WWW-Authenticate"] = 'Basic realm="delivermon"'
        return response
    return json_error(403, exc.message, reason=exc.reason.value)


def _not_configured() -> web.Response:
    return json_error(404, "webhook not configured")


def _signed_webhook(provider: str, handler: Handler) -> RouteSpec:
    """A webhook signed over its body (SES, SendGrid, Mailgun): enabled while its
    ``[webhooks.<provider>]`` section is configured."""
    return RouteSpec(
        "POST",
        f"/api/v1/webhooks/{provider}",
        handler,
        Access.PROVIDER,
        source=provider,
        enabled=lambda c: getattr(c.settings().webhooks, provider) is not None,
    )


ROUTES = (
    kind_route(
        ARF,
        "/api/v1/feedback/arf",
        content_types=ARF_CONTENT_TYPES,
        refused_status=lambda exc: 422 if isinstance(exc, WrongKindError) else 400,
    ),
    kind_route(
        BOUNCE,
        "/api/v1/bounces",
        content_types=ARF_CONTENT_TYPES,
        refused_status=lambda exc: 422 if isinstance(exc, WrongKindError) else 400,
    ),
    _signed_webhook("ses", _post_ses),
    _signed_webhook("sendgrid", _post_sendgrid),
    _signed_webhook("mailgun", _post_mailgun),
    RouteSpec(
        "POST",
        "/api/v1/webhooks/postmark",
        _post_postmark,
        Access.PROVIDER,
        source="postmark",
        checks_before_body=True,  # Basic credentials first: a stranger's body is never read
    ),
)
