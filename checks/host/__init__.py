"""Host checks of a sending setup: reverse DNS (PTR, FCrDNS) of sending IPs and the domain's MX."""

from checks.host.mx import MxHost, MxPolicy, MxResult, check_mx, evaluate_mx, parse_mx_record
from checks.host.ptr import PtrPolicy, PtrResult, check_ptr, evaluate_ptr, is_generic_name, parse_ip

__all__ = [
    "MxHost",
    "MxPolicy",
    "MxResult",
    "PtrPolicy",
    "PtrResult",
    "check_mx",
    "check_ptr",
    "evaluate_mx",
    "evaluate_ptr",
    "is_generic_name",
    "parse_ip",
    "parse_mx_record",
]
