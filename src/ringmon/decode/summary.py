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

    def __str__(self) -> str:
        route = f" {self.source} > {self.destination}" if self.source else ""
        info = f": {self.info}" if self.info else ""
        return f"{self.time} {self.interface} {self.protocol}{route}{info}, length {self.length}"


def summarize(data: bytes, meta: PacketMeta, ifname: str, linktype: int = LINKTYPE_ETHERNET) -> PacketSummary:
    """The summary of one packet as captured on `ifname` (a pure function: same input, same summary)."""
    found = dissect(data, linktype, max(meta.wirelen, len(data)), tree=False)
    info = found.summary_info
    if meta.caplen < meta.wirelen:
        info = f"{info} [captured {meta.caplen} of {meta.wirelen}]".lstrip()
    return PacketSummary(meta.ts_ns, escape(ifname), escape(found.protocol), escape(found.source),
                         escape(found.destination), escape(info), meta.wirelen, getattr(meta, "no_time", False))


def packet_line(data: bytes, meta: PacketMeta, ifname: str, linktype: int = LINKTYPE_ETHERNET) -> str:
    return str(summarize(data, meta, ifname, linktype))
