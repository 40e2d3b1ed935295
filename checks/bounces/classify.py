"""Classify one SMTP reply: class, provider, the blocklist it names, codes, permanence."""

from __future__ import annotations

from dataclasses import dataclass

from checks.bounces.providers import provider_of
from checks.bounces.reply import Reply, parse_reply
from checks.bounces.table import BLOCKLIST_NAMES, CODE_RULES, RULES, BounceClass, Rule

__all__ = ["OWN_LIST_NAMES", "Classification", "classify_reply"]

# The lists a provider keeps itself, named when a blocklisted reply names no other list.
_OWN_LISTS = {"microsoft": "microsoft", "gmx": "gmx", "comcast": "comcast", "yahoo": "yahoo"}
OWN_LIST_NAMES = frozenset(_OWN_LISTS.values())


@dataclass(frozen=True, slots=True)
class Classification:
    """The fixed ``bounce classify --json`` document's fields, and the rule's source."""

    cls: BounceClass
    provider: str
    blocklist: str | None
    status: str | None
    enhanced: str | None
    permanent: bool | None
    source: str | None  # the SOURCES key of the rule that matched; None: unclassified

    def document(self) -> dict[str, object]:
        return {
            "class": self.cls.value,
            "provider": self.provider,
            "blocklist": self.blocklist,
            "status": self.status,
            "enhanced": self.enhanced,
            "permanent": self.permanent,
        }


def _matches(rule: Rule, reply: Reply, provider: str) -> bool:
    if rule.providers is not None and provider not in rule.providers:
        return False
    if rule.enhanced is not None and not (reply.enhanced and rule.enhanced.search(reply.enhanced)):
        return False
    return rule.text is None or rule.text.search(rule.readable(reply.text)) is not None


def _blocklist(rule: Rule, reply: Reply, provider: str) -> str:
    if rule.blocklist is not None:
        return rule.blocklist
    text = rule.readable(reply.text)
    for pattern, name in BLOCKLIST_NAMES:
        if pattern.search(text):
            return name
    return _OWN_LISTS.get(provider, "unknown")


def classify_reply(
    raw: str,
    *,
    recipient_domain: str | None = None,
    remote_host: str | None = None,
    status: str | None = None,
) -> Classification:
    """Classify one reply; ``status`` is a DSN's ``Status:`` used when the reply has none.

    Never raises: a reply no rule matches is ``unclassified``.
    """
    reply = parse_reply(raw)
    if reply.enhanced is None and status:
        reply = Reply(reply.status, status, reply.text)
    provider = provider_of(remote_host=remote_host, recipient_domain=recipient_domain, text=raw)
    for rule in (*RULES, *CODE_RULES):
        if _matches(rule, reply, provider):
            blocklist = None
            if rule.cls is BounceClass.BLOCKLISTED:
                blocklist = _blocklist(rule, reply, provider)
            return Classification(
                rule.cls,
                provider,
                blocklist,
                reply.status,
                reply.enhanced,
                reply.permanent,
                rule.source,
            )
    return Classification(
        BounceClass.UNCLASSIFIED,
        provider,
        None,
        reply.status,
        reply.enhanced,
        reply.permanent,
        None,
    )
