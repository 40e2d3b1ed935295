"""DMARC policy discovery: the RFC 9989 DNS Tree Walk, organisational and policy domain.

The choices (which names to query, which record wins, where the organisational
domain is) are pure functions over the walk's steps; ``tree_walk`` only performs
the queries. A DNS failure ends the walk and is kept as a value, never read as
"no record".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from checks.dmarc.record import DmarcRecord, is_dmarc_record, parse_record
from checks.dns import Answer, DnsClient, RdataType, Unknown

__all__ = [
    "MAX_QUERIES",
    "StepOutcome",
    "TreeWalk",
    "WalkStep",
    "organizational_domain",
    "policy_domain",
    "select_record",
    "tree_walk",
    "walk_names",
]

# RFC 9989 §4.10: names of 8 or more labels are shortened to 7 after the first query,
# so no walk takes more than 8 queries.
MAX_QUERIES = 8


class StepOutcome(StrEnum):
    RECORD = "record"  # exactly one DMARC record
    NONE = "none"  # NXDOMAIN, NODATA, or only non-DMARC TXT records
    MULTIPLE = "multiple"  # several DMARC records: all discarded
    FAILED = "failed"  # the lookup could not tell


@dataclass(frozen=True, slots=True)
class WalkStep:
    """One query of the walk: ``domain`` is the name below ``_dmarc``."""

    domain: str
    outcome: StepOutcome
    record: DmarcRecord | None = None
    reason: str | None = None  # UnknownReason value when FAILED
    # TXT strings that look meant as DMARC ("DMARC1" in any case, or "v=dmarc..."), and
    # are none (v=DMARC1 not first, no ';' after it, dmarc1 in lower case): receivers
    # ignore them, so a step with only these has no record.
    discarded: tuple[str, ...] = ()

    @property
    def query_name(self) -> str:
        return f"_dmarc.{self.domain}"


@dataclass(frozen=True, slots=True)
class TreeWalk:
    """The queries one walk made, in order, starting at ``start``."""

    start: str
    steps: tuple[WalkStep, ...]

    @property
    def failed(self) -> WalkStep | None:
        return next((s for s in self.steps if s.outcome is StepOutcome.FAILED), None)

    @property
    def records(self) -> Mapping[str, DmarcRecord]:
        return {s.domain: s.record for s in self.steps if s.record is not None}

    @property
    def query_names(self) -> tuple[str, ...]:
        return tuple(s.query_name for s in self.steps)


def walk_names(domain: str) -> tuple[str, ...]:
    """The names a full walk from ``domain`` queries, in order (RFC 9989 §4.10 steps 1-7).

    The first query is the domain itself. Then, for x labels: x < 8 drops one
    label; x >= 8 drops labels until 7 remain; afterwards one label at a time
    down to the top-level domain.
    """
    labels = domain.rstrip(".").split(".")
    names = [".".join(labels)]
    keep = min(len(labels) - 1, MAX_QUERIES - 1)
    while keep > 0:
        names.append(".".join(labels[-keep:]))
        keep -= 1
    return tuple(names)


def select_record(txt_records: Sequence[str]) -> tuple[StepOutcome, DmarcRecord | None]:
    """Keep the TXT strings that start with v=DMARC1; several of them count as none."""
    dmarc = [text for text in txt_records if is_dmarc_record(text)]
    if not dmarc:
        return StepOutcome.NONE, None
    if len(dmarc) > 1:
        return StepOutcome.MULTIPLE, None
    return StepOutcome.RECORD, parse_record(dmarc[0])


def meant_as_dmarc(txt_records: Sequence[str]) -> tuple[str, ...]:
    """The TXT strings that look meant as a DMARC record but are not one."""
    return tuple(
        text
        for text in txt_records
        if not is_dmarc_record(text)
        and ("dmarc1" in text.lower() or text.lstrip().lower().startswith("v=dmarc"))
    )


def _ends_walk(step: WalkStep) -> bool:
    # RFC 9989 §4.10 steps 2 and 6: a single record with psd=y or psd=n stops the walk.
    return step.record is not None and step.record.psd in ("y", "n")


async def tree_walk(domain: str, dns: DnsClient) -> TreeWalk:
    """Query ``_dmarc.<name>`` for each name of ``walk_names(domain)`` until the walk ends.

    It ends at a record with psd=y or psd=n, after the top-level domain, or at
    the first lookup that fails (the rest could not change that it is unknown).
    """
    steps: list[WalkStep] = []
    for name in walk_names(domain):
        outcome = await dns.query(f"_dmarc.{name}", RdataType.TXT)
        if isinstance(outcome, Unknown):
            steps.append(WalkStep(name, StepOutcome.FAILED, reason=outcome.reason.value))
            break
        records = outcome.records if isinstance(outcome, Answer) else ()
        kind, record = select_record(records)
        step = WalkStep(name, kind, record, discarded=meant_as_dmarc(records))
        steps.append(step)
        if _ends_walk(step):
            break
    return TreeWalk(domain, tuple(steps))


def organizational_domain(walk: TreeWalk) -> str:
    """The organisational domain by RFC 9989 §4.10.2, over a walk that did not fail.

    From the longest name to the shortest: a record with psd=n is the
    organisational domain; a record with psd=y (not at the start) makes the
    name one label below it the organisational domain; otherwise the record
    with the fewest labels. No record at all: the start itself.
    """
    found = [(s.domain, s.record) for s in walk.steps if s.record is not None]
    for name, record in found:
        if record.psd == "n":
            return name
        if record.psd == "y" and name != walk.start:
            return _one_label_below(walk.start, name)
    return found[-1][0] if found else walk.start


def _one_label_below(start: str, ancestor: str) -> str:
    labels = start.split(".")
    return ".".join(labels[-(ancestor.count(".") + 2) :])


def policy_domain(walk: TreeWalk, org_domain: str) -> str | None:
    """Where the applied record is (RFC 9989 §4.10.1): the domain, its org domain, or its PSD."""
    records = walk.records
    if walk.start in records:
        return walk.start
    if org_domain in records:
        return org_domain
    return next((name for name, record in records.items() if record.psd == "y"), None)
