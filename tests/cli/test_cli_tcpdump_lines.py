"""`ringmon capture -r FILE` prints what `tcpdump -n -r FILE` prints, line by line, on a file of real mixed
traffic (ARP, ICMP, DNS, UDP, fragments, a TCP connection over IPv4; neighbor discovery, MLD, ICMPv6, UDP,
fragments, TCP over IPv6)
that tcpdump captured between two test namespaces; with each of tcpdump's output flags too. Where ringmon
differs on purpose, the test says so by name."""
from __future__ import annotations

import re
import struct
import subprocess
from pathlib import Path

import dpkt

import capture_files
import decode_frames
import pytest
from cli_process import assert_one_error_line, run_ringmon
from decode_frames import frames

import netns
from mixed_traffic import make_mixed_traffic

# What each kind of traffic looks like in tcpdump's lines: the file must hold every one, or the comparison
# proves less than it says (the MLD reports the kernel sends as IPv6 comes up are compared when there, not asked).
KINDS = ("ARP, Request who-has", "ARP, Reply", "ICMP echo request", "ICMP echo reply", "A? host.example.",
         "NXDomain", "UDP, length 14", "Flags [S]", "Flags [S.]", "Flags [P.]", "Flags [F.]", ": HTTP: GET / HTTP/1.0",
         "IP6 ", "neighbor solicitation", "neighbor advertisement", "ICMP6, echo request",
         "UDP, length 3000", ": ip-proto-17", ": frag (0|1448) ", ": frag (2896|112)",
         "udp port 40009 unreachable", "unreachable port, ", "Flags [R.]", "igmp v3 report, 1 group record(s)",
         "udp port 53 unreachable")


@pytest.fixture(scope="module")
def mixed_pcap(tmp_path_factory) -> Path:
    netns.require_netns_privileges()
    with netns.veth_pair() as pair:
        return make_mixed_traffic(pair, tmp_path_factory.mktemp("mixed") / "mixed.pcap")


def _tcpdump(path: Path, *flags: str) -> list[str]:
    done = subprocess.run(["tcpdump", "-n", "-r", str(path), *flags], capture_output=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode("ascii").splitlines()


def _ringmon(path: Path, *flags: str) -> list[str]:
    result = run_ringmon("capture", "-n", "-r", str(path), *flags)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    return result.stdout.decode("ascii").splitlines()


def test_the_file_holds_every_kind_of_traffic(mixed_pcap):
    text = "\n".join(_tcpdump(mixed_pcap))
    assert [kind for kind in KINDS if kind not in text] == []


@pytest.mark.parametrize("flags", [
    (), ("-e",), ("-q",), ("-q", "-e"),
    ("-t",), ("-tt",), ("-ttt",), ("-tttt",), ("-ttttt",),
    ("-x",), ("-xx",), ("-X",), ("-XX",), ("-e", "-XX", "-tt"), ("-v", "-e"), ("-v", "-X"),
], ids=lambda flags: " ".join(flags) or "plain")
def test_every_line_is_tcpdumps(mixed_pcap, flags):
    assert _ringmon(mixed_pcap, *flags) == _tcpdump(mixed_pcap, *flags)


def test_ascii_dump_is_tcpdumps_with_tabs_and_backslashes_escaped(mixed_pcap):
    # The one difference, on purpose: packet bytes reach the terminal through formatting.escape, which writes
    # a tab as \x09 and a backslash as \\ (tcpdump -A prints them raw). The echo payloads hold both.
    expected = [line.replace("\\", "\\\\").replace("\t", "\\x09") for line in _tcpdump(mixed_pcap, "-A")]
    assert any("\\x09" in line for line in expected) and any("\\\\" in line for line in expected)
    assert _ringmon(mixed_pcap, "-A") == expected


def test_verbose_lines_are_tcpdumps(mixed_pcap):
    # the IP and IPv6 headers' fields, TCP, UDP-over-IPv6 and ICMPv6 checksums (veth leaves TCP's to the NIC
    # that is not there: "incorrect"), neighbor discovery's options, MLD's group records, DNS answers' names,
    # HTTP's head line by line
    assert _ringmon(mixed_pcap, "-v") == _tcpdump(mixed_pcap, "-v")


@pytest.mark.parametrize("verbosity", ["-vv", "-vvv"])
def test_more_verbosity_prints_what_tcpdumps_adds(mixed_pcap, verbosity):
    # -vv: IPv4 UDP checksums, a DNS response's questions, every TCP segment's seq, MLD and IGMP records' sources,
    # each neighbor discovery option's bytes; -vvv: DNS TTLs too
    ours = _ringmon(mixed_pcap, verbosity)
    assert ours == _tcpdump(mixed_pcap, verbosity)
    assert ours != _ringmon(mixed_pcap, "-vv" if verbosity == "-vvv" else "-v"), "it says more than the level below"


def _dns_response(ip_header) -> bytes:
    """A DNS response over UDP with what the mixed traffic lacks: two questions, an authority and an additional
    record, TTLs from none to over a week; inside `ip_header(udp)`."""
    record = dpkt.dns.DNS.RR
    message = bytes(dpkt.dns.DNS(
        id=0x1C1C, op=0x8180,
        qd=[dpkt.dns.DNS.Q(name="www.example.test", type=dpkt.dns.DNS_A),
            dpkt.dns.DNS.Q(name="www.example.test", type=dpkt.dns.DNS_AAAA)],
        an=[record(name="www.example.test", type=dpkt.dns.DNS_CNAME, cls=1, ttl=3661, cname="host.example.test"),
            record(name="host.example.test", type=dpkt.dns.DNS_A, cls=1, ttl=0, ip=decode_frames.IP_A)],
        ns=[record(name="example.test", type=dpkt.dns.DNS_NS, cls=1, ttl=86400, nsname="ns.example.test")],
        ar=[record(name="ns.example.test", type=dpkt.dns.DNS_A, cls=1, ttl=604860, ip=decode_frames.IP_B)]))
    return ip_header(dpkt.udp.UDP(sport=53, dport=40000, ulen=8 + len(message), data=message))


def _igmp_v3_report() -> bytes:
    """Two group records, one with two sources."""
    records = (struct.pack("!BBH", 1, 0, 2) + bytes([239, 18, 0, 1]) + decode_frames.IP_A + decode_frames.IP_B
               + struct.pack("!BBH", 4, 0, 0) + bytes([239, 18, 0, 2]))
    report = struct.pack("!BBHHH", 0x22, 0, 0, 0, 2) + records
    report = report[:2] + struct.pack("!H", dpkt.in_cksum(report)) + report[4:]
    return decode_frames.ipv4(2, report, options=decode_frames.ROUTER_ALERT, dst=bytes([224, 0, 0, 22]))


def test_more_verbosity_is_tcpdumps_on_what_the_traffic_lacks(tmp_path):
    def summed(udp):  # dpkt fills in the UDP checksum: right, then made wrong
        ip = dpkt.ip.IP(src=decode_frames.IP_A, dst=decode_frames.IP_B, p=17, ttl=64, data=udp)
        ip.len = len(ip)
        return bytes(ip)

    right = _dns_response(summed)
    wrong = bytearray(right)
    wrong[26] ^= 0xFF  # the UDP checksum's first byte
    packets = [_dns_response(lambda udp: decode_frames.ipv4(17, bytes(udp))),  # no checksum: 0
               right, bytes(wrong), _igmp_v3_report()]
    path = tmp_path / "more.pcap"
    path.write_bytes(capture_files.pcap([decode_frames.ethernet(0x0800, packet) for packet in packets]))
    shown = {}
    for verbosity in ("", "-v", "-vv", "-vvv"):
        shown[verbosity] = _ringmon(path, *filter(None, [verbosity]))
        assert shown[verbosity] == _tcpdump(path, *filter(None, [verbosity])), verbosity
    text = {verbosity: "\n".join(lines) for verbosity, lines in shown.items()}
    assert "7196 [2q], 2/1/1" in text["-v"]  # the questions skipped, as tcpdump separates them
    for words in ("[no cksum]", "[udp sum ok]", "[bad udp cksum", "q: A? www.example.test., q: AAAA?",
                  "ns: example.test. NS ns.example.test.", "ar: ns.example.test. A", "is_in { 198.18.0.1 198.18.0.2 }"):
        assert words in text["-vv"] and words not in text["-v"], words
    for ttl in ("[1h1m1s] CNAME", "[0s] A", "[1d] NS", "[1w1m] A"):
        assert ttl in text["-vvv"] and ttl not in text["-vv"], ttl


# Built frames where ringmon's line differs from tcpdump's on purpose (what it prints instead is its own decode):
KNOWN_DIFFERENCES = {
    "sll2": "tcpdump names the interface of a Linux cooked v2 packet by its index on the machine that reads the "
            "file (ifindex 3 is whatever is 3 here); ringmon does not guess",
}


@pytest.mark.parametrize("flags", [(), ("-e",), ("-e", "-q"), ("-x",), ("-e", "-XX")],
                         ids=lambda flags: " ".join(flags) or "plain")
def test_every_known_frame_is_tcpdumps_but_the_named_differences(tmp_path, flags):
    # the built frames hold what the real traffic does not: 802.1Q and QinQ tags, MPLS, ICMP errors, DNS over
    # TCP, and the other link types (Linux cooked, BSD null, raw IP), each in a file of its own link type
    by_linktype: dict[int, dict[str, bytes]] = {}
    for name, (linktype, frame) in frames().items():
        by_linktype.setdefault(linktype, {})[name] = frame
    assert len(by_linktype) >= 4
    differing = set()
    for linktype, built in by_linktype.items():
        path = tmp_path / f"known-{linktype}.pcap"
        path.write_bytes(capture_files.pcap(list(built.values()), linktype=linktype))
        ours, theirs = _packets(_ringmon(path, *flags)), _packets(_tcpdump(path, *flags))
        assert len(ours) == len(theirs) == len(built)
        differing |= {name for name, our, their in zip(built, ours, theirs) if our != their}
        assert [our[1:] for our in ours] == [their[1:] for their in theirs]  # the bytes dumped: all alike
    assert differing == set(KNOWN_DIFFERENCES)


def _packets(lines: list[str]) -> list[list[str]]:
    """Each packet's lines: its line, then its dump's (each after a tab)."""
    packets: list[list[str]] = []
    for line in lines:
        if line.startswith("\t"):
            packets[-1].append(line)
        else:
            packets.append([line])
    return packets


def _cut(path: Path, out: Path, snaplen: int) -> Path:
    """The file as `tcpdump -s SNAPLEN` would have captured it: each packet's first bytes, its length on the wire."""
    with open(path, "rb") as stream:
        reader = dpkt.pcap.Reader(stream)
        records = [struct.pack("<IIII", int(timestamp), round(timestamp % 1 * 1e6), min(len(data), snaplen), len(data))
                   + data[:snaplen] for timestamp, data in reader]
        header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, reader.datalink())
    out.write_bytes(header + b"".join(records))
    return out


# What ringmon adds to a line of a packet the capture cut: what it kept, what it could not read
RINGMON_NOTES = re.compile(r"( \[truncated: [^]]*\])?( \[captured \d+ of \d+\])?$")


def test_a_capture_cut_short_reads_as_tcpdumps_but_for_what_ringmon_says_is_missing(mixed_pcap, tmp_path):
    ours = _ringmon(_cut(mixed_pcap, tmp_path / "cut.pcap", 80))
    theirs = _tcpdump(tmp_path / "cut.pcap")
    assert sum(" [captured 80 of " in line for line in ours) > 20
    assert any("[|http]" in line for line in theirs) and any("[|tcp]" in line for line in theirs)
    # On purpose: ringmon ends such a line with what the capture kept ([captured 80 of 90]) and what it could
    # not read ([truncated: ...]); where the capture cut a TCP option, tcpdump prints the start of its name
    # ("nop,nop,TS [|tcp]>"), ringmon the options before it ("nop,nop, [|tcp]").
    assert [RINGMON_NOTES.sub("", line) for line in ours] == [
        re.sub(r"(?<=,)[A-Za-z]+ \[\|tcp\]>$", " [|tcp]", line) for line in theirs]


def _dns_frame(message: dpkt.dns.DNS, source_port: int, destination_port: int) -> bytes:
    udp = dpkt.udp.UDP(sport=source_port, dport=destination_port, data=bytes(message))
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes((198, 18, 0, 1)), dst=bytes((224, 0, 0, 251)), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=bytes.fromhex("0200c6120001"), dst=bytes.fromhex("01005e0000fb"), data=ip))


@pytest.mark.parametrize("flags", [(), ("-v",)], ids=["plain", "-v"])
def test_dns_and_mdns_records_read_as_tcpdumps(tmp_path, flags):
    question, record = dpkt.dns.DNS.Q, dpkt.dns.DNS.RR
    messages = [
        # mDNS: a question asking for a unicast answer (QU) and one that does not (QM); answers that flush caches
        (dpkt.dns.DNS(id=0, op=0, qd=[question(name="_airplay._tcp.local", type=12, cls=0x8001),
                                      question(name="_raop._tcp.local", type=12, cls=1)]), 5353, 5353),
        (dpkt.dns.DNS(id=0, op=0x8400, qd=[], an=[
            record(name="_airplay._tcp.local", type=12, cls=1, ptrname="tv._airplay._tcp.local"),
            record(name="tv.local", type=1, cls=0x8001, rdata=bytes((198, 18, 0, 1))),
            record(name="tv.local", type=16, cls=0x8003, text=[b"a=b", b"c"])]), 5353, 5353),
        # DNS: a class other than IN; MX, SRV, SOA, CNAME answers; more than one question
        (dpkt.dns.DNS(id=5, qd=[question(name="version.bind", type=16, cls=3)]), 40000, 53),
        (dpkt.dns.DNS(id=6, op=0x8180, qd=[question(name="x.example", type=15)], an=[
            record(name="x.example", type=15, mxname="mail.x.example", preference=10),
            record(name="_s._tcp.x.example", type=33, srvname="srv.x.example", port=443, priority=1, weight=5),
            record(name="x.example", type=6, mname="ns.x", rname="h.x", serial=1, refresh=2, retry=3, expire=4,
                   minimum=5),
            record(name="www.x.example", type=5, cname="x.example")]), 53, 40000),
        (dpkt.dns.DNS(id=7, qd=[question(name="a.example", type=1), question(name="a.example", type=28)]), 40000, 53),
    ]
    path = tmp_path / "dns.pcap"
    path.write_bytes(capture_files.pcap([_dns_frame(*message) for message in messages]))
    assert _ringmon(path, *flags) == _tcpdump(path, *flags)


def _icmp_error(kind: int, code: int, quote: bytes, rest: int = 0, checksum: bool = True) -> bytes:
    """An ICMP error from a to b quoting `quote`, its checksum right (or left 0: wrong)."""
    message = struct.pack("!BBHI", kind, code, 0, rest) + quote
    if checksum:
        message = message[:2] + struct.pack("!H", dpkt.in_cksum(message)) + message[4:]
    return decode_frames.ethernet(0x0800, decode_frames.ipv4(1, message, src=decode_frames.IP_A, dst=decode_frames.IP_B))


SYN = decode_frames.tcp(flags=dpkt.tcp.TH_SYN)
DNS_QUERY = decode_frames.udp(decode_frames.DNS_QUERY, dport=53)
GATEWAY = 0xC6120063  # 198.18.0.99


def _icmp_errors() -> list[bytes]:
    """What real traffic seldom holds: each unreachable code, need-to-frag with and without an MTU, redirects,
    time exceeded, parameter problems, source quench; quotes of 8 bytes, whole ones, one of a datagram to port 53
    shorter than a DNS header; one checksum wrong."""
    ipv4 = decode_frames.ipv4
    first_28 = {"udp": ipv4(17, DNS_QUERY)[:28], "tcp": ipv4(6, SYN)[:28]}
    errors = [_icmp_error(3, code, first_28["udp" if code % 2 else "tcp"]) for code in range(17)]
    errors += [
        _icmp_error(3, 3, ipv4(17, decode_frames.udp(b"x", dport=53), dst=bytes((198, 18, 200, 1)))),
        _icmp_error(3, 3, ipv4(17, DNS_QUERY)), _icmp_error(3, 3, ipv4(6, SYN)),
        _icmp_error(3, 3, ipv4(1, struct.pack("!BBHHH", 8, 0, 0xF7F6, 7, 1))),  # a quoted echo: "protocol 1 port 0"
        _icmp_error(3, 4, ipv4(17, decode_frames.udp(bytes(30), dport=40001)), rest=1400),
        _icmp_error(3, 3, first_28["tcp"], checksum=False),
        *(_icmp_error(11, code, first_28["tcp"]) for code in (0, 1, 5)),
        *(_icmp_error(5, code, first_28["udp"], rest=GATEWAY) for code in (0, 1, 2, 3, 7)),
        _icmp_error(12, 0, first_28["tcp"], rest=20 << 24), _icmp_error(12, 1, first_28["tcp"]),
        _icmp_error(4, 0, first_28["tcp"]),
    ]
    return errors


@pytest.mark.parametrize("flags", [(), ("-v",), ("-vv",), ("-e",), ("-v", "-e"), ("-q", "-v")],
                         ids=lambda flags: " ".join(flags) or "plain")
def test_icmp_errors_read_as_tcpdumps(tmp_path, flags):
    # The error's words from the bytes it quotes ("198.18.200.1 udp port 53 unreachable", "unreachable - need to
    # frag (mtu 1400)", "redirect ... to host ..."); -v: the quoted packet under it, as tcpdump prints it
    # ("domain [length 1 < 12] (invalid)", "[|tcp]"), a wrong checksum
    path = tmp_path / "icmp.pcap"
    path.write_bytes(capture_files.pcap(_icmp_errors()))
    ours = _ringmon(path, *flags)
    assert ours == _tcpdump(path, *flags)
    text = "\n".join(ours)
    for words in ("ICMP 198.18.200.1 udp port 53 unreachable", "ICMP host 198.18.0.1 unreachable - admin prohibited",
                  "unreachable - need to frag (mtu 1400)", "time exceeded in-transit", "parameter problem - octet 20"):
        assert words in text, words
    if flags in (("-v",), ("-vv",), ("-v", "-e")):  # (-q: "UDP, length 1")
        assert "domain [length 1 < 12] (invalid)" in text and "80:  [|tcp]" in text


def test_cut_and_hostile_quotes_print_a_line_and_read_as_tcpdumps(tmp_path):
    # Every cut of a quoted DNS query, datagram, segment and echo (the words need the quoted destination, then the
    # port; -v's quote, each header): tcpdump's lines at every cut, "[|icmp]" where the words lack their bytes,
    # "[|udp]", "[|tcp]", "[|domain]" where the quote does. Quotes of hostile bytes (any header length, any
    # protocol): a line each, no exception, every byte escaped.
    quotes = [decode_frames.ipv4(17, DNS_QUERY), decode_frames.ipv4(17, decode_frames.udp(b"hello", dport=40001)),
              decode_frames.ipv4(6, SYN), decode_frames.ipv4(1, struct.pack("!BBHHH", 8, 0, 0xF7F6, 7, 1))]
    cut = [_icmp_error(kind, code, quote[:length], rest=1400)
           for quote in quotes for length in range(len(quote) + 1) for kind, code in ((3, 3), (3, 4), (11, 0))]
    path = tmp_path / "cut.pcap"
    path.write_bytes(capture_files.pcap(cut))
    for flags in ((), ("-v",), ("-vv",)):
        assert _ringmon(path, *flags) == _tcpdump(path, *flags), flags
    hostile = [_icmp_error(kind, code, bytes((0x40 | header_words, 0x1B)) + bytes(range(0x80, 0x80 + length)))
               for header_words in (0, 5, 15) for length in (0, 7, 18, 60) for kind, code in ((3, 3), (5, 1), (12, 0))]
    path.write_bytes(capture_files.pcap(cut + hostile))
    for flags in ((), ("-v",), ("-vv",), ("-e", "-v")):
        ours = _packets([line for line in _ringmon(path, *flags) if not line.startswith("    ")])
        assert len(ours) == len(cut) + len(hostile), flags
        assert not any("not in tcpdump's words" in line or "\x1b" in line for line in _ringmon(path, *flags))


def test_icmpv6_errors_read_as_tcpdumps(tmp_path):
    # Destination unreachable (route, prohibited, beyond scope, address, port: the quoted transport's), time
    # exceeded, parameter problems; whole quotes and quotes cut before the words' bytes ("[|icmp6]")
    ipv6 = decode_frames.ipv6
    quotes = [ipv6(17, decode_frames.udp(b"x", dport=53)), ipv6(6, SYN), ipv6(17, decode_frames.udp(b"hello", dport=40001))]
    errors = [struct.pack("!BBHI", kind, code, 0, 6) + quote
              for kind, codes in ((1, range(5)), (3, range(3)), (4, range(5))) for code in codes for quote in quotes]
    errors += [struct.pack("!BBHI", kind, code, 0, 0) + quotes[0][:length]
               for length in (0, 20, 39, 40, 44, 48) for kind, code in ((1, 4), (1, 3), (3, 0), (4, 0))]
    path = tmp_path / "icmp6.pcap"
    path.write_bytes(capture_files.pcap([decode_frames.ethernet(0x86DD, ipv6(58, error)) for error in errors]))
    for flags in ((), ("-v",), ("-e",)):
        ours = _ringmon(path, *flags)
        assert ours == _tcpdump(path, *flags), flags
    text = "\n".join(ours)
    for words in ("unreachable port, fe80::ff:fe12:1 udp port 53", "time exceeded in-transit for fe80::ff:fe12:1",
                  "parameter problem, erroneous - octet 6", "unreachable port [|icmp6]"):
        assert words in text, words


def test_more_than_five_ts_is_one_error_line(mixed_pcap):
    assert_one_error_line(run_ringmon("capture", "-r", str(mixed_pcap), "-tttttt"), "-t takes at most five")
