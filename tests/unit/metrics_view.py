"""A ``View`` holding at least one of every kind of state the metrics read.

States are built from the checks' own result dataclasses through ``monitor.checking.states`` (the
same path the jobs take), so their ``detail`` JSON has exactly the fields the collector
reads. Shared by the metrics reference test and the collector tests.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from types import MappingProxyType

from checks.dkim import DkimResult
from checks.dmarc import DmarcResult
from checks.dnsbl import DnsblTargetResult, ZoneHealth
from checks.dnsbl.catalogue import Severity
from checks.dnsbl.selftest import Family
from checks.dnsbl.targets import parse_target
from checks.dnsbl.verdict import DnsblResult, Verdict
from checks.findings import Finding, FindingSeverity
from checks.host import MxResult, PtrResult
from checks.host.mx import MxHost
from checks.spf import SpfResult
from checks.status import CheckStatus
from monitor.checking.cache import StateSnapshot
from monitor.checking.states import (
    CheckName,
    CheckRun,
    CheckState,
    states_from_dnsbl,
    states_from_health,
)
from monitor.checking.table import state_of
from monitor.daemon.scheduler import JobStatus
from monitor.ingest.dmarc.analysis import DmarcSnapshot, FigureKey, zero_snapshot
from monitor.metrics.collector import Metrics, MetricsSources, ReloadStatus, Scope
from monitor.model.telemetry import FilterResult, GmailState, TelemetrySource
from monitor.risk.bounces import BounceSnapshot
from monitor.risk.campaigns import CampaignRow, CampaignSnapshot
from monitor.risk.scorer import RiskView
from monitor.store.audits import AuditCounts
from monitor.store.rates import Rates, Totals
from monitor.telemetry.views import (
    GmailDomainView,
    SndsIpView,
    SndsOthersView,
    SourceView,
    TelemetryView,
)

AT = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)
CHANGED = dt.datetime(2025, 2, 20, 8, 30, tzinfo=dt.UTC)

IP = "192.0.2.10"
IP6 = "2001:db8::10"
DOMAIN = "example.com"

# zone -> (catalogue severity, early warning)
ZONE_INFO = {
    "zen.spamhaus.org": ("critical", False),
    "bl.spamcop.net": ("major", False),
    "dnsbl-2.uceprotect.net": ("info", True),
    "dbl.spamhaus.org": ("critical", False),
}


def dnsbl_states() -> list[CheckState]:
    """IP: listed on ZEN (code severity major), not listed on SpamCop, unknown on UCEPROTECT-2
    (the list refuses a public resolver); domain: unknown on DBL (timeout)."""
    ip = DnsblTargetResult(
        parse_target(IP),
        (
            DnsblResult(
                "zen.spamhaus.org",
                Verdict.LISTED,
                codes=("127.0.0.10",),
                meanings=("PBL: ISP policy",),
                severity=Severity.MAJOR,
                reason="https://check.spamhaus.org/ do not use this as a label",
            ),
            DnsblResult("bl.spamcop.net", Verdict.NOT_LISTED),
            DnsblResult(
                "dnsbl-2.uceprotect.net",
                Verdict.UNKNOWN,
                codes=("127.255.255.254",),
                error="public_resolver",
            ),
        ),
        (),
    )
    domain = DnsblTargetResult(
        parse_target(DOMAIN),
        (DnsblResult("dbl.spamhaus.org", Verdict.UNKNOWN, error="timeout"),),
        (),
    )
    return list(states_from_dnsbl([ip, domain], AT))


def zone_states() -> list[CheckState]:
    """ZEN healthy on both families; UCEPROTECT-2 healthy on IPv4, failing on IPv6."""
    return list(
        states_from_health(
            [
                ZoneHealth("zen.spamhaus.org", Family.IPV4, True),
                ZoneHealth("zen.spamhaus.org", Family.IPV6, True),
                ZoneHealth("dnsbl-2.uceprotect.net", Family.IPV4, True),
                ZoneHealth(
                    "dnsbl-2.uceprotect.net",
                    Family.IPV6,
                    False,
                    reason="test_point_not_listed",
                    test_point="::FFFF:7F00:2",
                ),
                ZoneHealth("dbl.spamhaus.org", Family.DOMAIN, True),
            ],
            AT,
        )
    )


SPF = SpfResult(
    domain=DOMAIN,
    status=CheckStatus.WARN,
    record="v=spf1 ip4:192.0.2.10 include:_spf.esp.example ~all",
    dns_lookups=3,
    void_lookups=1,
    ip_results=MappingProxyType({IP: "pass", IP6: "softfail"}),
    include_tree=None,
    findings=(),
)
DMARC = DmarcResult(
    DOMAIN,
    CheckStatus.WARN,
    record="v=DMARC1; p=none; rua=mailto:dmarc@example.com",
    policy_domain=DOMAIN,
    organizational_domain=DOMAIN,
    psl_organizational_domain=DOMAIN,
    policy="none",
)
DKIM_RSA = DkimResult(
    selector="s1",
    status=CheckStatus.OK,
    record="v=DKIM1; k=rsa; p=MIIB...",
    key_type="rsa",
    key_bits=2048,
    testing=False,
    cname_chain=(),
    findings=(),
)
DKIM_UNKNOWN = DkimResult(
    selector="s2",
    status=CheckStatus.UNKNOWN,
    record=None,
    key_type=None,
    key_bits=None,
    testing=False,
    cname_chain=(),
    findings=(),
)
MX = MxResult(
    DOMAIN,
    CheckStatus.OK,
    hosts=(MxHost(10, "mx.example.com", ("192.0.2.25",), True),),
    null_mx=False,
    findings=(),
)
PTR_OK = PtrResult(
    IP,
    CheckStatus.OK,
    names=("mail.example.com",),
    forward_confirmed=True,
    confirmed_names=("mail.example.com",),
    findings=(),
)
PTR_UNKNOWN = PtrResult(
    IP6,
    CheckStatus.UNKNOWN,
    names=(),
    forward_confirmed=None,
    confirmed_names=(),
    findings=(),
)


def auth_states() -> list[CheckState]:
    states = [
        state_of(CheckName.SPF, DOMAIN, SPF, AT),
        state_of(CheckName.DMARC, DOMAIN, DMARC, AT),
        state_of(CheckName.DKIM, DOMAIN, DKIM_RSA, AT),
        state_of(CheckName.DKIM, DOMAIN, DKIM_UNKNOWN, AT),
        state_of(CheckName.MX, DOMAIN, MX, AT),
        *[state_of(CheckName.PTR, IP, PTR_OK, AT), state_of(CheckName.PTR, IP6, PTR_UNKNOWN, AT)],
    ]
    # as loaded from the store: when the status last changed
    return [_changed(s) for s in states]


def _changed(state: CheckState) -> CheckState:
    return CheckState(
        state.target,
        state.check,
        state.item,
        state.status,
        state.severity,
        state.detail,
        state.fingerprint,
        state.checked_at,
        CHANGED,
    )


def all_states() -> dict[tuple[str, str, str], CheckState]:
    return {s.key: s for s in [*dnsbl_states(), *zone_states(), *auth_states()]}


def runs() -> dict[tuple[str, str], CheckRun]:
    rows = [
        CheckRun("dnsbl", IP, True, 1.5, AT),
        CheckRun("dnsbl", DOMAIN, False, 2.0, AT),
        CheckRun("ptr", IP, True, 0.2, AT),
        CheckRun("auth", DOMAIN, True, 0.8, AT),
    ]
    return {(r.check, r.target): r for r in rows}


def risk() -> dict[str, RiskView]:
    return {
        IP: RiskView(
            50,
            "high",
            {"listing_major": 50.0, "early_warning": math.nan, "fcrdns_missing": 0.0},
        ),
        DOMAIN: RiskView(
            20, "elevated", {"dmarc_weak": 20.0, "complaint_rate": math.nan}, complete=False
        ),
    }


def campaigns() -> CampaignSnapshot:
    spring = Totals(
        sent=10_000,
        delivered=9_800,
        bounces_permanent=100,
        bounces_transient=60,
        bounces_undetermined=40,
        complaints=12,
        unsubscribes=30,
        unsubscribe_violations=1,
    )
    small = Totals(sent=50, delivered=48, bounces_permanent=2, complaints=1, unsubscribes=2)
    return CampaignSnapshot(
        lifetime=(
            CampaignRow("spring-sale", "google", spring),
            CampaignRow("spring-sale", "other", Totals(sent=5, delivered=5)),
            CampaignRow("_other", "yahoo", small),
        ),
        rates={
            ("spring-sale", "1h"): Rates(0.0015, 0.003, 0.02),
            ("spring-sale", "lifetime"): Rates(12 / 9_805, 30 / 9_805, 200 / 10_005),
            ("_other", "lifetime"): Rates(None, None, None),  # below [feedback] min_volume
        },
        provider_rates={
            ("spring-sale", "google", "24h"): Rates(0.001, 0.002, 0.015),
            ("spring-sale", "other", "24h"): Rates(None, None, None),
        },
        info={"spring-sale": ("commercial", "double_opt_in")},
        audits=(
            AuditCounts(
                "spring-sale",
                complaint_reports=12,
                audited=10,
                list_unsubscribe_https=10,
                one_click_post=9,
                dkim_covers_list_unsubscribe=9,
                one_click_compliant=9,
                feedback_id_invalid=0,
            ),
        ),
        campaigns_total=5,
        campaigns_other=4,
    )


def bounces() -> BounceSnapshot:
    blocked = Finding(
        "bounce.blocklist_cited",
        FindingSeverity.CRITICAL,
        "1 refusal citing spamhaus",
        {"provider": "microsoft", "blocklist": "spamhaus", "sweep": "listed", "ip": IP},
    )
    return BounceSnapshot(
        window="1h",
        lifetime={
            ("spring-sale", "google", "reputation_ratelimit"): (0, 25),
            ("spring-sale", "microsoft", "blocklisted"): (3, 0),
        },
        ratios={("spring-sale", "google", "reputation_ratelimit"): 0.0125},
        findings=(blocked,),
    )


def jobs() -> tuple[JobStatus, ...]:
    return (
        JobStatus(
            "sweep",
            900.0,
            runs=4,
            failures=1,
            last_started=1_700_000_000.0,
            last_finished=1_700_000_002.0,
            last_success=1_700_000_002.0,
            last_duration=2.0,
        ),
        JobStatus("auth", 3600.0),  # never ran: no last-success, no duration
    )


@dataclass(slots=True)
class View:
    """What the daemon's services hold, in one mutable value for tests: ``sources()`` gives
    the collector the same snapshots the services give it."""

    states: dict[tuple[str, str, str], CheckState] = field(default_factory=dict)
    record_changed: dict[tuple[str, str, str], float] = field(default_factory=dict)
    runs: dict[tuple[str, str], CheckRun] = field(default_factory=dict)
    risk: dict[str, RiskView] = field(default_factory=dict)
    campaigns: CampaignSnapshot | None = None
    bounces: BounceSnapshot | None = None
    held_campaigns: dict[Hashable, float] = field(default_factory=dict)
    held_bounces: dict[Hashable, float] = field(default_factory=dict)
    zone_info: dict[str, tuple[str, bool]] = field(default_factory=dict)
    jobs: Callable[[], tuple[JobStatus, ...]] = tuple
    targets: dict[str, str] = field(default_factory=dict)
    shard: tuple[int, int] = (0, 1)
    outbox_pending: int = 0
    reload_ok: bool = True
    reload_at: float = 1_700_000_000.0
    telemetry: TelemetryView = field(default_factory=TelemetryView)
    dmarc: DmarcSnapshot | None = None

    def sources(self) -> MetricsSources:
        return MetricsSources(
            states=lambda: StateSnapshot(self.states, self.record_changed, self.runs),
            risk=lambda: self.risk,
            campaigns=lambda: self.campaigns,
            held_campaigns=lambda: self.held_campaigns,
            held_bounces=lambda: self.held_bounces,
            bounces=lambda: self.bounces,
            jobs=self.jobs,
            scope=lambda: Scope(self.targets, self.shard, self.zone_info),
            outbox_pending=lambda: self.outbox_pending,
            reload=lambda: ReloadStatus(self.reload_ok, self.reload_at),
            telemetry=lambda: self.telemetry,
            dmarc=lambda: self.dmarc,
        )


def full_view(*, shard: tuple[int, int] = (0, 1)) -> View:
    states = all_states()
    spf_key = next(k for k, s in states.items() if s.check.value == "spf")
    return View(
        states=states,
        record_changed={spf_key: 1_700_000_050.0},
        runs=runs(),
        risk=risk(),
        campaigns=campaigns(),
        bounces=bounces(),
        zone_info=dict(ZONE_INFO),
        jobs=jobs,
        targets={IP: "ip", IP6: "ip", DOMAIN: "domain"},
        shard=shard,
        outbox_pending=2,
        reload_ok=True,
        reload_at=1_700_000_100.0,
        telemetry=telemetry(),
        dmarc=dmarc_snapshot(),
    )


def telemetry() -> TelemetryView:
    """A Gmail domain in its recovery window with a failing compliance check, and two SNDS IPs
    (one configured, yellow with trap hits and blocked; one of the account, not configured)."""
    at = dt.datetime(2026, 12, 4, 6, tzinfo=dt.UTC)
    gmail = GmailDomainView(
        domain=DOMAIN,
        state=GmailState.OK,
        spam_rate=0.0012,
        spam_rate_day=dt.date(2026, 12, 3),
        latest={"spam_rate": 0.0012, "auth_dkim": 0.99, "tls_outbound": 1.0},
        recovery_date=dt.date(2026, 12, 8),
        compliance={"spf": "compliant", "dmarc_policy": "needs_work"},
        checked_at=at,
    )
    snds = {
        IP: SndsIpView(IP, True, FilterResult.YELLOW, 3, "< 0.1%", at, True, "complaints"),
        "192.0.2.99": SndsIpView("192.0.2.99", False, FilterResult.GREEN, 0, "", at, False),
    }
    return TelemetryView(
        gmail=MappingProxyType({DOMAIN: gmail}),
        snds=MappingProxyType(snds),
        sources=MappingProxyType(
            {
                TelemetrySource.GMAIL: SourceView(TelemetrySource.GMAIL, True, at),
                TelemetrySource.SNDS: SourceView(TelemetrySource.SNDS, False, at, "http_503"),
            }
        ),
        gmail_tracked=frozenset({DOMAIN}),
        snds_tracked=True,
        snds_data_up=True,
        snds_blocks_up=False,
        snds_others=SndsOthersView(
            MappingProxyType({"green": 1, "yellow": 0, "red": 0, "unknown": 0}), 0
        ),
    )


def dmarc_snapshot() -> DmarcSnapshot:
    """One value in each DMARC family (what the dmarc job computes)."""
    zero = zero_snapshot([DOMAIN])
    return DmarcSnapshot(
        messages={**zero.messages, FigureKey(DOMAIN, "unknown", "fail", "reject"): 40},
        recent={**zero.recent, FigureKey(DOMAIN, "unknown", "fail", "reject"): 40},
        reports={(DOMAIN, "google"): 3},
        reporter_last={(DOMAIN, "google"): 1_700_000_000.0},
        pass_ratio={(DOMAIN, "7d"): 0.99, (DOMAIN, "30d"): 0.985},
        readiness={DOMAIN: "ready"},
        unmonitored_selectors={DOMAIN: 1},
        sources={(DOMAIN, "own"): 2, (DOMAIN, "forwarder"): 1, (DOMAIN, "unknown"): 5},
        failures={(DOMAIN, "dmarc"): 2},
    )


def count_every_event(metrics: Metrics) -> None:
    """Increment each event counter once, as the code that owns it does."""
    metrics.ingest_accepted.labels("events").inc()
    metrics.ingest_refused.labels("arf", "malformed").inc()
    metrics.errors.labels("job_sweep", "unexpected").inc()
    metrics.notifications.labels("ops-webhook", "sent").inc()
    metrics.dnsbl_unknown.labels("dnsbl-2.uceprotect.net", "public_resolver").inc()
    metrics.config_reloads.labels("success").inc()
    metrics.count_telemetry_failure("gmail", "unavailable")


def full_metrics(*, shard: tuple[int, int] = (0, 1)) -> Metrics:
    metrics = Metrics(
        full_view(shard=shard).sources(), version="1.2.3", catalogue_version="2025.02"
    )
    count_every_event(metrics)
    return metrics
