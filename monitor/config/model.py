"""The TOML configuration: parsed into frozen pydantic models and validated whole.

Every problem is collected and reported at once (``ConfigError``). Secrets may
be given as ``"env:NAME"`` and are read from the environment.
"""

from __future__ import annotations

import datetime as dt
import difflib
import ipaddress
import json
import os
import re
import tomllib
import typing
import zoneinfo
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from checks.dkim import DkimPolicy
from checks.dns import Nameserver
from checks.dnsbl.catalogue import Match, Severity, ZoneKind
from checks.dnsbl.targets import TargetError, TargetKind, parse_target
from checks.domains import DomainError, to_a_label
from monitor.config.notify import NotifyConfig
from monitor.config.telemetry import TelemetryConfig
from monitor.model.errors import ConfigError
from monitor.model.events import Category, Consent

__all__ = [
    "AlertsConfig",
    "BouncesConfig",
    "CampaignConfig",
    "ClusterConfig",
    "Config",
    "CustomZoneConfig",
    "DmarcConfig",
    "DnsConfig",
    "DnsblConfig",
    "DomainConfig",
    "FeedbackConfig",
    "HttpConfig",
    "ImapConfig",
    "LogConfig",
    "MailgunWebhookConfig",
    "MetricsConfig",
    "PostmarkWebhookConfig",
    "PrivacyConfig",
    "ScheduleConfig",
    "SendgridWebhookConfig",
    "SesWebhookConfig",
    "StoreConfig",
    "WebhooksConfig",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_listen",
    "resolve_secret",
    "with_nameservers",
]

_DURATION = re.compile(r"^(\d+)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]+")
# The longest duration any key takes: a year (a leap one). Longer would mean "never", and
# the scheduler cannot even compute a run that far away (dates end at year 9999).
MAX_DURATION_DAYS = 366


def parse_duration(text: str) -> int:
    """``"90s"``, ``"15m"``, ``"2h"``, ``"1d"`` to seconds, at most ``MAX_DURATION_DAYS``.

    Raises:
        ValueError: not a whole number followed by s, m, h or d, or longer than 366 days.
    """
    match = _DURATION.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(
            f"a duration is a whole number above 0 and a unit (s, m, h, d), like 30s, 15m, "
            f"2h or 1d; got {text!r}"
        )
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if seconds > MAX_DURATION_DAYS * 86_400:
        raise ValueError(f"a duration is at most {MAX_DURATION_DAYS}d; got {text!r}")
    return seconds


def resolve_secret(value: str) -> str | None:
    """``"env:NAME"`` reads the environment (None when unset); anything else is literal."""
    if value.startswith("env:"):
        return os.environ.get(value[4:]) or None
    return value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DnsConfig(_Model):
    """A resolver profile. For DNSBLs: a local, non-forwarding recursive resolver."""

    nameservers: list[str] = Field(default_factory=lambda: ["127.0.0.1:53"], min_length=1)
    timeout: Annotated[float, Field(gt=0, le=30)] = 2.0
    attempts: Annotated[int, Field(ge=1, le=10)] = 2
    max_in_flight: Annotated[int, Field(ge=1, le=65_536)] = 512
    cache_entries: Annotated[int, Field(ge=0)] = 100_000
    rate_limits: dict[str, Annotated[float, Field(gt=0)]] = Field(default_factory=dict)

    @field_validator("nameservers")
    @classmethod
    def _nameservers_parse(cls, value: list[str]) -> list[str]:
        problems = []
        for item in value:
            try:
                Nameserver.parse(item)
            except ValueError as exc:
                problems.append(str(exc))
        if problems:  # every one at once, not the first
            raise ValueError("; ".join(problems))
        return value

    @field_validator("rate_limits")
    @classmethod
    def _rate_limit_zones(cls, value: dict[str, float]) -> dict[str, float]:
        # Zone ids are A-labels in lower case, without the final dot: the sweep's rate key
        # is the id, so "ZEN.Spamhaus.org." would never have matched it.
        limits: dict[str, float] = {}
        given: dict[str, str] = {}
        problems = []
        for name, rate in value.items():
            try:
                zone = to_a_label(name)
            except DomainError as exc:
                problems.append(f"{name!r} is no zone name: {exc}")
                continue
            if zone in given:
                problems.append(f"{given[zone]!r} and {name!r} are one zone, {zone}")
            given.setdefault(zone, name)
            limits[zone] = rate
        if problems:
            raise ValueError("; ".join(problems))
        return limits


class CodeConfig(_Model):
    value: str | None = None
    bit: int | None = None
    meaning: str = ""
    severity: Severity | None = None
    listing: bool = True


class ErrorCodeConfig(_Model):
    value: str
    reason: Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]
    meaning: str = ""


class CustomZoneConfig(_Model):
    """A zone that is not in the bundled catalogue, or a local override of one."""

    id: Annotated[str, Field(min_length=1)]
    query_zone: str | None = None
    kind: ZoneKind = ZoneKind.IP
    ipv4: bool = True
    ipv6: bool = False
    match: Match = Match.ANY
    severity: Severity = Severity.MAJOR
    early_warning: bool = False
    delist_url: str = ""
    codes: list[CodeConfig] = Field(default_factory=list)
    errors: list[ErrorCodeConfig] = Field(default_factory=list)
    test_listed: list[str] | None = None
    test_not_listed: list[str] | None = None
    test_listed_v6: list[str] | None = None
    test_not_listed_v6: list[str] | None = None


class DnsblConfig(_Model):
    zones: list[str] | None = None  # None: the catalogue's recommended set
    interval: str = "15m"
    keys: dict[str, str] = Field(default_factory=dict)  # key_name -> key or "env:NAME"
    custom_zones: list[CustomZoneConfig] = Field(default_factory=list)
    concurrency: Annotated[int, Field(ge=1, le=65_536)] = 512

    @field_validator("interval")
    @classmethod
    def _interval_parses(cls, value: str) -> str:
        parse_duration(value)
        return value


class DomainConfig(_Model):
    name: str
    dkim_selectors: list[str] = Field(default_factory=list)
    sending_ips: list[str] = Field(default_factory=list)
    # Sending identities for DMARC alignment: RFC5321.MailFrom (bounce) domains and
    # DKIM d= domains; DKIM defaults to the domain itself when selectors are given.
    envelope_domains: list[str] = Field(default_factory=list)
    dkim_domains: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _name_is_domain(cls, value: str) -> str:
        try:
            target = parse_target(value)
        except TargetError as exc:
            raise ValueError(str(exc)) from None
        if target.kind is not TargetKind.DOMAIN:
            raise ValueError(f"{value!r} is an IP address, not a domain")
        return target.text

    @field_validator("sending_ips")
    @classmethod
    def _ips_parse(cls, value: list[str]) -> list[str]:
        parsed, bad = [], []
        for text in value:
            try:
                parsed.append(ipaddress.ip_address(text))
            except ValueError:
                bad.append(repr(text))
        if bad:  # every one at once, not the first
            raise ValueError(f"not IP addresses (one address each, no networks): {', '.join(bad)}")
        # An IPv4-mapped IPv6 address is checked as its IPv4 address: the same target.
        checked = [
            str(a.ipv4_mapped) if isinstance(a, ipaddress.IPv6Address) and a.ipv4_mapped else str(a)
            for a in parsed
        ]
        twice = sorted({ip for ip in checked if checked.count(ip) > 1})
        if twice:
            raise ValueError(
                f"address given twice (an IPv4-mapped IPv6 address is its IPv4 address): "
                f"{', '.join(twice)}"
            )
        return [str(a) for a in parsed]

    @field_validator("dkim_selectors")
    @classmethod
    def _selectors_valid(cls, value: list[str]) -> list[str]:
        DkimPolicy(selectors=tuple(value))  # raises ValueError naming the bad ones
        # DNS labels: S1 is s1 (RFC 4343), one check and one alert key for both.
        lowered = [v.lower() for v in value]
        twice = sorted({v for v in lowered if lowered.count(v) > 1})
        if twice:
            raise ValueError(f"selector given twice (case does not count): {', '.join(twice)}")
        return lowered

    @field_validator("envelope_domains", "dkim_domains")
    @classmethod
    def _identity_domains(cls, value: list[str]) -> list[str]:
        try:
            return [to_a_label(v) for v in value]
        except DomainError as exc:
            raise ValueError(str(exc)) from None


class HttpConfig(_Model):
    """The HTTP server: listen address, tokens (or ``env:NAME``), request limits."""

    listen: str = "127.0.0.1:9640"
    ingest_token: str | None = None  # Bearer for ingest routes
    admin_token: str | None = None  # Bearer for subject, campaign-registry and reload routes
    max_body_bytes: Annotated[int, Field(ge=1024, le=1 << 30)] = 10 * 1024 * 1024

    @field_validator("listen")
    @classmethod
    def _listen_parses(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("ingest_token", "admin_token")
    @classmethod
    def _token_given(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            # It would close the routes as leaving the key out does, without a word.
            raise ValueError("is empty: give a token, or leave the key out to close its routes")
        return value


def parse_listen(text: str) -> tuple[str, int]:
    """``[http] listen`` and ``--listen``: ``IP:PORT``, ``[IPv6]:PORT`` or ``localhost:PORT``
    to the host to bind and the port (1-65535).

    A host name other than localhost is refused: it could pass here and fail to resolve at
    start, or bind an address nobody meant.

    Raises:
        ValueError: anything else.
    """
    host, _, port = text.rpartition(":")
    if host.lower() == "localhost":  # a host name: any case (RFC 4343)
        host = "localhost"
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    try:
        address = ipaddress.ip_address(bare) if bare != "localhost" else None
    except ValueError:
        bare = ""
    brackets = bare != host
    well_formed = bool(bare) and brackets == (address is not None and address.version == 6)
    if not (well_formed and port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(
            "listen must be IP:PORT (an IPv4 address, an IPv6 address in brackets, or "
            f"localhost; a port from 1 to 65535), got {text!r}"
        )
    return bare, int(port)


class StoreConfig(_Model):
    url: str = "sqlite:///data/delivermon.db"


class PrivacyConfig(_Model):
    pseudonym_key: str | None = None  # or env:NAME; generated into a 0600 file when unset
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    store_raw: bool = False


class FeedbackConfig(_Model):
    campaign_headers: list[str] = Field(default_factory=lambda: ["X-Campaign-ID"])
    min_volume: Annotated[int, Field(ge=1)] = (
        1000  # delivered mail below which rates are not meaningful
    )

    @field_validator("campaign_headers")
    @classmethod
    def _header_names(cls, value: list[str]) -> list[str]:
        # RFC 5322 §3.6.8: a field name is printable US-ASCII (33-126) except ":".
        bad = [repr(v) for v in value if not _FIELD_NAME.fullmatch(v)]
        if bad:
            raise ValueError(
                "not header field names (printable ASCII without spaces or ':', RFC 5322 "
                f"§3.6.8): {', '.join(bad)}"
            )
        return value


class SesWebhookConfig(_Model):
    topic_arns: list[str] = Field(default_factory=list)  # empty: every message is refused
    certificate_files: list[str] = Field(default_factory=list)  # pinned PEM files
    campaign_field: str = "campaign"  # SES message tag naming the campaign
    # Fetch a signing certificate that is not pinned from its SigningCertURL (the topic's
    # https://sns.<region>.amazonaws.com/SimpleNotificationService-<hex>.pem only).
    fetch_certificates: bool = True


class SendgridWebhookConfig(_Model):
    verification_key: str | None = None  # base64 public key, or env:NAME
    campaign_field: str = "campaign"  # custom arg naming the campaign
    max_age_seconds: Annotated[int, Field(ge=10, le=86_400)] = 600


class MailgunWebhookConfig(_Model):
    signing_key: str | None = None  # or env:NAME
    campaign_field: str = "campaign"  # user-variable naming the campaign
    max_age_seconds: Annotated[int, Field(ge=10, le=86_400)] = 600


class PostmarkWebhookConfig(_Model):
    username: str | None = None
    password: str | None = None  # or env:NAME
    campaign_field: str = "campaign"  # Metadata key naming the campaign


class WebhooksConfig(_Model):
    """A provider without a section has no webhook route enabled (404)."""

    ses: SesWebhookConfig | None = None
    sendgrid: SendgridWebhookConfig | None = None
    mailgun: MailgunWebhookConfig | None = None
    postmark: PostmarkWebhookConfig | None = None


class CampaignConfig(_Model):
    """A campaign registered from config (the API's PUT /api/v1/campaigns/{id} does the same)."""

    id: Annotated[str, Field(pattern=r"^[\x21-\x3f\x41-\x7e]{1,128}$")]  # no @
    category: Category
    consent: Consent = Consent.UNKNOWN
    sending_domain: str | None = None

    @field_validator("sending_domain")
    @classmethod
    def _domain_is_a_name(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:  # as PUT /api/v1/campaigns/{id} reads it
            return to_a_label(value)
        except DomainError as exc:
            raise ValueError(str(exc)) from None


class ImapConfig(_Model):
    """A feedback-loop mailbox polled for ARF reports."""

    host: str
    port: Annotated[int, Field(ge=1, le=65_535)] = 993
    security: Literal["tls", "starttls", "none"] = "tls"  # "none" only for loopback tests
    username: str
    password: str  # or env:NAME
    mailbox: str = "INBOX"
    processed_folder: str = "delivermon/processed"
    refused_folder: str = "delivermon/refused"
    interval: str = "5m"
    # Unexpected failures of one message before it goes to refused_folder.
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 3

    @field_validator("interval")
    @classmethod
    def _interval_parses(cls, value: str) -> str:
        parse_duration(value)
        return value


def _duration_field(value: str) -> str:
    parse_duration(value)
    return value


class ScheduleConfig(_Model):
    """Intervals of the daemon's jobs (the DNSBL sweep's is ``[dnsbl] interval``)."""

    selftest_interval: str = "30m"  # DNSBL zone self-tests
    auth_interval: str = "1h"  # SPF, DMARC, DKIM, MX and PTR, fully evaluated
    drift_interval: str = "15m"  # the published SPF, DMARC and DKIM records, for changes
    purge_interval: str = "6h"  # retention purge of per-person data
    metrics_interval: str = "30s"  # campaign counters and rates read from the store
    notify_interval: str = "10s"  # the notification outbox
    jitter: Annotated[float, Field(ge=0, le=0.5)] = 0.1  # fraction of each interval

    @field_validator(
        "selftest_interval",
        "auth_interval",
        "drift_interval",
        "purge_interval",
        "metrics_interval",
        "notify_interval",
    )
    @classmethod
    def _intervals_parse(cls, value: str) -> str:
        return _duration_field(value)


class MetricsConfig(_Model):
    campaign_window: str = "7d"  # campaigns active within it get their own label
    max_campaigns: Annotated[int, Field(ge=1, le=10_000)] = 200  # the rest: campaign="_other"
    # A campaign appearing after start is shown at 0 this long first (a scrape or two),
    # so that Prometheus' increase() counts what it already held.
    new_series_hold: str = "1m"

    @field_validator("campaign_window", "new_series_hold")
    @classmethod
    def _window_parses(cls, value: str) -> str:
        return _duration_field(value)


class DmarcConfig(_Model):
    """DMARC aggregate reports: the classification job and the policy-readiness verdict."""

    interval: str = "10m"  # the dmarc job: classify sources, refresh figures
    readiness_ratio: Annotated[float, Field(gt=0, le=1)] = 0.98  # own mail passing DMARC
    min_messages: Annotated[int, Field(ge=1)] = 100  # own messages before a verdict is given
    ptr_lookups: Annotated[int, Field(ge=0, le=1000)] = 10  # top unknown sources per domain
    # Aggregate reports received longer ago are deleted (after the counters counted them):
    # 400 days keeps a year to compare with and the readiness and source windows (30 days).
    retention_days: Annotated[int, Field(ge=1, le=3650)] = 400

    @field_validator("interval")
    @classmethod
    def _interval_parses(cls, value: str) -> str:
        return _duration_field(value)


RiskLevelName = Literal["elevated", "high", "critical"]


class AlertsConfig(_Model):
    """When alerts fire and how they are damped (see monitor/model/alerts.py)."""

    notify_existing: bool = False  # announce states already present at the first check
    resolve_after: Annotated[int, Field(ge=1, le=20)] = 2  # clear checks before "resolved"
    flap_window: str = "6h"
    flap_limit: Annotated[int, Field(ge=1, le=100)] = 3  # firings per window still announced
    confirm_delay: Annotated[float, Field(ge=0, le=300)] = 5.0  # seconds before re-checking
    risk_level: RiskLevelName = "elevated"  # the lowest risk level that alerts
    complaint_warning: Annotated[float, Field(gt=0, lt=1)] = 0.001  # 0.1 %
    complaint_critical: Annotated[float, Field(gt=0, lt=1)] = 0.003  # 0.3 %
    complaint_window: Literal["1h", "24h", "7d"] = "24h"

    @field_validator("flap_window")
    @classmethod
    def _window_parses(cls, value: str) -> str:
        return _duration_field(value)

    @model_validator(mode="after")
    def _warning_below_critical(self) -> AlertsConfig:
        if self.complaint_warning >= self.complaint_critical:
            raise ValueError(
                f"complaint_warning ({self.complaint_warning}) must be below "
                f"complaint_critical ({self.complaint_critical})"
            )
        return self


class BouncesConfig(_Model):
    """``[bounces]``: when classified bounces and deferrals become findings (docs/findings.md)."""

    window: Literal["1h", "24h", "7d"] = "1h"  # the findings look at this window
    ratelimit_threshold: Annotated[int, Field(ge=1)] = 10  # reputation replies per provider
    dmarc_threshold: Annotated[int, Field(ge=1)] = 1  # DMARC rejections per provider
    hard_bounce_rate: Annotated[float, Field(gt=0, lt=1)] = 0.02  # dead addresses per attempt
    # Postfix/Exim logs the daemon follows (rotation-safe); each attempt becomes an event.
    mta_logs: list[str] = Field(default_factory=list)
    log_interval: str = "10s"
    # The zone of log timestamps that name none (classic syslog, Exim without
    # log_timezone): "local" (the host's zone) or an IANA name such as "UTC".
    log_timezone: str = "local"

    @field_validator("log_interval")
    @classmethod
    def _interval_parses(cls, value: str) -> str:
        return _duration_field(value)

    @field_validator("log_timezone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        if value != "local":
            try:
                zoneinfo.ZoneInfo(value)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(
                    f'unknown time zone {value!r}: "local" or an IANA name such as "UTC"'
                ) from exc
        return value


class LogConfig(_Model):
    """``[log]``: the level (default INFO for ``run``, WARNING for the other commands) and
    the format; ``--log-level``/``--log-format`` on the command line override both."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] | None = None
    format: Literal["text", "json"] = "text"

    @field_validator("level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value


class ClusterConfig(_Model):
    """Scale-out: this replica checks the targets whose stable hash falls in its shard."""

    shard: Annotated[str, Field(pattern=r"^\d+/\d+$")] = "0/1"

    @field_validator("shard")
    @classmethod
    def _shard_valid(cls, value: str) -> str:
        index, count = (int(p) for p in value.split("/"))
        if count < 1 or not 0 <= index < count:
            raise ValueError(f"shard must be INDEX/COUNT with 0 <= INDEX < COUNT, got {value!r}")
        return value


class Config(_Model):
    dns: DnsConfig = Field(default_factory=DnsConfig)
    auth_dns: DnsConfig | None = None
    dnsbl: DnsblConfig = Field(default_factory=DnsblConfig)
    domains: list[DomainConfig] = Field(default_factory=list)
    http: HttpConfig = Field(default_factory=HttpConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    privacy: PrivacyConfig = Field(default_factory=PrivacyConfig)
    feedback: FeedbackConfig = Field(default_factory=FeedbackConfig)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    campaigns: list[CampaignConfig] = Field(default_factory=list)
    imap: ImapConfig | None = None
    schedule: ScheduleConfig = Field(default_factory=ScheduleConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    bounces: BouncesConfig = Field(default_factory=BouncesConfig)
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    notify: list[NotifyConfig] = Field(default_factory=list)
    telemetry: TelemetryConfig = Field(default_factory=TelemetryConfig)
    dmarc: DmarcConfig = Field(default_factory=DmarcConfig)

    @model_validator(mode="after")
    def _auth_dns_inherits(self) -> Config:
        """Each key ``[auth_dns]`` does not set is ``[dns]``'s (the README's "default
        [dns]"): a section giving only a timeout kept the built-in 127.0.0.1:53."""
        if self.auth_dns is not None:
            given = self.auth_dns.model_fields_set
            unset = {k: getattr(self.dns, k) for k in DnsConfig.model_fields if k not in given}
            if unset:
                # A frozen model: set while it is being validated, before anyone holds it.
                object.__setattr__(self, "auth_dns", self.auth_dns.model_copy(update=unset))
        return self

    @field_validator("domains")
    @classmethod
    def _domains_once(cls, value: list[DomainConfig]) -> list[DomainConfig]:
        _once([d.name for d in value], "domain", "[[domains]] entries")
        return value

    @field_validator("campaigns")
    @classmethod
    def _campaigns_once(cls, value: list[CampaignConfig]) -> list[CampaignConfig]:
        _once([c.id for c in value], "campaign", "[[campaigns]] entries")
        return value


def _once(names: Sequence[str], what: str, where: str) -> None:
    """Refuse a name given twice: one entry would silently replace the other's settings.

    Raises:
        ValueError: naming each name given twice and where.
    """
    seen: dict[str, int] = {}
    twice = []
    for index, name in enumerate(names):
        if name in seen:
            twice.append(f"{what} {name!r} in entries {seen[name]} and {index}")
        seen.setdefault(name, index)
    if twice:
        raise ValueError(f"each {what} once, in one of the {where}: {'; '.join(twice)}")


def parse_config(text: str, *, source: str = "config") -> Config:
    """Parse and validate TOML text.

    Raises:
        ConfigError: with every problem (syntax, unknown keys, bad values).
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], source=source) from None
    # No key takes a TOML date or time: one where a string was meant (an unquoted token or
    # campaign id) would otherwise reach the model as its text.
    dated = list(_dates(raw, ()))
    problems = [
        f"{_path(loc)}: a TOML date or time, which no key takes (quote a string)" for loc in dated
    ]
    try:
        # Strict, as JSON: a TOML string is no number or boolean ("1", "yes" were taken as
        # 1 and True), while names still read as their enums.
        config = Config.model_validate_json(json.dumps(raw, default=str), strict=True)
    except ValidationError as exc:
        problems += [
            _describe(err["loc"], err["msg"]) for err in exc.errors() if err["loc"] not in dated
        ]
    if problems:
        raise ConfigError(problems, source=source)
    return config


def _dates(value: object, loc: tuple[int | str, ...]) -> typing.Iterator[tuple[int | str, ...]]:
    """Where in parsed TOML a date, a time or a date-time is."""
    if isinstance(value, dt.date | dt.time):  # datetime is a date
        yield loc
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _dates(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _dates(item, (*loc, index))


def with_nameservers(config: Config, nameservers: Sequence[str]) -> Config:
    """``--nameserver``: ``nameservers`` replace the lists of ``[dns]`` and, when set,
    ``[auth_dns]`` (each address already checked with ``Nameserver.parse``)."""
    if not nameservers:
        return config
    servers = list(nameservers)
    update: dict[str, object] = {"dns": config.dns.model_copy(update={"nameservers": servers})}
    if config.auth_dns is not None:
        update["auth_dns"] = config.auth_dns.model_copy(update={"nameservers": servers})
    return config.model_copy(update=update)


def load_config(path: Path) -> Config:
    """Read and validate a config file.

    Raises:
        ConfigError: unreadable file or invalid content (every problem listed).
    """
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"cannot read: {exc}"], source=str(path)) from None
    config = parse_config(text, source=str(path))
    if not config.model_fields_set:
        # Most often a file caught half-written (an editor, config management): taken as
        # "all defaults", a reload would drop every domain, target and token.
        raise ConfigError(
            [
                "the file sets nothing (empty, or only comments): to run on the built-in "
                "defaults, give no config file"
            ],
            source=str(path),
        )
    return config


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def _describe(loc: tuple[int | str, ...], msg: str) -> str:
    path = _path(loc)
    msg = msg.removeprefix("Value error, ")
    if msg == "Extra inputs are not permitted":
        msg = "unknown key"
        known = _keys_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.75)
        if close:
            msg += f" (did you mean {close[0]}?)"
    return f"{path}: {msg}"


def _keys_at(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the model accepts at ``loc`` (a table's fields), [] when it cannot tell."""
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue  # an array of tables: the same model for every item
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            return []
        model = _model_in(field.annotation)
        if model is None:
            return []
    return list(model.model_fields) if hasattr(model, "model_fields") else []


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside ``X``, ``X | None``, ``list[X]`` or ``tuple[X, ...]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None
