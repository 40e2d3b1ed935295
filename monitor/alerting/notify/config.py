"""The ``[[notify]]`` entries: one pydantic model per ``kind``, and the factory that builds them.

``monitor.config`` embeds ``NotifyConfig`` (``notify: list[NotifyConfig]``); secrets
(webhook URLs, header values, SMTP passwords) may be ``"env:NAME"`` and are read by
``build_notifiers``, so a missing variable is reported with every other problem.
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from email.utils import parseaddr
from typing import Annotated, Literal

import aiohttp
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.alerting.notify.dispatch import Route
from monitor.alerting.notify.model import Notifier, Severity, is_loopback_host
from monitor.alerting.notify.slack import SlackNotifier
from monitor.alerting.notify.smtp import EmailNotifier, SmtpSecurity
from monitor.alerting.notify.webhook import WebhookNotifier, check_webhook_url
from monitor.model.errors import ConfigError

__all__ = [
    "EmailNotifyConfig",
    "NotifyConfig",
    "SlackNotifyConfig",
    "WebhookNotifyConfig",
    "build_notifiers",
]

_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"  # RFC 9110 §5.6.2 token


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


class _NotifyBase(_Model):
    # The name labels metrics and logs: short, lower-case, stable.
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")] | None = None
    min_severity: Severity = "warning"
    send_resolved: bool = True
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0


def _literal_url(value: str) -> str:
    if not value.startswith("env:"):
        check_webhook_url(value)
    return value


class WebhookNotifyConfig(_NotifyBase):
    """``kind = "webhook"``: POST the version-1 JSON payload to ``url``."""

    kind: Literal["webhook"]
    url: str  # or env:NAME
    headers: dict[Annotated[str, Field(pattern=_HEADER_NAME)], str] = Field(default_factory=dict)
    bearer_token: str | None = None  # or env:NAME; sent as Authorization: Bearer

    _url_valid = field_validator("url")(_literal_url)

    @field_validator("headers")
    @classmethod
    def _header_values_single_line(cls, value: dict[str, str]) -> dict[str, str]:
        for item in value.values():
            _single_line(item)
        return value


class SlackNotifyConfig(_NotifyBase):
    """``kind = "slack"``: a Slack-compatible incoming-webhook URL (a secret: prefer env:NAME)."""

    kind: Literal["slack"]
    url: str  # or env:NAME

    _url_valid = field_validator("url")(_literal_url)


class EmailNotifyConfig(_NotifyBase):
    """``kind = "email"``: SMTP submission to a fixed list of operator addresses."""

    kind: Literal["email"]
    host: Annotated[str, Field(min_length=1)]
    port: Annotated[int, Field(ge=1, le=65_535)] | None = None  # 587 / 465 / 25 by security
    security: SmtpSecurity = "starttls"
    username: str | None = None
    password: str | None = None  # or env:NAME
    sender: str = Field(alias="from")
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[delivermon]"
    ca_file: str | None = None  # PEM bundle to trust instead of the system CAs
    timeout: Annotated[float, Field(gt=0, le=300)] = 30.0

    @field_validator("sender", "to")
    @classmethod
    def _addresses(cls, value: str | list[str]) -> str | list[str]:
        for item in [value] if isinstance(value, str) else value:
            if "@" not in parseaddr(_single_line(item))[1]:
                raise ValueError("must be an e-mail address")
        return value

    @field_validator("subject_prefix")
    @classmethod
    def _prefix_single_line(cls, value: str) -> str:
        return _single_line(value)

    @model_validator(mode="after")
    def _consistent(self) -> EmailNotifyConfig:
        if self.security == "none" and not is_loopback_host(self.host):
            raise ValueError(
                'security = "none" is allowed only for a loopback host; use "starttls" or "tls"'
            )
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self


NotifyConfig = Annotated[
    WebhookNotifyConfig | SlackNotifyConfig | EmailNotifyConfig, Field(discriminator="kind")
]
"""One ``[[notify]]`` entry, told apart by ``kind``."""


def build_notifiers(
    configs: Sequence[WebhookNotifyConfig | SlackNotifyConfig | EmailNotifyConfig],
    session: aiohttp.ClientSession,
) -> list[Route]:
    """One ``Route`` per entry, secrets read from the environment.

    An unnamed entry is named after its kind (``webhook``, or ``webhook-2`` for the
    second unnamed one of that kind).

    Raises:
        ConfigError: every problem at once: duplicate names, unset ``env:`` variables,
            an env-provided URL that is not acceptable, an unreadable ``ca_file``.
    """
    problems: list[str] = []
    routes: list[Route] = []
    names: set[str] = set()
    unnamed: dict[str, int] = {}
    for index, config in enumerate(configs):
        where = f"notify[{index}]"
        if config.name is None:
            unnamed[config.kind] = unnamed.get(config.kind, 0) + 1
            count = unnamed[config.kind]
            name = config.kind if count == 1 else f"{config.kind}-{count}"
        else:
            name = config.name
        if name in names:
            problems.append(f"{where}: duplicate notifier name {name!r}; set a unique name")
            continue
        names.add(name)
        try:
            notifier = _build_one(name, config, session)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        routes.append(Route(notifier, config.min_severity, config.send_resolved))
    if problems:
        raise ConfigError(problems, source="notify")
    return routes


def _secret(value: str, key: str) -> str:
    from monitor.config import resolve_secret  # monitor.config imports this module

    resolved = resolve_secret(value)
    if resolved is None:
        raise ValueError(f"{key}: environment variable {value[4:]} is not set")
    return resolved


def _build_one(
    name: str,
    config: WebhookNotifyConfig | SlackNotifyConfig | EmailNotifyConfig,
    session: aiohttp.ClientSession,
) -> Notifier:
    if isinstance(config, WebhookNotifyConfig):
        headers = {k: _secret(v, f"headers.{k}") for k, v in config.headers.items()}
        if config.bearer_token is not None:
            headers["Authorization"] = f"Bearer {_secret(config.bearer_token, 'bearer_token')}"
        return WebhookNotifier(
            name,
            _secret(config.url, "url"),
            session=session,
            headers=headers,
            timeout=config.timeout,
        )
    if isinstance(config, SlackNotifyConfig):
        return SlackNotifier(
            name, _secret(config.url, "url"), session=session, timeout=config.timeout
        )
    context = None
    if config.ca_file is not None:
        try:
            context = ssl.create_default_context(cafile=config.ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(f"ca_file {config.ca_file!r} cannot be read: {exc}") from None
    return EmailNotifier(
        name,
        host=config.host,
        port=config.port,
        security=config.security,
        username=config.username,
        password=_secret(config.password, "password") if config.password is not None else None,
        sender=config.sender,
        recipients=config.to,
        subject_prefix=config.subject_prefix,
        timeout=config.timeout,
        ssl_context=context,
    )
