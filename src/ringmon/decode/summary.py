"""One tcpdump-like summary per packet (time, interface, protocol, addresses and ports, info, length), the
columns of the packet list and the lines `ringmon capture` prints; taken from the decode tree's own walk.
Packet bytes are hostile, so every character that is not printable ASCII is escaped."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ringcore.filter import LINKTYPE_ETHERNET

from ..formatting import escape, wall_clock
from . import dissect


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
    found = dissect(data, linktype, max(meta.wirelen, len(data)), tree=False)
    info = found.summary_info
    if meta.caplen < meta.wirelen:
        info = f"{info} [captured {meta.caplen} of {meta.wirelen}]".lstrip()
    return PacketSummary(stamp, escape(ifname), escape(found.protocol), escape(found.source),
                         escape(found.destination), escape(info), meta.wirelen)


def packet_line(data: bytes, meta: PacketMeta, ifname: str, linktype: int = LINKTYPE_ETHERNET) -> str:
    return str(summarize(data, meta, ifname, linktype))
