"""The packet store's Python side: packets read back from a store in batches, by number.

A store is an index (32 bytes a packet, in C) over bytes that stay where they are: a capture file mapped
read-only and indexed by a C thread (`PacketStore.open_file`), or a live capture's spool, appended to by
the drains. Every call copies out of C under the store's lock, so what Python holds stays valid whatever
the C side appends or evicts afterwards.
"""
from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass

from . import _binding as rc
from .api import CaptureFileError, RingcoreError
from .capture import FORMATS, U32_MAX, _check, _Native, in_range

U64_MAX = (1 << 64) - 1
SPOOL_MIN_BYTES = rc.STORE_SPOOL_MIN_BYTES
MAX_SPOOL_BYTES = (1 << 62) - 1  # the C side's bound (positions add a lap to an offset)
MAX_BATCH = 4096  # packets per packets() call: what one screen or one find step needs, bounded
WAIT_SLICE_MS = 100  # a wait returns to Python this often, so Ctrl-C is seen
COMMENT_MAX = 1 << 16  # bytes of a packet's comments read at first; a longer one is read again whole
FORMAT_NAMES = {rc.RC_STORE_SPOOL: "live", rc.RC_STORE_PCAP_US: "pcap", rc.RC_STORE_PCAP_NS: "pcap-ns",
                rc.RC_STORE_PCAPNG: "pcapng"}


@dataclass(frozen=True)
class StoreInterface:
    """An interface of the store. `name` comes from the file (or is the interface key, live): hostile text."""

    name: str
    linktype: int
    snaplen: int


@dataclass(frozen=True)
class StoreProgress:
    """One consistent reading of the store's state."""

    first: int  # the oldest packet number still stored: how many were evicted
    count: int  # packets stored so far, evicted ones included; numbers first .. count-1 are readable
    bytes_done: int  # file: bytes indexed; live: bytes appended in all
    bytes_total: int  # file: its size; live: the spool's size limit
    bytes_held: int  # captured bytes of the packets still stored
    format: str  # "pcap", "pcap-ns", "pcapng" or "live"
    done: bool  # file: indexing ended (the whole file, or at `error`); a live store is never done
    error: str | None  # file: why indexing stopped early, naming the offset; live: the last write error, counting
    # the packets not stored (one line either way)
    error_offset: int
    interfaces: int

    @property
    def evicted(self) -> int:
        return self.first


@dataclass(frozen=True)
class StoredPacket:
    """One packet, copied out of the store. `number` counts from 0 in file or arrival order."""

    number: int
    ts_ns: int
    caplen: int
    wirelen: int
    interface: int  # an index into PacketStore.interfaces()
    flags: int
    data: bytes

    @property
    def truncated(self) -> bool:
        return bool(self.flags & rc.RC_STORED_TRUNCATED)

    @property
    def outgoing(self) -> bool:
        return bool(self.flags & rc.RC_STORED_OUTGOING)

    @property
    def has_comment(self) -> bool:
        return bool(self.flags & rc.RC_STORED_COMMENT)

    @property
    def ts_clamped(self) -> bool:
        """The file's timestamp lies beyond what 64-bit nanoseconds hold (1677-2262): ts_ns is the nearest end."""
        return bool(self.flags & rc.RC_STORED_TS_CLAMPED)


class PacketStore(_Native):
    _kind = "packet store"

    def __init__(self, handle: int, path: str | None = None) -> None:
        self._handle = handle
        self.path = path  # the file indexed (None: a live spool)
        self._interfaces: list[StoreInterface] = []

    @classmethod
    def open_file(cls, path: str) -> PacketStore:
        """A pcap or pcapng file ('-': standard input), mapped and indexed in place by a C thread: packets are
        readable as they are indexed (see progress() and wait()). A file that cannot be opened, is empty or
        is not a capture raises CaptureFileError (one line naming the file)."""
        handle = ctypes.c_void_p()
        err = rc.errbuf()
        code = rc.lib.rc_store_open_file(os.fsencode(path), ctypes.byref(handle), err, len(err))
        if code < 0:
            raise CaptureFileError(rc.message(err) or f"{path}: cannot open: {os.strerror(-code)}")
        return cls(handle.value, path)

    def wait(self, timeout_s: float | None = None) -> StoreProgress:
        """Wait until indexing ended or timeout_s passed; the progress then. A live store never ends, so
        without a timeout this waits for ever."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left_ms = WAIT_SLICE_MS if deadline is None else int(max(0.0, deadline - time.monotonic()) * 1000)
            if rc.lib.rc_store_wait(self.handle, min(left_ms, WAIT_SLICE_MS)) or (
                    deadline is not None and time.monotonic() >= deadline):
                return self.progress()

    def comment(self, number: int) -> str | None:
        """Packet `number`'s comments (pcapng opt_comment, several joined by newlines), or None. Hostile text,
        returned raw (bytes that are not UTF-8 as surrogates): the UI escapes it."""
        number = in_range("packet number", number, 0, U64_MAX)
        cap = COMMENT_MAX
        while True:
            buf = ctypes.create_string_buffer(cap)
            length = rc.lib.rc_store_comment(self.handle, number, buf, cap)
            if length <= 0:
                return None
            if length <= cap:
                return buf.raw[:length].decode("utf-8", "surrogateescape")
            cap = length

    @classmethod
    def create_spool(cls, spool_bytes: int, directory: str | None = None) -> PacketStore:
        """A live capture's store: a spool of at most spool_bytes in a new private directory under `directory`
        ($TMPDIR or /tmp by default), removed by close(); the oldest packets are evicted when it is full."""
        spool_bytes = in_range("spool size", spool_bytes, SPOOL_MIN_BYTES, MAX_SPOOL_BYTES, " bytes")
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        code = rc.lib.rc_store_create_spool(os.fsencode(directory) if directory else None, spool_bytes,
                                            ctypes.byref(handle), buf, len(buf))
        _check(code, buf, "creating the packet spool")
        return cls(handle.value)

    @property
    def spool_dir(self) -> str | None:
        """The private directory of a live store's spool (removed by close), None for a file's store."""
        buf = ctypes.create_string_buffer(4096)
        if rc.lib.rc_store_spool_dir(self.handle, buf, len(buf)) < 0:
            return None
        return os.fsdecode(buf.value)

    def give_spool_to(self, uid: int, gid: int) -> None:
        """Give the spool's directory and file to uid:gid, so a process that becomes that user can still remove
        them at close."""
        spool_dir = self.spool_dir
        if spool_dir is None:
            raise RingcoreError("this store has no spool")
        for path in (spool_dir, *(os.path.join(spool_dir, name) for name in os.listdir(spool_dir))):
            os.chown(path, uid, gid, follow_symlinks=False)

    def add_interface(self, name: str, linktype: int, snaplen: int) -> int:
        """Declare a live interface (named by its interface key); returns its number for a Drain."""
        number = rc.lib.rc_store_add_interface(self.handle, os.fsencode(name), in_range("link type", linktype, 0, U32_MAX),
                                               in_range("snap length", snaplen, 0, U32_MAX))
        if number < 0:
            raise RingcoreError(f"adding {name} to the packet store failed: {os.strerror(-number)}")
        return number

    def save(self, path: str, fmt: str = "pcapng") -> int:
        """Write the packets still held to `path` (an exclusive 0600 temp file renamed into place once whole);
        returns how many it holds."""
        if fmt not in FORMATS:
            raise RingcoreError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
        saved = ctypes.c_uint64()
        buf = rc.errbuf()
        code = rc.lib.rc_store_save(self.handle, os.fsencode(path), FORMATS[fmt], ctypes.byref(saved), buf, len(buf))
        _check(code, buf, f"{path}: saving the stored packets")
        return saved.value

    def progress(self) -> StoreProgress:
        info = rc.StoreInfo()
        rc.lib.rc_store_info(self.handle, ctypes.byref(info))
        error = info.error_message.decode("utf-8", "replace") if info.error else None
        return StoreProgress(info.first, info.count, info.bytes_done, info.bytes_total, info.bytes_held,
                             FORMAT_NAMES.get(info.format, "?"), bool(info.done), error, info.error_offset,
                             info.interface_count)

    def interfaces(self) -> list[StoreInterface]:
        """Every interface declared so far (a file's interface blocks may come late: ask again)."""
        info = rc.StoreInterfaceInfo()
        while rc.lib.rc_store_interface(self.handle, len(self._interfaces), ctypes.byref(info)) == 0:
            name = info.name.decode("utf-8", "surrogateescape")
            self._interfaces.append(StoreInterface(name, info.linktype, info.snaplen))
        return list(self._interfaces)

    def packets(self, start: int, count: int) -> list[StoredPacket]:
        """The packets numbered start .. start+count-1 that are stored (fewer at the end, none when start is
        evicted or beyond the last); at most MAX_BATCH per call."""
        start = in_range("first packet", start, 0, U64_MAX)
        count = in_range("packet count", count, 0, MAX_BATCH)
        entries = (rc.StoreEntry * count)()
        copied = rc.lib.rc_store_entries(self.handle, start, entries, count) if count else 0
        packets = []
        for number, entry in enumerate(entries[:copied], start):
            data = ctypes.create_string_buffer(entry.caplen)
            if rc.lib.rc_store_read(self.handle, number, data, entry.caplen) < 0:
                break  # evicted since the entries were copied: the rest are too
            packets.append(StoredPacket(number, entry.ts_ns, entry.caplen, entry.wirelen, entry.interface,
                                        entry.flags, data.raw))
        return packets

    def packet(self, number: int) -> StoredPacket | None:
        found = self.packets(number, 1)
        return found[0] if found else None

    def close(self) -> None:
        handle = self._let_go()
        if handle:
            rc.lib.rc_store_close(handle)

    def __enter__(self) -> PacketStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
