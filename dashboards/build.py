"""Generate the Grafana dashboards (dashboards/*.json) from this file.

    python dashboards/build.py          # rewrite the JSON files
    python dashboards/build.py --check  # exit 1 when they are out of date

The JSON is committed beside this script (Grafana provisioning reads it) and
tests/unit/test_dashboards.py checks that it is up to date and that every
metric a panel uses is documented in docs/metrics.md. Standard library only.

Every panel queries the data source chosen by the `DS_PROMETHEUS` variable, so
the dashboards work provisioned (docker-compose.yml) and imported by hand.
A panel that may legitimately show nothing (no listing, no failing audit) says
so in its description and carries `"delivermonMayBeEmpty": true`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DS = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
Panel = dict[str, Any]


class Layout:
    """Places panels left to right, 24 columns wide, wrapping to new rows."""

    def __init__(self) -> None:
        self.x = 0
        self.y = 0
        self.row_height = 0
        self.next_id = 1

    def place(self, panel: Panel, w: int, h: int) -> Panel:
        if self.x + w > 24:
            self.x = 0
            self.y += self.row_height
            self.row_height = 0
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_height = max(self.row_height, h)
        return panel

    def row(self, title: str) -> Panel:
        if self.x:
            self.x = 0
            self.y += self.row_height
            self.row_height = 0
        panel: Panel = {"type": "row", "title": title, "collapsed": False, "panels": []}
        panel["gridPos"] = {"x": 0, "y": self.y, "w": 24, "h": 1}
        panel["id"] = self.next_id
        self.next_id += 1
        self.y += 1
        return panel


def target(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> Panel:
    t: Panel = {"datasource": DS, "expr": expr, "refId": ref, "legendFormat": legend}
    if instant:
        t.update(instant=True, range=False, format="table")
    return t


def _panel(kind: str, title: str, description: str, targets: list[Panel], **extra: Any) -> Panel:
    panel: Panel = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DS,
        "targets": [dict(t, refId=chr(ord("A") + i)) for i, t in enumerate(targets)],
    }
    if extra.pop("may_be_empty", False):
        panel["delivermonMayBeEmpty"] = True
    panel.update(extra)
    return panel


def thresholds(*steps: tuple[float | None, str]) -> dict[str, Any]:
    return {"mode": "absolute", "steps": [{"value": v, "color": c} for v, c in steps]}


def timeseries(
    title: str,
    description: str,
    targets: list[Panel],
    *,
    unit: str = "short",
    lines: tuple[tuple[float, str], ...] = (),
    may_be_empty: bool = False,
) -> Panel:
    defaults: dict[str, Any] = {"unit": unit, "custom": {"lineWidth": 1, "fillOpacity": 10}}
    if lines:
        defaults["thresholds"] = thresholds((None, "transparent"), *lines)
        defaults["custom"]["thresholdsStyle"] = {"mode": "line+area"}
    return _panel(
        "timeseries",
        title,
        description,
        targets,
        fieldConfig={"defaults": defaults, "overrides": []},
        options={
            "legend": {
                "displayMode": "table",
                "placement": "bottom",
                "calcs": ["lastNotNull", "max"],
            }
        },
        may_be_empty=may_be_empty,
    )


def table(
    title: str,
    description: str,
    targets: list[Panel],
    *,
    transformations: list[dict[str, Any]] | None = None,
    unit: str = "short",
    steps: dict[str, Any] | None = None,
    may_be_empty: bool = False,
) -> Panel:
    defaults: dict[str, Any] = {"unit": unit}
    if steps:
        defaults["thresholds"] = steps
        defaults["custom"] = {"cellOptions": {"type": "color-background"}}
    return _panel(
        "table",
        title,
        description,
        targets,
        fieldConfig={"defaults": defaults, "overrides": []},
        transformations=transformations
        or [{"id": "organize", "options": {"excludeByName": {"Time": True, "__name__": True}}}],
        may_be_empty=may_be_empty,
    )


def stat(
    title: str, description: str, targets: list[Panel], *, unit: str = "short", steps: Any = None
) -> Panel:
    defaults: dict[str, Any] = {"unit": unit}
    if steps:
        defaults["thresholds"] = steps
    return _panel(
        "stat",
        title,
        description,
        targets,
        fieldConfig={"defaults": defaults, "overrides": []},
        options={"colorMode": "background", "reduceOptions": {"calcs": ["lastNotNull"]}},
    )


def bargauge(title: str, description: str, targets: list[Panel], **kw: Any) -> Panel:
    return _panel(
        "bargauge",
        title,
        description,
        targets,
        fieldConfig={"defaults": {"min": 0, "max": 100, **kw}, "overrides": []},
        options={"displayMode": "gradient", "orientation": "horizontal"},
    )


def variable(name: str, label: str, query: str, *, include_all: bool = True) -> Panel:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DS,
        "query": {"query": query, "refId": f"{name}-query"},
        "definition": query,
        "refresh": 2,
        "includeAll": include_all,
        "allValue": ".*",
        "multi": True,
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


DATASOURCE_VARIABLE = {
    "name": "DS_PROMETHEUS",
    "label": "Prometheus",
    "type": "datasource",
    "query": "prometheus",
    "current": {},
    "hide": 0,
    "refresh": 1,
}

INSTANCE = variable("instance", "Replica", 'label_values(up{job="delivermon"}, instance)')


def dashboard(
    uid: str, title: str, description: str, panels: list[Panel], variables: list[Panel]
) -> Panel:
    return {
        "__inputs": [
            {
                "name": "DS_PROMETHEUS",
                "label": "Prometheus",
                "type": "datasource",
                "pluginId": "prometheus",
                "pluginName": "Prometheus",
            }
        ],
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["delivermon"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "timezone": "",
        "templating": {"list": [DATASOURCE_VARIABLE, *variables]},
        "annotations": {"list": []},
        "links": [
            {"title": t, "type": "link", "url": f"/d/{u}", "targetBlank": False}
            for u, t in DASHBOARD_LINKS
            if u != uid
        ],
        "panels": panels,
    }


DASHBOARD_LINKS = [
    ("delivermon-overview", "Overview"),
    ("delivermon-campaigns", "Campaigns"),
    ("delivermon-daemon", "Daemon"),
    ("delivermon-telemetry", "Provider telemetry"),
    ("delivermon-dmarc", "DMARC reports"),
]

T = '{target=~"$target"}'
D = '{domain=~"$target"}'


def overview() -> Panel:
    lay = Layout()
    p: list[Panel] = []
    p.append(lay.row("Blacklists"))
    p.append(
        lay.place(
            table(
                "Listing matrix (1 listed, 0 not listed, empty unknown)",
                "delivermon_dnsbl_listed per target (rows) and zone (columns). An unknown "
                "result has no series: its cell is empty, never 0 (see the next panel).",
                [target(f"max by (target, zone) (delivermon_dnsbl_listed{T})", instant=True)],
                transformations=[
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "columnField": "zone",
                            "rowField": "target",
                            "valueField": "Value",
                        },
                    }
                ],
                steps=thresholds((None, "green"), (1, "red")),
            ),
            24,
            9,
        )
    )
    p.append(
        lay.place(
            table(
                "Listings with severity",
                "Current listings (delivermon_dnsbl_listing_severity). Empty when nothing is listed.",
                [
                    target(
                        f"max by (target, zone, severity) (delivermon_dnsbl_listing_severity{T}) == 1",
                        instant=True,
                    )
                ],
                may_be_empty=True,
            ),
            12,
            7,
        )
    )
    p.append(
        lay.place(
            table(
                "Unknown results",
                "Target and zone pairs the list could not tell (DNS failure, error code, unhealthy "
                "zone). Unknown is never clean. Empty when every list answered.",
                [target(f"max by (target, zone) (delivermon_dnsbl_unknown{T}) == 1", instant=True)],
                may_be_empty=True,
            ),
            12,
            7,
        )
    )
    p.append(lay.row("Blacklist risk"))
    p.append(
        lay.place(
            bargauge(
                "Risk score",
                "delivermon_blacklist_risk_score (0-100): ok below 20, elevated, high from 50, "
                "critical from 80. See docs/risk.md.",
                [target(f"max by (target) (delivermon_blacklist_risk_score{T})", "{{target}}")],
                thresholds=thresholds((None, "green"), (20, "yellow"), (50, "orange"), (80, "red")),
            ),
            8,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "Risk level and completeness",
                "Level per target; unknown factors > 0 means the score is a lower bound; lower "
                "bound 1 means a list that could list the target, or a DNS check whose factor "
                "had points, could not tell (a listed or failing target may read ok "
                "meanwhile); complete 0 means not every check has run yet.",
                [
                    target(
                        f"max by (target, level) (delivermon_blacklist_risk_level{T}) == 1",
                        instant=True,
                    ),
                    target(
                        f"max by (target) (delivermon_blacklist_risk_unknown_factors{T})",
                        instant=True,
                    ),
                    target(
                        f"max by (target) (delivermon_blacklist_risk_complete{T})", instant=True
                    ),
                    target(
                        f"max by (target) (delivermon_blacklist_risk_lower_bound{T})",
                        instant=True,
                    ),
                ],
                transformations=[
                    {"id": "merge", "options": {}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True},
                            "renameByName": {
                                "Value #A": "level",
                                "Value #B": "unknown factors",
                                "Value #C": "complete",
                                "Value #D": "lower bound",
                            },
                        },
                    },
                ],
            ),
            8,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "What drives the score",
                "Factors adding points (delivermon_blacklist_risk_factor > 0). Empty when every "
                "target scores 0.",
                [
                    target(
                        f"max by (target, factor) (delivermon_blacklist_risk_factor{T}) > 0",
                        instant=True,
                    )
                ],
                may_be_empty=True,
            ),
            8,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Risk score over time",
                "delivermon_blacklist_risk_score per target.",
                [target(f"max by (target) (delivermon_blacklist_risk_score{T})", "{{target}}")],
                lines=((20, "yellow"), (50, "orange"), (80, "red")),
            ),
            24,
            8,
        )
    )
    p.append(lay.row("Authentication and compliance"))
    p.append(
        lay.place(
            table(
                "Record status",
                "SPF, DMARC, DKIM (item = selector), MX and PTR status per target "
                "(delivermon_record_status).",
                [
                    target(
                        f"max by (check, target, item, status) (delivermon_record_status{T}) == 1",
                        instant=True,
                    )
                ],
                transformations=[
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "columnField": "check",
                            "rowField": "target",
                            "valueField": "status",
                        },
                    }
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "DMARC policy",
                "delivermon_dmarc_policy: missing or none fire DelivermonDmarcWeak.",
                [
                    target(
                        f"max by (domain, policy) (delivermon_dmarc_policy{D}) == 1", instant=True
                    )
                ],
            ),
            6,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "SPF DNS lookups",
                "delivermon_spf_dns_lookups (limit 10, alert at 9) and void lookups (limit 2).",
                [
                    target(f"max by (domain) (delivermon_spf_dns_lookups{D})", instant=True),
                    target(f"max by (domain) (delivermon_spf_void_lookups{D})", instant=True),
                ],
                transformations=[
                    {"id": "merge", "options": {}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True},
                            "renameByName": {"Value #A": "lookups", "Value #B": "void lookups"},
                        },
                    },
                ],
                steps=thresholds((None, "green"), (9, "orange"), (11, "red")),
            ),
            6,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "SPF result of each own sending IP",
                "delivermon_spf_ip_result: anything but pass needs a look.",
                [
                    target(
                        f"max by (domain, ip, result) (delivermon_spf_ip_result{D}) == 1",
                        instant=True,
                    )
                ],
            ),
            8,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "DKIM key sizes",
                "delivermon_dkim_key_bits per selector (256: Ed25519). Empty for selectors whose key "
                "is missing, revoked or unknown (see Record status).",
                [target(f"max by (domain, selector) (delivermon_dkim_key_bits{D})", instant=True)],
                steps=thresholds((None, "red"), (1024, "orange"), (2048, "green")),
                may_be_empty=True,
            ),
            8,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "Forward-confirmed reverse DNS",
                "delivermon_ptr_forward_confirmed per sending IP: 0 fires DelivermonFcrdnsMissing.",
                [
                    target(
                        'max by (ip) (delivermon_ptr_forward_confirmed{ip=~"$target"})',
                        instant=True,
                    )
                ],
                steps=thresholds((None, "red"), (1, "green")),
            ),
            8,
            8,
        )
    )
    p.append(lay.row("Zone health"))
    p.append(
        lay.place(
            table(
                "Zone self-tests",
                "delivermon_dnsbl_zone_family_healthy: 0 means the zone's results for that family "
                "are unknown.",
                [
                    target(
                        "max by (zone, family) (delivermon_dnsbl_zone_family_healthy)", instant=True
                    )
                ],
                transformations=[
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "columnField": "family",
                            "rowField": "zone",
                            "valueField": "Value",
                        },
                    }
                ],
                steps=thresholds((None, "red"), (1, "green")),
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "Zones: healthy, refusing our resolver, catalogue severity",
                "delivermon_dnsbl_zone_healthy, delivermon_dnsbl_resolver_refused and "
                "delivermon_dnsbl_zone_info per zone in use.",
                [
                    target("max by (zone) (delivermon_dnsbl_zone_healthy)", instant=True),
                    target("max by (zone) (delivermon_dnsbl_resolver_refused)", instant=True),
                    target(
                        "max by (zone, severity, early_warning) (delivermon_dnsbl_zone_info)",
                        instant=True,
                    ),
                ],
                transformations=[
                    {"id": "merge", "options": {}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True, "Value #C": True},
                            "renameByName": {"Value #A": "healthy", "Value #B": "refuses resolver"},
                        },
                    },
                ],
            ),
            12,
            8,
        )
    )
    p.append(lay.row("Receiver telemetry (Gmail Postmaster Tools, Microsoft SNDS)"))
    p += receiver_panels(lay, D, '{ip=~"$target"}')
    return dashboard(
        "delivermon-overview",
        "delivermon: overview",
        "Blacklist listings, risk, authentication and zone health per target.",
        p,
        [INSTANCE, variable("target", "Target", "label_values(delivermon_check_success, target)")],
    )


C = '{campaign=~"$campaign",provider=~"$provider"}'
CC = '{campaign=~"$campaign"}'
COMPLAINT_LINES = ((0.001, "orange"), (0.003, "red"))


def campaigns() -> Panel:
    lay = Layout()
    p: list[Panel] = []
    p.append(lay.row("Complaints (per delivered message; 0.1 % warning, 0.3 % critical)"))
    for window in ("24h", "1h"):
        p.append(
            lay.place(
                timeseries(
                    f"Complaint ratio over {window}, per campaign and provider",
                    f"campaign_provider:delivermon_complaint_ratio:rate{window} (rules/recording.yml). "
                    "No line below 1000 delivered in the window (volume guard).",
                    [
                        target(
                            f"campaign_provider:delivermon_complaint_ratio:rate{window}{C}",
                            "{{campaign}} {{provider}}",
                        )
                    ],
                    unit="percentunit",
                    lines=COMPLAINT_LINES,
                ),
                12,
                9,
            )
        )
    p.append(
        lay.place(
            timeseries(
                "Complaint ratio over 24h, per campaign (all providers)",
                "campaign:delivermon_complaint_ratio:rate24h.",
                [target(f"campaign:delivermon_complaint_ratio:rate24h{CC}", "{{campaign}}")],
                unit="percentunit",
                lines=COMPLAINT_LINES,
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "The daemon's own ratios (its alerting window)",
                "delivermon_complaint_ratio per window, computed by the daemon from the store; absent "
                "below [feedback] min_volume.",
                [
                    target(
                        f"max by (campaign, window) (delivermon_complaint_ratio{CC})", instant=True
                    )
                ],
                transformations=[
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "columnField": "window",
                            "rowField": "campaign",
                            "valueField": "Value",
                        },
                    }
                ],
                unit="percentunit",
                steps=thresholds((None, "green"), (0.001, "orange"), (0.003, "red")),
            ),
            12,
            8,
        )
    )
    p.append(lay.row("Unsubscribes"))
    p.append(
        lay.place(
            timeseries(
                "Unsubscribe ratio over 1h and the 7-day baseline, per campaign",
                "campaign:delivermon_unsubscribe_ratio:rate1h against rate7d; "
                "DelivermonUnsubscribeRateSpike fires above 3 x max(7d, 0.1 %).",
                [
                    target(f"campaign:delivermon_unsubscribe_ratio:rate1h{CC}", "{{campaign}} 1h"),
                    target(f"campaign:delivermon_unsubscribe_ratio:rate7d{CC}", "{{campaign}} 7d"),
                ],
                unit="percentunit",
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Unsubscribe ratio over 24h, per campaign and provider",
                "campaign_provider:delivermon_unsubscribe_ratio:rate24h.",
                [
                    target(
                        f"campaign_provider:delivermon_unsubscribe_ratio:rate24h{C}",
                        "{{campaign}} {{provider}}",
                    )
                ],
                unit="percentunit",
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Sends after the 48 h unsubscribe deadline",
                "increase(delivermon_unsubscribe_violations_total[1h]): anything above 0 fires "
                "DelivermonUnsubscribeDeadlineMissed. Flat at 0 when all is well.",
                [
                    target(
                        f"sum by (campaign) (increase(delivermon_unsubscribe_violations_total{C}[1h]))",
                        "{{campaign}}",
                    )
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "One-click unsubscribe audit (last 24 h)",
                "Complained-about messages audited for RFC 8058 one-click unsubscribe "
                "(delivermon_one_click_audits_total) by result. Empty without complaint reports "
                "carrying the original message.",
                [
                    target(
                        f"sum by (campaign, result) (increase(delivermon_one_click_audits_total{CC}[1d])) > 0",
                        instant=True,
                    )
                ],
                transformations=[
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "columnField": "result",
                            "rowField": "campaign",
                            "valueField": "Value",
                        },
                    }
                ],
                may_be_empty=True,
            ),
            12,
            8,
        )
    )
    p.append(lay.row("Volumes"))
    for title, metric in (
        ("Sent per hour", "delivermon_sent_total"),
        ("Delivered per hour", "delivermon_delivered_total"),
        ("Complaints per hour", "delivermon_complaints_total"),
        ("Unsubscribes per hour", "delivermon_unsubscribes_total"),
    ):
        p.append(
            lay.place(
                timeseries(
                    title,
                    f"sum by (campaign) (increase({metric}[1h])).",
                    [target(f"sum by (campaign) (increase({metric}{C}[1h]))", "{{campaign}}")],
                ),
                6,
                8,
            )
        )
    p.append(
        lay.place(
            timeseries(
                "Bounces per hour by kind",
                "delivermon_bounces_total by kind (permanent, transient, undetermined).",
                [target(f"sum by (kind) (increase(delivermon_bounces_total{C}[1h]))", "{{kind}}")],
            ),
            12,
            8,
        )
    )
    p.append(lay.row("Bounces and deferrals by the class of the receiver's reply"))
    for title, metric in (
        ("Bounces per hour by class and provider", "delivermon_bounces_classified_total"),
        ("Deferrals per hour by class and provider", "delivermon_deferrals_classified_total"),
    ):
        p.append(
            lay.place(
                timeseries(
                    title,
                    f"sum by (provider, class) (increase({metric}[1h])): blocklisted, "
                    "reputation_ratelimit, auth_failure_dmarc, ... (README, Bounces and deferrals).",
                    [
                        target(
                            f"sum by (provider, class) (increase({metric}{C}[1h]))",
                            "{{provider}} {{class}}",
                        )
                    ],
                ),
                8,
                8,
            )
        )
    p.append(
        lay.place(
            table(
                "Active bounce findings",
                "delivermon_bounce_finding: a receiver citing a block list (with the sweep's "
                "verdict), reputation rate limiting, DMARC rejections, dead addresses "
                "(docs/findings.md, bounce.*).",
                [
                    target(
                        "max by (code, provider, blocklist, sweep, campaign) "
                        "(delivermon_bounce_finding == 1)",
                        instant=True,
                    )
                ],
                may_be_empty=True,
            ),
            8,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "Campaigns",
                "delivermon_campaign_info (category, consent basis) and delivermon_campaigns "
                "(campaigns known, and summed into _other: raise [metrics] max_campaigns if it matters).",
                [
                    target(
                        f"max by (campaign, category, consent) (delivermon_campaign_info{CC})",
                        instant=True,
                    ),
                    target("max by (set) (delivermon_campaigns)", instant=True),
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Gmail's own spam rate beside the campaigns' complaint ratios by provider",
                "delivermon_gmail_spam_rate (Gmail Postmaster Tools: user-reported spam per "
                "sending domain, the latest day with data, a day or two late; absent without data) "
                "beside delivermon's own complaint ratios per campaign and mailbox provider over "
                "24 h. Gmail sends no per-message feedback to most senders, so the Postmaster rate "
                "is the Gmail figure that counts; lines at 0.1 % and 0.3 %.",
                [
                    target("max by (domain) (delivermon_gmail_spam_rate)", "Gmail: {{domain}}"),
                    target(
                        'max by (campaign, provider) (delivermon_complaint_ratio_by_provider{campaign=~"$campaign",provider=~"$provider",window="24h"})',
                        "{{campaign}} at {{provider}}",
                    ),
                ],
                unit="percentunit",
                lines=COMPLAINT_LINES,
            ),
            24,
            8,
        )
    )
    return dashboard(
        "delivermon-campaigns",
        "delivermon: campaigns",
        "Complaint and unsubscribe ratios per campaign and provider, volumes, one-click audits.",
        p,
        [
            variable("campaign", "Campaign", "label_values(delivermon_delivered_total, campaign)"),
            variable("provider", "Provider", "label_values(delivermon_delivered_total, provider)"),
        ],
    )


INST = '{instance=~"$instance"}'


def daemon() -> Panel:
    lay = Layout()
    p: list[Panel] = []
    p.append(lay.row("Health"))
    p.append(
        lay.place(
            stat(
                "Up",
                'up{job="delivermon"} per replica.',
                [target('up{job="delivermon",instance=~"$instance"}', "{{instance}}")],
                steps=thresholds((None, "red"), (1, "green")),
            ),
            6,
            5,
        )
    )
    p.append(
        lay.place(
            stat(
                "Last reload successful",
                "delivermon_config_last_reload_successful: 0 after a failed reload (the old config keeps running).",
                [target(f"delivermon_config_last_reload_successful{INST}", "{{instance}}")],
                steps=thresholds((None, "red"), (1, "green")),
            ),
            6,
            5,
        )
    )
    p.append(
        lay.place(
            table(
                "Build, shard and targets",
                "delivermon_build_info, delivermon_shard_info and delivermon_targets per replica.",
                [
                    target(
                        f"max by (instance, version, python, catalogue_version) (delivermon_build_info{INST})",
                        instant=True,
                    ),
                    target(
                        f"max by (instance, index, count) (delivermon_shard_info{INST})",
                        instant=True,
                    ),
                    target(f"sum by (instance, kind) (delivermon_targets{INST})", instant=True),
                ],
            ),
            12,
            5,
        )
    )
    p.append(lay.row("Jobs and checks"))
    p.append(
        lay.place(
            timeseries(
                "Job duration",
                "delivermon_job_duration_seconds of each job's last run (task: the daemon's job).",
                [
                    target(
                        f"max by (task) (delivermon_job_duration_seconds{INST})",
                        "{{task}}",
                    )
                ],
                unit="s",
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "Time since last success / interval",
                "time() - delivermon_job_last_success_timestamp_seconds divided by "
                "delivermon_job_interval_seconds: DelivermonChecksStale fires above 2.",
                [
                    target(
                        f"max by (task) (time() - delivermon_job_last_success_timestamp_seconds{INST}) "
                        f"/ max by (task) (delivermon_job_interval_seconds{INST})",
                        instant=True,
                    )
                ],
                steps=thresholds((None, "green"), (1.5, "orange"), (2, "red")),
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Check duration per target",
                "delivermon_check_duration_seconds (the whole sweep or auth run, shared by its targets).",
                [
                    target(
                        f"max by (check, target) (delivermon_check_duration_seconds{INST})",
                        "{{check}} {{target}}",
                    )
                ],
                unit="s",
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Job runs by outcome",
                "increase(delivermon_job_runs_total[1h]) per job and outcome.",
                [
                    target(
                        f"sum by (task, outcome) (increase(delivermon_job_runs_total{INST}[1h]))",
                        "{{task}} {{outcome}}",
                    )
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "Checks that could not tell",
                "delivermon_check_success == 0: every list, the PTR check, or every auth check of the "
                "target was unknown in its last run. Empty when all is well.",
                [
                    target(
                        f"max by (check, target) (delivermon_check_success{INST}) == 0",
                        instant=True,
                    )
                ],
                may_be_empty=True,
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Unknown DNSBL results by reason",
                "sum by (zone, reason) (rate(delivermon_dnsbl_unknown_results_total)). "
                "Empty until this process has seen an unknown result (the counter has no series "
                "before), then flat at 0 while every list answers.",
                [
                    target(
                        f"sum by (zone, reason) (rate(delivermon_dnsbl_unknown_results_total{INST}[$__rate_interval]))",
                        "{{zone}} {{reason}}",
                    )
                ],
                unit="ops",
                may_be_empty=True,
            ),
            12,
            8,
        )
    )
    p.append(lay.row("Ingestion, notifications, errors"))
    p.append(
        lay.place(
            timeseries(
                "Ingest accepted and refused",
                "delivermon_ingest_accepted_total by source and delivermon_ingest_refused_total by "
                "source and reason, per second; and the items of accepted batches skipped as "
                "unreadable (delivermon_ingest_skipped_items_total).",
                [
                    target(
                        f"sum by (source) (rate(delivermon_ingest_accepted_total{INST}[$__rate_interval]))",
                        "accepted {{source}}",
                    ),
                    target(
                        f"sum by (source, reason) (rate(delivermon_ingest_refused_total{INST}[$__rate_interval]))",
                        "refused {{source}} {{reason}}",
                    ),
                    target(
                        f"sum by (source) (rate(delivermon_ingest_skipped_items_total{INST}[$__rate_interval]))",
                        "skipped items {{source}}",
                    ),
                ],
                unit="reqps",
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Notifications",
                "delivermon_notifications_total by notifier and status, and the outbox "
                "(delivermon_notifications_pending).",
                [
                    target(
                        f"sum by (notifier, status) (increase(delivermon_notifications_total{INST}[1h]))",
                        "{{notifier}} {{status}}",
                    ),
                    target(f"sum(delivermon_notifications_pending{INST})", "pending"),
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Errors by component",
                "increase(delivermon_errors_total[1h]) by component and reason. Empty until the "
                "first unexpected error (the counter has no series before), then flat at 0.",
                [
                    target(
                        f"sum by (component, reason) (increase(delivermon_errors_total{INST}[1h]))",
                        "{{component}} {{reason}}",
                    )
                ],
                may_be_empty=True,
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Configuration reloads",
                "increase(delivermon_config_reloads_total[1h]) by outcome; the last successful load time.",
                [
                    target(
                        f"sum by (outcome) (increase(delivermon_config_reloads_total{INST}[1h]))",
                        "{{outcome}}",
                    ),
                    target(
                        f"time() - max(delivermon_config_last_reload_success_timestamp_seconds{INST})",
                        "seconds since last load",
                    ),
                ],
            ),
            12,
            8,
        )
    )
    return dashboard(
        "delivermon-daemon",
        "delivermon: daemon",
        "The daemon itself: jobs, checks, unknown results, ingestion, notifications, errors, reloads.",
        p,
        [INSTANCE],
    )


def receiver_panels(lay: Layout, domains: str, ips: str) -> list[Panel]:
    """Gmail's spam rate and SNDS's verdicts, for the overview and the telemetry dashboard."""
    return [
        lay.place(
            timeseries(
                "Gmail spam rate (Postmaster Tools)",
                "delivermon_gmail_spam_rate: Gmail's user-reported spam rate of the domain for its "
                "latest day with data (a day or two late). Absent, not 0, when Gmail has no data: "
                "see the import state. Lines at 0.1 % (warning) and 0.3 % (critical).",
                [target(f"max by (domain) (delivermon_gmail_spam_rate{domains})", "{{domain}}")],
                unit="percentunit",
                lines=COMPLAINT_LINES,
            ),
            12,
            8,
        ),
        lay.place(
            table(
                "SNDS verdicts per IP",
                "Microsoft SNDS for each IP: the filter result of its latest activity period "
                "(delivermon_snds_filter_result), its spam-trap hits, and whether Outlook.com "
                "blocks it (delivermon_snds_blocked). An IP without rows has no filter result.",
                [
                    target(
                        f"max by (ip, result) (delivermon_snds_filter_result{ips}) == 1",
                        instant=True,
                    ),
                    target(f"max by (ip) (delivermon_snds_trap_hits{ips})", instant=True),
                    target(f"max by (ip) (delivermon_snds_blocked{ips})", instant=True),
                ],
                transformations=[
                    {"id": "merge", "options": {}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True, "Value #A": True},
                            "renameByName": {"Value #B": "trap hits", "Value #C": "blocked"},
                        },
                    },
                ],
            ),
            12,
            8,
        ),
    ]


GD = '{domain=~"$domain"}'
IPS = '{ip=~"$ip"}'


def telemetry() -> Panel:
    lay = Layout()
    p: list[Panel] = []
    p.append(lay.row("Gmail Postmaster Tools and Microsoft SNDS"))
    p += receiver_panels(lay, GD, IPS)
    p.append(lay.row("Gmail Postmaster Tools"))
    p.append(
        lay.place(
            table(
                "Import state per domain",
                "delivermon_gmail_telemetry_state: ok, no_data (below Google's volume threshold "
                "or not yet published), unverified, permission_denied, unavailable (outage, "
                "throttling, unreadable answer). Only ok and no_data are current; the others keep "
                "the last known values.",
                [
                    target(
                        f"max by (domain, state) (delivermon_gmail_telemetry_state{GD}) == 1",
                        instant=True,
                    )
                ],
            ),
            8,
            7,
        )
    )
    p.append(
        lay.place(
            table(
                "Compliance (1 compliant, 0 needs work)",
                "delivermon_gmail_compliance: Gmail's sender requirements per domain "
                "(getComplianceStatus).",
                [
                    target(
                        f"max by (domain, requirement) (delivermon_gmail_compliance{GD})",
                        instant=True,
                    )
                ],
                transformations=[
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "columnField": "requirement",
                            "rowField": "domain",
                            "valueField": "Value",
                        },
                    }
                ],
                steps=thresholds((None, "red"), (1, "green")),
            ),
            16,
            7,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Authentication and TLS (Gmail's view)",
                "delivermon_gmail_stat: the share of the domain's mail to Gmail that passed SPF, "
                "DKIM, DMARC, and that used TLS, for each metric's latest day with data.",
                [
                    target(
                        'max by (domain, metric) (delivermon_gmail_stat{domain=~"$domain",metric=~"auth_.*|tls_.*"})',
                        "{{domain}} {{metric}}",
                    )
                ],
                unit="percentunit",
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Delivery errors (Gmail's view)",
                "delivermon_gmail_stat: the share of the domain's mail Gmail rejected or "
                "deferred, for the latest day with data. Empty until Gmail reports errors.",
                [
                    target(
                        'max by (domain, metric) (delivermon_gmail_stat{domain=~"$domain",metric=~"delivery_.*"})',
                        "{{domain}} {{metric}}",
                    )
                ],
                unit="percentunit",
                may_be_empty=True,
            ),
            6,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "7-day recovery clock",
                "delivermon_gmail_recovery_timestamp_seconds: after a day at 0.3 % or more, Gmail "
                "mitigates again only once the rate has stayed below 0.3 % for 7 days: the date it "
                "may recover. Empty when no clock runs.",
                [
                    target(
                        f"max by (domain) (delivermon_gmail_recovery_timestamp_seconds{GD}) * 1000",
                        instant=True,
                    )
                ],
                unit="dateTimeAsIsoNoDateIfToday",
                may_be_empty=True,
            ),
            6,
            8,
        )
    )
    p.append(lay.row("Microsoft SNDS"))
    p.append(
        lay.place(
            timeseries(
                "Spam-trap hits",
                "delivermon_snds_trap_hits: messages to Outlook.com spam traps in each IP's latest "
                "activity period.",
                [target(f"max by (ip) (delivermon_snds_trap_hits{IPS})", "{{ip}}")],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            stat(
                "IPs in SNDS that are not configured",
                "delivermon_snds_unconfigured_ips: IPs of the SNDS account that are no "
                "[[domains]] sending_ips, by the filter result of their latest period, and "
                "delivermon_snds_unconfigured_blocked_ips: how many of them Outlook.com blocks. "
                "Counted, not named (the account may hold a whole network): the telemetry "
                "API lists them.",
                [
                    target("max by (result) (delivermon_snds_unconfigured_ips)", "{{result}}"),
                    target("max(delivermon_snds_unconfigured_blocked_ips)", "blocked"),
                ],
            ),
            12,
            8,
        )
    )
    p.append(lay.row("Imports"))
    p.append(
        lay.place(
            stat(
                "Imports up",
                "delivermon_telemetry_up: 1 when the source's last import got through, 0 when it "
                "failed (the last known values stand meanwhile).",
                [target(f"min by (source) (delivermon_telemetry_up{INST})", "{{source}}")],
                steps=thresholds((None, "red"), (1, "green")),
            ),
            8,
            6,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Import failures",
                "delivermon_telemetry_import_failures_total: subjects (domains, SNDS endpoints) "
                "whose import did not get through, by source and state.",
                [
                    target(
                        "sum by (source, state) "
                        f"(increase(delivermon_telemetry_import_failures_total{INST}[1h]))",
                        "{{source}} {{state}}",
                    )
                ],
            ),
            16,
            6,
        )
    )
    return dashboard(
        "delivermon-telemetry",
        "delivermon: provider telemetry",
        "Gmail Postmaster Tools (spam rate, compliance, authentication) and Microsoft SNDS "
        "(filter results, trap hits, blocks), as imported by delivermon.",
        p,
        [
            INSTANCE,
            variable("domain", "Domain", "label_values(delivermon_gmail_telemetry_state, domain)"),
            variable("ip", "IP", "label_values(delivermon_snds_ip_configured, ip)"),
        ],
    )


DM = '{domain=~"$domain"}'
DMQ = '{domain=~"$domain",disposition=~"quarantine|reject"}'


def dmarc() -> Panel:
    """What receivers saw: DMARC aggregate reports (docs/dmarc.md)."""
    lay = Layout()
    p: list[Panel] = [lay.row("Policy readiness")]
    p.append(
        lay.place(
            table(
                "Readiness verdict",
                "delivermon_dmarc_policy_readiness: ready when own mail passes DMARC at least at "
                "[dmarc] readiness_ratio over 7 and 30 days (at least [dmarc] min_messages own "
                "messages); details per reporter in GET /api/v1/dmarc/domains/{domain}.",
                [
                    target(
                        f"max by (domain, verdict) (delivermon_dmarc_policy_readiness{DM}) == 1",
                        instant=True,
                    )
                ],
            ),
            8,
            6,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Own mail passing DMARC",
                "delivermon_dmarc_own_pass_ratio over 7 and 30 days; absent without own mail. "
                "The line is the default readiness ratio, 98 %.",
                [target(f"delivermon_dmarc_own_pass_ratio{DM}", "{{domain}} {{window}}")],
                unit="percentunit",
                lines=((0.98, "green"),),
            ),
            10,
            6,
        )
    )
    p.append(
        lay.place(
            stat(
                "Selectors signing but not monitored",
                "delivermon_dmarc_unmonitored_selectors: DKIM selectors passing aligned in the "
                "reports but not in dkim_selectors (finding dmarc_report.selector_unmonitored).",
                [target(f"sum(delivermon_dmarc_unmonitored_selectors{DM})")],
                steps=thresholds((None, "green"), (1, "orange")),
            ),
            6,
            6,
        )
    )
    p.append(lay.row("Sources"))
    p.append(
        lay.place(
            timeseries(
                "Messages per day by source class",
                "increase(delivermon_dmarc_messages_total[1d]) by classification: own (sending_ips "
                "or SPF pass), forwarder (aligned DKIM), unknown (spoofing or an unconfigured "
                "service), unclassified (SPF could not be evaluated yet).",
                [
                    target(
                        f"sum by (domain, classification) (increase(delivermon_dmarc_messages_total{DM}[1d]))",
                        "{{domain}} {{classification}}",
                    )
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Last 72 hours of reports, by class and DMARC result",
                "delivermon_dmarc_recent_messages: what the DMARC alerts watch.",
                [
                    target(
                        f"sum by (domain, classification, dmarc) (delivermon_dmarc_recent_messages{DM})",
                        "{{domain}} {{classification}} {{dmarc}}",
                    )
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            timeseries(
                "Quarantined or rejected, by class (last 72 hours)",
                "Receivers' disposition quarantine or reject. Own mail here is "
                "DelivermonDmarcOwnMailBlocked; unknown mail here is the policy working.",
                [
                    target(
                        f"sum by (domain, classification, disposition) (delivermon_dmarc_recent_messages{DMQ})",
                        "{{domain}} {{classification}} {{disposition}}",
                    )
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "Source IPs by class (30 days)",
                "delivermon_dmarc_sources (unclassified: not told yet, SPF could not tell); the "
                "IPs themselves are in "
                "GET /api/v1/dmarc/domains/{domain}/sources (never a metric label).",
                [
                    target(
                        f"sum by (domain, classification) (delivermon_dmarc_sources{DM})",
                        instant=True,
                    )
                ],
                transformations=[
                    {
                        "id": "groupingToMatrix",
                        "options": {
                            "columnField": "classification",
                            "rowField": "domain",
                            "valueField": "Value",
                        },
                    }
                ],
            ),
            12,
            8,
        )
    )
    p.append(lay.row("Reporters"))
    p.append(
        lay.place(
            timeseries(
                "Reports per day by reporter",
                "increase(delivermon_dmarc_reports_total[1d]) by reporter (Google, Microsoft, "
                "Yahoo, the ten others with most reports, _other).",
                [
                    target(
                        f"sum by (reporter) (increase(delivermon_dmarc_reports_total{DM}[1d]))",
                        "{{reporter}}",
                    )
                ],
            ),
            12,
            8,
        )
    )
    p.append(
        lay.place(
            table(
                "Hours since each reporter's latest report ended",
                "From delivermon_dmarc_reporter_last_report_timestamp_seconds; "
                "DelivermonDmarcReporterSilent fires past 72 h for Google, Microsoft and Yahoo.",
                [
                    target(
                        f"(time() - max by (domain, reporter) "
                        f"(delivermon_dmarc_reporter_last_report_timestamp_seconds{DM})) / 3600",
                        instant=True,
                    )
                ],
                unit="h",
                steps=thresholds((None, "green"), (48, "orange"), (72, "red")),
            ),
            12,
            8,
        )
    )
    return dashboard(
        "delivermon-dmarc",
        "delivermon: DMARC reports",
        "What receivers saw: DMARC aggregate reports by source class, readiness, reporters.",
        p,
        [variable("domain", "Domain", "label_values(delivermon_dmarc_messages_total, domain)")],
    )


def render() -> dict[str, str]:
    return {
        f"{name}.json": json.dumps(build(), indent=2, sort_keys=True) + "\n"
        for name, build in (
            ("overview", overview),
            ("campaigns", campaigns),
            ("daemon", daemon),
            ("telemetry", telemetry),
            ("dmarc", dmarc),
        )
    }


def main(argv: list[str]) -> int:
    stale = []
    for name, text in render().items():
        path = HERE / name
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date, run python dashboards/build.py:", ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
