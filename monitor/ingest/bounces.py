"""Bounces and deferrals into events: one classified reply per failed or delayed recipient.

The one code path behind ``delivermon ingest bounce``, ``POST /api/v1/bounces`` and the
IMAP poller (DSNs), and the event builder the MTA log reader and the ESP webhooks use,
so a reply counts the same whichever channel brought it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from dataclasses import dataclass

from checks.bounces import BounceClass, Classification, classify_reply
from monitor.ingest.arf import redact_addresses
from monitor.ingest.attribution import attribute_campaign
from monitor.ingest.dsn import BounceMessage, classify_recipient, parse_bounce
from monitor.model.events import BounceDetail, BounceKind, Event, EventType, Provider, Source
from monitor.model.privacy import PrivacyError, Pseudonymizer, normalise_address
from monitor.offloop import off_loop
from monitor.store.models import Store

__all__ = [
    "SENDER_CLASSES",
    "BounceIngestResult",
    "bounce_detail",
    "bounce_event",
    "ingest_bounce",
    "with_reply",
]

MAX_REPLY = 1000  # characters of a reply kept with its event


@dataclass(frozen=True, slots=True)
class BounceIngestResult:
    id: str
    campaign: str
    duplicate: bool
    bounces: tuple[dict[str, object], ...]  # the classify --json documents, per recipient


def bounce_detail(
    found: Classification, *, deferral: bool, reply: str | None, recipient: str | None = None
) -> BounceDetail:
    """The stored part of a classified reply; every address in ``reply`` is masked, and
    so is the recipient's local part where the reply names it alone (a mailbox path
    "/var/mail/alice/Maildir", "User unknown (alice.person)")."""
    text = None if not reply else masked_reply(reply, recipient)
    return BounceDetail(
        cls=found.cls.value,
        deferral=deferral,
        status=found.status,
        enhanced=found.enhanced,
        blocklist=found.blocklist,
        reply=text,
    )


# A local part shorter than this is not masked on its own: "jo" is no one, and masking it
# would mask the word wherever it stands.
_MIN_LOCAL = 3


def _usable(address: str | None) -> str | None:
    """The recipient, or None when it cannot be pseudonymised (a domain IDNA refuses such
    as ``☃.net``): the bounce still counts, suppresses no one, and the message's other
    recipients are stored, where the store would refuse the whole message."""
    if address is None:
        return None
    try:
        normalise_address(address)
    except PrivacyError:
        return None
    return address


def masked_reply(reply: str, recipient: str | None) -> str:
    """``reply`` as stored: one line, addresses masked, the recipient's local part too
    (as a whole word, any case), at most ``MAX_REPLY`` characters."""
    text = redact_addresses(" ".join(reply.split()))
    local = (recipient or "").rpartition("@")[0].strip('"')
    if len(local) >= _MIN_LOCAL:
        word = re.compile(rf"(?<![\w.+-]){re.escape(local)}(?![\w-])", re.IGNORECASE)
        text = word.sub("<redacted>", text)
    return text[:MAX_REPLY]


# Replies that refuse the sender, not the address: never a reason to suppress the recipient.
SENDER_CLASSES = frozenset(
    {
        BounceClass.BLOCKLISTED,
        BounceClass.REPUTATION_RATELIMIT,
        BounceClass.AUTH_FAILURE_DMARC,
        BounceClass.AUTH_FAILURE_SPF_DKIM,
        BounceClass.SPAM_CONTENT,
        BounceClass.POLICY_OTHER,
    }
)


def bounce_kind(found: Classification, *, deferral: bool) -> BounceKind:
    """Permanent only for a dead address: a block on the sender (a list, the reputation,
    the authentication) says nothing about the recipient and must not suppress them."""
    if deferral or found.permanent is False:
        return BounceKind.TRANSIENT
    if found.cls is BounceClass.MAILBOX_UNKNOWN:
        return BounceKind.PERMANENT
    if found.cls is BounceClass.UNCLASSIFIED:
        return BounceKind.UNDETERMINED
    return BounceKind.TRANSIENT


def bounce_event(
    found: Classification,
    *,
    deferral: bool,
    reply: str | None,
    campaign: str,
    occurred_at: dt.datetime,
    source: Source,
    key: str,
    recipient: str | None,
) -> Event:
    return Event(
        type=EventType.BOUNCE,
        campaign=campaign,
        occurred_at=occurred_at,
        source=source,
        idempotency_key=key,
        recipient=recipient,
        provider=Provider(found.provider),
        bounce_kind=bounce_kind(found, deferral=deferral),
        bounce=bounce_detail(found, deferral=deferral, reply=reply, recipient=recipient),
    )


def with_reply(
    event: Event,
    reply: object,
    *,
    status: object = None,
    remote_host: object = None,
    deferral: bool = False,
) -> Event:
    """``event`` (an ESP's bounce or deferral) with the receiver's reply classified and kept.

    The ESP's own bounce kind stays (it knows whether it will retry), except that a
    permanent bounce whose reply blames the sender (``SENDER_CLASSES``: a list, the
    reputation, the authentication, the content, a policy) is not: as for a DSN or a log
    line with that reply, the recipient's address is not dead and is not suppressed. The
    provider is the classifier's when the recipient's domain did not tell. Non-string
    inputs are ignored.
    """
    text = reply if isinstance(reply, str) and reply.strip() else None
    code = status if isinstance(status, str) and status.strip() else None
    host = remote_host if isinstance(remote_host, str) and remote_host.strip() else None
    domain = (event.recipient or "").rpartition("@")[2] or None
    found = classify_reply(text or "", recipient_domain=domain, remote_host=host, status=code)
    provider = event.provider if event.provider is not Provider.OTHER else Provider(found.provider)
    kind = event.bounce_kind
    if kind is BounceKind.PERMANENT and text is not None and found.cls in SENDER_CLASSES:
        kind = BounceKind.TRANSIENT
    return dataclasses.replace(
        event,
        provider=provider,
        bounce_kind=kind,
        bounce=bounce_detail(found, deferral=deferral, reply=text, recipient=event.recipient),
    )


def _read_bounce(raw: bytes) -> tuple[BounceMessage, list[Classification]]:
    bounce = parse_bounce(raw)
    return bounce, [classify_recipient(r) for r in bounce.recipients]


async def ingest_bounce(
    raw: bytes,
    *,
    store: Store,
    pseudonymizer: Pseudonymizer,
    campaign_headers: tuple[str, ...],
    now: dt.datetime,
) -> BounceIngestResult:
    """Store one bounce message's events once (its normalised SHA-256 is the key).

    Raises:
        NotBounceError: an auto-reply, a delivery report, an ARF report, plain mail.
        MalformedReportError: empty, undecodable, or a bounce naming nothing.
        PrivacyError: a recipient that is not an address (nothing is stored).
    """
    # Parsed and classified off the event loop when large (up to the body limit, a
    # message takes seconds to read): the loop keeps answering meanwhile.
    bounce, found = await off_loop(_read_bounce, raw)
    campaign = attribute_campaign(bounce.original_headers, campaign_headers=campaign_headers)
    occurred = now  # when the receiver's answer reached us: the findings' windows
    documents = [f.document() for f in found]
    events = [
        bounce_event(
            classified,
            deferral=recipient.delayed,
            reply=recipient.diagnostic,
            campaign=campaign,
            occurred_at=occurred,
            source=Source.DSN,
            key=f"{bounce.raw_sha256}:{index}",
            recipient=_usable(recipient.recipient),
        )
        for index, (recipient, classified) in enumerate(zip(bounce.recipients, found, strict=True))
    ]
    result = await store.add_events(events, pseudonymizer)
    duplicate = result.accepted == 0 and result.duplicates > 0
    return BounceIngestResult(bounce.raw_sha256[:32], campaign, duplicate, tuple(documents))
