"""Capture on real interfaces: veth pairs between test-owned namespaces, read through ringcore's Monitor."""

import contextlib
import ctypes
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import netns
from isolated import assert_every_call_raises_after_close, run_isolated
from readback import tshark_fields, tshark_read
from ringcore import (
    Capture,
    CaptureOptions,
    Drain,
    DropPolicy,
    FilterError,
    Monitor,
    PrivilegeError,
    Ring,
    RingcoreError,
    TALKERS_SPANS_S,
    Talkers,
    WaitStrategy,
    Writer,
    _binding,
)
from ringcore.capture import SlotMeta

CLASSIC_SLOTS = 64  # ring_pages=33 with 2048-byte slots: one header page and 64 slots
SLOT_HDR_SIZE = 32  # struct rc_slot_hdr (ringcore.h)
WAIT_TIMEOUT_S = 10.0
# Long enough for anything still on its way (in a kernel block not yet handed over) to arrive.
QUIET_WINDOW_S = 0.3
OTHER_UDP_PORT = netns.UDP_DST_PORT + 1
LINKTYPE_ETHERNET = 1


# -- helpers ------------------------------------------------------------------


def wait_for(condition, timeout_s: float = WAIT_TIMEOUT_S) -> bool:
    """Poll `condition` every few ms until it holds or `timeout_s` passes."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.005)
    return True


def stats_of(monitor: Monitor, ifname: str):
    """The snapshot of the one plugged interface named `ifname` (in whichever namespace)."""
    (stats,) = [stats for stats in monitor.stats().values() if stats.ifname == ifname]
    return stats


def wait_for_kernel_packets(monitor: Monitor, ifname: str, expected: int) -> int:
    """Wait for `expected` packets taken from the kernel, then a quiet window; returns the final count."""
    wait_for(lambda: stats_of(monitor, ifname).kernel_packets >= expected)
    time.sleep(QUIET_WINDOW_S)
    return stats_of(monitor, ifname).kernel_packets


def receive(monitor: Monitor, ifname: str, count: int,
            timeout_s: float = WAIT_TIMEOUT_S) -> list[tuple[bytes, SlotMeta]]:
    """Up to `count` packets through rx_poll, each copied out before its slot is freed."""
    received = []
    monitor.ring(ifname).rx_poll(lambda view, meta: received.append((bytes(view), meta)), count=count,
                                 timeout_s=timeout_s)
    return received


def receive_paced(monitor: Monitor, pair, frames: list[bytes], chunk: int) -> list[tuple[bytes, SlotMeta]]:
    """Send `frames` to end a at most two chunks ahead of an rx_poll consumer, and return what it received.
    Flow control by the test, so a slow consumer never meets a full ring: for tests of delivery (full rings have
    their own)."""
    received: list[tuple[bytes, SlotMeta]] = []

    def send_ahead_of_the_consumer_by_at_most_two_chunks():
        for start in range(0, len(frames), chunk):
            if not wait_for(lambda: len(received) >= start - chunk):
                raise TimeoutError(f"consumer stuck at {len(received)} of {start - chunk}")
            netns.send_frames(pair.ns_b, pair.if_b, frames[start:start + chunk])

    sender = threading.Thread(target=send_ahead_of_the_consumer_by_at_most_two_chunks, daemon=True)
    sender.start()
    monitor.ring(pair.if_a).rx_poll(lambda view, meta: received.append((bytes(view), meta)), count=len(frames),
                                    timeout_s=30)
    sender.join(timeout=30)
    assert not sender.is_alive()
    return received


def assert_accounts_close(stats) -> None:
    assert stats.occupancy <= stats.slot_count, f"{stats.ifname}: occupancy {stats.occupancy} > {stats.slot_count}"
    taken = stats.delivered + stats.ring_drops + stats.occupancy
    assert stats.kernel_packets == taken, (
        f"{stats.ifname}: kernel_packets {stats.kernel_packets} != delivered {stats.delivered}"
        f" + ring_drops {stats.ring_drops} + occupancy {stats.occupancy}"
    )


def ifindex_in(ns: str, ifname: str) -> int:
    with netns.in_netns(ns):
        return socket.if_nametoindex(ifname)


# -- delivery -----------------------------------------------------------------


def test_all_frames_sent_arrive_through_rx_poll_intact_in_order_and_counted_once(veth_pair, monitor):
    total, chunk = 6000, 500
    ring_pages = 1025  # 2048 slots: the ring wraps around twice
    frames = veth_pair.frames_to_a(range(total))
    monitor.plug(veth_pair.if_a, CaptureOptions(ring_pages=ring_pages), netns=veth_pair.ns_a)
    sent_after_ns = time.time_ns()
    received = receive_paced(monitor, veth_pair, frames, chunk)

    assert [netns.check_frame(data) for data, _ in received] == list(range(total))
    assert [data for data, _ in received] == frames
    ifindex = ifindex_in(veth_pair.ns_a, veth_pair.if_a)
    for data, meta in received:
        assert (meta.caplen, meta.wirelen, meta.ifindex, meta.flags) == (len(data), len(data), ifindex, 0)
    timestamps = [meta.ts_ns for _, meta in received]
    assert timestamps == sorted(timestamps)
    assert sent_after_ns <= timestamps[0] and timestamps[-1] <= time.time_ns()

    time.sleep(QUIET_WINDOW_S)
    assert receive(monitor, veth_pair.if_a, 1, timeout_s=0.05) == []
    stats = stats_of(monitor, veth_pair.if_a)
    sent_bytes = sum(map(len, frames))
    assert (stats.kernel_packets, stats.delivered, stats.ring_drops, stats.kernel_drops) == (total, total, 0, 0)
    assert (stats.kernel_bytes, stats.delivered_bytes) == (sent_bytes, sent_bytes)
    assert stats.tail == total and stats.occupancy == 0


def test_accounting_closes_in_every_snapshot_while_traffic_flows_and_totals_match_what_was_sent(veth_pair, drained):
    total = 20000
    ifname = veth_pair.if_a
    drained.plug(ifname, CaptureOptions(ring_pages=33, drop_policy=DropPolicy.LATE), netns=veth_pair.ns_a)
    sender = netns.Sender(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(total), size=100))
    sender.start()
    snapshots = []
    # The drain is paused until the ring is full and dropping (all three terms of the identity
    # non-zero), then runs a while, then is paused again; snapshots go on until the producer has
    # taken everything (the kernel hands packets over a block at a time).
    paused_at_drops = None
    drained.pause(ifname, True)
    for snapshot_number in range(200_000):
        stats = stats_of(drained, ifname)
        assert_accounts_close(stats)
        snapshots.append((stats.kernel_packets, stats.ring_drops, stats.occupancy))
        if paused_at_drops is None:
            paused_at_drops = stats.ring_drops
        elif stats.ring_drops > paused_at_drops and stats.occupancy == stats.slot_count:
            drained.pause(ifname, False)
            paused_at_drops = -1
        elif paused_at_drops < 0 and snapshot_number % 500 == 0:
            drained.pause(ifname, True)
            paused_at_drops = None
        if not sender.is_alive() and stats.kernel_packets == total:
            break
    sender.finish()
    drained.pause(ifname, False)

    assert wait_for_kernel_packets(drained, ifname, total) == total
    assert any(0 < taken < total for taken, _, _ in snapshots), "no snapshot was taken while traffic flowed"
    assert any(drops > 0 and occupancy > 0 for _, drops, occupancy in snapshots), "pauses never filled the ring"
    drained.stop()
    stats = stats_of(drained, ifname)
    assert_accounts_close(stats)
    assert stats.occupancy == 0
    assert (stats.kernel_packets, stats.kernel_seen, stats.kernel_drops) == (total, total, 0)
    assert stats.delivered + stats.ring_drops == total


@pytest.mark.parametrize("stop_at", ["between-blocks", "inside-a-block", "zero-copy"])
def test_a_capture_started_again_goes_on_where_it_stopped_taking_each_packet_once(veth_pair, monitor, stop_at):
    pair, ifname, before_stop, while_stopped, after_start = veth_pair, veth_pair.if_a, 100, 50, 30
    options = CaptureOptions(zero_copy=True) if stop_at == "zero-copy" else CaptureOptions(ring_pages=33)
    monitor.plug(ifname, options, netns=pair.ns_a)
    capture = monitor.capture(ifname)
    netns.send_frames(pair.ns_b, pair.if_b, pair.frames_to_a(range(before_stop), size=100))
    received = []
    left = 0
    if stop_at == "inside-a-block":
        # Nobody consumes: the stop leaves the rest of a kernel block untaken, counted as lost at stop.
        assert wait_for(lambda: stats_of(monitor, ifname).occupancy == CLASSIC_SLOTS)
        left = before_stop - CLASSIC_SLOTS
    elif stop_at == "between-blocks":
        received = receive(monitor, ifname, before_stop)
        assert len(received) == before_stop
    # zero-copy: nobody consumes either, but the stop hands every block over to the ring: none is left behind
    capture.stop()
    stats = stats_of(monitor, ifname)
    assert (stats.kernel_seen, stats.kernel_packets, stats.lost_at_stop) == (before_stop, before_stop - left, left)
    # A stopped capture takes nothing: these are neither counted nor kept.
    netns.send_frames(pair.ns_b, pair.if_b, pair.frames_to_a(range(before_stop, before_stop + while_stopped), size=100))
    time.sleep(QUIET_WINDOW_S)
    capture.start()
    first_after = before_stop + while_stopped
    netns.send_frames(pair.ns_b, pair.if_b, pair.frames_to_a(range(first_after, first_after + after_start), size=100))

    total = before_stop + after_start
    received += receive(monitor, ifname, total - len(received))
    time.sleep(QUIET_WINDOW_S)
    received += receive(monitor, ifname, total, timeout_s=0.05)
    assert [netns.check_frame(data) for data, _ in received] == [*range(before_stop),
                                                                   *range(first_after, first_after + after_start)]
    capture.stop()
    stats = stats_of(monitor, ifname)
    assert_accounts_close(stats)
    assert (stats.kernel_seen, stats.kernel_packets, stats.lost_at_stop) == (total, total, 0)


# Stops at several points of a flood: each lands while packets sit in a kernel block not yet handed over.
STOP_ROUNDS = 5
STOP_FLOOD_FRAMES = 30_000
STOP_FLOOD_PACE_US = 50  # 1.5 s of traffic
STOP_LEAD_S = 0.5


def test_a_stop_mid_flood_takes_everything_the_kernel_counted_into_the_file(veth_pair, tmp_path):
    ifname = veth_pair.if_a
    frames = veth_pair.frames_to_a(range(STOP_FLOOD_FRAMES), size=200)
    for round_number in range(STOP_ROUNDS):
        out = tmp_path / f"stopped-{round_number}.pcapng"
        session = Monitor(drain=True)
        sender = netns.Sender(veth_pair.ns_b, veth_pair.if_b, frames, pace_us=STOP_FLOOD_PACE_US)
        try:
            session.start_writing(str(out), "pcapng")
            session.plug(ifname, CaptureOptions(), netns=veth_pair.ns_a)
            sender.start()
            time.sleep(STOP_LEAD_S + 0.1 * round_number)
            assert sender.is_alive(), "the flood ended before the stop"
            session.stop()
            stats = stats_of(session, ifname)
            written = session.stop_writing()
        finally:
            session.close()
            sender.finish()
        # The kernel's own count is whole at the stop: taken (into the file) or dropped, none left behind.
        assert 0 < stats.kernel_packets < STOP_FLOOD_FRAMES
        assert (stats.kernel_seen, stats.lost_at_stop) == (stats.kernel_packets + stats.kernel_drops, 0), stats
        assert (stats.delivered + stats.ring_drops, stats.occupancy) == (stats.kernel_packets, 0)
        assert written.packets == stats.delivered == len(tshark_fields(out, "frame.number"))


def test_packets_the_writer_holds_to_merge_interfaces_are_all_in_the_file_at_close(make_veth_pair, tmp_path):
    first, second = make_veth_pair(), make_veth_pair()
    out, sent = tmp_path / "merged.pcapng", 300
    session = Monitor(drain=True)
    try:
        session.start_writing(str(out), "pcapng")
        session.plug(first.if_a, CaptureOptions(), netns=first.ns_a)
        session.plug(second.if_a, CaptureOptions(), netns=second.ns_a)
        # Only the first has traffic: the writer holds its packets a while for the second's sake.
        netns.send_frames(first.ns_b, first.if_b, first.frames_to_a(range(sent)))
        assert wait_for(lambda: stats_of(session, first.if_a).delivered == sent)
        session.stop()
        written = session.stop_writing()
    finally:
        session.close()
    assert written.packets == written.packets_by_interface[first.key_a] == sent
    assert [netns.check_frame(packet.frame) for packet in tshark_read(out)] == list(range(sent))


# -- filter -------------------------------------------------------------------


def mixed_ports(pair: netns.VethPair, seqs) -> tuple[list[bytes], set[int], set[int]]:
    """Frames alternating between the two test ports: (frames, seqs to UDP_DST_PORT, seqs to OTHER_UDP_PORT)."""
    frames, to_dst, to_other = [], set(), set()
    for seq in seqs:
        port = netns.UDP_DST_PORT if seq % 2 == 0 else OTHER_UDP_PORT
        frames += pair.frames_to_a([seq], dst_port=port)
        (to_dst if port == netns.UDP_DST_PORT else to_other).add(seq)
    return frames, to_dst, to_other


def send_and_receive_seqs(monitor: Monitor, pair: netns.VethPair, frames: list[bytes], expected: int) -> list[int]:
    netns.send_frames(pair.ns_b, pair.if_b, frames)
    received = receive(monitor, pair.if_a, expected)
    time.sleep(QUIET_WINDOW_S)
    received += receive(monitor, pair.if_a, len(frames), timeout_s=0.05)
    return [netns.check_frame(data) for data, _ in received]


def test_capture_filter_is_attached_in_the_kernel_so_non_matching_frames_are_never_counted(veth_pair, monitor):
    frames, to_dst, _ = mixed_ports(veth_pair, range(400))
    monitor.plug(veth_pair.if_a, CaptureOptions(filter=f"udp dst port {netns.UDP_DST_PORT}"), netns=veth_pair.ns_a)
    assert monitor.capture(veth_pair.if_a).filter == f"udp dst port {netns.UDP_DST_PORT}"

    assert send_and_receive_seqs(monitor, veth_pair, frames, len(to_dst)) == sorted(to_dst)
    monitor.capture(veth_pair.if_a).stop()  # reads the kernel's final PACKET_STATISTICS
    stats = stats_of(monitor, veth_pair.if_a)
    # kernel_seen comes from the kernel's own count, which only packets passing the socket filter reach.
    assert (stats.kernel_packets, stats.kernel_seen, stats.kernel_drops) == (len(to_dst), len(to_dst), 0)


NOT_IP_ETHERTYPE = b"\x88\xb5"  # IEEE local experimental
VLAN_KINDS = [(vid, udp) for vid in (None, 100, 200) for udp in (True, False)]


def vlan_mix(pair: netns.VethPair, seqs) -> list[tuple[bytes, int | None, bool]]:
    """Frames to end a, untagged and 802.1Q-tagged (VLAN 100 and 200), UDP and not IP: (frame, vid, udp)."""
    mix = []
    for seq in seqs:
        vid, udp = VLAN_KINDS[seq % len(VLAN_KINDS)]
        frame = pair.frames_to_a([seq], size=100)[0]
        if not udp:
            frame = frame[:12] + NOT_IP_ETHERTYPE + frame[14:]
        if vid is not None:
            frame = frame[:12] + struct.pack("!HH", 0x8100, vid) + frame[12:]
        mix.append((frame, vid, udp))
    return mix


@pytest.mark.parametrize("expression, wanted", [
    ("vlan", lambda vid, udp: vid is not None),
    ("vlan 100 and udp", lambda vid, udp: vid == 100 and udp),
], ids=["vlan", "vlan-100-and-udp"])
def test_vlan_filters_take_on_a_live_interface_exactly_what_tcpdump_takes(veth_pair, monitor, tmp_path,
                                                                         expression, wanted):
    # On receive the kernel takes the tag out of every tagged frame before a socket filter runs,
    # whether or not a VLAN interface exists (so no 8021q module is needed): a filter compiled for
    # packets as in a file, tag in place, never matches live.
    pair = veth_pair
    mix = vlan_mix(pair, range(120))
    expected = [frame for frame, vid, udp in mix if wanted(vid, udp)]
    reference = tmp_path / "tcpdump.pcap"
    with netns.tcpdump_alongside(pair.ns_a, pair.if_a, expression, str(reference)):
        monitor.plug(pair.if_a, CaptureOptions(filter=expression), netns=pair.ns_a)
        netns.send_frames(pair.ns_b, pair.if_b, [frame for frame, _, _ in mix])
        wait_for_kernel_packets(monitor, pair.if_a, len(expected))
        received = receive(monitor, pair.if_a, len(mix), timeout_s=0.05)

    by_tcpdump = [packet.frame for packet in tshark_read(reference)]
    assert by_tcpdump == expected
    assert [data for data, _ in received] == by_tcpdump  # tag put back, as tcpdump does


def test_a_filter_for_a_down_interface_is_refused_in_one_line_and_a_capture_without_one_runs(namespace, monitor):
    # libpcap compiles for a live socket only on an interface that is up (tcpdump refuses a down one).
    with pytest.raises(FilterError, match="^lo is down") as refused:
        monitor.plug("lo", CaptureOptions(filter="udp"), netns=namespace)
    assert "\n" not in str(refused.value)
    with pytest.raises(FilterError, match="does not compile"):
        monitor.plug("lo", CaptureOptions(filter="udp prot 53"), netns=namespace)
    # Without a filter the down interface is plugged; whether its producer has met ENETDOWN yet is a race.
    key = monitor.plug("lo", netns=namespace)
    assert key in monitor.stats()


def test_set_filter_swaps_the_filter_live_and_a_bad_one_raises_and_keeps_the_old(veth_pair, monitor):
    ifname = veth_pair.if_a
    monitor.plug(ifname, CaptureOptions(filter=f"udp dst port {netns.UDP_DST_PORT}"), netns=veth_pair.ns_a)
    frames, to_dst, _ = mixed_ports(veth_pair, range(0, 200))
    assert send_and_receive_seqs(monitor, veth_pair, frames, len(to_dst)) == sorted(to_dst)

    other_filter = f"udp dst port {OTHER_UDP_PORT}"
    monitor.set_filter(ifname, other_filter)
    frames, _, to_other = mixed_ports(veth_pair, range(200, 400))
    assert send_and_receive_seqs(monitor, veth_pair, frames, len(to_other)) == sorted(to_other)

    with pytest.raises(FilterError, match="udp dst port 99999") as bad:
        monitor.set_filter(ifname, "udp dst port 99999")
    assert "\n" not in str(bad.value)
    assert monitor.capture(ifname).filter == other_filter
    frames, _, to_other = mixed_ports(veth_pair, range(400, 600))
    assert send_and_receive_seqs(monitor, veth_pair, frames, len(to_other)) == sorted(to_other)

    monitor.set_filter(ifname, None)
    assert monitor.capture(ifname).filter is None
    frames, _, _ = mixed_ports(veth_pair, range(600, 800))
    assert send_and_receive_seqs(monitor, veth_pair, frames, len(frames)) == list(range(600, 800))
    assert monitor.errors() == {}
    assert stats_of(monitor, ifname).kernel_packets == 100 + 100 + 100 + 200


# -- several interfaces -------------------------------------------------------


def test_two_interfaces_capture_at_once_and_each_ring_holds_only_its_own_frames(make_veth_pair, monitor):
    first, second = make_veth_pair(), make_veth_pair()
    per_pair = 1000
    seqs = {first.if_a: range(0, per_pair), second.if_a: range(100_000, 100_000 + per_pair)}
    monitor.plug(first.if_a, netns=first.ns_a)
    monitor.plug(second.if_a, netns=second.ns_a)
    senders = [netns.Sender(pair.ns_b, pair.if_b, pair.frames_to_a(seqs[pair.if_a])) for pair in (first, second)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.finish()

    for pair in (first, second):
        received = receive(monitor, pair.if_a, per_pair + 1, timeout_s=1.0)
        assert [netns.check_frame(data) for data, _ in received] == list(seqs[pair.if_a])
        assert {meta.ifindex for _, meta in received} == {ifindex_in(pair.ns_a, pair.if_a)}
        stats = stats_of(monitor, pair.if_a)
        assert (stats.kernel_packets, stats.delivered) == (per_pair, per_pair)


def test_plugging_and_unplugging_one_interface_while_traffic_flows_leaves_the_other_losing_nothing(make_veth_pair,
                                                                                                   monitor):
    steady, changing = make_veth_pair(), make_veth_pair()
    total = 2000
    monitor.plug(steady.if_a, netns=steady.ns_a)
    senders = [netns.Sender(pair.ns_b, pair.if_b, pair.frames_to_a(range(total), size=200), pace_us=400)
               for pair in (steady, changing)]
    steady_received: list[tuple[bytes, SlotMeta]] = []
    steady_consumer = threading.Thread(
        target=lambda: steady_received.extend(receive(monitor, steady.if_a, total, timeout_s=20)), daemon=True)
    steady_consumer.start()
    for sender in senders:
        sender.start()

    assert wait_for(lambda: stats_of(monitor, steady.if_a).kernel_packets >= total // 10)
    monitor.plug(changing.if_a, netns=changing.ns_a)
    assert wait_for(lambda: stats_of(monitor, changing.if_a).kernel_packets >= total // 10)
    changing_received = receive(monitor, changing.if_a, total, timeout_s=0.05)
    monitor.unplug(changing.if_a)
    assert monitor.interfaces == [steady.key_a]
    assert senders[1].is_alive(), "traffic on the unplugged interface ended too soon to prove anything"

    for sender in senders:
        sender.finish()
    steady_consumer.join(timeout=30)
    assert not steady_consumer.is_alive()
    stats = stats_of(monitor, steady.if_a)
    assert [netns.check_frame(data) for data, _ in steady_received] == list(range(total))
    assert (stats.kernel_packets, stats.delivered, stats.kernel_drops) == (total, total, 0)
    # What the interface plugged mid-flow took is a run of consecutive frames: nothing skipped.
    changing_seqs = [netns.check_frame(data) for data, _ in changing_received]
    first_seq = changing_seqs[0]
    assert 0 < first_seq and changing_seqs == list(range(first_seq, first_seq + len(changing_seqs)))


# Ways an interface goes away under a capture; a rename needs it down first, and it stays gone under its old name.
GOING_AWAY = {
    "deleted": [["link", "del", "{ifname}"]],
    "set-down": [["link", "set", "{ifname}", "down"]],
    "renamed": [["link", "set", "{ifname}", "down"], ["link", "set", "{ifname}", "name", "{ifname}r"],
                ["link", "set", "{ifname}r", "up"]],
}


def take_away(pair: netns.VethPair, how: str) -> None:
    for args in GOING_AWAY[how]:
        subprocess.run(["ip", "-n", pair.ns_a, *(arg.format(ifname=pair.if_a) for arg in args)], check=True, timeout=30)


@pytest.mark.parametrize("how", list(GOING_AWAY))
def test_an_interface_that_goes_away_is_reported_gone_with_its_counters_while_the_other_keeps_capturing(
        make_veth_pair, drained, how):
    doomed, survivor = make_veth_pair(), make_veth_pair()
    drained.plug(doomed.if_a, netns=doomed.ns_a)
    drained.plug(survivor.if_a, netns=survivor.ns_a)
    netns.send_frames(doomed.ns_b, doomed.if_b, doomed.frames_to_a(range(50)))
    assert wait_for_kernel_packets(drained, doomed.if_a, 50) == 50
    survivor_total = 1000
    survivor_sender = netns.Sender(survivor.ns_b, survivor.if_b, survivor.frames_to_a(range(survivor_total), size=200),
                             pace_us=300)
    survivor_sender.start()

    assert wait_for(lambda: stats_of(drained, survivor.if_a).kernel_packets > 0)
    take_away(doomed, how)
    capture = drained.capture(doomed.if_a)
    assert wait_for(lambda: capture.error() is not None), "the capture did not notice its interface went away"
    assert capture.error() == f"{doomed.if_a}: the interface went down or away; capture on it stopped"
    assert drained.errors() == {doomed.key_a: capture.error()}
    doomed_stats = stats_of(drained, doomed.if_a)
    assert (doomed_stats.error, doomed_stats.delivered) == (capture.error(), 50)  # what it took is kept
    assert survivor_sender.is_alive(), "the survivor's traffic ended before the other interface went away"

    survivor_sender.finish()
    assert wait_for_kernel_packets(drained, survivor.if_a, survivor_total) == survivor_total
    drained.unplug(doomed.if_a)
    assert wait_for(lambda: stats_of(drained, survivor.if_a).delivered == survivor_total)
    stats = stats_of(drained, survivor.if_a)
    assert (stats.kernel_drops, stats.error) == (0, None)


def test_an_interface_set_up_again_is_captured_again_into_the_same_file_block_with_its_counters_summed(
        veth_pair, drained, tmp_path):
    out = tmp_path / "flap.pcapng"
    drained.start_writing(str(out), "pcapng")
    key = drained.plug(veth_pair.if_a, CaptureOptions(filter="udp"), netns=veth_pair.ns_a)
    with pytest.raises(RingcoreError, match="still capturing"):
        drained.recapture(key)
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(30)))
    assert wait_for(lambda: drained.stats()[key].delivered == 30)
    take_away(veth_pair, "set-down")
    assert wait_for(lambda: drained.stats()[key].error is not None)
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", veth_pair.if_a, "up"], check=True, timeout=30)
    subprocess.run(["ip", "-n", veth_pair.ns_b, "link", "set", veth_pair.if_b, "up"], check=True, timeout=30)
    assert wait_for(lambda: _recaptured(drained, key)), "the interface could not be captured again once up"
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(100, 120)))
    assert wait_for(lambda: drained.stats()[key].delivered == 50)
    stats = drained.stats()[key]
    assert (stats.error, stats.recaptures, stats.filter) == (None, 1, "udp")  # the filter came back with it
    assert stats.kernel_packets == stats.delivered + stats.ring_drops + stats.occupancy == 50
    drained.stop()
    assert drained.stop_writing().packets_by_interface == {key: 50}
    packets = tshark_read(out)
    assert [netns.check_frame(packet.frame) for packet in packets] == [*range(30), *range(100, 120)]
    assert {packet.interface for packet in packets} == {key}  # one interface block, before and after


def _recaptured(monitor: Monitor, key: str) -> bool:
    """Capture `key` again; False while it is not back (a filter needs the interface up and running)."""
    try:
        monitor.recapture(key)
    except RingcoreError:
        return False
    return True


def test_two_interfaces_of_one_name_in_two_namespaces_are_plugged_apart_and_written_as_two_blocks(
        make_veth_pair, drained, tmp_path):
    first, second = make_veth_pair(), make_veth_pair()
    subprocess.run(["ip", "-n", second.ns_a, "link", "set", second.if_a, "down"], check=True, timeout=30)
    subprocess.run(["ip", "-n", second.ns_a, "link", "set", second.if_a, "name", first.if_a, "up"], check=True,
                   timeout=30)
    out = tmp_path / "both.pcapng"
    drained.start_writing(str(out), "pcapng")
    keys = [drained.plug(first.if_a, netns=first.ns_a), drained.plug(first.if_a, netns=second.ns_a)]
    assert keys == [first.key_a, f"{second.ns_a}/{first.if_a}"]
    with pytest.raises(RingcoreError, match="several namespaces"):
        drained.ring(first.if_a)  # a bare name no longer says which one
    netns.send_frames(first.ns_b, first.if_b, first.frames_to_a(range(10)))
    netns.send_frames(second.ns_b, second.if_b, second.frames_to_a(range(500, 507)))
    assert wait_for(lambda: [drained.stats()[key].delivered for key in keys] == [10, 7])
    assert {key: stats.netns for key, stats in drained.stats().items()} == {keys[0]: first.ns_a, keys[1]: second.ns_a}
    drained.stop()
    assert drained.stop_writing().packets_by_interface == {keys[0]: 10, keys[1]: 7}
    by_interface: dict[str, list[int]] = {}
    for packet in tshark_read(out):
        by_interface.setdefault(packet.interface, []).append(netns.check_frame(packet.frame))
    assert by_interface == {keys[0]: list(range(10)), keys[1]: list(range(500, 507))}


# -- full ring ----------------------------------------------------------------


def test_drop_early_with_the_consumer_paused_fills_the_ring_then_the_kernel_drops(veth_pair, drained):
    ifname, sent = veth_pair.if_a, 12000
    drained.plug(ifname, CaptureOptions(ring_pages=33, drop_policy=DropPolicy.EARLY), netns=veth_pair.ns_a)
    drained.pause(ifname, True)
    # 12000 full-size frames (~19 MB in the kernel's blocks) overflow its 8 MiB ring whatever the timing.
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(sent), size=netns.MAX_FRAME_LEN))
    assert wait_for(lambda: stats_of(drained, ifname).kernel_drops > 0), "the kernel never dropped"
    stats = stats_of(drained, ifname)
    assert stats.paused and stats.slot_count == CLASSIC_SLOTS
    assert (stats.occupancy, stats.slots_used_high, stats.ring_drops, stats.delivered) == (CLASSIC_SLOTS, CLASSIC_SLOTS,
                                                                                          0, 0)
    assert stats.kernel_packets == CLASSIC_SLOTS
    assert_accounts_close(stats)

    drained.pause(ifname, False)
    # What the kernel kept is taken once the consumer runs again; what it dropped is counted.
    def everything_sent_is_delivered_or_dropped_by_the_kernel():
        stats = stats_of(drained, ifname)
        return stats.kernel_packets + stats.kernel_drops == sent and stats.delivered == stats.kernel_packets

    wait_for(everything_sent_is_delivered_or_dropped_by_the_kernel)
    stats = stats_of(drained, ifname)
    assert stats.kernel_packets + stats.kernel_drops == stats.kernel_seen == sent
    assert stats.delivered == stats.kernel_packets
    assert stats.ring_drops == 0
    assert_accounts_close(stats)


def voluntary_switches_of_thread(name: str) -> int:
    """How often the one thread of this process called `name` has gone to sleep: its wake-ups."""
    found = []
    for tid in os.listdir("/proc/self/task"):
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            with open(f"/proc/self/task/{tid}/comm") as comm:
                if comm.read().strip() != name:
                    continue
            with open(f"/proc/self/task/{tid}/status") as status:
                found += [int(line.split()[1]) for line in status if line.startswith("voluntary_ctxt_switches:")]
    assert len(found) == 1, f"{len(found)} threads named {name}"
    return found[0]


@pytest.mark.parametrize("poll_interval_us", [1000, 999_999])
def test_waiting_on_a_full_drop_early_ring_while_paused_never_burns_a_core(veth_pair, drained, poll_interval_us):
    # 999,999 us once made the paused drain's nanosleep fail at once (EINVAL) and spin; a full ring
    # made the producer look again every 50 us.
    ifname, watch_s = veth_pair.if_a, 1.0
    drained.plug(ifname, CaptureOptions(ring_pages=33, drop_policy=DropPolicy.EARLY, poll_interval_us=poll_interval_us),
                 netns=veth_pair.ns_a)
    drained.pause(ifname, True)
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(2 * CLASSIC_SLOTS), size=100))
    assert wait_for(lambda: stats_of(drained, ifname).occupancy == CLASSIC_SLOTS)

    producer_wakeups = voluntary_switches_of_thread("rc-capture")
    cpu_s, wall_s = time.process_time(), time.monotonic()
    time.sleep(watch_s)
    cpu_share = (time.process_time() - cpu_s) / (time.monotonic() - wall_s)
    producer_wakeups = voluntary_switches_of_thread("rc-capture") - producer_wakeups

    assert cpu_share < 0.2, f"the process used {cpu_share:.0%} of a core while waiting"
    # Waiting for room, the producer wakes about ten times a second (for the kernel counters);
    # looking again every 50 us, thousands.
    assert producer_wakeups < 100 * watch_s, f"the producer woke {producer_wakeups} times in {watch_s} s"
    assert stats_of(drained, ifname).occupancy == CLASSIC_SLOTS


def test_drop_late_with_the_consumer_paused_counts_ring_drops_and_no_kernel_drops(veth_pair, drained):
    ifname, sent = veth_pair.if_a, 3000
    drained.plug(ifname, CaptureOptions(ring_pages=33, drop_policy=DropPolicy.LATE), netns=veth_pair.ns_a)
    drained.pause(ifname, True)
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(sent), size=1000))
    assert wait_for_kernel_packets(drained, ifname, sent) == sent
    stats = stats_of(drained, ifname)
    assert (stats.occupancy, stats.slots_used_high) == (CLASSIC_SLOTS, CLASSIC_SLOTS)
    assert (stats.ring_drops, stats.kernel_drops, stats.delivered) == (sent - CLASSIC_SLOTS, 0, 0)
    assert_accounts_close(stats)

    drained.pause(ifname, False)
    assert wait_for(lambda: stats_of(drained, ifname).delivered == CLASSIC_SLOTS)
    stats = stats_of(drained, ifname)
    assert (stats.kernel_packets, stats.ring_drops, stats.occupancy) == (sent, sent - CLASSIC_SLOTS, 0)


def test_switching_a_stuck_drop_early_ring_to_drop_late_frees_what_the_kernel_holds(veth_pair, drained):
    ifname, sent = veth_pair.if_a, 1000
    drained.plug(ifname, CaptureOptions(ring_pages=33, drop_policy=DropPolicy.EARLY), netns=veth_pair.ns_a)
    drained.pause(ifname, True)
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(sent), size=200))
    time.sleep(QUIET_WINDOW_S)
    assert stats_of(drained, ifname).kernel_packets == CLASSIC_SLOTS  # the rest waits in the kernel

    drained.set_drop_policy(ifname, DropPolicy.LATE)
    # How much the kernel kept depends on how fast the frames came (it hands over a block every
    # 2 ms); whatever it kept is now taken and dropped at the ring.
    wait_for(lambda: stats_of(drained, ifname).kernel_packets + stats_of(drained, ifname).kernel_drops == sent)
    stats = stats_of(drained, ifname)
    assert stats.drop_policy == DropPolicy.LATE
    assert stats.kernel_packets + stats.kernel_drops == stats.kernel_seen == sent
    assert stats.kernel_packets > CLASSIC_SLOTS
    assert (stats.ring_drops, stats.occupancy) == (stats.kernel_packets - CLASSIC_SLOTS, CLASSIC_SLOTS)


# -- what a slot holds --------------------------------------------------------


def test_frames_longer_than_the_slot_are_kept_whole_over_several_slots_by_default(veth_pair, monitor):
    slot_size = 128
    room = slot_size - SLOT_HDR_SIZE
    sizes = [room, room + 1, 1000, 1514]
    pair = veth_pair
    frames = [netns.make_frame(seq, size, pair.mac_b, pair.mac_a) for seq, size in enumerate(sizes)]
    monitor.plug(pair.if_a, CaptureOptions(slot_size=slot_size, ring_pages=33), netns=pair.ns_a)
    netns.send_frames(pair.ns_b, pair.if_b, frames)
    received = receive(monitor, pair.if_a, len(frames))

    assert [data for data, _ in received] == frames
    assert [(meta.caplen, meta.wirelen, meta.slots, meta.truncated) for _, meta in received] == [
        (size, size, -(-(size + SLOT_HDR_SIZE) // slot_size), False) for size in sizes]
    stats = stats_of(monitor, pair.if_a)
    assert (stats.truncated, stats.delivered, stats.occupancy) == (0, len(frames), 0)


def test_with_truncate_to_slot_frames_longer_than_the_slot_are_cut_to_it_flagged_and_counted(veth_pair, monitor):
    slot_size = 128
    room = slot_size - SLOT_HDR_SIZE
    sizes = [room, room + 1, 1000, 1000]
    pair = veth_pair
    frames = [netns.make_frame(seq, size, pair.mac_b, pair.mac_a) for seq, size in enumerate(sizes)]
    monitor.plug(pair.if_a, CaptureOptions(slot_size=slot_size, ring_pages=33, truncate_to_slot=True), netns=pair.ns_a)
    netns.send_frames(pair.ns_b, pair.if_b, frames)
    received = receive(monitor, pair.if_a, len(frames))

    assert [data for data, _ in received] == [frame[:room] for frame in frames]
    assert [(meta.caplen, meta.wirelen, meta.truncated) for _, meta in received] == [
        (room, room, False), (room, room + 1, True), (room, 1000, True), (room, 1000, True)]
    assert stats_of(monitor, pair.if_a).truncated == 3


@pytest.mark.parametrize("capture_filter", [None, "udp"], ids=["cut-by-producer", "cut-by-kernel-filter"])
def test_snap_length_keeps_that_many_bytes_without_marking_packets_truncated(veth_pair, monitor, capture_filter):
    snaplen = 100
    pair = veth_pair
    frames = [netns.make_frame(seq, size, pair.mac_b, pair.mac_a) for seq, size in enumerate([60, 100, 101, 1000])]
    monitor.plug(pair.if_a, CaptureOptions(snaplen=snaplen, filter=capture_filter), netns=pair.ns_a)
    netns.send_frames(pair.ns_b, pair.if_b, frames)
    received = receive(monitor, pair.if_a, len(frames))

    assert [data for data, _ in received] == [frame[:snaplen] for frame in frames]
    assert [(meta.caplen, meta.wirelen, meta.flags) for _, meta in received] == [
        (60, 60, 0), (100, 100, 0), (100, 101, 0), (100, 1000, 0)]
    assert stats_of(monitor, pair.if_a).truncated == 0


@pytest.mark.parametrize("promisc", [True, False], ids=["promisc", "no-promisc"])
def test_foreign_unicast_is_seen_only_in_promiscuous_mode(veth_pair, monitor, promisc):
    # A veth hands every frame to its taps whatever the destination, so promiscuity shows on a
    # bridge: it passes frames for other hosts up to its own taps only when promiscuous.
    pair, bridge, bridge_mac = veth_pair, "rmtbr", "02:00:c6:12:fe:01"
    for argv in (["link", "add", bridge, "address", bridge_mac, "type", "bridge"],
                 ["link", "set", pair.if_a, "master", bridge], ["link", "set", bridge, "up"]):
        subprocess.run(["ip", "-n", pair.ns_a, *argv], check=True, timeout=30)
    foreign = [netns.make_frame(seq, 100, pair.mac_b, "02:00:c6:13:00:99") for seq in range(10)]
    to_bridge = [netns.make_frame(seq, 100, pair.mac_b, bridge_mac) for seq in range(10, 15)]
    # "udp" keeps out the IGMP report the bridge sends when it comes up.
    monitor.plug(bridge, CaptureOptions(promisc=promisc, filter="udp"), netns=pair.ns_a)
    netns.send_frames(pair.ns_b, pair.if_b, foreign + to_bridge)

    expected = list(range(15)) if promisc else list(range(10, 15))
    received = receive(monitor, bridge, len(expected))
    time.sleep(QUIET_WINDOW_S)
    received += receive(monitor, bridge, 15, timeout_s=0.05)
    assert [netns.check_frame(data) for data, _ in received] == expected


def test_frames_sent_from_the_captured_interface_are_flagged_outgoing(veth_pair, monitor):
    pair = veth_pair
    outgoing = pair.frames_to_b(range(10), 300)
    incoming = pair.frames_to_a(range(10, 30), size=100)
    monitor.plug(pair.if_a, netns=pair.ns_a)
    netns.send_frames(pair.ns_a, pair.if_a, outgoing)
    netns.send_frames(pair.ns_b, pair.if_b, incoming)
    received = receive(monitor, pair.if_a, 30)

    assert [(netns.check_frame(data), meta.outgoing) for data, meta in received] == (
        [(seq, True) for seq in range(10)] + [(seq, False) for seq in range(10, 30)])
    stats = stats_of(monitor, pair.if_a)
    assert (stats.outgoing_packets, stats.outgoing_bytes, stats.kernel_packets) == (10, 3000, 30)


def udp_sockets_in(ns: str, address: str, port: int) -> tuple[socket.socket, socket.socket]:
    """(receiver bound to address:port, sender) in namespace `ns`: a bound receiver means no ICMP
    port-unreachable joins the traffic."""
    with netns.in_netns(ns):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        receiver.bind((address, port))
        return receiver, socket.socket(socket.AF_INET, socket.SOCK_DGRAM)


def payload_seq(frame: bytes) -> int:
    """The sequence number a test datagram carries (payload as make_frame's, after Ethernet/IPv4/UDP)."""
    magic, seq = netns.PAYLOAD_HEAD.unpack_from(frame, netns.HEADERS_LEN)
    assert magic == netns.FRAME_MAGIC, f"not a test datagram: {frame[:64].hex()}"
    return seq


def test_loopback_takes_each_packet_once_and_every_count_equals_tcpdumps(namespace, monitor, tmp_path):
    # Loopback shows a packet socket every packet twice, going out and coming back in.
    total, port = 300, netns.UDP_DST_PORT
    subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"], check=True, timeout=30)
    receiver, sender = udp_sockets_in(namespace, "127.0.0.1", port)
    reference = tmp_path / "tcpdump.pcap"
    with receiver, sender, netns.tcpdump_alongside(namespace, "lo", "udp", str(reference)):
        monitor.plug("lo", CaptureOptions(filter="udp"), netns=namespace)
        for seq in range(total):
            sender.sendto(netns.PAYLOAD_HEAD.pack(netns.FRAME_MAGIC, seq), ("127.0.0.1", port))
        wait_for_kernel_packets(monitor, "lo", total)
        received = receive(monitor, "lo", 2 * total, timeout_s=0.05)
    monitor.capture("lo").stop()  # reads the kernel's final PACKET_STATISTICS

    by_tcpdump = [payload_seq(packet.frame) for packet in tshark_read(reference)]
    assert by_tcpdump == list(range(total))
    assert [payload_seq(data) for data, _ in received] == by_tcpdump
    assert not any(meta.outgoing for _, meta in received)
    stats = stats_of(monitor, "lo")
    assert_accounts_close(stats)
    # tp_packets too: the outgoing copy never reaches the socket, so no counter holds it.
    assert (stats.kernel_packets, stats.kernel_seen, stats.delivered, stats.kernel_drops) == (total, total, total, 0)


def test_drain_counts_top_talkers_by_conversation_and_direction_with_the_rest_apart(veth_pair):
    pair = veth_pair
    third_ip = pair.ip_b.rsplit(".", 1)[0] + ".3"
    outgoing = pair.frames_to_b(range(10), 300)
    incoming = pair.frames_to_a(range(10, 30), size=100)
    from_third = [netns.make_frame(seq, 1000, pair.mac_b, pair.mac_a, src_ip=third_ip, dst_ip=pair.ip_a)
                  for seq in range(30, 33)]
    # not IP (IEEE local experimental ethertype): keyed by MAC addresses
    not_ip = [bytes.fromhex(pair.mac_a.replace(":", "") + pair.mac_b.replace(":", "")) + b"\x88\xb5" + bytes(50)] * 2
    session = Monitor(drain=True, count_talkers=True)
    try:
        session.plug(pair.if_a, netns=pair.ns_a)
        netns.send_frames(pair.ns_a, pair.if_a, outgoing)
        netns.send_frames(pair.ns_b, pair.if_b, incoming + from_third + not_ip)
        assert wait_for(lambda: stats_of(session, pair.if_a).delivered == 35)
        top = session.top_talkers(pair.if_a, 5)
    finally:
        session.close()

    # largest first; in each, the lower address first: ip_a (.1) before ip_b (.2) and the third host (.3)
    assert [(t.a, t.b, t.protocol, t.bytes_ab, t.bytes_ba, t.packets) for t in top.talkers] == [
        (pair.ip_a, pair.ip_b, "udp", 3000, 2000, 30),
        (pair.ip_a, third_ip, "udp", 0, 3000, 3),
        (pair.mac_a, pair.mac_b, "0x88b5", 0, 128, 2),
    ]
    assert (top.rest_packets, top.rest_bytes, top.bytes) == (0, 0, 8128)
    # all sent within the last 10 s (of the 40 s window): the 10 s span holds every byte, the 2 s span no more
    for talker in top.talkers:
        assert talker.spans_ab[1:] == (talker.bytes_ab, talker.bytes_ab) and talker.spans_ab[0] <= talker.bytes_ab
        assert talker.spans_ba[1:] == (talker.bytes_ba, talker.bytes_ba) and talker.spans_ba[0] <= talker.bytes_ba
    assert top.window_s == 40 and top.spans_elapsed_s[0] < top.spans_elapsed_s[1] < top.spans_elapsed_s[2] <= 40


def header_numbers(tmp_path, main_body: str) -> list[int]:
    """The numbers a C main() including ringcore.h prints (its `main_body`): what the header says of a layout."""
    source = tmp_path / "layout.c"
    source.write_text('#include <stddef.h>\n#include <stdio.h>\n#include "ringcore.h"\n'
                      f"int main(void) {{ {main_body} return 0; }}\n")
    header_dir = Path(__file__).resolve().parents[2] / "src" / "ringcore" / "src"
    subprocess.run(["gcc", "-I", str(header_dir), "-o", str(tmp_path / "layout"), str(source)], check=True)
    printed = subprocess.run([str(tmp_path / "layout")], capture_output=True, text=True, check=True).stdout.split()
    return [int(n) for n in printed]


def test_the_binding_declares_struct_rc_talker_and_its_window_as_the_header_does(tmp_path):
    """rc_talkers_top writes an array of struct rc_talker: a ctypes mirror of another size would be overrun."""
    printed = header_numbers(tmp_path, "const unsigned spans[] = RC_TALKERS_SPAN_S;\n"
                                       '  printf("%zu %zu %zu %zu %d %u %u\\n", sizeof(struct rc_talker),\n'
                                       "         offsetof(struct rc_talker, a), offsetof(struct rc_talker, span_ab),\n"
                                       "         offsetof(struct rc_talker, span_ba),\n"
                                       "         RC_TALKERS_WINDOW_S, spans[0], spans[1]);")
    mirror = _binding.Talker
    assert printed == [ctypes.sizeof(mirror), mirror.a.offset, mirror.span_ab.offset,
                       mirror.span_ba.offset, *TALKERS_SPANS_S[-1:], *TALKERS_SPANS_S[:-1]]


def test_the_binding_declares_struct_rc_capture_config_as_the_header_does(tmp_path):
    """rc_capture_open reads a struct rc_capture_config: a field the mirror lacks would be read past its end."""
    printed = header_numbers(tmp_path, 'printf("%zu %zu %zu %zu\\n", sizeof(struct rc_capture_config),\n'
                                       "         offsetof(struct rc_capture_config, snaplen),\n"
                                       "         offsetof(struct rc_capture_config, zero_copy),\n"
                                       "         offsetof(struct rc_capture_config, immediate));")
    mirror = _binding.CaptureConfig
    assert printed == [ctypes.sizeof(mirror), mirror.snaplen.offset, mirror.zero_copy.offset, mirror.immediate.offset]


def tshark_ip_conversations(path) -> dict[tuple[str, str], tuple[int, int]]:
    """tshark -z conv,ip: {(address A, address B): (bytes A→B, bytes B→A)}; each count must be below 10,000 bytes,
    which tshark prints exactly ("9000 bytes", not "9 kB")."""
    report = subprocess.run(["tshark", "-r", str(path), "-q", "-z", "conv,ip"], capture_output=True, text=True,
                            check=True).stdout
    conversations = {}
    for line in report.splitlines():
        if "<->" in line:
            match = re.match(r"(\S+)\s+<->\s+(\S+)\s+\d+\s+(\d+) bytes\s+\d+\s+(\d+) bytes", line)
            assert match, f"tshark's line not in exact bytes: {line!r}"
            a, b, b_to_a, a_to_b = match.groups()  # tshark's "<-" column is B→A, its "->" A→B
            conversations[(a, b)] = (int(a_to_b), int(b_to_a))
    return conversations


def test_top_talkers_bytes_per_pair_and_direction_equal_tsharks_ip_conversations(veth_pair, tmp_path):
    """The same traffic, counted by the drain's talkers table and, from the file it wrote, by tshark. Talkers key
    a pair by protocol too (UDP and "TCP" frames here): summed over protocols, each direction is tshark's."""
    pair = veth_pair
    third_ip = pair.ip_b.rsplit(".", 1)[0] + ".3"

    def as_tcp(frame: bytes) -> bytes:  # the protocol byte only: enough for either counter, checksums aside
        return frame[:23] + bytes([socket.IPPROTO_TCP]) + frame[24:]

    to_b = pair.frames_to_b(range(8), 600) + [as_tcp(frame) for frame in pair.frames_to_b(range(8, 11), 1000)]
    to_a = pair.frames_to_a(range(11, 17), 900)
    from_third = [netns.make_frame(seq, 700, pair.mac_b, pair.mac_a, src_ip=third_ip, dst_ip=pair.ip_a)
                  for seq in range(17, 22)]
    path = tmp_path / "talkers.pcapng"
    session = Monitor(drain=True, count_talkers=True)
    try:
        session.plug(pair.if_a, netns=pair.ns_a)
        session.start_writing(str(path))
        netns.send_frames(pair.ns_a, pair.if_a, to_b)
        netns.send_frames(pair.ns_b, pair.if_b, to_a + from_third)
        total = len(to_b) + len(to_a) + len(from_third)
        assert wait_for(lambda: stats_of(session, pair.if_a).delivered == total)
        top = session.top_talkers(pair.if_a, 10)
        assert session.stop_writing().packets == total
    finally:
        session.close()

    assert {(t.a, t.b, t.protocol) for t in top.talkers} == {
        (pair.ip_a, pair.ip_b, "udp"), (pair.ip_a, pair.ip_b, "tcp"), (pair.ip_a, third_ip, "udp")}
    assert top.rest_bytes == 0
    by_pair: dict[tuple[str, str], tuple[int, int]] = {}
    for talker in top.talkers:
        ab, ba = by_pair.get((talker.a, talker.b), (0, 0))
        by_pair[(talker.a, talker.b)] = (ab + talker.bytes_ab, ba + talker.bytes_ba)
    tshark = {}
    for (a, b), (a_to_b, b_to_a) in tshark_ip_conversations(path).items():  # as talkers write them: lower first
        lower_first = socket.inet_aton(a) <= socket.inet_aton(b)
        tshark[(a, b) if lower_first else (b, a)] = (a_to_b, b_to_a) if lower_first else (b_to_a, a_to_b)
    assert by_pair == tshark
    assert by_pair[(pair.ip_a, pair.ip_b)] == (8 * 600 + 3 * 1000, 6 * 900)


def test_top_talkers_is_refused_by_a_session_that_does_not_count_them(veth_pair, drained):
    drained.plug(veth_pair.if_a, netns=veth_pair.ns_a)
    with pytest.raises(RingcoreError, match="does not count talkers"):
        drained.top_talkers(veth_pair.if_a, 5)


# -- the API after close and at its boundary ----------------------------------


def test_every_call_on_a_closed_capture_raises_instead_of_passing_null_to_c(veth_pair):
    def closed_capture() -> Capture:
        capture = Capture(veth_pair.if_a, CaptureOptions(ring_pages=33), veth_pair.ns_a)
        capture.close()
        return capture

    calls = {"set_filter": lambda capture: capture.set_filter("udp"), "error": lambda capture: capture.error(),
             "start": lambda capture: capture.start(),
             "switch": lambda capture: capture.switch(CaptureOptions(zero_copy=True)),
             "ring": lambda capture: capture.ring.poll()}
    assert_every_call_raises_after_close(Capture, closed_capture, calls, ends=("close", "stop"))


def test_every_call_on_a_closed_writer_raises_instead_of_passing_null_to_c(tmp_path):
    def closed_writer() -> Writer:
        writer = Writer(str(tmp_path / "closed.pcapng"), "pcapng")
        writer.close()
        return writer

    calls = {"add_interface": lambda writer: writer.add_interface("eth0", 1, 65535),
             "chown": lambda writer: writer.chown(0, 0), "error": lambda writer: writer.error(),
             "set_packet_buffered": lambda writer: writer.set_packet_buffered(True)}
    # what the closed file holds stays readable: the summary is read after the last flush
    kept = {"packets": lambda writer: writer.packets, "bytes": lambda writer: writer.bytes,
            "interface_packets": lambda writer: writer.interface_packets(0), "files": lambda writer: writer.files}
    assert_every_call_raises_after_close(Writer, closed_writer, calls, ends=("close", "abort"), kept=kept)


def test_every_call_on_a_stopped_drain_raises_instead_of_passing_null_to_c():
    def stopped_drain() -> Drain:
        drain = Drain(Ring.create(slot_size=2048, ring_pages=33))
        drain.stop()
        return drain

    calls = {"pause": lambda drain: drain.pause(True), "set_writer": lambda drain: drain.set_writer(None),
             "stats": lambda drain: drain.stats()}
    assert_every_call_raises_after_close(Drain, stopped_drain, calls, ends=("stop",))


def test_every_call_on_a_closed_talkers_table_raises_instead_of_passing_null_to_c():
    def closed_talkers() -> Talkers:
        talkers = Talkers(LINKTYPE_ETHERNET)
        talkers.close()
        return talkers

    assert_every_call_raises_after_close(Talkers, closed_talkers, {"top": lambda talkers: talkers.top(5)})


@pytest.mark.parametrize("count", [-1, -(1 << 31), 1 << 32])
def test_top_talkers_count_that_c_cannot_take_raises_value_error(count):
    talkers = Talkers(LINKTYPE_ETHERNET)
    try:
        with pytest.raises(ValueError, match=f"talker count {count} is out of range"):
            talkers.top(count)
    finally:
        talkers.close()


def test_top_talkers_asked_for_more_than_the_table_holds_returns_what_there_is():
    def top_of_many():
        talkers = Talkers(LINKTYPE_ETHERNET)
        assert talkers.top(10**9).talkers == ()
        talkers.close()

    run_isolated(top_of_many)


def test_a_writer_or_talkers_table_in_use_by_a_running_drain_cannot_be_closed(tmp_path):
    ring = Ring.create(slot_size=2048, ring_pages=33)
    writer = Writer(str(tmp_path / "busy.pcap"))
    writer.add_interface("eth0", LINKTYPE_ETHERNET, 65535)
    talkers = Talkers(LINKTYPE_ETHERNET)
    drain = Drain(ring, writer, talkers=talkers)
    try:
        for sink in (writer, talkers):
            with pytest.raises(RingcoreError, match="used by a running drain"):
                sink.close()
        drain.set_writer(None)
        writer.close()  # detached: it may go
        with pytest.raises(RingcoreError, match="used by a running drain"):
            talkers.close()
    finally:
        drain.stop()
        talkers.close()
        ring.close()
    assert (tmp_path / "busy.pcap").exists()


def test_python_poll_on_a_ring_a_drain_consumes_raises_instead_of_corrupting_its_tail(veth_pair, drained):
    pair = veth_pair
    drained.plug(pair.if_a, netns=pair.ns_a)
    with pytest.raises(RingcoreError, match="already has a consumer"):
        drained.ring(pair.if_a).poll()
    netns.send_frames(pair.ns_b, pair.if_b, pair.frames_to_a(range(20)))
    assert wait_for(lambda: stats_of(drained, pair.if_a).delivered == 20)
    assert_accounts_close(stats_of(drained, pair.if_a))


@pytest.mark.parametrize("end", ["stop", "close"])
def test_monitor_stop_and_close_wait_for_the_monitor_lock(end):
    # stats(), a setting or an unplug from another thread holds the lock while it reads a ring these free
    session = Monitor(drain=True)
    ender = threading.Thread(target=getattr(session, end), daemon=True)
    with session._lock:
        ender.start()
        ender.join(timeout=0.2)
        assert ender.is_alive(), f"Monitor.{end}() went ahead while another thread held the monitor's lock"
    ender.join(timeout=WAIT_TIMEOUT_S)
    assert not ender.is_alive()


# -- consumer waiting ---------------------------------------------------------


def wait_counters_after_idle_polling(monitor: Monitor, ifname: str, strategy: WaitStrategy, interval_us: int,
                                     duration_s: float = 0.25) -> tuple[int, int, int]:
    """(empty polls, sleeps, sleep_ns) that rx_poll adds on an empty ring in `duration_s`."""
    monitor.set_wait(ifname, strategy, interval_us)
    before = stats_of(monitor, ifname)
    assert monitor.ring(ifname).rx_poll(lambda view, meta: None, timeout_s=duration_s) == 0
    after = stats_of(monitor, ifname)
    assert (after.wait_strategy, after.poll_interval_us) == (strategy, interval_us)
    return after.empty_polls - before.empty_polls, after.sleeps - before.sleeps, after.sleep_ns - before.sleep_ns


def test_wait_strategies_spin_without_sleeping_and_count_yields_and_sleeps(veth_pair, monitor):
    monitor.plug(veth_pair.if_a, netns=veth_pair.ns_a)
    empty_polls, sleeps, sleep_ns = wait_counters_after_idle_polling(monitor, veth_pair.if_a, WaitStrategy.SPIN, 1000)
    assert empty_polls > 0 and (sleeps, sleep_ns) == (0, 0)
    empty_polls, sleeps, sleep_ns = wait_counters_after_idle_polling(monitor, veth_pair.if_a, WaitStrategy.YIELD, 1000)
    assert sleeps == empty_polls > 0 and sleep_ns > 0
    empty_polls, sleeps, sleep_ns = wait_counters_after_idle_polling(monitor, veth_pair.if_a, WaitStrategy.SLEEP, 1000)
    assert sleeps == empty_polls > 0 and sleep_ns >= sleeps * 1_000_000


def test_switching_wait_strategy_while_frames_arrive_loses_none_and_adaptive_counts_its_spins(veth_pair, monitor):
    total, chunk = 6000, 300
    frames = veth_pair.frames_to_a(range(total))
    ifname = veth_pair.if_a
    monitor.plug(ifname, CaptureOptions(wait_strategy=WaitStrategy.ADAPTIVE), netns=veth_pair.ns_a)
    strategies = [WaitStrategy.SLEEP, WaitStrategy.ADAPTIVE, WaitStrategy.EVENT, WaitStrategy.SPIN,
                  WaitStrategy.YIELD, WaitStrategy.ADAPTIVE] * 3
    switched_at: list[int] = []

    def switch_as_frames_are_delivered() -> None:
        for number, strategy in enumerate(strategies):
            wait_for(lambda: stats_of(monitor, ifname).delivered >= number * total // len(strategies))
            monitor.set_wait(ifname, strategy, 200, spin_us=20 + number)
            switched_at.append(stats_of(monitor, ifname).delivered)

    switcher = threading.Thread(target=switch_as_frames_are_delivered, daemon=True)
    switcher.start()
    received = receive_paced(monitor, veth_pair, frames, chunk)
    switcher.join(timeout=30)
    assert not switcher.is_alive()

    assert len(set(switched_at)) > len(strategies) // 3, f"the strategy changed while frames arrived: {switched_at}"
    assert [data for data, _ in received] == frames
    time.sleep(QUIET_WINDOW_S)
    stats = stats_of(monitor, ifname)
    assert_accounts_close(stats)
    assert (stats.kernel_packets, stats.delivered, stats.kernel_drops, stats.ring_drops) == (total, total, 0, 0)
    assert stats.spin_found + stats.spin_slept > 0, "the adaptive waits were counted"
    assert stats.wakeups > 0 and stats.spin_us == 20 + len(strategies) - 1


def test_a_drain_switched_through_every_wait_strategy_mid_flood_writes_every_frame_in_order(veth_pair, tmp_path):
    total, out, ifname = 10000, tmp_path / "switched.pcapng", veth_pair.if_a
    session = Monitor(drain=True)
    sender = netns.Sender(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(total), size=100), pace_us=20)
    switches = 0
    try:
        session.start_writing(str(out), "pcapng")
        session.plug(ifname, CaptureOptions(), netns=veth_pair.ns_a)
        sender.start()
        while sender.is_alive() or switches < len(WaitStrategy):
            session.set_wait(ifname, list(WaitStrategy)[switches % len(WaitStrategy)], 500, spin_us=10 + switches)
            switches += 1
            time.sleep(0.01)
        sender.finish()
        assert wait_for(lambda: stats_of(session, ifname).delivered == total)
        session.stop()
        stats = stats_of(session, ifname)
        written = session.stop_writing()
    finally:
        session.close()
    assert switches > 2 * len(WaitStrategy), "the strategy changed many times while frames arrived"
    assert (stats.kernel_packets, stats.delivered, stats.kernel_drops, stats.ring_drops) == (total, total, 0, 0)
    assert written.packets == total
    assert [netns.check_frame(packet.frame) for packet in tshark_read(out)] == list(range(total))


def test_sleep_wait_honours_the_poll_interval(veth_pair, monitor):
    monitor.plug(veth_pair.if_a, netns=veth_pair.ns_a)
    duration_s = 0.25
    _, long_sleeps, long_sleep_ns = wait_counters_after_idle_polling(
        monitor, veth_pair.if_a, WaitStrategy.SLEEP, 5000, duration_s)
    _, short_sleeps, _ = wait_counters_after_idle_polling(monitor, veth_pair.if_a, WaitStrategy.SLEEP, 200, duration_s)
    # A sleep never ends early: the time asleep is at least sleeps x interval, and no more
    # sleeps fit in the run than that allows.  The upper bounds are loose on purpose.
    assert 1 <= long_sleeps <= duration_s / 0.005 + 1
    assert long_sleeps * 5_000_000 <= long_sleep_ns <= long_sleeps * 5_000_000 * 10
    assert short_sleeps > 2 * long_sleeps


# -- errors a user can hit ----------------------------------------------------


def test_plugging_an_unknown_interface_raises_a_ringcore_error_naming_it(veth_pair, monitor):
    with pytest.raises(RingcoreError, match="^rmt-nosuch: no such interface") as error:
        monitor.plug("rmt-nosuch", netns=veth_pair.ns_a)
    assert "\n" not in str(error.value)
    # The interface exists, but not where we look: the host's namespace.
    with pytest.raises(RingcoreError, match=f"^{veth_pair.if_a}: no such interface"):
        monitor.plug(veth_pair.if_a)
    with pytest.raises(RingcoreError, match="no network namespace named rmt-nosuch"):
        monitor.plug(veth_pair.if_a, netns="rmt-nosuch")
    assert monitor.interfaces == []


def test_a_filter_that_does_not_compile_raises_filter_error_and_plugs_nothing(veth_pair, monitor):
    with pytest.raises(FilterError, match="filter 'udp and port' does not compile") as error:
        monitor.plug(veth_pair.if_a, CaptureOptions(filter="udp and port"), netns=veth_pair.ns_a)
    assert "\n" not in str(error.value)
    assert monitor.interfaces == []
    monitor.plug(veth_pair.if_a, netns=veth_pair.ns_a)  # nothing was left half-open
    with pytest.raises(RingcoreError, match=f"{veth_pair.if_a} is already plugged"):
        monitor.plug(veth_pair.if_a, netns=veth_pair.ns_a)


@pytest.mark.parametrize("options, message", [
    (CaptureOptions(slot_size=48), "slot size 48 does not fit"),
    (CaptureOptions(slot_size=100), "slot size 100 does not fit: it must be a multiple of 16"),
    (CaptureOptions(slot_size=65552), "slot size 65552 does not fit"),
    (CaptureOptions(ring_pages=1), "a ring of 1 pages does not fit"),
    (CaptureOptions(slot_size=65536, ring_pages=2), "a ring of 2 pages does not fit 65536-byte slots"),
    (CaptureOptions(ring_pages=(1 << 22) + 1), "a ring of 4194305 pages does not fit"),
    (CaptureOptions(snaplen=0), "snap length 0 is out of range"),
    (CaptureOptions(snaplen=262145), "snap length 262145 is out of range"),
    (CaptureOptions(poll_interval_us=-1), "poll interval -1 us is out of range"),
], ids=["slot-too-small", "slot-not-multiple-of-16", "slot-too-big", "no-slot-pages", "slot-bigger-than-ring",
        "ring-too-big", "zero-snaplen", "snaplen-too-big", "negative-poll-interval"])
def test_sizes_that_do_not_fit_raise_one_line_ringcore_errors(veth_pair, monitor, options, message):
    with pytest.raises(RingcoreError, match=message) as error:
        monitor.plug(veth_pair.if_a, options, netns=veth_pair.ns_a)
    assert "\n" not in str(error.value)
    assert monitor.interfaces == []


def test_plugging_without_cap_net_raw_raises_privilege_error_naming_it(veth_pair):
    netns.require(subprocess.run(["which", "setpriv"], capture_output=True).returncode == 0,
                  "setpriv (util-linux) not installed")
    plug = (
        "import ringcore\n"
        "try:\n"
        f"    ringcore.Monitor().plug({veth_pair.if_a!r})\n"
        "except ringcore.RingcoreError as exc:\n"
        "    print(type(exc).__name__, exc, sep=': ')\n"
    )
    # Root without CAP_NET_RAW, already in the test's namespace: only the missing capability stands
    # between this process and the interface (the interpreter may live where another user cannot read).
    result = netns.run_in_netns(
        veth_pair.ns_a,
        ["setpriv", "--inh-caps=-all", "--bounding-set=-net_raw", sys.executable, "-c", plug],
        capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{PrivilegeError.__name__}: {veth_pair.if_a}: "), result.stdout
    assert "needs CAP_NET_RAW" in lines[0]


# -- descriptors ----------------------------------------------------------------

# In the child: every open descriptor as "NUMBER TARGET" (find's own directory descriptors included).
LIST_DESCRIPTORS = ["find", "/proc/self/fd", "-mindepth", "1", "-printf", "%f %l\\n"]


def open_descriptors() -> dict[str, str]:
    """This process's open descriptors: number -> what it is ('socket:[123]', 'anon_inode:[eventfd]')."""
    found = {}
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(FileNotFoundError):  # the listing's own, closed by now
            found[fd] = os.readlink(f"/proc/self/fd/{fd}")
    return found


def test_a_program_the_process_runs_inherits_no_descriptor_of_a_capture(veth_pair, monitor):
    before = open_descriptors()
    monitor.plug(veth_pair.if_a, netns=veth_pair.ns_a)
    opened = {fd: what for fd, what in open_descriptors().items() if before.get(fd) != what}
    assert any(what.startswith("socket:") for what in opened.values()), opened  # the packet socket
    assert "anon_inode:[eventfd]" in opened.values(), opened  # the producer's stop signal

    # close_fds=False: only close-on-exec stands between the capture's descriptors and the child.
    child = subprocess.run(LIST_DESCRIPTORS, close_fds=False, capture_output=True, text=True, timeout=30, check=True)
    inherited = dict(line.split(" ", 1) for line in child.stdout.splitlines())
    assert {fd: what for fd, what in opened.items() if inherited.get(fd) == what} == {}
