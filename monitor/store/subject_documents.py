"""The JSON documents of a subject access (export) and an erasure: one shape for the API
(``GET|DELETE /api/v1/subjects/{email}``) and the CLI (``delivermon subject``).

A subject is named by a prefix of its pseudonym, never by its address.
"""

from __future__ import annotations

import datetime as dt

from monitor.store.models import EraseResult, SubjectExport

__all__ = ["SUBJECT_PREFIX", "erasure_document", "export_document"]

SUBJECT_PREFIX = 12  # hex digits of the pseudonym that name a subject in answers and logs
_KEPT_NOTE = (
    "a pseudonymous suppression marker is kept: it is what keeps honouring the opt-out "
    "(GDPR Art. 17(3), Art. 21)"
)
_KEPT_BOUNCE_NOTE = (
    "a pseudonymous suppression marker is kept: the address bounced as one that does not "
    "exist, and the marker keeps mail from being sent to it again"
)


def _kept_note(result: EraseResult) -> str | None:
    """Why the marker stays: an opt-out (an unsubscribe or a complaint) to honour, or
    only a dead address."""
    if not result.suppression_kept:
        return None
    if result.suppression_reasons and set(result.suppression_reasons) <= {"bounce"}:
        return _KEPT_BOUNCE_NOTE
    return _KEPT_NOTE


def _iso(moment: dt.datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def export_document(export: SubjectExport) -> dict[str, object]:
    """The JSON export of one subject (API and CLI): reports, events, suppressions."""
    return {
        "subject": export.pseudonym[:SUBJECT_PREFIX],
        "reports": [
            {
                "id": r.id,
                "received_at": _iso(r.received_at),
                "arrival_date": _iso(r.arrival_date),
                "feedback_type": r.feedback_type,
                "campaign": r.campaign,
                "provider": r.provider,
                "source_ip": r.source_ip,
                "reporter": r.reporter,
                "user_agent": r.user_agent,
                "list_unsubscribe_https": r.list_unsubscribe_https,
                "list_unsubscribe_one_click": r.list_unsubscribe_one_click,
                "dkim_covers_list_unsubscribe": r.dkim_covers_list_unsubscribe,
                "feedback_id_valid": r.feedback_id_valid,
                "auth_failure": r.auth_failure,
                "identity_alignment": r.identity_alignment,
                "failure_domain": r.failure_domain,
                "raw_stored": r.raw_stored,
            }
            for r in export.reports
        ],
        "events": [
            {
                "type": e.type,
                "campaign": e.campaign,
                "provider": e.provider,
                "occurred_at": _iso(e.occurred_at),
                "source": e.source,
                "bounce_kind": e.bounce_kind,
                "feedback_type": e.feedback_type,
                "scope": e.scope,
                "bounce_class": e.bounce_class,
                "blocklist": e.blocklist,
                "reply_status": e.reply_status,
                "reply_enhanced": e.reply_enhanced,
                "reply_text": e.reply_text,
            }
            for e in export.events
        ],
        "suppressed": export.suppressed,
        "suppressions": [
            {"reason": s.reason.value, "since": _iso(s.first_at)} for s in export.suppressions
        ],
    }


def erasure_document(pseudonym: str, result: EraseResult) -> dict[str, object]:
    """What an erasure removed (API and CLI), and whether the suppression marker stays."""
    return {
        "subject": pseudonym[:SUBJECT_PREFIX],
        "removed": {
            "reports": result.reports,
            "events": result.events,
            "raw_copies": result.raw_copies,
        },
        "suppression_kept": result.suppression_kept,
        "suppression_reasons": list(result.suppression_reasons),
        "note": _kept_note(result),
    }
