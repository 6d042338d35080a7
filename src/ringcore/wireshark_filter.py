"""Wireshark display filters over a store: tshark reads the packets once (`-Y EXPR -T fields -e frame.number`)
and the frame numbers it prints become the store's selection."""
from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import tempfile
from collections.abc import Iterator

from .api import FilterError
from .store import SELECTION_BATCH, DisplayFilter, PacketStore

TSHARK_MISSING = "Wireshark display filters need tshark: install it (Debian package tshark)"
# An empty pcap (the header alone): tshark checks the expression against it before anything is read.
_EMPTY_PCAP = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)


def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        raise FilterError(TSHARK_MISSING)
    return path


def _tshark_command(tshark: str, path: str, expression: str) -> list[str]:
    # -n: no name lookups; the fields alone, one frame number a line
    return [tshark, "-n", "-r", path, "-Y", expression, "-T", "fields", "-e", "frame.number"]


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
        """Runs tshark once (later calls find nothing new); yields the last matching number + 1 as it reads.
        A live store (or standard input) is first exported to a private temporary pcapng."""
        if self._ran:
            return
        self._ran = True
        with tempfile.TemporaryDirectory(prefix="ringmon-dfilter-") as directory:
            first = 0
            if _readable_in_place(self.store):
                path = self.store.path
                self.store.wait()
            else:
                path = os.path.join(directory, "store.pcapng")
                end = self.store.progress().count
                exported = self.store.export(path, "pcapng").packets
                # the export holds the last `exported` packets stored when it began: exact for every packet
                # still held (one evicted meanwhile shifts only numbers that are evicted too)
                first = end - exported
            yield from self._read_tshark(path, first)

    def _read_tshark(self, path: str, first: int) -> Iterator[int]:
        # stderr to a file: a pipe nobody reads while tshark writes frame numbers could fill and stall it
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(_tshark_command(self._tshark, path, self.expression), stdout=subprocess.PIPE,
                                       stderr=stderr, stdin=subprocess.DEVNULL, text=True, errors="replace")
            try:
                batch: list[int] = []
                for line in process.stdout:
                    if line.strip().isdigit():
                        batch.append(first + int(line) - 1)  # tshark counts frames from 1
                    if len(batch) == SELECTION_BATCH:
                        self.selection.extend(batch)
                        yield batch[-1] + 1
                        batch = []
                self.selection.extend(batch)
                if process.wait() != 0:
                    stderr.seek(0)
                    complaint = _tshark_complaint(stderr.read().decode("utf-8", "replace"))
                    raise FilterError(f"Wireshark filter '{self.expression}': {complaint}")
                yield self.store.progress().count
            finally:
                if process.poll() is None:
                    process.kill()  # stopped iterating: cancelled
                process.wait()
                process.stdout.close()
