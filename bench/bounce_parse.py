"""Bounce benchmark: DSN parsing + classification throughput, delivermon against flufl.bounce.

``make bench-bounces`` (``.venv/bin/python bench/bounce_parse.py``). Run on demand, never
in CI. Inputs: the 86 messages of ../shared/corpus/bounces (real DSNs, plain-text bounces,
delay notices, auto-replies and ordinary mail), read into memory and processed
``--rounds`` times over. Every tool starts from the message's bytes, in its own fresh
process of this interpreter (one process each, same model), one message at a time:

* ``flufl.bounce`` 6.0: ``email.message_from_bytes`` (the stdlib parser with its default
  policy, what flufl's documentation and tests use) then ``all_failures(msg)`` (every
  detector, temporary and permanent addresses). It finds addresses, it classifies nothing.
* ``delivermon-parse``: ``parse_bounce`` alone (the same stdlib parser; failed/delayed
  recipients, status, diagnostic): the work flufl does.
* ``delivermon``: ``parse_bounce`` and ``classify_recipient`` for each recipient: what
  ``delivermon ingest bounce`` does before the store.

Repetitions are interleaved (tool order rotated) and every figure is a median. Each tool's
answers are checked against the corpus's own labels (MANIFEST.tsv ``kind``, not another
tool): a failure notice must be read as a failure, a delay notice as a delay only, and an
auto-reply, a delivery report or plain mail as no bounce. Prints the table in bench/README.md.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from repetitions import own_peak_rss_kib

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "bounces"
TOOLS = ("flufl.bounce", "delivermon-parse", "delivermon")


def _load(corpus: Path) -> tuple[list[str], list[bytes]]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return [r["file"] for r in rows], [(corpus / r["file"]).read_bytes() for r in rows]


def _answers(tool: str, messages: list[bytes]) -> list[str]:
    """failed | delayed | none per message (what the tool says it is)."""
    if tool == "flufl.bounce":
        import email

        from flufl.bounce import all_failures

        out = []
        for raw in messages:
            temporary, permanent = all_failures(email.message_from_bytes(raw))
            out.append("failed" if permanent else "delayed" if temporary else "none")
        return out
    from monitor.ingest.dsn import classify_recipient, parse_bounce
    from monitor.ingest.errors import IngestError

    classify = tool == "delivermon"
    out = []
    for raw in messages:
        try:
            bounce = parse_bounce(raw)
        except IngestError:
            out.append("none")
            continue
        if classify:
            for recipient in bounce.recipients:
                classify_recipient(recipient)
        failed = any(not r.delayed for r in bounce.recipients)
        out.append("failed" if failed else "delayed")
    return out


def worker(tool: str, corpus: Path, rounds: int) -> dict[str, object]:
    _names, messages = _load(corpus)
    answers = _answers(tool, messages)  # warm-up (imports, regex compilation) and the check
    start_cpu = time.process_time()
    start = time.perf_counter()
    for _ in range(rounds):
        _answers(tool, messages)
    wall = time.perf_counter() - start
    cpu = time.process_time() - start_cpu
    return {
        "tool": tool,
        "messages": len(messages) * rounds,
        "wall": wall,
        "cpu": cpu,
        "rss_kib": own_peak_rss_kib(),
        "answers": answers,
    }


def truth(corpus: Path) -> list[str]:
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as f:
        kinds = [r["kind"] for r in csv.DictReader(f, delimiter="\t")]
    return [k if k in ("failed", "delayed") else "none" for k in kinds]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--rounds", type=int, default=50, help="passes over the corpus per run")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions")
    parser.add_argument("--worker", choices=TOOLS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.corpus, args.rounds)))
        return 0
    if not (args.corpus / "MANIFEST.tsv").is_file():
        print(f"{args.corpus}: no MANIFEST.tsv (the bounce corpus)", file=sys.stderr)
        return 2
    expected = truth(args.corpus)
    load = os.getloadavg()[0]
    runs: dict[str, list[dict[str, object]]] = {t: [] for t in TOOLS}
    for rep in range(args.reps):
        order = TOOLS[rep % len(TOOLS) :] + TOOLS[: rep % len(TOOLS)]
        for tool in order:
            out = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    tool,
                    "--corpus",
                    str(args.corpus),
                    "--rounds",
                    str(args.rounds),
                ],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            runs[tool].append(json.loads(out))
    print(
        f"bounce corpus: {len(expected)} messages x {args.rounds} rounds, {args.reps} "
        f"interleaved repetitions (medians); load average at start {load:.2f}"
    )
    print()
    print(
        "| tool | messages/s | CPU s per 1,000 messages | peak RSS MiB | read right "
        "(failure / delay / not a bounce) |"
    )
    print("|---|---|---|---|---|")
    rates = {}
    for tool in TOOLS:
        done = runs[tool]
        rate = statistics.median(float(r["messages"]) / float(r["wall"]) for r in done)  # type: ignore[arg-type]
        cpu = statistics.median(1000 * float(r["cpu"]) / float(r["messages"]) for r in done)  # type: ignore[arg-type]
        rss = statistics.median(float(r["rss_kib"]) / 1024 for r in done)  # type: ignore[arg-type]
        answers = done[0]["answers"]
        assert isinstance(answers, list)
        right = {
            kind: (
                sum(1 for a, e in zip(answers, expected, strict=True) if e == kind and a == e),
                expected.count(kind),
            )
            for kind in ("failed", "delayed", "none")
        }
        rates[tool] = rate
        cells = " / ".join(f"{a}/{n}" for a, n in right.values())
        print(f"| {tool} | {rate:,.0f} | {cpu:.2f} | {rss:.0f} | {cells} |")
    print()
    names, _messages = _load(args.corpus)
    for tool in TOOLS:
        answers = runs[tool][0]["answers"]
        assert isinstance(answers, list)
        wrong = [
            f"{name} ({e} read as {a})"
            for name, a, e in zip(names, answers, expected, strict=True)
            if a != e
        ]
        print(f"{tool} misreads: {', '.join(wrong) if wrong else 'none'}")
    print()
    base = rates["flufl.bounce"]
    print(
        f"ratios to flufl.bounce: delivermon-parse {rates['delivermon-parse'] / base:.2f}x, "
        f"delivermon (parse + classify) {rates['delivermon'] / base:.2f}x"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
