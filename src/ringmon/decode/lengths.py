"""Length fields checked against the bytes they describe: IP total length and UDP length.

dpkt trusts a length field silently (it cuts the payload to it), so a packet that lies about its
length would decode as if it were fine; the packet line and the decode tree both ask here instead.
"""
from __future__ import annotations

import dpkt

IP_LAYERS = (dpkt.ip.IP, dpkt.ip6.IP6)


def _extension_bytes(ip6: dpkt.ip6.IP6) -> int:
    return sum(header.length for header in ip6.all_extension_headers)


def _is_fragment(ip: dpkt.ip.IP | dpkt.ip6.IP6) -> bool:
    if isinstance(ip, dpkt.ip.IP):
        return bool(ip.mf or ip.offset)
    return any(isinstance(header, dpkt.ip6.IP6FragmentHeader) for header in ip.all_extension_headers)


def _transport_declared(ip: dpkt.ip.IP | dpkt.ip6.IP6) -> int | None:
    """The transport segment's length as the IP header says; None when it does not say (TSO, jumbogram)."""
    if isinstance(ip, dpkt.ip.IP):
        return ip.len - ip.hl * 4 if ip.len else None
    return ip.plen - _extension_bytes(ip) if ip.plen else None


def _ip_problem(ip: dpkt.ip.IP | dpkt.ip6.IP6, uncaptured: int) -> str | None:
    declared = _transport_declared(ip)
    if declared is None:
        return None
    # dpkt cut the payload to the declared length: shorter means the bytes ran out first
    on_wire = len(ip.data) + uncaptured
    if isinstance(ip, dpkt.ip.IP):
        if declared < 0:
            return f"IPv4 total length {ip.len} < header length {ip.hl * 4}"
        if declared > on_wire:
            return f"IPv4 total length {ip.len} > {ip.hl * 4 + on_wire} bytes"
    elif declared < 0:
        return f"IPv6 payload length {ip.plen} < extension headers {_extension_bytes(ip)}"
    elif declared > on_wire:
        return f"IPv6 payload length {ip.plen} > {_extension_bytes(ip) + on_wire} bytes"
    return None


def length_problem(packet: object, parent: object, uncaptured: int) -> str | None:
    """What is wrong with `packet`'s length field, if anything ('UDP length 8 != 150').
    `parent` is the layer that carried it; `uncaptured` the bytes of the frame the capture cut off."""
    if isinstance(packet, IP_LAYERS):
        return _ip_problem(packet, uncaptured)
    if isinstance(packet, dpkt.udp.UDP) and isinstance(parent, IP_LAYERS) and not _is_fragment(parent):
        declared = _transport_declared(parent)
        if declared is not None and declared >= 0 and packet.ulen != declared:
            return f"UDP length {packet.ulen} != {declared}"
    return None
