"""Walks a frame layer by layer: each protocol's function (in link.py, inet.py, transport.py, application.py),
`protocol(d, start, end) -> Next` with `d` the Dissection, reads its header at `start` in the frame, adds its
node to the tree and its part to the one-line summary, and says which protocol comes next and where.
A layer that does not parse becomes a node that says why. A walk for the summary only (`tree=False`, the
packet list and `ringmon capture`) runs the same functions, but keeps no node: see tree.UnkeptNode."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Optional

from .tree import UNKEPT, DecodedNode, Field, UnkeptNode, header_layout, header_only

# (protocol function, start, end): the next layer is the bytes [start, end) of the frame
Next = Optional[tuple[Callable[["Dissection", int, int], "Next"], int, int]]
_MAX_LAYERS = 16  # tunnels inside tunnels: stop long before a crafted packet could recurse far


def layer(name: str):
    """Names a protocol function, for the node that says it failed."""
    def named(function):
        function.layer_name = name
        return function
    return named


_TCPDUMP_NAMES = {"DNS": "domain"}  # tcpdump's names of protocols it says a quote cut, where not ringmon's in lower case


@dataclass(slots=True)  # many fields, one object per packet: slots make it cheaper to make and read
class Dissection:
    """A frame's decode tree (`layers`, outermost first) and its summary columns, built in one walk; without
    `tree`, the summary columns alone (`layers` stays empty)."""

    frame: bytes
    wirelen: int
    layers: list[DecodedNode] = field(default_factory=list)
    protocol: str = ""
    source: str = ""
    destination: str = ""
    info: str = ""
    notes: list[str] = field(default_factory=list)  # shown before the info: VLAN tags, MPLS labels
    problems: list[str] = field(default_factory=list)  # shown after it: what is malformed or missing
    trailers: list[DecodedNode] = field(default_factory=list)  # bytes after the last layer (Ethernet padding)
    fragment: bool = False  # the IP packet is a fragment: lengths above it do not describe the transport
    quoted: bool = False  # the start of a packet an ICMP error quotes: cut short by design, not by the capture
    tree: bool = True  # False: the summary columns only, no node kept (the packet list, `ringmon capture`)
    # What tcpdump's line needs (summary.LinePrinter), recorded by the layers as they pass: short words, and raw
    # facts where making the words costs (headers, TCP numbers, checksums, HTTP's lines), made only when printed.
    # the link header for -e: ("ethernet", source MAC, destination MAC, ethertype), ("sll", packet type, address
    # length, address, ethertype), ("null", address family) or ("raw",)
    link: tuple | None = None
    link_tags: tuple = ()  # ("vlan", id, priority, next ethertype) and ("mpls", label, tc, bottom, ttl), outer first
    network: str = ""  # the word before the addresses: IP, IP6, ARP,
    network_start: int = -1  # where the first layer after the link's starts in the frame (-x dumps from there)
    network_header: object = None  # the last IPv4, IPv6 or ARP header (dpkt's): -v prints its fields
    ip_options: str = ""  # tcpdump -v's words for the IPv4 header's options: "RA"
    line: str = ""  # what tcpdump prints after the addresses
    quiet_line: str = ""  # the same with -q, when it says less
    line_prefix: str = ""  # IPv6 extension headers before the transport: "HBH "
    verbose_prefix: str = ""  # the same with -v: "HBH (rtalert: 0x0000) (padn) "
    app_line: str = ""  # after a TCP segment's words: its application's (HTTP's first line, a DNS message)
    verbose_line: tuple[str, ...] = ()  # the line with -v, when it says more: its first line, then the ones under it
    # the lines with -vv, then -vvv, where they say more than the level below: a report's sources, each neighbor
    # discovery option's bytes, a DNS response's questions, authority and additional records, then its TTLs
    very_verbose_lines: tuple[tuple[str, ...], ...] = ()
    text_span: tuple[int, int] | None = None  # HTTP on tcpdump's ports: -v prints its bytes line by line
    transport: tuple[str, int, int] | None = None  # ("tcp" | "udp" | "icmp6" | "igmp", start, end): -v checks its checksum
    # IPv6 headers tcpdump prints between the addresses and the ports (fragment, routing): the addresses, their
    # words, -v's words
    header_words: tuple[str, str, str, str] | None = None
    checksum_destination: bytes = b""  # a routing header's last address: the transport checksum's destination
    quote: Dissection | None = None  # the packet an ICMP error quotes (IPv4): tcpdump -v prints it under the line
    tcp: tuple | None = None  # transport.TcpFacts: its line is made when printed (relative sequence numbers)

    @property
    def uncaptured(self) -> int:
        """Bytes the wire carried that the capture did not keep."""
        return max(0, self.wirelen - len(self.frame))

    @property
    def summary_info(self) -> str:
        return ", ".join(part for part in (*self.notes, self.info, *self.problems) if part)

    def cut_by_capture(self, end: int) -> bool:
        """Whether bytes up to `end` were on the wire but not kept (rather than never there)."""
        return min(end, self.wirelen) > len(self.frame)

    def captured(self, start: int, end: int) -> int:
        """How many of the bytes [start, end) the capture kept (`end` may be where a header says, past it)."""
        return max(0, min(end, len(self.frame)) - start)

    def add_layer(self, title: str, start: int, end: int, protocol: str | None = None) -> DecodedNode | UnkeptNode:
        """The layer's node; the summary's protocol column is `protocol`, or the title's first word ('' keeps
        the protocol of the layer before)."""
        if protocol != "":
            self.protocol = protocol or title.split("  ")[0]
        if not self.tree:
            return UNKEPT
        node = DecodedNode(title, span=(start, start + self.captured(start, end)))
        self.layers.append(node)
        return node

    def malformed(self, node: DecodedNode | UnkeptNode, why: str, truncated: bool = False) -> None:
        """A layer that parsed but says something untrue (or, `truncated`, that the capture cut it short):
        flagged in the tree and in the summary."""
        problem = f"{'truncated' if truncated else 'malformed'}: {why}"
        node.flag(problem)
        self.problems.append(problem)

    def fail(self, name: str, start: int, end: int, why: str, malformed: bool = True) -> None:
        """A layer that does not parse: one node, 'NAME: malformed: why' (or 'truncated: …')."""
        self.protocol = name
        self.problems.append(why)
        if self.tree:
            kept = self.captured(start, end)
            self.layers.append(DecodedNode(f"{name}: {why}", malformed=malformed,
                                           span=(start, start + kept) if kept else None))

    def short(self, name: str, start: int, end: int, needed: int) -> bool:
        """True, after a node saying what is missing, when `needed` bytes from `start` are not there."""
        have = self.captured(start, end)
        if have >= needed:
            return False
        if self.quoted:
            why = f"truncated: {needed} header bytes needed, the ICMP error quotes {have}"
            # tcpdump's mark of a quote's cut header (after the colon alone where TCP's ports are cut too)
            self.line = f"{'' if name == 'TCP' and have < 4 else ' '}[|{_TCPDUMP_NAMES.get(name, name.lower())}]"
        elif self.cut_by_capture(end):
            why = f"truncated: {needed} header bytes needed, the capture kept {have}"
        else:
            why = f"malformed: {needed} header bytes needed, {have} left"
        self.fail(name, start, end, why, malformed=not self.quoted)  # a quote is short by design
        return True

    def parse(self, name: str, cls: type, start: int, end: int, fields: tuple[Field, ...] = ()):
        """A dpkt header read from the frame at `start`, or None after a node saying what is missing, with
        those of `fields` that the bytes there hold (an ICMP error quotes 8 bytes of TCP: its ports)."""
        if not self.short(name, start, end, cls.__hdr_len__):
            return header_only(cls, self.frame, start)
        if not self.tree:
            return None
        kept = self.captured(start, end)
        partial = header_only(cls, self.frame[start:start + kept] + bytes(cls.__hdr_len__), 0)
        layout = header_layout(cls)
        self.layers[-1].add_fields(partial, start, tuple(spec for spec in fields if layout[spec.name][1] <= kept))
        return None

    def payload(self, start: int, end: int, title: str = "Payload") -> None:
        kept = self.captured(start, end)
        if kept and self.tree:
            missing = f" ({end - start - kept} more not captured)" if end - start > kept else ""
            self.layers.append(DecodedNode(f"{title}  {kept} bytes{missing}", span=(start, start + kept)))

    def trailer(self, start: int, end: int, title: str) -> None:
        kept = self.captured(start, end)
        if kept and self.tree:
            self.trailers.append(DecodedNode(f"{title}  {kept} bytes", span=(start, start + kept)))


def walk(dissection: Dissection, first: Next) -> None:
    step, layers = first, 0
    while step is not None:
        function, start, end = step
        if layers == _MAX_LAYERS:
            dissection.fail(function.layer_name, start, end, f"not decoded: more than {_MAX_LAYERS} layers")
            break
        layers += 1
        try:
            step = function(dissection, start, end)
        except Exception as error:  # a layer this code did not foresee is a fact about the packet, not a crash
            dissection.fail(function.layer_name, start, end, f"malformed: {type(error).__name__}: {error}")
            break
    dissection.layers.extend(dissection.trailers)
    if dissection.uncaptured and not dissection.quoted and dissection.tree:
        dissection.layers.append(DecodedNode(
            f"Not captured: the last {dissection.uncaptured} of {dissection.wirelen} bytes on the wire"))
