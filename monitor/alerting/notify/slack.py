"""The Slack-compatible incoming-webhook notifier (Slack, and services that accept its format).

``text`` carries the whole message (Mattermost and others read only that); ``blocks``
give Slack a richer layout. Resolved messages say so in both.
"""

from __future__ import annotations

import logging

import aiohttp

from monitor.alerting.notify.model import Notification, format_time
from monitor.alerting.notify.webhook import post_json
from monitor.model.hosts import check_webhook_url, redact_url

__all__ = ["SlackNotifier", "build_slack_payload"]

log = logging.getLogger(__name__)

# Slack limits: header text 150 characters, section text 3000, at most 10 fields.
_HEADER_MAX = 150
_SECTION_MAX = 3000
_FIELDS_MAX = 10

_ICONS = {"critical": ":rotating_light:", "warning": ":warning:", "info": ":information_source:"}


def _escape(text: str) -> str:
    """Slack mrkdwn control characters (Slack's "Escaping text" rule: &, <, >)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def build_slack_payload(n: Notification) -> dict[str, object]:
    """``{"text": ..., "blocks": [...]}`` for ``n``; resolved messages start ``[RESOLVED]``."""
    marker = "[RESOLVED]" if n.resolved else f"[{n.severity.upper()}]"
    icon = ":white_check_mark:" if n.resolved else _ICONS[n.severity]
    headline = f"{marker} {n.title}"
    times = f"started {format_time(n.started_at)}"
    if n.ended_at is not None:
        times += f", ended {format_time(n.ended_at)}"
    fallback = f"{icon} {headline}\n{n.text}".rstrip()
    blocks: list[dict[str, object]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(headline, _HEADER_MAX), "emoji": True},
        },
    ]
    if n.text.strip():
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(_escape(n.text), _SECTION_MAX)},
            }
        )
    if n.labels:
        fields = [
            {"type": "mrkdwn", "text": _clip(f"*{_escape(k)}*\n{_escape(v)}", 2000)}
            for k, v in n.labels[:_FIELDS_MAX]
        ]
        blocks.append({"type": "section", "fields": fields})
    context = [f"{icon} {n.severity} · `{_escape(n.kind)}` · {times}"]
    if n.url and not any(c in n.url for c in "|<> "):
        context.append(f"<{n.url}|details>")
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]}
    )
    return {"text": _escape(fallback), "blocks": blocks}


class SlackNotifier:
    """POSTs to a Slack incoming-webhook URL (the URL is the secret: logs show its host only)."""

    def __init__(
        self,
        name: str,
        url: str,
        *,
        session: aiohttp.ClientSession,
        timeout: float = 10.0,
    ) -> None:
        """Raises ``ValueError`` for a URL ``check_webhook_url`` refuses."""
        check_webhook_url(url)
        self.name = name
        self._url = url
        self._session = session
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SlackNotifier(name={self.name!r}, url={redact_url(self._url)!r})"

    async def send(self, n: Notification) -> None:
        """POST ``n`` once.

        Raises:
            NotifyTemporaryError, NotifyPermanentError: as ``post_json``.
        """
        await post_json(
            self._session,
            self._url,
            build_slack_payload(n),
            headers={},
            request_timeout=self._timeout,
        )
        log.debug("slack %s accepted %s (%s)", self.name, n.key, n.status)
