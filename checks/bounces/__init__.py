"""Bounces and deferrals as signals: classify a receiver's SMTP reply (pure, table-driven).

``classify_reply(text, recipient_domain=..., remote_host=...)`` gives the class
(``BounceClass``), the mailbox provider, the blocklist the reply names, the codes and
whether the failure is permanent. The rules are in ``checks.bounces.table``, each citing
a document in ``checks.bounces.sources``.
"""

from checks.bounces.classify import Classification, classify_reply
from checks.bounces.providers import PROVIDERS, provider_of
from checks.bounces.reply import Reply, parse_reply
from checks.bounces.table import BounceClass

__all__ = [
    "PROVIDERS",
    "BounceClass",
    "Classification",
    "Reply",
    "classify_reply",
    "parse_reply",
    "provider_of",
]
