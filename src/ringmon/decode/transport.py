"""Transport layers: TCP (with its options) and UDP; their payload goes to the application layer by port
or by what it looks like."""
from __future__ import annotations

import struct
from functools import cache
from typing import NamedTuple

import dpkt

from . import application
from .dissect import Dissection, Next, layer
from .tree import UNKEPT, DecodedNode, Field, hex16

TCP_FLAG_LETTERS = (  # tcpdump's letters, in its order; "." is ACK
    (dpkt.tcp.TH_FIN, "F"), (dpkt.tcp.TH_SYN, "S"), (dpkt.tcp.TH_RST, "R"), (dpkt.tcp.TH_PUSH, "P"),
    (dpkt.tcp.TH_ACK, "."), (dpkt.tcp.TH_URG, "U"), (dpkt.tcp.TH_ECE, "E"), (dpkt.tcp.TH_CWR, "W"),
)
_TCP_OPTION_NAMES = {0: "end of options", 1: "no operation", 2: "maximum segment size", 3: "window scale",
                     4: "SACK permitted", 5: "SACK", 8: "timestamps", 30: "multipath TCP", 34: "fast open"}
_TCP_OPTION_LENGTHS = {2: 4, 3: 3, 4: 2, 8: 10}  # the options whose length is fixed


@cache  # a few dozen combinations, each seen three times per segment (tree, summary, line)
def tcp_flags(flags: int) -> str:
    return "".join(letter for bit, letter in TCP_FLAG_LETTERS if flags & bit) or "none"


class TcpFacts(NamedTuple):
    """What tcpdump's line of a segment says, kept raw: the printer may number sequences from the handshake."""

    source: bytes  # the IP addresses (a conversation's key)
    destination: bytes
    sport: int
    dport: int
    flags: int
    seq: int
    ack: int
    win: int
    urp: int
    options: tuple[str | tuple[tuple[int, int], ...], ...]  # tcpdump's short forms; a SACK's blocks, raw
    length: int  # the payload's, as the IP header says
    options_cut: bool = False  # the capture kept the options before these only: the words end there


def tcp_text(facts: TcpFacts, seq: int, ack: int, ack_base: int = 0, checksum: str = "", every_seq: bool = False) -> str:
    """tcpdump's words for a segment: the sequence numbers only where they say something (data, SYN, FIN, RST), or
    on every segment (`every_seq`, -vv); SACK blocks count from `ack_base`, as the acknowledgement does; -v's
    `checksum` verdict after the flags."""
    parts = [f"Flags [{tcp_flags(facts.flags)}]"]
    if checksum:
        parts.append(checksum)
    if every_seq or facts.length or facts.flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN | dpkt.tcp.TH_RST):
        parts.append(f"seq {seq}:{(seq + facts.length) & 0xFFFFFFFF}" if facts.length else f"seq {seq}")
    if facts.flags & dpkt.tcp.TH_ACK:
        parts.append(f"ack {ack}")
    parts.append(f"win {facts.win}")
    if facts.flags & dpkt.tcp.TH_URG:
        parts.append(f"urg {facts.urp}")
    if facts.options_cut:  # tcpdump's words end where the capture did
        parts.append(f"options [{''.join(_option_text(option, ack_base) + ',' for option in facts.options)} [|tcp]")
        return ", ".join(parts)
    if facts.options:
        parts.append(f"options [{','.join(_option_text(option, ack_base) for option in facts.options)}]")
    parts.append(f"length {facts.length}")
    return ", ".join(parts)


TCP_FIELDS = (
    Field("sport", "source port"), Field("dport", "destination port"), Field("seq", "sequence"),
    Field("ack", "acknowledgement"), Field("off", "header length", lambda off: f"{off * 4} bytes"),
    Field("flags", "flags", lambda value: f"0x{value:03x} [{tcp_flags(value)}]"), Field("win", "window"),
    Field("sum", "checksum", hex16), Field("urp", "urgent pointer"),
)
UDP_FIELDS = (
    Field("sport", "source port"), Field("dport", "destination port"), Field("ulen", "length"),
    Field("sum", "checksum", hex16),
)


def _option_text(option: str | tuple[tuple[int, int], ...], ack_base: int) -> str:
    if isinstance(option, str):
        return option
    blocks = "".join(f"{{{(left - ack_base) & 0xFFFFFFFF}:{(right - ack_base) & 0xFFFFFFFF}}}" for left, right in option)
    return f"sack {len(option)} {blocks}"


def _tcp_option(kind: int, body: bytes) -> tuple[str, str | tuple[tuple[int, int], ...]]:
    """(tree label, tcpdump's short form) of one option's value (a SACK's: its blocks, for tcp_text)."""
    if kind == 2:
        (mss,) = struct.unpack("!H", body)
        return f"maximum segment size: {mss}", f"mss {mss}"
    if kind == 3:
        return f"window scale: {body[0]} (x{1 << min(body[0], 14)})", f"wscale {body[0]}"
    if kind == 4:
        return "SACK permitted", "sackOK"
    if kind == 8:
        value, echo = struct.unpack("!II", body)
        return f"timestamps: value {value}, echo reply {echo}", f"TS val {value} ecr {echo}"
    if kind == 5:
        blocks = [struct.unpack_from("!II", body, offset) for offset in range(0, len(body) - 7, 8)]
        shown = " ".join(f"{left}-{right}" for left, right in blocks)
        return f"SACK: {shown}", tuple(blocks)
    name = _TCP_OPTION_NAMES.get(kind, f"option {kind}")
    return f"{name}: {body.hex()}".rstrip(": "), f"{name.replace(' ', '-')}"


def _tcp_options(node: DecodedNode, frame: bytes, start: int, end: int) -> list[str | tuple[tuple[int, int], ...]]:
    offset, short_forms = start, []
    while offset < end:
        kind = frame[offset]
        if kind in (0, 1):
            node.add(f"option: {_TCP_OPTION_NAMES[kind]}", (offset, offset + 1))
            short_forms.append("eol" if kind == 0 else "nop")
            offset += 1
            if kind == 0:
                break
            continue
        length = frame[offset + 1] if offset + 1 < end else 0
        if length < 2 or offset + length > end or _TCP_OPTION_LENGTHS.get(kind, length) != length \
                or (kind == 5 and (length - 2) % 8):
            node.add(f"option {kind}: malformed: length {length} in {end - offset} bytes", (offset, end), malformed=True)
            short_forms.append("bad opt")
            break
        label, short = _tcp_option(kind, frame[offset + 2:offset + length])
        node.add(f"option: {label}", (offset, offset + length))
        short_forms.append(short)
        offset += length
    return short_forms


def _ports_of_a_cut_header(d: Dissection, start: int, end: int) -> None:
    """The ports, when what is left of the header holds them (ICMP errors quote 8 bytes of it)."""
    if d.captured(start, end) >= 4:
        source_port, destination_port = struct.unpack_from("!HH", d.frame, start)
        d.source, d.destination = f"{d.source}.{source_port}", f"{d.destination}.{destination_port}"


def _facts(d: Dissection, segment, options: tuple, payload_len: int, options_cut: bool = False) -> TcpFacts:
    header = d.network_header
    return TcpFacts(getattr(header, "src", b""), getattr(header, "dst", b""), segment.sport, segment.dport,
                    segment.flags, segment.seq, segment.ack, segment.win, segment.urp, options, payload_len, options_cut)


@layer("TCP")
def tcp(d: Dissection, start: int, end: int) -> Next:
    segment = d.parse("TCP", dpkt.tcp.TCP, start, end, TCP_FIELDS)
    if segment is None:
        _ports_of_a_cut_header(d, start, end)
        return None
    header_len = segment.off * 4
    if header_len < 20:
        d.fail("TCP", start, end, f"malformed: header length {header_len} < 20")
        return None
    if d.short("TCP", start, end, header_len):
        _ports_of_a_cut_header(d, start, end)
        if d.cut_by_capture(start + header_len):  # the fixed header's numbers, the options kept: tcpdump's words
            options = _tcp_options(UNKEPT, d.frame, start + 20, len(d.frame))
            d.tcp = _facts(d, segment, tuple(options[:-1] if options[-1:] == ["bad opt"] else options),
                           max(0, end - start - header_len), options_cut=True)
        return None
    flags = tcp_flags(segment.flags)
    node = d.add_layer(f"TCP  {segment.sport} > {segment.dport} [{flags}]", start, start + header_len)
    node.add_fields(segment, start, TCP_FIELDS)
    options = _tcp_options(node, d.frame, start + 20, start + header_len)
    d.source, d.destination = f"{d.source}.{segment.sport}", f"{d.destination}.{segment.dport}"
    payload_len = max(0, end - start - header_len)  # the length the IP header gives: right when truncated
    d.tcp = _facts(d, segment, tuple(options), payload_len)
    d.info = tcp_text(d.tcp, segment.seq, segment.ack)
    d.transport = ("tcp", start, end)
    payload_start = start + header_len
    if payload_start >= min(end, len(d.frame)):
        return None
    return application.on_tcp(d, segment.sport, segment.dport, payload_start, end)


@layer("UDP")
def udp(d: Dissection, start: int, end: int) -> Next:
    datagram = d.parse("UDP", dpkt.udp.UDP, start, end, UDP_FIELDS)
    if datagram is None:
        _ports_of_a_cut_header(d, start, end)
        return None
    node = d.add_layer(f"UDP  {datagram.sport} > {datagram.dport}", start, start + 8)
    node.add_fields(datagram, start, UDP_FIELDS)
    declared = end - start  # what the IP header says the datagram is
    if not d.fragment and datagram.ulen != declared:
        d.malformed(node, f"UDP length {datagram.ulen} != {declared}")
    d.source, d.destination = f"{d.source}.{datagram.sport}", f"{d.destination}.{datagram.dport}"
    d.info = f"payload {datagram.ulen - 8}"  # from the header: right when the capture kept less
    d.line = d.quiet_line = f"UDP, length {datagram.ulen - 8}"
    d.transport = ("udp", start, end)
    if start + 8 >= min(end, len(d.frame)):
        if d.quoted and end > start + 8 and (datagram.sport in application.DNS_PORTS
                                             or datagram.dport in application.DNS_PORTS):
            d.line = " [|domain]"  # tcpdump reads on into the DNS message an ICMP error's quote leaves out
        return None
    return application.on_udp(d, datagram.sport, datagram.dport, start + 8, end)
