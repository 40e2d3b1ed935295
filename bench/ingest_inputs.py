"""Inputs of the ingest benchmark, and the totals the store must hold once they are acknowledged.

Events: batches of 500 in a fixed mix (per 20 events: 9 ``sent`` and 9
``delivered`` carrying counts of 1-100 and no recipient, 1 ``complaint`` and 1
``unsubscribe`` with a recipient), every event with its own idempotency id, a
timestamp spread over the last 48 hours, 20 campaigns, some with a category
and consent basis. Recipients are unique, at gmail.com, yahoo.com, outlook.com,
icloud.com, comcast.net and example.org.

ARF reports: the public corpus samples (``../shared/corpus/arf/*.eml``) round
robin, each copy made unique by giving its outer header block a new
``Message-ID`` (replaced if present, else added, in the sample's own line
ending), so every raw SHA-256 differs and nothing is a duplicate. Each one is
parsed here with delivermon's own parser to know how many complaints it must
add (one per Original-Rcpt-To of an abuse/fraud/virus report, or one).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

BATCH_SIZE = 500
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "arf"
_DOMAINS = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "comcast.net", "example.org")
_CATEGORIES = ("commercial", "transactional", None)
_CONSENTS = ("double_opt_in", "single_opt_in", "existing_customer", None)
_MESSAGE_ID = re.compile(
    rb"(?im)^message-id:[^\r\n]*(?:\r\n|\r|\n)(?:[ \t][^\r\n]*(?:\r\n|\r|\n))*"
)
_HEAD_END = re.compile(rb"\r\n\r\n|\n\n|\r\r")


@dataclass(slots=True)
class EventTotals:
    """What a set of events adds to the store."""

    events: int = 0
    sent: int = 0
    delivered: int = 0
    complaints: int = 0
    unsubscribes: int = 0
    personal: int = 0  # events with a recipient: rows in `events`

    def add(self, other: EventTotals) -> None:
        for name in self.__slots__:  # type: ignore[attr-defined]
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass(frozen=True, slots=True)
class EventBatch:
    body: bytes  # the JSON request body
    totals: EventTotals


@dataclass(frozen=True, slots=True)
class ArfInput:
    raw: bytes
    sample: str
    complaints: int  # complaint events the report adds


@dataclass(slots=True)
class ArfCorpus:
    reports: list[ArfInput]
    samples: list[str] = field(default_factory=list)
    mean_bytes: float = 0.0
    feedback_types: dict[str, int] = field(default_factory=dict)


def event_batches(count: int, *, seed: int, tag: str) -> list[EventBatch]:
    """``count`` events (rounded up to whole batches of 500)."""
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    batches = []
    serial = 0
    for _ in range(-(-count // BATCH_SIZE)):
        items: list[dict[str, object]] = []
        totals = EventTotals()
        for _ in range(BATCH_SIZE):
            slot = serial % 20
            campaign_no = rng.randrange(20)
            event: dict[str, object] = {
                "campaign": f"bench-campaign-{campaign_no:02d}",
                "timestamp": (now - dt.timedelta(seconds=rng.randrange(48 * 3600))).isoformat(),
                "id": f"{tag}-{serial}",
            }
            category = _CATEGORIES[campaign_no % len(_CATEGORIES)]
            consent = _CONSENTS[campaign_no % len(_CONSENTS)]
            if category:
                event["category"] = category
            if consent:
                event["consent"] = consent
            if slot < 18:
                kind = "sent" if slot < 9 else "delivered"
                amount = rng.randint(1, 100)
                event["type"] = kind
                event["count"] = amount
                if kind == "sent":
                    totals.sent += amount
                else:
                    totals.delivered += amount
            else:
                kind = "complaint" if slot == 18 else "unsubscribe"
                event["type"] = kind
                event["recipient"] = f"rcpt{serial}.{tag}@{_DOMAINS[serial % len(_DOMAINS)]}"
                totals.personal += 1
                if kind == "complaint":
                    totals.complaints += 1
                else:
                    totals.unsubscribes += 1
            totals.events += 1
            items.append(event)
            serial += 1
        body = json.dumps({"events": items}, separators=(",", ":")).encode()
        batches.append(EventBatch(body, totals))
    return batches


def _newline(raw: bytes) -> bytes:
    cr = raw.find(b"\r")
    lf = raw.find(b"\n")
    if cr != -1 and (lf == -1 or cr < lf):
        return b"\r\n" if raw[cr : cr + 2] == b"\r\n" else b"\r"
    return b"\n"


def make_unique(raw: bytes, serial: int, tag: str) -> bytes:
    """The report with a new outer Message-ID (the outer header block only)."""
    newline = _newline(raw)
    end = _HEAD_END.search(raw)
    head_end = end.start() + len(newline) if end else len(raw)
    head, rest = raw[:head_end], raw[head_end:]
    header = b"Message-ID: <bench-" + f"{tag}-{serial}".encode() + b"@feedback.bench.invalid>"
    if _MESSAGE_ID.search(head):
        head = _MESSAGE_ID.sub(lambda _m: header + newline, head, count=1)
    else:
        head = header + newline + head
    return head + rest


def arf_reports(count: int, *, corpus: Path, seed: int, tag: str) -> ArfCorpus:
    """``count`` unique reports from the corpus, in a seeded round-robin order."""
    from monitor.ingest.arf import parse_arf  # delivermon's parser, to know what to expect

    paths = sorted(corpus.glob("*.eml"))
    if not paths:
        raise SystemExit(f"no *.eml samples in {corpus}")
    samples = [(p.name, p.read_bytes()) for p in paths]
    random.Random(seed).shuffle(samples)
    reports = []
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    for serial in range(count):
        name, template = samples[serial % len(samples)]
        raw = make_unique(template, serial, tag)
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            raise SystemExit(f"generated a duplicate report from {name}")
        seen.add(digest)
        parsed = parse_arf(raw)
        complaints = (len(parsed.original_rcpt_to) or 1) if parsed.is_complaint else 0
        kinds[parsed.feedback_type.value] += 1
        reports.append(ArfInput(raw, name, complaints))
    mean = sum(len(r.raw) for r in reports) / len(reports) if reports else 0.0
    return ArfCorpus(reports, [n for n, _ in samples], mean, dict(kinds))
