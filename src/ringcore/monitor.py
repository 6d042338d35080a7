"""A capture session: interfaces plugged and unplugged while others run, each drained in C, one optional file,
one optional packet store."""
from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from dataclasses import dataclass, field

from .api import (
    CaptureOptions,
    DropPolicy,
    PrivilegeError,
    RingcoreError,
    RingMode,
    RingStats,
    StoreOptions,
    TopTalkers,
    WaitStrategy,
    interface_key,
)
from .capture import Capture, Drain, Limit, Ring, Rotation, SlotView, Talkers, Writer, WriterFiles
from .store import PacketStore


@dataclass(frozen=True)
class WriteStatus:
    path: str
    format: str
    packets: int
    bytes: int
    error: str | None = None
    packets_by_interface: dict[str, int] = field(default_factory=dict)  # by interface key
    files: WriterFiles = WriterFiles(0, 0)  # renamed into place, removed by rotation's -W


# What a ring counts from its start: summed over an interface's captures, before and after it went down.
# The rest of RingStats describes the ring as it is now (positions, occupancy, settings).
# store_evicted is not among them: the store counts it by interface, over all its captures.
_CUMULATIVE_COUNTERS = ("kernel_packets", "kernel_bytes", "kernel_drops", "kernel_seen", "ring_drops", "truncated",
                        "outgoing_packets", "outgoing_bytes", "delivered", "delivered_bytes", "stored",
                        "store_failed", "polls", "empty_polls", "sleeps", "sleep_ns", "wakeups", "spin_found",
                        "spin_slept", "latency_sum_ns")
_CUMULATIVE_HISTOGRAMS = ("batch_hist", "latency_hist")


def _sink_interface(sink: Writer | PacketStore | None, numbers: dict[str, int], plugged: _Plugged,
                    recaptured: bool) -> int:
    """The interface's number in a drain's sink (a file's interface block, the store's interface): a recaptured
    interface goes on under the number it had, a plugged one gets a new one. 0 without the sink."""
    if sink is None:
        return 0
    number = numbers.get(plugged.key, -1) if recaptured else -1
    if number < 0:
        capture = plugged.capture
        number = sink.add_interface(plugged.key, capture.linktype, capture.options.snaplen)
        numbers[plugged.key] = number
    return number


def _summed(earlier: RingStats, now: RingStats) -> RingStats:
    """`now` with the counters of the interface's earlier captures and rings added: the accounting identity
    (kernel_packets == delivered + ring_drops + occupancy) holds for the sum, as an earlier ring was
    drained empty before it was closed."""
    sums = {name: getattr(earlier, name) + getattr(now, name) for name in _CUMULATIVE_COUNTERS}
    for name in _CUMULATIVE_HISTOGRAMS:
        sums[name] = tuple(a + b for a, b in zip(getattr(earlier, name), getattr(now, name)))
    sums["latency_max_ns"] = max(earlier.latency_max_ns, now.latency_max_ns)
    return dataclasses.replace(now, recaptures=earlier.recaptures, **sums)


@dataclass
class _Plugged:
    capture: Capture
    drain: Drain | None
    key: str  # interface_key(): also the interface's name in files
    talkers: Talkers | None = None
    earlier: RingStats | None = None  # the counters of its captures before it last went down, summed

    def close(self) -> None:
        """Free the C objects; the drain must be stopped already (it counts into talkers)."""
        self.capture.close()
        if self.talkers:
            self.talkers.close()


def require_capture_privilege() -> None:
    """Fail early, before any screen or file, when packet sockets cannot be opened."""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        raise PrivilegeError("capturing needs CAP_NET_RAW (run as root, or grant it: setcap cap_net_raw,cap_net_admin+ep)") from None


class Monitor:
    """Plugged interfaces by key (interface_key: namespace and name). With drain=True (the app, `capture -w`) each
    ring is consumed by a C drain thread; with drain=False the caller consumes rings itself (rx_poll). With
    count_talkers=True (the dashboard) each drain also counts bytes per conversation for top_talkers(). With a
    `store` (the dashboard) each drain also appends every packet it delivers to one packet store (`store`), its
    interface named by key; an interface unplugged keeps its packets there.

    Every method taking an interface takes its key; a bare name also does when one plugged interface has it."""

    def __init__(self, *, drain: bool = True, count: int | None = None, count_talkers: bool = False,
                 store: StoreOptions | None = None):
        self._drain = drain
        self._count_talkers = count_talkers and drain
        self._limit = Limit(count) if count is not None else None
        self._store_options = store if drain else None
        self._started = time.time()  # names a kept spool
        self._store = (PacketStore.create_spool(store.spool_bytes, store.directory, store.spool_packets)
                       if self._store_options else None)
        if self._store is not None and store.owner is not None:
            try:
                self._store.give_spool_to(*store.owner)
            except BaseException:
                self._store.close()
                raise
        self._store_numbers: dict[str, int] = {}  # each interface's number in the store, by key
        self.kept_spool: tuple[str, int] | None = None  # (path, packets) once close() saved the store
        self._plugged: dict[str, _Plugged] = {}
        self._writer: Writer | None = None
        self._writer_ids: dict[str, int] = {}  # each interface's id in the file, also after it is unplugged
        self._writer_opening = False  # a file is being opened, outside the lock (a FIFO waits for its reader)
        self._closed = False
        self._lock = threading.Lock()  # plug/unplug/writer changes from UI workers

    @property
    def interfaces(self) -> list[str]:
        return list(self._plugged)

    @property
    def store(self) -> PacketStore | None:
        """The session's packet store: every packet the drains delivered, oldest evicted beyond its size."""
        return self._store

    def store_error(self) -> str | None:
        """Why the store did not take some packets (a full disk): one line that counts them; None while it took all."""
        with self._lock:  # close() frees the store
            return self._store.progress().error if self._store is not None else None

    @property
    def counts_talkers(self) -> bool:
        """top_talkers() answers (drains count conversations)."""
        return self._count_talkers

    @property
    def limit_reached(self) -> bool:
        return self._limit is not None and self._limit.reached

    def plug(self, ifname: str, options: CaptureOptions = CaptureOptions(), *, netns: str | None = None) -> str:
        """Start capturing on `ifname` (in `netns`); returns its key."""
        key = interface_key(ifname, netns)
        with self._lock:
            if key in self._plugged:
                raise RingcoreError(f"{key} is already plugged")
            plugged = _Plugged(Capture(ifname, options, netns), None, key)
            try:
                if self._count_talkers:
                    plugged.talkers = Talkers(plugged.capture.linktype)
                self._start_drain(plugged)
            except BaseException:  # the drain comes last: nothing runs yet that would need stopping
                plugged.close()
                raise
            self._plugged[key] = plugged
        return key

    def _start_drain(self, plugged: _Plugged, *, recaptured: bool = False) -> None:
        """The drain of a new capture, writing to the file (if any) under a new interface block there and storing
        to the store (if any) under a new interface number, or, when `recaptured`, under the ones the interface
        had already."""
        if not self._drain:
            return
        capture = plugged.capture
        ifid = _sink_interface(self._writer, self._writer_ids, plugged, recaptured)
        # The store numbers interfaces as the file does: it counts evictions by number, the ring counts stored
        # packets from its plug.
        store_number = _sink_interface(self._store, self._store_numbers, plugged, recaptured)
        plugged.drain = Drain(capture.ring, self._writer, ifid, self._limit, talkers=plugged.talkers,
                              store=self._store, store_interface=store_number,
                              direct=capture if capture.options.direct_dispatch else None)

    def recapture(self, key: str) -> None:
        """Capture again on an interface that went down or away and is back (up again, or re-created with the
        same name): a new socket and ring, with the settings the old one had last, the same talkers table and
        file; its counters go on from the old ones (see _summed). Raises, changing nothing, while it is not back."""
        with self._lock:
            plugged = self._get(key)
            if plugged.capture.error() is None:
                raise RingcoreError(f"{plugged.key} is still capturing")
            last = self._snapshot(plugged)
            old = plugged.capture
            options = dataclasses.replace(old.options, filter=last.filter, drop_policy=last.drop_policy,
                                          wait_strategy=last.wait_strategy, poll_interval_us=last.poll_interval_us,
                                          spin_us=last.spin_us)
            capture = Capture(old.ifname, options, old.netns)
            if capture.linktype != old.linktype:  # its talkers table and its block in the file are of the old one
                capture.close()
                raise RingcoreError(f"{plugged.key} came back with another link type: unplug it and plug it again")
            old.stop()
            if plugged.drain:
                plugged.drain.stop(drain_rest=True)  # the old ring empties into the file before it is closed
            gone = self._snapshot(plugged)
            plugged.earlier = dataclasses.replace(gone, recaptures=gone.recaptures + 1)
            old.close()
            plugged.capture = capture
            self._start_drain(plugged, recaptured=True)
            if last.paused and plugged.drain:
                plugged.drain.pause(True)

    def set_mode(self, key: str, mode: RingMode) -> None:
        """Go on with a ring of another kind (copy, zero-copy, or zero-copy with direct dispatch) without losing a
        packet (Capture.switch): the old ring's drain takes what it holds into the file and the store, then a new
        drain goes on under the same interface there, with the same settings; the counters go on from the old
        ring's (summed as a recapture's). Raises, changing nothing, when a paused consumer holds the kernel's
        blocks."""
        with self._lock:
            if not self._drain:
                raise RingcoreError("switching a ring's mode needs the session's drains (the old ring's packets "
                                    "must go somewhere)")
            plugged = self._get(key)
            capture = plugged.capture
            last = self._snapshot(plugged)
            options = dataclasses.replace(
                capture.options, zero_copy=mode == RingMode.ZERO_COPY, direct_dispatch=mode == RingMode.DIRECT,
                drop_policy=last.drop_policy if mode == RingMode.COPY else DropPolicy.EARLY, filter=last.filter,
                wait_strategy=last.wait_strategy, poll_interval_us=last.poll_interval_us)
            old_ring = capture.switch(options)
            plugged.drain.stop(drain_rest=True)  # what the old ring holds goes to the file and the store first
            if old_ring is not capture.ring:
                plugged.earlier = self._snapshot(plugged, old_ring)
                old_ring.close()
            self._start_drain(plugged, recaptured=True)
            if last.paused:
                plugged.drain.pause(True)

    def unplug(self, key: str) -> None:
        with self._lock:
            plugged = self._plugged.pop(self._get(key).key)
            plugged.capture.stop()
            if plugged.drain:
                plugged.drain.stop(drain_rest=True)
            plugged.close()

    def _get(self, key: str) -> _Plugged:
        plugged = self._plugged.get(key)
        if plugged is not None:
            return plugged
        named = [p for p in self._plugged.values() if p.capture.ifname == key]
        if len(named) == 1:
            return named[0]
        if named:
            raise RingcoreError(f"{key} is plugged in several namespaces: name it as " +
                                " or ".join(p.key for p in named))
        raise RingcoreError(f"{key} is not plugged")

    def capture(self, key: str) -> Capture:
        return self._get(key).capture

    def ring(self, key: str) -> Ring:
        return self._get(key).capture.ring

    def stats(self) -> dict[str, RingStats]:
        """One consistent snapshot per plugged interface, by key: one C call each."""
        with self._lock:  # unplug frees the ring
            return {key: self._snapshot(plugged) for key, plugged in self._plugged.items()}

    def _snapshot(self, plugged: _Plugged, ring: Ring | None = None) -> RingStats:
        """The ring's counters (one consistent reading, so the store's identity holds; it never waits for a write),
        plus those of the interface's captures and rings before (`ring`: one it just left, its drain stopped)."""
        capture = plugged.capture
        drain = plugged.drain
        if ring is not None:
            raw = ring.stats()
        else:
            raw = drain.stats() if drain is not None and not drain.closed else capture.ring.stats()
        values = {field: getattr(raw, field) for field, _ in raw._fields_}
        values["batch_hist"] = tuple(raw.batch_hist)
        values["latency_hist"] = tuple(raw.latency_hist)
        values["drop_policy"] = DropPolicy(raw.drop_policy)
        values["wait_strategy"] = WaitStrategy(raw.wait_strategy)
        values["paused"] = bool(raw.paused)
        values["truncate_to_slot"] = bool(raw.truncate_to_slot)
        values["mode"] = RingMode(raw.mode)
        now = RingStats(ifname=capture.ifname, netns=capture.netns, ifindex=capture.ifindex, filter=capture.filter,
                        error=capture.error(), linktype=capture.linktype, storing=self._store is not None,
                        immediate=capture.options.immediate, **values)
        return now if plugged.earlier is None else _summed(plugged.earlier, now)

    # Settings and slot reads run under the lock: an unplug from another thread frees the ring.

    def pause(self, ifname: str, paused: bool) -> None:
        with self._lock:
            plugged = self._get(ifname)
            if plugged.drain is None:
                raise RingcoreError(f"{ifname} has no drain to pause")
            plugged.drain.pause(paused)

    def set_drop_policy(self, ifname: str, policy: DropPolicy) -> None:
        with self._lock:
            self.ring(ifname).set_drop_policy(policy)

    def set_wait(self, ifname: str, strategy: WaitStrategy, poll_interval_us: int, spin_us: int | None = None) -> None:
        with self._lock:
            self.ring(ifname).set_wait(strategy, poll_interval_us, spin_us)

    def set_filter(self, ifname: str, expression: str | None) -> None:
        with self._lock:
            self.capture(ifname).set_filter(expression)

    def reset_high_water(self, ifname: str) -> None:
        with self._lock:
            self.ring(ifname).reset_high_water()

    def read_slot(self, ifname: str, index: int) -> SlotView | None:
        with self._lock:
            return self.ring(ifname).copy_slot(index)

    def slot_kinds(self, key: str) -> bytes:
        """Each slot's kind (first slot of a record, continuation, padding): how the slot map groups records."""
        with self._lock:
            return self.ring(key).slot_kinds()

    def top_talkers(self, ifname: str, n: int) -> TopTalkers:
        """The n largest conversations of the last seconds on this interface (one C call)."""
        with self._lock:
            talkers = self._get(ifname).talkers
            if talkers is None:
                raise RingcoreError("this session does not count talkers")
            return talkers.top(n)

    def errors(self) -> dict[str, str]:
        """Interfaces (by key) whose producer stopped (gone away), with why."""
        with self._lock:
            return {key: err for key, p in self._plugged.items() if (err := p.capture.error())}

    # -- writing -----------------------------------------------------------

    def start_writing(self, path: str, fmt: str = "pcapng", owner: tuple[int, int] | None = None,
                      rotation: Rotation | None = None, packet_buffered: bool = False) -> None:
        """Write every ring's packets to `path` (with `rotation`, to a series of files named after it); `owner`
        (uid, gid) gets the first file, for a process about to become that user (who then makes the others);
        `packet_buffered` (-U): each batch reaches the file at once. The file is opened without the lock (a FIFO waits up to 10 s for its reader):
        statistics, settings and plugging go on meanwhile."""
        with self._lock:
            if not self._drain:
                raise RingcoreError("this session has no drains to write from")
            if self._writer is not None:
                raise RingcoreError(f"already writing to {self._writer.path}")
            if self._writer_opening:
                raise RingcoreError("a file is being opened already")
            self._writer_opening = True
        try:
            writer = Writer(path, fmt, rotation)
        finally:
            with self._lock:
                self._writer_opening = False
        with self._lock:
            try:
                if self._closed:
                    raise RingcoreError("the session ended while the file was opened")
                if owner is not None:
                    writer.chown(*owner)
                writer.set_packet_buffered(packet_buffered)
                ids = {key: writer.add_interface(key, p.capture.linktype, p.capture.options.snaplen)
                       for key, p in self._plugged.items()}
            except BaseException:
                writer.abort()
                raise
            self._writer, self._writer_ids = writer, ids
            for key, ifid in ids.items():
                self._plugged[key].drain.set_writer(writer, ifid)

    @property
    def writing(self) -> WriteStatus | None:
        with self._lock:  # stop_writing frees the C writer
            writer = self._writer
            if writer is None:
                return None
            return self._write_status(writer, self._writer_ids, writer.error())

    @staticmethod
    def _write_status(writer: Writer, ids: dict[str, int], error: str | None) -> WriteStatus:
        by_interface = {name: writer.interface_packets(ifid) for name, ifid in ids.items()}
        return WriteStatus(writer.path, writer.format, writer.packets, writer.bytes, error, by_interface,
                           writer.files)

    def _detach_writer(self) -> Writer | None:
        """Take the file away from every drain; once this returns no drain writes to it."""
        writer, self._writer = self._writer, None
        if writer is not None:
            for plugged in self._plugged.values():
                if plugged.drain:
                    plugged.drain.set_writer(None)
        return writer

    def stop_writing(self) -> WriteStatus:
        """Detach the file, then close it (renamed into place). The status counts what the file holds once
        closed (the last flush may fail and cut packets), with the write error, if any."""
        with self._lock:
            ids = self._writer_ids
            writer = self._detach_writer()
        if writer is None:
            raise RingcoreError("not writing")
        # closed outside the lock: the fsync may take a while and stats() must not wait for it
        try:
            writer.close()
            error = None
        except RingcoreError as exc:  # disk full: the C writer kept every whole packet, renamed into place
            error = str(exc)
        return self._write_status(writer, ids, error)

    def abort_writing(self) -> None:
        """Detach the file and remove it: for a session that failed to start."""
        with self._lock:
            writer = self._detach_writer()
            if writer is not None:
                writer.abort()

    def stop(self) -> None:
        """Stop taking packets everywhere, then let the drains empty the rings (the file gets all of it)."""
        with self._lock:  # a plug or unplug from another thread would change what is stopped
            self._stop_all()

    def _stop_all(self) -> None:
        for plugged in self._plugged.values():
            plugged.capture.stop()
        for plugged in self._plugged.values():
            if plugged.drain:
                plugged.drain.stop(drain_rest=True)
                plugged.drain = None

    def close(self) -> None:
        """Stop everything, close the file (if any), free every ring, and close the store: saved first when
        StoreOptions.keep_dir says so (kept_spool says where; RingcoreError once all is closed when it could not
        be saved there, see _keep_store), its spool removed."""
        writer = None
        with self._lock:  # stats() and the settings read the rings this frees
            self._closed = True
            try:
                self._stop_all()
                writer = self._detach_writer()
            finally:
                while self._plugged:
                    self._plugged.popitem()[1].close()
        try:
            if writer is not None:
                # closed outside the lock, as in stop_writing: the fsync may take a while
                writer.close()
        finally:
            self._close_store()

    def _close_store(self) -> None:
        with self._lock:
            store, self._store = self._store, None
        if store is None:
            return
        try:
            keep_dir = self._store_options.keep_dir
            if keep_dir is not None:
                self.kept_spool = self._keep_store(store, keep_dir)
        finally:
            store.close()  # the spool's directory stays if a fallback file is in it

    def _keep_store(self, store: PacketStore, keep_dir: str) -> tuple[str, int]:
        """Save the store in keep_dir (at the session's end, what fits is better than nothing). keep_dir was
        checked at start, but may have gone or filled since: then the whole store is saved in the spool's own
        private directory, which close leaves in place, and RingcoreError says where (or what was lost)."""
        path = kept_spool_path(keep_dir, self._started)
        try:
            return path, store.export(path, keep_partial=True).packets
        except RingcoreError as error:
            failed = str(error)
        progress = store.progress()
        held = progress.count - progress.first
        if held == 0:
            raise RingcoreError(f"{failed}; the store held no packet, none lost")
        fallback = kept_spool_path(store.spool_dir, self._started)
        try:
            kept = store.export(fallback, keep_partial=True).packets
        except RingcoreError as error:
            raise RingcoreError(f"{failed}; the {held:,} stored packets could not be saved in the spool's "
                                f"directory instead either: {error}") from None
        self.kept_spool = (fallback, kept)
        raise RingcoreError(f"{failed}; all {kept:,} stored packets kept in {fallback} instead")


def kept_spool_path(keep_dir: str, started: float) -> str:
    """A name in keep_dir for a session's store, from its start time, that no file has yet."""
    stem = os.path.join(keep_dir, time.strftime("ringmon-%Y%m%d-%H%M%S", time.localtime(started)))
    path, number = f"{stem}.pcapng", 1
    while os.path.lexists(path):
        number += 1
        path = f"{stem}-{number}.pcapng"
    return path
