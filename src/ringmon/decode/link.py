"""Link-layer protocols: Ethernet II (with 802.1Q tags) and ARP."""
from __future__ import annotations

import socket

import dpkt

from .tree import Field, Layer, hex16, mac

_ARP_OPERATIONS = {1: "request", 2: "reply"}


def _ethernet_summary(frame: dpkt.ethernet.Ethernet) -> str:
    tags = getattr(frame, "vlan_tags", None)
    vlan = " vlan " + ",".join(str(tag.id) for tag in tags) if tags else ""
    return f"{mac(frame.src)} > {mac(frame.dst)}{vlan}"


def _arp_summary(arp: dpkt.arp.ARP) -> str:
    operation = _ARP_OPERATIONS.get(arp.op, f"op {arp.op}")
    if len(arp.spa) == 4 and len(arp.tpa) == 4:
        return f"{operation} {socket.inet_ntoa(arp.spa)} > {socket.inet_ntoa(arp.tpa)}"
    return operation


LAYERS = {
    dpkt.ethernet.Ethernet: Layer("Ethernet II", _ethernet_summary, (
        Field("dst", "destination", mac),
        Field("src", "source", mac),
        Field("type", "ethertype", hex16),
    )),
    dpkt.arp.ARP: Layer("ARP", _arp_summary, (
        Field("op", "operation", lambda op: _ARP_OPERATIONS.get(op, str(op))),
        Field("sha", "sender MAC", mac),
        Field("spa", "sender IP", socket.inet_ntoa),
        Field("tha", "target MAC", mac),
        Field("tpa", "target IP", socket.inet_ntoa),
    )),
}
