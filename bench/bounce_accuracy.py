"""The bounce classifier's agreement with the public corpus, per class (``make bounce-accuracy``).

Two inputs from ../shared/corpus/bounces (see its PROVENANCE.md): ``rejection-texts.tsv``
(single SMTP replies, each with the class a person gave it) and ``MANIFEST.tsv`` with its
``.eml`` files (whole bounces: each failed or delayed recipient with its class; auto-replies,
delivery reports and plain mail as ``not_a_bounce``). Every reply goes through
``classify_reply``, every message through ``parse_bounce`` and ``classify_recipient``: the
same code the CLI, the HTTP route and the IMAP poller run. A message agrees when every
recipient's class agrees and a delay notice is read as a delay (a failure as a failure).

Prints one Markdown table (the one in README.md) and, with ``--disagreements``, each
disagreement. The labels are the corpus's, not ours; tests/unit/test_bounce_corpus.py
explains every disagreement it prints.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from checks.bounces import BounceClass, classify_reply
from monitor.ingest.dsn import NotBounceError, classify_recipient, parse_bounce
from monitor.ingest.errors import IngestError

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "bounces"
NOT_A_BOUNCE = "not_a_bounce"
CLASSES = [*(c.value for c in BounceClass if c is not BounceClass.UNCLASSIFIED), NOT_A_BOUNCE]


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled input: where it is, the expected and the classifier's answer."""

    name: str
    expected: str
    got: str

    @property
    def agrees(self) -> bool:
        return self.expected == self.got


def reply_items(corpus: Path) -> list[Item]:
    with (corpus / "rejection-texts.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [
        Item(f"rejection-texts.tsv:{n}", row["class"], classify_reply(row["text"]).cls.value)
        for n, row in enumerate(rows, start=2)
    ]


def message_answer(raw: bytes) -> tuple[str, str]:
    """(``a;b`` classes per recipient or ``not_a_bounce`` or ``refused:<reason>``, kind)."""
    try:
        bounce = parse_bounce(raw)
    except NotBounceError:
        return NOT_A_BOUNCE, "other"
    except IngestError as exc:
        return f"refused:{exc.reason}", "other"
    classes = [classify_recipient(r).cls.value for r in bounce.recipients]
    kinds = {"delayed" if r.delayed else "failed" for r in bounce.recipients}
    return ";".join(classes), kinds.pop() if len(kinds) == 1 else "mixed"


def message_items(corpus: Path) -> list[Item]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    items = []
    for row in rows:
        got, kind = message_answer((corpus / row["file"]).read_bytes())
        expected = row["expected_class"]
        wanted = expected.split(";")
        found = got.split(";")
        if len(wanted) == 1 and len(found) > 1 and set(found) == set(wanted):
            got = expected  # one label for several recipients that failed alike
        if expected != NOT_A_BOUNCE and kind != row["kind"]:
            got = f"{got} (read as {kind})"
        items.append(Item(row["file"], expected, got))
    return items


def table(replies: list[Item], messages: list[Item]) -> str:
    """Per class: agreeing / labelled, for replies and for messages (first class of each)."""

    def tally(items: list[Item]) -> tuple[Counter[str], Counter[str]]:
        total: Counter[str] = Counter()
        agree: Counter[str] = Counter()
        for item in items:
            key = item.expected.split(";")[0]
            total[key] += 1
            agree[key] += item.agrees
        return total, agree

    rt, ra = tally(replies)
    mt, ma = tally(messages)
    lines = [
        "| class | replies (rejection-texts.tsv) | messages (MANIFEST.tsv) |",
        "|---|---|---|",
    ]
    for cls in CLASSES:
        reply = f"{ra[cls]}/{rt[cls]}" if rt[cls] else "-"
        message = f"{ma[cls]}/{mt[cls]}" if mt[cls] else "-"
        lines.append(f"| `{cls}` | {reply} | {message} |")
    lines.append(
        f"| **all** | {sum(ra.values())}/{sum(rt.values())} | "
        f"{sum(ma.values())}/{sum(mt.values())} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", type=Path, default=CORPUS)
    parser.add_argument("--disagreements", action="store_true", help="list each one")
    args = parser.parse_args(argv)
    if not (args.corpus / "MANIFEST.tsv").is_file():
        print(f"{args.corpus}: no MANIFEST.tsv (the bounce corpus)", file=sys.stderr)
        return 2
    replies, messages = reply_items(args.corpus), message_items(args.corpus)
    print(table(replies, messages))
    if args.disagreements:
        for item in replies + messages:
            if not item.agrees:
                print(f"{item.name}: expected {item.expected}, got {item.got}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
