"""A capture session: interfaces plugged and unplugged while others run, each drained in C, one optional file."""
from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field

from .api import CaptureOptions, DropPolicy, PrivilegeError, RingcoreError, RingStats, TopTalkers, WaitStrategy
from .capture import Capture, Drain, Limit, Ring, SlotView, Talkers, Writer


@dataclass(frozen=True)
class WriteStatus:
    path: str
    format: str
    packets: int
    bytes: int
    error: str | None = None
    packets_by_interface: dict[str, int] = field(default_factory=dict)


@dataclass
class _Plugged:
    capture: Capture
    drain: Drain | None
    label: str  # the interface's name in files: "netns/ifname" for one in a namespace
    talkers: Talkers | None = None

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
    """Plugged interfaces by name. With drain=True (the app, `capture -w`) each ring is consumed by a C
    drain thread; with drain=False the caller consumes rings itself (rx_poll). With count_talkers=True (the
    dashboard) each drain also counts bytes per conversation for top_talkers()."""

    def __init__(self, *, drain: bool = True, count: int | None = None, count_talkers: bool = False):
        self._drain = drain
        self._count_talkers = count_talkers and drain
        self._limit = Limit(count) if count is not None else None
        self._plugged: dict[str, _Plugged] = {}
        self._writer: Writer | None = None
        self._writer_ids: dict[str, int] = {}  # each interface's id in the file, also after it is unplugged
        self._lock = threading.Lock()  # plug/unplug/writer changes from UI workers

    @property
    def interfaces(self) -> list[str]:
        return list(self._plugged)

    @property
    def limit_reached(self) -> bool:
        return self._limit is not None and self._limit.reached

    def plug(self, ifname: str, options: CaptureOptions = CaptureOptions(), *, netns: str | None = None) -> None:
        with self._lock:
            if ifname in self._plugged:
                raise RingcoreError(f"{ifname} is already plugged")
            label = f"{netns}/{ifname}" if netns else ifname
            plugged = _Plugged(Capture(ifname, options, netns), None, label)
            try:
                if self._count_talkers:
                    plugged.talkers = Talkers(plugged.capture.linktype)
                if self._drain:
                    ifid = self._writer.add_interface(label, plugged.capture.linktype, options.snaplen) if self._writer else 0
                    if self._writer:
                        self._writer_ids[ifname] = ifid
                    plugged.drain = Drain(plugged.capture.ring, self._writer, ifid, self._limit,
                                          talkers=plugged.talkers)
            except BaseException:  # the drain comes last: nothing runs yet that would need stopping
                plugged.close()
                raise
            self._plugged[ifname] = plugged

    def unplug(self, ifname: str) -> None:
        with self._lock:
            plugged = self._take(ifname)
            plugged.capture.stop()
            if plugged.drain:
                plugged.drain.stop(drain_rest=True)
            plugged.close()

    def _take(self, ifname: str) -> _Plugged:
        try:
            return self._plugged.pop(ifname)
        except KeyError:
            raise RingcoreError(f"{ifname} is not plugged") from None

    def _get(self, ifname: str) -> _Plugged:
        try:
            return self._plugged[ifname]
        except KeyError:
            raise RingcoreError(f"{ifname} is not plugged") from None

    def capture(self, ifname: str) -> Capture:
        return self._get(ifname).capture

    def ring(self, ifname: str) -> Ring:
        return self._get(ifname).capture.ring

    def stats(self) -> dict[str, RingStats]:
        """One consistent snapshot per plugged interface: one C call each."""
        with self._lock:  # unplug frees the ring
            return {name: self._snapshot(name, plugged) for name, plugged in self._plugged.items()}

    @staticmethod
    def _snapshot(name: str, plugged: _Plugged) -> RingStats:
        capture = plugged.capture
        raw = capture.ring.stats()
        values = {field: getattr(raw, field) for field, _ in raw._fields_}
        values["batch_hist"] = tuple(raw.batch_hist)
        values["latency_hist"] = tuple(raw.latency_hist)
        values["drop_policy"] = DropPolicy(raw.drop_policy)
        values["wait_strategy"] = WaitStrategy(raw.wait_strategy)
        values["paused"] = bool(raw.paused)
        values["truncate_to_slot"] = bool(raw.truncate_to_slot)
        return RingStats(ifname=name, ifindex=capture.ifindex, filter=capture.filter, error=capture.error(), **values)

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

    def set_wait(self, ifname: str, strategy: WaitStrategy, poll_interval_us: int) -> None:
        with self._lock:
            self.ring(ifname).set_wait(strategy, poll_interval_us)

    def set_filter(self, ifname: str, expression: str | None) -> None:
        with self._lock:
            self.capture(ifname).set_filter(expression)

    def reset_high_water(self, ifname: str) -> None:
        with self._lock:
            self.ring(ifname).reset_high_water()

    def read_slot(self, ifname: str, index: int) -> SlotView | None:
        with self._lock:
            return self.ring(ifname).copy_slot(index)

    def slot_kinds(self, ifname: str) -> bytes:
        """Each slot's kind (first slot of a record, continuation, padding): how the slot map groups records."""
        with self._lock:
            return self.ring(ifname).slot_kinds()

    def top_talkers(self, ifname: str, n: int) -> TopTalkers:
        """The n largest conversations of the last seconds on this interface (one C call)."""
        with self._lock:
            talkers = self._get(ifname).talkers
            if talkers is None:
                raise RingcoreError("this session does not count talkers")
            return talkers.top(n)

    def errors(self) -> dict[str, str]:
        """Interfaces whose producer stopped (gone away), with why."""
        with self._lock:
            return {name: err for name, p in self._plugged.items() if (err := p.capture.error())}

    # -- writing -----------------------------------------------------------

    def start_writing(self, path: str, fmt: str = "pcapng", owner: tuple[int, int] | None = None) -> None:
        """Write every ring's packets to `path`; `owner` (uid, gid) gets the file, for a process about to
        become that user."""
        with self._lock:
            if not self._drain:
                raise RingcoreError("this session has no drains to write from")
            if self._writer is not None:
                raise RingcoreError(f"already writing to {self._writer.path}")
            writer = Writer(path, fmt)
            try:
                if owner is not None:
                    writer.chown(*owner)
                ids = {name: writer.add_interface(p.label, p.capture.linktype, p.capture.options.snaplen)
                       for name, p in self._plugged.items()}
            except BaseException:
                writer.abort()
                raise
            self._writer, self._writer_ids = writer, ids
            for name, ifid in ids.items():
                self._plugged[name].drain.set_writer(writer, ifid)

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
        return WriteStatus(writer.path, writer.format, writer.packets, writer.bytes, error, by_interface)

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
        """Stop everything, close the file (if any) and free every ring."""
        writer = None
        with self._lock:  # stats() and the settings read the rings this frees
            try:
                self._stop_all()
                writer = self._detach_writer()
            finally:
                while self._plugged:
                    self._plugged.popitem()[1].close()
        if writer is not None:
            # closed outside the lock, as in stop_writing: the fsync may take a while
            writer.close()
