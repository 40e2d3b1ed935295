"""What to check: one sending domain's plan (from ``[[domains]]`` and the command line)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DomainPlan"]


@dataclass(frozen=True, slots=True)
class DomainPlan:
    """A sending domain: its DKIM selectors, sending IPs and DMARC identities."""

    domain: str
    selectors: tuple[str, ...] = ()
    sending_ips: tuple[str, ...] = ()
    envelope_domains: tuple[str, ...] = ()  # RFC5321.MailFrom (bounce) domains
    dkim_domains: tuple[str, ...] = ()  # DKIM d= domains

    @property
    def effective_dkim_domains(self) -> tuple[str, ...]:
        """The DKIM d= domains; the domain itself when selectors are given and none are."""
        return self.dkim_domains or ((self.domain,) if self.selectors else ())
