"""Link layers: Ethernet II (802.1Q/QinQ tags, MPLS labels), Linux cooked SLL and SLL2, BSD null/loopback and
raw IP, and ARP. `FIRST_LAYERS` says which protocol a frame of each link type (pcap LINKTYPE_) starts with."""
from __future__ import annotations

import socket
import struct

import dpkt
import dpkt.sll
import dpkt.sll2

from . import inet
from .dissect import Dissection, Next, layer
from .tree import Field, header_only, hex16, mac, named

ETHERTYPE_NAMES = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x8100: "802.1Q", 0x88A8: "802.1ad",
                   0x9100: "QinQ", 0x8847: "MPLS", 0x8848: "MPLS multicast"}
ETHERTYPE_MAX_LENGTH = 1500  # an 802.3 frame's type field at or below this is a length (LLC follows)
_ARP_OPERATIONS = {1: "request", 2: "reply"}
_SLL_PACKET_TYPES = {0: "to us", 1: "broadcast", 2: "multicast", 3: "to someone else", 4: "sent by us"}
_ARPHRD_ETHER = 1
_ETHERNET_FIELDS = (Field("dst", "destination", mac), Field("src", "source", mac),
                    Field("type", "type", named(ETHERTYPE_NAMES, hex16)))
_ETHERNET_802_3_FIELDS = (*_ETHERNET_FIELDS[:2], Field("type", "length (802.3)"))
_TAG_FIELDS = (Field("pri", "priority"), Field("cfi", "drop eligible"), Field("id", "vlan id"),
               Field("type", "type", named(ETHERTYPE_NAMES, hex16)))


@layer("Ethernet II")
def ethernet(d: Dissection, start: int, end: int) -> Next:
    frame = d.parse("Ethernet", dpkt.ethernet.Ethernet, start, end)
    if frame is None:
        return None
    d.source, d.destination = mac(frame.src), mac(frame.dst)
    d.link = ("ethernet", d.source, d.destination, frame.type)
    node = d.add_layer(f"Ethernet II  {d.source} > {d.destination}", start, start + 14, protocol="")
    node.add_fields(frame, start, _ETHERNET_FIELDS if frame.type > ETHERTYPE_MAX_LENGTH else _ETHERNET_802_3_FIELDS)
    if frame.type <= ETHERTYPE_MAX_LENGTH:
        d.protocol = "802.3"
        d.network_start = start + 14
        d.payload(start + 14, end, "LLC")
        return None
    return by_ethertype(d, frame.type, start + 14, end)


def by_ethertype(d: Dissection, ethertype: int, start: int, end: int) -> Next:
    protocol = {0x0800: inet.ipv4, 0x86DD: inet.ipv6, 0x0806: arp,
                0x8100: vlan, 0x88A8: service_vlan, 0x9100: service_vlan, 0x8847: mpls, 0x8848: mpls}.get(ethertype)
    if protocol is None:
        d.protocol = f"ethertype 0x{ethertype:04x}"
        d.network_start = start  # -x dumps what follows the link header, as tcpdump
        d.payload(start, end)
        return None
    return protocol, start, end


def _tag(d: Dissection, name: str, start: int, end: int) -> Next:
    tag = d.parse(name, dpkt.ethernet.VLANtag8021Q, start, end)
    if tag is None:
        return None
    node = d.add_layer(f"{name}  vlan {tag.id}, priority {tag.pri}", start, start + 4, protocol="")
    node.add_fields(tag, start, _TAG_FIELDS)
    d.notes.append(f"vlan {tag.id}")
    d.link_tags += (("vlan", tag.id, tag.pri, tag.type),)
    return by_ethertype(d, tag.type, start + 4, end)


@layer("802.1Q")
def vlan(d: Dissection, start: int, end: int) -> Next:
    return _tag(d, "802.1Q", start, end)


@layer("802.1ad")
def service_vlan(d: Dissection, start: int, end: int) -> Next:
    """The outer (service) tag of QinQ: the same fields as 802.1Q's."""
    return _tag(d, "802.1ad", start, end)


@layer("MPLS")
def mpls(d: Dissection, start: int, end: int) -> Next:
    label = d.parse("MPLS", dpkt.ethernet.MPLSlabel, start, end)
    if label is None:
        return None
    node = d.add_layer(f"MPLS  label {label.val}", start, start + 4, protocol="")
    node.add_fields(label, start, (
        Field("val", "label"), Field("exp", "traffic class"), Field("s", "bottom of stack"), Field("ttl", "ttl"),
    ))
    d.notes.append(f"mpls {label.val}")
    d.link_tags += (("mpls", label.val, label.exp, label.s, label.ttl),)
    d.network_start = start if d.network_start < 0 else d.network_start
    if not label.s:
        return mpls, start + 4, end
    return inet.ip_by_version(d, start + 4, end)


def _sll_address(hrd: int, length: int, address: bytes) -> str:
    address = address[:min(length, 8)]
    return mac(address) if hrd == _ARPHRD_ETHER or length != 6 else address.hex(":")


def _source_span(cooked, start: int) -> tuple[int, int]:
    """The address field is 8 bytes; the address is its first `hlen`."""
    return start, start + min(cooked.hlen, 8)


def _sll_next(d: Dissection, protocol: int, start: int, end: int) -> Next:
    if protocol <= ETHERTYPE_MAX_LENGTH:  # Linux puts 802.2/802.3 frames here with ETH_P_802_2 and friends
        d.protocol = "802.3"
        d.payload(start, end, "LLC")
        return None
    return by_ethertype(d, protocol, start, end)


@layer("Linux cooked (SLL)")
def sll(d: Dissection, start: int, end: int) -> Next:
    cooked = d.parse("Linux cooked (SLL)", dpkt.sll.SLL, start, end)
    if cooked is None:
        return None
    address = _sll_address(cooked.hrd, cooked.hlen, cooked.hdr)
    node = d.add_layer(f"Linux cooked (SLL)  {_SLL_PACKET_TYPES.get(cooked.type, cooked.type)} from {address}",
                       start, start + 16, protocol="")
    node.add_fields(cooked, start, (
        Field("type", "packet type", named(_SLL_PACKET_TYPES)), Field("hrd", "link-layer address type"),
        Field("hlen", "link-layer address length"), Field("ethtype", "protocol", named(ETHERTYPE_NAMES, hex16)),
    ))
    node.add(f"source: {address}", _source_span(cooked, start + 6), at=3)
    d.source = address
    d.link = ("sll", cooked.type, cooked.hlen, address, cooked.ethtype)
    return _sll_next(d, cooked.ethtype, start + 16, end)


@layer("Linux cooked (SLL2)")
def sll2(d: Dissection, start: int, end: int) -> Next:
    cooked = d.parse("Linux cooked (SLL2)", dpkt.sll2.SLL2, start, end)
    if cooked is None:
        return None
    address = _sll_address(cooked.hrd, cooked.hlen, cooked.hdr)
    node = d.add_layer(f"Linux cooked (SLL2)  {_SLL_PACKET_TYPES.get(cooked.type, cooked.type)} from {address}",
                       start, start + 20, protocol="")
    node.add_fields(cooked, start, (
        Field("ethtype", "protocol", named(ETHERTYPE_NAMES, hex16)), Field("intindex", "interface index"),
        Field("hrd", "link-layer address type"), Field("type", "packet type", named(_SLL_PACKET_TYPES)),
        Field("hlen", "link-layer address length"),
    ))
    node.add(f"source: {address}", _source_span(cooked, start + 12))
    d.source = address
    return _sll_next(d, cooked.ethtype, start + 20, end)


# AF_INET6 differs between the systems that write null/loopback headers: Linux 10, the BSDs 24, 28, 30
_NULL_FAMILIES = {2: ("IPv4", inet.ipv4), 10: ("IPv6", inet.ipv6), 24: ("IPv6", inet.ipv6),
                  28: ("IPv6", inet.ipv6), 30: ("IPv6", inet.ipv6)}


def _loopback(d: Dissection, start: int, end: int, byte_order: str) -> Next:
    if d.short("Loopback", start, end, 4):
        return None
    (family,) = struct.unpack_from(byte_order + "I", d.frame, start)
    if family > 0xFFFF:  # the null header is in the byte order of the machine that wrote it
        family = int.from_bytes(family.to_bytes(4, "big"), "little")
    name, protocol = _NULL_FAMILIES.get(family, (None, None))
    node = d.add_layer(f"Loopback  family {family}" + (f" ({name})" if name else ""), start, start + 4, protocol="")
    node.add(f"family: {family}" + (f" ({name})" if name else ""), (start, start + 4))
    d.link = ("null", family)
    if protocol is None:
        d.protocol = f"loopback family {family}"
        d.payload(start + 4, end)
        return None
    return protocol, start + 4, end


@layer("Loopback")
def null(d: Dissection, start: int, end: int) -> Next:
    return _loopback(d, start, end, "<")


@layer("Loopback")
def loop(d: Dissection, start: int, end: int) -> Next:
    return _loopback(d, start, end, ">")


@layer("ARP")
def arp(d: Dissection, start: int, end: int) -> Next:
    fixed = 8  # hardware type, protocol type, their address lengths, operation; then four addresses
    if d.short("ARP", start, end, fixed):
        return None
    packet = header_only(dpkt.arp.ARP, d.frame[start:start + fixed] + bytes(20), 0)  # the fixed part: lengths say the rest
    lengths = (packet.hln, packet.pln, packet.hln, packet.pln)
    if d.short("ARP", start, end, fixed + sum(lengths)):
        return None
    operation = _ARP_OPERATIONS.get(packet.op, f"op {packet.op}")
    node = d.add_layer(f"ARP  {operation}", start, start + fixed + sum(lengths))
    node.add_fields(packet, start, (
        Field("hrd", "hardware type"), Field("pro", "protocol type", hex16), Field("hln", "hardware address length"),
        Field("pln", "protocol address length"), Field("op", "operation", named(_ARP_OPERATIONS)),
    ))
    offset, addresses = start + fixed, []
    for label, length in zip(("sender MAC", "sender IP", "target MAC", "target IP"), lengths):
        value = d.frame[offset:offset + length]
        shown = socket.inet_ntoa(value) if length == 4 and label.endswith("IP") else mac(value)
        node.add(f"{label}: {shown}", (offset, offset + length))
        addresses.append(shown)
        offset += length
    sender_mac, sender, target_mac, target = addresses
    d.source, d.destination = sender, target
    d.network, d.network_header = "ARP,", packet
    d.network_start = start if d.network_start < 0 else d.network_start
    if packet.op == dpkt.arp.ARP_OP_REQUEST:
        d.info = f"who-has {target} tell {sender}"
        asked = f" ({target_mac})" if any(d.frame[start + fixed + packet.hln + packet.pln:][:packet.hln]) else ""
        d.line = f"Request who-has {target}{asked} tell {sender}"
    elif packet.op == dpkt.arp.ARP_OP_REPLY:
        d.info = d.line = f"{sender} is-at {sender_mac}"
        d.line = f"Reply {d.line}"
    else:
        d.info = d.line = f"op {packet.op}"
    d.line += f", length {end - start}"
    return None


# Link types (pcap LINKTYPE_ values) and the layer their frames start with
FIRST_LAYERS = {
    1: ethernet,  # ETHERNET
    113: sll, 276: sll2,  # LINUX_SLL, LINUX_SLL2: "any" interface, tcpdump -i any
    0: null, 108: loop,  # NULL (host byte order), LOOP (network byte order): BSD loopback, tunnels
    101: inet.ip_by_version_layer, 12: inet.ip_by_version_layer, 14: inet.ip_by_version_layer,  # RAW (and old values)
    228: inet.ipv4, 229: inet.ipv6,  # IPV4, IPV6
}
