"""One settings builder: everything built from a config, with every problem reported at once.

``build_settings`` resolves every ``env:`` secret, selects the DNSBL zones (keys filled
in), loads the webhook keys and certificates, builds the notifiers and checks the IMAP
settings. ``delivermon config check``, start and every reload call it, and a reload
swaps the whole result, so nothing built from the config outlives the config it came
from (``RESTART_KEYS`` lists what only a restart changes).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp

from checks.dnsbl import ZoneSpec
from checks.dnsbl.catalogue import Catalogue
from monitor.alerting.notify import Route, build_notifiers
from monitor.checking.zones import select_zones
from monitor.config import Config, ImapConfig, parse_duration, resolve_secret
from monitor.ingest.webhooks.settings import WebhookVerifiers, build_webhook_verifiers
from monitor.model.alerts import AlertPolicy
from monitor.model.errors import ConfigError
from monitor.model.hosts import is_loopback_host
from monitor.store.keyfile import check_key_settings
from monitor.store.rates import VolumeGuard
from monitor.telemetry.settings import TelemetrySettings, build_telemetry_settings

__all__ = ["RESTART_KEYS", "ImapSettings", "Settings", "build_settings", "restart_required"]

log = logging.getLogger(__name__)
_T = TypeVar("_T")

# Bound when the process starts; a reload that changes one says so and keeps the old value.
# The pseudonym key is one of them: pseudonyms made under another key would not match,
# and an erasure would quietly find nothing.
RESTART_KEYS: tuple[tuple[str, Callable[[Config], object]], ...] = (
    ("store.url", lambda c: c.store.url),
    ("http.listen", lambda c: c.http.listen),
    ("http.max_body_bytes", lambda c: c.http.max_body_bytes),
    ("privacy.pseudonym_key", lambda c: c.privacy.pseudonym_key),
)


@dataclass(frozen=True, slots=True)
class ImapSettings:
    """``[imap]`` with its password read."""

    config: ImapConfig
    password: str


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything one config means, built and checked whole; swapped as one on reload."""

    config: Config
    catalogue: Catalogue
    zones: tuple[ZoneSpec, ...]
    ingest_token: str | None  # None: the ingest routes refuse every request
    admin_token: str | None
    webhooks: WebhookVerifiers
    notifiers: Mapping[str, Route]
    imap: ImapSettings | None
    alert_policy: AlertPolicy
    guard: VolumeGuard
    telemetry: TelemetrySettings  # [telemetry.gmail], [telemetry.snds]


def build_settings(
    config: Config,
    *,
    catalogue: Catalogue,
    session: aiohttp.ClientSession,
) -> Settings:
    """Build everything ``config`` means; no file is written and nothing is connected to.

    The pseudonym key is checked here and loaded (or created) by the daemon at start:
    it is restart-only, like the store (``RESTART_KEYS``).

    Raises:
        ConfigError: every problem of every section at once.
    """
    problems: list[str] = []

    def attempt(build: Callable[[], _T]) -> _T | None:
        try:
            return build()
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None

    zones = attempt(lambda: select_zones(config, catalogue))
    problems.extend(check_key_settings(config.store.url, config.privacy.pseudonym_key))
    webhooks = attempt(lambda: build_webhook_verifiers(config))
    notifiers = attempt(
        lambda: {r.notifier.name: r for r in build_notifiers(config.notify, session)}
    )
    imap = _imap(config.imap, problems)
    _mta_logs(config.bounces.mta_logs, problems)
    telemetry = attempt(lambda: build_telemetry_settings(config))
    ingest_token = _token(config.http.ingest_token, "http.ingest_token")
    admin_token = _token(config.http.admin_token, "http.admin_token")
    if ingest_token is not None and ingest_token == admin_token:
        problems.append(
            "http.ingest_token and http.admin_token are the same token: whoever can post "
            "reports could also reload the config and read or erase a person's data"
        )
    if problems:
        raise ConfigError(problems)
    assert zones is not None
    assert webhooks is not None
    assert notifiers is not None
    assert telemetry is not None
    alerts = config.alerts
    return Settings(
        config=config,
        catalogue=catalogue,
        zones=zones,
        ingest_token=ingest_token,
        admin_token=admin_token,
        webhooks=webhooks,
        notifiers=notifiers,
        imap=imap,
        alert_policy=AlertPolicy(
            notify_existing=alerts.notify_existing,
            resolve_after=alerts.resolve_after,
            flap_window=dt.timedelta(seconds=parse_duration(alerts.flap_window)),
            flap_limit=alerts.flap_limit,
        ),
        guard=VolumeGuard(
            min_delivered=config.feedback.min_volume, min_sent=config.feedback.min_volume
        ),
        telemetry=telemetry,
    )


def restart_required(old: Config, new: Config) -> tuple[str, ...]:
    """The restart-only keys whose value differs between two configs."""
    return tuple(key for key, read in RESTART_KEYS if read(old) != read(new))


def _token(value: str | None, key: str) -> str | None:
    if not value:
        return None
    token = resolve_secret(value)
    if token is None:
        log.warning(
            "%s names the environment variable %s, which is not set (or empty): its routes "
            "refuse every request",
            key,
            value.removeprefix("env:"),
        )
    return token


def _mta_logs(paths: Sequence[str], problems: list[str]) -> None:
    """A path that is there but is no file is a mistake; one not there yet (a log the MTA
    has not written) is read once it appears, and said so."""
    for text in paths:
        path = Path(text)
        if path.exists() and not path.is_file():
            problems.append(f"bounces.mta_logs: {text} is not a file (a directory?)")
        elif not path.exists():
            log.warning("bounces.mta_logs: %s does not exist (yet): it is read once it does", text)


def _imap(config: ImapConfig | None, problems: list[str]) -> ImapSettings | None:
    if config is None:
        return None
    if config.security == "none" and not is_loopback_host(config.host):
        problems.append(
            'imap.security: "none" sends the password in clear text; it is allowed only for '
            'a loopback host: use "tls" or "starttls"'
        )
    password = resolve_secret(config.password)
    if password is None:
        problems.append(f"imap.password: environment variable {config.password[4:]} is not set")
        return None
    return ImapSettings(config, password)
