"""RFC 7208 ``check_host()`` over a :class:`DnsClient`: the async shell around the record parser.

One evaluation shares one DNS budget: at most 10 DNS-querying terms (include, a,
mx, ptr, exists, redirect) and 2 void lookups over the whole include/redirect
tree, at most 10 MX names per ``mx`` and 10 PTR names per ``ptr`` (§4.6.4).

A null MX (RFC 7505, the host ".") is not one of the 10 MX names: §4.6.4 limits the
address lookups an ``mx`` causes, and "." causes none.
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, replace
from enum import StrEnum

from checks.dns import Answer, DnsClient, NoData, NxDomain, RdataType, Unknown
from checks.spf.macro import (
    MacroSyntaxError,
    MacroToken,
    MacroValues,
    expand,
    ip_macro_values,
    is_valid_name,
    parse_macro_string,
    truncate_domain,
    uses_letter,
)
from checks.spf.record import (
    DNS_MECHANISMS,
    Mechanism,
    MechanismKind,
    RecordParser,
    SpfRecord,
    SpfSyntaxError,
    select_records,
)

__all__ = [
    "MAX_DNS_TERMS",
    "MAX_VOID_LOOKUPS",
    "RecordLookup",
    "SpfEvaluation",
    "SpfOutcome",
    "check_host",
    "check_mail_from",
    "fetch_record",
    "is_valid_domain",
]

MAX_DNS_TERMS = 10
MAX_VOID_LOOKUPS = 2
MAX_NAMES = 10  # MX names per "mx", PTR names per "ptr" or %{p} (§4.6.4)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class SpfOutcome(StrEnum):
    """The RFC 7208 §2.6 results."""

    PASS = "pass"  # noqa: S105 - an SPF result, not a password
    FAIL = "fail"
    SOFTFAIL = "softfail"
    NEUTRAL = "neutral"
    NONE = "none"
    PERMERROR = "permerror"
    TEMPERROR = "temperror"


@dataclass(frozen=True, slots=True)
class SpfEvaluation:
    """What ``check_host()`` decided, and why.

    ``mechanism`` is the matched term (None for a default or error result),
    ``domain`` the record it sits in; ``explanation`` the expanded ``exp=`` text
    (only for ``fail``, None when there is none); ``error`` says what caused a
    permerror or temperror.
    """

    result: SpfOutcome
    domain: str
    mechanism: str | None = None
    explanation: str | None = None
    error: str | None = None
    dns_lookups: int = 0
    void_lookups: int = 0


@dataclass(frozen=True, slots=True)
class RecordLookup:
    """The §4.4/§4.5 record lookup: ``records`` holds every ``v=spf1`` string found.

    ``error`` is set when DNS could not tell (timeout, SERVFAIL, ...).
    """

    domain: str
    records: tuple[str, ...] = ()
    error: str | None = None


async def fetch_record(dns: DnsClient, domain: str) -> RecordLookup:
    """Fetch the TXT records at ``domain`` and keep the SPF ones (§4.4, §4.5)."""
    outcome = await dns.query(domain, RdataType.TXT)
    if isinstance(outcome, Unknown):
        return RecordLookup(domain, error=str(outcome.reason))
    if isinstance(outcome, Answer):
        return RecordLookup(domain, tuple(select_records(outcome.records)))
    return RecordLookup(domain)


def is_valid_domain(domain: str) -> bool:
    """§4.3: a fully qualified, multi-label name with a proper top label."""
    text = domain[:-1] if domain.endswith(".") else domain
    if not is_valid_name(text) or "." not in text:
        return False
    top = text.rsplit(".", 1)[1]
    return top.replace("-", "").isalnum() and not top.isdigit() and top[0] != "-" != top[-1]


class _Stop(Exception):  # noqa: N818 - internal control flow, never leaves this module
    def __init__(self, result: SpfOutcome, reason: str) -> None:
        super().__init__(reason)
        self.result = result
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _Verdict:
    result: SpfOutcome
    domain: str
    mechanism: str | None = None
    explanation: str | None = None


async def check_mail_from(ip: str, mail_from: str, *, dns: DnsClient, helo: str) -> SpfEvaluation:
    """Check the MAIL FROM identity (§2.4): an empty reverse-path checks ``postmaster@helo``."""
    sender = mail_from if mail_from else f"postmaster@{helo}"
    domain = sender.rsplit("@", 1)[1] if "@" in sender else sender
    return await check_host(ip, domain, sender, dns=dns, helo=helo)


async def check_host(
    ip: str,
    domain: str,
    sender: str,
    *,
    dns: DnsClient,
    helo: str | None = None,
    receiver: str = "unknown",
    parser: RecordParser | None = None,
) -> SpfEvaluation:
    """Evaluate ``domain``'s SPF policy for mail from ``sender`` sent by ``ip`` (RFC 7208 §4).

    An IPv4-mapped IPv6 address is evaluated as the IPv4 address it carries. Pass one
    ``parser`` to several evaluations to parse each record they meet only once.

    Raises:
        ValueError: ``ip`` is not an IP address.
    """
    address = ipaddress.ip_address(ip)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    run = _Evaluation(dns, address, sender, domain, helo or "unknown", receiver)
    run.parser = parser or RecordParser()
    try:
        verdict = await run.check(domain, explain=True)
    except _Stop as stop:
        return SpfEvaluation(
            stop.result,
            domain,
            error=stop.reason,
            dns_lookups=run.lookups,
            void_lookups=run.voids,
        )
    return SpfEvaluation(
        verdict.result,
        verdict.domain,
        mechanism=verdict.mechanism,
        explanation=verdict.explanation,
        dns_lookups=run.lookups,
        void_lookups=run.voids,
    )


class _Evaluation:
    """One check_host() run: the macro values and the evaluation-wide DNS budget."""

    def __init__(
        self,
        dns: DnsClient,
        ip: IpAddress,
        sender: str,
        domain: str,
        helo: str,
        receiver: str,
    ) -> None:
        self.dns = dns
        self.ip = ip
        self.lookups = 0
        self.voids = 0
        local, at, sender_domain = sender.rpartition("@")
        if not at:
            local, sender_domain = "postmaster", sender
        i, v, c = ip_macro_values(ip)
        self.values = MacroValues(
            sender=f"{local or 'postmaster'}@{sender_domain}",
            local_part=local or "postmaster",
            sender_domain=sender_domain,
            domain=domain,
            ip=i,
            validated_name="unknown",
            ip_version=v,
            helo=helo,
            client_ip=c,
            receiver=receiver,
            timestamp=int(time.time()),
        )
        self._validated: tuple[tuple[str, ...], str | None] | None = None
        self.parser = RecordParser()

    # -- records -----------------------------------------------------------

    async def check(self, domain: str, *, explain: bool) -> _Verdict:
        """§4.3-§4.7 for one domain; raises _Stop for permerror/temperror."""
        domain = domain[:-1] if domain.endswith(".") else domain
        if not is_valid_domain(domain):
            return _Verdict(SpfOutcome.NONE, domain)
        lookup = await fetch_record(self.dns, domain)
        if lookup.error is not None:
            raise _Stop(SpfOutcome.TEMPERROR, f"TXT lookup for {domain} failed: {lookup.error}")
        if not lookup.records:
            return _Verdict(SpfOutcome.NONE, domain)
        if len(lookup.records) > 1:
            raise _Stop(SpfOutcome.PERMERROR, f"{domain} has more than one SPF record")
        try:
            record = self.parser.parse(lookup.records[0])
        except SpfSyntaxError as exc:
            raise _Stop(SpfOutcome.PERMERROR, f"{domain}: {exc}") from None
        return await self._evaluate(record, domain, explain=explain)

    async def _evaluate(self, record: SpfRecord, domain: str, *, explain: bool) -> _Verdict:
        for mechanism in record.mechanisms:
            if await self._matches(mechanism, domain):
                result = SpfOutcome(mechanism.qualifier.value)
                explanation = None
                if explain and result is SpfOutcome.FAIL and record.exp is not None:
                    explanation = await self._explain(record.exp_tokens, domain)
                return _Verdict(result, domain, mechanism.text, explanation)
        if record.redirect is None:
            return _Verdict(SpfOutcome.NEUTRAL, domain)
        self._count_term()
        target = await self._target(record.redirect_tokens, domain)
        verdict = _Verdict(SpfOutcome.NONE, domain)
        if target is not None:
            verdict = await self.check(target, explain=explain)
        if verdict.result is SpfOutcome.NONE:
            raise _Stop(SpfOutcome.PERMERROR, f"redirect target {target} has no SPF record")
        return verdict

    # -- mechanisms --------------------------------------------------------

    async def _matches(self, mechanism: Mechanism, domain: str) -> bool:
        kind = mechanism.kind
        if kind is MechanismKind.ALL:
            return True
        if kind in (MechanismKind.IP4, MechanismKind.IP6):
            return mechanism.network is not None and self.ip in mechanism.network
        if kind in DNS_MECHANISMS:
            self._count_term()
        target = await self._target(mechanism.domain_tokens, domain)
        if target is None:
            return False  # §7.3: a macro that expands to an unusable name matches nothing
        if kind is MechanismKind.INCLUDE:
            return await self._include(target)
        if kind is MechanismKind.EXISTS:
            return bool(await self._query_counted(target, RdataType.A))
        if kind is MechanismKind.PTR:
            return await self._ptr(target)
        cidr = mechanism.cidr4 if self.ip.version == 4 else mechanism.cidr6
        if kind is MechanismKind.A:
            return self._in_any(await self._query_counted(target, self._address_type), cidr)
        return await self._mx(target, cidr)

    async def _include(self, target: str) -> bool:
        """§5.2: pass matches; fail, softfail, neutral do not; none is a permerror."""
        verdict = await self.check(target, explain=False)
        if verdict.result is SpfOutcome.NONE:
            raise _Stop(SpfOutcome.PERMERROR, f"include target {target} has no SPF record")
        return verdict.result is SpfOutcome.PASS

    async def _mx(self, target: str, cidr: int) -> bool:
        records = await self._query_counted(target, RdataType.MX)
        # RFC 7505 null MX ".": no host, so no address lookup and not one of the 10 names
        hosts = [host for host in (r.split()[-1] for r in records) if host != "."]
        if len(hosts) > MAX_NAMES:
            raise _Stop(SpfOutcome.PERMERROR, f"{target} has more than {MAX_NAMES} MX names")
        for host in hosts:
            if self._in_any(await self._query_counted(host, self._address_type), cidr):
                return True
        return False

    async def _ptr(self, target: str) -> bool:
        """§5.5: some validated name of <ip> is <target> or ends in ".<target>".

        §5.5 has a receiver treat a DNS error here as "no match". A lookup that failed
        for delivermon says nothing about what a receiver's resolver gets, so unless a
        validated name matches anyway the result is a temperror, never a fail or a pass
        decided by the terms after it.
        """
        wanted = target.lower().rstrip(".")
        names, failed = await self._validated_names(wanted, count_void=True)
        for name in names:
            if name == wanted or name.endswith("." + wanted):
                return True
        if failed is not None:
            raise _Stop(SpfOutcome.TEMPERROR, f"ptr:{wanted} could not be decided: {failed}")
        return False

    async def _validated_names(
        self, suffix: str | None, *, count_void: bool
    ) -> tuple[tuple[str, ...], str | None]:
        """Names of <ip>'s first 10 PTR records whose addresses include <ip> (§5.5), and
        which lookup failed (None when none did): the PTR lookup, or the address lookup
        of a name that might have validated."""
        reverse = self.ip.reverse_pointer
        outcome = await self.dns.query(reverse, RdataType.PTR)
        if isinstance(outcome, Unknown):
            return (), f"PTR lookup for {reverse} failed"
        if not isinstance(outcome, Answer):
            if count_void:
                self._count_void()
            return (), None
        names = [n.lower().rstrip(".") for n in outcome.records[:MAX_NAMES]]
        validated: list[str] = []
        failed = None
        for name in names:
            if suffix is not None and not (name == suffix or name.endswith("." + suffix)):
                continue
            found = await self.dns.query(name, self._address_type)
            if isinstance(found, Unknown):
                failed = failed or f"{self._address_type.name} lookup for {name} failed"
            elif isinstance(found, Answer) and self._in_any(found.records, None):
                validated.append(name)
        return tuple(validated), failed

    # -- DNS and budget ----------------------------------------------------

    @property
    def _address_type(self) -> RdataType:
        return RdataType.A if self.ip.version == 4 else RdataType.AAAA

    def _in_any(self, addresses: tuple[str, ...], cidr: int | None) -> bool:
        prefix = cidr if cidr is not None else self.ip.max_prefixlen
        for text in addresses:
            try:
                network = ipaddress.ip_network(f"{text}/{prefix}", strict=False)
            except ValueError:
                continue
            if self.ip in network:
                return True
        return False

    def _count_term(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_DNS_TERMS:
            raise _Stop(SpfOutcome.PERMERROR, f"more than {MAX_DNS_TERMS} DNS-querying terms")

    def _count_void(self) -> None:
        self.voids += 1
        if self.voids > MAX_VOID_LOOKUPS:
            raise _Stop(SpfOutcome.PERMERROR, f"more than {MAX_VOID_LOOKUPS} void lookups")

    async def _query_counted(self, name: str, rdtype: RdataType) -> tuple[str, ...]:
        """Records at ``name``; an empty answer is a void lookup, a DNS error a temperror."""
        outcome = await self.dns.query(name, rdtype)
        if isinstance(outcome, Unknown):
            raise _Stop(SpfOutcome.TEMPERROR, f"{rdtype.name} lookup for {name} failed")
        if isinstance(outcome, NxDomain | NoData):
            self._count_void()
            return ()
        return outcome.records

    # -- macros and explanations ------------------------------------------

    async def _target(self, tokens: tuple[MacroToken, ...], domain: str) -> str | None:
        """The <target-name> of a term: <domain> itself, or its expanded domain-spec."""
        if not tokens:
            return domain
        name = truncate_domain(await self._expand(tokens, domain))
        return name if is_valid_name(name) else None

    async def _expand(self, tokens: tuple[MacroToken, ...], domain: str) -> str:
        values = replace(self.values, domain=domain)
        if uses_letter(tokens, "p"):
            values = replace(values, validated_name=await self._p_value(domain))
        return expand(tokens, values)

    async def _p_value(self, domain: str) -> str:
        """%{p} (§7.3): <domain> if validated, else a subdomain of it, else any, else
        "unknown". A failed lookup makes any answer but <domain> itself a guess: a
        temperror (see ``_ptr``)."""
        if self._validated is None:
            self._validated = await self._validated_names(None, count_void=False)
        names, failed = self._validated
        wanted = domain.lower()
        for candidate in (n for n in names if n == wanted):
            return candidate
        if failed is not None:
            raise _Stop(SpfOutcome.TEMPERROR, f"%{{p}} could not be decided: {failed}")
        for candidate in (n for n in names if n.endswith("." + wanted)):
            return candidate
        return names[0] if names else "unknown"

    async def _explain(self, tokens: tuple[MacroToken, ...], domain: str) -> str | None:
        """§6.2: the explanation; any DNS or syntax problem means no explanation."""
        try:
            return await self._explanation(tokens, domain)
        except _Stop:  # %{p} undecided: the fail stands, without its explanation
            return None

    async def _explanation(self, tokens: tuple[MacroToken, ...], domain: str) -> str | None:
        target = await self._target(tokens, domain)
        if target is None:
            return None
        outcome = await self.dns.query(target, RdataType.TXT)
        if not isinstance(outcome, Answer) or len(outcome.records) != 1:
            return None
        text = outcome.records[0]
        if not text.isascii():
            return None
        try:
            parsed = parse_macro_string(text, explanation=True)
        except MacroSyntaxError:
            return None
        return await self._expand(parsed, domain)
