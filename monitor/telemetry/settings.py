"""``[telemetry]`` built: the Google credentials loaded, the SNDS key read, the domains and
IPs each source covers. Built with the rest of the settings at start, by ``config check``
and on every reload; every problem is reported at once, never a secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.config import Config, GmailTelemetryConfig, SndsTelemetryConfig, resolve_secret
from monitor.model.errors import ConfigError
from monitor.telemetry.auth import load_google_credentials

__all__ = [
    "GmailSettings",
    "SndsSettings",
    "TelemetrySettings",
    "build_telemetry_settings",
    "gmail_domains",
    "sending_ips",
]


@dataclass(frozen=True, slots=True, eq=False)
class GmailSettings:
    """``credentials`` is a google-auth credentials object (never logged or shown)."""

    config: GmailTelemetryConfig
    credentials: Any
    domains: tuple[str, ...]

    def __repr__(self) -> str:
        return f"GmailSettings(domains={self.domains!r})"


@dataclass(frozen=True, slots=True, eq=False)
class SndsSettings:
    config: SndsTelemetryConfig
    key: str
    ips: tuple[str, ...]

    def __repr__(self) -> str:
        return f"SndsSettings(ips={self.ips!r})"


@dataclass(frozen=True, slots=True)
class TelemetrySettings:
    gmail: GmailSettings | None = None
    snds: SndsSettings | None = None


def gmail_domains(config: Config) -> tuple[str, ...]:
    """``[telemetry.gmail] domains``, or every ``[[domains]] name``."""
    gmail = config.telemetry.gmail
    if gmail is not None and gmail.domains is not None:
        return tuple(dict.fromkeys(gmail.domains))
    return tuple(dict.fromkeys(d.name for d in config.domains))


def sending_ips(config: Config) -> tuple[str, ...]:
    return tuple(sorted({ip for d in config.domains for ip in d.sending_ips}))


def build_telemetry_settings(config: Config, *, secrets: bool = True) -> TelemetrySettings:
    """Raises ConfigError with every problem (unreadable credentials, an unset variable).

    ``secrets=False`` reads neither the credentials nor the key (``telemetry status``
    shows what is stored and needs only the domains and IPs): ``credentials`` is None
    and ``key`` empty.
    """
    problems: list[str] = []
    gmail = snds = None
    if config.telemetry.gmail is not None:
        try:
            credentials = (
                load_google_credentials(config.telemetry.gmail.credentials) if secrets else None
            )
        except ConfigError as exc:
            problems += exc.problems
        else:
            domains = gmail_domains(config)
            if not domains:
                problems.append(
                    "telemetry.gmail.domains: no domain to import (set domains, or add [[domains]])"
                )
            gmail = GmailSettings(config.telemetry.gmail, credentials, domains)
    if config.telemetry.snds is not None:
        setting = config.telemetry.snds.key
        key = resolve_secret(setting) if secrets else ""
        if key is None:
            problems.append(
                f"telemetry.snds.key: environment variable {setting[4:]} is not set or empty"
            )
        else:
            snds = SndsSettings(config.telemetry.snds, key, sending_ips(config))
    if problems:
        raise ConfigError(problems)
    return TelemetrySettings(gmail, snds)
