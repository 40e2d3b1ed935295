"""The table of the kinds of input a mail can be: each with its one ingest path.

Every channel uses it: the IMAP poller routes each message of the mailbox to the first
kind that takes it, ``delivermon ingest <kind>`` and the HTTP route of a kind call that
kind's path directly. A kind refuses mail that is not of its kind with a
``WrongKindError`` (the next kind is tried), and mail of its kind that it cannot read
with any other ``IngestError``. Adding a kind of mail is one ``IngestKind`` in
``INGEST_KINDS`` (see docs/architecture.md, "Add a kind of mail").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from monitor.ingest.errors import WrongKindError
from monitor.model.privacy import Pseudonymizer

if TYPE_CHECKING:
    from monitor.store.models import Store

# Each kind's parser and store path are imported when it runs, not when the table is read:
# the CLI builds its commands from this table and should not pay for them.

__all__ = [
    "ARF",
    "BOUNCE",
    "DMARC",
    "INGEST_KINDS",
    "IngestContext",
    "IngestKind",
    "IngestOutcome",
    "kind_named",
    "route_ingest",
]

# Values of a kind's fields: what the CLI prints and the API answers.
Field = str | int | float | bool | None | list[object] | dict[str, object]


@dataclass(frozen=True, slots=True)
class IngestContext:
    """What every kind's ingest path needs, read from the current settings."""

    store: Store
    pseudonymizer: Pseudonymizer
    campaign_headers: tuple[str, ...]
    store_raw: bool
    now: dt.datetime


@dataclass(frozen=True, slots=True)
class IngestOutcome:
    """One stored (or already stored) input: its id and its kind's fields."""

    kind: str
    id: str
    duplicate: bool
    fields: Mapping[str, Field] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class IngestKind:
    """One kind of mail.

    ``ingest`` stores it or raises an ``IngestError`` (``WrongKindError``: not this kind).
    ``fields`` names the outcome's fields in order (the HTTP 202 body's, and the CLI's
    columns unless ``cli_fields`` names others); on a refusal they are null in
    ``--json`` output.
    """

    name: str
    ingest: Callable[[bytes, IngestContext], Awaitable[IngestOutcome]]
    fields: tuple[str, ...]
    help: str
    cli_fields: tuple[str, ...] = ()
    # ``delivermon ingest`` reads a directory that is not a maildir as its files (reports
    # saved from mail or downloaded are plain files, not messages).
    plain_directories: bool = False

    @property
    def cli_columns(self) -> tuple[str, ...]:
        """The fields ``delivermon ingest <kind>`` prints."""
        return self.cli_fields or self.fields

    # The status the CLI gives readable mail of another kind (its ``WrongKindError``):
    # None reports it "refused" (exit 1); a name (bounce: "not_a_bounce") reports it so,
    # as an answer rather than a failure (exit 0). Nothing is stored either way.
    wrong_kind_status: str | None = None
    # Field values shown when nothing was stored (default: null).
    empty_fields: Mapping[str, Field] = field(default_factory=dict)


async def _ingest_arf(raw: bytes, ctx: IngestContext) -> IngestOutcome:
    from monitor.ingest.service import ingest_arf

    result = await ingest_arf(
        raw,
        store=ctx.store,
        pseudonymizer=ctx.pseudonymizer,
        campaign_headers=ctx.campaign_headers,
        store_raw=ctx.store_raw,
        now=ctx.now,
    )
    return IngestOutcome(
        "arf",
        result.id,
        result.duplicate,
        {"campaign": result.campaign, "feedback_type": result.feedback_type},
    )


ARF = IngestKind(
    "arf",
    _ingest_arf,
    ("campaign", "feedback_type"),
    "ARF feedback-loop reports (RFC 5965, Microsoft JMRP, RFC 6591 auth-failure)",
)


async def _ingest_dmarc(raw: bytes, ctx: IngestContext) -> IngestOutcome:
    from monitor.ingest.dmarc.service import ingest_dmarc

    return await ingest_dmarc(raw, ctx)


DMARC = IngestKind(
    "dmarc",
    _ingest_dmarc,
    ("domain", "records", "messages"),
    "DMARC aggregate reports (RFC 7489, RFC 9990: XML, .gz, .zip or the report e-mail)",
    cli_fields=("report",),
    plain_directories=True,
)


async def _ingest_bounce(raw: bytes, ctx: IngestContext) -> IngestOutcome:
    from monitor.ingest.bounces import ingest_bounce

    result = await ingest_bounce(
        raw,
        store=ctx.store,
        pseudonymizer=ctx.pseudonymizer,
        campaign_headers=ctx.campaign_headers,
        now=ctx.now,
    )
    return IngestOutcome(
        "bounce",
        result.id,
        result.duplicate,
        {"campaign": result.campaign, "bounces": list(result.bounces)},
    )


BOUNCE = IngestKind(
    "bounce",
    _ingest_bounce,
    ("campaign", "bounces"),
    "bounce messages (RFC 3464 DSNs and the Exim, qmail, Sendmail, Exchange, Gmail and "
    "Yahoo formats), each failed or delayed recipient's reply classified",
    wrong_kind_status="not_a_bounce",
    empty_fields={"bounces": []},
)

# The order the IMAP poller tries them in; when no kind takes a message, the first
# refusal that says what the mail is (an auto-reply...) is reported, else the first kind's.
INGEST_KINDS: tuple[IngestKind, ...] = (ARF, DMARC, BOUNCE)


def kind_named(name: str) -> IngestKind:
    """Raises KeyError for an unknown kind."""
    return {k.name: k for k in INGEST_KINDS}[name]


async def route_ingest(
    raw: bytes, ctx: IngestContext, kinds: Sequence[IngestKind] = INGEST_KINDS
) -> IngestOutcome:
    """Ingest ``raw`` as the first kind that takes it.

    Raises:
        IngestError: the refusal of the kind the mail is (or, when no kind takes it,
            the first ``WrongKindError`` that says what the mail is, else the first
            kind's).
    """
    refusals: list[WrongKindError] = []
    for kind in kinds:
        try:
            return await kind.ingest(raw, ctx)
        except WrongKindError as exc:
            refusals.append(exc)
    assert refusals, "no ingest kinds"
    # What the mail is (an auto-reply, a delivery report of deliveries, another report
    # type) says more than what it is not: the IMAP log named ARF's "not_multipart_report"
    # for an auto-reply the bounce reader had recognised.
    raise next((r for r in refusals if r.reason not in _SAYS_ONLY_WHAT_IT_IS_NOT), refusals[0])


# The refusals that only say the mail is not the kind tried (no kind took it).
_SAYS_ONLY_WHAT_IT_IS_NOT = frozenset(
    {
        "not_multipart_report",
        "no_feedback_report",
        "no_dmarc_report",
        "unrecognised_format",
        "not_a_bounce",
    }
)
