"""Immediate mode on real interfaces: a TPACKET_V2 kernel ring whose frames, sized for the interface's MTU, are
handed over one by one; copied into slots, or (zero-copy) each frame a slot (ringcore.h, capture.c). Floods,
paused consumers, mode switches and direct dispatch over it are test_zero_copy.py's with immediate=True."""

import time

import pytest

import netns
from ringcore import CaptureOptions, RingMode
from ringcore.capture import KERNEL_BLOCK_SIZE
from test_capture import QUIET_WINDOW_S, ifindex_in, receive, receive_paced, stats_of, vlan_mix, wait_for

KERNEL_BLOCK_NR = (8 << 20) // KERNEL_BLOCK_SIZE  # the default kernel ring: 8 MiB
MODES = {
    "copy": (CaptureOptions(immediate=True), RingMode.COPY),
    "zero-copy": (CaptureOptions(immediate=True, zero_copy=True), RingMode.ZERO_COPY),
}
VETH_MTU = 1500
FRAME_HEADROOM = 80 + 36  # the kernel's V2 frame header and link header room, and PACKET_RESERVE's headroom


def assert_accounts_close(stats) -> None:
    assert stats.kernel_packets == stats.delivered + stats.ring_drops + stats.occupancy, stats
    assert stats.occupancy <= stats.slots_used <= stats.slot_count, stats


def assert_frames_sized_for_the_mtu(stats) -> None:
    """Zero-copy: each slot is one kernel frame, room for a packet of the MTU, its link header and a VLAN tag."""
    frame = stats.slot_size
    assert FRAME_HEADROOM + VETH_MTU + 14 + 4 <= frame < FRAME_HEADROOM + VETH_MTU + 14 + 4 + 16
    assert stats.slot_count == (KERNEL_BLOCK_SIZE // frame) * KERNEL_BLOCK_NR


@pytest.mark.parametrize("mode", MODES)
def test_frames_sent_arrive_intact_in_order_one_frame_each_going_back_to_the_kernel_lap_after_lap(veth_pair, monitor,
                                                                                                  mode):
    options, ring_mode = MODES[mode]
    # more than twice the ~5,000 frames of the kernel ring, with no kernel drop: every frame went back to it
    total, chunk = 12_000, 500
    frames = veth_pair.frames_to_a(range(total))
    monitor.plug(veth_pair.if_a, options, netns=veth_pair.ns_a)
    received = receive_paced(monitor, veth_pair, frames, chunk)

    assert [data for data, _ in received] == frames
    ifindex = ifindex_in(veth_pair.ns_a, veth_pair.if_a)
    assert all((meta.caplen, meta.wirelen, meta.ifindex, meta.flags) == (len(data), len(data), ifindex, 0)
               for data, meta in received)
    time.sleep(QUIET_WINDOW_S)
    stats = stats_of(monitor, veth_pair.if_a)
    assert stats.mode == ring_mode
    assert (stats.kernel_packets, stats.delivered, stats.truncated, stats.kernel_drops) == (total, total, 0, 0)
    assert stats.occupancy == 0 and stats.slots_used == 0
    assert_accounts_close(stats)
    if ring_mode != RingMode.COPY:
        assert_frames_sized_for_the_mtu(stats)
        assert stats.head == total, "one slot, one kernel frame, per packet"


@pytest.mark.parametrize("mode", MODES)
def test_a_packet_longer_than_the_frame_is_cut_by_the_kernel_and_counted_truncated(veth_pair, monitor, mode):
    # The frames are sized for the MTU when the capture opens; raised since, the MTU lets longer packets through
    # (as a GSO packet or a jumbo frame would be), and the kernel cuts each to its frame.
    options, _ = MODES[mode]
    monitor.plug(veth_pair.if_a, options, netns=veth_pair.ns_a)
    netns.set_mtu(veth_pair, netns.JUMBO_MTU)
    long_frame = veth_pair.frames_to_a([1], size=4000)[0]
    frames = [veth_pair.frames_to_a([0], size=1514)[0], long_frame, veth_pair.frames_to_a([2], size=60)[0]]
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
    received = receive(monitor, veth_pair.if_a, len(frames))
    time.sleep(QUIET_WINDOW_S)

    (first, first_meta), (cut, cut_meta), (last, last_meta) = received
    assert (first, last) == (frames[0], frames[2]) and first_meta.flags == last_meta.flags == 0
    assert VETH_MTU + 14 <= cut_meta.caplen < len(long_frame) == cut_meta.wirelen
    assert cut == long_frame[:cut_meta.caplen] and cut_meta.flags == 1  # RC_SLOT_TRUNCATED
    stats = stats_of(monitor, veth_pair.if_a)
    assert (stats.kernel_packets, stats.delivered, stats.truncated) == (3, 3, 1)
    assert_accounts_close(stats)


@pytest.mark.parametrize("mode", MODES)
def test_a_stripped_vlan_tag_is_put_back_in_immediate_mode_too(veth_pair, monitor, mode):
    mix = vlan_mix(veth_pair, range(60))
    monitor.plug(veth_pair.if_a, MODES[mode][0], netns=veth_pair.ns_a)
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, [frame for frame, _, _ in mix])
    received = receive(monitor, veth_pair.if_a, len(mix))
    assert [data for data, _ in received] == [frame for frame, _, _ in mix]
    assert wait_for(lambda: stats_of(monitor, veth_pair.if_a).delivered == len(mix))
