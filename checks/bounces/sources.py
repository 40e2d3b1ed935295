"""The documents behind the classifier's patterns: one key per page, cited by every rule.

``docs/bounces.md`` prints this table; a test checks that every rule cites a key here.
"""

from __future__ import annotations

__all__ = ["SOURCES"]

SOURCES: dict[str, str] = {
    "gmail": "https://support.google.com/a/answer/3726730 (Gmail SMTP errors and codes)",
    "microsoft-ndr": (
        "https://learn.microsoft.com/exchange/troubleshoot/email-delivery/ndr/"
        "non-delivery-reports-in-exchange-online (Exchange Online NDRs and SMTP errors)"
    ),
    "outlook": "https://postmaster.live.com/pm/troubleshooting.aspx (Outlook.com postmaster)",
    "yahoo": "https://senders.yahooinc.com/smtp-error-codes/ (Yahoo Sender Hub SMTP error codes)",
    "apple": "https://support.apple.com/en-us/102322 (Postmaster information for iCloud Mail)",
    "gmx": "https://postmaster.gmx.com/en/error-messages (GMX / web.de error messages)",
    "comcast": "http://postmaster.comcast.net/mail-error-codes.html (Comcast block codes)",
    "mailru": "https://help.mail.ru/mail-help/postmaster/dmarc (mail.ru postmaster)",
    "postfix-rbl": (
        "https://www.postfix.org/postconf.5.html#default_rbl_reply "
        "(Postfix default_rbl_reply: 'blocked using <list>')"
    ),
    "exim-dnslists": (
        "https://www.exim.org/exim-html-current/doc/html/spec_html/ch-access_control_lists.html "
        "(Exim dnslists; 'is in a black list at <list>')"
    ),
    "sendmail-dnsbl": "sendmail cf/feature/dnsbl.m4 ('Rejected: <ip> listed at <list>')",
    "spamhaus": "https://www.spamhaus.org/ (Spamhaus query URLs in rejections)",
    "dnsbl-operators": (
        "the list operators' delisting pages named in their replies "
        "(spamcop.net/bl.shtml, barracudacentral.org, uceprotect.net, ...)"
    ),
    "rfc3463": "https://www.rfc-editor.org/rfc/rfc3463 (enhanced mail system status codes)",
    "iana-esc": (
        "https://www.iana.org/assignments/smtp-enhanced-status-codes "
        "(enhanced status code registry: X.7.20-X.7.26 authentication)"
    ),
    "rfc5321": "https://www.rfc-editor.org/rfc/rfc5321#section-4.2 (SMTP replies)",
}
