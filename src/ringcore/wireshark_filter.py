"""Wireshark display filters over a store: tshark reads the packets once (`-Y EXPR`, the frame number as its
one column) and the frame numbers it prints become the store's selection."""
from __future__ import annotations

import os
import selectors
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Iterator

from .api import FilterError
from .store import DisplayFilter, PacketStore

PROGRESS_INTERVAL_S = 0.1  # progress (and a chance to cancel) at least this often while tshark reads
TSHARK_MISSING = "Wireshark display filters need tshark: install it (Debian package tshark)"
# An empty pcap (the header alone): tshark checks the expression against it before anything is read.
_EMPTY_PCAP = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise FilterError(TSHARK_MISSING)
    return path


def _tshark_command(tshark: str, path: str, expression: str) -> list[str]:
    # -n: no name lookups. The frame number as the one column of the text output: tshark dissects no more
    # than the filter needs, where -T fields -e frame.number builds each packet's whole tree (twice the time).
    return [tshark, "-n", "-r", path, "-Y", expression, "-o", 'gui.column.format:"No.","%m"']


def _tshark_complaint(stderr: str) -> str:
    """tshark's one line about the expression (it warns first when run as root)."""
    for line in stderr.splitlines():
        if line.startswith("tshark: "):
            return line.removeprefix("tshark: ").strip()
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("Running as user")]
    return lines[0].strip() if lines else "tshark failed"


def _readable_in_place(store: PacketStore) -> bool:
    """A regular file tshark can read as it is: its frame numbers are the store's numbers plus one."""
    if store.path is None or store.path == "-":
        return False
    try:
        return stat.S_ISREG(os.stat(store.path).st_mode)
    except OSError:
        return False


class WiresharkDisplayFilter(DisplayFilter):
    """A Wireshark display filter, run by tshark once over the whole store (PacketStore.compile_filter)."""

    language = "wireshark"

    def __init__(self, store: PacketStore, expression: str) -> None:
        super().__init__(store, expression)
        self._tshark = _tshark()
        self._ran = False
        with tempfile.TemporaryDirectory(prefix="ringmon-dfilter-") as directory:
            empty = os.path.join(directory, "empty.pcap")
            with open(empty, "xb") as file:
                file.write(_EMPTY_PCAP)
            checked = subprocess.run(_tshark_command(self._tshark, empty, expression), capture_output=True,
                                     text=True, errors="replace", stdin=subprocess.DEVNULL)
        if checked.returncode != 0:
            raise FilterError(f"Wireshark filter '{expression}': {_tshark_complaint(checked.stderr)}")

    def run(self, chunk: int = 0) -> Iterator[int]:
        """Runs tshark once (later calls find nothing new), yielding how far it read (a packet number) several
        times a second. A live store (or standard input) is first exported to a private temporary pcapng."""
        if self._ran:
            return
        self._ran = True
        with tempfile.TemporaryDirectory(prefix="ringmon-dfilter-") as directory:
            if _readable_in_place(self.store):
                path, first = self.store.path, 0
                packets = self.store.wait().count
            else:
                path = os.path.join(directory, "store.pcapng")
                end = self.store.progress().count
                packets = self.store.export(path, "pcapng").packets
                # the export holds the last `packets` packets stored when it began: exact for every packet
                # still held (one evicted meanwhile shifts only numbers that are evicted too)
                first = end - packets
            yield from self._read_tshark(path, first, packets)

    def _read_tshark(self, path: str, first: int, packets: int) -> Iterator[int]:
        """tshark over path (its frame k is packet first + k - 1 of `packets`); yields an estimate of how far it
        got at least every PROGRESS_INTERVAL_S, so a caller may stop (cancel) however rare the matches."""
        # stderr to a file: a pipe nobody reads while tshark writes frame numbers could fill and stall it
        with tempfile.TemporaryFile() as stderr, selectors.DefaultSelector() as ready:
            process = subprocess.Popen(_tshark_command(self._tshark, path, self.expression), stdout=subprocess.PIPE,
                                       stderr=stderr, stdin=subprocess.DEVNULL)
            try:
                ready.register(process.stdout, selectors.EVENT_READ)
                size = os.path.getsize(path) or 1
                pending, reached = b"", first
                while True:
                    if ready.select(PROGRESS_INTERVAL_S):
                        data = os.read(process.stdout.fileno(), 1 << 16)
                        if not data:
                            break
                        *lines, pending = (pending + data).split(b"\n")
                        numbers = [first + int(line) - 1 for line in lines if line.strip().isdigit()]  # from 1
                        self.selection.extend(numbers)
                        reached = max(reached, numbers[-1] + 1 if numbers else reached)
                    read_fraction = _read_position(process.pid, path) / size
                    yield max(reached, first + int(read_fraction * packets))
                if process.wait() != 0:
                    stderr.seek(0)
                    complaint = _tshark_complaint(stderr.read().decode("utf-8", "replace"))
                    raise FilterError(f"Wireshark filter '{self.expression}': {complaint}")
                yield first + packets
            finally:
                if process.poll() is None:
                    process.kill()  # stopped iterating: cancelled
                process.wait()
                process.stdout.close()


def _read_position(pid: int, path: str) -> int:
    """How far process pid has read the file at path (its descriptor's offset), 0 when it cannot be told."""
    target = os.path.realpath(path)
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                    return int(info.readline().split()[1])  # "pos:\t<offset>"
    except (OSError, ValueError, IndexError):
        pass  # it ended, or closed the file, meanwhile
    return 0
