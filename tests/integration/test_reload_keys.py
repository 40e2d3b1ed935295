"""Every config key is either reloadable, and a reload puts its new value in effect, or
restart-only, and a reload says a restart is needed and keeps the running value.

"In effect" is read from the objects the daemon's parts actually use after the reload:
the resolvers, the selected zones, the plan, the webhook verifiers, the notifiers, the
scheduler's jobs, the alert policy, the volume guard, the tokens the routes check; for
keys read afresh at each job run or request, the runtime those runs read. End-to-end
probes over HTTP show the tokens, a webhook signing key and a notifier URL switching.
The key list is the public surface (tests/public_surface.json): a new key without a
probe here fails ``test_every_config_key_has_a_reload_probe``.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import surface
from aiohttp import web
from certs import pem, self_signed
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from httpserve import ServeHttp
from receiver import Receiver
from telemetryservers import SNDS_KEY, Postmaster, Snds

from monitor.config import parse_config
from monitor.daemon.app import Daemon, DaemonOptions
from monitor.daemon.logs import LogSetup
from monitor.daemon.settings import RESTART_KEYS

Value = Any
Probe = Callable[[Daemon], Value]


# --- a config as data, written as TOML ---------------------------------------------------


def _toml_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return (
            "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
        )
    raise TypeError(type(value))


def to_toml(doc: dict[str, Value]) -> str:
    """Enough TOML for this test: tables, arrays of tables, scalars, lists, inline tables."""
    lines: list[str] = []

    def table(prefix: str, body: dict[str, Value], header: str) -> None:
        lines.append(header)
        nested = []
        for key, value in body.items():
            if (isinstance(value, dict) and key not in INLINE) or (
                isinstance(value, list) and value and isinstance(value[0], dict)
            ):
                nested.append((key, value))
            else:
                lines.append(f"{key} = {_toml_value(value)}")
        for key, value in nested:
            name = f"{prefix}.{key}" if prefix else key
            if isinstance(value, dict):
                table(name, value, f"[{name}]")
            else:
                for item in value:
                    table(name, item, f"[[{name}]]")

    for key, value in doc.items():
        if isinstance(value, list):
            for item in value:
                table(key, item, f"[[{key}]]")
        else:
            table(key, value, f"[{key}]")
    return "\n".join(lines) + "\n"


INLINE = {"rate_limits", "keys", "headers"}


# --- keys and certificates for the webhook sections -----------------------------------------


def _certificate(tmp: Path, name: str) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp / name
    path.write_bytes(pem(self_signed(key, "sns.amazonaws.com")))
    return str(path)


def _ec_key() -> str:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


_POSTMASTER = Postmaster()  # its key signs the service-account credentials below


def _google_credentials(tmp: Path, name: str, *, token: str, user: bool = False) -> str:
    """A credentials file for the Postmaster stand-in at ``token`` (its /token endpoint)."""
    _POSTMASTER.url = token
    info = _POSTMASTER.authorized_user_info() if user else _POSTMASTER.service_account_info()
    path = tmp / name
    path.write_text(json.dumps(info))
    return str(path)


ADMIN, ADMIN2 = "admin-token-one", "admin-token-two"
INGEST, INGEST2 = "ingest-token-one", "ingest-token-two"
MAILGUN, MAILGUN2 = "mailgun-key-one", "mailgun-key-two"


def base_config(
    tmp: Path, receiver: Receiver, telemetry: str = "http://127.0.0.1:9"
) -> dict[str, Value]:
    """``telemetry``: where the Postmaster and SNDS stand-ins answer (a closed port when the
    test does not start any: nothing is imported there)."""
    return {
        "dns": {"nameservers": ["127.0.0.1:9"], "timeout": 0.2, "attempts": 1},
        "auth_dns": {"nameservers": ["127.0.0.1:9"], "timeout": 0.2, "attempts": 1},
        "dnsbl": {
            "zones": ["bl.reload.test", "zen.dq.spamhaus.net"],
            "interval": "15m",
            "keys": {"spamhaus_dqs": "a" * 26},
            "custom_zones": [
                {
                    "id": "bl.reload.test",
                    "codes": [{"value": "127.0.0.2", "meaning": "listed"}],
                    "errors": [{"value": "127.255.255.254", "reason": "public_resolver"}],
                    "test_listed": ["127.0.0.2"],
                    "test_not_listed": ["127.0.0.1"],
                }
            ],
        },
        "domains": [
            {
                "name": "example.com",
                "dkim_selectors": ["s1"],
                "sending_ips": ["192.0.2.10"],
                "envelope_domains": ["bounce.example.com"],
                "dkim_domains": ["example.com"],
            }
        ],
        "http": {
            "listen": "127.0.0.1:9640",  # --listen 127.0.0.1:0 overrides it
            "ingest_token": INGEST,
            "admin_token": ADMIN,
            "max_body_bytes": 1_048_576,
        },
        "store": {"url": f"sqlite:///{tmp / 'd.db'}"},
        "privacy": {"pseudonym_key": "0123456789abcdef0123456789abcdef"},
        "feedback": {"campaign_headers": ["X-Campaign-ID"], "min_volume": 1000},
        "webhooks": {
            "ses": {
                "topic_arns": ["arn:aws:sns:eu-west-1:123456789012:one"],
                "certificate_files": [_certificate(tmp, "one.pem")],
                "campaign_field": "campaign",
            },
            "sendgrid": {"verification_key": _ec_key(), "campaign_field": "campaign"},
            "mailgun": {"signing_key": MAILGUN, "campaign_field": "campaign"},
            "postmark": {"username": "pm", "password": "pm-pass", "campaign_field": "campaign"},
        },
        "campaigns": [{"id": "spring", "category": "commercial", "consent": "double_opt_in"}],
        "imap": {
            "host": "127.0.0.1",
            "port": 9,
            "security": "none",
            "username": "fbl",
            "password": "imap-pass",
            "interval": "1h",
        },
        "schedule": {"jitter": 0.0},
        "telemetry": {
            "gmail": {
                "credentials": _google_credentials(tmp, "postmaster.json", token=telemetry),
                "domains": ["example.com"],
                "interval": "6h",
                "api_base": telemetry,
                "lookback_days": 14,
            },
            "snds": {"key": SNDS_KEY, "interval": "1d", "base_url": f"{telemetry}/snds"},
        },
        "metrics": {},
        "alerts": {},
        "bounces": {"mta_logs": [str(tmp / "mail.log")]},
        "cluster": {"shard": "0/1"},
        "log": {},
        "dmarc": {},
        "notify": [
            {"kind": "webhook", "name": "hook", "url": receiver.url, "min_severity": "info"},
            {"kind": "slack", "name": "chat", "url": "https://hooks.example.com/one"},
            {
                "kind": "email",
                "name": "mail",
                "host": "127.0.0.1",
                "security": "none",
                "from": "delivermon@example.com",
                "to": ["ops@example.com"],
            },
        ],
    }


# --- where each key takes effect ---------------------------------------------------------


def rt(d: Daemon) -> Any:
    return d.runtime.current


def zone(d: Daemon) -> Any:
    return next(z for z in rt(d).settings.zones if z.id == "bl.reload.test")


def domain(d: Daemon) -> Any:
    return rt(d).plan.all_domains["example.com"]


def notifier(d: Daemon, name: str) -> Any:
    return rt(d).settings.notifiers[name]


def interval(d: Daemon, job: str) -> float:
    status = d.scheduler.status(job)
    assert status is not None
    return status.interval


def hooks(d: Daemon) -> Any:
    return rt(d).settings.webhooks


def job_interval(job: str) -> Probe:
    return lambda d: interval(d, job)


def imap_field(key: str) -> Probe:
    return lambda d: getattr(rt(d).settings.imap.config, key)


def mail_field(attr: str) -> Probe:
    return lambda d: getattr(notifier(d, "mail").notifier, attr)


# key -> (how to change it in the config dict, what the daemon uses, the expected new value)
Change = Callable[[dict[str, Value]], None]


def setter(path: str, value: Value) -> Change:
    def change(doc: dict[str, Value]) -> None:
        node: Any = doc
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        node[int(last) if last.isdigit() else last] = value

    return change


EFFECTS: dict[str, tuple[Change, Probe, Value]] = {
    # resolvers (rebuilt with the runtime)
    "dns.nameservers": (
        setter("dns.nameservers", ["127.0.0.2:9"]),
        lambda d: [str(n) for n in rt(d).resolver.config.nameservers],
        ["127.0.0.2:9"],
    ),
    "dns.timeout": (setter("dns.timeout", 0.7), lambda d: rt(d).resolver.config.timeout, 0.7),
    "dns.attempts": (setter("dns.attempts", 3), lambda d: rt(d).resolver.config.attempts, 3),
    "dns.max_in_flight": (
        setter("dns.max_in_flight", 77),
        lambda d: rt(d).resolver.config.max_in_flight,
        77,
    ),
    "dns.cache_entries": (
        setter("dns.cache_entries", 123),
        lambda d: rt(d).resolver.config.cache_entries,
        123,
    ),
    "dns.rate_limits": (
        setter("dns.rate_limits", {"bl.reload.test": 5.0}),
        lambda d: dict(rt(d).resolver.config.rate_limits),
        {"bl.reload.test": 5.0},
    ),
    "auth_dns.nameservers": (
        setter("auth_dns.nameservers", ["127.0.0.3:9"]),
        lambda d: [str(n) for n in rt(d).auth_dns.config.nameservers],
        ["127.0.0.3:9"],
    ),
    "auth_dns.timeout": (
        setter("auth_dns.timeout", 0.9),
        lambda d: rt(d).auth_dns.config.timeout,
        0.9,
    ),
    "auth_dns.attempts": (
        setter("auth_dns.attempts", 4),
        lambda d: rt(d).auth_dns.config.attempts,
        4,
    ),
    "auth_dns.max_in_flight": (
        setter("auth_dns.max_in_flight", 66),
        lambda d: rt(d).auth_dns.config.max_in_flight,
        66,
    ),
    "auth_dns.cache_entries": (
        setter("auth_dns.cache_entries", 321),
        lambda d: rt(d).auth_dns.config.cache_entries,
        321,
    ),
    "auth_dns.rate_limits": (
        setter("auth_dns.rate_limits", {"example.com": 2.0}),
        lambda d: dict(rt(d).auth_dns.config.rate_limits),
        {"example.com": 2.0},
    ),
    # zones (selected and keyed by the settings builder) and the sweep
    "dnsbl.zones": (
        setter("dnsbl.zones", ["bl.reload.test"]),
        lambda d: [z.id for z in rt(d).plan.zones],
        ["bl.reload.test"],
    ),
    "dnsbl.interval": (setter("dnsbl.interval", "7m"), lambda d: interval(d, "sweep"), 420),
    "dnsbl.keys": (
        setter("dnsbl.keys", {"spamhaus_dqs": "b" * 26}),
        lambda d: next(z for z in rt(d).plan.zones if z.id == "zen.dq.spamhaus.net").query_zone,
        "b" * 26 + ".zen.dq.spamhaus.net",
    ),
    "dnsbl.concurrency": (  # read from the runtime at each sweep
        setter("dnsbl.concurrency", 9),
        lambda d: rt(d).config.dnsbl.concurrency,
        9,
    ),
    "dnsbl.custom_zones.id": (
        lambda doc: (
            setter("dnsbl.custom_zones.0.id", "bl2.reload.test")(doc),
            setter("dnsbl.zones", ["bl2.reload.test"])(doc),
        ),
        lambda d: [(z.id, z.custom) for z in rt(d).plan.zones],
        [("bl2.reload.test", True)],
    ),
    "dnsbl.custom_zones.query_zone": (
        setter("dnsbl.custom_zones.0.query_zone", "mirror.reload.test"),
        lambda d: zone(d).query_zone,
        "mirror.reload.test",
    ),
    "dnsbl.custom_zones.kind": (
        setter("dnsbl.custom_zones.0.kind", "domain"),
        lambda d: zone(d).kind.value,
        "domain",
    ),
    "dnsbl.custom_zones.ipv4": (
        lambda doc: doc["dnsbl"]["custom_zones"][0].update(ipv4=False, ipv6=True),
        lambda d: (zone(d).ipv4, zone(d).ipv6),
        (False, True),
    ),
    "dnsbl.custom_zones.ipv6": (
        setter("dnsbl.custom_zones.0.ipv6", True),
        lambda d: zone(d).ipv6,
        True,
    ),
    "dnsbl.custom_zones.match": (
        setter("dnsbl.custom_zones.0.match", "exact"),
        lambda d: zone(d).match.value,
        "exact",
    ),
    "dnsbl.custom_zones.severity": (
        setter("dnsbl.custom_zones.0.severity", "minor"),
        lambda d: zone(d).severity.value,
        "minor",
    ),
    "dnsbl.custom_zones.early_warning": (
        setter("dnsbl.custom_zones.0.early_warning", True),
        lambda d: zone(d).early_warning,
        True,
    ),
    "dnsbl.custom_zones.delist_url": (
        setter("dnsbl.custom_zones.0.delist_url", "https://reload.example.com/delist"),
        lambda d: zone(d).delist_url,
        "https://reload.example.com/delist",
    ),
    "dnsbl.custom_zones.codes.value": (
        setter("dnsbl.custom_zones.0.codes.0.value", "127.0.0.3"),
        lambda d: zone(d).codes[0].value,
        "127.0.0.3",
    ),
    "dnsbl.custom_zones.codes.bit": (
        lambda doc: doc["dnsbl"]["custom_zones"][0].update(
            match="bitmask", codes=[{"bit": 2, "meaning": "listed"}]
        ),
        lambda d: zone(d).codes[0].bit,
        2,
    ),
    "dnsbl.custom_zones.codes.meaning": (
        setter("dnsbl.custom_zones.0.codes.0.meaning", "spam source"),
        lambda d: zone(d).codes[0].meaning,
        "spam source",
    ),
    "dnsbl.custom_zones.codes.severity": (
        setter("dnsbl.custom_zones.0.codes.0.severity", "critical"),
        lambda d: zone(d).codes[0].severity.value,
        "critical",
    ),
    "dnsbl.custom_zones.codes.listing": (
        setter("dnsbl.custom_zones.0.codes.0.listing", False),
        lambda d: zone(d).codes[0].listing,
        False,
    ),
    "dnsbl.custom_zones.errors.value": (
        setter("dnsbl.custom_zones.0.errors.0.value", "127.255.255.253"),
        lambda d: zone(d).errors[0].value,
        "127.255.255.253",
    ),
    "dnsbl.custom_zones.errors.reason": (
        setter("dnsbl.custom_zones.0.errors.0.reason", "excessive_queries"),
        lambda d: zone(d).errors[0].reason,
        "excessive_queries",
    ),
    "dnsbl.custom_zones.errors.meaning": (
        setter("dnsbl.custom_zones.0.errors.0.meaning", "blocked resolver"),
        lambda d: zone(d).errors[0].meaning,
        "blocked resolver",
    ),
    "dnsbl.custom_zones.test_listed": (
        setter("dnsbl.custom_zones.0.test_listed", ["127.0.0.4"]),
        lambda d: zone(d).test_listed,
        ("127.0.0.4",),
    ),
    "dnsbl.custom_zones.test_not_listed": (
        setter("dnsbl.custom_zones.0.test_not_listed", ["127.0.0.5"]),
        lambda d: zone(d).test_not_listed,
        ("127.0.0.5",),
    ),
    "dnsbl.custom_zones.test_listed_v6": (
        setter("dnsbl.custom_zones.0.test_listed_v6", ["::ffff:7f00:4"]),
        lambda d: zone(d).test_listed_v6,
        ("::ffff:7f00:4",),
    ),
    "dnsbl.custom_zones.test_not_listed_v6": (
        setter("dnsbl.custom_zones.0.test_not_listed_v6", ["::ffff:7f00:5"]),
        lambda d: zone(d).test_not_listed_v6,
        ("::ffff:7f00:5",),
    ),
    # the plan
    "domains.name": (
        setter("domains.0.name", "example.org"),
        lambda d: sorted(rt(d).plan.all_domains),
        ["example.org"],
    ),
    "domains.dkim_selectors": (
        setter("domains.0.dkim_selectors", ["s2", "s3"]),
        lambda d: domain(d).selectors,
        ("s2", "s3"),
    ),
    "domains.sending_ips": (
        setter("domains.0.sending_ips", ["192.0.2.20"]),
        lambda d: (domain(d).sending_ips, sorted(rt(d).plan.all_targets)),
        (("192.0.2.20",), ["192.0.2.20", "example.com"]),
    ),
    "domains.envelope_domains": (
        setter("domains.0.envelope_domains", ["mail.example.com"]),
        lambda d: domain(d).envelope_domains,
        ("mail.example.com",),
    ),
    "domains.dkim_domains": (
        setter("domains.0.dkim_domains", ["esp.example.net"]),
        lambda d: domain(d).dkim_domains,
        ("esp.example.net",),
    ),
    "cluster.shard": (setter("cluster.shard", "1/2"), lambda d: str(rt(d).plan.shard), "1/2"),
    # tokens the routes check (and the HTTP probe below)
    "http.ingest_token": (
        setter("http.ingest_token", INGEST2),
        lambda d: rt(d).settings.ingest_token,
        INGEST2,
    ),
    "http.admin_token": (
        setter("http.admin_token", ADMIN2),
        lambda d: rt(d).settings.admin_token,
        ADMIN2,
    ),
    # feedback: the guard, and the headers read by each ingest request
    "feedback.min_volume": (
        setter("feedback.min_volume", 50),
        lambda d: rt(d).settings.guard.min_delivered,
        50,
    ),
    "feedback.campaign_headers": (
        setter("feedback.campaign_headers", ["X-Mailing"]),
        lambda d: rt(d).config.feedback.campaign_headers,
        ["X-Mailing"],
    ),
    "privacy.retention_days": (  # read by each purge run
        setter("privacy.retention_days", 30),
        lambda d: rt(d).config.privacy.retention_days,
        30,
    ),
    "privacy.store_raw": (  # read by each ingest request
        setter("privacy.store_raw", True),
        lambda d: rt(d).config.privacy.store_raw,
        True,
    ),
    # the job table's intervals
    **{
        f"schedule.{key}": (
            setter(f"schedule.{key}", "11m"),
            job_interval(job),
            660,
        )
        for key, job in (
            ("selftest_interval", "selftest"),
            ("auth_interval", "auth"),
            ("drift_interval", "drift"),
            ("purge_interval", "purge"),
            ("metrics_interval", "campaigns"),
            ("notify_interval", "notify"),
        )
    },
    # the dmarc job: its interval, and the settings read by each of its runs
    "dmarc.interval": (setter("dmarc.interval", "11m"), job_interval("dmarc"), 660),
    "dmarc.readiness_ratio": (
        setter("dmarc.readiness_ratio", 0.95),
        lambda d: rt(d).config.dmarc.readiness_ratio,
        0.95,
    ),
    "dmarc.min_messages": (
        setter("dmarc.min_messages", 500),
        lambda d: rt(d).config.dmarc.min_messages,
        500,
    ),
    "dmarc.ptr_lookups": (
        setter("dmarc.ptr_lookups", 3),
        lambda d: rt(d).config.dmarc.ptr_lookups,
        3,
    ),
    "dmarc.retention_days": (
        setter("dmarc.retention_days", 60),
        lambda d: rt(d).config.dmarc.retention_days,
        60,
    ),
    "schedule.jitter": (
        setter("schedule.jitter", 0.2),
        lambda d: d.scheduler._jobs["sweep"][2],  # (func, interval, jitter, run_now)
        0.2 * 900,
    ),
    # campaign figures: read by each campaigns run
    "metrics.campaign_window": (
        setter("metrics.campaign_window", "3d"),
        lambda d: rt(d).config.metrics.campaign_window,
        "3d",
    ),
    "metrics.max_campaigns": (
        setter("metrics.max_campaigns", 5),
        lambda d: rt(d).config.metrics.max_campaigns,
        5,
    ),
    "metrics.new_series_hold": (
        setter("metrics.new_series_hold", "2m"),
        lambda d: rt(d).config.metrics.new_series_hold,
        "2m",
    ),
    # alerts: the policy the alert service reads, thresholds read by each run
    "alerts.notify_existing": (
        setter("alerts.notify_existing", True),
        lambda d: rt(d).settings.alert_policy.notify_existing,
        True,
    ),
    "alerts.resolve_after": (
        setter("alerts.resolve_after", 5),
        lambda d: rt(d).settings.alert_policy.resolve_after,
        5,
    ),
    "alerts.flap_window": (
        setter("alerts.flap_window", "2h"),
        lambda d: rt(d).settings.alert_policy.flap_window,
        dt.timedelta(hours=2),
    ),
    "alerts.flap_limit": (
        setter("alerts.flap_limit", 7),
        lambda d: rt(d).settings.alert_policy.flap_limit,
        7,
    ),
    "alerts.confirm_delay": (
        setter("alerts.confirm_delay", 1.5),
        lambda d: rt(d).config.alerts.confirm_delay,
        1.5,
    ),
    "alerts.risk_level": (
        setter("alerts.risk_level", "high"),
        lambda d: rt(d).config.alerts.risk_level,
        "high",
    ),
    "alerts.complaint_warning": (
        setter("alerts.complaint_warning", 0.002),
        lambda d: rt(d).config.alerts.complaint_warning,
        0.002,
    ),
    "alerts.complaint_critical": (
        setter("alerts.complaint_critical", 0.005),
        lambda d: rt(d).config.alerts.complaint_critical,
        0.005,
    ),
    "alerts.complaint_window": (
        setter("alerts.complaint_window", "7d"),
        lambda d: rt(d).config.alerts.complaint_window,
        "7d",
    ),
    # [bounces]: read by the campaigns job and the mtalog job on each run
    "bounces.window": (
        setter("bounces.window", "24h"),
        lambda d: rt(d).config.bounces.window,
        "24h",
    ),
    "bounces.ratelimit_threshold": (
        setter("bounces.ratelimit_threshold", 50),
        lambda d: rt(d).config.bounces.ratelimit_threshold,
        50,
    ),
    "bounces.dmarc_threshold": (
        setter("bounces.dmarc_threshold", 3),
        lambda d: rt(d).config.bounces.dmarc_threshold,
        3,
    ),
    "bounces.hard_bounce_rate": (
        setter("bounces.hard_bounce_rate", 0.05),
        lambda d: rt(d).config.bounces.hard_bounce_rate,
        0.05,
    ),
    "bounces.mta_logs": (
        setter("bounces.mta_logs", ["/nonexistent/other.log"]),
        lambda d: rt(d).config.bounces.mta_logs,
        ["/nonexistent/other.log"],
    ),
    "bounces.log_interval": (
        setter("bounces.log_interval", "45s"),
        job_interval("mtalog"),
        45.0,
    ),
    "bounces.log_timezone": (
        setter("bounces.log_timezone", "Europe/Berlin"),
        lambda d: rt(d).config.bounces.log_timezone,
        "Europe/Berlin",
    ),
    # webhook verifiers (rebuilt by the settings builder)
    "webhooks.ses.topic_arns": (
        setter("webhooks.ses.topic_arns", ["arn:aws:sns:eu-west-1:123456789012:two"]),
        lambda d: sorted(hooks(d).ses.topic_arns),
        ["arn:aws:sns:eu-west-1:123456789012:two"],
    ),
    "webhooks.ses.certificate_files": (
        None,  # set in the test: needs a second certificate file
        lambda d: len(hooks(d).ses.certificates._keys),  # certificates pinned, by file name
        None,
    ),
    "webhooks.ses.fetch_certificates": (
        setter("webhooks.ses.fetch_certificates", False),
        lambda d: hooks(d).ses.fetch_certificates,
        False,
    ),
    "webhooks.ses.campaign_field": (
        setter("webhooks.ses.campaign_field", "mailing"),
        lambda d: hooks(d).ses.campaign_field,
        "mailing",
    ),
    "webhooks.sendgrid.verification_key": (
        None,  # set in the test: a second key
        lambda d: hooks(d).sendgrid.verification_key.public_numbers().x,
        None,
    ),
    "webhooks.sendgrid.campaign_field": (
        setter("webhooks.sendgrid.campaign_field", "mailing"),
        lambda d: hooks(d).sendgrid.campaign_field,
        "mailing",
    ),
    "webhooks.sendgrid.max_age_seconds": (
        setter("webhooks.sendgrid.max_age_seconds", 120),
        lambda d: hooks(d).sendgrid.max_age,
        dt.timedelta(seconds=120),
    ),
    "webhooks.mailgun.signing_key": (
        setter("webhooks.mailgun.signing_key", MAILGUN2),
        lambda d: hooks(d).mailgun.signing_key,
        MAILGUN2,
    ),
    "webhooks.mailgun.campaign_field": (
        setter("webhooks.mailgun.campaign_field", "mailing"),
        lambda d: hooks(d).mailgun.campaign_field,
        "mailing",
    ),
    "webhooks.mailgun.max_age_seconds": (
        setter("webhooks.mailgun.max_age_seconds", 60),
        lambda d: hooks(d).mailgun.max_age,
        dt.timedelta(seconds=60),
    ),
    "webhooks.postmark.username": (
        setter("webhooks.postmark.username", "pm2"),
        lambda d: hooks(d).postmark.username,
        "pm2",
    ),
    "webhooks.postmark.password": (
        setter("webhooks.postmark.password", "pm-pass-2"),
        lambda d: hooks(d).postmark.password,
        "pm-pass-2",
    ),
    "webhooks.postmark.campaign_field": (
        setter("webhooks.postmark.campaign_field", "mailing"),
        lambda d: hooks(d).postmark.campaign_field,
        "mailing",
    ),
    # IMAP: the settings each poll builds its poller from
    **{
        f"imap.{key}": (
            setter(f"imap.{key}", value),
            imap_field(key),
            value,
        )
        for key, value in (
            ("host", "localhost"),
            ("port", 10993),
            ("username", "fbl2"),
            ("mailbox", "FBL"),
            ("processed_folder", "done"),
            ("refused_folder", "bad"),
            ("max_attempts", 5),
        )
    },
    "imap.security": (
        setter("imap.security", "tls"),
        lambda d: rt(d).settings.imap.config.security,
        "tls",
    ),
    "imap.password": (
        setter("imap.password", "imap-pass-2"),
        lambda d: rt(d).settings.imap.password,
        "imap-pass-2",
    ),
    "imap.interval": (setter("imap.interval", "9m"), lambda d: interval(d, "imap"), 540),
    # logging: the process's handler and the root logger's level
    "log.level": (
        setter("log.level", "ERROR"),
        lambda d: (d.options.logs.level, logging.getLogger().level),
        ("ERROR", logging.ERROR),
    ),
    "log.format": (
        setter("log.format", "json"),
        lambda d: type(d.options.logs.handler.formatter).__name__,
        "JsonFormatter",
    ),
    # campaigns registered from config (store writes at reload)
    "campaigns.id": (setter("campaigns.0.id", "autumn"), None, None),
    "campaigns.category": (setter("campaigns.0.category", "transactional"), None, None),
    "campaigns.consent": (setter("campaigns.0.consent", "single_opt_in"), None, None),
    "campaigns.sending_domain": (setter("campaigns.0.sending_domain", "example.com"), None, None),
    # notifiers (rebuilt by the settings builder)
    "notify[webhook].kind": (
        setter("notify.0.kind", "slack"),
        lambda d: type(notifier(d, "hook").notifier).__name__,
        "SlackNotifier",
    ),
    "notify[webhook].name": (
        setter("notify.0.name", "hook2"),
        lambda d: sorted(rt(d).settings.notifiers),
        ["chat", "hook2", "mail"],
    ),
    "notify[webhook].url": (
        setter("notify.0.url", "https://alerts.example.com/two"),
        lambda d: notifier(d, "hook").notifier._url,
        "https://alerts.example.com/two",
    ),
    "notify[webhook].headers": (
        setter("notify.0.headers", {"X-Team": "mail"}),
        lambda d: notifier(d, "hook").notifier._headers,
        {"X-Team": "mail"},
    ),
    "notify[webhook].bearer_token": (
        setter("notify.0.bearer_token", "hook-token"),
        lambda d: notifier(d, "hook").notifier._headers,
        {"Authorization": "Bearer hook-token"},
    ),
    "notify[webhook].min_severity": (
        setter("notify.0.min_severity", "critical"),
        lambda d: notifier(d, "hook").min_severity,
        "critical",
    ),
    "notify[webhook].send_resolved": (
        setter("notify.0.send_resolved", False),
        lambda d: notifier(d, "hook").send_resolved,
        False,
    ),
    "notify[webhook].timeout": (
        setter("notify.0.timeout", 3.0),
        lambda d: notifier(d, "hook").notifier._timeout,
        3.0,
    ),
    "notify[slack].kind": (
        setter("notify.1.kind", "webhook"),
        lambda d: type(notifier(d, "chat").notifier).__name__,
        "WebhookNotifier",
    ),
    "notify[slack].name": (
        setter("notify.1.name", "chat2"),
        lambda d: sorted(rt(d).settings.notifiers),
        ["chat2", "hook", "mail"],
    ),
    "notify[slack].url": (
        setter("notify.1.url", "https://hooks.example.com/two"),
        lambda d: notifier(d, "chat").notifier._url,
        "https://hooks.example.com/two",
    ),
    "notify[slack].min_severity": (
        setter("notify.1.min_severity", "info"),
        lambda d: notifier(d, "chat").min_severity,
        "info",
    ),
    "notify[slack].send_resolved": (
        setter("notify.1.send_resolved", False),
        lambda d: notifier(d, "chat").send_resolved,
        False,
    ),
    "notify[slack].timeout": (
        setter("notify.1.timeout", 4.0),
        lambda d: notifier(d, "chat").notifier._timeout,
        4.0,
    ),
    "notify[email].kind": (
        setter("notify.2", {"kind": "webhook", "name": "mail", "url": "https://x.example.com/"}),
        lambda d: type(notifier(d, "mail").notifier).__name__,
        "WebhookNotifier",
    ),
    "notify[email].name": (
        setter("notify.2.name", "mail2"),
        lambda d: sorted(rt(d).settings.notifiers),
        ["chat", "hook", "mail2"],
    ),
    **{
        f"notify[email].{'sender' if key == 'from' else key}": (  # TOML "from" is "sender"
            setter(f"notify.2.{key}", value),
            mail_field(attr),
            expected,
        )
        for key, value, attr, expected in (
            ("host", "localhost", "_host", "localhost"),
            ("port", 2525, "_port", 2525),
            ("from", "alerts@example.com", "_sender", "alerts@example.com"),
            (
                "to",
                ["a@example.com", "b@example.com"],
                "_recipients",
                ("a@example.com", "b@example.com"),
            ),
            ("subject_prefix", "[dm]", "_subject_prefix", "[dm]"),
            ("timeout", 12.0, "_timeout", 12.0),
        )
    },
    "notify[email].security": (
        setter("notify.2.security", "starttls"),
        lambda d: notifier(d, "mail").notifier._security,
        "starttls",
    ),
    "notify[email].min_severity": (
        setter("notify.2.min_severity", "critical"),
        lambda d: notifier(d, "mail").min_severity,
        "critical",
    ),
    "notify[email].send_resolved": (
        setter("notify.2.send_resolved", False),
        lambda d: notifier(d, "mail").send_resolved,
        False,
    ),
    "notify[email].username": (None, None, None),  # with password: see below
    "notify[email].password": (
        lambda doc: doc["notify"][2].update(username="u", password="p"),
        lambda d: (notifier(d, "mail").notifier._username, notifier(d, "mail").notifier._password),
        ("u", "p"),
    ),
    "notify[email].ca_file": (None, None, None),  # set in the test: a CA bundle file
    # receiver telemetry: the settings built from [telemetry], the jobs' intervals
    "telemetry.gmail.credentials": (None, None, None),  # set in the test: another file
    "telemetry.gmail.domains": (
        setter("telemetry.gmail.domains", ["example.org"]),
        lambda d: rt(d).settings.telemetry.gmail.domains,
        ("example.org",),
    ),
    "telemetry.gmail.interval": (
        setter("telemetry.gmail.interval", "5h"),
        job_interval("telemetry_gmail"),
        18000,
    ),
    "telemetry.gmail.api_base": (
        setter("telemetry.gmail.api_base", "https://postmaster.example.com"),
        lambda d: rt(d).settings.telemetry.gmail.config.api_base,
        "https://postmaster.example.com",
    ),
    "telemetry.gmail.lookback_days": (
        setter("telemetry.gmail.lookback_days", 30),
        lambda d: rt(d).settings.telemetry.gmail.config.lookback_days,
        30,
    ),
    "telemetry.snds.key": (
        setter("telemetry.snds.key", "another-snds-key"),
        lambda d: rt(d).settings.telemetry.snds.key,
        "another-snds-key",
    ),
    "telemetry.snds.interval": (
        setter("telemetry.snds.interval", "12h"),
        job_interval("telemetry_snds"),
        43200,
    ),
    "telemetry.snds.base_url": (
        setter("telemetry.snds.base_url", "https://snds.example.com/snds"),
        lambda d: rt(d).settings.telemetry.snds.config.base_url,
        "https://snds.example.com/snds",
    ),
}
# The e-mail username goes with its password (a model rule): one change covers both.
EFFECTS["notify[email].username"] = EFFECTS["notify[email].password"]

RESTART = {key for key, _ in RESTART_KEYS}
# The daemon here runs with --listen, which replaces [http] listen across reloads: a
# change of the file's listen asks for no restart (it did, though one would change nothing).
RESTART_WITH_LISTEN = RESTART - {"http.listen"}


def test_every_config_key_has_a_reload_probe() -> None:
    keys = set(surface.config_surface())
    assert keys - set(EFFECTS) - RESTART == set(), "a config key without a reload probe"
    assert set(EFFECTS) & RESTART == set()
    assert keys >= RESTART


@pytest.fixture
async def running(
    tmp_path: Path, receiver: Receiver, serve_http: ServeHttp
) -> AsyncIterator[tuple[Daemon, dict[str, Value], Path]]:
    # The imports run at start: local stand-ins answer them at once (tests/telemetryservers.py).
    both = web.Application()
    _POSTMASTER.add_routes(both)
    Snds().add_routes(both)
    doc = base_config(tmp_path, receiver, await serve_http(both))
    path = tmp_path / "delivermon.toml"
    path.write_text(to_toml(doc))
    logs = LogSetup(default_level="INFO", stream=io.StringIO())  # not installed: no output
    daemon = Daemon(
        parse_config(path.read_text()),
        DaemonOptions(config_path=path, listen="127.0.0.1:0", logs=logs),
    )
    await daemon.start()
    try:
        yield daemon, doc, path
    finally:
        await daemon.stop()
        logs.remove()  # the levels it set are put back for the tests that follow


def _special(key: str, tmp: Path) -> tuple[Change, Value] | None:
    if key == "webhooks.ses.certificate_files":
        extra = _certificate(tmp, "two.pem")
        return (
            lambda doc: doc["webhooks"]["ses"]["certificate_files"].append(extra),
            2,
        )
    if key == "webhooks.sendgrid.verification_key":
        new = _ec_key()
        x = (
            serialization.load_der_public_key(base64.b64decode(new)).public_numbers().x  # type: ignore[union-attr]
        )
        return setter("webhooks.sendgrid.verification_key", new), x
    if key == "notify[email].ca_file":
        bundle = _certificate(tmp, "ca.pem")
        return setter("notify.2.ca_file", bundle), True
    if key == "telemetry.gmail.credentials":
        path = _google_credentials(tmp, "user.json", token="http://127.0.0.1:9", user=True)
        return setter("telemetry.gmail.credentials", path), "google.oauth2.credentials"
    return None


async def test_each_reloadable_key_takes_effect(
    running: tuple[Daemon, dict[str, Value], Path], tmp_path: Path
) -> None:
    daemon, base, path = running
    failures = []
    for key, (change, probe, expected) in sorted(EFFECTS.items()):
        special = _special(key, tmp_path)
        if special is not None:
            change, expected = special
        doc = copy.deepcopy(base)
        assert change is not None, key
        change(doc)
        path.write_text(to_toml(doc))
        outcome = await daemon.reload()
        if not outcome.ok:
            failures.append(f"{key}: reload refused: {outcome.problems}")
            continue
        if key == "notify[email].ca_file":
            got = notifier(daemon, "mail").notifier._ssl_context is not None
        elif key == "telemetry.gmail.credentials":
            got = type(rt(daemon).settings.telemetry.gmail.credentials).__module__
        elif probe is None:  # campaigns: registered in the store
            got = await _campaign(daemon, doc)
            expected = doc["campaigns"][0]
        else:
            got = probe(daemon)
        if got != expected:
            failures.append(f"{key}: {got!r}, expected {expected!r}")
        if outcome.restart_required:
            failures.append(f"{key}: said restart required: {outcome.restart_required}")
        path.write_text(to_toml(base))  # back to the base before the next key
        assert (await daemon.reload()).ok
    assert failures == []


async def _campaign(daemon: Daemon, doc: dict[str, Value]) -> dict[str, Value]:
    wanted = doc["campaigns"][0]
    stored = await daemon.store.get_campaign(wanted["id"])
    assert stored is not None
    found = {"id": stored.id, "category": stored.category.value, "consent": stored.consent.value}
    if "sending_domain" in wanted:
        found["sending_domain"] = stored.sending_domain
    return found


async def test_restart_only_keys_are_named_and_keep_their_running_value(
    running: tuple[Daemon, dict[str, Value], Path], tmp_path: Path
) -> None:
    daemon, base, path = running
    pseudonym = daemon.services.feedback._pseudonymizer.pseudonym("someone@example.com")
    doc = copy.deepcopy(base)
    doc["store"]["url"] = f"sqlite:///{tmp_path / 'other.db'}"
    doc["http"]["listen"] = "127.0.0.1:9641"
    doc["http"]["max_body_bytes"] = 2048
    doc["privacy"]["pseudonym_key"] = "fedcba9876543210fedcba9876543210"
    path.write_text(to_toml(doc))
    outcome = await daemon.reload()
    assert outcome.ok
    assert set(outcome.restart_required) == RESTART_WITH_LISTEN
    # A second reload of the same file: still running the old values, still said.
    again = await daemon.reload()
    assert set(again.restart_required) == RESTART_WITH_LISTEN
    # Back to the values it started with: nothing to restart for.
    path.write_text(to_toml(base))
    assert (await daemon.reload()).restart_required == ()
    path.write_text(to_toml(doc))
    # what the running parts use is still what they started with
    assert daemon.services.feedback._pseudonymizer.pseudonym("someone@example.com") == pseudonym
    assert not (tmp_path / "other.db").exists()  # the running store stays the one opened
    port = daemon.listen_port
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{port}/healthz") as response,
    ):
        assert response.status == 200


# --- end to end over HTTP: tokens, a webhook key, a notifier ------------------------------


def _mailgun_body(key: str) -> bytes:
    timestamp = str(int(time.time()))
    token = hashlib.sha256(f"{key}{time.time_ns()}".encode()).hexdigest()
    signature = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {
            "signature": {"timestamp": timestamp, "token": token, "signature": signature},
            "event-data": {
                "event": "delivered",
                "id": token[:20],
                "timestamp": time.time(),
                "recipient": "someone@example.com",
                "user-variables": {"campaign": "spring"},
            },
        }
    ).encode()


async def test_tokens_and_webhook_keys_switch_at_reload_over_http(
    running: tuple[Daemon, dict[str, Value], Path],
) -> None:
    daemon, base, path = running
    url = f"http://127.0.0.1:{daemon.listen_port}"

    async def status(session: aiohttp.ClientSession, method: str, route: str, **kw: Any) -> int:
        async with session.request(method, url + route, **kw) as response:
            return response.status

    async with aiohttp.ClientSession() as session:
        campaigns = "/api/v1/campaigns"
        bearer = lambda token: {"Authorization": f"Bearer {token}"}  # noqa: E731
        mailgun = "/api/v1/webhooks/mailgun"
        assert await status(session, "GET", campaigns, headers=bearer(ADMIN)) == 200
        assert await status(session, "POST", mailgun, data=_mailgun_body(MAILGUN)) == 202
        doc = copy.deepcopy(base)
        doc["http"]["admin_token"] = ADMIN2
        doc["http"]["ingest_token"] = INGEST2
        doc["webhooks"]["mailgun"]["signing_key"] = MAILGUN2
        path.write_text(to_toml(doc))
        assert (await daemon.reload()).ok
        assert await status(session, "GET", campaigns, headers=bearer(ADMIN)) == 403
        assert await status(session, "GET", campaigns, headers=bearer(ADMIN2)) == 200
        assert await status(session, "GET", campaigns, headers=bearer(INGEST2)) == 200
        assert await status(session, "POST", mailgun, data=_mailgun_body(MAILGUN)) == 403
        assert await status(session, "POST", mailgun, data=_mailgun_body(MAILGUN2)) == 202


async def test_a_notification_goes_to_the_url_of_the_reloaded_notifier(
    running: tuple[Daemon, dict[str, Value], Path],
) -> None:
    daemon, base, path = running
    with Receiver() as second:
        doc = copy.deepcopy(base)
        doc["notify"][0]["url"] = second.url
        path.write_text(to_toml(doc))
        assert (await daemon.reload()).ok
        from monitor.model.alerts import AlertKind, Observation, Severity

        obs = Observation(
            "record_broken:spf:example.com",
            AlertKind.RECORD_BROKEN,
            True,
            severity=Severity.CRITICAL,
            labels={"check": "spf", "target": "example.com", "item": ""},
            title="SPF of example.com is failing",
        )
        await daemon.services.alerts.apply([obs], baseline_allowed=False)
        await daemon.services.outbox.send_due()
        assert [r["key"] for r in second.received] == ["record_broken:spf:example.com"]
