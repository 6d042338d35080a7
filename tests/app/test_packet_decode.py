"""Decoding hostile packet bytes: a tree for whatever parses, 'malformed' for the rest, never an exception."""
from __future__ import annotations

import random
import struct

import dpkt
from decode_frames import SYN_OPTIONS, ethernet, frames, ipv4, ipv6, tcp
from fake_monitor import fake_frame

from ringcore import SlotMeta
from ringmon.decode import DecodedNode, decode_frame
from ringmon.decode.summary import LinePrinter, packet_line, summarize
from ringmon.widgets.packets.hex_dump import hex_dump_text


def test_frame_decodes_into_one_node_per_layer_outermost_first():
    layers = decode_frame(fake_frame(3))
    assert [layer.label.split()[0] for layer in layers] == ["Ethernet", "IPv4", "UDP", "Payload"]
    assert "protocol: 17 (udp)" in [child.label for child in layers[1].children]


def test_truncated_and_garbage_frames_become_malformed_nodes():
    frame = fake_frame(3)
    assert decode_frame(frame[:5])[0].malformed
    assert decode_frame(frame[:20])[-1].label.startswith("IPv4: malformed")
    rng = random.Random(4)
    for _ in range(3000):
        mutated = bytearray(frame)
        for _ in range(rng.randint(1, 8)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        decode_frame(bytes(mutated[:rng.randint(0, len(mutated))]))
        decode_frame(rng.randbytes(rng.randint(0, 120)))


def test_hex_dump_escapes_every_byte_outside_printable_ascii():
    dump = hex_dump_text(bytes(range(256))).plain
    ascii_column = "".join(line[-16:] for line in dump.splitlines())
    assert ascii_column == "".join(chr(byte) if 0x20 <= byte < 0x7F else "·" for byte in range(256))
    assert all(ch.isprintable() for ch in dump.replace("\n", ""))


def _udp_frame(payload_len: int, udp_len: int | None = None, ip_len: int | None = None) -> bytes:
    udp = dpkt.udp.UDP(sport=40000, dport=40001, data=bytes(payload_len))
    udp.ulen = len(udp) if udp_len is None else udp_len
    ip = dpkt.ip.IP(src=bytes([198, 18, 0, 2]), dst=bytes([198, 18, 0, 1]), p=dpkt.ip.IP_PROTO_UDP, data=udp)
    frame = bytearray(bytes(dpkt.ethernet.Ethernet(src=bytes(6), dst=bytes(6), data=ip)))
    if ip_len is not None:  # dpkt writes the true total length when it packs; a lie goes in afterwards
        frame[16:18] = ip_len.to_bytes(2, "big")
    return bytes(frame)


def _line(frame: bytes, wirelen: int | None = None) -> str:
    return packet_line(frame, SlotMeta(0, len(frame), wirelen or len(frame), 0, 0, 0), "eth0")


def _malformed(layers: list[DecodedNode]) -> list[str]:
    return [child.label for layer in layers if layer.malformed for child in layer.children if child.malformed]


def test_a_udp_length_that_disagrees_with_the_ip_payload_is_malformed_in_line_and_tree():
    frame = _udp_frame(142, udp_len=8)  # the demo's old datagrams: every UDP length 8
    assert "malformed: UDP length 8 != 150" in _line(frame)
    assert _malformed(decode_frame(frame)) == ["malformed: UDP length 8 != 150"]


def test_an_ip_total_length_beyond_the_bytes_on_the_wire_is_malformed_but_a_capture_cut_is_not():
    frame = _udp_frame(100)  # IPv4 total length 128
    cut = frame[:60]
    assert "malformed: IPv4 total length 128 > 46 bytes" in _line(cut)
    assert _malformed(decode_frame(cut)) == ["malformed: IPv4 total length 128 > 46 bytes"]
    # the same bytes, but the capture kept 60 of the 142 the wire carried: nothing wrong with the packet
    assert "malformed" not in _line(cut, wirelen=len(frame))
    assert _malformed(decode_frame(cut, wirelen=len(frame))) == []


def test_an_ip_total_length_shorter_than_its_header_is_malformed():
    assert "malformed: IPv4 total length 12 < header length 20" in _line(_udp_frame(10, ip_len=12))


def test_well_formed_and_padded_frames_have_no_length_warning():
    short = _udp_frame(2)  # 44 bytes: padded to Ethernet's 60 on the wire, IP length still right
    for frame in (fake_frame(3), _udp_frame(1000), short + bytes(16)):
        assert "malformed" not in _line(frame)
        assert _malformed(decode_frame(frame)) == []


SUMMARIES = {  # frame name → (protocol, source, destination, info) of its summary line
    "tcp syn with options, ipv4 options": ("TCP", "198.18.0.2.40000", "198.18.0.1.80",
                                           "Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,"
                                           "wscale 7], length 0"),
    "tcp ack with sack": ("TCP", "198.18.0.2.40000", "198.18.0.1.80",
                          "Flags [.], ack 2000, win 64240, options [nop,nop,sack 1 {3000:4000}], length 0"),
    "dns query over tcp": ("DNS", "fe80::ff:fe12:2.40000", "fe80::ff:fe12:1.53", "query 11051 MX mail.example.test"),
    "http request": ("HTTP", "198.18.0.2.40000", "198.18.0.1.80", "GET /index.html HTTP/1.1"),
    "http response": ("HTTP", "198.18.0.2.80", "198.18.0.1.40000", "HTTP/1.1 200 OK"),
    "tls client hello": ("TLS", "198.18.0.2.40000", "198.18.0.1.443", "Client Hello, SNI sni.example.test"),
    "dns response in qinq": ("DNS", "198.18.0.2.53", "198.18.0.1.40000", "vlan 100, vlan 200, response 6939 "
                             "A www.example.test: CNAME host.example.test, A 198.18.0.1"),
    "icmp echo request": ("ICMP", "198.18.0.2", "198.18.0.1", "echo request, id 7, seq 1"),
    "icmp port unreachable": ("ICMP", "198.18.0.1", "198.18.0.2",
                              "destination unreachable (port unreachable), for UDP 198.18.0.2.40000 > 198.18.0.1.53"),
    "icmp time exceeded quoting 8 bytes of tcp": ("ICMP", "198.18.0.1", "198.18.0.2",
                                                  "time exceeded, for TCP 198.18.0.2.40000 > 198.18.0.1.80"),
    "icmpv6 packet too big": ("ICMPv6", "fe80::ff:fe12:2", "fe80::ff:fe12:1",
                              "packet too big, mtu 1280, for TCP fe80::ff:fe12:2.40000 > fe80::ff:fe12:1.80"),
    "arp request": ("ARP", "198.18.0.2", "198.18.0.1", "who-has 198.18.0.1 tell 198.18.0.2"),
    "arp reply": ("ARP", "198.18.0.2", "198.18.0.1", "198.18.0.2 is-at 02:00:c6:12:00:02"),
    "neighbor solicitation after hop-by-hop": ("ICMPv6", "fe80::ff:fe12:2", "fe80::ff:fe12:1",
                                               "neighbor solicitation for fe80::ff:fe12:1 from 02:00:c6:12:00:02"),
    "ipv6 first fragment": ("UDP", "fe80::ff:fe12:2.40000", "fe80::ff:fe12:1.40001",
                            "first fragment, id 0x0000abcd, payload 8"),
    "ipv6 routing header": ("UDP", "fe80::ff:fe12:2.40000", "fe80::ff:fe12:1.40001", "payload 6"),
    "mpls": ("UDP", "198.18.0.2.40000", "198.18.0.1.40001", "mpls 1000, payload 1"),
    "raw ipv4": ("DNS", "198.18.0.2.53", "198.18.0.1.40000",
                 "response 6939 A www.example.test: CNAME host.example.test, A 198.18.0.1"),
    "null ipv6": ("UDP", "fe80::ff:fe12:2.40000", "fe80::ff:fe12:1.40001", "payload 4"),
    "sll": ("TCP", "198.18.0.2.40000", "198.18.0.1.80",
            "Flags [S], seq 1000, win 64240, options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7], length 0"),
    "sll2": ("DNS", "198.18.0.2.53", "198.18.0.1.40000",
             "response 6939 A www.example.test: CNAME host.example.test, A 198.18.0.1"),
}


def test_the_summary_of_each_protocol_names_what_the_packet_is():
    assert set(SUMMARIES) == set(frames())
    for name, (linktype, frame) in frames().items():
        summary = summarize(frame, SlotMeta(0, len(frame), len(frame), 0, 0, 0), "eth0", linktype)
        assert (summary.protocol, summary.source, summary.destination, summary.info) == SUMMARIES[name], name


def test_a_capture_cut_anywhere_says_truncated_and_what_is_missing_never_malformed():
    for name, (linktype, frame) in frames().items():
        for kept in range(len(frame)):
            layers = decode_frame(frame[:kept], len(frame), linktype)
            labels = [node.label for layer in layers for node in layer.walk()]
            assert not [label for label in labels if "malformed" in label], (name, kept, labels)
            assert labels[-1] == f"Not captured: the last {len(frame) - kept} of {len(frame)} bytes on the wire"
            line = packet_line(frame[:kept], SlotMeta(0, kept, len(frame), 0, 0, 0), "eth0", linktype)
            assert "malformed" not in line and line.endswith(f"[captured {kept} of {len(frame)}]")
    _, syn = frames()["tcp syn with options, ipv4 options"]
    cut_in_tcp = decode_frame(syn[:44], len(syn))
    assert cut_in_tcp[-2].label == "TCP: truncated: 20 header bytes needed, the capture kept 6"
    assert cut_in_tcp[-2].span == (38, 44)


def test_the_same_bytes_missing_on_the_wire_are_malformed_with_the_reason():
    _, syn = frames()["tcp syn with options, ipv4 options"]
    layers = decode_frame(syn[:44])  # the IP header says 64 bytes; the wire carried 30
    assert [node.label for layer in layers for node in layer.walk() if node.malformed] == [
        "IPv4  198.18.0.2 > 198.18.0.1", "malformed: IPv4 total length 64 > 30 bytes", "TCP: malformed: 20 header bytes needed, 6 left"]
    _, hello = frames()["tls client hello"]
    broken = bytearray(hello)
    broken[hello.index(b"sni.example.test") - 2] = 0xFF  # the server name's length runs past the record
    tls = decode_frame(bytes(broken))[-1]
    assert tls.malformed and tls.children[0].label == "malformed: ClientHello runs past the record"


def test_unknown_link_types_and_protocols_are_named_and_shown_as_bytes():
    frame = bytes(range(40))
    assert [node.label for node in decode_frame(frame, linktype=147)] == ["Link type 147, not decoded:  40 bytes"]
    line = packet_line(frame, SlotMeta(0, 40, 40, 0, 0, 0), "eth0", 147)
    assert " linktype 147, length 40" in line
    experimental = bytes(12) + b"\x88\xb5" + b"payload"
    layers = decode_frame(experimental)
    assert [layer.label for layer in layers][1:] == ["Payload  7 bytes"]
    assert summarize(experimental, SlotMeta(0, 21, 21, 0, 0, 0), "eth0").protocol == "ethertype 0x88b5"


def test_a_memoryview_of_a_ring_or_store_decodes_as_its_bytes():
    for linktype, frame in frames().values():
        meta = SlotMeta(0, len(frame), len(frame), 0, 0, 0)
        assert summarize(memoryview(frame), meta, "eth0", linktype) == summarize(frame, meta, "eth0", linktype)


def test_a_huge_header_line_is_one_short_tree_line_whose_span_is_all_of_it():
    line = b"GET /" + b"a" * 60000 + b" HTTP/1.1\r\n\r\n"
    frame = bytes(12) + b"\x08\x00" + ipv4(6, tcp(line))
    http = decode_frame(frame)[-1]
    request = http.children[0]
    assert len(request.label) < 400 and request.label.endswith("more characters)")
    assert frame[request.span[0]:request.span[1]] == line[:-2]
    assert len(packet_line(frame, SlotMeta(0, len(frame), len(frame), 0, 0, 0), "eth0")) < 500


def test_an_icmp_error_decodes_the_packet_it_quotes_a_short_quote_is_truncated_not_malformed():
    syn = tcp(flags=0x02, options=SYN_OPTIONS)
    frame = ethernet(0x86DD, ipv6(58, struct.pack("!BBHI", 2, 0, 0, 1280) + ipv6(6, syn)[:60]))
    icmp = decode_frame(frame)[-1]
    invoking = next(node for node in icmp.children if node.label.startswith("Invoking packet"))
    assert [node.label for node in invoking.children] == [
        "IPv6  fe80::ff:fe12:2 > fe80::ff:fe12:1",
        "TCP: truncated: 40 header bytes needed, the ICMP error quotes 20"]
    assert invoking.span == (62, len(frame))
    assert not [node for node in icmp.walk() if node.malformed]


def test_a_dns_error_response_says_which_error():
    answer = dpkt.dns.DNS(id=0x77, op=0x8183, qd=[dpkt.dns.DNS.Q(name="missing.example.test", type=dpkt.dns.DNS_A)])
    frame = ethernet(0x0800, ipv4(17, struct.pack("!HHHH", 53, 40000, 8 + len(bytes(answer)), 0) + bytes(answer)))
    summary = summarize(frame, SlotMeta(0, len(frame), len(frame), 0, 0, 0), "eth0")
    assert (summary.protocol, summary.info) == ("DNS", "response 119 A missing.example.test: no such name")


def test_a_segmentation_offload_packet_cut_by_the_capture_counts_its_payload_from_the_wire_length():
    frame = bytearray(ethernet(0x0800, ipv4(6, tcp(bytes(1000)))))
    frame[16:18] = bytes(2)  # TSO: the kernel has not filled in the IPv4 total length yet
    line = packet_line(bytes(frame[:100]), SlotMeta(0, 100, len(frame), 0, 0, 0), "eth0")
    assert "Flags [P.], seq 1000:2000, ack 2000, win 64240, length 1000 [captured 100 of 1054]" in line
    assert "malformed" not in line


def test_a_line_tcpdumps_words_cannot_be_made_of_is_ringmons_own_instead_of_a_crash(monkeypatch):
    def unforeseen(self, found):
        raise RuntimeError("a fact no layer recorded")

    monkeypatch.setattr(LinePrinter, "_protocol_text", unforeseen)
    frame = frames()["dns response in qinq"][1]
    line = LinePrinter().line(frame, SlotMeta(0, len(frame), len(frame), 0, 0, 0), None)
    assert line.endswith("DNS 198.18.0.2.53 > 198.18.0.1.40000: vlan 100, vlan 200, response 6939 A www.example.test: "
                         "CNAME host.example.test, A 198.18.0.1 [not in tcpdump's words: RuntimeError]")
