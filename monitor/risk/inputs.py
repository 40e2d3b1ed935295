"""Gather a target's ``RiskInputs`` from the latest check states and campaign figures.

Pure: the daemon passes its view. A domain's complaint, unsubscribe, bounce and
one-click figures are those of the campaigns registered with that sending domain
(``PUT /api/v1/campaigns/{id}`` or ``[[campaigns]]``). An IP takes its SPF result
from every configured domain that lists it among its sending IPs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from checks.dnsbl import ZoneSpec
from checks.dnsbl.catalogue import Severity
from monitor.checking.states import CheckName, CheckState
from monitor.risk.score import DkimState, DmarcPolicy, FactorName, Listing, RiskInputs
from monitor.telemetry.views import TelemetryView

_NO_TELEMETRY = TelemetryView()

__all__ = ["DomainFigures", "build_risk_inputs"]

# RFC 7208 results that certainly do not pass: receivers (and DMARC, RFC 7489 §4.2)
# take all of them as SPF not passing. permerror is the domain's own broken record, and
# none its missing one; only temperror (a DNS failure) leaves it open.
_SPF_BAD = frozenset({"fail", "softfail", "neutral", "none", "permerror"})
_SPF_GOOD = frozenset({"pass"})
_DKIM_ORDER: tuple[DkimState, ...] = ("ok", "weak", "revoked", "missing")


@dataclass(frozen=True, slots=True)
class DomainFigures:
    """Rates of a sending domain's campaigns (None: below the volume guard)."""

    complaint_rate: float | None = None
    complaint_rate_daily: tuple[float | None, ...] = ()
    unsubscribe_rate: float | None = None
    unsubscribe_baseline: float | None = None
    bounce_rate: float | None = None
    bounce_baseline: float | None = None
    one_click_failures: int | None = None
    one_click_audited: int | None = None


def build_risk_inputs(
    target: str,
    kind: str,
    states: Sequence[CheckState],
    *,
    zones: Mapping[str, ZoneSpec],
    figures: DomainFigures | None = None,
    spf_for_ip: Sequence[CheckState] = (),
    spf_results: Sequence[Mapping[str, object]] | None = None,
    envelopes: bool = False,
    telemetry: TelemetryView = _NO_TELEMETRY,
    lists_apply: bool = True,
    unconfigured: frozenset[FactorName] = frozenset(),
) -> RiskInputs:
    """``states``: the target's own states; ``spf_for_ip``: SPF states of domains listing it,
    or ``spf_results``: their ``ip_results`` already read (``spf_ip_results``), which a
    caller scoring thousands of a domain's IPs reads once rather than once per IP (each
    ``sending_spf_results``); ``envelopes``: the domain has envelope domains configured;
    ``telemetry``: what Gmail Postmaster Tools and SNDS last said; ``lists_apply``: some
    configured list can list the target; ``unconfigured``: factors the configuration gives
    nothing to evaluate (``RiskInputs.unconfigured``), whose inputs are then left out."""
    listings: list[Listing] = []
    unknown: list[Listing] = []
    swept = False
    by_check: dict[CheckName, list[CheckState]] = {}
    for state in states:
        by_check.setdefault(state.check, []).append(state)
    for state in by_check.get(CheckName.DNSBL, []):
        swept = True
        spec = zones.get(state.item)
        severity = Severity(state.severity or (spec.severity.value if spec else "major"))
        listing = Listing(state.item, severity, bool(spec and spec.early_warning))
        if state.status == "listed":
            listings.append(listing)
        elif state.status == "unknown":
            unknown.append(listing)
    found = tuple(listings) if swept else None
    if kind == "ip":
        ptr = by_check.get(CheckName.PTR, [])
        confirmed = ptr[0].detail_dict().get("forward_confirmed") if ptr else None
        snds = telemetry.snds.get(target)
        return RiskInputs(
            target=target,
            kind="ip",
            spf_own_ip_fail=None
            if FactorName.SPF_OWN_IP_FAIL in unconfigured
            else _ip_spf(
                target,
                spf_results
                if spf_results is not None
                else [r for r in map(spf_ip_results, spf_for_ip) if r is not None],
            ),
            fcrdns=confirmed if isinstance(confirmed, bool) else None,
            listings=found,
            unknown_zones=tuple(unknown),
            lists_apply=lists_apply,
            snds_tracked=telemetry.snds_tracked,
            snds_filter=snds.filter_result.value if snds and snds.filter_result else None,
            snds_trap_hits=snds.trap_hits if snds else None,
            snds_blocked=snds.blocked if snds else None,
            unconfigured=unconfigured,
        )
    gmail = telemetry.gmail.get(target)
    f = figures or DomainFigures()
    own_spf = sending_spf_results(states, envelopes=envelopes)
    return RiskInputs(
        target=target,
        kind="domain",
        complaint_rate=f.complaint_rate,
        complaint_rate_daily=f.complaint_rate_daily,
        unsubscribe_rate=f.unsubscribe_rate,
        unsubscribe_baseline=f.unsubscribe_baseline,
        bounce_rate=f.bounce_rate,
        bounce_baseline=f.bounce_baseline,
        spf_own_ip_fail=(
            _spf_verdict([str(v) for v in own_spf.values()])
            if own_spf and FactorName.SPF_OWN_IP_FAIL not in unconfigured
            else None
        ),
        dmarc_policy=_dmarc(by_check.get(CheckName.DMARC, [])),
        dkim=None
        if FactorName.DKIM_WEAK in unconfigured
        else _dkim(by_check.get(CheckName.DKIM, [])),
        one_click_failures=f.one_click_failures,
        one_click_audited=f.one_click_audited,
        listings=found,
        unknown_zones=tuple(unknown),
        lists_apply=lists_apply,
        gmail_tracked=target in telemetry.gmail_tracked,
        gmail_spam_rate=gmail.spam_rate if gmail else None,
        gmail_recovering=(gmail.recovery_date is not None) if gmail else None,
        gmail_compliance_failing=gmail.compliance_failing if gmail else None,
        unconfigured=unconfigured,
    )


def _spf_verdict(results: Sequence[str]) -> bool | None:
    if any(r in _SPF_BAD for r in results):
        return True
    if results and all(r in _SPF_GOOD for r in results):
        return False
    return None  # a temperror: could not tell that it passes or fails


def spf_ip_results(state: CheckState) -> Mapping[str, object] | None:
    """An SPF state's ``ip_results`` (sending IP -> RFC 7208 result), else None.

    Read whatever the check's status: an evaluation that hit a DNS error says
    ``temperror`` for the IPs it could not decide, and its other results are as certain
    as in a run without one (SPF stops at the first error).
    """
    found = state.detail_dict().get("ip_results")
    return found if isinstance(found, dict) else None


def sending_spf_results(
    states: Sequence[CheckState], *, envelopes: bool
) -> Mapping[str, object] | None:
    """The SPF results receivers see for a domain's sending IPs (IP -> RFC 7208 result),
    from the domain's states; None until a check has told.

    With ``envelopes`` (``[[domains]] envelope_domains`` configured) those of its envelope
    (MAIL FROM) domains, where receivers evaluate SPF: an IP passes when it passes at one
    of them (which IP sends with which envelope domain is not configured, the
    scorecard's rule); else the worst certain result, or ``temperror`` while one of them
    could not tell. Without, the domain's own SPF results.
    """
    check = CheckName.ENVELOPE_SPF if envelopes else CheckName.SPF
    found = [(s, spf_ip_results(s)) for s in states if s.check is check]
    if not envelopes:
        return found[0][1] if found else None
    ips = {str(ip) for _, results in found for ip in (results or {})}
    if not ips:
        return None
    merged: dict[str, object] = {}
    for ip in sorted(ips):
        # An envelope domain that could not be read might be the one the IP passes at.
        got = [
            str(results[ip]) if results and ip in results else "temperror" for _, results in found
        ]
        if "pass" in got:
            merged[ip] = "pass"
        elif bad := [r for r in got if r in _SPF_BAD]:
            merged[ip] = bad[0] if "temperror" not in got else "temperror"
        else:
            merged[ip] = "temperror"
    return merged


def _ip_spf(ip: str, spf_results: Sequence[Mapping[str, object]]) -> bool | None:
    results = [str(found[ip]) for found in spf_results if ip in found]
    return _spf_verdict(results) if results else None


def _dmarc(states: Sequence[CheckState]) -> DmarcPolicy | None:
    if not states or states[0].status == "unknown":
        return None
    detail = states[0].detail_dict()
    if not detail.get("record"):
        return "missing"
    policy = detail.get("policy")
    if policy == "none":
        return "none"
    if policy == "quarantine":
        return "quarantine"
    if policy == "reject":
        return "reject"
    return "missing"


def _dkim(states: Sequence[CheckState]) -> DkimState | None:
    """The best configured selector: one good key is enough for mail to pass."""
    seen: list[DkimState] = []
    for state in states:
        if state.status == "unknown":
            continue
        detail = state.detail_dict()
        findings = detail.get("findings")
        codes = {
            str(f.get("code"))
            for f in (findings if isinstance(findings, list) else [])
            if isinstance(f, dict)
        }
        if "dkim.revoked" in codes:
            seen.append("revoked")
        elif not detail.get("record") or codes & {"dkim.missing", "dkim.key_too_short"}:
            seen.append("missing")  # verifiers reject keys under 1024 bits (docs/risk.md)
        elif "dkim.key_weak" in codes or "dkim.testing" in codes or detail.get("testing") is True:
            seen.append("weak")  # still verifies, but below 2048 bits or in testing mode
        elif state.status in ("ok", "warn"):
            seen.append("ok")
        else:
            seen.append("missing")  # a record that fails to parse signs nothing
    if not seen:
        return None
    return min(seen, key=_DKIM_ORDER.index)
