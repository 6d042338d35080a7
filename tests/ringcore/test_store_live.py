"""A live capture's packet store: every packet the drains deliver is appended to a spool, read back whole, evicted
when the spool is full with the identity exact in every snapshot, and kept as a pcapng tshark reads back."""

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

import netns
from isolated import assert_every_call_raises_after_close
from readback import tshark_read
from ringcore import CaptureOptions, Monitor, OutOfRangeError, RingcoreError, StoreOptions
from ringcore.store import MAX_BATCH, PacketStore

from test_capture import QUIET_WINDOW_S, _recaptured, stats_of, take_away, wait_for

UDP_ONLY = CaptureOptions(filter=f"udp dst port {netns.UDP_DST_PORT}")


def all_packets(store: PacketStore):
    """Every packet the store holds, read in batches as a viewer would."""
    progress = store.progress()
    packets = []
    for start in range(progress.first, progress.count, MAX_BATCH):
        packets += store.packets(start, MAX_BATCH)
    return packets


def capture_all(monitor: Monitor, pair: netns.VethPair, frames: list[bytes]):
    """Send the frames to end a and wait until the kernel took them all and nothing more is on its way."""
    netns.send_frames(pair.ns_b, pair.if_b, frames)
    assert wait_for(lambda: stats_of(monitor, pair.if_a).delivered >= len(frames))
    time.sleep(QUIET_WINDOW_S)
    return stats_of(monitor, pair.if_a)


def test_the_store_holds_exactly_the_delivered_packets_bytes_identical_in_order(veth_pair, tmp_path):
    frames = veth_pair.frames_to_a(range(3000))
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path)))
    try:
        key = monitor.plug(veth_pair.if_a, UDP_ONLY, netns=veth_pair.ns_a)
        stats = capture_all(monitor, veth_pair, frames)
        assert (stats.delivered, stats.kernel_drops, stats.ring_drops) == (len(frames), 0, 0)
        assert (stats.stored, stats.store_failed, stats.store_evicted, stats.store_held) == (len(frames), 0, 0,
                                                                                             len(frames))
        store = monitor.store
        assert [interface.name for interface in store.interfaces()] == [key]
        packets = all_packets(store)
        assert [packet.data for packet in packets] == frames
        assert [packet.number for packet in packets] == list(range(len(frames)))
        assert all(packet.wirelen == packet.caplen == len(packet.data) and packet.interface == 0
                   and not packet.truncated for packet in packets)
        assert all(a.ts_ns <= b.ts_ns for a, b in zip(packets, packets[1:]))

        monitor.unplug(key)  # its packets stay
        assert [packet.data for packet in all_packets(store)] == frames
    finally:
        monitor.close()


def test_packets_sent_and_cut_by_the_ring_are_stored_with_their_flags(veth_pair, tmp_path):
    received, sent = veth_pair.frames_to_a(range(10), size=1000), veth_pair.frames_to_b(range(10, 20), size=1000)
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path)))
    try:
        key = monitor.plug(veth_pair.if_a, CaptureOptions(filter=UDP_ONLY.filter, slot_size=512, truncate_to_slot=True),
                           netns=veth_pair.ns_a)
        netns.send_frames(veth_pair.ns_a, veth_pair.if_a, sent)  # outgoing on end a
        capture_all(monitor, veth_pair, received)
        assert wait_for(lambda: monitor.stats()[key].stored == 20)
        packets = all_packets(monitor.store)
        assert sorted(packet.outgoing for packet in packets) == [False] * 10 + [True] * 10
        assert all(packet.truncated and packet.caplen == 512 - 32 and packet.wirelen == 1000 for packet in packets)
        assert sorted(packet.data for packet in packets) == sorted(frame[:480] for frame in received + sent)
    finally:
        monitor.close()


def test_interfaces_plugged_later_join_the_store_by_key_one_captured_again_keeps_its_number_one_replugged_is_new(
        make_veth_pair, tmp_path):
    first, second = make_veth_pair(), make_veth_pair()
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path)))
    try:
        key_a = monitor.plug(first.if_a, UDP_ONLY, netns=first.ns_a)
        capture_all(monitor, first, first.frames_to_a(range(30)))
        key_b = monitor.plug(second.if_a, UDP_ONLY, netns=second.ns_a)
        capture_all(monitor, second, second.frames_to_a(range(20)))
        take_away(first, "set-down")
        assert wait_for(lambda: monitor.stats()[key_a].error is not None)
        subprocess.run(["ip", "-n", first.ns_a, "link", "set", first.if_a, "up"], check=True, timeout=30)
        subprocess.run(["ip", "-n", first.ns_b, "link", "set", first.if_b, "up"], check=True, timeout=30)
        assert wait_for(lambda: _recaptured(monitor, key_a))
        netns.send_frames(first.ns_b, first.if_b, first.frames_to_a(range(100, 110)))
        assert wait_for(lambda: monitor.stats()[key_a].stored == 40)
        stats = monitor.stats()[key_a]
        assert (stats.recaptures, stats.delivered, stats.store_failed, stats.store_held) == (1, 40, 0, 40)
        monitor.unplug(key_b)
        store = monitor.store
        assert [interface.name for interface in store.interfaces()] == [key_a, key_b]
        # plugged again, it is a new interface of the store, as it would be a new block in a file
        assert monitor.plug(second.if_a, UDP_ONLY, netns=second.ns_a) == key_b
        capture_all(monitor, second, second.frames_to_a(range(200, 205)))
        assert (monitor.stats()[key_b].stored, monitor.stats()[key_b].store_held) == (5, 5)
        assert [interface.name for interface in store.interfaces()] == [key_a, key_b, key_b]
        by_interface = {0: [], 1: [], 2: []}
        for packet in all_packets(store):
            by_interface[packet.interface].append(netns.check_frame(packet.data))
        assert by_interface == {0: [*range(30), *range(100, 110)], 1: list(range(20)), 2: list(range(200, 205))}
    finally:
        monitor.close()


@pytest.mark.parametrize(("frame_size", "limits"), [
    (1000, {"spool_bytes": 1 << 20}),  # 8 MB through a 1 MiB spool: its bytes fill first
    (60, {"spool_packets": 4096}),  # 8000 small packets through an index of 4096: its entries fill first
], ids=["full-bytes", "full-index"])
def test_a_small_spool_evicts_the_oldest_with_the_identity_exact_in_every_snapshot_while_traffic_flows(
        veth_pair, tmp_path, frame_size, limits):
    frames = veth_pair.frames_to_a(range(8000), size=frame_size)
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path), **limits))
    snapshots = 0
    try:
        monitor.plug(veth_pair.if_a, UDP_ONLY, netns=veth_pair.ns_a)
        sender = netns.Sender(veth_pair.ns_b, veth_pair.if_b, frames, pace_us=20)
        sender.start()
        while sender.is_alive():
            stats = stats_of(monitor, veth_pair.if_a)
            assert stats.delivered == stats.stored + stats.store_failed, stats
            assert stats.store_failed == 0 and 0 <= stats.store_evicted <= stats.stored, stats
            progress = monitor.store.progress()
            assert progress.bytes_held <= progress.bytes_total
            snapshots += 1
        sender.finish()
        assert wait_for(lambda: stats_of(monitor, veth_pair.if_a).delivered >= len(frames))
        time.sleep(QUIET_WINDOW_S)
        stats = stats_of(monitor, veth_pair.if_a)
        progress = monitor.store.progress()
        assert stats.delivered == stats.stored == progress.count == len(frames)
        assert stats.store_evicted == progress.evicted > 0
        assert stats.store_held == progress.count - progress.first
        if "spool_packets" in limits:
            assert stats.store_held == limits["spool_packets"]
        # the packets held are the newest ones, whole
        held = all_packets(monitor.store)
        assert [packet.data for packet in held] == frames[progress.first:]
        assert monitor.store.packet(progress.first - 1) is None
    finally:
        monitor.close()
    assert snapshots > 10


def test_the_spool_is_a_private_directory_and_file_removed_when_the_session_closes(tmp_path):
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path)))
    spool_dir = monitor.store.spool_dir
    assert os.path.dirname(spool_dir) == str(tmp_path)
    assert os.path.basename(spool_dir).startswith("ringmon-spool-")
    assert stat.S_IMODE(os.stat(spool_dir).st_mode) == 0o700
    (spool_file,) = os.listdir(spool_dir)
    assert stat.S_IMODE(os.stat(os.path.join(spool_dir, spool_file)).st_mode) == 0o600
    monitor.close()
    assert not os.path.exists(spool_dir)
    assert os.listdir(tmp_path) == []


def _spool_of_a_process(directory: Path) -> tuple[subprocess.Popen, Path]:
    """Another process that made a packet spool under `directory` and waits on its stdin: it and the spool's
    directory."""
    code = ("import sys; from ringcore.store import PacketStore; "
            "store = PacketStore.create_spool(1 << 20, sys.argv[1]); print(store.spool_dir, flush=True); "
            "sys.stdin.read(); store.close()")
    process = subprocess.Popen([sys.executable, "-c", code, str(directory)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    return process, Path(process.stdout.readline().strip())


def test_a_spool_a_killed_process_left_is_removed_by_the_next_one_and_a_living_ones_is_not(tmp_path):
    processes = {name: _spool_of_a_process(tmp_path) for name in ("killed", "alive", "saved-in", "just-killed")}
    dirs = {name: spool_dir for name, (_, spool_dir) in processes.items()}
    try:
        for name in ("killed", "saved-in", "just-killed"):
            processes[name][0].kill()
            processes[name][0].wait(10)
        (dirs["saved-in"] / "saved.pcapng").write_bytes(b"a store kept there")
        an_hour_ago = time.time() - 3600
        for name in ("killed", "alive", "saved-in"):
            os.utime(dirs[name], (an_hour_ago, an_hour_ago))
        store = PacketStore.create_spool(1 << 20, str(tmp_path))
        try:
            assert not dirs["killed"].exists()
            assert [path.name for path in dirs["saved-in"].iterdir()] == ["saved.pcapng"]
            assert [path.name for path in dirs["alive"].iterdir()] == ["packets"]  # its lock is held
            # a spool made in the last seconds may be one its process has not locked yet
            assert [path.name for path in dirs["just-killed"].iterdir()] == ["packets"]
            assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
                [dirs["alive"].name, dirs["saved-in"].name, dirs["just-killed"].name, Path(store.spool_dir).name])
        finally:
            store.close()
    finally:
        processes["alive"][0].stdin.close()
        processes["alive"][0].wait(10)
    assert not dirs["alive"].exists()  # its own close removed it


def test_a_full_disk_counts_every_packet_not_stored_and_says_so_in_one_line(veth_pair, small_disk):
    frames = veth_pair.frames_to_a(range(1000), size=1000)  # 1 MB onto a 256 KiB disk
    monitor = Monitor(store=StoreOptions(spool_bytes=4 << 20, directory=str(small_disk)))
    try:
        monitor.plug(veth_pair.if_a, UDP_ONLY, netns=veth_pair.ns_a)
        stats = capture_all(monitor, veth_pair, frames)
        assert stats.delivered == len(frames) == stats.stored + stats.store_failed
        assert stats.stored > 0 and stats.store_failed > 0
        error = monitor.store_error()
        assert "the disk is full" in error and f"{stats.store_failed} packets not stored" in error
        assert "\n" not in error
        stored = all_packets(monitor.store)
        assert len(stored) == stats.stored
        sent = {netns.check_frame(frame): frame for frame in frames}
        assert all(sent[netns.check_frame(packet.data)] == packet.data for packet in stored)
    finally:
        monitor.close()


def test_a_kept_spool_is_a_pcapng_tshark_reads_back_as_the_packets_the_store_held(veth_pair, tmp_path):
    keep_dir = tmp_path / "kept"
    keep_dir.mkdir()
    frames = veth_pair.frames_to_a(range(500))
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path), keep_dir=str(keep_dir)))
    try:
        key = monitor.plug(veth_pair.if_a, UDP_ONLY, netns=veth_pair.ns_a)
        capture_all(monitor, veth_pair, frames)
        held = all_packets(monitor.store)
    finally:
        monitor.close()
    path, packets = monitor.kept_spool
    assert os.path.dirname(path) == str(keep_dir) and os.path.basename(path).startswith("ringmon-")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert packets == len(held) == len(frames)
    read = tshark_read(path)
    assert [(p.data, p.ts_ns, p.wirelen, key) for p in held] == [(r.frame, r.ts_ns, r.wirelen, r.interface)
                                                                 for r in read]
    assert os.listdir(keep_dir) == [os.path.basename(path)]  # no temp file left beside it


def test_a_kept_spool_on_a_full_disk_keeps_every_whole_packet_there_and_all_of_them_in_the_spools_directory(
        veth_pair, tmp_path, small_disk):
    frames = veth_pair.frames_to_a(range(500), size=1000)  # 0.5 MB kept onto a 256 KiB disk
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path), keep_dir=str(small_disk)))
    spool_dir = monitor.store.spool_dir
    try:
        monitor.plug(veth_pair.if_a, UDP_ONLY, netns=veth_pair.ns_a)
        capture_all(monitor, veth_pair, frames)
    finally:
        with pytest.raises(RingcoreError, match=r"the disk is full; the file keeps the \d+ packets") as raised:
            monitor.close()
    (kept,) = small_disk.iterdir()
    read = tshark_read(kept)
    assert 0 < len(read) < len(frames)
    assert [packet.frame for packet in read] == frames[:len(read)]
    # the rest is not lost: the whole store is in the spool's private directory, left in place, the spool gone
    fallback, packets = monitor.kept_spool
    assert os.listdir(spool_dir) == [os.path.basename(fallback)] and packets == len(frames)
    assert [packet.frame for packet in tshark_read(fallback)] == frames
    assert str(raised.value).count("\n") == 0
    assert f"keeps the {len(read)} packets" in str(raised.value)
    assert str(raised.value).endswith(f"; all {len(frames):,} stored packets kept in {fallback} instead")


def test_a_keep_directory_gone_during_the_session_saves_the_store_in_the_spools_directory_and_says_so(
        veth_pair, tmp_path):
    keep_dir = tmp_path / "kept"
    keep_dir.mkdir()
    frames = veth_pair.frames_to_a(range(200))
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path), keep_dir=str(keep_dir)))
    spool_dir = monitor.store.spool_dir
    try:
        monitor.plug(veth_pair.if_a, UDP_ONLY, netns=veth_pair.ns_a)
        capture_all(monitor, veth_pair, frames)
        keep_dir.rmdir()  # checked at start, gone at the end
    finally:
        with pytest.raises(RingcoreError) as raised:
            monitor.close()
    fallback, packets = monitor.kept_spool
    assert os.path.dirname(fallback) == spool_dir and packets == len(frames)
    assert str(raised.value).startswith(str(keep_dir))
    assert str(raised.value).endswith(f"; all {len(frames)} stored packets kept in {fallback} instead")
    assert [packet.frame for packet in tshark_read(fallback)] == frames
    assert os.listdir(spool_dir) == [os.path.basename(fallback)]  # the spool itself removed


def test_every_call_on_a_closed_store_raises_instead_of_passing_null_to_c(tmp_path):
    def closed_store() -> PacketStore:
        store = PacketStore.create_spool(1 << 20, str(tmp_path))
        store.close()
        return store

    calls = {"progress": lambda store: store.progress(), "interfaces": lambda store: store.interfaces(),
             "packets": lambda store: store.packets(0, 1), "packet": lambda store: store.packet(0),
             "spool_dir": lambda store: store.spool_dir, "add_interface": lambda store: store.add_interface("x", 1, 1),
             "export": lambda store: store.export(str(tmp_path / "x.pcapng")), "wait": lambda store: store.wait(0),
             "comment": lambda store: store.comment(0), "compile_filter": lambda store: store.compile_filter("tcp"),
             "give_spool_to": lambda store: store.give_spool_to(0, 0)}
    assert_every_call_raises_after_close(PacketStore, closed_store, calls)


@pytest.mark.parametrize("spool_bytes", [-1, 0, (1 << 20) - 1, 1 << 64])
def test_a_spool_size_c_cannot_take_raises_value_error(spool_bytes, tmp_path):
    with pytest.raises(OutOfRangeError, match="spool size"):
        PacketStore.create_spool(spool_bytes, str(tmp_path))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("spool_packets", [-1, 0, 4095, (1 << 32) + 1])
def test_an_index_size_c_cannot_take_raises_value_error(spool_packets, tmp_path):
    with pytest.raises(OutOfRangeError, match="spool index"):
        PacketStore.create_spool(1 << 20, str(tmp_path), spool_packets)
    assert os.listdir(tmp_path) == []


def test_a_spool_that_cannot_be_made_is_one_line_naming_the_directory(tmp_path):
    missing = tmp_path / "missing"
    with pytest.raises(RingcoreError, match=f"^{missing}: cannot create the packet spool: No such file"):
        PacketStore.create_spool(1 << 20, str(missing))
