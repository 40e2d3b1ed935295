"""Sans-I/O DNS wire codec: build queries and decode the answers a verdict needs.

The fast path decodes A/AAAA answers and negative responses by hand, which is
what a DNSBL sweep consists of almost entirely. Anything else (TXT, MX, CNAME
chains, unusual sections) goes through dnspython's full parser.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

import dns.exception
import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdtypes.ANY.TXT
from dns.rdatatype import RdataType

from checks.errors import ChecksError

__all__ = [
    "FLAG_TC",
    "DecodedResponse",
    "InvalidNameError",
    "WireQuery",
    "build_query",
    "decode_response",
    "encode_name",
    "encode_query",
    "encode_question",
    "response_matches",
]

FLAG_TC = 0x0200
_FLAG_AA = 0x0400
_EDNS_PAYLOAD = 1232  # DNS flag day 2020 recommendation: avoids IP fragmentation
_OPT_RR = b"\x00" + struct.pack("!HHIH", 41, _EDNS_PAYLOAD, 0, 0)
_HEADER = struct.Struct("!HHHHHH")
_RR_FIXED = struct.Struct("!HHIH")
_RCODE_NOERROR = 0
_RCODE_NXDOMAIN = 3
_TYPE_CNAME = 5
_TYPE_SOA = 6
_TYPE_NS = 2
_CLASS_IN = 1
_FAST_TYPES = frozenset({RdataType.A, RdataType.AAAA, RdataType.TXT})


class InvalidNameError(ChecksError):
    """A query name that cannot be encoded (empty or over-long label, over 255 octets)."""


@dataclass(frozen=True, slots=True)
class WireQuery:
    """An encoded query; ``question`` is the lower-cased question section used to match replies."""

    wire: bytes
    question: bytes


@dataclass(frozen=True, slots=True)
class DecodedResponse:
    """What the resolver needs from a reply.

    ``records`` are the records of the asked type at the end of the CNAME chain;
    ``cname_target`` is set when the chain ends in a CNAME whose target has no
    records in this reply (the caller re-queries the target).
    """

    rcode: int
    truncated: bool
    records: tuple[str, ...]
    ttl: int
    negative_ttl: int
    cname_chain: tuple[str, ...] = ()
    cname_target: str | None = None
    # No answer, no SOA, NS records in the authority section, not authoritative: a
    # referral (RFC 2308 §2.2), which a server that does not recurse gives; not NODATA.
    referral: bool = False


def encode_name(name: str) -> bytes:
    """Encode a dotted ASCII name (A-labels) as uncompressed wire labels.

    Raises:
        InvalidNameError: a label is empty or longer than 63 octets, or the name is
            longer than 255 octets (RFC 1035 §2.3.4), or it is not ASCII.
    """
    text = name[:-1] if name.endswith(".") else name
    if not text:
        return b"\x00"
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError as exc:
        raise InvalidNameError(f"not an A-label name: {name!r}") from exc
    out = bytearray()
    for label in raw.split(b"."):
        if not 0 < len(label) < 64:
            raise InvalidNameError(f"bad label length in {name!r}")
        out.append(len(label))
        out += label
    out.append(0)
    if len(out) > 255:
        raise InvalidNameError(f"name longer than 255 octets: {name!r}")
    return bytes(out)


def encode_question(name: str, rdtype: int) -> bytes:
    """The question section (QNAME, QTYPE, QCLASS IN), lower-cased for reply matching.

    Raises:
        InvalidNameError: see :func:`encode_name`.
    """
    return encode_name(name.lower()) + struct.pack("!HH", rdtype, _CLASS_IN)


def build_query(qid: int, question: bytes, *, edns: bool = True) -> bytes:
    """A recursive query (RD set) around an encoded question, with EDNS0 unless disabled."""
    if edns:
        return _HEADER.pack(qid, 0x0100, 1, 0, 0, 1) + question + _OPT_RR
    return _HEADER.pack(qid, 0x0100, 1, 0, 0, 0) + question


def encode_query(qid: int, name: str, rdtype: int, *, edns: bool = True) -> WireQuery:
    """Build a recursive query (RD set) with an EDNS0 OPT record unless ``edns`` is false."""
    question = encode_question(name, rdtype)
    return WireQuery(wire=build_query(qid, question, edns=edns), question=question)


def response_matches(data: bytes, qid: int, question: bytes) -> bool:
    """Anti-spoofing: a reply counts only if ID, QR bit, QDCOUNT and question all match."""
    if len(data) < 12 + len(question):
        return False
    if (data[0] << 8 | data[1]) != qid or not data[2] & 0x80:
        return False
    if data[4:6] != b"\x00\x01":
        return False
    return data[12 : 12 + len(question)].lower() == question


def _skip_name(data: bytes, pos: int) -> int:
    while True:
        length = data[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length & 0xC0:
            raise ValueError("bad label type")
        pos += length + 1


def decode_response(data: bytes, question: bytes, rdtype: int) -> DecodedResponse:
    """Decode a matched reply.

    Raises:
        ValueError: the message is malformed (truncated sections, bad labels).
    """
    try:
        return _decode(data, question, rdtype)
    except (IndexError, struct.error) as exc:
        raise ValueError(f"malformed response: {exc}") from None


def _decode(data: bytes, question: bytes, rdtype: int) -> DecodedResponse:
    _qid, flags, _qd, ancount, nscount, _ar = _HEADER.unpack_from(data, 0)
    rcode = flags & 0x000F
    truncated = bool(flags & FLAG_TC)
    if truncated or rcode not in (_RCODE_NOERROR, _RCODE_NXDOMAIN):
        return DecodedResponse(rcode, truncated, (), 0, 0)
    if rdtype in _FAST_TYPES:
        fast = _decode_simple_answer(data, 12 + len(question), ancount, nscount, rdtype, rcode)
        if fast is not None:
            return _referral(fast, flags) if fast.referral else fast
    full = _decode_full(data, rdtype, rcode)
    return _referral(full, flags) if full.referral else full


def _referral(reply: DecodedResponse, flags: int) -> DecodedResponse:
    """A reply whose authority section looks like a referral is one unless the server
    says it is authoritative (then it is an odd NODATA, as it was read before)."""
    if flags & _FLAG_AA:
        return DecodedResponse(reply.rcode, False, (), 0, reply.negative_ttl)
    return reply


def _decode_simple_answer(
    data: bytes, pos: int, ancount: int, nscount: int, rdtype: int, rcode: int
) -> DecodedResponse | None:
    """Hand-decode A, AAAA and TXT answers and SOA negative TTLs.

    None means "use the full parser" (a CNAME in the answer). These types carry
    no compressed names in their data, so no decompression is needed.
    """
    size = 4 if rdtype == RdataType.A else 16
    records: list[str] = []
    ttl = 0x7FFFFFFF
    for _ in range(ancount):
        pos = _skip_name(data, pos)
        rtype, rclass, rttl, rdlen = _RR_FIXED.unpack_from(data, pos)
        pos += 10
        end = pos + rdlen
        if end > len(data):
            raise ValueError("record data beyond message end")
        if rtype == _TYPE_CNAME:
            return None  # chains are rare for DNSBLs: the full parser follows them
        if rtype == rdtype and rclass == _CLASS_IN:
            if rdtype == RdataType.TXT:
                records.append(_txt_text(data, pos, end))
                ttl = min(ttl, rttl)
                pos = end
                continue
            if rdlen != size:
                raise ValueError("address record of wrong length")
            if size == 4:
                records.append(f"{data[pos]}.{data[pos + 1]}.{data[pos + 2]}.{data[pos + 3]}")
            else:
                records.append(str(ipaddress.IPv6Address(data[pos:end])))
            ttl = min(ttl, rttl)
        pos = end
    if records:
        return DecodedResponse(rcode, False, tuple(records), ttl, 0)
    negative_ttl = 0
    soa = ns = False
    for _ in range(nscount):
        pos = _skip_name(data, pos)
        rtype, _rclass, rttl, rdlen = _RR_FIXED.unpack_from(data, pos)
        pos += 10
        if rtype == _TYPE_SOA and rdlen >= 20:
            # RFC 2308 §5: negative TTL is min(SOA TTL, SOA MINIMUM); MINIMUM is the last field.
            (minimum,) = struct.unpack_from("!I", data, pos + rdlen - 4)
            negative_ttl = min(rttl, minimum)
            soa = True
            break
        ns = ns or rtype == _TYPE_NS
        pos += rdlen
    referral = rcode == _RCODE_NOERROR and ns and not soa
    return DecodedResponse(rcode, False, (), 0, negative_ttl, referral=referral)


def _txt_text(data: bytes, pos: int, end: int) -> str:
    """RFC 1035 §3.3.14: character-strings joined without separator (RFC 7208 §3.3)."""
    parts = []
    while pos < end:
        length = data[pos]
        if pos + 1 + length > end:
            raise ValueError("TXT character-string beyond its record")
        parts.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length
    return b"".join(parts).decode("utf-8", errors="replace")


def _decode_full(data: bytes, rdtype: int, rcode: int) -> DecodedResponse:
    try:
        msg = dns.message.from_wire(data, ignore_trailing=True)
    except dns.exception.DNSException as exc:
        raise ValueError(f"malformed response: {exc.__class__.__name__}") from exc
    if not msg.question:
        raise ValueError("response without question")
    current = msg.question[0].name
    chain: list[str] = []
    ttl = 0x7FFFFFFF
    for _ in range(16):
        rrset = msg.get_rrset(msg.answer, current, dns.rdataclass.IN, RdataType(rdtype))
        if rrset is not None:
            records = tuple(_rdata_text(rd) for rd in rrset)
            return DecodedResponse(rcode, False, records, min(ttl, rrset.ttl), 0, tuple(chain))
        cname = msg.get_rrset(msg.answer, current, dns.rdataclass.IN, RdataType.CNAME)
        if cname is None:
            break
        ttl = min(ttl, cname.ttl)
        current = cname[0].target
        chain.append(current.to_text(omit_final_dot=True))
    negative_ttl = 0
    soa = ns = False
    for rrset in msg.authority:
        if rrset.rdtype == RdataType.SOA:
            negative_ttl = min(rrset.ttl, rrset[0].minimum)
            soa = True
            break
        ns = ns or rrset.rdtype == RdataType.NS
    target = chain[-1] if chain and rcode == _RCODE_NOERROR else None
    referral = rcode == _RCODE_NOERROR and target is None and ns and not soa
    return DecodedResponse(
        rcode, False, (), 0, negative_ttl, tuple(chain), target, referral=referral
    )


def _rdata_text(rd: dns.rdata.Rdata) -> str:
    if isinstance(rd, dns.rdtypes.ANY.TXT.TXT):
        # RFC 7208 §3.3 / RFC 6376 §3.6.2.2: character-strings are concatenated without spaces.
        return b"".join(rd.strings).decode("utf-8", errors="replace")
    return rd.to_text()
