"""The decode tree's byte spans against tshark's: a pcap per link type holding one frame of each protocol the tree
knows, read by `tshark -T pdml`, whose every field says where it lies (pos, size). Each tshark field below must
be a node of ours over the same bytes, and each layer one of our layers over the same bytes."""
from __future__ import annotations

import contextlib
import shutil
import socket
import ssl
import subprocess
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict

import dpkt
import pytest
from capture_files import pcap
from decode_frames import DNS_QUERY, HTTP_REQUEST, HTTP_RESPONSE, LINKTYPE_ETHERNET, frames

import netns
from ringcore import SlotMeta
from ringmon.decode import DecodedNode, dissect
from ringmon.decode.summary import summarize

# tshark field → (our layer's title starts with, our field's label starts with)
FIELDS = {
    "eth.dst": ("Ethernet II", "destination:"), "eth.src": ("Ethernet II", "source:"), "eth.type": ("Ethernet II", "type:"),
    "vlan.id": ("802.1Q", "vlan id:"), "ieee8021ad.id": ("802.1ad", "vlan id:"), "vlan.etype": ("802.1Q", "type:"),
    "sll.pkttype": ("Linux cooked", "packet type:"), "sll.hatype": ("Linux cooked", "link-layer address type:"),
    "sll.halen": ("Linux cooked", "link-layer address length:"), "sll.src.eth": ("Linux cooked", "source:"),
    "sll.etype": ("Linux cooked", "protocol:"), "sll.ifindex": ("Linux cooked", "interface index:"),
    "null.family": ("Loopback", "family:"),
    "arp.hw.type": ("ARP", "hardware type:"), "arp.proto.type": ("ARP", "protocol type:"), "arp.opcode": ("ARP", "operation:"),
    "arp.src.hw_mac": ("ARP", "sender MAC:"), "arp.src.proto_ipv4": ("ARP", "sender IP:"),
    "arp.dst.hw_mac": ("ARP", "target MAC:"), "arp.dst.proto_ipv4": ("ARP", "target IP:"),
    "ip.version": ("IPv4", "version:"), "ip.hdr_len": ("IPv4", "header length:"), "ip.dsfield": ("IPv4", "type of service:"),
    "ip.len": ("IPv4", "total length:"), "ip.id": ("IPv4", "identification:"), "ip.flags.df": ("IPv4", "don't fragment:"),
    "ip.flags.mf": ("IPv4", "more fragments:"), "ip.frag_offset": ("IPv4", "fragment offset:"), "ip.ttl": ("IPv4", "ttl:"),
    "ip.proto": ("IPv4", "protocol:"), "ip.checksum": ("IPv4", "checksum:"), "ip.src": ("IPv4", "source:"),
    "ip.dst": ("IPv4", "destination:"), "ip.options.routeralert": ("IPv4", "option: router alert"),
    "ipv6.flow": ("IPv6", "flow label:"), "ipv6.plen": ("IPv6", "payload length:"), "ipv6.nxt": ("IPv6", "next header:"),
    "ipv6.hlim": ("IPv6", "hop limit:"), "ipv6.src": ("IPv6", "source:"), "ipv6.dst": ("IPv6", "destination:"),
    "ipv6.hopopts.nxt": ("IPv6 hop-by-hop", "next header:"), "ipv6.opt": ("IPv6 hop-by-hop", "option:"),
    "ipv6.fraghdr.nxt": ("IPv6 fragment", "next header:"), "ipv6.fraghdr.ident": ("IPv6 fragment", "identification:"),
    "ipv6.fraghdr.offset": ("IPv6 fragment", "offset:"),
    "ipv6.routing.nxt": ("IPv6 routing", "next header:"), "ipv6.routing.type": ("IPv6 routing", "type:"),
    "ipv6.routing.segleft": ("IPv6 routing", "segments left:"), "ipv6.routing.src.addr": ("IPv6 routing", "address:"),
    "icmp.type": ("ICMP ", "type:"), "icmp.code": ("ICMP ", "code:"), "icmp.checksum": ("ICMP ", "checksum:"),
    "icmp.ident": ("ICMP ", "identifier:"), "icmp.seq": ("ICMP ", "sequence:"),
    "icmpv6.type": ("ICMPv6", "type:"), "icmpv6.code": ("ICMPv6", "code:"),
    "icmpv6.nd.ns.target_address": ("ICMPv6", "target:"), "icmpv6.opt": ("ICMPv6", "source link-layer address:"),
    "tcp.srcport": ("TCP", "source port:"), "tcp.dstport": ("TCP", "destination port:"), "tcp.seq_raw": ("TCP", "sequence:"),
    "tcp.ack_raw": ("TCP", "acknowledgement:"), "tcp.hdr_len": ("TCP", "header length:"), "tcp.flags": ("TCP", "flags:"),
    "tcp.window_size_value": ("TCP", "window:"), "tcp.checksum": ("TCP", "checksum:"),
    "tcp.urgent_pointer": ("TCP", "urgent pointer:"), "tcp.options.mss": ("TCP", "option: maximum segment size"),
    "tcp.options.sack_perm": ("TCP", "option: SACK permitted"), "tcp.options.timestamp": ("TCP", "option: timestamps"),
    "tcp.options.nop": ("TCP", "option: no operation"), "tcp.options.sack": ("TCP", "option: SACK:"), "tcp.options.wscale": ("TCP", "option: window scale"),
    "udp.srcport": ("UDP", "source port:"), "udp.dstport": ("UDP", "destination port:"), "udp.length": ("UDP", "length:"),
    "udp.checksum": ("UDP", "checksum:"),
    "dns.length": ("DNS", "length:"), "dns.id": ("DNS", "id:"), "dns.flags": ("DNS", "flags:"), "dns.count.queries": ("DNS", "questions:"),
    "dns.count.answers": ("DNS", "answers:"), "dns.qry.name": ("DNS", "name:"), "dns.resp.name": ("DNS", "name:"),
    "dns.qry.type": ("DNS", "type:"), "dns.resp.type": ("DNS", "type:"), "dns.resp.ttl": ("DNS", "ttl:"),
    "dns.resp.len": ("DNS", "data length:"), "dns.a": ("DNS", "data:"), "dns.cname": ("DNS", "data:"),
    "http.request.line": ("HTTP", ""), "http.response.line": ("HTTP", ""), "http.host": ("HTTP", "Host:"),
    "http.user_agent": ("HTTP", "User-Agent:"), "http.content_type": ("HTTP", "Content-Type:"),
    "tls.record.content_type": ("TLS", "content type:"), "tls.record.version": ("TLS", "version:"),
    "tls.record.length": ("TLS", "length:"), "tls.handshake": ("TLS", "Client Hello"),
    "tls.handshake.version": ("TLS", "client version:"), "tls.handshake.random": ("TLS", "random:"),
    "tls.handshake.extensions_server_name": ("TLS", "server name:"),
    "tls.handshake.extensions_alpn_list": ("TLS", "protocols:"),
}
# tshark protocol → our layer's title starts with (tshark's IPv6 protocol spans its extension headers too)
LAYERS = {"eth": "Ethernet II", "ieee8021ad": "802.1ad", "vlan": "802.1Q", "mpls": "MPLS", "sll": "Linux cooked",
          "null": "Loopback", "arp": "ARP", "ip": "IPv4", "ipv6.hopopts": "IPv6 hop-by-hop",
          "ipv6.fraghdr": "IPv6 fragment", "ipv6.routing": "IPv6 routing", "icmp": "ICMP ", "icmpv6": "ICMPv6",
          "tcp": "TCP", "udp": "UDP", "dns": "DNS", "http": "HTTP", "tls": "TLS"}


def _all_layers(layers: list[DecodedNode]) -> list[DecodedNode]:
    """The layers, and those of the packets ICMP errors quote (tshark shows those as layers too)."""
    found = []
    for layer in layers:
        found.append(layer)
        for node in layer.walk():
            if node.label.startswith("Invoking packet"):
                found.extend(_all_layers(node.children))
    return found


def _spans(node: DecodedNode, prefix: str) -> list[tuple[int, int]]:
    return [found.span for found in node.walk() if found is not node and found.label.startswith(prefix) and found.span]


def _tshark_packets(path) -> list[ET.Element]:
    done = subprocess.run(["tshark", "-r", str(path), "-T", "pdml"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return ET.fromstring(done.stdout).findall("packet")


def assert_spans_agree(path, linktype: int, named_frames: list[tuple[str, bytes]], compared: Counter) -> None:
    """Every mapped field and layer tshark finds in the file at `path` is one of ours over the same bytes."""
    assert shutil.which("tshark"), "tshark is what the spans are checked against"
    for (name, frame), packet in zip(named_frames, _tshark_packets(path), strict=True):
        layers = _all_layers(dissect(frame, linktype).layers)
        ours = {(layer.label, layer.span) for layer in layers}
        for protocol in packet.iter("proto"):
            family = protocol.get("name", "").split(".")[0] + "."  # (IPv6 carries a hidden ip.version)
            for element in protocol.iter():
                tshark_name, pos, size = element.get("name"), element.get("pos"), element.get("size")
                if pos is None:  # (a hidden field's place is still right: tshark hides twins of shown fields)
                    continue
                span = (int(pos), int(pos) + int(size))
                if element is protocol and tshark_name in LAYERS:
                    assert any(label.startswith(LAYERS[tshark_name]) and ours_span == span for label, ours_span in ours), \
                        f"{name}: layer {tshark_name} at {span}; ours: {sorted(ours, key=lambda item: item[1])}"
                    compared[tshark_name] += 1
                elif element.tag == "field" and tshark_name in FIELDS and tshark_name.startswith(family):
                    title, prefix = FIELDS[tshark_name]
                    spans = [found for layer in layers if layer.label.startswith(title) for found in _spans(layer, prefix)]
                    assert span in spans, f"{name}: {tshark_name} at {span}; our {title} / {prefix!r} at {spans}"
                    compared[tshark_name] += 1


def test_every_field_and_layer_spans_the_bytes_tshark_says_it_does(tmp_path):
    by_linktype = defaultdict(list)
    for name, (linktype, frame) in frames().items():
        by_linktype[linktype].append((name, frame))
    compared = Counter()
    for linktype, named_frames in by_linktype.items():
        path = tmp_path / f"linktype-{linktype}.pcap"
        path.write_bytes(pcap([frame for _, frame in named_frames], linktype=linktype))
        assert_spans_agree(path, linktype, named_frames, compared)
    assert set(compared) == set(FIELDS) | set(LAYERS), f"never compared: {(set(FIELDS) | set(LAYERS)) - set(compared)}"


def test_real_traffic_from_the_kernel_decodes_as_tshark_decodes_it(veth_pair, tmp_path):
    """ARP, a TCP connection carrying an HTTP exchange and a TLS ClientHello (OpenSSL's), a DNS query and the
    ICMP port unreachable it gets, a ping: written by tcpdump on a veth pair, decoded field by field."""
    path = tmp_path / "real.pcap"
    netns.run_in_netns(veth_pair.ns_a, ["sysctl", "-q", "-w", "net.ipv4.icmp_msgs_per_sec=1000",
                                        "net.ipv4.icmp_msgs_burst=50"], check=True)  # the tests' namespaces send none
    with netns.tcpdump_alongside(veth_pair.ns_a, veth_pair.if_a, "ip or arp", str(path)):
        _talk(veth_pair)
    with open(path, "rb") as file:
        captured = [(f"captured #{number}", bytes(frame)) for number, (_, frame) in enumerate(dpkt.pcap.Reader(file))]
    compared = Counter()
    assert_spans_agree(path, LINKTYPE_ETHERNET, captured, compared)
    protocols = {summarize(frame, SlotMeta(0, len(frame), len(frame), 0, 0, 0), "eth0").protocol for _, frame in captured}
    assert {"ARP", "TCP", "HTTP", "TLS", "DNS", "ICMP"} <= protocols
    infos = [dissect(frame).summary_info for _, frame in captured]
    assert "Client Hello, SNI sni.example.test" in infos
    assert any(info.startswith("destination unreachable (port unreachable), for DNS 198.18") for info in infos)
    assert {"tcp.options.mss", "tcp.options.sack_perm", "tcp.options.timestamp", "tcp.options.wscale",
            "tls.handshake.extensions_server_name", "dns.qry.name", "icmp.ident", "arp.opcode"} <= set(compared)


def _talk(pair) -> None:
    with netns.in_netns(pair.ns_a):
        server = socket.create_server((pair.ip_a, 80))
        tls_server = socket.create_server((pair.ip_a, 443))  # (tshark decodes TLS by port)
    with netns.in_netns(pair.ns_b):
        client = socket.create_connection((pair.ip_a, 80), timeout=5)
        hello = socket.create_connection((pair.ip_a, 443), timeout=5)
        resolver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        pinger = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    with server, tls_server, client, hello, resolver, pinger:
        connection, _ = server.accept()
        with connection:
            client.sendall(HTTP_REQUEST)
            assert connection.recv(4096) == HTTP_REQUEST
            connection.sendall(HTTP_RESPONSE)
            client.recv(4096)
        tls_side, _ = tls_server.accept()
        with tls_side:
            wrapped = ssl.create_default_context().wrap_socket(hello, server_hostname="sni.example.test",
                                                               do_handshake_on_connect=False)
            wrapped.settimeout(0.5)
            with contextlib.suppress(OSError):  # nobody answers the hello: it times out
                wrapped.do_handshake()
            assert tls_side.recv(4096)[:1] == b"\x16"
        resolver.sendto(DNS_QUERY, (pair.ip_a, 53))  # nobody listens: ICMP port unreachable
        pinger.sendto(bytes(dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=7, seq=1, data=b"ping"))), (pair.ip_a, 0))
        time.sleep(0.3)  # the reply and the error reach the wire


@pytest.mark.parametrize("name", sorted(frames()))
def test_each_frame_decodes_without_a_malformed_node(name):
    linktype, frame = frames()[name]
    assert not [node.label for layer in dissect(frame, linktype).layers for node in layer.walk() if node.malformed]
