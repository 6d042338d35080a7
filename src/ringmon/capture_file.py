"""Reading a pcap or pcapng file (`ringmon capture -r`): whole packets with the interface each came from,
then one RingcoreError line if the file is truncated, corrupt or not a capture at all.

dpkt's readers yield a cut-short last packet as if it were whole, reject a file for a comment that
is not UTF-8, and libpcap's keeps neither the interface of a pcapng packet nor files that mix link
types; ringmon writes both, so every block is read here. A file is hostile input: each field is
range-checked where it is parsed, and one out of range is "corrupt ... at offset N: reason".
"""
from __future__ import annotations

import contextlib
import os
import struct
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

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
PCAPNG_MAJOR_VERSION = 1
PCAPNG_BLOCK_HEADER = struct.Struct("II")  # type, total length
PCAPNG_BLOCK_FRAMING = 12  # type, total length before the body; total length again after it
PCAPNG_OPTION_HEADER = struct.Struct("HH")  # code, length; the value is padded to 4 bytes
PCAPNG_OPT_END = 0
PCAPNG_OPT_IF_NAME = 2
PCAPNG_OPT_IF_TSRESOL = 9
PCAPNG_OPT_IF_TSOFFSET = 14
# The smallest body each block can have (pcapng spec, section 4): a shorter one is corrupt.
PCAPNG_MIN_BODY = {PCAPNG_SHB: 16, PCAPNG_IDB: 8, PCAPNG_EPB: 20, PCAPNG_PB: 20, PCAPNG_SPB: 4}
# Wireshark's limit on a block: anything larger is a corrupt length, and it bounds what one read allocates.
PCAPNG_MAX_BLOCK_BYTES = 16 * 1024 * 1024
# libpcap's MAXIMUM_SNAPLEN: a larger packet record is corrupt; a larger (or zero) file snap length
# means "no limit" and is read as this, as libpcap does.
MAX_SNAPLEN = 262144
# if_tsresol is 10^-n or 2^-n seconds per tick; beyond these a 64-bit tick count cannot span a second.
MAX_TSRESOL_EXPONENT = {10: 19, 2: 63}
LINKTYPE_MASK = 0xFFFF  # pcap's upper linktype bits carry FCS information
NS_PER_S = 1_000_000_000


class CorruptField(Exception):
    """A field out of its range; the reader adds the file and the offset."""


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
            program = compile_program(self.expression, interface.linktype, MAX_SNAPLEN)
            self._programs[interface.linktype] = program
        return program.filter(data) != 0


def _truncated(path: str, whole_packets: int) -> RingcoreError:
    return RingcoreError(f"{path}: truncated: the file ends inside a record, after {whole_packets} whole packets")


def _corrupt(path: str, kind: str, offset: int, reason: object) -> RingcoreError:
    return RingcoreError(f"{path}: corrupt {kind} at offset {offset}: {reason}")


def _snaplen(snaplen: int) -> int:
    """A file's snap length as libpcap reads it: 0 or beyond MAX_SNAPLEN means no limit."""
    return snaplen if 0 < snaplen <= MAX_SNAPLEN else MAX_SNAPLEN


def _read_pcap(path: str, stream: BinaryIO, magic: bytes,
               order: str) -> Iterator[tuple[bytes, SlotMeta, FileInterface]]:
    file_header = struct.Struct(order + PCAP_FILE_HEADER.format)
    record_header = struct.Struct(order + PCAP_RECORD_HEADER.format)
    raw = magic + stream.read(file_header.size - len(magic))
    if len(raw) < file_header.size:
        raise RingcoreError(f"{path}: truncated: the pcap file header is cut short")
    magic_number, _major, _minor, _zone, _sigfigs, snaplen, linktype = file_header.unpack(raw)
    interface = FileInterface(os.path.basename(path), linktype & LINKTYPE_MASK, _snaplen(snaplen),
                              ticks_per_s=NS_PER_S if magic_number == PCAP_MAGIC_NS else 1_000_000)
    position, offset = 0, file_header.size
    while raw := stream.read(record_header.size):
        if len(raw) < record_header.size:
            raise _truncated(path, position)
        seconds, fraction, caplen, wirelen = record_header.unpack(raw)
        if caplen > MAX_SNAPLEN:
            raise _corrupt(path, "pcap", offset, f"a packet record claims {caplen} bytes, more than {MAX_SNAPLEN}")
        data = stream.read(caplen)
        if len(data) < caplen:
            raise _truncated(path, position)
        ts_ns = seconds * NS_PER_S + interface.ts_ns(fraction)
        yield data, SlotMeta(position, caplen, wirelen, ts_ns, 0, 0), interface
        position += 1
        offset += record_header.size + caplen


def _read_pcapng(path: str, stream: BinaryIO, magic: bytes) -> Iterator[tuple[bytes, SlotMeta, FileInterface]]:
    order = "<"
    interfaces: list[FileInterface] = []
    position = offset = 0
    head = magic + stream.read(PCAPNG_BLOCK_HEADER.size - len(magic))
    while head:
        if len(head) < PCAPNG_BLOCK_HEADER.size:
            raise _truncated(path, position)
        try:
            if int.from_bytes(head[:4], "little") == PCAPNG_SHB:
                # A section header says its own byte order, after its length field.
                bom = stream.read(4)
                if len(bom) < 4:
                    raise _truncated(path, position)
                order = _section_order(bom)
                head += bom
                interfaces = []  # interface ids start again in each section
            block_type, block_len = struct.unpack(order + PCAPNG_BLOCK_HEADER.format, head[:8])
            _check_block_length(block_type, block_len)
            block = head + stream.read(block_len - len(head))
            if len(block) < block_len:
                raise _truncated(path, position)
            body = _block_body(block, order)
            packet = None
            if block_type == PCAPNG_SHB:
                _check_section(body, order)
            elif block_type == PCAPNG_IDB:
                interfaces.append(_interface(body, order, len(interfaces)))
            else:
                packet = _packet(body, block_type, order, interfaces)
        except CorruptField as exc:
            raise _corrupt(path, "pcapng", offset, exc) from None
        if packet is not None:
            data, ifid, ticks, wirelen = packet
            interface = interfaces[ifid]
            yield data, SlotMeta(position, len(data), wirelen, interface.ts_ns(ticks), ifid, 0), interface
            position += 1
        offset += block_len
        head = stream.read(PCAPNG_BLOCK_HEADER.size)


def _section_order(bom: bytes) -> str:
    if int.from_bytes(bom, "little") == PCAPNG_BYTE_ORDER_MAGIC:
        return "<"
    if int.from_bytes(bom, "big") == PCAPNG_BYTE_ORDER_MAGIC:
        return ">"
    raise CorruptField(f"bad byte-order magic 0x{bom.hex()}")


def _check_block_length(block_type: int, block_len: int) -> None:
    minimum = PCAPNG_BLOCK_FRAMING + PCAPNG_MIN_BODY.get(block_type, 0)
    if block_len < minimum or block_len % 4 or block_len > PCAPNG_MAX_BLOCK_BYTES:
        raise CorruptField(f"block type 0x{block_type:08x} claims {block_len} bytes "
                           f"(a multiple of 4 from {minimum} to {PCAPNG_MAX_BLOCK_BYTES})")


def _block_body(block: bytes, order: str) -> bytes:
    """The bytes between a block's header and its trailing length, which must repeat the leading one."""
    (leading,) = struct.unpack_from(order + "I", block, 4)
    (trailing,) = struct.unpack_from(order + "I", block, len(block) - 4)
    if trailing != leading:
        raise CorruptField(f"block length {leading} at its start but {trailing} at its end")
    return block[8:-4]


def _check_section(body: bytes, order: str) -> None:
    major, minor = struct.unpack_from(order + "HH", body, 4)
    if major != PCAPNG_MAJOR_VERSION:
        raise CorruptField(f"pcapng version {major}.{minor}, this reader knows {PCAPNG_MAJOR_VERSION}.x")


def _options(body: bytes, order: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) of each option in `body` (an options list), up to opt_endofopt or its end."""
    option_header = struct.Struct(order + PCAPNG_OPTION_HEADER.format)
    at = 0
    while at + option_header.size <= len(body):
        code, length = option_header.unpack_from(body, at)
        if code == PCAPNG_OPT_END:
            return
        value_at = at + option_header.size
        if value_at + length > len(body):
            raise CorruptField(f"option {code} of {length} bytes overruns its block")
        yield code, body[value_at:value_at + length]
        at = value_at + (length + 3) // 4 * 4


def _interface(body: bytes, order: str, number: int) -> FileInterface:
    linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body)
    name, ticks_per_s, offset_s = f"if{number}", 1_000_000, 0
    # Options this reader does not show (comments, descriptions) are skipped whatever their bytes.
    for code, value in _options(body[8:], order):
        if code == PCAPNG_OPT_IF_NAME:
            # hostile text: surrogateescape keeps a byte that is not UTF-8, escape() later shows it as \xNN
            name = value.rstrip(b"\0").decode("utf-8", "surrogateescape")
        elif code == PCAPNG_OPT_IF_TSRESOL:
            ticks_per_s = _ticks_per_s(value)
        elif code == PCAPNG_OPT_IF_TSOFFSET:
            if len(value) != 8:
                raise CorruptField(f"if_tsoffset of interface {number} is {len(value)} bytes, not 8")
            (offset_s,) = struct.unpack(order + "q", value)
    return FileInterface(name, linktype, _snaplen(snaplen), ticks_per_s, offset_s)


def _ticks_per_s(value: bytes) -> int:
    if len(value) != 1:
        raise CorruptField(f"if_tsresol is {len(value)} bytes, not 1")
    # high bit clear: 10^-n seconds per tick; set: 2^-n
    base, exponent = (2 if value[0] & 0x80 else 10), value[0] & 0x7F
    if exponent > MAX_TSRESOL_EXPONENT[base]:
        raise CorruptField(f"if_tsresol {base}^-{exponent} s is finer than {base}^-{MAX_TSRESOL_EXPONENT[base]}")
    return base ** exponent


def _packet(body: bytes, block_type: int, order: str,
            interfaces: list[FileInterface]) -> tuple[bytes, int, int, int] | None:
    """(data, interface id, timestamp ticks, wire length) of a packet block; None for other blocks."""
    if block_type == PCAPNG_EPB:
        ifid, ts_high, ts_low, caplen, wirelen = struct.unpack_from(order + "IIIII", body)
        data_at = 20
    elif block_type == PCAPNG_PB:
        ifid, _drops, ts_high, ts_low, caplen, wirelen = struct.unpack_from(order + "HHIIII", body)
        data_at = 20
    elif block_type == PCAPNG_SPB:
        (wirelen,) = struct.unpack_from(order + "I", body)
        # no captured length: the block holds min(wire length, snap length), padded
        ifid, ts_high, ts_low, data_at = 0, 0, 0, 4
        caplen = min(wirelen, len(body) - data_at, interfaces[0].snaplen if interfaces else MAX_SNAPLEN)
    else:
        return None
    if ifid >= len(interfaces):
        raise CorruptField(f"a packet on interface {ifid}, which no interface block declared")
    if caplen > MAX_SNAPLEN or data_at + caplen > len(body):
        raise CorruptField(f"a packet of {caplen} bytes overruns its {len(body) + PCAPNG_BLOCK_FRAMING}-byte block")
    return body[data_at:data_at + caplen], ifid, (ts_high << 32) | ts_low, wirelen
