"""Zero-copy rings and direct dispatch on real interfaces: the consumer reads the kernel's own blocks in place, and
gives each back to the kernel once its packets are released (ringcore.h, ring_kernel.c)."""

import time

import pytest

import netns
from readback import tshark_read
from ringcore import CaptureOptions, DropPolicy, RingcoreError, RingMode
from ringcore.capture import KERNEL_BLOCK_SIZE
from test_capture import QUIET_WINDOW_S, ifindex_in, receive_paced, stats_of, vlan_mix, wait_for

KERNEL_BLOCK_NR = (8 << 20) // KERNEL_BLOCK_SIZE  # the default kernel ring: 8 MiB of blocks
ZERO_COPY = CaptureOptions(zero_copy=True)
DIRECT = CaptureOptions(direct_dispatch=True)
MODES = {"zero-copy": (ZERO_COPY, RingMode.ZERO_COPY), "direct": (DIRECT, RingMode.DIRECT),
         # immediate mode: the slots are the kernel's TPACKET_V2 frames, one packet each (test_immediate.py)
         "immediate-zero-copy": (CaptureOptions(zero_copy=True, immediate=True), RingMode.ZERO_COPY),
         "immediate-direct": (CaptureOptions(direct_dispatch=True, immediate=True), RingMode.DIRECT)}


def assert_accounts_close(stats) -> None:
    """The identity, in packets; a block holds many, so only the blocks held are bounded by the slots."""
    assert stats.kernel_packets == stats.delivered + stats.ring_drops + stats.occupancy, stats
    assert stats.slots_used <= stats.slot_count and stats.ring_drops == 0, stats


def test_frames_sent_arrive_through_rx_poll_intact_in_order_read_in_the_kernels_blocks(veth_pair, monitor):
    total, chunk = 3000, 500
    frames = veth_pair.frames_to_a(range(total))
    monitor.plug(veth_pair.if_a, ZERO_COPY, netns=veth_pair.ns_a)
    ring = monitor.ring(veth_pair.if_a)
    assert ring.mode == RingMode.ZERO_COPY
    received = receive_paced(monitor, veth_pair, frames, chunk)

    assert [data for data, _ in received] == frames
    ifindex = ifindex_in(veth_pair.ns_a, veth_pair.if_a)
    for data, meta in received:
        assert (meta.caplen, meta.wirelen, meta.ifindex, meta.flags) == (len(data), len(data), ifindex, 0)
        assert 0 <= meta.position % KERNEL_BLOCK_NR < KERNEL_BLOCK_NR
    timestamps = [meta.ts_ns for _, meta in received]
    assert timestamps == sorted(timestamps)
    time.sleep(QUIET_WINDOW_S)
    stats = stats_of(monitor, veth_pair.if_a)
    assert stats.mode == RingMode.ZERO_COPY
    assert (stats.slot_size, stats.slot_count) == (KERNEL_BLOCK_SIZE, KERNEL_BLOCK_NR)
    assert (stats.kernel_packets, stats.delivered, stats.ring_drops, stats.kernel_drops) == (total, total, 0, 0)
    # every block went back to the kernel: none is held, all the slots are free
    assert stats.occupancy == 0 and stats.slots_used == 0 and stats.head == stats.tail > 0
    assert_accounts_close(stats)


# Far more frames than the kernel ring holds (8 MiB of blocks hold about 35,000 of these): blocks must go back.
FLOOD_FRAMES = 120_000
FLOOD_FRAME_SIZE = 100


@pytest.mark.parametrize("mode", MODES)
def test_a_flood_far_longer_than_the_kernel_ring_does_not_stall_blocks_go_back_and_all_lands_in_the_file(
        veth_pair, drained, tmp_path, mode):
    options, ring_mode = MODES[mode]
    ifname, out = veth_pair.if_a, tmp_path / f"{mode}.pcapng"
    drained.start_writing(str(out), "pcapng")
    drained.plug(ifname, options, netns=veth_pair.ns_a)
    assert stats_of(drained, ifname).mode == ring_mode
    sender = netns.Sender(veth_pair.ns_b, veth_pair.if_b,
                          veth_pair.frames_to_a(range(FLOOD_FRAMES), size=FLOOD_FRAME_SIZE))
    sender.start()
    while sender.is_alive():
        assert_accounts_close(stats_of(drained, ifname))
    sender.finish()
    drained.stop()
    stats = stats_of(drained, ifname)
    written = drained.stop_writing()
    assert_accounts_close(stats)
    # every frame was taken or dropped by the kernel (the only drop stage here), none left behind
    assert (stats.kernel_packets + stats.kernel_drops, stats.kernel_seen) == (FLOOD_FRAMES, FLOOD_FRAMES)
    assert (stats.ring_drops, stats.occupancy, stats.lost_at_stop) == (0, 0, 0)
    assert stats.head > 2 * stats.slot_count, "the kernel's blocks (frames) were handed over lap after lap"
    assert stats.kernel_packets > FLOOD_FRAMES // 2
    assert written.packets == stats.delivered == len(tshark_read(out))


@pytest.mark.parametrize("mode", MODES)
def test_a_paused_drain_holds_blocks_until_the_kernel_drops_and_every_snapshot_keeps_the_identity(veth_pair, drained,
                                                                                                 mode):
    # Paused, a direct drain is the slowest sink there is: the capture thread holds the blocks it handed over.
    ifname, total = veth_pair.if_a, 60_000
    drained.plug(ifname, MODES[mode][0], netns=veth_pair.ns_a)
    drained.pause(ifname, True)
    sender = netns.Sender(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(total), size=FLOOD_FRAME_SIZE))
    sender.start()
    snapshots = []
    while sender.is_alive():
        stats = stats_of(drained, ifname)
        assert_accounts_close(stats)
        assert stats.slots_used <= stats.slot_count and stats.ring_drops == 0
        snapshots.append(stats)
    sender.finish()
    time.sleep(QUIET_WINDOW_S)
    held = stats_of(drained, ifname)
    assert held.slots_used == held.slot_count, "the paused consumer holds every block"
    assert held.kernel_drops > 0 and held.delivered == 0
    drained.pause(ifname, False)
    assert wait_for(lambda: stats_of(drained, ifname).occupancy == 0)
    drained.stop()
    stats = stats_of(drained, ifname)
    assert_accounts_close(stats)
    assert stats.kernel_packets + stats.kernel_drops == total and stats.delivered == stats.kernel_packets


def test_a_stripped_vlan_tag_is_put_back_in_place_as_in_copy_mode(veth_pair, monitor):
    mix = vlan_mix(veth_pair, range(60))
    monitor.plug(veth_pair.if_a, ZERO_COPY, netns=veth_pair.ns_a)
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, [frame for frame, _, _ in mix])
    received = []
    monitor.ring(veth_pair.if_a).rx_poll(lambda view, meta: received.append((bytes(view), meta)), count=len(mix),
                                         timeout_s=10)
    assert [data for data, _ in received] == [frame for frame, _, _ in mix]
    assert [meta.wirelen for _, meta in received] == [len(frame) for frame, _, _ in mix]


def test_a_zero_copy_ring_refuses_late_drops_and_its_slot_map_shows_kernel_blocks(veth_pair, monitor):
    monitor.plug(veth_pair.if_a, ZERO_COPY, netns=veth_pair.ns_a)
    ring = monitor.ring(veth_pair.if_a)
    with pytest.raises(RingcoreError, match="zero-copy ring drops only early"):
        monitor.set_drop_policy(veth_pair.if_a, DropPolicy.LATE)
    with pytest.raises(RingcoreError, match="packets are the kernel's"):
        ring.produce(b"not from the kernel")
    frames = veth_pair.frames_to_a(range(5))
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
    assert wait_for(lambda: stats_of(monitor, veth_pair.if_a).kernel_packets == len(frames))
    batch = ring.poll()
    assert [bytes(view) for view, _ in batch] == frames
    assert ring.slot_kinds() == bytes(KERNEL_BLOCK_NR)  # every block is a record's first slot
    block = batch[0][1].position % KERNEL_BLOCK_NR
    shown = ring.copy_slot(block)
    assert (shown.index, shown.data, shown.caplen) == (block, frames[0], len(frames[0]))
    stats = stats_of(monitor, veth_pair.if_a)
    assert (stats.slots_used, stats.consuming - stats.tail, stats.drop_policy) == (1, 1, DropPolicy.EARLY)
    ring.release(len(batch))
    assert stats_of(monitor, veth_pair.if_a).slots_used == 0


SWITCH_FRAMES = 60_000
SWITCH_PACE_US = 40  # a flood of about 2.4 s, through every switch
SWITCHES = (RingMode.ZERO_COPY, RingMode.DIRECT, RingMode.COPY, RingMode.DIRECT, RingMode.ZERO_COPY, RingMode.COPY)


@pytest.mark.parametrize("immediate", [False, True], ids=["blocks", "immediate"])
def test_switching_modes_mid_flood_loses_nothing_and_keeps_each_packet_once_in_order(veth_pair, drained, tmp_path,
                                                                                      immediate):
    ifname, out = veth_pair.if_a, tmp_path / "switched.pcapng"
    drained.start_writing(str(out), "pcapng")
    drained.plug(ifname, CaptureOptions(immediate=immediate), netns=veth_pair.ns_a)
    sender = netns.Sender(veth_pair.ns_b, veth_pair.if_b,
                          veth_pair.frames_to_a(range(SWITCH_FRAMES), size=FLOOD_FRAME_SIZE), pace_us=SWITCH_PACE_US)
    sender.start()
    for mode in SWITCHES:
        time.sleep(0.25)
        assert sender.is_alive(), "the flood ended before every switch"
        drained.set_mode(ifname, mode)
        stats = stats_of(drained, ifname)
        assert stats.mode == mode
        assert stats.kernel_packets == stats.delivered + stats.ring_drops + stats.occupancy, stats
    sender.finish()
    time.sleep(QUIET_WINDOW_S)
    drained.stop()
    stats = stats_of(drained, ifname)
    written = drained.stop_writing()
    seqs = [netns.check_frame(packet.frame) for packet in tshark_read(out)]
    assert seqs == sorted(set(seqs)), "each packet once, in the order sent"
    # every frame sent is in the file or counted dropped, and where: nothing vanished between two rings
    assert (stats.kernel_seen, stats.kernel_packets + stats.kernel_drops) == (SWITCH_FRAMES, SWITCH_FRAMES)
    assert len(seqs) == written.packets == stats.delivered == stats.kernel_packets - stats.ring_drops
    assert stats.occupancy == 0 and stats.recaptures == 0
