"""Campaign registry, counts and rates, subject access/erasure and suppression look-ups.

Routes (errors are JSON ``{"error": ...}``; 401 without a Bearer token, 403 with a wrong one):

- ``PUT /api/v1/campaigns/{id}`` (admin token) ``{"category", "consent", "sending_domain"?}``
  → 200 the stored campaign; 400 ``{"error", "errors": [{"field", "message"}]}``; 415.
- ``GET /api/v1/campaigns`` (admin or ingest token) → 200 ``{"min_volume", "campaigns": [...]}``,
  every campaign seen in the counters or registered from config.
- ``GET /api/v1/campaigns/{id}`` (admin or ingest token) → 200 one campaign; 404 if unknown.
- ``GET /api/v1/rates?group_by=category,consent&campaign=ID`` (admin or ingest token) →
  200 ``{"group_by", "campaign", "min_volume", "windows": {"1h": {"since", "groups": [...]}}}``;
  ``group_by`` takes any of campaign, provider, category, consent (none: one overall group).
- ``GET|DELETE /api/v1/subjects/{email}`` (admin token) → 200 export / erasure summary.
- ``GET /api/v1/suppressions/{email}`` (ingest or admin token) →
  200 ``{"suppressed", "reasons", "since"}``.

A campaign (list item or single) is its lifetime figures plus ``windows`` (``1h``, ``24h``,
``7d``, ``lifetime``), each with its figures and ``providers`` (provider → figures). Figures
are ``sent``, ``delivered``, ``bounces`` (and per kind), ``complaints``, ``unsubscribes``,
``unsubscribe_violations`` (sends over 48 h after an opt-out), ``complaint_rate``,
``unsubscribe_rate`` (per delivered), ``bounce_rate`` (per sent) and ``meaningful``. Below
``[feedback] min_volume`` delivered, the per-delivered rates are ``null`` and ``meaningful``
is false (below ``min_volume`` sent, ``bounce_rate`` is ``null``): never a misleading 0.

Reading aggregates takes either token: they hold no personal data, but they are business
data, and the sending pipeline that holds the ingest token may watch its own rates.
Subject routes never echo the address; the subject is named by a pseudonym prefix.
Campaigns in ``[[campaigns]]`` are registered (upserted) when the app starts: config wins.
The address is in the path of the subject and suppression routes: run the app with
``access_log_class=RedactingAccessLogger`` so aiohttp's access log does not carry it.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, TypedDict

from aiohttp import web
from aiohttp.web_log import AccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from checks.domains import DomainError, to_a_label

# app.py imports this module while it is itself being imported; the module import (not
# ``from ... import KEY_DEPS``) resolves, and KEY_DEPS is read when a request arrives.
from monitor.http import app as http_app
from monitor.http.auth import check_bearer
from monitor.http.errors import json_error
from monitor.model.events import Category, Consent
from monitor.model.privacy import PrivacyError
from monitor.store.audits import AUDIT_FIELDS, AuditCounts
from monitor.store.models import Campaign, EraseResult, SubjectExport
from monitor.store.rates import (
    DIMENSIONS,
    CountRow,
    Dimension,
    RateRow,
    Rates,
    Totals,
    VolumeGuard,
    Window,
    group_rows,
    window_start,
)

__all__ = [
    "CAMPAIGN_ID",
    "CampaignIn",
    "RedactingAccessLogger",
    "add_routes",
    "erasure_document",
    "export_document",
]

log = logging.getLogger(__name__)

# Printable ASCII, no spaces: a campaign id becomes a metric label.
CAMPAIGN_ID = re.compile(r"[\x21-\x3f\x41-\x7e]{1,128}")  # no @: never an address
_SUBJECT_PREFIX = 12  # hex digits of the pseudonym that name a subject in answers and logs
_PERSONAL_PREFIXES = ("/api/v1/subjects/", "/api/v1/suppressions/")
_KEPT_NOTE = (
    "a pseudonymous suppression marker is kept: it is what keeps honouring the opt-out "
    "(GDPR Art. 17(3), Art. 21)"
)


class CampaignIn(BaseModel):
    """Body of ``PUT /api/v1/campaigns/{id}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: Category
    consent: Consent
    sending_domain: Annotated[str, Field(min_length=1, max_length=253)] | None = None

    @field_validator("sending_domain")
    @classmethod
    def _domain_is_a_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return to_a_label(value)
        except DomainError:
            raise ValueError("not a valid domain name") from None


# --- JSON shapes -------------------------------------------------------------


class FiguresJson(TypedDict):
    sent: int
    delivered: int
    bounces: int
    bounces_permanent: int
    bounces_transient: int
    bounces_undetermined: int
    complaints: int
    unsubscribes: int
    unsubscribe_violations: int
    complaint_rate: float | None
    unsubscribe_rate: float | None
    bounce_rate: float | None
    meaningful: bool


class WindowJson(FiguresJson):
    since: str | None
    providers: dict[str, FiguresJson]


class CampaignJson(FiguresJson):
    campaign: str
    category: str | None
    consent: str | None
    sending_domain: str | None
    registered: bool
    windows: dict[str, WindowJson]


def add_routes(app: web.Application) -> None:
    """Register the campaign, rate, subject and suppression routes and the startup hook."""
    app.router.add_put("/api/v1/campaigns/{id}", _put_campaign)
    app.router.add_get("/api/v1/campaigns", _list_campaigns)
    app.router.add_get("/api/v1/campaigns/{id}", _get_campaign)
    app.router.add_get("/api/v1/rates", _get_rates)
    app.router.add_get("/api/v1/subjects/{email}", _export_subject)
    app.router.add_delete("/api/v1/subjects/{email}", _erase_subject)
    app.router.add_get("/api/v1/suppressions/{email}", _get_suppression)
    app.on_startup.append(_register_configured_campaigns)


async def _register_configured_campaigns(app: web.Application) -> None:
    deps = app[http_app.KEY_DEPS]
    for campaign in deps.config.campaigns:
        await deps.store.upsert_campaign(
            campaign.id,
            category=campaign.category,
            consent=campaign.consent,
            sending_domain=campaign.sending_domain,
        )
    if deps.config.campaigns:
        log.info("campaigns registered from config", extra={"count": len(deps.config.campaigns)})


def _authorize(request: web.Request, *tokens: str | None) -> web.Response | None:
    """None when the request carries any of ``tokens``; else the 401/403 to send."""
    denied = check_bearer(request, None)
    for token in tokens:
        denied = check_bearer(request, token)
        if denied is None:
            return None
    return denied


# --- campaigns ---------------------------------------------------------------


async def _put_campaign(request: web.Request) -> web.Response:
    deps = request.app[http_app.KEY_DEPS]
    denied = _authorize(request, deps.admin_token)
    if denied is not None:
        return denied
    if request.content_type != "application/json":
        return json_error(415, "Content-Type must be application/json")
    campaign_id = request.match_info["id"]
    errors: list[dict[str, str]] = []
    if not CAMPAIGN_ID.fullmatch(campaign_id):
        errors.append({"field": "id", "message": "1 to 128 printable ASCII characters, no spaces"})
    body = await request.json()
    try:
        item = CampaignIn.model_validate(body)
    except ValidationError as exc:
        errors += [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"]}
            for e in exc.errors()
        ]
    if errors:
        return json_error(400, "invalid campaign", errors=errors)
    stored = await deps.store.upsert_campaign(
        campaign_id,
        category=item.category,
        consent=item.consent,
        sending_domain=item.sending_domain,
    )
    log.info("campaign registered", extra={"campaign": campaign_id})
    return web.json_response(_registry_document(stored))


async def _list_campaigns(request: web.Request) -> web.Response:
    deps = request.app[http_app.KEY_DEPS]
    denied = _authorize(request, deps.admin_token, deps.ingest_token)
    if denied is not None:
        return denied
    windows = await _window_rows(request, campaign=None)
    registered = {c.id: c for c in await deps.store.list_campaigns()}  # one query, not one each
    audits = {a.campaign: a for a in await deps.store.audit_counts()}
    ids = {row.campaign for row in windows[Window.LIFETIME][1]} | set(registered) | set(audits)
    documents = [
        {
            **_campaign_document(
                campaign_id, registered.get(campaign_id), windows, _guard(request)
            ),
            "one_click_audit": _audit_json(audits.get(campaign_id)),
        }
        for campaign_id in sorted(ids)
    ]
    return web.json_response({"min_volume": _min_volume(request), "campaigns": documents})


async def _get_campaign(request: web.Request) -> web.Response:
    deps = request.app[http_app.KEY_DEPS]
    denied = _authorize(request, deps.admin_token, deps.ingest_token)
    if denied is not None:
        return denied
    campaign_id = request.match_info["id"]
    registered = await deps.store.get_campaign(campaign_id)
    windows = await _window_rows(request, campaign=campaign_id)
    audits = await deps.store.audit_counts(campaign_id)
    if registered is None and not windows[Window.LIFETIME][1] and not audits:
        return json_error(404, "unknown campaign")
    document = _campaign_document(campaign_id, registered, windows, _guard(request))
    audit = _audit_json(audits[0] if audits else None)
    return web.json_response(
        {"min_volume": _min_volume(request), **document, "one_click_audit": audit}
    )


def _audit_json(counts: AuditCounts | None) -> dict[str, int]:
    """The original-message audit of the campaign's complained-about messages (RFC 8058)."""
    if counts is None:
        return dict.fromkeys(AUDIT_FIELDS, 0)
    return {name: getattr(counts, name) for name in AUDIT_FIELDS}


async def _get_rates(request: web.Request) -> web.Response:
    deps = request.app[http_app.KEY_DEPS]
    denied = _authorize(request, deps.admin_token, deps.ingest_token)
    if denied is not None:
        return denied
    by = _group_by(request.query.getall("group_by", []))
    if by is None:
        return json_error(400, "group_by takes campaign, provider, category and/or consent")
    campaign = request.query.get("campaign")
    found = await deps.store.rates(
        by=by, campaign=campaign, now=deps.clock(), guard=_guard(request)
    )
    return web.json_response(
        {
            "group_by": list(by),
            "campaign": campaign,
            "min_volume": _min_volume(request),
            "windows": {
                w.window.value: {
                    "since": _iso(w.since),
                    "groups": [_group_document(row, by) for row in w.rows],
                }
                for w in found
            },
        }
    )


def _group_by(values: Iterable[str]) -> tuple[Dimension, ...] | None:
    """Dimensions named in ``group_by`` (repeated or comma-separated), or None if any is unknown."""
    chosen: list[Dimension] = []
    for value in values:
        for part in filter(None, (p.strip() for p in value.split(","))):
            dimension = next((d for d in DIMENSIONS if d == part), None)
            if dimension is None:
                return None
            if dimension not in chosen:
                chosen.append(dimension)
    return tuple(chosen)


_WindowRows = dict[Window, tuple[dt.datetime | None, tuple[CountRow, ...]]]


async def _window_rows(request: web.Request, *, campaign: str | None) -> _WindowRows:
    """Counter rows of every window: one query per window, grouped in memory after."""
    deps = request.app[http_app.KEY_DEPS]
    now = deps.clock()
    found: _WindowRows = {}
    for window in Window:
        since = window_start(window, now)
        found[window] = (since, await deps.store.counts(campaign=campaign, since=since))
    return found


def _campaign_document(
    campaign_id: str, registered: Campaign | None, windows: _WindowRows, guard: VolumeGuard
) -> CampaignJson:
    windows_json: dict[str, WindowJson] = {}
    for window, (since, all_rows) in windows.items():
        rows = [r for r in all_rows if r.campaign == campaign_id]
        (overall,) = group_rows(rows, (), guard)
        providers = {
            row.provider or "": _figures(row.totals, row.rates)
            for row in group_rows(rows, ("provider",), guard)
        }
        windows_json[window.value] = {
            **_figures(overall.totals, overall.rates),
            "since": _iso(since),
            "providers": providers,
        }
    lifetime = [r for r in windows[Window.LIFETIME][1] if r.campaign == campaign_id]
    (total,) = group_rows(lifetime, (), guard)
    return {
        "campaign": campaign_id,
        # Registered labels win; otherwise the one the counted events carried, if unique.
        "category": registered.category.value
        if registered and registered.category
        else _only(r.category for r in lifetime if r.category != "unknown"),
        "consent": registered.consent.value
        if registered and registered.consent
        else _only(r.consent for r in lifetime),
        "sending_domain": registered.sending_domain if registered else None,
        "registered": registered is not None,
        **_figures(total.totals, total.rates),
        "windows": windows_json,
    }


def _only(values: Iterable[str]) -> str | None:
    distinct = set(values)
    return distinct.pop() if len(distinct) == 1 else None


def _group_document(row: RateRow, by: Sequence[Dimension]) -> dict[str, object]:
    labels = {
        "campaign": row.campaign,
        "provider": row.provider,
        "category": row.category,
        "consent": row.consent,
    }
    return {**{d: labels[d] for d in by}, **_figures(row.totals, row.rates)}


def _figures(totals: Totals, rates: Rates) -> FiguresJson:
    return {
        "sent": totals.sent,
        "delivered": totals.delivered,
        "bounces": totals.bounces,
        "bounces_permanent": totals.bounces_permanent,
        "bounces_transient": totals.bounces_transient,
        "bounces_undetermined": totals.bounces_undetermined,
        "complaints": totals.complaints,
        "unsubscribes": totals.unsubscribes,
        "unsubscribe_violations": totals.unsubscribe_violations,
        "complaint_rate": rates.complaint_rate,
        "unsubscribe_rate": rates.unsubscribe_rate,
        "bounce_rate": rates.bounce_rate,
        # The per-delivered rates, the ones Gmail's and Yahoo's thresholds apply to.
        "meaningful": rates.complaint_rate is not None,
    }


def _registry_document(campaign: Campaign) -> dict[str, object]:
    return {
        "campaign": campaign.id,
        "category": campaign.category.value if campaign.category else None,
        "consent": campaign.consent.value if campaign.consent else None,
        "sending_domain": campaign.sending_domain,
        "created_at": _iso(campaign.created_at),
        "updated_at": _iso(campaign.updated_at),
    }


def _min_volume(request: web.Request) -> int:
    return request.app[http_app.KEY_DEPS].config.feedback.min_volume


def _guard(request: web.Request) -> VolumeGuard:
    volume = _min_volume(request)
    return VolumeGuard(min_delivered=volume, min_sent=volume)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# --- subjects and suppressions -----------------------------------------------


def _pseudonym(request: web.Request) -> str | None:
    """The subject's pseudonym, or None when the path holds no address (never echoed)."""
    try:
        return request.app[http_app.KEY_DEPS].pseudonymizer.pseudonym(request.match_info["email"])
    except PrivacyError:
        return None


async def _export_subject(request: web.Request) -> web.Response:
    deps = request.app[http_app.KEY_DEPS]
    denied = _authorize(request, deps.admin_token)
    if denied is not None:
        return denied
    pseudonym = _pseudonym(request)
    if pseudonym is None:
        return json_error(400, "not an e-mail address")
    export = await deps.store.export_subject(pseudonym)
    log.info("subject exported", extra={"subject": pseudonym[:_SUBJECT_PREFIX]})
    return web.json_response(export_document(export))


async def _erase_subject(request: web.Request) -> web.Response:
    deps = request.app[http_app.KEY_DEPS]
    denied = _authorize(request, deps.admin_token)
    if denied is not None:
        return denied
    pseudonym = _pseudonym(request)
    if pseudonym is None:
        return json_error(400, "not an e-mail address")
    result = await deps.store.erase_subject(pseudonym)
    log.info(
        "subject erased",
        extra={
            "subject": pseudonym[:_SUBJECT_PREFIX],
            "reports": result.reports,
            "events": result.events,
        },
    )
    return web.json_response(erasure_document(pseudonym, result))


async def _get_suppression(request: web.Request) -> web.Response:
    deps = request.app[http_app.KEY_DEPS]
    denied = _authorize(request, deps.ingest_token, deps.admin_token)
    if denied is not None:
        return denied
    pseudonym = _pseudonym(request)
    if pseudonym is None:
        return json_error(400, "not an e-mail address")
    # The common answer (not suppressed) costs one indexed look-up; details only when needed.
    if not await deps.store.is_suppressed(pseudonym):
        return web.json_response({"suppressed": False, "reasons": [], "since": None})
    marks = (await deps.store.export_subject(pseudonym)).suppressions
    return web.json_response(
        {
            "suppressed": True,
            "reasons": sorted({m.reason.value for m in marks}),
            "since": _iso(min((m.first_at for m in marks), default=None)),
        }
    )


def export_document(export: SubjectExport) -> dict[str, object]:
    """The JSON export of one subject (API and CLI): reports, events, suppressions."""
    return {
        "subject": export.pseudonym[:_SUBJECT_PREFIX],
        "reports": [
            {
                "id": r.id,
                "received_at": _iso(r.received_at),
                "arrival_date": _iso(r.arrival_date),
                "feedback_type": r.feedback_type,
                "campaign": r.campaign,
                "provider": r.provider,
                "source_ip": r.source_ip,
                "reporter": r.reporter,
                "user_agent": r.user_agent,
            }
            for r in export.reports
        ],
        "events": [
            {
                "type": e.type,
                "campaign": e.campaign,
                "provider": e.provider,
                "occurred_at": _iso(e.occurred_at),
                "source": e.source,
                "bounce_kind": e.bounce_kind,
                "feedback_type": e.feedback_type,
            }
            for e in export.events
        ],
        "suppressed": export.suppressed,
        "suppressions": [
            {"reason": s.reason.value, "since": _iso(s.first_at)} for s in export.suppressions
        ],
    }


def erasure_document(pseudonym: str, result: EraseResult) -> dict[str, object]:
    """What an erasure removed (API and CLI), and whether the suppression marker stays."""
    return {
        "subject": pseudonym[:_SUBJECT_PREFIX],
        "removed": {"reports": result.reports, "events": result.events},
        "suppression_kept": result.suppression_kept,
        "note": _KEPT_NOTE if result.suppression_kept else None,
    }


class RedactingAccessLogger(AccessLogger):
    """aiohttp's access log, with the address in subject and suppression paths replaced.

    ``/api/v1/subjects/alice%40example.com`` is logged as ``/api/v1/subjects/redacted``;
    pass it as ``access_log_class`` to ``web.AppRunner`` (or ``web.run_app``).
    """

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        # request.path is decoded, so an encoded prefix (%73ubjects) is caught too.
        prefix = next((p for p in _PERSONAL_PREFIXES if request.path.startswith(p)), None)
        if prefix is not None:
            try:
                request = request.clone(rel_url=f"{prefix}redacted")
            except RuntimeError:
                return  # a body was read, the request cannot be cloned: no line, no address
        super().log(request, response, time)
