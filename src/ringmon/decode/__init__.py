"""Decodes a captured frame into a display tree, one node per protocol layer and per field, each knowing its
bytes in the frame; the one-line summary of a packet comes from the same walk (summary.py).

Headers are read with dpkt's header tables; malformed data becomes a node that says so, no error escapes."""
from __future__ import annotations

from ringcore.filter import LINKTYPE_ETHERNET

from .dissect import Dissection, walk
from .link import FIRST_LAYERS
from .tree import DecodedNode

__all__ = ["DecodedNode", "Dissection", "decode_frame", "dissect"]


def dissect(frame: bytes | memoryview, linktype: int = LINKTYPE_ETHERNET, wirelen: int | None = None,
            tree: bool = True) -> Dissection:
    """The layers and summary columns of one frame of a link type (pcap LINKTYPE_ value); `wirelen` is its
    length on the wire when the capture kept less, so a length field is only called wrong when the wire did
    not carry the bytes, and what is missing is said. Without `tree`, the summary columns only: the same
    walk, several times faster."""
    frame = bytes(frame)  # a memoryview of a ring or a store works too: one copy, of the packet looked at
    dissection = Dissection(frame, len(frame) if wirelen is None else wirelen, tree=tree)
    first = FIRST_LAYERS.get(linktype)
    if first is None:
        dissection.protocol = f"linktype {linktype}"
        dissection.payload(0, len(frame), f"Link type {linktype}, not decoded:")
        walk(dissection, None)
    else:
        # the frame's layers span what the wire carried: a header's length is checked against that, and
        # what lies past the captured bytes is said to be missing, never read
        walk(dissection, (first, 0, dissection.wirelen))
    return dissection


def decode_frame(frame: bytes | memoryview, wirelen: int | None = None, linktype: int = LINKTYPE_ETHERNET) -> list[DecodedNode]:
    """The decode tree of one frame, outermost layer first."""
    return dissect(frame, linktype, wirelen).layers
