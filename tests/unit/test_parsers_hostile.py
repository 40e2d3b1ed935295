"""Every input parser of the table (monitor/ingest/parsers.py) against hostile bytes.

Generated from ``PARSERS``: a parser added to the table is attacked here without editing
this file. For arbitrary bytes and for mutated samples (the table's examples and the shared
corpus), each parser must return a result or raise its documented refusal, never another
exception, never run longer than ``HANG_SECONDS`` and never allocate more than
``memory_budget`` for its input. Bounded for CI (``CI_EXAMPLES`` per test, derandomised);
``make fuzz`` runs the coverage-guided fuzzer on the same table for longer.
"""

from __future__ import annotations

import contextlib
import os
import signal
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus import CORPUS, MISSING
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.ingest.parsers import PARSERS, ParserSpec

IN_CI = os.environ.get("CI") == "true"
CI_EXAMPLES = 60
HANG_SECONDS = 5.0
BOUNDED = settings(
    max_examples=CI_EXAMPLES if IN_CI else 300,
    deadline=None,  # hangs are caught by the alarm below, not by timing each example
    derandomize=IN_CI,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
IDS = [spec.name for spec in PARSERS]


class Hang(Exception):  # noqa: N818 - the name is what a failure should say
    pass


def memory_budget(size: int) -> int:
    """What one parse may allocate at its peak: 64 bytes per input byte, plus 8 MiB."""
    return 64 * size + 8 * 1024 * 1024


def _alarm(_signum: int, _frame: object) -> None:
    raise Hang(f"the parser ran longer than {HANG_SECONDS} s")


@pytest.fixture(scope="module", autouse=True)
def traced() -> Iterator[None]:
    tracemalloc.start()
    yield
    tracemalloc.stop()


def attack(spec: ParserSpec, data: bytes) -> None:
    """Parse ``data``; fail on anything but a result or the documented refusal."""
    tracemalloc.reset_peak()
    before = tracemalloc.get_traced_memory()[0]
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        spec.parse(data)
    except spec.refusals:
        pass
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    peak = tracemalloc.get_traced_memory()[1] - before
    assert peak <= memory_budget(len(data)), f"{spec.name}: {peak} bytes for {len(data)}"


def seeds(spec: ParserSpec) -> list[bytes]:
    """The table's examples, and the corpus files its globs name (when the corpus is here)."""
    found = list(spec.examples)
    if CORPUS.is_dir():
        for pattern in spec.corpus:
            found += [path.read_bytes() for path in sorted(CORPUS.glob(pattern))]
    return found


def test_the_table_names_each_parser_once() -> None:
    assert len({spec.name for spec in PARSERS}) == len(PARSERS)
    assert {"arf", "spf_record", "dmarc_record", "dkim_key_record", "dns_reply_a"} <= set(IDS)


@pytest.mark.parametrize("spec", PARSERS, ids=IDS)
def test_every_parser_has_seeds_and_parses_them(spec: ParserSpec) -> None:
    if spec.corpus and not spec.examples and not CORPUS.is_dir():
        if IN_CI:
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    found = seeds(spec)
    assert found, f"{spec.name}: no examples and its corpus globs match nothing"
    if CORPUS.is_dir():
        for pattern in spec.corpus:
            assert list(CORPUS.glob(pattern)), f"{spec.name}: {pattern} matches no corpus file"
    for data in found:
        attack(spec, data)


@pytest.mark.parametrize("spec", PARSERS, ids=IDS)
@BOUNDED
@given(data=st.binary(max_size=4096))
def test_arbitrary_bytes_give_a_result_or_the_documented_refusal(
    spec: ParserSpec, data: bytes
) -> None:
    attack(spec, data)


_INTERESTING = (
    b"\x00",
    b"\xff\xfe",
    b"\xc3\x28",  # invalid UTF-8
    b"\r\n",
    b"\n\n",
    b"--b1\n",
    b"{",
    b"[",
    b'"a":1,"a":2',
    b"1e999",
    b"-99999999999999999999999",
    b"%{",
    b";",
    b"=",
    b"\xc0\x0c",  # a DNS compression pointer
)


@st.composite
def mutated(draw: st.DrawFn, spec: ParserSpec) -> bytes:
    """A seed with a few byte-level mutations: flips, inserts, deletions, repeats, splices."""
    pool = seeds(spec)
    data = bytearray(draw(st.sampled_from(pool)))
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "repeat", "splice", "token"]))
        at = draw(st.integers(0, len(data)))
        if op == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif op == "repeat":
            chunk = data[at : at + draw(st.integers(1, 64))]
            data[at:at] = bytes(chunk) * draw(st.integers(1, 200))
        elif op == "splice":
            other = draw(st.sampled_from(pool))
            cut = draw(st.integers(0, len(other)))
            data[at:] = other[cut:]
        else:
            data[at:at] = draw(st.sampled_from(_INTERESTING))
    return bytes(data)


@pytest.mark.parametrize("spec", PARSERS, ids=IDS)
@BOUNDED
@given(data=st.data())
def test_mutated_samples_give_a_result_or_the_documented_refusal(
    spec: ParserSpec, data: st.DataObject
) -> None:
    if not seeds(spec):
        if IN_CI:
            pytest.fail(MISSING)
        pytest.skip(MISSING)
    attack(spec, data.draw(mutated(spec)))


def _nested_mail(depth: int) -> bytes:
    part = b"Content-Type: text/plain\r\n\r\nhi\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        part = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + part
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return b"From: a@example.net\r\nSubject: nested\r\nMIME-Version: 1.0\r\n" + part


@pytest.mark.parametrize("spec", PARSERS, ids=IDS)
def test_mime_nested_past_the_standard_librarys_recursion_is_refused(spec: ParserSpec) -> None:
    # 2,000 nested multiparts (112 KB): the email package parses nesting recursively and
    # raised RecursionError out of the DMARC and bounce parsers (a 500 over HTTP). Not
    # through attack(): under tracemalloc a stack this deep takes 11 s instead of 0.35 s.
    with contextlib.suppress(*spec.refusals):
        spec.parse(_nested_mail(2000))


def test_the_attack_catches_an_undocumented_exception_and_a_hang() -> None:
    def crash(data: bytes) -> object:
        raise IndexError(data)

    with pytest.raises(IndexError):
        attack(ParserSpec("crash", crash, (ValueError,)), b"x")

    def spin(_data: bytes) -> object:
        while True:
            pass

    global HANG_SECONDS
    saved, HANG_SECONDS = HANG_SECONDS, 0.2
    try:
        with pytest.raises(Hang):
            attack(ParserSpec("spin", spin, (ValueError,)), b"x")
    finally:
        HANG_SECONDS = saved

    def hog(data: bytes) -> object:
        return bytes(memory_budget(len(data)) + 1)

    with pytest.raises(AssertionError):
        attack(ParserSpec("hog", hog, (ValueError,)), b"x")


def test_corpus_path_is_the_shared_one() -> None:
    assert Path(__file__).resolve().parents[3] / "shared" / "corpus" == CORPUS
