"""Pins the NSD test fixture itself: what a real NSD on 127.0.0.1 answers for zones we write."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename
import dnsserver
import pytest
from dnsserver import NsdError, NsdServer, StartNsd

ZONE = "bl.test"
MANY_A = [f"many IN A 127.0.{i // 250}.{i % 250 + 1}" for i in range(120)]
V6_ADDRESS = "2001:db8::1"


def query(
    server: NsdServer, name: str, rdtype: str = "A", *, tcp: bool = False
) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype)
    if tcp:
        return dns.query.tcp(q, server.host, port=server.port, timeout=2)
    return dns.query.udp(q, server.host, port=server.port, timeout=2)


def texts(response: dns.message.Message) -> list[str]:
    return sorted(rdata.to_text() for rrset in response.answer for rdata in rrset)


def dig(dig_binary: Path, server: NsdServer, *args: str) -> str:
    result = subprocess.run(
        [str(dig_binary), "-p", str(server.port), f"@{server.host}", *args],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    return result.stdout


def test_a_record_is_answered_authoritatively(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["2.0.0.127 IN A 127.0.0.2"]})

    response = query(server, f"2.0.0.127.{ZONE}")

    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    assert texts(response) == ["127.0.0.2"]


def test_address_is_loopback_host_and_port(nsd: NsdServer) -> None:
    assert nsd.host == "127.0.0.1"
    assert nsd.port > 0
    assert nsd.address == f"127.0.0.1:{nsd.port}"


def test_missing_name_is_nxdomain_with_soa_minimum_ttl(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["2.0.0.127 IN A 127.0.0.2"]})

    response = query(server, f"3.0.0.127.{ZONE}")

    assert response.rcode() == dns.rcode.NXDOMAIN
    (soa,) = response.authority
    assert soa.rdtype == dns.rdatatype.SOA
    assert soa.ttl == 60  # RFC 2308 §5: negative TTL is min(SOA TTL, SOA MINIMUM)


def test_existing_name_without_the_type_is_nodata(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["2.0.0.127 IN A 127.0.0.2"]})

    response = query(server, f"2.0.0.127.{ZONE}", "TXT")

    assert response.rcode() == dns.rcode.NOERROR
    assert response.answer == []


def test_txt_record_text_is_returned(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ['2.0.0.127 IN TXT "listed: test"']})

    response = query(server, f"2.0.0.127.{ZONE}", "TXT")

    assert texts(response) == ['"listed: test"']


def test_wildcard_answers_any_name_below_the_zone(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["* IN A 127.0.0.2", '* IN TXT "wildcard"']})

    a = query(server, f"9.9.9.9.{ZONE}")
    txt = query(server, f"anything.{ZONE}", "TXT")

    assert texts(a) == ["127.0.0.2"]
    assert a.answer[0].name.to_text() == f"9.9.9.9.{ZONE}."
    assert texts(txt) == ['"wildcard"']


def test_aaaa_cname_and_mx_records_are_served(nsd_factory: StartNsd) -> None:
    server = nsd_factory(
        {
            "example.test": [
                f"host IN AAAA {V6_ADDRESS}",
                "alias IN CNAME host",
                "@ IN MX 10 mx.example.test.",
                "mx IN A 127.0.0.25",
            ]
        }
    )

    assert texts(query(server, "host.example.test", "AAAA")) == [V6_ADDRESS]
    cname = query(server, "alias.example.test", "AAAA")
    assert [rrset.rdtype for rrset in cname.answer] == [dns.rdatatype.CNAME, dns.rdatatype.AAAA]
    assert texts(query(server, "example.test", "MX")) == ["10 mx.example.test."]


def test_ipv6_nibble_name_of_32_labels_is_served(nsd_factory: StartNsd) -> None:
    nibbles = dns.reversename.from_address(V6_ADDRESS).relativize(
        dns.reversename.ipv6_reverse_domain
    )
    assert len(nibbles) == 32
    server = nsd_factory({"v6.bl.test": [f"{nibbles.to_text()} IN A 127.0.0.2"]})

    response = query(server, f"{nibbles.to_text()}.v6.bl.test")

    assert texts(response) == ["127.0.0.2"]


def test_large_answer_is_truncated_over_udp_and_complete_over_tcp(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: MANY_A})

    q = dns.message.make_query(f"many.{ZONE}", "A", use_edns=0, payload=4096)
    udp = dns.query.udp(q, server.host, port=server.port, timeout=2)
    tcp = query(server, f"many.{ZONE}", tcp=True)

    # NSD caps UDP replies at its ipv4-edns-size (1232) whatever the client offers,
    # and a truncated reply carries no answer records at all.
    assert udp.flags & dns.flags.TC
    assert udp.answer == []
    assert not tcp.flags & dns.flags.TC
    assert len(texts(tcp)) == 120


def test_dig_sees_tc_with_512_byte_buffer_and_full_answer_over_tcp(
    nsd_factory: StartNsd, dig_binary: Path
) -> None:
    server = nsd_factory({ZONE: MANY_A})

    # +ignore: dig would otherwise retry over TCP by itself when it sees TC.
    udp = dig(dig_binary, server, f"many.{ZONE}", "A", "+notcp", "+bufsize=512", "+ignore")
    tcp = dig(dig_binary, server, f"many.{ZONE}", "A", "+tcp", "+short")

    assert " tc" in udp.split("flags:")[1].split(";")[0]
    assert len(tcp.split()) == 120


def test_broken_zone_answers_servfail(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["* IN A 127.0.0.2"]}, broken=["down.test"])

    response = query(server, "2.0.0.127.down.test")

    assert response.rcode() == dns.rcode.SERVFAIL
    assert texts(query(server, f"x.{ZONE}")) == ["127.0.0.2"]


def test_zone_not_served_is_refused(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["* IN A 127.0.0.2"]})

    response = query(server, "2.0.0.127.zen.spamhaus.org")

    assert response.rcode() == dns.rcode.REFUSED


def test_server_without_zones_refuses_everything(nsd: NsdServer) -> None:
    assert query(nsd, "example.org").rcode() == dns.rcode.REFUSED


def test_reload_makes_changed_record_visible(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["2.0.0.127 IN A 127.0.0.2"]})
    old_serial = server.serial(ZONE)

    server.add_zone(ZONE, ["2.0.0.127 IN A 127.0.0.2", "4.0.0.127 IN A 127.0.0.4"])
    server.reload()

    assert server.serial(ZONE) > old_serial
    assert texts(query(server, f"4.0.0.127.{ZONE}")) == ["127.0.0.4"]


def test_reload_removes_deleted_record(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["2.0.0.127 IN A 127.0.0.2"]})

    server.add_zone(ZONE, ["4.0.0.127 IN A 127.0.0.4"])
    server.reload()

    assert query(server, f"2.0.0.127.{ZONE}").rcode() == dns.rcode.NXDOMAIN


def test_reload_serves_a_zone_added_after_start(nsd: NsdServer) -> None:
    nsd.add_zone(ZONE, ["2.0.0.127 IN A 127.0.0.2"])
    nsd.add_broken_zone("down.test")
    nsd.reload()

    assert texts(query(nsd, f"2.0.0.127.{ZONE}")) == ["127.0.0.2"]
    assert query(nsd, "x.down.test").rcode() == dns.rcode.SERVFAIL


def test_back_to_back_reloads_each_become_visible(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["r IN A 127.0.0.1"]})

    for i in range(2, 6):
        server.add_zone(ZONE, [f"r IN A 127.0.0.{i}"])
        server.reload()
        assert texts(query(server, f"r.{ZONE}")) == [f"127.0.0.{i}"]


def test_reload_repairs_a_broken_zone(nsd_factory: StartNsd) -> None:
    server = nsd_factory(broken=["down.test"])

    server.add_zone("down.test", ["x IN A 127.0.0.2"])
    server.reload()

    assert texts(query(server, "x.down.test")) == ["127.0.0.2"]


def test_start_reports_nsd_log_when_a_zone_never_loads(tmp_path: Path, nsd_binary: Path) -> None:
    server = NsdServer(tmp_path, nsd_binary=nsd_binary)
    # A wrong type makes the zone fail to load, so its SOA serial never appears.
    server.add_zone(ZONE, ["x IN A not-an-address"])

    with pytest.raises(NsdError, match="rejected zone file"):
        server.start()
    assert not server.running


def test_reload_raises_and_zone_servfails_when_nsd_rejects_the_new_zone_file(
    nsd_factory: StartNsd,
) -> None:
    server = nsd_factory({ZONE: ["x IN A 127.0.0.2"]})

    server.add_zone(ZONE, ["x IN A 127.0.0"])
    with pytest.raises(NsdError, match="rejected zone file"):
        server.reload()

    # NSD does not keep serving the last good copy: the zone is unloaded.
    assert query(server, f"x.{ZONE}").rcode() == dns.rcode.SERVFAIL


def test_reload_breaks_a_served_zone_into_servfail(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["x IN A 127.0.0.2"]})

    server.add_broken_zone(ZONE)
    server.reload()

    assert query(server, f"x.{ZONE}").rcode() == dns.rcode.SERVFAIL


def test_start_moves_to_another_port_when_nsd_cannot_bind(
    tmp_path: Path, nsd_binary: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_pick = dnsserver.pick_free_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        taken: int = squatter.getsockname()[1]
        picks = iter([taken])
        monkeypatch.setattr(
            dnsserver, "pick_free_port", lambda host: next(picks, None) or real_pick(host)
        )

        with NsdServer(tmp_path, nsd_binary=nsd_binary) as server:
            server.add_zone(ZONE, ["* IN A 127.0.0.2"])
            server.reload()

            assert server.port != taken
            assert "Address already in use" in server.log()
            assert texts(query(server, f"x.{ZONE}")) == ["127.0.0.2"]


def test_stop_frees_the_port(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["* IN A 127.0.0.2"]})
    port = server.port

    server.stop()

    assert not server.running
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", port))


def test_context_manager_starts_and_stops(tmp_path: Path, nsd_binary: Path) -> None:
    server = NsdServer(tmp_path, nsd_binary=nsd_binary)
    server.add_zone(ZONE, ["* IN A 127.0.0.2"])

    with server:
        assert texts(query(server, f"x.{ZONE}")) == ["127.0.0.2"]
    assert not server.running


def test_a_zone_file_written_by_the_caller_is_served_as_it_is(
    tmp_path: Path, nsd_binary: Path
) -> None:
    # As the benchmarks write theirs: own SOA (serial 7, minimum 300), NS and $TTL.
    path = tmp_path / "own.zone"
    path.write_text(
        f"$ORIGIN {ZONE}.\n$TTL 3600\n"
        f"@ IN SOA ns.{ZONE}. hostmaster.{ZONE}. 7 3600 600 86400 300\n"
        "@ IN NS ns\nns IN A 127.0.0.1\n2.0.0.127 IN A 127.0.0.2\n"
    )
    server = NsdServer(tmp_path / "nsd", nsd_binary=nsd_binary)
    server.add_zone_file(ZONE, path, serial=7)
    with server:
        listed = query(server, f"2.0.0.127.{ZONE}")
        missing = query(server, f"3.0.0.127.{ZONE}")

    assert server.serial(ZONE) == 7
    assert texts(listed) == ["127.0.0.2"]
    (answer,) = listed.answer
    assert answer.ttl == 3600
    assert missing.authority[0].ttl == 300


def test_start_waits_for_the_serial_a_zone_file_carries(tmp_path: Path, nsd_binary: Path) -> None:
    path = tmp_path / "own.zone"
    path.write_text(f"$ORIGIN {ZONE}.\n@ 60 IN SOA localhost. h.{ZONE}. 1 1 1 1 1\n@ 60 IN NS x.\n")
    server = NsdServer(tmp_path / "nsd", nsd_binary=nsd_binary, ready_timeout=0.5)
    server.add_zone_file(ZONE, path, serial=2)  # the file says 1: never visible

    with pytest.raises(NsdError, match=r"not ready after start within 0\.5s"):
        server.start()
    assert not server.running


def test_options_reach_nsd_conf_and_replace_defaults(tmp_path: Path, nsd_binary: Path) -> None:
    options = {**dnsserver.LOAD_OPTIONS, "verbosity": "2"}
    with NsdServer(tmp_path, nsd_binary=nsd_binary, options=options) as server:
        config = server.config_path.read_text()
        assert texts(query(server, f"x.{ZONE}")) == []  # REFUSED, but it answers

    assert f"    receive-buffer-size: {8 * 1024 * 1024}\n" in config
    assert f"    send-buffer-size: {8 * 1024 * 1024}\n" in config
    assert "    verbosity: 2\n" in config
    assert "    verbosity: 1\n" not in config


def test_query_count_counts_the_queries_answered(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["* IN A 127.0.0.2"]})
    before = server.query_count()
    assert before is not None

    for name in ("a", "b", "c"):
        query(server, f"{name}.{ZONE}")

    assert server.query_count() == before + 3


def test_query_count_of_a_stopped_server_is_none(nsd_factory: StartNsd) -> None:
    server = nsd_factory({ZONE: ["* IN A 127.0.0.2"]})
    server.stop()
    assert server.query_count() is None


def test_nsd_version_names_nsd(nsd_binary: Path) -> None:
    assert dnsserver.nsd_version(nsd_binary).startswith("NSD version ")


def test_nsd_starts_within_a_second(nsd_factory: StartNsd) -> None:
    started = time.monotonic()
    nsd_factory({ZONE: ["* IN A 127.0.0.2"]})

    assert time.monotonic() - started < 1.0


@pytest.fixture(scope="module")
def shared(nsd_module_factory: StartNsd) -> NsdServer:
    return nsd_module_factory({ZONE: ["* IN A 127.0.0.2"]})


@pytest.mark.parametrize("name", ["a", "b"])
def test_module_scoped_server_is_shared_by_the_module(name: str, shared: NsdServer) -> None:
    assert texts(query(shared, f"{name}.{ZONE}")) == ["127.0.0.2"]


def test_nsd_fixture_tests_carry_the_nsd_marker(
    request: pytest.FixtureRequest, nsd: NsdServer
) -> None:
    assert request.node.get_closest_marker("nsd") is not None


async def test_closed_udp_port_times_out_for_asyncio_dnspython(closed_udp_port: str) -> None:
    # dnspython's asyncio backend sends from an unconnected socket, which never
    # sees the ICMP port-unreachable: the query runs into its timeout.
    host, port = closed_udp_port.split(":")
    q = dns.message.make_query("example.test", "A")

    with pytest.raises(dns.exception.Timeout):
        await dns.asyncquery.udp(q, host, port=int(port), timeout=0.2)


async def test_silent_udp_port_times_out(silent_udp_port: str) -> None:
    host, port = silent_udp_port.split(":")
    q = dns.message.make_query("example.test", "A")

    with pytest.raises(dns.exception.Timeout):
        await dns.asyncquery.udp(q, host, port=int(port), timeout=0.2)
