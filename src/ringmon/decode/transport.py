"""Transport protocols: TCP and UDP."""
from __future__ import annotations

import dpkt

from .tree import Field, Layer, hex16

LAYERS = {
    dpkt.tcp.TCP: Layer("TCP", lambda tcp: f"{tcp.sport} > {tcp.dport} [{dpkt.tcp.tcp_flags_to_str(tcp.flags)}]", (
        Field("sport", "source port", str),
        Field("dport", "destination port", str),
        Field("seq", "sequence", str),
        Field("ack", "acknowledgement", str),
        Field("flags", "flags", dpkt.tcp.tcp_flags_to_str),
        Field("win", "window", str),
        Field("sum", "checksum", hex16),
    )),
    dpkt.udp.UDP: Layer("UDP", lambda udp: f"{udp.sport} > {udp.dport}", (
        Field("sport", "source port", str),
        Field("dport", "destination port", str),
        Field("ulen", "length", str),
        Field("sum", "checksum", hex16),
    )),
}
