"""Build the notifiers of the ``[[notify]]`` entries (secrets read, names made unique)."""

from __future__ import annotations

import ssl
from collections.abc import Sequence

import aiohttp

from monitor.alerting.notify.dispatch import Route
from monitor.alerting.notify.model import Notifier
from monitor.alerting.notify.slack import SlackNotifier
from monitor.alerting.notify.smtp import EmailNotifier
from monitor.alerting.notify.webhook import WebhookNotifier
from monitor.config import (
    EmailNotifyConfig,
    SlackNotifyConfig,
    WebhookNotifyConfig,
    resolve_secret,
)
from monitor.model.errors import ConfigError

__all__ = ["build_notifiers"]


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
