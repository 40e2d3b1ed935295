"""Feedback events: what every ingestion channel produces and the store counts.

An :class:`Event` may carry a raw recipient address only in memory, between a
parser and the store; the store keeps nothing but its keyed pseudonym
(``monitor.model.privacy``). Label sets (provider, category, consent) are closed, so
metrics stay bounded.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "MAX_SCOPE_LENGTH",
    "UNATTRIBUTED",
    "BounceDetail",
    "BounceKind",
    "Category",
    "Consent",
    "Event",
    "EventType",
    "Provider",
    "Source",
]

UNATTRIBUTED = "unattributed"
MAX_SCOPE_LENGTH = 255  # an opt-out's scope (contact list and topics, group, stream)


class EventType(StrEnum):
    SENT = "sent"
    DELIVERED = "delivered"
    BOUNCE = "bounce"
    COMPLAINT = "complaint"
    UNSUBSCRIBE = "unsubscribe"


class Category(StrEnum):
    """The split the GDPR expects recipients to control separately."""

    COMMERCIAL = "commercial"
    TRANSACTIONAL = "transactional"


class Consent(StrEnum):
    """The consent basis of a campaign's audience."""

    DOUBLE_OPT_IN = "double_opt_in"
    SINGLE_OPT_IN = "single_opt_in"
    EXISTING_CUSTOMER = "existing_customer"
    TRANSACTIONAL = "transactional"
    UNKNOWN = "unknown"


class Provider(StrEnum):
    """Mailbox providers, a bounded label set; everything else is ``other``."""

    GOOGLE = "google"
    YAHOO = "yahoo"
    MICROSOFT = "microsoft"
    APPLE = "apple"
    COMCAST = "comcast"
    GMX = "gmx"  # GMX, web.de, mail.com (United Internet)
    MAILRU = "mailru"
    OTHER = "other"


class Source(StrEnum):
    API = "api"
    ARF = "arf"
    SES = "ses"
    SENDGRID = "sendgrid"
    MAILGUN = "mailgun"
    POSTMARK = "postmark"
    DSN = "dsn"  # a bounce message (RFC 3464 or a plain-text bounce)
    MTALOG = "mtalog"  # a Postfix or Exim log line


class BounceKind(StrEnum):
    PERMANENT = "permanent"
    TRANSIENT = "transient"
    UNDETERMINED = "undetermined"


@dataclass(frozen=True, slots=True)
class BounceDetail:
    """What a receiver answered, classified (``checks.bounces``): kept with a bounce event.

    ``deferral``: the sender will retry (4xx, a delay notice); counted per class, never
    as a bounce. ``reply`` has every address masked before it gets here.
    """

    cls: str  # a checks.bounces.BounceClass value
    deferral: bool = False
    status: str | None = None  # basic reply code
    enhanced: str | None = None  # RFC 3463 code
    blocklist: str | None = None
    reply: str | None = None

    def __post_init__(self) -> None:
        if self.reply is not None and "@" in self.reply:
            raise ValueError("a stored reply must have its addresses masked")


@dataclass(frozen=True, slots=True)
class Event:
    """One sent/delivered/bounce/complaint/unsubscribe fact (``count`` of them).

    ``idempotency_key`` identifies a re-delivery of the same event (a provider's
    event id, an API caller's key, an ARF report's SHA-256); the store counts it
    once. ``recipient`` is a raw address in memory only, never stored or logged.
    """

    type: EventType
    campaign: str
    occurred_at: dt.datetime
    source: Source
    idempotency_key: str | None = None
    count: int = 1
    recipient: str | None = None
    provider: Provider = Provider.OTHER
    category: Category | None = None
    consent: Consent | None = None
    bounce_kind: BounceKind | None = None
    feedback_type: str | None = None  # ARF Feedback-Type for complaints (abuse, fraud, ...)
    # What an opt-out covers, as the provider says: an SES contact list and its topics,
    # a SendGrid unsubscribe group, a Postmark message stream. None: not said.
    scope: str | None = None
    bounce: BounceDetail | None = None  # the classified reply of a bounce or deferral
    # When the sender could first know of it, where that is not ``occurred_at``: an ARF
    # complaint is dated by its Arrival-Date (when the original message arrived, often
    # days before; or a reporter's clock ahead), but known when the report came. An
    # opt-out's deadline runs from here. None: as ``occurred_at``.
    known_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ValueError("count must be at least 1")
        if self.occurred_at.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware")
        if self.known_at is not None and self.known_at.tzinfo is None:
            raise ValueError("known_at must be timezone-aware")

    def __repr__(self) -> str:
        # Never print the address, even in a traceback or a debug log.
        hidden = None if self.recipient is None else "<redacted>"
        return (
            f"Event(type={self.type.value!r}, campaign={self.campaign!r}, "
            f"occurred_at={self.occurred_at.isoformat()!r}, source={self.source.value!r}, "
            f"count={self.count}, recipient={hidden}, provider={self.provider.value!r})"
        )
