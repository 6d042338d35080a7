"""The pcap/pcapng Writer fed by C drains: files tshark and tcpdump read back exactly, written by temp + rename,
cut back to whole packets when the disk fills, and devices written in place."""
from __future__ import annotations

import os
import random
import re
import shutil
import stat
import subprocess
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from readback import TSHARK_TIMEOUT_S as TOOL_TIMEOUT_S, ReadBack, epoch_ns, tshark_read

from ringcore import Drain, Ring, RingcoreError, WaitStrategy, Writer

pytestmark = pytest.mark.skipif(not (shutil.which("tshark") and shutil.which("tcpdump")),
                                reason="tshark and tcpdump read the files back")

LINKTYPE_ETHERNET = 1
SNAPLEN = 65535
BASE_TS_NS = 1_700_000_000_123_456_789



@dataclass(frozen=True)
class Packet:
    frame: bytes
    wirelen: int
    ts_ns: int


def make_packets(count: int, stream: int = 0, size_max: int = 1400) -> list[Packet]:
    """Ethernet frames of a local experimental ethertype, random sizes and ns timestamps with every digit used."""
    rng = random.Random(stream)
    packets = []
    for seq in range(count):
        payload = rng.randbytes(rng.randint(46, size_max))
        frame = bytes([2, 0, 0, 0, 0, stream + 1, 2, 0, 0, 0, 0, 0x10 + stream]) + b"\x88\xb5" + payload
        wirelen = len(frame) + rng.choice([0, 0, 4, 100])
        packets.append(Packet(frame, wirelen, BASE_TS_NS + seq * 1_000_003_117 + stream * 777))
    return packets


@contextmanager
def drained_rings(writer: Writer | None, names: list[str]):
    """One ring per interface name, each with a C drain into writer; drains stopped and rings freed on exit."""
    with ExitStack() as stack:
        fed = []
        for name in names:
            ring = Ring.create(slot_size=2048, ring_pages=33, wait_strategy=WaitStrategy.SLEEP, poll_interval_us=100)
            stack.callback(ring.close)
            ifid = writer.add_interface(name, LINKTYPE_ETHERNET, SNAPLEN) if writer else 0
            drain = Drain(ring, writer, ifid)
            stack.callback(drain.stop)
            fed.append(ring)
        yield fed


def wait_delivered(ring: Ring, count: int, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while ring.stats().delivered < count:
        assert time.monotonic() < deadline, f"the drain took {ring.stats().delivered} of {count} packets"
        time.sleep(0.0002)


def write_interleaved(writer: Writer, streams: dict[str, list[Packet]]) -> list[tuple[str, Packet]]:
    """Feed each interface's packets through its ring and drain, alternating interfaces packet by packet and
    waiting for each to be written, so the file's order is known. Returns (interface, packet) in file order."""
    order = []
    with drained_rings(writer, list(streams)) as rings:
        longest = max(len(packets) for packets in streams.values())
        for seq in range(longest):
            for ring, (name, packets) in zip(rings, streams.items()):
                if seq < len(packets):
                    packet = packets[seq]
                    assert ring.produce(packet.frame, wirelen=packet.wirelen, ts_ns=packet.ts_ns)
                    wait_delivered(ring, seq + 1)
                    order.append((name, packet))
    return order


def tcpdump_read(path: Path) -> list[ReadBack]:
    """Every packet as tcpdump -r reads it (nanosecond times, full hex dump); fails on any complaint."""
    done = subprocess.run(["tcpdump", "-r", str(path), "-n", "-tt", "-xx", "--time-stamp-precision=nano"],
                          capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    complaints = [line for line in done.stderr.splitlines() if not line.startswith("reading from file")]
    assert done.returncode == 0 and not complaints, f"tcpdump on {path}: {done.stderr}"
    packets, ts_ns, wirelen, hex_bytes = [], None, None, []
    for line in done.stdout.splitlines() + [""]:
        if line.startswith("\t0x"):
            hex_bytes.append(line.split(":", 1)[1].replace(" ", ""))
            continue
        if ts_ns is not None:
            packets.append(ReadBack(ts_ns, wirelen, bytes.fromhex("".join(hex_bytes))))
        if line:
            header = re.match(r"^(\d+\.\d{9}) .*, length (\d+)", line)
            assert header, f"unexpected tcpdump line: {line!r}"
            ts_ns, wirelen, hex_bytes = epoch_ns(header[1]), int(header[2]), []
    return packets


def expected(packets: list[Packet], fmt: str, interfaces: list[str] | None = None) -> list[ReadBack]:
    """What a reader must show: pcap (µs) keeps the microseconds of each timestamp."""
    tick = 1000 if fmt == "pcap" else 1
    return [ReadBack(p.ts_ns // tick * tick, p.wirelen, p.frame, interfaces[i] if interfaces else None)
            for i, p in enumerate(packets)]


@pytest.mark.parametrize("fmt", ["pcap", "pcap-ns", "pcapng"])
def test_written_file_reads_back_in_tshark_and_tcpdump_with_same_packets_bytes_and_times(tmp_path, fmt):
    path = tmp_path / f"out.{fmt}"
    packets = make_packets(40)
    writer = Writer(str(path), fmt)
    write_interleaved(writer, {"veth-a": packets})
    assert writer.packets == 40
    writer.close()
    want = expected(packets, fmt)
    from_tcpdump = tcpdump_read(path)
    from_tshark = [ReadBack(p.ts_ns, p.wirelen, p.frame) for p in tshark_read(path)]
    assert from_tshark == want
    assert from_tcpdump == want
    if fmt == "pcap":
        assert any(p.ts_ns % 1000 for p in packets), "the µs file must have had nanoseconds to drop"


def test_pcapng_with_two_interfaces_keeps_the_interface_of_each_packet(tmp_path):
    path = tmp_path / "two.pcapng"
    writer = Writer(str(path), "pcapng")
    order = write_interleaved(writer, {"veth-a": make_packets(12, stream=0), "veth-b": make_packets(9, stream=1)})
    writer.close()
    read = tshark_read(path)
    assert [(p.interface, p.frame, p.ts_ns) for p in read] == [(name, p.frame, p.ts_ns) for name, p in order]
    assert {p.interface for p in read} == {"veth-a", "veth-b"}
    assert len(tcpdump_read(path)) == len(order)


def test_pcap_file_refuses_an_interface_of_another_link_type(tmp_path):
    writer = Writer(str(tmp_path / "one.pcap"), "pcap")
    try:
        writer.add_interface("eth0", LINKTYPE_ETHERNET, SNAPLEN)
        with pytest.raises(RingcoreError, match="one link type"):
            writer.add_interface("tun0", 101, SNAPLEN)
    finally:
        writer.abort()


def test_file_appears_under_its_name_only_when_closed(tmp_path):
    path = tmp_path / "atomic.pcapng"
    writer = Writer(str(path), "pcapng")
    # more than the 1 MiB write buffer, so data already sits on disk in the temporary file
    write_interleaved(writer, {"veth-a": make_packets(2000)})
    assert not path.exists()
    [temporary] = os.listdir(tmp_path)
    assert temporary.startswith("atomic.pcapng.tmp-") and (tmp_path / temporary).stat().st_size > 0
    writer.close()
    assert os.listdir(tmp_path) == ["atomic.pcapng"]
    assert len(tshark_read(path)) == 2000


def test_existing_file_is_replaced_only_when_closed(tmp_path):
    path = tmp_path / "old.pcap"
    path.write_bytes(b"previous capture")
    writer = Writer(str(path), "pcap")
    write_interleaved(writer, {"veth-a": make_packets(5)})
    assert path.read_bytes() == b"previous capture"
    writer.close()
    assert [p.frame for p in tshark_read(path)] == [p.frame for p in make_packets(5)]


def test_abort_leaves_nothing_behind_and_the_old_file_untouched(tmp_path):
    fresh = tmp_path / "fresh.pcapng"
    writer = Writer(str(fresh), "pcapng")
    write_interleaved(writer, {"veth-a": make_packets(2000)})
    writer.abort()
    assert os.listdir(tmp_path) == []

    kept = tmp_path / "kept.pcap"
    kept.write_bytes(b"previous capture")
    writer = Writer(str(kept), "pcap")
    write_interleaved(writer, {"veth-a": make_packets(3)})
    writer.abort()
    assert os.listdir(tmp_path) == ["kept.pcap"] and kept.read_bytes() == b"previous capture"


def test_closing_a_writer_that_got_no_interface_leaves_no_file(tmp_path):
    writer = Writer(str(tmp_path / "empty.pcap"), "pcap")
    with pytest.raises(RingcoreError, match="nothing was captured"):
        writer.close()
    assert os.listdir(tmp_path) == []


@pytest.fixture
def small_disk(tmp_path):
    """A 256 KiB tmpfs mounted for the test and unmounted after it."""
    mountpoint = tmp_path / "disk"
    mountpoint.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mountpoint)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs: {mounted.stderr.strip()}")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", str(mountpoint)], check=True)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_full_disk_fails_the_close_and_leaves_a_valid_file_of_the_whole_packets_written(small_disk, fmt):
    path = small_disk / f"full.{fmt}"
    packets = make_packets(3000, size_max=1000)
    writer = Writer(str(path), fmt)
    sent = 0
    with drained_rings(writer, ["veth-a"]) as [ring]:
        while writer.error() is None:
            assert sent < len(packets), "3 MB into a 256 KiB disk and no write error"
            packet = packets[sent]
            if ring.produce(packet.frame, wirelen=packet.wirelen, ts_ns=packet.ts_ns):
                sent += 1
            else:
                time.sleep(0.0002)
        error = writer.error()
    written = writer.packets
    assert 0 < written < sent
    assert "disk is full" in error and f"{written} packets" in error
    with pytest.raises(RingcoreError) as closing:
        writer.close()
    assert "\n" not in str(closing.value) and "disk is full" in str(closing.value)
    assert os.listdir(small_disk) == [path.name]
    read = tshark_read(path)
    assert [p.frame for p in read] == [p.frame for p in packets[:written]]
    assert len(tcpdump_read(path)) == written


def test_dev_null_is_written_in_place_and_never_renamed_over():
    before = os.stat("/dev/null")
    writer = Writer("/dev/null", "pcapng")
    write_interleaved(writer, {"veth-a": make_packets(20)})
    assert writer.packets == 20
    writer.close()
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert not [name for name in os.listdir("/dev") if name.startswith("null.tmp-")]
