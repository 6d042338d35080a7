"""pcap and pcapng bytes built field by field, so a test (or a fuzzer) can write any value in any field,
including the ones no well-behaved writer would: the reader's hostile input."""
from __future__ import annotations

import struct

LINKTYPE_ETHERNET = 1
SHB, IDB, SPB, EPB = 0x0A0D0D0A, 1, 3, 6
OPT_END, OPT_COMMENT, OPT_IF_NAME, OPT_IF_TSRESOL, OPT_IF_TSOFFSET = 0, 1, 2, 9, 14


def padded(value: bytes) -> bytes:
    return value + b"\0" * (-len(value) % 4)


def option(code: int, value: bytes, order: str = "<") -> bytes:
    return struct.pack(order + "HH", code, len(value)) + padded(value)


def options(pairs: list[tuple[int, bytes]], order: str = "<") -> bytes:
    if not pairs:
        return b""
    return b"".join(option(code, value, order) for code, value in pairs) + option(OPT_END, b"", order)


def block(block_type: int, body: bytes, order: str = "<", total_len: int | None = None,
          trailing_len: int | None = None) -> bytes:
    """One pcapng block; `total_len`/`trailing_len` override the lengths it declares (to lie)."""
    length = 12 + len(padded(body))
    return (struct.pack(order + "II", block_type, length if total_len is None else total_len) + padded(body)
            + struct.pack(order + "I", length if trailing_len is None else trailing_len))


def section_header(order: str = "<", major: int = 1) -> bytes:
    return block(SHB, struct.pack(order + "IHHq", 0x1A2B3C4D, major, 0, -1), order)


def interface(pairs: list[tuple[int, bytes]] = (), snaplen: int = 65535, linktype: int = LINKTYPE_ETHERNET,
              order: str = "<") -> bytes:
    return block(IDB, struct.pack(order + "HHI", linktype, 0, snaplen) + options(list(pairs), order), order)


def enhanced_packet(frame: bytes, ticks: int = 0, ifid: int = 0, caplen: int | None = None,
                    wirelen: int | None = None, order: str = "<") -> bytes:
    caplen = len(frame) if caplen is None else caplen
    wirelen = len(frame) if wirelen is None else wirelen
    return block(EPB, struct.pack(order + "IIIII", ifid, ticks >> 32, ticks & 0xFFFFFFFF, caplen, wirelen) + frame,
                 order)


def simple_packet(frame: bytes, wirelen: int | None = None, order: str = "<") -> bytes:
    return block(SPB, struct.pack(order + "I", len(frame) if wirelen is None else wirelen) + frame, order)


def pcapng(frames: list[bytes], interface_options: list[tuple[int, bytes]] = (), snaplen: int = 65535) -> bytes:
    """A well-formed file: one section, one interface, one enhanced block per frame (tick = its index)."""
    return (section_header() + interface(list(interface_options), snaplen)
            + b"".join(enhanced_packet(frame, ticks=tick) for tick, frame in enumerate(frames)))


def pcap(frames: list[bytes], snaplen: int = 65535, linktype: int = LINKTYPE_ETHERNET, seconds: int = 1_700_000_000,
         caplens: dict[int, int] | None = None) -> bytes:
    """A classic microsecond pcap; `caplens` overrides the captured length a record declares, by index."""
    records = [struct.pack("<IIII", seconds, index, (caplens or {}).get(index, len(frame)), len(frame)) + frame
               for index, frame in enumerate(frames)]
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype) + b"".join(records)
