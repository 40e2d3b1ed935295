"""The ``[[notify]]`` entries: one pydantic model per ``kind``.

Secrets (webhook URLs, header values, SMTP passwords) may be ``"env:NAME"``; the
settings builder reads them, so a missing variable is reported with every other problem.
"""

from __future__ import annotations

from email.utils import parseaddr
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from monitor.model.hosts import check_webhook_url, is_loopback_host

__all__ = [
    "EmailNotifyConfig",
    "NotifyConfig",
    "NotifySeverity",
    "SlackNotifyConfig",
    "SmtpSecurity",
    "WebhookNotifyConfig",
]

_HEADER_NAME = r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$"  # RFC 9110 §5.6.2 token

NotifySeverity = Literal["critical", "warning", "info"]
SmtpSecurity = Literal["starttls", "tls", "none"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _single_line(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise ValueError("must be a single line")
    return value


class _NotifyBase(_Model):
    # The name labels metrics and logs: short, lower-case, stable.
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,62}$")] | None = None
    min_severity: NotifySeverity = "warning"
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
