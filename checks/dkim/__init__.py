"""DKIM key checks (RFC 6376, RFC 8463, RFC 8301): key records per configured selector."""

from checks.dkim.check import (
    DkimPolicy,
    DkimResult,
    check_dkim,
    evaluate_selector,
    flag_ed25519_only,
    key_record_name,
)
from checks.dkim.record import KeyRecordEvaluation, evaluate_key_record

__all__ = [
    "DkimPolicy",
    "DkimResult",
    "KeyRecordEvaluation",
    "check_dkim",
    "evaluate_key_record",
    "evaluate_selector",
    "flag_ed25519_only",
    "key_record_name",
]
