"""SPF (RFC 7208): record parsing, macros, ``check_host()`` and the domain check ``check_spf``."""

from checks.spf.analyze import SpfPolicy, SpfResult, check_spf
from checks.spf.evaluate import SpfEvaluation, SpfOutcome, check_host, check_mail_from
from checks.spf.record import SpfRecord, SpfSyntaxError, parse_record
from checks.spf.tree import SpfNode

__all__ = [
    "SpfEvaluation",
    "SpfNode",
    "SpfOutcome",
    "SpfPolicy",
    "SpfRecord",
    "SpfResult",
    "SpfSyntaxError",
    "check_host",
    "check_mail_from",
    "check_spf",
    "parse_record",
]
