"""``[telemetry.gmail]`` and ``[telemetry.snds]``: receiver telemetry imported on schedule.

Gmail Postmaster Tools API v2 (a service-account or authorized-user credentials file)
and Microsoft SNDS (an automated-access key). Secrets are a path or ``env:NAME`` and
are never logged; the base URLs are configurable so that tests can point them at a
local server.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from checks.domains import DomainError, to_a_label
from monitor.model.hosts import is_loopback_host, redact_url

__all__ = [
    "GMAIL_API_BASE",
    "SNDS_BASE_URL",
    "GmailTelemetryConfig",
    "SndsTelemetryConfig",
    "TelemetryConfig",
    "https_url",
]

GMAIL_API_BASE = "https://gmailpostmastertools.googleapis.com"
# The SNDS automated-access host (data.aspx and ipStatus.aspx live under it).
SNDS_BASE_URL = "https://sendersupport.olc.protection.outlook.com/snds"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _interval(value: str) -> str:
    from monitor.config.model import parse_duration

    parse_duration(value)
    return value


# The shortest import interval against the real services: Gmail's data is daily and its
# API has a daily quota; SNDS publishes once a day. A loopback stand-in (a test server)
# may be asked more often.
MIN_INTERVAL_SECONDS = 60


def _interval_for(interval: str, base: str) -> None:
    from monitor.config.model import parse_duration

    host = urlsplit(base).hostname or ""
    if parse_duration(interval) < MIN_INTERVAL_SECONDS and not is_loopback_host(host):
        raise ValueError(
            f"interval {interval!r} is under a minute: the service publishes its data "
            "daily (shorter intervals only for a loopback stand-in)"
        )


def https_url(value: str) -> str:
    """An absolute https URL (plain http only for a loopback host, i.e. a test server)."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 -- evaluated for its ValueError on a bad port
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host or parts.query or parts.fragment:
        raise ValueError(f"must be an absolute https URL without a query, got {redact_url(value)}")
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(f"{redact_url(value)} uses plain http; use https")
    return value.rstrip("/")


class GmailTelemetryConfig(_Model):
    """Gmail Postmaster Tools API v2, per configured domain."""

    credentials: Annotated[str, Field(min_length=1)]  # a JSON file's path, or env:NAME (content)
    domains: list[str] | None = None  # None: every [[domains]] name
    interval: str = "6h"
    api_base: str = GMAIL_API_BASE
    lookback_days: Annotated[int, Field(ge=1, le=120)] = 14  # days queried at each import

    _interval_ok = field_validator("interval")(_interval)
    _base_ok = field_validator("api_base")(https_url)

    @model_validator(mode="after")
    def _not_too_often(self) -> GmailTelemetryConfig:
        _interval_for(self.interval, self.api_base)
        return self

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        try:
            return [to_a_label(v) for v in value]
        except DomainError as exc:
            raise ValueError(str(exc)) from None


class SndsTelemetryConfig(_Model):
    """Microsoft SNDS automated data access (the key is the whole credential)."""

    key: Annotated[str, Field(min_length=1)]  # or env:NAME
    interval: str = "1d"
    base_url: str = SNDS_BASE_URL

    _interval_ok = field_validator("interval")(_interval)
    _base_ok = field_validator("base_url")(https_url)

    @model_validator(mode="after")
    def _not_too_often(self) -> SndsTelemetryConfig:
        _interval_for(self.interval, self.base_url)
        return self


class TelemetryConfig(_Model):
    """A source without its section is not imported."""

    gmail: GmailTelemetryConfig | None = None
    snds: SndsTelemetryConfig | None = None
