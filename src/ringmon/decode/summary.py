"""One summary per packet, taken from the decode tree's own walk: the packet list's columns (time, interface,
protocol, addresses and ports, info, length), and the lines `ringmon capture` prints, as tcpdump prints them
(LinePrinter, with tcpdump's output flags: LineFormat).
Packet bytes are hostile, so every character that is not printable ASCII is escaped."""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Protocol

from dpkt.tcp import TH_ACK, TH_SYN
from ringcore.filter import LINKTYPE_ETHERNET

from ..formatting import NS_PER_S, escape, wall_clock
from . import Dissection, dissect
from .application import text_lines
from .transport import TcpFacts, tcp_text


class PacketMeta(Protocol):
    """What a summary needs of a packet's metadata (ringcore.SlotMeta has it; a file's StoredPacket also says
    `no_time`, read with getattr: a live packet always has its time)."""

    ts_ns: int
    caplen: int
    wirelen: int


# The time of a packet its file gives none (a pcapng simple packet block): tshark leaves the column blank,
# tcpdump prints 00:00:00.000000 (time 0, as libpcap reads it); a blank would shift the fields of a line.
NO_TIME = "--:--:--.------"


@dataclass(frozen=True)
class PacketSummary:
    """The columns of one packet's line; every field is safe to print."""

    ts_ns: int
    interface: str
    protocol: str
    source: str
    destination: str
    info: str
    length: int
    no_time: bool = False  # the file gives this packet no time

    @property
    def time(self) -> str:
        """The time of day, to the microsecond (made when asked: the packet list shows its own time column)."""
        return NO_TIME if self.no_time else wall_clock(self.ts_ns, "%H:%M:%S", 6)


def summarize(data: bytes, meta: PacketMeta, ifname: str, linktype: int = LINKTYPE_ETHERNET) -> PacketSummary:
    """The summary of one packet as captured on `ifname` (a pure function: same input, same summary)."""
    found = dissect(data, linktype, max(meta.wirelen, len(data)), tree=False)
    info = found.summary_info
    if meta.caplen < meta.wirelen:
        info = f"{info} [captured {meta.caplen} of {meta.wirelen}]".lstrip()
    return PacketSummary(meta.ts_ns, escape(ifname), escape(found.protocol), escape(found.source),
                         escape(found.destination), escape(info), meta.wirelen, getattr(meta, "no_time", False))


@dataclass(frozen=True)
class LineFormat:
    """tcpdump's output flags for `ringmon capture`'s lines."""

    link_header: bool = False  # -e: the Ethernet header (MACs, ethertype, frame length)
    verbose: int = 0  # -v: the IP header's fields (tos, ttl, id, offset, flags, proto, length); -vv, -vvv: more
    quiet: bool = False  # -q: less protocol information
    time_style: int = 0  # -t count: 0 time of day, 1 none, 2 epoch seconds, 3 since the packet before,
    #                      4 date and time, 5 since the first packet
    dump: str = ""  # "hex" (-x), "hex_ascii" (-X), "ascii" (-A): each packet's bytes after its line
    dump_link: bool = False  # -xx, -XX: the bytes from the link layer on (without: from the network layer)


class TcpSequences:
    """tcpdump's relative sequence numbers: from a conversation's first segment with ACK (its SYN-ACK, when
    captured), each direction's numbers count from its initial one. Bounded: the oldest conversations go."""

    MAX_CONVERSATIONS = 65536

    def __init__(self):
        self._initial: dict[tuple, dict[tuple, tuple[int, int]]] = {}

    def relative(self, facts: TcpFacts) -> tuple[int, int, int]:
        """The segment's sequence and acknowledgement numbers as tcpdump prints them, and the acknowledgement's
        base (its SACK blocks count from there)."""
        if not facts.flags & TH_ACK:
            return facts.seq, facts.ack, 0  # a SYN: tcpdump numbers nothing before the handshake's answer
        sender, receiver = (facts.source, facts.sport), (facts.destination, facts.dport)
        key = (sender, receiver) if sender < receiver else (receiver, sender)
        known = self._initial.get(key)
        if known is None or facts.flags & TH_SYN:
            if len(self._initial) >= self.MAX_CONVERSATIONS:
                del self._initial[next(iter(self._initial))]
            self._initial[key] = {sender: (facts.seq, (facts.ack - 1) & 0xFFFFFFFF)}
            return facts.seq, facts.ack, (facts.ack - 1) & 0xFFFFFFFF
        seq_base, ack_base = known.get(sender) or (known[receiver][1], known[receiver][0])
        return (facts.seq - seq_base) & 0xFFFFFFFF, (facts.ack - ack_base) & 0xFFFFFFFF, ack_base


# tcpdump's names of IP protocols (ipproto_values) in -v's header line
_PROTOCOL_NAMES = {0: "Options", 1: "ICMP", 2: "IGMP", 4: "IPIP", 6: "TCP", 17: "UDP", 41: "IPv6", 43: "Routing",
                   44: "Fragment", 47: "GRE", 50: "ESP", 51: "AH", 58: "ICMPv6", 59: "none", 60: "Dst-Options",
                   89: "OSPF", 103: "PIM", 112: "VRRP", 132: "SCTP"}
# tcpdump's names of ethertypes (ethertype_values), for -e
_ETHERTYPES = {0x0800: "IPv4", 0x86DD: "IPv6", 0x0806: "ARP", 0x8035: "Reverse ARP", 0x8100: "802.1Q",
               0x88A8: "802.1Q-QinQ", 0x9100: "802.1Q-9100", 0x8847: "MPLS unicast", 0x8848: "MPLS multicast",
               0x8863: "PPPoE D", 0x8864: "PPPoE S", 0x888E: "EAPOL", 0x88CC: "LLDP", 0x88F7: "PTP", 0x9000: "Loopback"}
_SLL_DIRECTIONS = {0: "In", 1: "B", 2: "M", 3: "P", 4: "Out"}  # tcpdump's words for a cooked packet's type
_ADDRESS_FAMILIES = {2: "IPv4", 24: "IPv6", 28: "IPv6", 30: "IPv6"}  # tcpdump's (BSD's) of a null header
_ECN = {1: ",ECT(1)", 2: ",ECT(0)", 3: ",CE"}
_ARP_HARDWARE = {1: "Ethernet"}
_ARP_PROTOCOLS = {0x0800: "IPv4"}
# -X: tcpdump's ASCII column shows graphic characters, every other byte (space too) as "."
_GRAPHIC = bytes(byte if 0x21 <= byte <= 0x7E else 0x2E for byte in range(256))
# -A: spaces, tabs and newlines too (a carriage return is dealt with apart, as tcpdump does)
_TEXT = bytes(byte if 0x20 <= byte <= 0x7E or byte in (0x09, 0x0A, 0x0D) else 0x2E for byte in range(256))
HEX_BYTES_PER_LINE = 16


class LinePrinter:
    """tcpdump's line for each packet, in a format; it keeps what tcpdump keeps between packets (the time of the
    one before, relative sequence numbers), so one printer sees the packets in the order they are printed."""

    def __init__(self, line_format: LineFormat = LineFormat()):
        self.format = line_format
        self._sequences = TcpSequences()
        self._first_ts_ns: int | None = None
        self._previous_ts_ns: int | None = None
        self._clock_second: int | None = None
        self._clock_text = ""

    def line(self, data: bytes, meta: PacketMeta, ifname: str | None, linktype: int = LINKTYPE_ETHERNET) -> str:
        """The packet's line (with -v over IPv4, -x, -X or -A: its lines), escaped: safe to print; the interface's
        name after the time unless `ifname` is None."""
        found = dissect(data, linktype, max(meta.wirelen, len(data)), tree=False)
        where = "" if ifname is None else f"{escape(ifname)} "  # (escape returns a plain name as it is, at once)
        try:
            body = self._body(found, meta)
        except Exception as error:  # facts of a hostile packet this code did not foresee: ringmon's own line
            body = (f"{escape(found.protocol)} {escape(found.source)} > {escape(found.destination)}: "
                    f"{escape(found.summary_info)} [not in tcpdump's words: {escape(type(error).__name__)}]")
        text = f"{self._time(meta)}{where}{body}"
        if meta.caplen < meta.wirelen:
            text = f"{text} [captured {meta.caplen} of {meta.wirelen}]"
        if self.format.dump:
            text += self._dump(found.frame, 0 if self.format.dump_link else max(0, found.network_start))
        return text

    def _time(self, meta: PacketMeta) -> str:
        style = self.format.time_style
        if style == 1:
            return ""
        if getattr(meta, "no_time", False):
            return f"{NO_TIME} "
        ts_ns = meta.ts_ns
        if style == 2:
            return f"{ts_ns // NS_PER_S}.{ts_ns % NS_PER_S // 1000:06d} "
        if style == 4:
            return f"{self._clock(ts_ns, '%Y-%m-%d %H:%M:%S')} "
        if style in (3, 5):
            if self._first_ts_ns is None:
                self._first_ts_ns = self._previous_ts_ns = ts_ns
            since = ts_ns - (self._previous_ts_ns if style == 3 else self._first_ts_ns)
            self._previous_ts_ns = ts_ns
            return f"{'-' if since < 0 else ' '}{wall_clock(abs(since) // 1000 * 1000, '%H:%M:%S', 6, utc=True)} "
        return f"{self._clock(ts_ns, '%H:%M:%S')} "

    def _clock(self, ts_ns: int, date_format: str) -> str:
        """wall_clock, the time of day made once per second (packets come many a second; localtime is slow)."""
        seconds, nanoseconds = divmod(ts_ns, NS_PER_S)
        if seconds != self._clock_second:
            self._clock_second, self._clock_text = seconds, wall_clock(seconds * NS_PER_S, date_format, 6)
        if not self._clock_text.endswith(".000000"):  # a time the C library cannot break down: as wall_clock says
            return wall_clock(ts_ns, date_format, 6)
        return f"{self._clock_text[:-6]}{nanoseconds // 1000:06d}"

    def _body(self, d: Dissection, meta: PacketMeta) -> str:
        network = d.network
        link = ""
        if self.format.link_header and d.link is not None:
            link = self._link_header(d.link, meta.wirelen)
            network = ""  # tcpdump names the network layer once: in the link header
        elif self.format.link_header and d.quoted:
            network = ""  # and leaves the name out of a quoted packet's line too
        for tag in d.link_tags:
            if tag[0] == "mpls":  # tcpdump prints a label stack with or without -e
                _, label, traffic_class, bottom, ttl = tag
                link += f"MPLS (label {label}, tc {traffic_class}{', [S]' if bottom else ''}, ttl {ttl}) "
            elif self.format.link_header:
                _, vlan, priority, ethertype = tag
                link += f"vlan {vlan}, p {priority}, {self._ethertype(ethertype)}, "
        # (a quote's problems are its cut: tcpdump's mark of it is in its line)
        problems = "".join(f" [{escape(problem)}]" for problem in d.problems) if d.problems and not d.quoted else ""
        if not d.network:  # not a layer tcpdump's line is made for here: ringmon's own columns
            notes = "".join(f"{escape(note)}, " for note in d.notes)  # VLAN tags, MPLS labels
            route = f" {escape(d.source)} > {escape(d.destination)}" if d.source else ""
            info = f": {escape(d.info)}" if d.info else ""
            return f"{link}{notes}{escape(d.protocol)}{route}{info}{problems}, length {meta.wirelen}"
        named = f"{network} " if network else ""
        if d.network == "ARP,":
            arp = d.network_header
            details = (f"{_ARP_HARDWARE.get(arp.hrd, f'Unknown Hardware ({arp.hrd})')} (len {arp.hln}), "
                       f"{_ARP_PROTOCOLS.get(arp.pro, f'Unknown Protocol (0x{arp.pro:04x})')} (len {arp.pln}), "
                       if self.format.verbose else "")
            return f"{link}{named}{details}{escape(d.line)}{problems}"
        if d.header_words is None:
            words = (d.verbose_prefix if self.format.verbose else d.line_prefix) + self._protocol_text(d)
            text = f"{escape(d.source)} > {escape(d.destination)}:{' ' if words else ''}{words}{problems}"
        else:  # IPv6 fragment or routing header: the addresses, its words, then the ports (if any) and words
            source, destination, plain, verbose = d.header_words
            words = verbose if self.format.verbose else plain
            if d.source != source:
                words += (f" {escape(d.source[len(source) + 1:])} > {escape(d.destination[len(destination) + 1:])}: "
                          f"{self._protocol_text(d)}")
            text = f"{escape(source)} > {escape(destination)}: {words}{problems}"
        if not self.format.verbose:
            return f"{link}{named}{text}"
        header = d.network_header
        if d.network == "IP6":
            return f"{link}{named}{_ipv6_details(header)} {text}"
        if d.quote is not None and d.quote.network == "IP":  # the packet the error is about, under it
            text += f"\n\t{LinePrinter(self.format)._body(d.quote, meta)}"  # its own printer: no sequence state
        return f"{link}{named}{_ipv4_details(header, d.ip_options)}\n    {text}"

    def _link_header(self, link: tuple, wirelen: int) -> str:
        """tcpdump -e's words for the link header, by link type."""
        if link[0] == "ethernet":
            _, source, destination, ethertype = link
            return f"{source} > {destination}, {self._ethertype(ethertype)}, length {wirelen}: "
        if link[0] == "sll":  # Linux cooked: the direction, the address, and (not -q) the type and length
            _, packet_type, address_length, address, ethertype = link
            words = f"{_SLL_DIRECTIONS.get(packet_type, '?'):>3} " + (f"{address} " if address_length == 6 else "")
            return words if self.format.quiet else f"{words}{self._ethertype(ethertype)}, length {wirelen}: "
        if link[0] == "null":
            family = link[1]
            name = _ADDRESS_FAMILIES.get(family, "Unknown")
            return f"{name}, length {wirelen}: " if self.format.quiet else f"AF {name} ({family}), length {wirelen}: "
        return "ip: "  # raw IP

    def _ethertype(self, ethertype: int) -> str:
        name = _ETHERTYPES.get(ethertype, "Unknown")
        return name if self.format.quiet else f"ethertype {name} (0x{ethertype:04x})"

    def _protocol_text(self, d: Dissection) -> str:
        verbose = self.format.verbose
        if d.tcp is not None:
            if self.format.quiet:
                return f"tcp {d.tcp.length}"
            checksum = ""
            if verbose and (sums := _checksums(d)):
                written, correct = sums
                checksum = f"cksum 0x{written:04x} " + (
                    "(correct)" if written == correct else f"(incorrect -> 0x{correct:04x})")
            application = escape(d.app_line)
            if verbose and d.text_span is not None:
                start, end = d.text_span
                lines = text_lines(d.frame[start:min(end, len(d.frame))])
                application = _lines((f": HTTP, length: {end - start}", *lines))
            return tcp_text(d.tcp, *self._sequences.relative(d.tcp), checksum=checksum,
                            every_seq=verbose > 1) + application
        verdict = ""
        # tcpdump -v checks UDP's over IPv6 only (over IPv4 it is optional), -vv over IPv4 too
        quiet = self.format.quiet and d.quiet_line  # -q says less only of what has fewer words (UDP, TCP)
        if (verbose and d.transport is not None and not quiet
                and (d.network == "IP6" or verbose > 1 and d.transport[0] == "udp")):
            verdict = _checksum_verdict(d)
        verbose_line = d.verbose_line
        if verbose > 1 and d.very_verbose_lines:  # -vv's, or -vvv's where it says more
            verbose_line = d.very_verbose_lines[min(verbose - 1, len(d.very_verbose_lines)) - 1]
        if verbose and verbose_line and not quiet:
            text = verdict + _lines(verbose_line)
        else:
            text = verdict + escape((d.quiet_line if quiet else d.line) or d.info)
        if verbose and d.transport is not None and d.transport[0] == "igmp" and (sums := _checksums(d)):
            written, correct = sums
            text += f" bad igmp cksum {written:x}!" if written != correct else ""  # said only when wrong
        return text

    def _dump(self, frame: bytes, start: int) -> str:
        data = frame[start:]
        if self.format.dump == "ascii":
            return "\n" + "\n".join(escape(part) for part in _ascii_text(data).split("\n"))
        lines = []
        ascii_column = self.format.dump == "hex_ascii"
        for offset in range(0, len(data), HEX_BYTES_PER_LINE):
            chunk = data[offset:offset + HEX_BYTES_PER_LINE]
            hex_words = chunk.hex(" ", -2)
            if ascii_column:
                lines.append(f"\t0x{offset:04x}:  {hex_words:<39}  {chunk.translate(_GRAPHIC).decode('ascii')}")
            else:
                lines.append(f"\t0x{offset:04x}:  {hex_words}")
        return "".join(f"\n{line}" for line in lines)


_CHECKSUM_FIELDS = {"tcp": (6, 16), "udp": (17, 6), "icmp6": (58, 2), "igmp": (2, 2)}  # protocol, checksum's offset


def _lines(lines: tuple[str, ...]) -> str:
    """A packet's words over several lines, as tcpdump -v writes them: each next line after a tab."""
    return "\n\t".join(escape(line) for line in lines)


def _checksums(d: Dissection) -> tuple[int, int] | None:
    """The transport checksum the packet carries and the one its bytes call for (IPv4 or IPv6 pseudo-header);
    None when tcpdump checks none: a fragment, or a segment the capture did not keep whole."""
    if d.transport is None:  # a header the capture cut
        return None
    kind, start, end = d.transport
    if d.fragment or end > len(d.frame) or d.network not in ("IP", "IP6"):
        return None
    protocol, offset = _CHECKSUM_FIELDS[kind]
    if end - start < offset + 2:
        return None
    header = d.network_header
    length = end - start
    destination = d.checksum_destination or header.dst
    pseudo = b"" if kind == "igmp" else header.src + destination + (bytes((0, protocol)) + length.to_bytes(2, "big") if d.network == "IP"
                                        else length.to_bytes(4, "big") + bytes((0, 0, 0, protocol)))
    segment = bytearray(d.frame[start:end])
    written = int.from_bytes(segment[offset:offset + 2], "big")
    segment[offset:offset + 2] = b"\0\0"
    data = pseudo + segment + b"\0" * (length % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return written, ~total & 0xFFFF


def _checksum_verdict(d: Dissection) -> str:
    """tcpdump -v's word on a UDP or ICMPv6 checksum, before the packet's words."""
    name, start, _ = d.transport
    if name == "udp" and d.network == "IP" and not d.fragment and d.frame[start + 6:start + 8] == b"\0\0":
        return "[no cksum] "  # optional over IPv4: none sent (said of a datagram not all kept too: an ICMP quote)
    sums = _checksums(d)
    if sums is None:
        return ""
    written, correct = sums
    return f"[{name} sum ok] " if written == correct else f"[bad {name} cksum 0x{written:04x} -> 0x{correct:04x}!] "


def _ascii_text(data: bytes) -> str:
    """tcpdump -A's text of the bytes: printable ASCII, tabs and newlines as they are, other bytes as '.'; a
    carriage return is left out before a newline or at the very end, a '.' elsewhere."""
    text = data.translate(_TEXT).decode("ascii")
    if "\r" not in text:
        return text
    kept = []
    for index, char in enumerate(text):
        if char == "\r":
            if index + 2 < len(text) and text[index + 1] != "\n":
                kept.append(".")
        else:
            kept.append(char)
    return "".join(kept)


def _ipv4_details(ip, options: str) -> str:
    """tcpdump -v's fields of an IPv4 header."""
    ttl = f", ttl {ip.ttl}" if ip.ttl else ""
    flags = ", ".join(name for bit, name in ((ip.mf, "+"), (ip.df, "DF"), (ip.rf, "rsvd")) if bit) or "none"
    return (f"(tos 0x{ip.tos:x}{_ECN.get(ip.tos & 3, '')}{ttl}, id {ip.id}, offset {ip.offset * 8}, flags [{flags}], "
            f"proto {_PROTOCOL_NAMES.get(ip.p, 'unknown')} ({ip.p}), length {ip.len}"
            f"{f', options ({options})' if options else ''})")


def _ipv6_details(ip) -> str:
    """tcpdump -v's fields of an IPv6 header."""
    parts = [f"class 0x{ip.fc:x}"] if ip.fc else []
    if ip.flow:
        parts.append(f"flowlabel 0x{ip.flow:05x}")
    parts.append(f"hlim {ip.hlim}")
    parts.append(f"next-header {_PROTOCOL_NAMES.get(ip.nxt, 'unknown')} ({ip.nxt}) payload length: {ip.plen}")
    return f"({', '.join(parts)})"


def packet_line(data: bytes, meta: PacketMeta, ifname: str, linktype: int = LINKTYPE_ETHERNET) -> str:
    """One packet's line in the default format, on its own (no sequence numbers relative to a handshake)."""
    return LinePrinter().line(data, meta, ifname, linktype)
