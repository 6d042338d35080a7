"""Python handles on the C objects: a slot Ring with its batch and rx_poll API, a Capture, a Writer, a Drain."""
from __future__ import annotations

import ctypes
import errno
import ipaddress
import operator
import os
import struct
import time
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import _binding as rc
from .api import (
    DEFAULT_RING_PAGES,
    DEFAULT_SLOT_SIZE,
    DEFAULT_SPIN_US,
    CaptureOptions,
    Direction,
    DropPolicy,
    OutOfRangeError,
    PrivilegeError,
    RingcoreError,
    TALKERS_SPANS_S,
    RingMode,
    Talker,
    TopTalkers,
    WaitStrategy,
)
from .filter import DLT_FOR_LINKTYPE, compile_live_filter
from .interfaces import linktype_name
from .netns import in_netns

if TYPE_CHECKING:
    from .store import PacketStore

MIN_SLOT_SIZE = 64
MAX_SLOT_SIZE = 65536
MAX_RING_PAGES = 1 << 22  # 16 GiB of 4 KiB pages: rc_ring_slots_for's bound
MAX_SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN
MAX_POLL_INTERVAL_US = rc.RC_POLL_INTERVAL_MAX_US
U32_MAX = (1 << 32) - 1
I32_MIN, I32_MAX = -(1 << 31), (1 << 31) - 1
U64_MAX = (1 << 64) - 1
# Kernel side of a capture: 8 MiB of TPACKET_V3 blocks (DEFAULT_KERNEL_BUFFER_BYTES, -B) buffer a burst while
# the producer waits on a full slot ring (drop-early) or is off the CPU.  At
# low rates the kernel hands a block over after BLOCK_TIMEOUT_MS however
# empty, so blocks x timeout bounds how long the producer may stall before
# the kernel drops: 32 x 20 ms = 640 ms.  Fewer, fuller blocks also mean
# fewer producer wake-ups at high rates.  256 KiB holds any frame a link can
# hand over, GRO's 64 KiB included.  The timeout is also the most latency the kernel adds.
KERNEL_BLOCK_SIZE = 1 << 18
BLOCK_TIMEOUT_MS = 20
_SLOT_HDR = struct.Struct("<IIQiII")  # struct rc_slot_hdr up to `slots`
FORMATS = {"pcap": rc.RC_FORMAT_PCAP_US, "pcap-ns": rc.RC_FORMAT_PCAP_NS, "pcapng": rc.RC_FORMAT_PCAPNG}


def _check(code: int, buf: ctypes.Array, fallback: str) -> None:
    if code < 0:
        text = rc.message(buf) or f"{fallback}: {os.strerror(-code)}"
        if "needs CAP_" in text:
            raise PrivilegeError(text)
        raise RingcoreError(text)


def in_range(what: str, value: int, low: int, high: int, unit: str = "") -> int:
    """value as an int for a C argument, or OutOfRangeError: ctypes would wrap -1 into 0xFFFFFFFF silently."""
    number = operator.index(value)
    if not low <= number <= high:
        raise OutOfRangeError(f"{what} {number}{unit} is out of range: {low} to {high}{unit}")
    return number


def validate_ring(slot_size: int, ring_pages: int) -> int:
    """Slots of this geometry, or a RingcoreError that says what does not fit."""
    if not MIN_SLOT_SIZE <= slot_size <= MAX_SLOT_SIZE or slot_size % 16:
        raise RingcoreError(
            f"slot size {slot_size} does not fit: it must be a multiple of 16 from {MIN_SLOT_SIZE} to {MAX_SLOT_SIZE} bytes"
        )
    if ring_pages > MAX_RING_PAGES:
        raise RingcoreError(f"a ring of {ring_pages} pages does not fit: at most {MAX_RING_PAGES} pages")
    slots = rc.lib.rc_ring_slots_for(slot_size, max(ring_pages, 0))
    if slots < 1:
        raise RingcoreError(
            f"a ring of {ring_pages} pages does not fit {slot_size}-byte slots: it needs a header page and at least one slot"
        )
    return slots


def validate_kernel_buffer(buffer_bytes: int) -> int:
    """The kernel ring's blocks for a buffer of `buffer_bytes` (-B), whole KERNEL_BLOCK_SIZE blocks rounded up, or a
    RingcoreError that says what does not fit: less than a block, or more memory than the machine has (the kernel
    would refuse it, or take it from everything else)."""
    if buffer_bytes < KERNEL_BLOCK_SIZE:
        raise RingcoreError(f"a kernel buffer of {buffer_bytes >> 10} KiB does not fit: it holds whole blocks of "
                            f"{KERNEL_BLOCK_SIZE >> 10} KiB, at least one (-B {KERNEL_BLOCK_SIZE >> 10})")
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    if buffer_bytes > memory:
        raise RingcoreError(f"a kernel buffer of {buffer_bytes >> 10} KiB does not fit: the machine has "
                            f"{memory >> 10} KiB of memory")
    return -(-buffer_bytes // KERNEL_BLOCK_SIZE)


def validate_snaplen(snaplen: int) -> int:
    if not 1 <= snaplen <= MAX_SNAPLEN:
        raise RingcoreError(f"snap length {snaplen} is out of range: 1 to {MAX_SNAPLEN} bytes")
    return snaplen


def validate_poll_interval(poll_interval_us: int) -> int:
    return in_range("poll interval", poll_interval_us, 0, MAX_POLL_INTERVAL_US, " us")


def validate_spin(spin_us: int) -> int:
    return in_range("spin", spin_us, 1, rc.RC_SPIN_MAX_US, " us")


def _release_view(view: memoryview) -> None:
    try:
        view.release()
    except BufferError:
        pass  # something still reads through it; the mapping lives until it is gone (see Ring)


class _Native:
    """A Python handle on one C object. Every call into C takes `handle`, which raises once the object is closed,
    so no method can hand C a NULL or freed pointer; `_let_go` gives the pointer to the one call that frees it,
    once, and refuses while a running drain still uses the object."""

    _kind = "object"  # named in "this ring is closed"
    _handle: int | None = None
    _drain_users = 0  # running drains that write or count into this object

    @property
    def handle(self) -> int:
        if not self._handle:
            raise RingcoreError(f"this {self._kind} is closed")
        return self._handle

    @property
    def closed(self) -> bool:
        return not self._handle

    def _let_go(self) -> int | None:
        if self._drain_users:
            raise RingcoreError(f"this {self._kind} is used by a running drain: stop the drain first")
        handle, self._handle = self._handle, None
        return handle


class _SlotFlags:
    """The meaning of rc_slot_hdr.flags, for both views of a slot below."""

    flags: int

    @property
    def truncated(self) -> bool:
        return bool(self.flags & rc.RC_SLOT_TRUNCATED)

    @property
    def outgoing(self) -> bool:
        return bool(self.flags & rc.RC_SLOT_OUTGOING)

    @property
    def padding(self) -> bool:
        return bool(self.flags & rc.RC_SLOT_PADDING)


@dataclass(frozen=True)
class SlotMeta(_SlotFlags):
    """A record's header, as the consumer sees it: position of its first slot, and how many slots it spans."""

    position: int
    caplen: int
    wirelen: int
    ts_ns: int
    ifindex: int
    flags: int
    slots: int = 1


@dataclass(frozen=True)
class SlotView(_SlotFlags):
    """A copy of the record one slot belongs to, taken for inspection (the ring keeps running): `index` is the
    record's first slot, `slots` how many it spans."""

    index: int
    caplen: int
    wirelen: int
    ts_ns: int
    ifindex: int
    flags: int
    data: bytes
    slots: int = 1


class Ring(_Native):
    """A slot ring: either standalone (tests, rx_poll demos) or the one a Capture fills. Its first poll makes
    it the ring's one consumer (a drain is another)."""

    _kind = "ring"

    def __init__(self, handle: int, owned: bool):
        """owned: the creator's reference is ours; else (a capture's ring) we take one of our own."""
        if not owned:
            rc.lib.rc_ring_retain(handle)
        self._handle = handle
        # Where records live: the slots, or a zero-copy ring's kernel blocks (mapped while the ring is).
        base = rc.lib.rc_ring_data_base(handle)
        mapping = (ctypes.c_char * rc.lib.rc_ring_data_size(handle)).from_address(base)
        # Our reference goes with the mapping object, which every view of a slot keeps alive: a view kept past
        # close() (a slice of one, say) reads memory that is still mapped. Not at exit: nothing is owed then.
        weakref.finalize(mapping, rc.lib.rc_ring_destroy, handle).atexit = False
        self._view = memoryview(mapping).cast("B")
        self._base = base
        self._stats = rc.Stats()
        self.stats()
        self.mode = RingMode(self._stats.mode)
        self._slot_size = self._stats.slot_size
        self._held: deque[memoryview] = deque()  # views of the packets polled and not released, oldest first
        self._consumer = False

    @classmethod
    def create(
        cls,
        slot_size: int = DEFAULT_SLOT_SIZE,
        ring_pages: int = DEFAULT_RING_PAGES,
        drop_policy: DropPolicy = DropPolicy.EARLY,
        wait_strategy: WaitStrategy = WaitStrategy.SLEEP,
        poll_interval_us: int = 1000,
        truncate_to_slot: bool = False,
        spin_us: int = DEFAULT_SPIN_US,
    ) -> Ring:
        validate_ring(slot_size, ring_pages)
        validate_poll_interval(poll_interval_us)
        validate_spin(spin_us)
        cfg = rc.RingConfig(slot_size, ring_pages, drop_policy, wait_strategy, poll_interval_us, truncate_to_slot,
                            spin_us)
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        _check(rc.lib.rc_ring_create(ctypes.byref(cfg), ctypes.byref(handle), buf, len(buf)), buf, "creating a ring")
        return cls(handle.value, owned=True)

    def close(self) -> None:
        """Let go of the ring (an owned one is freed, a capture's is freed with its capture). Views from poll()
        are released; later calls raise instead of reaching into freed memory."""
        handle = self._let_go()
        if handle is None:
            return
        while self._held:
            _release_view(self._held.popleft())
        if self._consumer:
            rc.lib.rc_ring_detach_consumer(handle)
        self._view.release()  # the mapping (and our reference) goes with the last view

    def produce(self, data: bytes, wirelen: int | None = None, ts_ns: int | None = None, ifindex: int = 0) -> bool:
        """Store one packet as a producer would (standalone rings), waking an EVENT consumer;
        False when the ring is full."""
        handle = self.handle
        caplen = in_range("packet length", len(data), 0, U32_MAX)
        wirelen = in_range("wire length", caplen if wirelen is None else wirelen, 0, U32_MAX)
        ts_ns = in_range("timestamp", time.time_ns() if ts_ns is None else ts_ns, 0, U64_MAX, " ns")
        ifindex = in_range("interface index", ifindex, I32_MIN, I32_MAX)
        code = rc.lib.rc_ring_produce(handle, data, caplen, wirelen, ts_ns, ifindex, 0)
        if code == -errno.EOPNOTSUPP:
            raise RingcoreError("a zero-copy ring's packets are the kernel's: nothing can be produced into it")
        rc.lib.rc_ring_notify(handle)
        return code == 0

    def _as_consumer(self) -> int:
        handle = self.handle
        if not self._consumer:
            if rc.lib.rc_ring_attach_consumer(handle) < 0:
                raise RingcoreError("this ring already has a consumer (a drain): a ring has one")
            self._consumer = True
        return handle

    def poll(self, max_items: int = 256) -> list[tuple[memoryview, SlotMeta]]:
        """Take a batch of up to max_items packets after the ones already held: a zero-copy view of each whole
        packet (its record may span several slots), valid until release() frees it (the views go with it)."""
        max_items = in_range("batch size", max_items, 0, U32_MAX)
        handle = self._as_consumer()
        position = ctypes.c_uint64()
        count = rc.lib.rc_ring_poll(handle, max_items, ctypes.byref(position))
        batch = []
        copy_ring = self.mode == RingMode.COPY
        for _ in range(count):
            # a zero-copy ring's positions are bytes in the kernel's blocks: the record's slot is its block
            block = position.value // self._slot_size
            offset = rc.lib.rc_ring_next(handle, ctypes.byref(position)) - self._base
            caplen, wirelen, ts_ns, ifindex, flags, slots = _SLOT_HDR.unpack_from(self._view, offset)
            data_at = offset + rc.SLOT_HDR_SIZE
            view = self._view[data_at:data_at + caplen]
            self._held.append(view)
            first = position.value - slots if copy_ring else block
            batch.append((view, SlotMeta(first, caplen, wirelen, ts_ns, ifindex, flags, slots)))
        return batch

    def release(self, count: int) -> None:
        """Free the `count` oldest packets taken by poll() (with all their slots); more than are polled and not
        released is refused."""
        count = in_range("release count", count, 0, U32_MAX)
        if rc.lib.rc_ring_release(self.handle, count) < 0:
            raise OutOfRangeError(f"cannot release {count} packets: {len(self._held)} are polled and not released")
        for _ in range(count):
            _release_view(self._held.popleft())

    def wait(self) -> None:
        """Wait as the ring's strategy says (1 ms sleep by default); counted in the statistics."""
        rc.lib.rc_ring_wait(self.handle)

    def rx_poll(
        self,
        fn: Callable[[memoryview, SlotMeta], object],
        *,
        count: int | None = None,
        timeout_s: float | None = None,
        batch: int = 64,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """The classic consumer loop: fn(view, meta) per packet, each packet's slots freed when fn returns,
        a wait when the ring is empty. Ends after `count` packets, `timeout_s`, or when stop() is true."""
        handled = 0
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while count is None or handled < count:
            if stop is not None and stop():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            want = batch if count is None else min(batch, count - handled)
            items = self.poll(want)
            if not items:
                self.wait()
                continue
            for view, meta in items:
                try:
                    fn(view, meta)
                finally:
                    view.release()
                    self.release(1)
                handled += 1
        return handled

    def stats(self) -> rc.Stats:
        rc.lib.rc_ring_stats(self.handle, ctypes.byref(self._stats))
        return self._stats

    def copy_slot(self, index: int) -> SlotView | None:
        """A copy of the record slot `index` (0 .. slot count - 1) belongs to, or None for an index past the
        last slot."""
        index = in_range("slot index", index, 0, U32_MAX)
        handle = self.handle
        # a record is at most the slot area (a zero-copy one, a kernel block) and its header
        buf = ctypes.create_string_buffer(
            (self._slot_size if self.mode != RingMode.COPY else rc.lib.rc_ring_data_size(handle)) + rc.SLOT_HDR_SIZE)
        first = ctypes.c_uint32()
        size = rc.lib.rc_ring_copy_slot(handle, index, buf, len(buf), ctypes.byref(first))
        if size < 0:
            return None
        caplen, wirelen, ts_ns, ifindex, flags, slots = _SLOT_HDR.unpack_from(buf, 0)
        return SlotView(first.value, caplen, wirelen, ts_ns, ifindex, flags, buf.raw[rc.SLOT_HDR_SIZE:size], slots)

    def slot_kinds(self) -> bytes:
        """Each slot's kind, one byte a slot (rc.RC_SLOT_KIND_*): a record's first slot, a continuation of the
        record before it, or padding at the ring's end. Read while the ring runs, for a viewer."""
        handle = self.handle
        buf = ctypes.create_string_buffer(self.stats().slot_count)
        count = rc.lib.rc_ring_slot_kinds(handle, buf, len(buf))
        return buf.raw[:count]

    def set_drop_policy(self, policy: DropPolicy) -> None:
        if rc.lib.rc_ring_set_drop_policy(self.handle, DropPolicy(policy)) == -errno.EOPNOTSUPP:
            raise RingcoreError("a zero-copy ring drops only early: the kernel drops what finds no free block")

    def set_wait(self, strategy: WaitStrategy, poll_interval_us: int, spin_us: int | None = None) -> None:
        """The strategy and its interval; spin_us (adaptive's spin) stays as it is when None."""
        handle = self.handle
        strategy = WaitStrategy(strategy)  # every argument checked before anything changes
        validate_poll_interval(poll_interval_us)
        if spin_us is not None:
            rc.lib.rc_ring_set_spin(handle, validate_spin(spin_us))
        rc.lib.rc_ring_set_wait(handle, strategy, poll_interval_us)

    def reset_high_water(self) -> None:
        rc.lib.rc_ring_reset_high_water(self.handle)


def _ring_config(options: CaptureOptions) -> rc.RingConfig:
    return rc.RingConfig(options.slot_size, options.ring_pages, int(options.drop_policy), int(options.wait_strategy),
                         options.poll_interval_us, int(options.truncate_to_slot), options.spin_us)


class Capture(_Native):
    """One interface's socket, kernel ring and producer thread, feeding a Ring."""

    _kind = "capture"

    def __init__(self, ifname: str, options: CaptureOptions, netns: str | None = None):
        validate_ring(options.slot_size, options.ring_pages)
        validate_snaplen(options.snaplen)
        validate_poll_interval(options.poll_interval_us)
        kernel_blocks = validate_kernel_buffer(options.kernel_buffer_bytes)
        validate_spin(options.spin_us)
        self.ifname = ifname
        self.netns = netns
        self.options = options
        cfg = rc.CaptureConfig(
            _ring_config(options),
            options.snaplen, int(options.promisc), KERNEL_BLOCK_SIZE, kernel_blocks, BLOCK_TIMEOUT_MS,
            int(options.zero_copy or options.direct_dispatch), int(options.immediate),
        )
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        with in_netns(netns):
            code = rc.lib.rc_capture_open(ifname.encode(), ctypes.byref(cfg), None, 0, ctypes.byref(handle), buf, len(buf))
        _check(code, buf, f"{ifname}: opening the capture")
        self._handle = handle.value
        self.ifindex = rc.lib.rc_capture_ifindex(self._handle)
        self.linktype = rc.lib.rc_capture_linktype(self._handle)
        self.filter: str | None = None
        self.ring = Ring(rc.lib.rc_capture_ring(self._handle), owned=False)
        try:
            self._check_linktype(options.linktype_required)
            if options.filter or options.direction is not Direction.INOUT:
                self.set_filter(options.filter)
            self.start()
        except BaseException:
            self.close()
            raise

    def _check_linktype(self, required: int | None) -> None:
        """-y: the interface must offer the link type asked for; ringmon offers the one its frames have."""
        if required is None or DLT_FOR_LINKTYPE.get(self.linktype) == required:
            return
        asked = rc.lib.pcap_datalink_val_to_name(required)
        raise RingcoreError(f"{self.ifname} does not offer link type {asked.decode() if asked else required}: "
                            f"it is captured as {linktype_name(self.linktype)} "
                            f"(see 'ringmon capture -L -i {self.ifname}')")

    def switch(self, options: CaptureOptions) -> Ring:
        """Go on in a ring of the kind `options` say (zero_copy or direct_dispatch: the kernel's blocks; else a copy
        ring of its geometry and settings) without losing a packet: the producer takes the new ring up at a block
        boundary, once the old zero-copy ring's consumer gave back every block (rc_capture_switch). Returns the old
        ring, whose consumer (stopped after this) takes what it holds; `ring` is the new one. Raises, changing
        nothing, when a paused consumer keeps the old ring from emptying."""
        buf = rc.errbuf()
        zero_copy = options.zero_copy or options.direct_dispatch
        code = rc.lib.rc_capture_switch(self.handle, int(zero_copy), ctypes.byref(_ring_config(options)), buf,
                                        len(buf))
        _check(code, buf, f"{self.ifname}: switching the ring")
        old, self.options = self.ring, options
        if rc.lib.rc_capture_ring(self._handle) != old.handle:
            self.ring = Ring(rc.lib.rc_capture_ring(self._handle), owned=False)
        return old

    def set_filter(self, expression: str | None) -> None:
        """Compile and attach a filter in the kernel (with the options' direction, -Q); on error the old one
        stays."""
        direction = self.options.direction
        program = (compile_live_filter(expression, self.ifname, self.linktype, self.options.snaplen, self.netns,
                                       direction)
                   if expression or direction is not Direction.INOUT else None)
        buf = rc.errbuf()
        code = rc.lib.rc_capture_set_filter(self.handle, program, len(program) if program else 0, buf, len(buf))
        _check(code, buf, f"{self.ifname}: setting the filter")
        self.filter = expression or None

    def error(self) -> str | None:
        """Why the producer stopped (interface gone), or None while it runs."""
        buf = rc.errbuf()
        return rc.message(buf) if rc.lib.rc_capture_error(self.handle, buf, len(buf)) else None

    def start(self) -> None:
        """Capture again after stop(): first what the stop left in the kernel ring (lost_at_stop), then new
        packets; nothing that arrived while stopped is taken or counted (a new capture starts itself)."""
        buf = rc.errbuf()
        _check(rc.lib.rc_capture_start(self.handle, buf, len(buf)), buf, f"{self.ifname}: starting the capture")

    def stop(self) -> None:
        """Stop capturing: the kernel counts nothing more, and every packet it counted is taken (or counted as
        lost_at_stop, when the ring stays full). Waits up to the block timeout and a margin. Nothing to do once
        closed."""
        if not self.closed:
            rc.lib.rc_capture_stop(self.handle)

    def close(self) -> None:
        handle = self._let_go()
        if handle:
            self.ring.close()
            rc.lib.rc_capture_close(handle)


@dataclass(frozen=True)
class Rotation:
    """tcpdump's -C (file_bytes_max), -G (seconds: the path is a strftime pattern) and -W (files_max: keep the
    newest); 0 is unset. The C writer rotates at a packet boundary (rc_rotation in ringcore.h)."""

    file_bytes_max: int = 0
    seconds: int = 0
    files_max: int = 0


@dataclass(frozen=True)
class WriterFiles:
    written: int  # renamed into place
    removed: int  # by files_max: the oldest unlinked or replaced under its ring name


class Writer(_Native):
    """A pcap/pcapng file written by C, renamed into place when closed; or, rotating, a series of them."""

    _kind = "writer"

    def __init__(self, path: str, fmt: str = "pcap", rotation: Rotation | None = None):
        if fmt not in FORMATS:
            raise RingcoreError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
        self.path = path
        self.format = fmt
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        native_rotation = None
        if rotation is not None:
            native_rotation = ctypes.byref(rc.Rotation(
                in_range("file size", rotation.file_bytes_max, 0, (1 << 64) - 1),
                in_range("rotation seconds", rotation.seconds, 0, U32_MAX),
                in_range("file count", rotation.files_max, 0, U32_MAX)))
        code = rc.lib.rc_writer_open_rotating(path.encode(), FORMATS[fmt], native_rotation, ctypes.byref(handle),
                                              buf, len(buf))
        _check(code, buf, f"{path}: opening")
        self._handle = handle.value
        self._kept = rc.WriterTotals()  # what the file holds, once closed

    def add_interface(self, name: str, linktype: int, snaplen: int) -> int:
        linktype = in_range("link type", linktype, 0, U32_MAX)
        snaplen = in_range("snap length", snaplen, 0, U32_MAX)
        ifid = rc.lib.rc_writer_add_interface(self.handle, name.encode(), linktype, snaplen)
        if ifid == -errno.EINVAL:
            raise RingcoreError(f"{self.path}: a pcap file holds one link type; write pcapng to mix {name}'s with the others")
        if ifid < 0:
            raise RingcoreError(f"{self.path}: adding {name} failed: {os.strerror(-ifid)}")
        return ifid

    @property
    def packets(self) -> int:
        """Packets written so far; once closed, the packets the file holds (a write error cuts some)."""
        return rc.lib.rc_writer_packets(self._handle) if self._handle else self._kept.packets

    def interface_packets(self, ifid: int) -> int:
        """Packets of interface `ifid` (from add_interface) written so far; once closed, in the file."""
        if self._handle:
            return rc.lib.rc_writer_interface_packets(self._handle, ifid)
        return self._kept.interface_packets[ifid] if 0 <= ifid < rc.WRITER_MAX_INTERFACES else 0

    @property
    def bytes(self) -> int:
        """Bytes written so far, buffered ones included; once closed, the file's size."""
        return rc.lib.rc_writer_bytes(self._handle) if self._handle else self._kept.bytes

    @property
    def files(self) -> WriterFiles:
        """Files renamed into place and removed so far; once closed, in all."""
        if self._handle:
            counts = rc.WriterFiles()
            rc.lib.rc_writer_files(self._handle, ctypes.byref(counts))
        else:
            counts = self._kept.files
        return WriterFiles(counts.written, counts.removed)

    def error(self) -> str | None:
        buf = rc.errbuf()
        return rc.message(buf) if rc.lib.rc_writer_error(self.handle, buf, len(buf)) else None

    def set_packet_buffered(self, on: bool) -> None:
        """tcpdump's -U: each batch reaches the file or stream at once, not when the 1 MiB buffer fills."""
        rc.lib.rc_writer_set_packet_buffered(self.handle, int(on))

    def chown(self, uid: int, gid: int) -> None:
        """Give the file to uid:gid, so that user may rename it into place (-Z); a stream keeps its owner."""
        code = rc.lib.rc_writer_chown(self.handle, in_range("uid", uid, 0, U32_MAX), in_range("gid", gid, 0, U32_MAX))
        if code < 0:
            raise RingcoreError(f"{self.path}: giving the file to uid {uid}: {os.strerror(-code)}")

    def close(self) -> None:
        """Flush, sync and rename into place; raises on a write error (the file keeps the whole packets)."""
        handle = self._let_go()
        if handle:
            buf = rc.errbuf()
            _check(rc.lib.rc_writer_close(handle, ctypes.byref(self._kept), buf, len(buf)), buf, f"{self.path}: closing")

    def abort(self) -> None:
        handle = self._let_go()
        if handle:
            rc.lib.rc_writer_abort(handle)


class Limit:
    """A packet count shared by several drains (-c COUNT)."""

    def __init__(self, count: int | None):
        self._limit = rc.Limit(-1 if count is None else in_range("packet count", count, 0, (1 << 63) - 1), 0)

    @property
    def pointer(self):
        return ctypes.byref(self._limit)

    @property
    def reached(self) -> bool:
        return bool(self._limit.reached)


class Drain(_Native):
    """The C consumer thread of one ring (its one consumer): batches to a writer, a talkers table and a packet
    store (as its interface `store_interface`), or just counted; no Python per packet. The writer, the talkers
    and the store cannot be closed while the drain runs. With `direct` (a zero-copy Capture of `ring`) there is
    no thread: the sinks run in the capture's thread on each kernel block (direct dispatch), and the capture
    cannot be closed while the drain runs."""

    _kind = "drain"

    def __init__(self, ring: Ring, writer: Writer | None = None, ifid: int = 0, limit: Limit | None = None,
                 batch_max: int = 256, talkers: Talkers | None = None, store: PacketStore | None = None,
                 store_interface: int = 0, *, direct: Capture | None = None):
        ifid = in_range("interface id", ifid, I32_MIN, I32_MAX)
        batch_max = in_range("batch size", batch_max, 1, U32_MAX)
        store_interface = in_range("store interface", store_interface, 0, U32_MAX)
        if direct is not None and direct.ring is not ring:
            raise RingcoreError("a direct drain runs in the thread of the capture that fills its ring")
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        sinks = (writer.handle if writer else None, ifid, talkers.handle if talkers else None,
                 store.handle if store else None, store_interface, limit.pointer if limit else None, batch_max)
        if direct is None:
            code = rc.lib.rc_drain_start(ring.handle, *sinks, ctypes.byref(handle), buf, len(buf))
        else:
            code = rc.lib.rc_drain_start_direct(direct.handle, *sinks, ctypes.byref(handle), buf, len(buf))
        _check(code, buf, "starting the drain")
        self._handle = handle.value
        self._limit = limit  # the C side points into it
        self._writer = self._use(writer)
        self._talkers = self._use(talkers)
        self._store = self._use(store)
        self._capture = self._use(direct)
        self._stats = rc.Stats()

    def stats(self) -> rc.Stats:
        """The ring's counters, with the store's evictions of this interface: the store's identity (delivered ==
        stored + store_failed) holds exactly in it. Never waits for a batch being written."""
        rc.lib.rc_drain_stats(self.handle, ctypes.byref(self._stats))
        return self._stats

    @staticmethod
    def _use(sink: _Native | None) -> _Native | None:
        if sink is not None:
            sink._drain_users += 1
        return sink

    @staticmethod
    def _done_with(sink: _Native | None) -> None:
        if sink is not None:
            sink._drain_users -= 1

    def pause(self, paused: bool) -> None:
        rc.lib.rc_drain_pause(self.handle, int(paused))

    def set_writer(self, writer: Writer | None, ifid: int = 0) -> None:
        ifid = in_range("interface id", ifid, I32_MIN, I32_MAX)
        rc.lib.rc_drain_set_writer(self.handle, writer.handle if writer else None, ifid)
        self._done_with(self._writer)
        self._writer = self._use(writer)

    def stop(self, drain_rest: bool = True) -> None:
        handle = self._let_go()
        if handle:
            rc.lib.rc_drain_stop(handle, int(drain_rest))
            for sink in (self._writer, self._talkers, self._store, self._capture):
                self._done_with(sink)
            self._writer = self._talkers = self._store = self._capture = None



def _address(family: int, raw: ctypes.Array) -> str:
    data = bytes(raw)
    if family == rc.RC_ADDR_IPV4:
        return str(ipaddress.IPv4Address(data[:4]))
    if family == rc.RC_ADDR_IPV6:
        return str(ipaddress.IPv6Address(data))
    return ":".join(f"{byte:02x}" for byte in data[:6])


_IP_PROTOCOLS = {1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmp6", 132: "sctp"}
_ETHERTYPES = {0x0806: "arp", 0x8035: "rarp", 0x88CC: "lldp", 0x8863: "pppoed", 0x8864: "pppoes", 0x888E: "eapol"}


def _protocol(family: int, number: int) -> str:
    """An IP protocol or (for frames keyed by MAC) an EtherType, by the name tcpdump gives it."""
    if family == rc.RC_ADDR_MAC:
        return _ETHERTYPES.get(number, f"0x{number:04x}")
    return _IP_PROTOCOLS.get(number, str(number))


class Talkers(_Native):
    """Bytes per conversation over the last seconds, counted in C by the Drain it is given to."""

    _kind = "talkers table"

    def __init__(self, linktype: int):
        linktype = in_range("link type", linktype, 0, U32_MAX)
        handle = ctypes.c_void_p()
        code = rc.lib.rc_talkers_create(linktype, ctypes.byref(handle))
        if code < 0:
            raise RingcoreError(f"counting talkers: {os.strerror(-code)}")
        self._handle = handle.value

    def top(self, n: int, now_ns: int | None = None) -> TopTalkers:
        """The n largest conversations of the window ending now (or at `now_ns`, CLOCK_REALTIME ns)."""
        # the table holds at most RC_TALKERS_MAX: a larger n needs no larger array
        wanted = min(in_range("talker count", n, 0, U32_MAX), rc.RC_TALKERS_MAX)
        when = in_range("time", time.time_ns() if now_ns is None else now_ns, 0, U64_MAX, " ns")
        out = (rc.Talker * max(wanted, 1))()
        rest = rc.Talker()
        found = rc.lib.rc_talkers_top(self.handle, when, out, wanted, ctypes.byref(rest))
        talkers = tuple(Talker(_address(t.family, t.a), _address(t.family, t.b), t.bytes_ab, t.bytes_ba, t.packets,
                               _protocol(t.family, t.protocol), (*t.span_ab, t.bytes_ab), (*t.span_ba, t.bytes_ba))
                        for t in out[:found])
        # A span of N seconds ends with the current second, of which only a part has gone by.
        current_s = when % 1_000_000_000 / 1e9
        return TopTalkers(talkers, rest.bytes_ab + rest.bytes_ba, rest.packets,
                          rest_spans=tuple(ab + ba for ab, ba in zip((*rest.span_ab, rest.bytes_ab),
                                                                      (*rest.span_ba, rest.bytes_ba))),
                          spans_elapsed_s=tuple(span - 1 + current_s for span in TALKERS_SPANS_S))

    def close(self) -> None:
        handle = self._let_go()
        if handle:
            rc.lib.rc_talkers_destroy(handle)
