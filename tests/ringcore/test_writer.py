"""The pcap/pcapng Writer fed by C drains: files tshark and tcpdump read back exactly, written through an exclusive
temp file (0600, or the replaced file's mode) synced and renamed, cut back to whole packets when the disk fills,
and devices written in place (never a terminal)."""
from __future__ import annotations

import os
import pty
import random
import re
import select
import shutil
import stat
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from netns import require
from readback import TSHARK_TIMEOUT_S as TOOL_TIMEOUT_S, ReadBack, epoch_ns, tshark_read

from ringcore import Drain, Ring, RingcoreError, WaitStrategy, Writer

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
    require(shutil.which("tcpdump") is not None, "tcpdump reads the files back")
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
    assert [writer.interface_packets(ifid) for ifid in (0, 1)] == [12, 9]
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


def test_a_symlink_planted_at_the_temp_or_final_name_is_never_written_through(tmp_path):
    """ringmon runs as root: whoever can write the directory must not make it overwrite another file."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"not yours")
    path = tmp_path / "out.pcap"
    # the name the temp file used to have (NAME.tmp-PID), and the name itself
    planted = [tmp_path / f"out.pcap.tmp-{os.getpid()}", path]
    for link in planted:
        link.symlink_to(victim)
    writer = Writer(str(path), "pcap")
    write_interleaved(writer, {"veth-a": make_packets(5)})
    writer.close()
    assert victim.read_bytes() == b"not yours"
    assert planted[0].is_symlink() and not path.is_symlink()
    assert [p.frame for p in tshark_read(path)] == [p.frame for p in make_packets(5)]


def test_temp_names_are_unpredictable_so_two_writers_of_one_name_never_share_one(tmp_path):
    path = tmp_path / "same.pcap"
    writers = [Writer(str(path), "pcap") for _ in range(8)]
    temporaries = os.listdir(tmp_path)
    for writer in writers:
        writer.abort()
    assert len(set(temporaries)) == 8 and all(name.startswith("same.pcap.tmp-") for name in temporaries)
    assert not any(name.endswith(str(os.getpid())) for name in temporaries)


def test_temp_file_is_created_exclusively_synced_renamed_and_the_rename_synced(tmp_path):
    """The system calls, seen by strace: nothing existing is opened, and the file survives a crash once closed."""
    require(shutil.which("strace") is not None, "strace shows the writer's system calls")
    path, trace = tmp_path / "out.pcap", tmp_path / "strace.log"
    program = ("import sys; from ringcore import Writer; writer = Writer(sys.argv[1], 'pcap'); "
               "writer.add_interface('veth-a', 1, 65535); writer.close()")
    subprocess.run(["strace", "-f", "-y", "-qq", "-o", str(trace), "-e", "trace=openat,fsync,rename,renameat,renameat2",
                    sys.executable, "-c", program, str(path)], check=True, timeout=TOOL_TIMEOUT_S)
    calls = [line.split(maxsplit=1)[1] for line in trace.read_text().splitlines() if str(tmp_path) in line]
    temporary = re.escape(f"{path}.tmp-")
    assert len(calls) == 5, calls
    assert re.match(rf'openat\(.*"{temporary}\w{{6}}", O_RDWR\|O_CREAT\|O_EXCL\|O_NOFOLLOW\|O_CLOEXEC, 0600\) = \d+', calls[0])
    assert re.match(rf"fsync\(\d+<{temporary}\w{{6}}>\) += 0", calls[1])
    assert re.match(rf'rename\("{temporary}\w{{6}}", "{re.escape(str(path))}"\) += 0', calls[2])
    assert re.match(rf'openat\(.*"{re.escape(str(tmp_path))}", O_RDONLY\|O_CLOEXEC\|O_DIRECTORY\)', calls[3])
    assert re.match(rf"fsync\(\d+<{re.escape(str(tmp_path))}>\) += 0", calls[4])


def test_new_file_is_0600_whatever_the_umask(tmp_path):
    path = tmp_path / "new.pcap"
    previous = os.umask(0)
    try:
        writer = Writer(str(path), "pcap")
        write_interleaved(writer, {"veth-a": make_packets(3)})
        writer.close()
    finally:
        os.umask(previous)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644], ids=oct)
def test_replacing_a_file_keeps_its_mode(tmp_path, mode):
    path = tmp_path / "old.pcap"
    path.write_bytes(b"previous capture")
    path.chmod(mode)
    writer = Writer(str(path), "pcap")
    write_interleaved(writer, {"veth-a": make_packets(3)})
    writer.close()
    assert stat.S_IMODE(path.stat().st_mode) == mode
    assert len(tshark_read(path)) == 3


def test_a_terminal_is_refused_in_one_line_and_nothing_is_written_to_it():
    terminal, other_end = pty.openpty()
    try:
        with pytest.raises(RingcoreError) as refused:
            Writer(os.ttyname(other_end), "pcap")
        assert "is a terminal" in str(refused.value) and "\n" not in str(refused.value)
        assert select.select([terminal], [], [], 0.2)[0] == []
    finally:
        os.close(terminal)
        os.close(other_end)


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


def test_a_write_error_found_at_close_leaves_counts_of_what_the_closed_file_holds(small_disk):
    path = small_disk / "cut.pcap"
    # about 430 KB: all of it still in the 1 MiB write buffer, so the disk fills at the final flush
    packets = make_packets(800, size_max=1000)
    writer = Writer(str(path), "pcap")
    write_interleaved(writer, {"veth-a": packets})
    assert writer.error() is None and writer.packets == 800
    with pytest.raises(RingcoreError, match="disk is full"):
        writer.close()
    read = tshark_read(path)
    assert 0 < writer.packets == writer.interface_packets(0) == len(read) < 800
    assert writer.bytes == path.stat().st_size
    assert [p.frame for p in read] == [p.frame for p in packets[:writer.packets]]


def test_dev_null_is_written_in_place_and_never_renamed_over():
    before = os.stat("/dev/null")
    writer = Writer("/dev/null", "pcapng")
    write_interleaved(writer, {"veth-a": make_packets(20)})
    assert writer.packets == 20
    writer.close()
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert not [name for name in os.listdir("/dev") if name.startswith("null.tmp-")]
