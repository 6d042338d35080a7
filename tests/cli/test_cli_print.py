"""`ringmon capture` without -w: one summary line per packet on stdout, with hostile bytes escaped."""
import re
import signal

import dpkt
from cli_process import RunningCapture, move_capture_end, summary_counts, wait_settled

import netns

# What a terminal must never get from a packet: C0 controls (ESC, BEL, CR...), DEL, and anything not ASCII.
RAW_UNSAFE = re.compile(rb"[^\x20-\x7e\n]")


def test_each_packet_is_one_tcpdump_line_and_one_interface_is_not_named(veth_pair, tmp_path):
    frames = veth_pair.frames_to_a(range(40))
    # -c 30 of 40 sent: the command stops at the count.
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-c", "30") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode("ascii").splitlines()
    assert len(lines) == 30
    route = f"{veth_pair.ip_b}.{netns.UDP_SRC_PORT} > {veth_pair.ip_a}.{netns.UDP_DST_PORT}"
    for line, frame in zip(lines, frames):
        assert re.fullmatch(rf"\d\d:\d\d:\d\d\.\d{{6}} IP {re.escape(route)}: "
                            rf"UDP, length {len(frame) - netns.HEADERS_LEN}", line), line
    assert summary_counts(result.stderr)["captured"] == 30


def test_with_two_interfaces_each_line_names_its_interface(make_veth_pair, tmp_path):
    first, second = make_veth_pair(), make_veth_pair()
    move_capture_end(second, first.ns_a)
    with RunningCapture(tmp_path, "--netns", first.ns_a, "-i", first.if_a, "-i", second.if_a, "-c", "20",
                        interfaces=2) as capture:
        netns.send_frames(first.ns_b, first.if_b, first.frames_to_a(range(10)))
        netns.send_frames(second.ns_b, second.if_b, second.frames_to_a(range(10)))
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    named = sorted(line.split()[1] for line in result.stdout.decode("ascii").splitlines())
    assert named == sorted([first.if_a] * 10 + [second.if_a] * 10)


def _dns_query_frame(pair: netns.VethPair, name: str) -> bytes:
    query = dpkt.dns.DNS(id=0x1b1b, qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)])
    udp = dpkt.udp.UDP(sport=5353, dport=53, data=bytes(query))
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=bytes(map(int, pair.ip_b.split("."))), dst=bytes(map(int, pair.ip_a.split("."))),
                    p=dpkt.ip.IP_PROTO_UDP, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=bytes.fromhex(pair.mac_b.replace(":", "")),
                                        dst=bytes.fromhex(pair.mac_a.replace(":", "")), data=ip))


def test_hostile_bytes_in_a_packet_reach_stdout_only_escaped(veth_pair, tmp_path):
    # Query names are shown, so they carry the attack: colour, clear screen, title set, bell, CR, bidi override.
    hostile = [
        _dns_query_frame(veth_pair, "red\x1b[31m.clear\x1b[2J\x1b[H.example"),
        _dns_query_frame(veth_pair, "title\x1b]0;pwned\x07.cr\r\nfake line\x7f.rtl\u202etxt"),
        # garbage after an IPv4 ethertype: every byte value, in a frame dpkt cannot parse
        bytes.fromhex(veth_pair.mac_a.replace(":", "") + veth_pair.mac_b.replace(":", "")) + b"\x08\x00"
        + bytes(range(256)),
    ]
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-c", str(len(hostile))) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, hostile)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert RAW_UNSAFE.findall(result.stdout) == []
    lines = result.stdout.decode("ascii").splitlines()
    assert len(lines) == len(hostile)
    assert r"red\x1b[31m.clear\x1b[2J\x1b[H.example" in lines[0]
    assert r"title\x1b]0;pwned\x07.cr\x0d\x0afake line\x7f.rtl\u202etxt" in lines[1]


def test_sigint_prints_what_is_already_captured_then_the_summary(veth_pair, tmp_path):
    frames = veth_pair.frames_to_a(range(20))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 20
    assert summary_counts(result.stderr) == {
        "captured": 20, "received by filter": 20, "dropped by kernel": 0, "dropped at ring": 0,
    }


def test_output_flags_apply_to_live_lines(veth_pair, tmp_path):
    # -e: the link header; -tt: seconds since the epoch; -XX: each frame's bytes in hex and ASCII after its line
    frames = veth_pair.frames_to_a(range(3))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-c", "3", "-e", "-tt",
                        "-XX") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode("ascii").splitlines()
    route = f"{veth_pair.ip_b}.{netns.UDP_SRC_PORT} > {veth_pair.ip_a}.{netns.UDP_DST_PORT}"
    packets = [index for index, line in enumerate(lines) if not line.startswith("\t")]
    assert len(packets) == 3
    for start, frame in zip(packets, frames):
        assert re.fullmatch(rf"\d{{10}}\.\d{{6}} {veth_pair.mac_b} > {veth_pair.mac_a}, ethertype IPv4 "
                            rf"\(0x0800\), length {len(frame)}: {re.escape(route)}: UDP, length "
                            rf"{len(frame) - netns.HEADERS_LEN}", lines[start]), lines[start]
        dump = lines[start + 1:start + 1 + -(-len(frame) // 16)]
        assert "".join(line[10:49].replace(" ", "") for line in dump) == frame.hex()
        assert dump[0].startswith("\t0x0000:  ")
