"""The classifier's table: ordered rules, first match wins, each citing its document.

Order (``RULES``): the providers' own documented replies, then DNSBL citations, then the
generic text families, then the enhanced status code alone (``CODE_RULES``). Text before
code: receivers put codes that contradict their text (Comcast's quota with 5.1.1, Gmail's
4.7.27-4.7.40 that differ from the IANA registry), and the text is what they document.
A reply no rule matches is ``unclassified``: nothing is guessed from a bare 5.7.1.

Patterns run on ``Reply.text`` (lower case, continuation prefixes removed, spaces
collapsed); ``enhanced`` patterns on the enhanced code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BLOCKLIST_NAMES", "CODE_RULES", "RULES", "BounceClass", "Rule"]


class BounceClass(StrEnum):
    BLOCKLISTED = "blocklisted"
    REPUTATION_RATELIMIT = "reputation_ratelimit"
    AUTH_FAILURE_DMARC = "auth_failure_dmarc"
    AUTH_FAILURE_SPF_DKIM = "auth_failure_spf_dkim"
    SPAM_CONTENT = "spam_content"
    MAILBOX_UNKNOWN = "mailbox_unknown"
    MAILBOX_FULL = "mailbox_full"
    POLICY_OTHER = "policy_other"
    TRANSIENT_OTHER = "transient_other"
    UNCLASSIFIED = "unclassified"


@dataclass(frozen=True, slots=True)
class Rule:
    """``text`` (and ``enhanced``, when given) must match; ``providers`` limits the rule to
    replies from those providers. ``blocklist``: the list a ``blocklisted`` rule names
    (None: taken from the text by ``BLOCKLIST_NAMES``, else the provider's own).
    ``ignore``: what of the text the rule does not read (a negated citation)."""

    cls: BounceClass
    text: re.Pattern[str] | None
    source: str
    providers: frozenset[str] | None = None
    blocklist: str | None = None
    enhanced: re.Pattern[str] | None = None
    ignore: re.Pattern[str] | None = None

    def readable(self, text: str) -> str:
        """``text`` less what the rule ignores."""
        return text if self.ignore is None else self.ignore.sub(" ", text)


B = BounceClass


def _r(
    cls: BounceClass,
    pattern: str | None,
    source: str,
    *,
    providers: str | None = None,
    blocklist: str | None = None,
    enhanced: str | None = None,
    ignore: str | None = None,
) -> Rule:
    return Rule(
        cls,
        None if pattern is None else re.compile(pattern),
        source,
        None if providers is None else frozenset(providers.split()),
        blocklist,
        None if enhanced is None else re.compile(enhanced),
        None if ignore is None else re.compile(ignore),
    )


_PROVIDER_RULES = (
    # Gmail (support.google.com/a/answer/3726730). Gmail's own codes run before IANA's.
    _r(B.POLICY_OTHER, r"same message-id", "gmail"),
    _r(
        B.POLICY_OTHER,
        r"not rfc ?5322 compliant|duplicate headers?|multiple .{0,20}headers",
        "gmail",
    ),
    _r(B.POLICY_OTHER, r"content presents a potential", "gmail"),
    _r(
        B.REPUTATION_RATELIMIT, r"unusual (?:rate|amount) of (?:unsolicited )?(?:e-?)?mail", "gmail"
    ),
    _r(B.REPUTATION_RATELIMIT, r"very low reputation of the sending", "gmail"),
    _r(B.SPAM_CONTENT, r"suspicious due to the nature of the content", "gmail"),
    _r(B.SPAM_CONTENT, r"likely unsolicited (?:e-?)?mail", "gmail"),
    _r(B.AUTH_FAILURE_DMARC, r"not accepted due to (?:the )?domain'?s dmarc policy", "gmail"),
    _r(B.AUTH_FAILURE_DMARC, r"unauthenticated (?:e-?)?mail from \S+ is not accepted", "gmail"),
    _r(B.AUTH_FAILURE_DMARC, r"aligned with either the authenticated spf or dkim", "gmail"),
    _r(B.AUTH_FAILURE_DMARC, r"no dmarc alignment|doesn't have a dmarc record", "gmail"),
    _r(B.AUTH_FAILURE_SPF_DKIM, r"sender is unauthenticated", "gmail"),
    _r(B.AUTH_FAILURE_SPF_DKIM, r"(?:spf|dkim) authentication (?:didn't|did not) pass", "gmail"),
    _r(B.AUTH_FAILURE_SPF_DKIM, r"does not pass authentication checks", "gmail"),
    _r(B.AUTH_FAILURE_SPF_DKIM, r"fails to pass spf checks|spf record .{0,40}suspicious", "gmail"),
    _r(
        B.MAILBOX_UNKNOWN,
        r"account that you tried to reach (?:does not exist|is (?:inactive|disabled))",
        "gmail",
    ),
    _r(
        B.MAILBOX_FULL,
        r"out of storage space|account that you tried to reach is over quota",
        "gmail",
    ),
    _r(B.TRANSIENT_OTHER, r"receiving (?:e-?)?mail (?:too quickly|at a rate)", "gmail"),
    _r(B.REPUTATION_RATELIMIT, None, "gmail", providers="google", enhanced=r"^[45]\.7\.28$"),
    _r(
        B.AUTH_FAILURE_SPF_DKIM, None, "gmail", providers="google", enhanced=r"^[45]\.7\.(?:27|30)$"
    ),
    _r(B.AUTH_FAILURE_DMARC, None, "gmail", providers="google", enhanced=r"^[45]\.7\.(?:32|40)$"),
    # Microsoft (Exchange Online NDR page; Outlook.com postmaster troubleshooting).
    _r(
        B.BLOCKLISTED,
        r"banned sending ip|banned sender|on our block list",
        "microsoft-ndr",
        blocklist="microsoft",
    ),
    _r(B.BLOCKLISTED, r"\((?:a?s3140|a?s3150|as16012609)\)", "outlook", blocklist="microsoft"),
    _r(
        B.BLOCKLISTED,
        None,
        "microsoft-ndr",
        blocklist="microsoft",
        enhanced=r"^5\.7\.(?:6[0-4]\d|511)$",
    ),
    _r(B.BLOCKLISTED, r"using customer block list", "microsoft-ndr", blocklist="recipient"),
    _r(
        B.REPUTATION_RATELIMIT,
        r"rate limited due to ip reputation|exceeded the rate limit",
        "outlook",
    ),
    _r(B.REPUTATION_RATELIMIT, None, "microsoft-ndr", enhanced=r"^4\.7\.(?:65[01])$"),
    _r(
        B.REPUTATION_RATELIMIT,
        r"access denied, please try again later",
        "microsoft-ndr",
        providers="microsoft",
    ),
    _r(B.REPUTATION_RATELIMIT, r"unwanted messages|received complaints", "outlook"),
    _r(B.REPUTATION_RATELIMIT, r"submission quota exceeded", "microsoft-ndr"),
    _r(
        B.AUTH_FAILURE_DMARC,
        r"does not pass dmarc verification|required authentication level",
        "microsoft-ndr",
    ),
    _r(B.AUTH_FAILURE_DMARC, None, "microsoft-ndr", enhanced=r"^5\.7\.(?:509|515)$"),
    _r(
        B.AUTH_FAILURE_SPF_DKIM,
        r"sender policy framework violation|must pass either spf or dkim",
        "microsoft-ndr",
    ),
    _r(
        B.MAILBOX_UNKNOWN,
        r"recipientnotfound|recipnotfound|recipient not found by smtp address",
        "microsoft-ndr",
    ),
    _r(B.MAILBOX_FULL, r"storedrv\.deliver.{0,20}mailbox full", "microsoft-ndr"),
    # Yahoo / AOL (Yahoo Sender Hub SMTP error codes).
    _r(B.REPUTATION_RATELIMIT, r"\[ts[s]?\d\d\]|permanently deferred", "yahoo"),
    _r(B.REPUTATION_RATELIMIT, r"deferred due to (?:unexpected volume|user complaints)", "yahoo"),
    _r(B.SPAM_CONTENT, r"\[ph\d\d\]", "yahoo"),
    _r(B.AUTH_FAILURE_SPF_DKIM, r"requires all senders to authenticate", "yahoo"),
    _r(
        B.MAILBOX_UNKNOWN,
        r"\bdd\b.{0,60}(?:account|no longer valid)|this mailbox is disabled",
        "yahoo",
    ),
    _r(B.TRANSIENT_OTHER, r"resources temporarily unavailable", "yahoo"),
    # Apple iCloud.
    _r(B.AUTH_FAILURE_SPF_DKIM, r"\[hme1\]|failing both spf and dkim", "apple"),
    _r(B.REPUTATION_RATELIMIT, r"deferred due to excessive volume", "apple"),
    _r(
        B.MAILBOX_UNKNOWN,
        r"inactive email address|no longer on server|unknown or illegal alias",
        "apple",
    ),
    # GMX / web.de ("the last line is decisive"; no enhanced codes).
    _r(B.BLOCKLISTED, r"ip address is block ?listed", "gmx", providers="gmx", blocklist="gmx"),
    _r(B.AUTH_FAILURE_SPF_DKIM, r"reject due to spf policy", "gmx"),
    _r(B.POLICY_OTHER, r"bad dns ptr resource record|reject due to policy restrictions", "gmx"),
    _r(B.MAILBOX_FULL, r"exceeded storage allocation", "gmx"),
    # Comcast block codes.
    _r(
        B.BLOCKLISTED,
        r"\bbl0*1\b|\bbl000001\b|\bbl006\b",
        "comcast",
        providers="comcast",
        blocklist="spamhaus",
    ),
    _r(
        B.BLOCKLISTED,
        r"\bbl0*10\b|\bbl007\b",
        "comcast",
        providers="comcast",
        blocklist="cloudmark",
    ),
    _r(B.BLOCKLISTED, r"\bbl0*100\b", "comcast", providers="comcast", blocklist="senderscore"),
    _r(
        B.BLOCKLISTED,
        r"\bbl\d{3,6}\b|comcast block for spam",
        "comcast",
        providers="comcast",
        blocklist="comcast",
    ),
    _r(
        B.REPUTATION_RATELIMIT,
        r"\brl\d{3,6}\b|too many recent messages",
        "comcast",
        providers="comcast",
    ),
    _r(B.MAILBOX_UNKNOWN, r"not our customer|mailbox unallocated", "comcast"),
    _r(B.MAILBOX_FULL, r"user over quota|quota violation", "comcast"),
    # mail.ru.
    _r(B.AUTH_FAILURE_DMARC, r"owner dmarc policy", "mailru"),
    _r(B.SPAM_CONTENT, r"spam message rejected", "mailru"),
)

# DNSBL citations: MTA defaults name the list ("blocked using zen.spamhaus.org", Exim's
# "in a black list at", Sendmail's "listed at"); URLs name the operator.
_LISTED = (
    r"blocked using|in a black ?list|black ?listed|block ?listed|(?<!not )\blisted (?:at|in|on|by)\b|"  # noqa: E501
    r"\bdnsbl\b|\brbl\b|\bblacklist|blocked by ldap:|dnsbl-lookup|is in [\w'.-]+ list|"
    r"(?:spamhaus|spamcop|barracuda|uceprotect|sorbs|abuseat)\S*(?:\s|$)"
)
# A list the reply says the sender is *not* on ("is not listed in zen.spamhaus.org",
# "isn't listed in", "is no longer listed in", "was not found in", "is not on"): no
# citation, and never the list named.
_NOT_LISTED = (
    r"(?:\bnot|n't|\bno longer)\s+(?:been\s+|currently\s+)?(?:listed|found)\s+(?:at|in|on|by)\s+"
    r"[^\s,;()]+|\bnot\s+on\s+[^\s,;()]+"
)
_DNSBL_RULES = (
    _r(B.BLOCKLISTED, _LISTED, "postfix-rbl", ignore=_NOT_LISTED),
    _r(
        B.BLOCKLISTED,
        r"spamhaus\.org/(?:query|sbl|xbl|pbl|dbl|lookup)",
        "spamhaus",
        ignore=_NOT_LISTED,
    ),
    _r(
        B.BLOCKLISTED,
        r"uceprotect-level|spamcop\.net/bl|barracudacentral|proofpoint\.com/dnsbl",
        "dnsbl-operators",
        ignore=_NOT_LISTED,
    ),
)

# Generic families: words receivers of every make use (RFC 5321 texts, MTA defaults).
_GENERIC_RULES = (
    _r(B.TRANSIENT_OTHER, r"gr[ae]ylist", "rfc5321"),
    _r(B.SPAM_CONTENT, r"(?:rejected|blocked) (?:due to|as|because of) spam", "rfc3463"),
    _r(B.AUTH_FAILURE_DMARC, r"\bdmarc\b", "iana-esc"),
    _r(
        B.AUTH_FAILURE_SPF_DKIM,
        r"\bspf\b|\bdkim\b|sender policy framework|domainkeys|unauthenticated",
        "iana-esc",
    ),
    _r(
        B.REPUTATION_RATELIMIT,
        r"reputation|rate limit|ratelimit|rate-limit|too many (?:messages|recipients|mails|e-?mails)|"  # noqa: E501
        r"excessive (?:volume|number)|unexpected volume|complaints|throttl|sending limit|"
        r"(?:connection|message) rate",
        "rfc3463",
    ),
    _r(
        B.SPAM_CONTENT,
        r"\bspam\b|\bube\b|spam ?signature|unsolicited|content (?:rejected|denied)|"
        r"(?:rejected|denied) content|"
        r"virus|malware|phish|spam ?score|mail rejete|junk mail|message content",
        "rfc3463",
    ),
    _r(
        B.MAILBOX_FULL,
        r"(?<!disk space)(?<!system storage)\bquota\b|over ?quota|mailbox (?:is )?full|mailbox size limit|"  # noqa: E501
        r"storage (?:space|allocation)|boite .{0,30}pleine|mailbox .{0,20}full",
        "rfc3463",
    ),
    # The sender's side refused (RFC 3463 X.1.7/X.1.8, the MAIL FROM stage, an allow list
    # we are not on, Exim's "Sender verify failed"): nothing about the recipient, who must
    # not be taken for dead. So is RFC 5321's stock 550 text under a policy code (5.7.x:
    # "not authorised").
    _r(
        B.POLICY_OTHER,
        r"sender address rejected|domain of sender address|sender (?:domain|address) "
        r"(?:must|does not|doesn't|is not|not)|in reply to mail from|(?:white|allow) ?list|"
        r"\bdnswl\b|sender verif|sender (?:was )?rejected",
        "rfc5321",
    ),
    # So is a refusal of our own host: its HELO name, its reverse DNS, the client itself
    # ("HELO name does not exist", "your IP address is not recognized"), read before the
    # dead-address wording it shares.
    _r(
        B.POLICY_OTHER,
        r"\b(?:helo|ehlo)\b(?!=)|client host|your (?:ip|host|hostname|server|mail server|domain)\b|"
        r"reverse (?:dns|hostname|lookup)|ptr record|\brdns\b",
        "rfc5321",
    ),
    _r(B.POLICY_OTHER, None, "rfc3463", enhanced=r"^[45]\.1\.[78]$"),
    _r(
        B.POLICY_OTHER,
        r"requested action not taken: mailbox unavailable",
        "rfc5321",
        enhanced=r"^5\.7\.\d+$",
    ),
    # Under a policy code (5.7.x), "does not exist" or "not recognized" that names no
    # recipient is about what the policy checked (our domain, our host), not a mailbox.
    _r(
        B.POLICY_OTHER,
        r"^(?!.*\b(?:user|recipient|rcpt|mailbox|account)).*(?:(?:does not|doesn't|not) exist|"
        r"not recogni[sz]ed|unrouteable address|(?:host or )?domain (?:name )?not found|"
        r"no such domain)",
        "rfc3463",
        enhanced=r"^[45]\.7\.\d+$",
    ),
    _r(
        B.MAILBOX_UNKNOWN,
        r"user unknown|unknown user|no such (?:user|mailbox|recipient|address|domain|account)|"
        r"(?:does not|doesn't|not) exist|invalid (?:recipient|mailbox|address)|"
        r"mailbox (?:not found|unavailable|disabled)|account (?:is )?(?:disabled|inactive|suspended|closed|deactivated)|"  # noqa: E501
        r"unrouteable address|unknown recipient|recipient (?:unknown|not found)|"
        r"not a valid (?:mailbox|recipient)|no longer (?:valid|active|available|in use)|"
        r"host or domain name not found|domain (?:not found|name not found)|user not found|"
        r"name not recognized|not recognized|address unknown|unknown local part|"
        r"no mailbox|recipient address rejected: access denied|hasn't been found|"
        r"mailbox .{0,30}(?:nicht|unbekannt)|unbekannt",
        "rfc3463",
    ),
    _r(
        B.POLICY_OTHER,
        r"reverse (?:dns|hostname|lookup)|ptr record|\brdns\b|\bhelo\b|\behlo\b|rfc ?[25]3?2[12]|"
        r"\bheaders?\b|message size|too (?:large|big)|size limit|exceeds .{0,30}size|relay|"
        r"polic(?:y|ies)|dynamic ip|residential|\btls\b|not authori[sz]ed|prohibit|"
        r"network not allowed|not allowed|security issue|attachment",
        "rfc3463",
    ),
    _r(
        B.TRANSIENT_OTHER,
        r"try (?:again )?later|temporar(?:y|ily)|timed? ?out|timeout|connection (?:refused|reset|lost|dropped)|"  # noqa: E501
        r"could not connect|couldn't connect|unreachable|no route to host|service (?:not )?(?:available|unavailable)|"  # noqa: E501
        r"queue\.expired|message expired|expired|server (?:busy|error)|too busy|system error|"
        r"internal (?:server )?error|local error|insufficient (?:system storage|disk space)|"
        r"lost connection|unable to deliver this message after|could not load|"
        r"did not accept connections|dns query failed|name service error|\bdeferred\b|"
        r"still undelivered",
        "rfc5321",
    ),
)

RULES: tuple[Rule, ...] = (*_PROVIDER_RULES, *_DNSBL_RULES, *_GENERIC_RULES)

# The enhanced code alone (RFC 3463 and the IANA registry), when no text rule matched.
CODE_RULES: tuple[Rule, ...] = (
    _r(B.MAILBOX_UNKNOWN, None, "rfc3463", enhanced=r"^5\.1\.(?:1|2|3|6|10)$|^5\.2\.1$"),
    _r(B.MAILBOX_FULL, None, "rfc3463", enhanced=r"^[45]\.2\.2$"),
    _r(B.POLICY_OTHER, None, "rfc3463", enhanced=r"^5\.2\.3$|^5\.3\.4$|^5\.7\.25$"),
    _r(B.AUTH_FAILURE_SPF_DKIM, None, "iana-esc", enhanced=r"^[45]\.7\.(?:2[0-4])$"),
    _r(B.TRANSIENT_OTHER, None, "rfc3463", enhanced=r"^[45]\.4\.\d+$|^4\.3\.\d+$"),
)

# Which list a blocklisted reply names (first match wins).
BLOCKLIST_NAMES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p), name)
    for p, name in (
        (r"spamhaus|\bzen\.|sbl-xbl|\bsbl\b|\bxbl\b|\bdbl\b", "spamhaus"),
        (r"spamcop", "spamcop"),
        (r"barracuda", "barracuda"),
        (r"uceprotect", "uceprotect"),
        (r"sorbs", "sorbs"),
        (r"abuseat\.org|\bcbl\b", "cbl"),
        (r"proofpoint", "proofpoint"),
        (r"cloudmark", "cloudmark"),
        (r"senderscore|returnpath", "senderscore"),
        (r"uribl", "uribl"),
        (r"surbl", "surbl"),
        (r"psbl|surriel", "psbl"),
        (r"mailspike", "mailspike"),
        (r"spamrats", "spamrats"),
        (r"invaluement", "invaluement"),
        (r"manitu|nixspam", "nixspam"),
        (r"dronebl", "dronebl"),
        (r"backscatterer", "backscatterer"),
    )
)
