"""Pins the ``[[notify]]`` models (one per kind) and ``build_notifiers``."""

from __future__ import annotations

import tomllib

import aiohttp
import pytest
from pydantic import TypeAdapter, ValidationError

from monitor.alerting.notify import (
    EmailNotifier,
    SlackNotifier,
    WebhookNotifier,
    build_notifiers,
)
from monitor.config import EmailNotifyConfig, NotifyConfig, SlackNotifyConfig, WebhookNotifyConfig
from monitor.model.errors import ConfigError

ADAPTER: TypeAdapter[list[NotifyConfig]] = TypeAdapter(list[NotifyConfig])

EXAMPLE = """
[[notify]]
kind = "webhook"
url = "https://alerts.example.com/delivermon"
bearer_token = "env:TEST_NOTIFY_TOKEN"
headers = { X-Team = "mail-ops" }

[[notify]]
kind = "slack"
name = "ops-slack"
url = "env:TEST_NOTIFY_SLACK_URL"
min_severity = "critical"
send_resolved = false

[[notify]]
kind = "email"
host = "smtp.example.com"
username = "delivermon"
password = "env:TEST_NOTIFY_SMTP_PASSWORD"
from = "Delivermon <delivermon@example.com>"
to = ["postmaster@example.com"]
"""


def parse(text: str) -> list[NotifyConfig]:
    return ADAPTER.validate_python(tomllib.loads(text)["notify"])


def test_entries_parse_by_kind_with_defaults() -> None:
    webhook, slack, mail = parse(EXAMPLE)
    assert isinstance(webhook, WebhookNotifyConfig)
    assert (webhook.min_severity, webhook.send_resolved, webhook.name) == ("warning", True, None)
    assert isinstance(slack, SlackNotifyConfig)
    assert (slack.min_severity, slack.send_resolved) == ("critical", False)
    assert isinstance(mail, EmailNotifyConfig)
    assert (mail.security, mail.port, mail.sender) == (
        "starttls",
        None,
        "Delivermon <delivermon@example.com>",
    )


@pytest.mark.parametrize(
    ("entry", "fragment"),
    [
        pytest.param('kind = "pager"', "kind", id="unknown-kind"),
        pytest.param('kind = "webhook"\nurl = "http://example.com/x"', "plain http", id="http"),
        pytest.param('kind = "slack"\nurl = "https://example.com/x"\ncolour = 1', "colour", id="x"),
        pytest.param(
            'kind = "email"\nhost = "smtp.example.com"\nsecurity = "none"\n'
            'from = "a@example.com"\nto = ["b@example.com"]',
            "loopback",
            id="plaintext-smtp-remote",
        ),
        pytest.param(
            'kind = "email"\nhost = "127.0.0.1"\nusername = "u"\n'
            'from = "a@example.com"\nto = ["b@example.com"]',
            "go together",
            id="username-without-password",
        ),
        pytest.param(
            'kind = "email"\nhost = "127.0.0.1"\nfrom = "a@example.com"\nto = []',
            "to",
            id="no-recipient",
        ),
        pytest.param(
            'kind = "email"\nhost = "127.0.0.1"\nfrom = "nobody"\nto = ["b@example.com"]',
            "e-mail address",
            id="bad-from",
        ),
        pytest.param(
            'kind = "webhook"\nurl = "https://example.com/x"\nname = "Has Spaces"',
            "name",
            id="bad-name",
        ),
    ],
)
def test_invalid_entries_are_refused(entry: str, fragment: str) -> None:
    with pytest.raises(ValidationError, match=fragment):
        parse(f"[[notify]]\n{entry}\n")


def test_plaintext_smtp_to_loopback_is_allowed() -> None:
    (mail,) = parse(
        '[[notify]]\nkind = "email"\nhost = "127.0.0.1"\nport = 2525\nsecurity = "none"\n'
        'from = "a@example.com"\nto = ["b@example.com"]\n'
    )
    assert isinstance(mail, EmailNotifyConfig)


async def test_build_notifiers_reads_secrets_and_names_routes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEST_NOTIFY_TOKEN", "t0ken")
    monkeypatch.setenv("TEST_NOTIFY_SLACK_URL", "https://hooks.example.com/services/SECRET")
    monkeypatch.setenv("TEST_NOTIFY_SMTP_PASSWORD", "pw")
    async with aiohttp.ClientSession() as session:
        routes = build_notifiers(parse(EXAMPLE), session)
    assert [r.notifier.name for r in routes] == ["webhook", "ops-slack", "email"]
    assert isinstance(routes[0].notifier, WebhookNotifier)
    assert isinstance(routes[1].notifier, SlackNotifier)
    assert isinstance(routes[2].notifier, EmailNotifier)
    assert (routes[1].min_severity, routes[1].send_resolved) == ("critical", False)
    assert "SECRET" not in repr(routes[1].notifier)


async def test_build_notifiers_lists_every_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TEST_NOTIFY_TOKEN", "TEST_NOTIFY_SLACK_URL", "TEST_NOTIFY_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    configs = [
        *parse(EXAMPLE),
        *parse('[[notify]]\nkind = "slack"\nname = "ops-slack"\nurl = "https://example.com/x"\n'),
    ]
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError) as info:
            build_notifiers(configs, session)
    problems = "\n".join(info.value.problems)
    assert "TEST_NOTIFY_TOKEN is not set" in problems
    assert "TEST_NOTIFY_SLACK_URL is not set" in problems
    assert "TEST_NOTIFY_SMTP_PASSWORD is not set" in problems
    assert "duplicate notifier name 'ops-slack'" in problems
    assert len(info.value.problems) == 4


async def test_env_provided_url_is_checked_and_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_NOTIFY_SLACK_URL", "http://example.com/services/SECRET")
    configs = parse('[[notify]]\nkind = "slack"\nurl = "env:TEST_NOTIFY_SLACK_URL"\n')
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ConfigError, match="plain http") as info:
            build_notifiers(configs, session)
    assert "SECRET" not in str(info.value)


async def test_unnamed_entries_of_one_kind_get_numbered_names() -> None:
    configs = parse(
        '[[notify]]\nkind = "webhook"\nurl = "https://a.example.com/"\n'
        '[[notify]]\nkind = "webhook"\nurl = "https://b.example.com/"\n'
    )
    async with aiohttp.ClientSession() as session:
        routes = build_notifiers(configs, session)
    assert [r.notifier.name for r in routes] == ["webhook", "webhook-2"]
