"""`ringmon capture`: headless and tcpdump-shaped. With -w the rings are drained to the file in C
(no Python per packet), with --count-only drained and only counted (the fleet's monitor, read through --metrics);
without either each packet becomes one line on stdout; -r reads a file instead."""
from __future__ import annotations

import argparse
import dataclasses
import enum
import json
import os
import pwd
import signal
import stat
import sys
import tempfile
import threading
import time
from collections.abc import Iterable

from ringcore import (
    MAX_BATCH,
    CaptureFileError,
    CaptureOptions,
    Direction,
    Monitor,
    PacketStore,
    Ring,
    RingcoreError,
    RingMode,
    RingStats,
    Rotation,
    UserSpaceFilter,
    WriteStatus,
    require_capture_privilege,
)
from ringcore import interfaces
from ringcore.filter import compile_program

from ..cli import UsageError, say
from ..formatting import escape
from ..metrics import MetricsServer
from ..decode.summary import LineFormat, LinePrinter
from ..privilege import drop_privileges, installation_needs, require_access, user_account
from .export import export_file

# How often the -w loop looks at the session (limit reached, signal, interfaces gone, writer error):
# the drains run in C, so this only bounds how late ringmon notices.
WATCH_INTERVAL_S = 0.2  # 5 wake-ups a second: idle costs next to nothing
PRINT_BATCH = 64  # slots taken from one ring before the next ring's turn
INDEX_WAIT_S = 0.05  # -r: how long to wait for the indexer when the printer caught up with it


class StopRequest:
    """Every way the process is asked to end (SIGINT, SIGTERM, SIGHUP: the terminal or ssh closed) stops the
    capture; it then empties the rings, closes the file and sums up. (SIGPIPE stays ignored, as Python sets it:
    a reader that goes away is an EPIPE that ends the stream.)"""

    def __init__(self):
        self._event = threading.Event()
        self._previous = {}

    def __enter__(self) -> StopRequest:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self._previous[signum] = signal.signal(signum, lambda *_: self.request())
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def request(self) -> None:
        self._event.set()

    @property
    def requested(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout_s: float) -> bool:
        return self._event.wait(timeout_s)


class StatsFile:
    """--stats-json, written as the C writer writes captures: an exclusive temp file beside it (mkstemp: an
    unpredictable name, 0600, never through a planted symlink), synced, renamed into place, the rename synced.
    The temp file is made at start, so a bad path fails before the capture, not after it."""

    def __init__(self, path: str, owner: pwd.struct_passwd | None = None):
        """`owner` gets the file, for a process about to become that user (-Z)."""
        self.path = path
        self._directory, name = os.path.split(os.path.abspath(path))
        try:
            replaced_mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:
            replaced_mode = None
        try:
            descriptor, self._temp_path = tempfile.mkstemp(prefix=f"{name}.tmp-", dir=self._directory)
        except OSError as exc:
            raise RingcoreError(f"{path}: cannot write the statistics: {exc.strerror}") from None
        self._temp = os.fdopen(descriptor, "w")
        if replaced_mode is not None:
            os.fchmod(descriptor, replaced_mode)  # a replaced file keeps who may read it
        if owner is not None:
            os.fchown(descriptor, owner.pw_uid, owner.pw_gid)

    def commit(self, stats: dict[str, RingStats], written: WriteStatus | None) -> None:
        """Each interface's statistics, by key ("netns/ifname" inside a namespace, as in the file), with the stages
        its ring can drop at (zero-copy: the kernel alone); with -w also `written`, its packets the files hold once
        closed, and the files written and removed (-W)."""
        document = {name: {field: value.name.lower() if isinstance(value, enum.Enum) else value
                           for field, value in dataclasses.asdict(snapshot).items()}
                    | {"drop_stages": list(snapshot.mode.drop_stages)}
                    for name, snapshot in stats.items()}
        if written:
            for name, entry in document.items():
                entry["written"] = written.packets_by_interface.get(name, 0)
                # the capture's files (-C/-G rotate), in every interface's entry: the keys are interfaces
                entry["files_written"] = written.files.written
                entry["files_removed"] = written.files.removed
        try:
            with self._temp:
                json.dump(document, self._temp, indent=2)
                self._temp.write("\n")
                self._temp.flush()
                os.fsync(self._temp.fileno())
            os.replace(self._temp_path, self.path)
            sync_directory(self._directory)
        except OSError as exc:
            self.discard()
            raise RingcoreError(f"{self.path}: cannot write the statistics: {exc.strerror}") from None

    def discard(self) -> None:
        self._temp.close()
        try:
            os.unlink(self._temp_path)
        except FileNotFoundError:
            pass


def sync_directory(directory: str) -> None:
    """Make a rename in `directory` survive a crash."""
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def line_format(args: argparse.Namespace) -> LineFormat:
    """The packet lines tcpdump's output flags ask for (-X over -x over -A, as tcpdump has it)."""
    dump, dump_link = "", False
    if args.hex_ascii:
        dump, dump_link = "hex_ascii", args.hex_ascii > 1
    elif args.hex:
        dump, dump_link = "hex", args.hex > 1
    elif args.ascii:
        dump = "ascii"
    return LineFormat(link_header=args.link_header, verbose=args.verbose, quiet=args.quiet,
                      time_style=args.time_style, dump=dump, dump_link=dump_link)


def run_capture(args: argparse.Namespace, options: CaptureOptions) -> int:
    if args.list_interfaces:
        return _list_interfaces(args.netns)
    with StopRequest() as stop:
        if args.read_file:
            return _read_file(args, options.filter, stop)
        if not args.interfaces:
            raise UsageError("capture needs an interface (-i IFACE) or a file (-r FILE)")
        args.interfaces = [interfaces.interface_named(name, args.netns) for name in args.interfaces]
        if args.list_linktypes:
            return _list_linktypes(args.interfaces, args.netns)
        if args.count_only and args.write_file:
            raise UsageError("--count-only writes no packet: it cannot be used with -w")
        if args.dispatch == "direct" and not (args.write_file or args.count_only):
            raise UsageError("--dispatch direct runs the writer (-w) or the counting (--count-only) in the capture "
                             "thread: without either, lines are printed from the ring as with --zero-copy")
        account = user_account(args.run_as) if args.run_as else None
        if account is not None:
            require_access(account, installation_needs() + _output_needs(args))
        require_capture_privilege()
        metrics = MetricsServer(args.metrics) if args.metrics else None  # listening before -Z drops privileges
        try:
            stats_file = StatsFile(args.stats_json, account) if args.stats_json else None
            try:
                capture = _drain if args.write_file or args.count_only else _print_lines
                return capture(args, options, stop, stats_file, account, metrics)
            except BaseException:
                if stats_file:
                    stats_file.discard()
                raise
        finally:
            if metrics:
                metrics.close()


def _check_interface(ifname: str, netns: str | None, options: CaptureOptions) -> None:
    """Before anything opens: the filter compiles for the interface's link type (a typo is said whatever the
    interface's state), and the interface is up (a capture on a down one would wait for nothing, silently)."""
    linktype = interfaces.interface_linktype(ifname, netns)
    if options.filter:
        try:
            compile_program(options.filter, linktype, options.snaplen)
        except RingcoreError as exc:
            raise RingcoreError(f"{ifname}: {exc}") from None
    if not interfaces.is_up(ifname, netns):
        raise RingcoreError(f"{ifname} is down: bring it up first (ip link set {ifname} up)")


def _list_interfaces(netns: str | None) -> int:
    """-D: tcpdump's list, numbered as tcpdump numbers it, of the interfaces ringmon can capture on."""
    for listed in interfaces.list_interfaces(netns):
        description = f" ({escape(listed.description)})" if listed.description else ""
        status = f" [{listed.status}]" if listed.status else ""
        print(f"{listed.number}.{escape(listed.name)}{description}{status}")
    return 0


def _list_linktypes(names: list[str], netns: str | None) -> int:
    """-L: the one link type ringmon captures each interface as, in tcpdump's words and, as tcpdump's, on stderr."""
    for ifname in names:
        linktype = interfaces.interface_linktype(ifname, netns)
        print(f"Data link types for {escape(ifname)} (use option -y to set):\n  {interfaces.linktype_name(linktype)}",
              file=sys.stderr)
    return 0


def _read_file(args: argparse.Namespace, expression: str | None, stop: StopRequest) -> int:
    """The file's packets through the store's C index, in batches, as lines; an error the indexer stopped at
    comes after the packets before it."""
    if args.write_file:
        return export_file(args.read_file, args.write_file, args.format, args.count, expression)
    file_filter = UserSpaceFilter(expression) if expression else None
    printer = LinePrinter(line_format(args))
    printed = 0
    with PacketStore.open_file(args.read_file) as store:
        interfaces = store.interfaces()
        number = 0
        while not stop.requested and printed != args.count:
            progress = store.progress()  # before the batch: once done, an empty batch is the end
            batch = store.packets(number, MAX_BATCH)
            if not batch:
                if progress.error:
                    raise CaptureFileError(f"{args.read_file}: {progress.error}")
                if progress.done:
                    break
                store.wait(INDEX_WAIT_S)
                continue
            number += len(batch)
            lines = []
            for packet in batch:
                if packet.interface >= len(interfaces):
                    interfaces = store.interfaces()  # declared after the last look
                interface = interfaces[packet.interface]
                if file_filter and not file_filter.accepts(packet.data, interface.linktype):
                    continue
                # as tcpdump -r, no interface on the lines; unless the file has several: then which one
                shown = interface.name if len(interfaces) > 1 else None
                lines.append(printer.line(packet.data, packet, shown, interface.linktype))
                printed += 1
                if printed == args.count:
                    break
            _emit(lines, stop)
    return 0


def _output_needs(args: argparse.Namespace) -> list[tuple[str, int, str]]:
    """With -Z: the directories where files are renamed into place at the end, by then as that user."""
    files = [path for path in (args.write_file, args.stats_json)
             if path and path != "-" and not (os.path.exists(path) and not os.path.isfile(path))]
    return [(os.path.dirname(os.path.abspath(path)), os.W_OK | os.X_OK,
             "write where the file is renamed into place at the end") for path in files]


def _plug_all(monitor: Monitor, args: argparse.Namespace, options: CaptureOptions,
              account: pwd.struct_passwd | None) -> list[str]:
    """Plug every interface; then, with -Z, every socket and file being open, go on as that user. Returns
    their keys in the session."""
    for ifname in args.interfaces:
        _check_interface(ifname, args.netns, options)
    keys = [monitor.plug(ifname, options, netns=args.netns) for ifname in args.interfaces]
    where = f" (netns {escape(args.netns)})" if args.netns else ""
    for key in keys:
        capture = monitor.capture(key)
        say(f"listening on {escape(capture.ifname)}{where}, link-type "
            f"{interfaces.linktype_name(capture.linktype)}, snapshot length {options.snaplen} bytes")
        if options.direction is Direction.OUT and interfaces.is_loopback(capture.ifname, args.netns):
            say(f"{escape(capture.ifname)} is loopback: each packet is seen once, coming in, so -Q out takes none")
    if account is not None:
        drop_privileges(account)
    return keys


def _report_gone(monitor: Monitor, reported: set[str]) -> dict[str, str]:
    """Say once, as it happens, that an interface went away; the others keep capturing."""
    gone = monitor.errors()
    for key in gone.keys() - reported:
        say(escape(gone[key]))  # the message names the interface: any name Linux allows
        reported.add(key)
    return gone


def _drain(args: argparse.Namespace, options: CaptureOptions, stop: StopRequest, stats_file: StatsFile | None,
           account: pwd.struct_passwd | None, metrics: MetricsServer | None) -> int:
    """-w or --count-only: the rings drained in C, to the file or only counted."""
    monitor = Monitor(drain=True, count=args.count)
    written = None
    try:
        if metrics:
            metrics.watch(monitor)
        if args.write_file:
            # The file first, so every drain has it from its first packet (and -c counts only written ones).
            rotation = Rotation(args.file_size_mb or 0, args.rotate_seconds or 0, args.files_max or 0)
            monitor.start_writing(args.write_file, args.format or "pcap",
                                  owner=(account.pw_uid, account.pw_gid) if account is not None else None,
                                  rotation=rotation, packet_buffered=args.packet_buffered)
        try:
            _plug_all(monitor, args, options, account)
        except BaseException:
            if args.write_file:
                monitor.abort_writing()  # a session that never started leaves no file behind
            raise
        gone_reported: set[str] = set()
        while not stop.wait(WATCH_INTERVAL_S):
            gone = _report_gone(monitor, gone_reported)
            writing = monitor.writing
            if monitor.limit_reached or (writing and writing.error) or len(gone) == len(args.interfaces):
                break
        monitor.stop()
        failed = bool(_report_gone(monitor, gone_reported))
        stats = monitor.stats()
        if args.write_file:
            # counted once closed: the last flush may fail (disk full) and cut packets from the file
            written = monitor.stop_writing()
            if written.error:  # the C writer kept every whole packet, renamed into place
                say(written.error)
                failed = True
    finally:
        _close_quietly(monitor)
    captured = written.packets if written else sum(snapshot.delivered for snapshot in stats.values())
    return _finish(stats, captured, stats_file, failed, written)


def _print_lines(args: argparse.Namespace, options: CaptureOptions, stop: StopRequest, stats_file: StatsFile | None,
                 account: pwd.struct_passwd | None, metrics: MetricsServer | None) -> int:
    monitor = Monitor(drain=False)
    try:
        if metrics:
            metrics.watch(monitor)
        keys = _plug_all(monitor, args, options, account)
        # as tcpdump, a line names its interface only when several are captured
        rings = [(monitor.capture(key).ifname if len(keys) > 1 else None, monitor.ring(key),
                  monitor.capture(key).linktype) for key in keys]
        printer = LinePrinter(line_format(args))  # one for all: times and sequences across the interfaces
        printed = 0
        stopping = False
        first = 0  # rotates, so no interface always goes first
        gone_reported: set[str] = set()
        next_watch = 0.0
        while True:
            if time.monotonic() >= next_watch:
                next_watch = time.monotonic() + WATCH_INTERVAL_S
                _report_gone(monitor, gone_reported)
            if not stopping and (stop.requested or printed == args.count or len(gone_reported) == len(rings)):
                # Stop taking from the kernel; what is already in the rings is still printed (up to -c).
                monitor.stop()
                stopping = True
            moved = 0
            for offset in range(len(rings)):
                ifname, ring, linktype = rings[(first + offset) % len(rings)]
                want = PRINT_BATCH if args.count is None else min(PRINT_BATCH, args.count - printed - moved)
                moved += _print_batch(ring, want, ifname, linktype, printer, stop) if want else 0
            printed += moved
            first = (first + 1) % len(rings)
            if moved == 0:
                if stopping:
                    break
                # every ring was empty: one wait (1 ms by default), counted in the stats of the ring next in turn
                rings[first][1].wait()
        failed = bool(_report_gone(monitor, gone_reported))
        stats = monitor.stats()
    finally:
        _close_quietly(monitor)
    return _finish(stats, printed, stats_file, failed, None)


def _print_batch(ring: Ring, want: int, ifname: str | None, linktype: int, printer: LinePrinter,
                 stop: StopRequest) -> int:
    """One batch of a ring as lines on stdout, flushed together; the slots are freed once decoded."""
    batch = ring.poll(want)
    if not batch:
        return 0
    lines = []
    for view, meta in batch:
        lines.append(printer.line(bytes(view), meta, ifname, linktype))
        view.release()
    ring.release(len(batch))
    _emit(lines, stop)
    return len(batch)


def _emit(lines: list[str], stop: StopRequest) -> None:
    """Lines on stdout, flushed together; a reader that went away (`| head`) ends the capture quietly."""
    if not lines:
        return
    try:
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        # later writes, and the interpreter's own flush at exit, go nowhere instead of failing again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        stop.request()


def _close_quietly(monitor: Monitor) -> None:
    """Free everything; on the way out of an error, that error is the one to report."""
    try:
        monitor.close()
    except RingcoreError:
        pass


def _ring_drops_line(stats: dict[str, RingStats], ring_drops: int) -> str:
    """The summary's fourth line: the slot ring's drops, or, with no slot ring (every interface zero-copy or direct:
    one capture's interfaces share their mode), that every drop was the kernel's, counted above."""
    modes = {snapshot.mode for snapshot in stats.values()}
    if not modes or any("ring" in mode.drop_stages for mode in modes):
        return f"{ring_drops} packets dropped at ring"
    mode = "direct dispatch (zero-copy)" if modes == {RingMode.DIRECT} else "zero-copy"
    return f"{mode}: every drop is in the kernel, no slot ring to drop at"


def _why_truncated(stats: Iterable[RingStats]) -> str:
    """Who cut the packets: the kernel's frames in immediate mode, else the ring (as asked, or a packet larger than
    the whole ring)."""
    reasons = {"by the kernel: longer than --immediate-mode's frames, sized for the MTU" if snapshot.immediate
               else "to one slot (--truncate-to-slot)" if snapshot.truncate_to_slot
               else "by the ring: larger than the whole ring" for snapshot in stats if snapshot.truncated}
    return " or ".join(sorted(reasons))


def _finish(stats: dict[str, RingStats], captured: int, stats_file: StatsFile | None, failed: bool,
            written: WriteStatus | None) -> int:
    """tcpdump's summary on stderr (also after a signal or a fault), then the statistics file."""
    total = {field: sum(getattr(snapshot, field) for snapshot in stats.values())
             for field in ("kernel_seen", "kernel_drops", "ring_drops", "lost_at_stop", "truncated")}
    lines = [f"{captured} packets captured",
             f"{total['kernel_seen']} packets received by filter",
             f"{total['kernel_drops']} packets dropped by kernel",
             _ring_drops_line(stats, total["ring_drops"])]
    if total["lost_at_stop"]:  # the ring stayed full while stopping: received, but never taken
        lines.append(f"{total['lost_at_stop']} packets lost at stop")
    if written and written.files.written > 1 or written and written.files.removed:
        lines.append(f"{written.files.written} files written, {written.files.removed} removed by -W")
    if total["truncated"]:
        lines.append(f"{total['truncated']} packets truncated {_why_truncated(stats.values())}")
    try:
        sys.stderr.write("\n".join(lines) + "\n")
        sys.stderr.flush()
    except OSError:  # the terminal went away (SIGHUP): the statistics file is still written
        pass
    if stats_file:
        stats_file.commit(stats, written)
    return 1 if failed else 0
