"""Campaign registry, counts and rates.

Routes (errors are JSON ``{"error": ...}``; 401 without a Bearer token, 403 with a wrong one):

- ``PUT /api/v1/campaigns/{id}`` (admin token) ``{"category", "consent", "sending_domain"?}``
  → 200 the stored campaign; 400 ``{"error", "errors": [{"field", "message"}]}``; 415.
- ``GET /api/v1/campaigns`` (admin or ingest token) → 200 ``{"min_volume", "campaigns": [...]}``,
  every campaign seen in the counters or registered from config.
- ``GET /api/v1/campaigns/{id}`` (admin or ingest token) → 200 one campaign; 404 if unknown.
- ``GET /api/v1/rates?group_by=category,consent&campaign=ID`` (admin or ingest token) →
  200 ``{"group_by", "campaign", "min_volume", "windows": {"1h": {"since", "groups": [...]}}}``;
  ``group_by`` takes any of campaign, provider, category, consent (none: one overall group).

A campaign (list item or single) is its lifetime figures plus ``windows`` (``1h``, ``24h``,
``7d``, ``lifetime``), each with its figures and ``providers`` (provider → figures). Figures
are ``sent``, ``delivered``, ``bounces`` (and per kind), ``complaints``, ``unsubscribes``,
``unsubscribe_violations`` (sends over 48 h after an opt-out), ``complaint_rate``,
``unsubscribe_rate`` (per delivered), ``bounce_rate`` (per sent) and ``meaningful``. Below
``[feedback] min_volume`` delivered, the per-delivered rates are ``null`` and ``meaningful``
is false (below ``min_volume`` sent, ``bounce_rate`` is ``null``): never a misleading 0.

Reading aggregates takes either token: they hold no personal data, but they are business
data, and the sending pipeline that holds the ingest token may watch its own rates.
Campaigns in ``[[campaigns]]`` are registered (upserted) by the daemon at start and on each
reload: config wins.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable, Sequence
from typing import Annotated, TypedDict

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from checks.domains import DomainError, to_a_label
from monitor.http.context import KEY_CONTEXT
from monitor.http.errors import json_error, repeated_query
from monitor.http.routes import Access, RouteSpec
from monitor.model.events import Category, Consent
from monitor.model.jsontext import loads_strict
from monitor.store.audits import AUDIT_FIELDS, AuditCounts
from monitor.store.models import Campaign
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
    "ROUTES",
    "CampaignIn",
]

log = logging.getLogger(__name__)

# Printable ASCII, no spaces: a campaign id becomes a metric label.
CAMPAIGN_ID = re.compile(r"[\x21-\x3f\x41-\x7e]{1,128}")  # no @: never an address


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
    category: str
    consent: str
    sending_domain: str | None
    registered: bool
    windows: dict[str, WindowJson]


# --- campaigns ---------------------------------------------------------------


async def _put_campaign(request: web.Request) -> web.Response:
    deps = request.app[KEY_CONTEXT]
    if request.content_type != "application/json":
        return json_error(415, "Content-Type must be application/json")
    campaign_id = request.match_info["id"]
    errors: list[dict[str, str]] = []
    if not CAMPAIGN_ID.fullmatch(campaign_id):
        errors.append({"field": "id", "message": "1 to 128 printable ASCII characters, no spaces"})
    body = loads_strict(await request.read())
    try:
        item = CampaignIn.model_validate(body)
    except ValidationError as exc:
        errors += [
            {
                "field": ".".join("<redacted>" if "@" in str(p) else str(p) for p in e["loc"])
                or "(body)",
                "message": e["msg"],
            }
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
    deps = request.app[KEY_CONTEXT]
    windows = await _window_rows(request, campaign=None)
    registered = {c.id: c for c in await deps.store.list_campaigns()}  # one query, not one each
    # Lifetime, like the figures beside it: what the retention purge deleted included.
    audits = {a.campaign: a for a in await deps.store.audit_counts(purged=True)}
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
    deps = request.app[KEY_CONTEXT]
    campaign_id = request.match_info["id"]
    registered = await deps.store.get_campaign(campaign_id)
    windows = await _window_rows(request, campaign=campaign_id)
    audits = await deps.store.audit_counts(campaign_id, purged=True)
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
    deps = request.app[KEY_CONTEXT]
    if (twice := repeated_query(request, ("campaign",))) is not None:
        return twice
    by = _group_by(request.query.getall("group_by", []))
    if by is None:
        return json_error(400, "group_by takes campaign, provider, category and/or consent")
    campaign = request.query.get("campaign")
    if campaign is not None and not CAMPAIGN_ID.fullmatch(campaign):
        # No campaign is spelt so (events refuse it): an answer echoing it (an address,
        # say) would only hide the typo.
        return json_error(400, "campaign: 1 to 128 printable ASCII characters, without spaces or @")
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
    deps = request.app[KEY_CONTEXT]
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
        # Registered labels win; otherwise the one the counted events carried, if unique;
        # else "unknown", as the rates and delivermon_campaign_info say (store.campaign_labels).
        "category": registered.category.value
        if registered and registered.category
        else _only(r.category for r in lifetime),
        "consent": registered.consent.value
        if registered and registered.consent and registered.consent is not Consent.UNKNOWN
        else _only(r.consent for r in lifetime),
        "sending_domain": registered.sending_domain if registered else None,
        "registered": registered is not None,
        **_figures(total.totals, total.rates),
        "windows": windows_json,
    }


def _only(values: Iterable[str]) -> str:
    """The one label other than "unknown" among ``values``, else "unknown"."""
    distinct = set(values) - {"unknown"}
    return distinct.pop() if len(distinct) == 1 else "unknown"


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
    return request.app[KEY_CONTEXT].settings().config.feedback.min_volume


def _guard(request: web.Request) -> VolumeGuard:
    volume = _min_volume(request)
    return VolumeGuard(min_delivered=volume, min_sent=volume)


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


ROUTES = (
    RouteSpec("PUT", "/api/v1/campaigns/{id}", _put_campaign, Access.ADMIN),
    RouteSpec("GET", "/api/v1/campaigns", _list_campaigns, Access.READ, query=()),
    RouteSpec("GET", "/api/v1/campaigns/{id}", _get_campaign, Access.READ, query=()),
    RouteSpec("GET", "/api/v1/rates", _get_rates, Access.READ, query=("group_by", "campaign")),
)
