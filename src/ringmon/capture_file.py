"""Reading a pcap or pcapng file (`ringmon capture -r`): whole packets with the interface each came from,
then one RingcoreError line if the file is truncated, corrupt or not a capture at all.

dpkt's readers yield a cut-short last packet as if it were whole, and libpcap's keeps neither
the interface of a pcapng packet nor files that mix link types; ringmon writes both, so the
record framing is read here and only the block bodies are left to dpkt.
"""
from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import dpkt
import pcapy

from ringcore import RingcoreError, SlotMeta
from ringcore.filter import compile_program

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAP_FILE_HEADER = struct.Struct("IHHiIII")  # magic, version, thiszone, sigfigs, snaplen, linktype
PCAP_RECORD_HEADER = struct.Struct("IIII")  # seconds, fraction, captured length, wire length
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_IDB = 0x00000001
PCAPNG_PB = 0x00000002  # obsolete packet block, still written by old tools
PCAPNG_SPB = 0x00000003
PCAPNG_EPB = 0x00000006
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D
PCAPNG_BLOCK_HEADER = struct.Struct("II")  # type, total length
PCAPNG_OPT_IF_NAME = 2
PCAPNG_OPT_IF_TSRESOL = 9
PCAPNG_OPT_IF_TSOFFSET = 14
# The largest packet record believed: libpcap's own limit (MAXIMUM_SNAPLEN) and a bit more for a
# pcapng block's framing. Anything larger is a corrupt length, not a packet.
MAX_RECORD_BYTES = 262144 + 4096
LINKTYPE_MASK = 0xFFFF  # pcap's upper linktype bits carry FCS information
NS_PER_S = 1_000_000_000


@dataclass(frozen=True)
class FileInterface:
    """An interface as the file describes it; `name` comes from the file, so it is hostile text."""

    name: str
    linktype: int
    snaplen: int
    ticks_per_s: int = 1_000_000  # timestamps count microseconds unless the file says otherwise
    ts_offset_s: int = 0

    def ts_ns(self, ticks: int) -> int:
        return self.ts_offset_s * NS_PER_S + ticks * NS_PER_S // self.ticks_per_s


def read_packets(path: str) -> Iterator[tuple[bytes, SlotMeta, FileInterface]]:
    """Every whole packet of a pcap or pcapng file ('-': standard input), in file order;
    SlotMeta.position counts them from 0."""
    try:
        stream = contextlib.nullcontext(sys.stdin.buffer) if path == "-" else open(path, "rb")
    except OSError as exc:
        raise RingcoreError(f"{path}: cannot open: {exc.strerror}") from None
    with stream as source:
        # read, not peeked: standard input cannot seek back, so the readers get these bytes too
        magic = source.read(4)
        if len(magic) == 4 and int.from_bytes(magic, "little") in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            yield from _read_pcap(path, source, magic, "<")
        elif len(magic) == 4 and int.from_bytes(magic, "big") in (PCAP_MAGIC_US, PCAP_MAGIC_NS):
            yield from _read_pcap(path, source, magic, ">")
        elif len(magic) == 4 and int.from_bytes(magic, "little") == PCAPNG_SHB:
            yield from _read_pcapng(path, source, magic)
        elif not magic:
            raise RingcoreError(f"{path}: the file is empty, not a capture")
        else:
            raise RingcoreError(f"{path}: not a capture file (neither pcap nor pcapng)")


class FileFilter:
    """A capture filter run in user space on file packets, compiled once per link type by libpcap."""

    def __init__(self, expression: str):
        self.expression = expression
        self._programs: dict[int, pcapy.BPFProgram] = {}

    def accepts(self, data: bytes, interface: FileInterface) -> bool:
        program = self._programs.get(interface.linktype)
        if program is None:
            program = compile_program(self.expression, interface.linktype, interface.snaplen or MAX_RECORD_BYTES)
            self._programs[interface.linktype] = program
        return program.filter(data) != 0


def _truncated(path: str, whole_packets: int) -> RingcoreError:
    return RingcoreError(f"{path}: truncated: the file ends inside a record, after {whole_packets} whole packets")


def _read_pcap(path: str, stream: BinaryIO, magic: bytes,
               order: str) -> Iterator[tuple[bytes, SlotMeta, FileInterface]]:
    file_header = struct.Struct(order + PCAP_FILE_HEADER.format)
    record_header = struct.Struct(order + PCAP_RECORD_HEADER.format)
    raw = magic + stream.read(file_header.size - len(magic))
    if len(raw) < file_header.size:
        raise RingcoreError(f"{path}: truncated: the pcap file header is cut short")
    magic_number, _major, _minor, _zone, _sigfigs, snaplen, linktype = file_header.unpack(raw)
    interface = FileInterface(os.path.basename(path), linktype & LINKTYPE_MASK, snaplen,
                              ticks_per_s=NS_PER_S if magic_number == PCAP_MAGIC_NS else 1_000_000)
    position = 0
    while raw := stream.read(record_header.size):
        if len(raw) < record_header.size:
            raise _truncated(path, position)
        seconds, fraction, caplen, wirelen = record_header.unpack(raw)
        if caplen > MAX_RECORD_BYTES:
            raise RingcoreError(f"{path}: corrupt: packet {position + 1} claims {caplen} bytes")
        data = stream.read(caplen)
        if len(data) < caplen:
            raise _truncated(path, position)
        ts_ns = seconds * NS_PER_S + interface.ts_ns(fraction)
        yield data, SlotMeta(position, caplen, wirelen, ts_ns, 0, 0), interface
        position += 1


def _read_pcapng(path: str, stream: BinaryIO, magic: bytes) -> Iterator[tuple[bytes, SlotMeta, FileInterface]]:
    little_endian = True
    interfaces: list[FileInterface] = []
    position = 0
    head = magic + stream.read(PCAPNG_BLOCK_HEADER.size - len(magic))
    while head:
        if len(head) < PCAPNG_BLOCK_HEADER.size:
            raise _truncated(path, position)
        if int.from_bytes(head[:4], "little") == PCAPNG_SHB:
            # A section header says its own byte order, after its length field.
            bom = stream.read(4)
            if len(bom) < 4:
                raise _truncated(path, position)
            little_endian = int.from_bytes(bom, "little") == PCAPNG_BYTE_ORDER_MAGIC
            if not little_endian and int.from_bytes(bom, "big") != PCAPNG_BYTE_ORDER_MAGIC:
                raise RingcoreError(f"{path}: corrupt: bad pcapng byte-order magic")
            head += bom
            interfaces = []  # interface ids start again in each section
        order = "<" if little_endian else ">"
        block_type, block_len = struct.unpack(order + PCAPNG_BLOCK_HEADER.format, head[:8])
        if block_len < 12 or block_len % 4 or block_len > MAX_RECORD_BYTES:
            raise RingcoreError(f"{path}: corrupt: a pcapng block claims {block_len} bytes")
        block = head + stream.read(block_len - len(head))
        if len(block) < block_len:
            raise _truncated(path, position)
        try:
            if block_type == PCAPNG_IDB:
                interfaces.append(_interface(block, little_endian, len(interfaces)))
                packet = None
            else:
                packet = _packet(block, block_type, little_endian, interfaces)
        except (dpkt.Error, struct.error, IndexError, ValueError) as exc:
            raise RingcoreError(f"{path}: corrupt pcapng block after {position} packets: {exc or type(exc).__name__}") from None
        if packet is not None:
            data, ifid, ticks, wirelen = packet
            interface = interfaces[ifid]
            yield data, SlotMeta(position, len(data), wirelen, interface.ts_ns(ticks), ifid, 0), interface
            position += 1
        head = stream.read(PCAPNG_BLOCK_HEADER.size)


def _interface(block: bytes, little_endian: bool, number: int) -> FileInterface:
    idb = (dpkt.pcapng.InterfaceDescriptionBlockLE if little_endian else dpkt.pcapng.InterfaceDescriptionBlock)(block)
    name, ticks_per_s, offset_s = f"if{number}", 1_000_000, 0
    for option in idb.opts:
        if option.code == PCAPNG_OPT_IF_NAME:
            name = option.data.rstrip(b"\0").decode("utf-8", "replace")
        elif option.code == PCAPNG_OPT_IF_TSRESOL:
            resolution = option.data[0]
            # high bit clear: 10^-n seconds per tick; set: 2^-n
            base = 2 if resolution & 0x80 else 10
            ticks_per_s = base ** (resolution & 0x7F)
        elif option.code == PCAPNG_OPT_IF_TSOFFSET:
            offset_s = struct.unpack("<q" if little_endian else ">q", option.data[:8])[0]
    return FileInterface(name, idb.linktype, idb.snaplen, ticks_per_s, offset_s)


def _packet(block: bytes, block_type: int, little_endian: bool,
            interfaces: list[FileInterface]) -> tuple[bytes, int, int, int] | None:
    """(data, interface id, timestamp ticks, wire length) of a packet block; None for other blocks."""
    order = "<" if little_endian else ">"
    if block_type == PCAPNG_EPB:
        ifid, ts_high, ts_low, caplen, wirelen = struct.unpack_from(order + "IIIII", block, 8)
        data_at = 28
    elif block_type == PCAPNG_PB:
        ifid, _drops, ts_high, ts_low, caplen, wirelen = struct.unpack_from(order + "HHIIII", block, 8)
        data_at = 28
    elif block_type == PCAPNG_SPB:
        (wirelen,) = struct.unpack_from(order + "I", block, 8)
        # no captured length: the block holds min(wire length, snap length), padded
        ifid, ts_high, ts_low, data_at = 0, 0, 0, 12
        caplen = min(wirelen, len(block) - 16)
        if interfaces and interfaces[0].snaplen:
            caplen = min(caplen, interfaces[0].snaplen)
    else:
        return None
    if ifid >= len(interfaces):
        raise ValueError(f"packet on interface {ifid}, which no interface block declared")
    if data_at + caplen > len(block) - 4:
        raise ValueError(f"packet of {caplen} bytes overruns its {len(block)}-byte block")
    return block[data_at:data_at + caplen], ifid, (ts_high << 32) | ts_low, wirelen
