"""Network-layer protocols: IPv4, IPv6, ICMP and ICMPv6."""
from __future__ import annotations

import socket

import dpkt

from .tree import Field, Layer, hex16


def _ipv6(address: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, address)


def _protocol(number: int) -> str:
    name = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmpv6"}.get(number)
    return f"{number} ({name})" if name else str(number)


def _icmp_layer(name: str) -> Layer:
    """ICMP and ICMPv6 share their header: type, code, checksum."""
    return Layer(name, lambda icmp: f"type {icmp.type} code {icmp.code}", (
        Field("type", "type", str),
        Field("code", "code", str),
        Field("sum", "checksum", hex16),
    ))


LAYERS = {
    dpkt.ip.IP: Layer("IPv4", lambda ip: f"{socket.inet_ntoa(ip.src)} > {socket.inet_ntoa(ip.dst)}", (
        Field("src", "source", socket.inet_ntoa),
        Field("dst", "destination", socket.inet_ntoa),
        Field("len", "total length", str),
        Field("id", "identification", hex16),
        Field("df", "don't fragment", str),
        Field("mf", "more fragments", str),
        Field("offset", "fragment offset", str),
        Field("ttl", "ttl", str),
        Field("p", "protocol", _protocol),
        Field("sum", "checksum", hex16),
    )),
    dpkt.ip6.IP6: Layer("IPv6", lambda ip: f"{_ipv6(ip.src)} > {_ipv6(ip.dst)}", (
        Field("src", "source", _ipv6),
        Field("dst", "destination", _ipv6),
        Field("plen", "payload length", str),
        Field("nxt", "next header", _protocol),
        Field("hlim", "hop limit", str),
        Field("flow", "flow label", lambda flow: f"0x{flow:05x}"),
    )),
    dpkt.icmp.ICMP: _icmp_layer("ICMP"),
    dpkt.icmp6.ICMP6: _icmp_layer("ICMPv6"),
}
