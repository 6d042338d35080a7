"""One tcpdump-like summary per packet (time, interface, protocol, addresses and ports, length),
decoded with dpkt; packet bytes are hostile, so every character that is not printable ASCII is escaped."""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Protocol

import dpkt

from ringcore.filter import LINKTYPE_ETHERNET, LINKTYPE_RAW

from .decode.lengths import length_problem
from .formatting import escape, wall_clock

ETHERTYPE_MAX_LENGTH = 1500  # an 802.3 frame's type field at or below this is a length (LLC follows)
ETHERTYPE_NAMES = {dpkt.ethernet.ETH_TYPE_IP: "IPv4", dpkt.ethernet.ETH_TYPE_IP6: "IPv6", dpkt.ethernet.ETH_TYPE_ARP: "ARP"}
DNS_PORT = 53
TCP_FLAG_LETTERS = (  # tcpdump's letters; "." is ACK
    (dpkt.tcp.TH_SYN, "S"), (dpkt.tcp.TH_FIN, "F"), (dpkt.tcp.TH_RST, "R"),
    (dpkt.tcp.TH_PUSH, "P"), (dpkt.tcp.TH_URG, "U"), (dpkt.tcp.TH_ACK, "."),
)
DNS_TYPES = {dpkt.dns.DNS_A: "A", dpkt.dns.DNS_NS: "NS", dpkt.dns.DNS_CNAME: "CNAME", dpkt.dns.DNS_SOA: "SOA",
             dpkt.dns.DNS_PTR: "PTR", dpkt.dns.DNS_MX: "MX", dpkt.dns.DNS_TXT: "TXT", dpkt.dns.DNS_AAAA: "AAAA",
             dpkt.dns.DNS_SRV: "SRV", dpkt.dns.DNS_ANY: "ANY"}
ICMP_TYPES = {0: "echo reply", 3: "unreachable", 5: "redirect", 8: "echo request", 11: "time exceeded"}
ICMP6_TYPES = {1: "unreachable", 3: "time exceeded", 128: "echo request", 129: "echo reply",
               133: "router solicitation", 134: "router advertisement",
               135: "neighbor solicitation", 136: "neighbor advertisement"}


class PacketMeta(Protocol):
    """What a summary needs of a packet's metadata (ringcore.SlotMeta has it)."""

    ts_ns: int
    caplen: int
    wirelen: int


@dataclass(frozen=True)
class PacketSummary:
    """The columns of one packet's line; every field is safe to print."""

    time: str
    interface: str
    protocol: str
    source: str
    destination: str
    info: str
    length: int

    def __str__(self) -> str:
        route = f" {self.source} > {self.destination}" if self.source else ""
        info = f": {self.info}" if self.info else ""
        return f"{self.time} {self.interface} {self.protocol}{route}{info}, length {self.length}"


def summarize(data: bytes, meta: PacketMeta, ifname: str, linktype: int = LINKTYPE_ETHERNET) -> PacketSummary:
    """The summary of one packet as captured on `ifname` (a pure function: same input, same summary)."""
    stamp = wall_clock(meta.ts_ns, "%H:%M:%S", 6)
    try:
        protocol, source, destination, info = _decode(data, linktype, max(0, meta.wirelen - meta.caplen))
    except Exception as exc:  # dpkt meets bytes crafted to break parsers; a bad packet is a line, not a crash
        protocol, source, destination, info = "?", "", "", f"malformed: {type(exc).__name__}"
    if meta.caplen < meta.wirelen:
        info = f"{info} [captured {meta.caplen} of {meta.wirelen}]".lstrip()
    return PacketSummary(stamp, escape(ifname), protocol, source, destination, escape(info), meta.wirelen)


def packet_line(data: bytes, meta: PacketMeta, ifname: str, linktype: int = LINKTYPE_ETHERNET) -> str:
    return str(summarize(data, meta, ifname, linktype))


def _decode(data: bytes, linktype: int, uncaptured: int) -> tuple[str, str, str, str]:
    if linktype == LINKTYPE_RAW:
        return _decode_ip(data, uncaptured)
    if linktype != LINKTYPE_ETHERNET:
        return f"linktype {linktype}", "", "", ""
    if len(data) < dpkt.ethernet.ETH_HDR_LEN:
        return "Ethernet", "", "", f"malformed: {len(data)} bytes is shorter than an Ethernet header"
    eth = dpkt.ethernet.Ethernet(data)
    vlans = [f"vlan {tag.id}" for tag in getattr(eth, "vlan_tags", [])]
    if isinstance(eth.data, (dpkt.ip.IP, dpkt.ip6.IP6)):
        protocol, source, destination, info = _decode_layer3(eth.data, uncaptured)
    elif isinstance(eth.data, dpkt.arp.ARP):
        protocol, source, destination, info = _decode_arp(eth.data)
    else:
        # not IP or ARP, or a layer dpkt could not parse (it leaves those as bytes): the MACs
        source, destination = eth.src.hex(":"), eth.dst.hex(":")
        if eth.type in ETHERTYPE_NAMES:
            protocol, info = ETHERTYPE_NAMES[eth.type], "malformed or truncated"
        elif eth.type <= ETHERTYPE_MAX_LENGTH:
            protocol, info = "802.3", ""
        else:
            protocol, info = f"ethertype 0x{eth.type:04x}", ""
    return protocol, source, destination, ", ".join([*vlans, info] if info else vlans)


def _decode_ip(data: bytes, uncaptured: int) -> tuple[str, str, str, str]:
    version = data[0] >> 4 if data else 0
    if version == 4:
        return _decode_layer3(dpkt.ip.IP(data), uncaptured)
    if version == 6:
        return _decode_layer3(dpkt.ip6.IP6(data), uncaptured)
    return "IP", "", "", f"malformed: IP version {version}"


def _decode_layer3(ip: dpkt.ip.IP | dpkt.ip6.IP6, uncaptured: int) -> tuple[str, str, str, str]:
    protocol, source, destination, info = _describe_layer3(ip)
    findings = [f"malformed: {problem}" for problem in
                (length_problem(ip, None, uncaptured), length_problem(ip.data, ip, uncaptured)) if problem]
    return protocol, source, destination, ", ".join(part for part in (info, *findings) if part)


def _describe_layer3(ip: dpkt.ip.IP | dpkt.ip6.IP6) -> tuple[str, str, str, str]:
    if isinstance(ip, dpkt.ip6.IP6):
        family, name, number = socket.AF_INET6, "IPv6", ip.nxt
    else:
        family, name, number = socket.AF_INET, "IPv4", ip.p
    source, destination = socket.inet_ntop(family, ip.src), socket.inet_ntop(family, ip.dst)
    layer4 = ip.data
    if isinstance(ip, dpkt.ip.IP) and ip.offset:
        return name, source, destination, f"fragment at offset {ip.offset}, proto {number}"
    if isinstance(layer4, dpkt.tcp.TCP):
        flags = "".join(letter for bit, letter in TCP_FLAG_LETTERS if layer4.flags & bit) or "none"
        return ("TCP", f"{source}.{layer4.sport}", f"{destination}.{layer4.dport}",
                f"Flags [{flags}], seq {layer4.seq}")
    if isinstance(layer4, dpkt.udp.UDP):
        ends = f"{source}.{layer4.sport}", f"{destination}.{layer4.dport}"
        if DNS_PORT in (layer4.sport, layer4.dport):
            return ("DNS", *ends, _decode_dns(layer4.data))
        return ("UDP", *ends, f"payload {layer4.ulen - dpkt.udp.UDP_HDR_LEN}")  # from the header: right when truncated
    if isinstance(layer4, dpkt.icmp.ICMP):
        return "ICMP", source, destination, ICMP_TYPES.get(layer4.type, f"type {layer4.type} code {layer4.code}")
    if isinstance(layer4, dpkt.icmp6.ICMP6):
        return "ICMPv6", source, destination, ICMP6_TYPES.get(layer4.type, f"type {layer4.type} code {layer4.code}")
    return name, source, destination, f"proto {number}"


def _decode_dns(payload: bytes) -> str:
    try:
        dns = dpkt.dns.DNS(payload)
    except Exception as exc:  # see summarize(): hostile payloads
        return f"malformed: {type(exc).__name__}"
    kind = "response" if dns.qr == dpkt.dns.DNS_R else "query"
    questions = " ".join(f"{DNS_TYPES.get(q.type, q.type)} {q.name}" for q in dns.qd)
    return f"{kind} {dns.id} {questions}".rstrip()


def _decode_arp(arp: dpkt.arp.ARP) -> tuple[str, str, str, str]:
    sender, target = socket.inet_ntoa(arp.spa), socket.inet_ntoa(arp.tpa)
    if arp.op == dpkt.arp.ARP_OP_REQUEST:
        return "ARP", sender, target, f"who-has {target} tell {sender}"
    if arp.op == dpkt.arp.ARP_OP_REPLY:
        return "ARP", sender, target, f"{sender} is-at {arp.sha.hex(':')}"
    return "ARP", sender, target, f"op {arp.op}"
