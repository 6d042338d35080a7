"""The packet store's Python side: packets read back from a store in batches, by number.

A store is an index (32 bytes a packet, in C) over bytes that stay where they are: a capture file mapped
read-only and indexed by a C thread (`PacketStore.open_file`), or a live capture's spool, appended to by
the drains. Every call copies out of C under the store's lock, so what Python holds stays valid whatever
the C side appends or evicts afterwards.
"""
from __future__ import annotations

import ctypes
import errno
import os
import struct
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

from . import _binding as rc
from .api import DEFAULT_SPOOL_PACKETS, CaptureFileError, FilterError, RingcoreError
from .capture import FORMATS, U32_MAX, _check, _Native, in_range

U64_MAX = (1 << 64) - 1
SPOOL_MIN_BYTES = rc.STORE_SPOOL_MIN_BYTES
SPOOL_MIN_PACKETS = rc.STORE_SPOOL_MIN_PACKETS
MAX_SPOOL_PACKETS = rc.STORE_SPOOL_MAX_PACKETS
MAX_SPOOL_BYTES = (1 << 62) - 1  # the C side's bound (positions add a lap to an offset)
MAX_BATCH = 4096  # packets per packets() call: what one screen or one find step needs, bounded
WAIT_SLICE_MS = 100  # a wait returns to Python this often, so Ctrl-C is seen
FILTER_CHUNK = 65536  # packets a display filter examines per step: progress and cancel come this often
SELECTION_BATCH = 4096  # numbers handed to C per call when a selection is built from Python
COMMENT_MAX = 1 << 16
_NOT_ASCENDING = "packet numbers for a selection must ascend, each once"  # bytes of a packet's comments read at first; a longer one is read again whole
_ENTRY = struct.Struct("=QqIIHHI")  # struct rc_store_entry, 32 bytes: data_offset, ts_ns, caplen, wirelen, interface, flags,
# block_back
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


class StoredPacket(NamedTuple):
    """One packet, copied out of the store. `number` counts from 0 in file or arrival order. A named tuple, not a
    dataclass: a list's screen or a find's step makes thousands, and a tuple is made several times faster."""

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

    @property
    def no_time(self) -> bool:
        """The file gives this packet no time (a pcapng simple packet block): ts_ns is 0, not a time to show."""
        return bool(self.flags & rc.RC_STORED_NO_TIME)


@dataclass(frozen=True)
class ExportResult:
    """What an exported file holds: packets, and its size in bytes."""

    packets: int
    bytes: int


class PacketSelection:
    """A sorted set of packet numbers of one store (each once), held in C as an array, not as Python ints:
    what a display filter matched, or what a person chose. Safe to read while a filter adds to it."""

    def __init__(self) -> None:
        handle = rc.lib.rc_selection_new()
        if not handle:
            raise MemoryError("no memory for a packet selection")
        self.handle = handle
        self._free = weakref.finalize(self, rc.lib.rc_selection_free, handle)

    @classmethod
    def from_numbers(cls, numbers: Iterable[int | range]) -> PacketSelection:
        """From packet numbers and ranges (step 1) in ascending order, each number once."""
        selection = cls()
        batch: list[int] = []
        for item in numbers:
            if isinstance(item, range):
                if item.step != 1:
                    raise RingcoreError("packet ranges for a selection go one by one (step 1)")
                selection.extend(batch)
                batch = []
                if item and rc.lib.rc_selection_add_range(selection.handle, in_range("packet number", item.start, 0, U64_MAX),
                                                          in_range("packet number", item.stop, 0, U64_MAX)) < 0:
                    raise RingcoreError(_NOT_ASCENDING)
                continue
            batch.append(item)
            if len(batch) == SELECTION_BATCH:
                selection.extend(batch)
                batch = []
        selection.extend(batch)
        return selection

    @classmethod
    def from_bitmap(cls, bitmap: bytes | bytearray) -> PacketSelection:
        """The numbers whose bits are set in `bitmap` (packet number n is bit n % 8 of byte n // 8), found in C."""
        selection = cls()
        if rc.lib.rc_selection_add_bits(selection.handle, bytes(bitmap), len(bitmap)) < 0:
            raise MemoryError("no memory for a packet selection")
        return selection

    def extend(self, numbers: list[int]) -> None:
        """Append numbers, ascending and each above the last held."""
        if not numbers:
            return
        array = (ctypes.c_uint64 * len(numbers))(*(in_range("packet number", n, 0, U64_MAX) for n in numbers))
        code = rc.lib.rc_selection_add(self.handle, array, len(numbers))
        if code == -errno.EINVAL:
            raise RingcoreError(_NOT_ASCENDING)
        if code < 0:
            raise MemoryError("no memory for a packet selection")

    def __len__(self) -> int:
        return rc.lib.rc_selection_count(self.handle)

    def numbers(self, start_index: int, count: int) -> list[int]:
        """The selected numbers at positions start_index .. start_index+count-1 (fewer at the end)."""
        start_index = in_range("selection position", start_index, 0, U64_MAX)
        count = in_range("number count", count, 0, MAX_BATCH)
        out = (ctypes.c_uint64 * count)()
        copied = rc.lib.rc_selection_numbers(self.handle, start_index, out, count) if count else 0
        return out[:copied]

    def first(self, count: int) -> PacketSelection:
        """A new selection of the first `count` numbers of this one."""
        count = min(in_range("number count", count, 0, U64_MAX), len(self))
        return PacketSelection.from_numbers(number for start in range(0, count, MAX_BATCH)
                                            for number in self.numbers(start, min(MAX_BATCH, count - start)))

    def position(self, number: int) -> int:
        """The position of the first selected number >= number (len(self) when there is none)."""
        return rc.lib.rc_selection_position(self.handle, in_range("packet number", number, 0, U64_MAX))

    def set_bits(self, bitmap: bytearray, start_index: int, stop_index: int) -> int:
        """Set in `bitmap` (packet number n is bit n % 8 of byte n // 8) the bits of the numbers at positions
        start_index .. stop_index-1, in C (those beyond the bitmap's end are left out); how many it set."""
        start_index = in_range("selection position", start_index, 0, U64_MAX)
        stop_index = in_range("selection position", stop_index, 0, U64_MAX)
        if not bitmap:
            return 0
        view = (ctypes.c_char * len(bitmap)).from_buffer(bitmap)  # the bitmap cannot be resized while it lives
        try:
            return rc.lib.rc_selection_set_bits(self.handle, start_index, stop_index, view, len(bitmap))
        finally:
            del view

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, int) or not 0 <= number <= U64_MAX:
            return False
        found = self.numbers(self.position(number), 1)
        return bool(found) and found[0] == number


class DisplayFilter:
    """A display filter over a store. run() finds matches among the packets not examined yet, one chunk a step,
    yielding how far it got (the next packet number to examine); stopping the iteration cancels, and on a
    live store a later run() examines only the packets that came since. `selection` holds the matches so far."""

    language = "bpf"

    def __init__(self, store: PacketStore, expression: str) -> None:
        self.store = store
        self.expression = expression
        self.selection = PacketSelection()

    def run(self, chunk: int = FILTER_CHUNK) -> Iterator[int]:
        raise NotImplementedError


class BpfDisplayFilter(DisplayFilter):
    """A tcpdump expression run by libpcap in C over the store (PacketStore.compile_filter)."""

    def __init__(self, store: PacketStore, expression: str, handle: int) -> None:
        super().__init__(store, expression)
        self._handle = handle
        self._free = weakref.finalize(self, rc.lib.rc_store_filter_free, handle)

    def run(self, chunk: int = FILTER_CHUNK) -> Iterator[int]:
        chunk = in_range("filter chunk", chunk, 1, U64_MAX)
        stalled = False
        while True:
            self.store.handle  # noqa: B018 — raises once the store is closed: C would read freed memory
            examined = rc.lib.rc_store_filter_run(self._handle, self.selection.handle, chunk)
            if examined < 0:
                raise RingcoreError(f"filter '{self.expression}': {os.strerror(-examined)}")
            if examined == 0:
                progress = self.store.progress()
                if progress.format == "live" or progress.done:
                    if stalled or rc.lib.rc_store_filter_examined(self._handle) >= progress.count:
                        return
                    stalled = True  # an interface declared meanwhile: its program is compiled on the next step
                    continue
                self.store.wait(WAIT_SLICE_MS / 1000)  # a file still being indexed: its next packets
            stalled = False
            yield rc.lib.rc_store_filter_examined(self._handle)


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
    def create_spool(cls, spool_bytes: int, directory: str | None = None,
                     spool_packets: int = DEFAULT_SPOOL_PACKETS) -> PacketStore:
        """A live capture's store: a spool of at most spool_bytes, indexed by at most spool_packets (32 bytes of
        memory each), in a new private directory under `directory` ($TMPDIR or /tmp by default), removed by
        close(); the oldest packets are evicted when either is full."""
        spool_bytes = in_range("spool size", spool_bytes, SPOOL_MIN_BYTES, MAX_SPOOL_BYTES, " bytes")
        spool_packets = in_range("spool index", spool_packets, SPOOL_MIN_PACKETS, MAX_SPOOL_PACKETS, " packets")
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        code = rc.lib.rc_store_create_spool(os.fsencode(directory) if directory else None, spool_bytes,
                                            spool_packets, ctypes.byref(handle), buf, len(buf))
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

    def compile_filter(self, expression: str, language: str = "bpf") -> DisplayFilter:
        """A display filter over this store, run with DisplayFilter.run(). "bpf": a tcpdump expression compiled
        by libpcap for each link type in the store (a bad one raises FilterError with libpcap's message);
        "wireshark": a Wireshark display filter run by tshark once over the packets (FilterError when tshark is
        missing or refuses the expression)."""
        if language == "bpf":
            handle = ctypes.c_void_p()
            buf = rc.errbuf()
            code = rc.lib.rc_store_filter_new(self.handle, expression.encode("utf-8", "surrogateescape"),
                                              ctypes.byref(handle), buf, len(buf))
            if code < 0:
                if code == -errno.EINVAL:
                    raise FilterError(f"filter '{expression}' does not compile: {rc.message(buf)}")
                _check(code, buf, "compiling the filter")
            return BpfDisplayFilter(self, expression, handle.value)
        if language == "wireshark":
            from .wireshark_filter import WiresharkDisplayFilter  # tshark is only looked for when asked
            return WiresharkDisplayFilter(self, expression)
        raise RingcoreError(f"unknown filter language '{language}' (choose bpf or wireshark)")

    def export(self, path: str, fmt: str = "pcapng", numbers: PacketSelection | Iterable[int | range] | None = None,
               progress: Callable[[int, int], object] | None = None, keep_partial: bool = False) -> ExportResult:
        """Write packets to `path` ("-": standard output) through the C writer, in the store's order: all those
        stored now (numbers None), a PacketSelection's, or those of a sorted iterable of numbers and ranges
        (numbers not stored are left out). pcapng keeps each interface's block (its link type) and ns
        timestamps. An exclusive 0600 temp file is renamed into place once complete: on any error (a full disk)
        there is nothing under the name (keep_partial: the whole packets written stay, as a capture file's), and
        RingcoreError says why in one line. progress(done, total) is called from the exporting thread after each
        chunk; an exception it raises cancels the export."""
        if fmt not in FORMATS:
            raise RingcoreError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
        selection = numbers if isinstance(numbers, PacketSelection) or numbers is None else \
            PacketSelection.from_numbers(numbers)
        failure: list[BaseException] = []

        def report(_ctx: int | None, done: int, total: int) -> int:
            try:
                progress(done, total)
            except BaseException as exc:  # noqa: BLE001 — carried out of the C thread, raised below
                failure.append(exc)
                return 1
            return 0

        callback = rc.ProgressFn(report) if progress else ctypes.cast(None, rc.ProgressFn)
        packets, size = ctypes.c_uint64(), ctypes.c_uint64()
        buf = rc.errbuf()
        code = rc.lib.rc_store_save(self.handle, os.fsencode(path), FORMATS[fmt],
                                    rc.RC_SAVE_KEEP_PARTIAL if keep_partial else 0, selection.handle if selection is not None else None, callback, None,
                                    ctypes.byref(packets), ctypes.byref(size), buf, len(buf))
        if failure:
            raise failure[0]
        _check(code, buf, f"{path}: exporting the stored packets")
        return ExportResult(packets.value, size.value)

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
        held = rc.lib.rc_store_entries(self.handle, start, entries, count) if count else 0
        if not held:
            return []
        # the entries first, for the room their bytes need; then entries and bytes in one call (what is still
        # held then: a number's entry never changes, so the first copy's fields stand for the second's)
        fields = list(_ENTRY.iter_unpack(memoryview(entries).cast("B")[:held * _ENTRY.size]))
        room = sum(entry[2] for entry in fields)
        buffer = ctypes.create_string_buffer(room or 1)  # never NULL, even for packets of no bytes
        copied = rc.lib.rc_store_read_batch(self.handle, start, held, entries, buffer, room)
        packets = []
        offset = 0
        data = buffer.raw
        for number, (_, ts_ns, caplen, wirelen, interface, flags, _) in enumerate(fields[:max(copied, 0)], start):
            packets.append(StoredPacket(number, ts_ns, caplen, wirelen, interface, flags, data[offset:offset + caplen]))
            offset += caplen
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
