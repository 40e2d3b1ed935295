"""Inputs of the ingest benchmark, and the totals the store must hold once they are acknowledged.

Events: batches of 500 in a fixed mix (per 20 events: 9 ``sent`` and 9
``delivered`` carrying counts of 1-100 and no recipient, 1 ``complaint`` and 1
``unsubscribe`` with a recipient), every event with its own idempotency id, a
timestamp spread over the last 48 hours, 20 campaigns, some with a category
and consent basis. Recipients are unique, at gmail.com, yahoo.com, outlook.com,
icloud.com, comcast.net and example.org.

ARF reports, and what each must add, from sources independent of delivermon's parser:

- reports this module writes (RFC 5965 multipart/report: a text part, the
  message/feedback-report part, the original message with its headers and a body of
  1-4 KiB; LF or CRLF line endings), with a seeded mix of feedback types (abuse 80 %,
  fraud, virus, not-spam, auth-failure, other) and of Original-Rcpt-To fields (none to
  three): what they add is known from what was written;
- the corpus samples whose upstream project publishes its expected parse
  (``../shared/corpus/arf/*.expected.json``): their feedback type and Original-Rcpt-To
  come from that file.

The store must then hold one report per report and, for an abuse, fraud or virus
report, one complaint per Original-Rcpt-To (one when there is none): the counting rule
the README documents. Each copy gets a unique outer ``Message-ID``, so nothing is a
duplicate.
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


_COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus"})
# Feedback-Type of the written reports, with their weights.
_FEEDBACK_TYPES = (
    ("abuse", 80),
    ("fraud", 4),
    ("virus", 2),
    ("not-spam", 6),
    ("auth-failure", 5),
    ("other", 3),
)
_RCPT_COUNTS = (0, 1, 1, 1, 1, 2, 3)


def expected_complaints(feedback_type: str, recipients: int) -> int:
    """The README's counting rule: abuse, fraud and virus count one complaint per
    Original-Rcpt-To (one when there is none); other types count none."""
    if feedback_type.lower() not in _COMPLAINT_TYPES:
        return 0
    return recipients or 1


def written_report(serial: int, rng: random.Random, tag: str) -> tuple[bytes, str, int]:
    """An RFC 5965 report written here: (raw, feedback type, Original-Rcpt-To count)."""
    kinds, weights = zip(*_FEEDBACK_TYPES, strict=True)
    kind = rng.choices(kinds, weights)[0]
    count = rng.choice(_RCPT_COUNTS)
    rcpts = [
        f"user{serial}-{k}.{tag}@{_DOMAINS[(serial + k) % len(_DOMAINS)]}" for k in range(count)
    ]
    campaign = f"bench-campaign-{rng.randrange(20):02d}"
    boundary = f"bench-{tag}-{serial}"
    body = "\n".join(
        f"Line {n} of the newsletter, with a link https://news.example.com/a/{n}."
        for n in range(rng.randint(15, 60))
    )
    original = [
        "Received: from mail.example.com (mail.example.com [192.0.2.10])",
        "\tby mx.example.net with ESMTPS; Sat, 28 Nov 2026 10:00:00 +0000",
        "From: News <news@example.com>",
        f"To: <{rcpts[0] if rcpts else 'someone@example.net'}>",
        "Subject: Our November offers",
        f"Message-ID: <orig-{tag}-{serial}@example.com>",
        f"X-Campaign-ID: {campaign}",
        "List-Unsubscribe: <https://example.com/u/abc>",
        "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        "DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=s1; c=relaxed/relaxed;",
        "\th=from:to:subject:list-unsubscribe:list-unsubscribe-post; bh=abc=; b=def=",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=utf-8",
        "",
        body,
    ]
    report = [
        "Feedback-Type: " + kind,
        "User-Agent: bench-feedback/1.0",
        "Version: 1",
        "Original-Mail-From: <bounce@example.com>",
        *(f"Original-Rcpt-To: <{r}>" for r in rcpts),
        "Arrival-Date: Sat, 28 Nov 2026 10:00:01 +0000",
        "Source-IP: 192.0.2.10",
        "Reported-Domain: example.com",
    ]
    if kind == "auth-failure":
        report += ["Auth-Failure: dmarc", "Delivery-Result: reject"]
    lines = [
        "From: <fbl@feedback.example.net>",
        "To: <fbl-reports@example.com>",
        "Subject: FW: Our November offers",
        "Date: Sat, 28 Nov 2026 10:05:00 +0000",
        f"Message-ID: <bench-{tag}-{serial}@feedback.bench.invalid>",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"',
        "",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is an email abuse report for an email message received on 28 Nov 2026.",
        "",
        f"--{boundary}",
        "Content-Type: message/feedback-report",
        "",
        *report,
        "",
        f"--{boundary}",
        "Content-Type: message/rfc822",
        "",
        *original,
        "",
        f"--{boundary}--",
        "",
    ]
    newline = "\r\n" if rng.random() < 0.5 else "\n"
    return newline.join(lines).encode(), kind, count


def annotated_samples(corpus: Path) -> list[tuple[str, bytes, str, int]]:
    """(name, raw, feedback type, Original-Rcpt-To count) of each corpus sample whose
    upstream project publishes its expected parse (``*.expected.json``)."""
    found = []
    for expected in sorted(corpus.glob("*.expected.json")):
        eml = expected.with_name(expected.name.removesuffix(".expected.json") + ".eml")
        if not eml.exists():
            continue
        data = json.loads(expected.read_text("utf-8"))
        rcpts = data.get("original_rcpt_to")
        count = 0 if not rcpts else len(rcpts) if isinstance(rcpts, list) else 1
        kind = re.sub(r"(?<!^)(?=[A-Z])", "-", str(data["feedback_type"])).lower()
        found.append((eml.name, eml.read_bytes(), kind, count))
    return found


def arf_reports(count: int, *, corpus: Path, seed: int, tag: str) -> ArfCorpus:
    """``count`` unique reports: the annotated corpus samples in turn, one report in ten,
    and reports written here for the rest, in a seeded order."""
    rng = random.Random(seed)
    samples = annotated_samples(corpus)
    if not samples:
        raise SystemExit(f"no *.expected.json samples in {corpus}")
    reports = []
    seen: set[str] = set()
    kinds: Counter[str] = Counter()
    for serial in range(count):
        if serial % 10 == 9:
            name, template, kind, rcpts = samples[(serial // 10) % len(samples)]
            raw = make_unique(template, serial, tag)
        else:
            raw, kind, rcpts = written_report(serial, rng, tag)
            name = "written"
        digest = hashlib.sha256(raw).hexdigest()
        if digest in seen:
            raise SystemExit(f"generated a duplicate report from {name}")
        seen.add(digest)
        kinds[kind] += 1
        reports.append(ArfInput(raw, name, expected_complaints(kind, rcpts)))
    mean = sum(len(r.raw) for r in reports) / len(reports) if reports else 0.0
    return ArfCorpus(reports, ["written", *(name for name, *_ in samples)], mean, dict(kinds))
