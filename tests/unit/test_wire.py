"""Pins the sans-I/O DNS wire codec (checks/dns/wire.py) against dnspython's own parser."""

from __future__ import annotations

import struct
from collections.abc import Sequence

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.rrset
import pytest
from dns.rdatatype import RdataType

from checks.dns.wire import (
    InvalidNameError,
    WireQuery,
    _decode_full,
    decode_response,
    encode_name,
    encode_query,
    encode_question,
    response_matches,
)

QID = 0x1234
NAME = "2.0.0.127.zen.example"


def build_reply(
    query: WireQuery,
    *,
    rcode: int = dns.rcode.NOERROR,
    answer: Sequence[dns.rrset.RRset] = (),
    authority: Sequence[dns.rrset.RRset] = (),
    truncated: bool = False,
) -> bytes:
    """A reply to ``query`` made by dnspython, so the codec is checked against another parser."""
    response = dns.message.make_response(dns.message.from_wire(query.wire))
    response.set_rcode(rcode)
    if truncated:
        response.flags |= dns.flags.TC
    response.answer.extend(answer)
    response.authority.extend(authority)
    return response.to_wire()


def rrset(name: str, ttl: int, rdtype: str, *texts: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(name.rstrip(".") + ".", ttl, "IN", rdtype, *texts)


def soa(zone: str, ttl: int, minimum: int) -> dns.rrset.RRset:
    return rrset(zone, ttl, "SOA", f"ns.{zone}. host.{zone}. 1 3600 600 86400 {minimum}")


# --- encode_name ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("example.com", b"\x07example\x03com\x00"),
        ("example.com.", b"\x07example\x03com\x00"),
        ("a", b"\x01a\x00"),
        ("a" * 63 + ".com", b"\x3f" + b"a" * 63 + b"\x03com\x00"),
        (".", b"\x00"),
    ],
    ids=["plain", "trailing-dot", "single-label", "label-of-63-octets", "root"],
)
def test_encode_name_writes_uncompressed_labels(name: str, wire: bytes) -> None:
    assert encode_name(name) == wire


def test_encode_name_accepts_a_name_of_exactly_255_octets() -> None:
    # 4 labels of 62 octets (4 * 63 = 252) + "a" (2) + root (1) = 255 octets on the wire
    name = ".".join(["x" * 62] * 4) + ".a"
    assert len(encode_name(name)) == 255


@pytest.mark.parametrize(
    "name",
    [
        "a" * 64 + ".com",
        "a..com",
        ".example.com",
        ".".join(["x" * 62] * 4) + ".ab",
        "bücher.example",
        "example.com..",
    ],
    ids=[
        "label-of-64-octets",
        "empty-label-inside",
        "empty-first-label",
        "name-of-256-octets",
        "non-ascii",
        "double-trailing-dot",
    ],
)
def test_encode_name_refuses_invalid_names(name: str) -> None:
    with pytest.raises(InvalidNameError):
        encode_name(name)


# --- encode_query --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "rdtype", [RdataType.A, RdataType.AAAA, RdataType.TXT], ids=["A", "AAAA", "TXT"]
)
def test_encode_query_round_trips_through_dnspython(rdtype: RdataType) -> None:
    query = encode_query(QID, NAME, rdtype)
    msg = dns.message.from_wire(query.wire)
    assert msg.id == QID
    assert msg.flags & dns.flags.RD
    assert not msg.flags & dns.flags.QR
    assert len(msg.question) == 1
    assert msg.question[0].name.to_text(omit_final_dot=True) == NAME
    assert msg.question[0].rdtype == rdtype
    assert msg.question[0].rdclass == dns.rdataclass.IN
    assert msg.edns == 0
    assert msg.payload == 1232
    assert not msg.answer
    assert not msg.authority


def test_encode_query_without_edns_has_no_opt_record() -> None:
    query = encode_query(QID, NAME, RdataType.A, edns=False)
    msg = dns.message.from_wire(query.wire)
    assert msg.edns == -1
    assert msg.opt is None
    assert not msg.additional


def test_encode_query_question_is_lower_cased_for_matching() -> None:
    query = encode_query(QID, "Example.COM", RdataType.A)
    assert query.question == encode_name("example.com") + struct.pack("!HH", 1, 1)


# --- response_matches ----------------------------------------------------------------------


def _header(qid: int = QID, flags: int = 0x8180, qdcount: int = 1) -> bytes:
    return struct.pack("!HHHHHH", qid, flags, qdcount, 0, 0, 0)


def _question(name: str, rdtype: int = 1) -> bytes:
    return encode_name(name) + struct.pack("!HH", rdtype, 1)


def test_response_matches_accepts_a_real_reply() -> None:
    query = encode_query(QID, NAME, RdataType.A)
    assert response_matches(build_reply(query), QID, query.question)


def test_response_matches_accepts_a_case_changed_question() -> None:
    # DNS 0x20: a resolver may echo the question with its case changed.
    query = encode_query(QID, NAME, RdataType.A)
    data = _header() + _question(NAME.upper())
    assert response_matches(data, QID, query.question)


@pytest.mark.parametrize(
    "data",
    [
        _header(qid=QID + 1) + _question(NAME),
        _header(flags=0x0100) + _question(NAME),
        _header(qdcount=0) + _question(NAME),
        _header(qdcount=2) + _question(NAME),
        _header() + _question("1.0.0.127.zen.example"),
        _header() + _question(NAME, rdtype=16),
        _header() + _question(NAME)[:-3],
        b"",
    ],
    ids=[
        "wrong-id",
        "qr-bit-clear",
        "qdcount-0",
        "qdcount-2",
        "other-name",
        "other-type",
        "short-question",
        "empty",
    ],
)
def test_response_matches_rejects_foreign_replies(data: bytes) -> None:
    query = encode_query(QID, NAME, RdataType.A)
    assert not response_matches(data, QID, query.question)


# --- decode_response -----------------------------------------------------------------------


def test_decode_a_answer_keeps_every_record_and_the_smallest_ttl() -> None:
    query = encode_query(QID, NAME, RdataType.A)
    data = build_reply(
        query,
        answer=[
            rrset(NAME, 300, "A", "127.0.0.2", "127.0.0.9"),
            rrset(NAME, 60, "A", "127.0.0.4"),
        ],
    )
    decoded = decode_response(data, query.question, RdataType.A)
    assert decoded.rcode == dns.rcode.NOERROR
    assert not decoded.truncated
    assert sorted(decoded.records) == ["127.0.0.2", "127.0.0.4", "127.0.0.9"]
    assert decoded.ttl == 60
    assert decoded.cname_target is None


def test_decode_aaaa_answer_gives_compressed_ipv6_text() -> None:
    query = encode_query(QID, NAME, RdataType.AAAA)
    data = build_reply(query, answer=[rrset(NAME, 120, "AAAA", "2001:0db8:0:0:0:0:0:0001")])
    decoded = decode_response(data, query.question, RdataType.AAAA)
    assert decoded.records == ("2001:db8::1",)
    assert decoded.ttl == 120


@pytest.mark.parametrize(
    ("soa_ttl", "soa_minimum", "negative_ttl"),
    [(900, 60, 60), (30, 3600, 30), (300, 300, 300)],
    ids=["minimum-smaller", "soa-ttl-smaller", "equal"],
)
@pytest.mark.parametrize("rdtype", [RdataType.A, RdataType.TXT], ids=["fast-path", "full-parser"])
def test_decode_nxdomain_negative_ttl_is_min_of_soa_ttl_and_minimum(
    rdtype: RdataType, soa_ttl: int, soa_minimum: int, negative_ttl: int
) -> None:
    # RFC 2308 §5: the negative TTL is min(SOA TTL, SOA MINIMUM).
    query = encode_query(QID, NAME, rdtype)
    data = build_reply(
        query, rcode=dns.rcode.NXDOMAIN, authority=[soa("zen.example", soa_ttl, soa_minimum)]
    )
    decoded = decode_response(data, query.question, rdtype)
    assert decoded.rcode == dns.rcode.NXDOMAIN
    assert decoded.records == ()
    assert decoded.negative_ttl == negative_ttl


def test_decode_nxdomain_without_soa_has_negative_ttl_zero() -> None:
    query = encode_query(QID, NAME, RdataType.A)
    data = build_reply(query, rcode=dns.rcode.NXDOMAIN)
    decoded = decode_response(data, query.question, RdataType.A)
    assert decoded.rcode == dns.rcode.NXDOMAIN
    assert decoded.negative_ttl == 0


@pytest.mark.parametrize("rdtype", [RdataType.A, RdataType.TXT], ids=["fast-path", "full-parser"])
def test_decode_nodata_is_noerror_without_records(rdtype: RdataType) -> None:
    query = encode_query(QID, NAME, rdtype)
    data = build_reply(query, authority=[soa("zen.example", 600, 120)])
    decoded = decode_response(data, query.question, rdtype)
    assert decoded.rcode == dns.rcode.NOERROR
    assert decoded.records == ()
    assert decoded.cname_target is None
    assert decoded.negative_ttl == 120


def test_decode_txt_joins_character_strings_without_separator() -> None:
    # RFC 7208 §3.3: the strings of one TXT record are concatenated with no space.
    query = encode_query(QID, "example.com", RdataType.TXT)
    data = build_reply(
        query,
        answer=[rrset("example.com.", 300, "TXT", '"v=spf1 include:_spf.exa" "mple.com -all"')],
    )
    decoded = decode_response(data, query.question, RdataType.TXT)
    assert decoded.records == ("v=spf1 include:_spf.example.com -all",)
    assert decoded.ttl == 300


def test_decode_follows_a_cname_chain_within_the_reply() -> None:
    query = encode_query(QID, "a.example", RdataType.A)
    data = build_reply(
        query,
        answer=[
            rrset("a.example.", 300, "CNAME", "b.example."),
            rrset("b.example.", 100, "CNAME", "c.example."),
            rrset("c.example.", 200, "A", "127.0.0.2"),
        ],
    )
    decoded = decode_response(data, query.question, RdataType.A)
    assert decoded.records == ("127.0.0.2",)
    assert decoded.cname_chain == ("b.example", "c.example")
    assert decoded.cname_target is None
    assert decoded.ttl == 100


def test_decode_cname_whose_target_is_absent_sets_cname_target() -> None:
    query = encode_query(QID, "a.example", RdataType.A)
    data = build_reply(query, answer=[rrset("a.example.", 300, "CNAME", "elsewhere.example.")])
    decoded = decode_response(data, query.question, RdataType.A)
    assert decoded.records == ()
    assert decoded.cname_chain == ("elsewhere.example",)
    assert decoded.cname_target == "elsewhere.example"


def test_decode_reports_the_truncated_flag_without_records() -> None:
    query = encode_query(QID, NAME, RdataType.A)
    data = build_reply(query, answer=[rrset(NAME, 300, "A", "127.0.0.2")], truncated=True)
    decoded = decode_response(data, query.question, RdataType.A)
    assert decoded.truncated
    assert decoded.records == ()


@pytest.mark.parametrize(
    "rcode",
    [dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.NOTIMP],
    ids=["servfail", "refused", "formerr", "notimp"],
)
def test_decode_passes_error_rcodes_through(rcode: int) -> None:
    query = encode_query(QID, NAME, RdataType.A)
    decoded = decode_response(build_reply(query, rcode=rcode), query.question, RdataType.A)
    assert decoded.rcode == rcode
    assert decoded.records == ()
    assert not decoded.truncated


def _answer_rr(rtype: int, rdlen: int, rdata: bytes) -> bytes:
    """An answer RR owned by a pointer to the question name (offset 12), class IN, TTL 60."""
    return b"\xc0\x0c" + struct.pack("!HHIH", rtype, 1, 60, rdlen) + rdata


def _malformed_cases() -> list[tuple[bytes, RdataType]]:
    question = encode_query(QID, NAME, RdataType.A).question
    txt_question = encode_query(QID, NAME, RdataType.TXT).question
    one_answer = struct.pack("!HHHHHH", QID, 0x8180, 1, 1, 0, 0)
    return [
        (b"", RdataType.A),
        (b"\x12\x34\x81", RdataType.A),
        (b"\x00" * 11, RdataType.A),
        # the header promises an answer, the message ends after the question
        (one_answer + question, RdataType.A),
        # the answer's fixed part is cut short
        (one_answer + question + b"\xc0\x0c\x00\x01", RdataType.A),
        (one_answer + question + _answer_rr(1, 4, b"\x7f"), RdataType.A),
        (one_answer + question + _answer_rr(1, 3, b"\x7f\x00\x00"), RdataType.A),
        # a reserved label type (0b10) in the answer's owner name
        (one_answer + question + b"\x80" + b"\x00" * 12, RdataType.A),
        # the full parser's path
        (one_answer + txt_question + _answer_rr(16, 5, b"\x04ab"), RdataType.TXT),
    ]


@pytest.mark.parametrize(
    ("data", "rdtype"),
    _malformed_cases(),
    ids=[
        "empty",
        "three-octets",
        "header-cut-short",
        "answer-missing",
        "answer-fixed-part-cut-short",
        "rdata-beyond-end",
        "a-record-of-3-octets",
        "reserved-label-type",
        "txt-cut-short",
    ],
)
def test_decode_malformed_data_raises_value_error(data: bytes, rdtype: RdataType) -> None:
    # The docstring promises ValueError for malformed messages, whatever is wrong with them.
    with pytest.raises(ValueError):  # noqa: PT011 - the contract is "a ValueError", nothing narrower
        decode_response(data, encode_query(QID, NAME, rdtype).question, rdtype)


def _txt_reply(*rdatas: tuple[bytes, ...]) -> tuple[bytes, bytes]:
    query = dns.message.make_query("example.com.", "TXT")
    response = dns.message.make_response(query)
    txts = [dns.rdtypes.ANY.TXT.TXT(1, 16, strings) for strings in rdatas]
    response.answer.append(dns.rrset.from_rdata("example.com.", 300, *txts))
    data = response.to_wire()
    question = encode_question("example.com", RdataType.TXT)
    return data, question


@pytest.mark.parametrize(
    "rdatas",
    [
        [(b"v=spf1 ", b"-all")],
        [(b"v=DMARC1; p=reject",), (b"other",)],
        [(b"x" * 255, b"y" * 100)],
        [(b"caf\xc3\xa9",), (b"\xff\xfe bad utf-8",)],
        [(b"",)],
    ],
    ids=["two-strings", "two-records", "long", "utf8-and-invalid", "empty-string"],
)
def test_txt_fast_path_equals_the_full_parser(rdatas: list[tuple[bytes, ...]]) -> None:

    data, question = _txt_reply(*rdatas)
    fast = decode_response(data, question, RdataType.TXT)
    full = _decode_full(data, RdataType.TXT, 0)
    assert fast.records == full.records
    assert fast.ttl == full.ttl == 300


def test_txt_string_overrunning_its_record_is_malformed() -> None:
    data, question = _txt_reply((b"abc",))
    broken = data[:-4] + b"\x09" + data[-3:]  # claim 9 octets where 3 remain
    with pytest.raises(ValueError, match=r"malformed|beyond"):
        decode_response(broken, question, RdataType.TXT)
