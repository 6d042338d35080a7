"""Until ringcore's display filters and export land (ISSUE10_CONTRACT.md), PacketStore.compile_filter and
PacketStore.export done in Python after the contract: BPF by libpcap (pcapy's compile and bpf_filter),
Wireshark syntax by tshark over the file, export with dpkt. Installed only where PacketStore lacks them."""
from __future__ import annotations

import bisect
import os
import subprocess
from dataclasses import dataclass

import struct

import pcapy

import capture_files

from ringcore.api import FilterError, RingcoreError
from ringcore.store import MAX_BATCH, PacketStore


class ListSelection:
    def __init__(self) -> None:
        self._numbers: list[int] = []

    def __len__(self) -> int:
        return len(self._numbers)

    def numbers(self, start_index: int, count: int) -> list[int]:
        return self._numbers[start_index:start_index + count]

    def position(self, number: int) -> int:
        return bisect.bisect_left(self._numbers, number)

    def __contains__(self, number: int) -> bool:
        index = self.position(number)
        return index < len(self._numbers) and self._numbers[index] == number


class DoubleFilter:
    def __init__(self, store: PacketStore, expression: str, language: str, match) -> None:
        self.store, self.expression, self.language, self._match = store, expression, language, match
        self.selection = ListSelection()
        self._next = 0

    def run(self, chunk: int = 65536):
        count = self.store.progress().count
        while self._next < count:
            for packet in self.store.packets(self._next, min(MAX_BATCH, count - self._next)):
                if self._match(packet):
                    self.selection._numbers.append(packet.number)
            self._next = min(count, self._next + MAX_BATCH)
            yield self._next


def compile_filter(self: PacketStore, expression: str, language: str = "bpf") -> DoubleFilter:
    if language == "bpf":
        try:
            program = pcapy.compile(self.interfaces()[0].linktype, 65535, expression, 1, 0xFFFFFFFF)
        except pcapy.PcapError as error:
            raise FilterError(str(error)) from None
        return DoubleFilter(self, expression, language, lambda packet: program.filter(packet.data) > 0)
    done = subprocess.run(["tshark", "-r", self.path, "-Y", expression, "-T", "fields", "-e", "frame.number"],
                          capture_output=True, text=True, timeout=60)
    if done.returncode:
        raise FilterError(done.stderr.strip().splitlines()[-1])
    numbers = {int(line) - 1 for line in done.stdout.split()}
    return DoubleFilter(self, expression, language, lambda packet: packet.number in numbers)


@dataclass(frozen=True)
class ExportResult:
    packets: int
    bytes: int


def export(self: PacketStore, path: str, fmt: str = "pcapng", numbers=None, progress=None) -> ExportResult:
    if numbers is None:
        first, count = self.progress().first, self.progress().count
        wanted = [range(first, count)]
    elif hasattr(numbers, "numbers"):
        wanted = [numbers.numbers(0, len(numbers))]
    else:
        wanted = [item if isinstance(item, range) else [item] for item in numbers]
    temp = f"{path}.tmp-double"
    interfaces = self.interfaces()
    written = 0
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as stream:
            if fmt == "pcapng":
                stream.write(capture_files.section_header() + b"".join(
                    capture_files.interface([(capture_files.OPT_IF_TSRESOL, bytes([9]))], linktype=interface.linktype)
                    for interface in interfaces))
            else:
                magic = 0xA1B23C4D if fmt == "pcap-ns" else 0xA1B2C3D4
                stream.write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, 65535, interfaces[0].linktype))
            for group in wanted:
                for number in group:
                    packet = self.packet(number)
                    if packet is None:
                        continue
                    if fmt == "pcapng":
                        stream.write(capture_files.enhanced_packet(packet.data, packet.ts_ns, packet.interface))
                    else:
                        seconds, ns = divmod(packet.ts_ns, 10**9)
                        fraction = ns if fmt == "pcap-ns" else ns // 1000
                        stream.write(struct.pack("<IIII", seconds, fraction, packet.caplen, packet.wirelen)
                                     + packet.data)
                    written += 1
            stream.flush()
            os.fsync(stream.fileno())
        os.rename(temp, path)
    except OSError as error:
        if os.path.exists(temp):
            os.unlink(temp)
        raise RingcoreError(f"{path}: {error.strerror}") from None
    if progress:
        progress(written, written)
    return ExportResult(written, os.path.getsize(path))


def install() -> None:
    if not hasattr(PacketStore, "compile_filter"):
        PacketStore.compile_filter = compile_filter
        PacketStore.export = export
