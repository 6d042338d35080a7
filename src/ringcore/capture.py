"""Python handles on the C objects: a slot Ring with its batch and rx_poll API, a Capture, a Writer, a Drain."""
from __future__ import annotations

import ctypes
import errno
import ipaddress
import os
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import _binding as rc
from .api import (
    DEFAULT_RING_PAGES,
    DEFAULT_SLOT_SIZE,
    CaptureOptions,
    DropPolicy,
    PrivilegeError,
    RingcoreError,
    Talker,
    TopTalkers,
    WaitStrategy,
)
from .filter import compile_filter
from .netns import in_netns

MIN_SLOT_SIZE = 64
MAX_SLOT_SIZE = 65536
MAX_RING_PAGES = 1 << 22  # 16 GiB of 4 KiB pages: rc_ring_slots_for's bound
MAX_SNAPLEN = 262144  # libpcap's MAXIMUM_SNAPLEN
MAX_POLL_INTERVAL_US = 1_000_000
# Kernel side of a capture: 8 MiB of TPACKET_V3 blocks buffer a burst while
# the producer waits on a full slot ring (drop-early) or is off the CPU.  At
# low rates the kernel hands a block over after BLOCK_TIMEOUT_MS however
# empty, so blocks x timeout bounds how long the producer may stall before
# the kernel drops: 32 x 20 ms = 640 ms.  Fewer, fuller blocks also mean
# fewer producer wake-ups at high rates.  256 KiB holds any frame a slot can
# (at most 64 KiB).  The timeout is also the most latency the kernel adds.
KERNEL_BLOCK_SIZE = 1 << 18
KERNEL_BLOCK_NR = 32
BLOCK_TIMEOUT_MS = 20
_SLOT_HDR = struct.Struct("<IIQiI")
FORMATS = {"pcap": rc.RC_FORMAT_PCAP_US, "pcap-ns": rc.RC_FORMAT_PCAP_NS, "pcapng": rc.RC_FORMAT_PCAPNG}


def _check(code: int, buf: ctypes.Array, fallback: str) -> None:
    if code < 0:
        text = rc.message(buf) or f"{fallback}: {os.strerror(-code)}"
        if "needs CAP_" in text:
            raise PrivilegeError(text)
        raise RingcoreError(text)


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


def validate_poll_interval(poll_interval_us: int) -> None:
    if not 0 <= poll_interval_us <= MAX_POLL_INTERVAL_US:
        raise RingcoreError(f"poll interval {poll_interval_us} us is out of range: 0 to {MAX_POLL_INTERVAL_US} us")


class _SlotFlags:
    """The meaning of rc_slot_hdr.flags, for both views of a slot below."""

    flags: int

    @property
    def truncated(self) -> bool:
        return bool(self.flags & rc.RC_SLOT_TRUNCATED)

    @property
    def outgoing(self) -> bool:
        return bool(self.flags & rc.RC_SLOT_OUTGOING)


@dataclass(frozen=True)
class SlotMeta(_SlotFlags):
    """A slot's header, as the consumer sees it."""

    position: int
    caplen: int
    wirelen: int
    ts_ns: int
    ifindex: int
    flags: int


@dataclass(frozen=True)
class SlotView(_SlotFlags):
    """A copy of one slot taken for inspection (the ring keeps running)."""

    index: int
    caplen: int
    wirelen: int
    ts_ns: int
    ifindex: int
    flags: int
    data: bytes


class Ring:
    """A slot ring: either standalone (tests, rx_poll demos) or the one a Capture fills."""

    def __init__(self, handle: int, owned: bool):
        self._handle = handle
        self._owned = owned
        base = rc.lib.rc_ring_base(handle)
        size = rc.lib.rc_ring_map_size(handle)
        self._view = memoryview((ctypes.c_char * size).from_address(base)).cast("B")
        self._base = base
        self._stats = rc.Stats()

    @classmethod
    def create(
        cls,
        slot_size: int = DEFAULT_SLOT_SIZE,
        ring_pages: int = DEFAULT_RING_PAGES,
        drop_policy: DropPolicy = DropPolicy.EARLY,
        wait_strategy: WaitStrategy = WaitStrategy.SLEEP,
        poll_interval_us: int = 1000,
    ) -> Ring:
        validate_ring(slot_size, ring_pages)
        validate_poll_interval(poll_interval_us)
        cfg = rc.RingConfig(slot_size, ring_pages, drop_policy, wait_strategy, poll_interval_us)
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        _check(rc.lib.rc_ring_create(ctypes.byref(cfg), ctypes.byref(handle), buf, len(buf)), buf, "creating a ring")
        return cls(handle.value, owned=True)

    @property
    def handle(self) -> int:
        return self._handle

    def close(self) -> None:
        """Free an owned ring; a capture's ring is freed with its capture. Either way the
        mapping is gone: later calls raise instead of reaching into freed memory."""
        if self._handle:
            self._view.release()
            if self._owned:
                rc.lib.rc_ring_destroy(self._handle)
        self._handle = None

    def _live(self) -> int:
        if not self._handle:
            raise RingcoreError("this ring is closed (its interface was unplugged)")
        return self._handle

    def produce(self, data: bytes, wirelen: int | None = None, ts_ns: int | None = None, ifindex: int = 0) -> bool:
        """Store one packet as a producer would (standalone rings), waking an EVENT consumer;
        False when the ring is full."""
        code = rc.lib.rc_ring_produce(
            self._handle, data, len(data), len(data) if wirelen is None else wirelen,
            time.time_ns() if ts_ns is None else ts_ns, ifindex, 0,
        )
        rc.lib.rc_ring_notify(self._handle)
        return code == 0

    def poll(self, max_items: int = 256) -> list[tuple[memoryview, SlotMeta]]:
        """Take a batch: zero-copy views of up to max_items slots, valid until release()."""
        first = ctypes.c_uint64()
        count = rc.lib.rc_ring_poll(self._live(), max_items, ctypes.byref(first))
        batch = []
        for position in range(first.value, first.value + count):
            offset = rc.lib.rc_ring_slot(self._handle, position) - self._base
            caplen, wirelen, ts_ns, ifindex, flags = _SLOT_HDR.unpack_from(self._view, offset)
            data_at = offset + rc.SLOT_HDR_SIZE
            batch.append((self._view[data_at:data_at + caplen], SlotMeta(position, caplen, wirelen, ts_ns, ifindex, flags)))
        return batch

    def release(self, count: int) -> None:
        """Free the `count` oldest slots taken by poll()."""
        rc.lib.rc_ring_release(self._handle, count)

    def wait(self) -> None:
        """Wait as the ring's strategy says (1 ms sleep by default); counted in the statistics."""
        rc.lib.rc_ring_wait(self._handle)

    def rx_poll(
        self,
        fn: Callable[[memoryview, SlotMeta], object],
        *,
        count: int | None = None,
        timeout_s: float | None = None,
        batch: int = 64,
        stop: Callable[[], bool] | None = None,
    ) -> int:
        """The classic consumer loop: fn(view, meta) per packet, each slot freed when fn returns,
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
        rc.lib.rc_ring_stats(self._live(), ctypes.byref(self._stats))
        return self._stats

    def copy_slot(self, index: int) -> SlotView | None:
        buf = ctypes.create_string_buffer(rc.SLOT_HDR_SIZE + MAX_SLOT_SIZE)
        size = rc.lib.rc_ring_copy_slot(self._live(), index, buf, len(buf))
        if size < 0:
            return None
        caplen, wirelen, ts_ns, ifindex, flags = _SLOT_HDR.unpack_from(buf, 0)
        return SlotView(index, caplen, wirelen, ts_ns, ifindex, flags, buf.raw[rc.SLOT_HDR_SIZE:size])

    def set_drop_policy(self, policy: DropPolicy) -> None:
        rc.lib.rc_ring_set_drop_policy(self._handle, int(policy))

    def set_wait(self, strategy: WaitStrategy, poll_interval_us: int) -> None:
        validate_poll_interval(poll_interval_us)
        rc.lib.rc_ring_set_wait(self._handle, int(strategy), poll_interval_us)

    def reset_high_water(self) -> None:
        rc.lib.rc_ring_reset_high_water(self._handle)


class Capture:
    """One interface's socket, kernel ring and producer thread, feeding a Ring."""

    def __init__(self, ifname: str, options: CaptureOptions, netns: str | None = None):
        validate_ring(options.slot_size, options.ring_pages)
        if not 1 <= options.snaplen <= MAX_SNAPLEN:
            raise RingcoreError(f"snap length {options.snaplen} is out of range: 1 to {MAX_SNAPLEN} bytes")
        validate_poll_interval(options.poll_interval_us)
        self.ifname = ifname
        self.netns = netns
        self.options = options
        cfg = rc.CaptureConfig(
            rc.RingConfig(options.slot_size, options.ring_pages, int(options.drop_policy),
                          int(options.wait_strategy), options.poll_interval_us),
            options.snaplen, int(options.promisc), KERNEL_BLOCK_SIZE, KERNEL_BLOCK_NR, BLOCK_TIMEOUT_MS,
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
            if options.filter:
                self.set_filter(options.filter)
            _check(rc.lib.rc_capture_start(self._handle, buf, len(buf)), buf, f"{ifname}: starting the capture")
        except BaseException:
            self.close()
            raise

    def set_filter(self, expression: str | None) -> None:
        """Compile and attach a filter in the kernel; on error the old one stays."""
        program = compile_filter(expression, self.linktype, self.options.snaplen) if expression else None
        buf = rc.errbuf()
        code = rc.lib.rc_capture_set_filter(self._handle, program, len(program) if program else 0, buf, len(buf))
        _check(code, buf, f"{self.ifname}: setting the filter")
        self.filter = expression or None

    def error(self) -> str | None:
        """Why the producer stopped (interface gone), or None while it runs."""
        buf = rc.errbuf()
        return rc.message(buf) if rc.lib.rc_capture_error(self._handle, buf, len(buf)) else None

    def stop(self) -> None:
        """Stop taking packets from the kernel; reads the final kernel counters."""
        if self._handle:
            rc.lib.rc_capture_stop(self._handle)

    def close(self) -> None:
        if self._handle:
            self.ring.close()
            rc.lib.rc_capture_close(self._handle)
            self._handle = None


class Writer:
    """A pcap/pcapng file written by C, renamed into place when closed."""

    def __init__(self, path: str, fmt: str = "pcap"):
        if fmt not in FORMATS:
            raise RingcoreError(f"unknown format '{fmt}' (choose from {', '.join(FORMATS)})")
        self.path = path
        self.format = fmt
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        _check(rc.lib.rc_writer_open(path.encode(), FORMATS[fmt], ctypes.byref(handle), buf, len(buf)), buf, f"{path}: opening")
        self._handle = handle.value
        self._kept = rc.WriterTotals()  # what the file holds, once closed

    @property
    def handle(self) -> int:
        return self._handle

    def add_interface(self, name: str, linktype: int, snaplen: int) -> int:
        ifid = rc.lib.rc_writer_add_interface(self._handle, name.encode(), linktype, snaplen)
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

    def error(self) -> str | None:
        buf = rc.errbuf()
        return rc.message(buf) if rc.lib.rc_writer_error(self._handle, buf, len(buf)) else None

    def close(self) -> None:
        """Flush, sync and rename into place; raises on a write error (the file keeps the whole packets)."""
        handle, self._handle = self._handle, None
        if handle:
            buf = rc.errbuf()
            _check(rc.lib.rc_writer_close(handle, ctypes.byref(self._kept), buf, len(buf)), buf, f"{self.path}: closing")

    def abort(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            rc.lib.rc_writer_abort(handle)


class Limit:
    """A packet count shared by several drains (-c COUNT)."""

    def __init__(self, count: int | None):
        self._limit = rc.Limit(-1 if count is None else count, 0)

    @property
    def pointer(self):
        return ctypes.byref(self._limit)

    @property
    def reached(self) -> bool:
        return bool(self._limit.reached)


class Drain:
    """The C consumer thread of one ring: batches to a writer and a talkers table (or just counted), no Python
    per packet. `talkers` must stay open until the drain is stopped."""

    def __init__(self, ring: Ring, writer: Writer | None = None, ifid: int = 0, limit: Limit | None = None,
                 batch_max: int = 256, talkers: Talkers | None = None):
        handle = ctypes.c_void_p()
        buf = rc.errbuf()
        code = rc.lib.rc_drain_start(ring.handle, writer.handle if writer else None, ifid,
                                     talkers.handle if talkers else None, limit.pointer if limit else None,
                                     batch_max, ctypes.byref(handle), buf, len(buf))
        _check(code, buf, "starting the drain")
        self._handle = handle.value
        self._limit = limit  # the C side points into it

    def pause(self, paused: bool) -> None:
        rc.lib.rc_drain_pause(self._handle, int(paused))

    def set_writer(self, writer: Writer | None, ifid: int = 0) -> None:
        rc.lib.rc_drain_set_writer(self._handle, writer.handle if writer else None, ifid)

    def stop(self, drain_rest: bool = True) -> None:
        handle, self._handle = self._handle, None
        if handle:
            rc.lib.rc_drain_stop(handle, int(drain_rest))



def _address(family: int, raw: ctypes.Array) -> str:
    data = bytes(raw)
    if family == rc.RC_ADDR_IPV4:
        return str(ipaddress.IPv4Address(data[:4]))
    if family == rc.RC_ADDR_IPV6:
        return str(ipaddress.IPv6Address(data))
    return ":".join(f"{byte:02x}" for byte in data[:6])


class Talkers:
    """Bytes per conversation over the last seconds, counted in C by the Drain it is given to."""

    def __init__(self, linktype: int):
        handle = ctypes.c_void_p()
        code = rc.lib.rc_talkers_create(linktype, ctypes.byref(handle))
        if code < 0:
            raise RingcoreError(f"counting talkers: {os.strerror(-code)}")
        self._handle = handle.value

    @property
    def handle(self) -> int:
        return self._handle

    def top(self, n: int, now_ns: int | None = None) -> TopTalkers:
        """The n largest conversations of the window ending now (or at `now_ns`, CLOCK_REALTIME ns)."""
        out = (rc.Talker * max(n, 1))()
        rest = rc.Talker()
        when = time.time_ns() if now_ns is None else now_ns
        found = rc.lib.rc_talkers_top(self._handle, when, out, n, ctypes.byref(rest))
        talkers = tuple(Talker(_address(t.family, t.a), _address(t.family, t.b), t.bytes_ab, t.bytes_ba, t.packets)
                        for t in out[:found])
        return TopTalkers(talkers, rest.bytes_ab + rest.bytes_ba, rest.packets)

    def close(self) -> None:
        handle, self._handle = self._handle, None
        if handle:
            rc.lib.rc_talkers_destroy(handle)
