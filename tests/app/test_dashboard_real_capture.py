"""Dashboard actions that the fake monitor tests only show the keys of, done on a real capture of a veth pair:
writing a file (read back by tshark), the slot inspector on a real slot, the drop-policy key switching the real
ring's policy, and the interface panel's facts and NIC counters against what the kernel says."""
from __future__ import annotations

import fcntl
import os
import socket
import struct
import subprocess

import dpkt
import pytest

from screen_text import panel_shown, shown
from test_dashboard_capture import dashboard_monitor, open_screen, run_dashboard_on, wait_for, watching_a
from textual.widgets import Input, Tree

import netns
from readback import tshark_read
from ringmon.screens.slot_inspector import SlotInspector
from ringmon.screens.write_file_dialog import WriteFileDialog
from ringmon.widgets.packets.hex_dump import HexDump, hex_dump_text
from ringmon.widgets.ring.slot_map import CONTINUED_GLYPH, FILLED, GLYPHS
from ringcore.api import CLASSIC_RING_PAGES, CaptureOptions, DropPolicy, RingMode

FRAME_COUNT = 300
FRAME_SIZE = 200
CLASSIC_SLOTS = 64
UNUSUAL_MTU = 1400  # not veth's default, so the panel cannot be showing a default


def hex_dump_bytes(dump: str) -> bytes:
    """The bytes a HexDump shows, read back from its text (offset, hex columns, ASCII)."""
    lines = dump.splitlines()
    per_line = int(lines[1][:4], 16) if len(lines) > 1 else len(lines[0][6:].split()) - 1
    # 4 offset digits and 2 spaces, then 3 characters a byte and one more between the two halves
    return b"".join(bytes.fromhex(line[6:6 + 3 * per_line + 1]) for line in lines)


def test_write_key_writes_every_frame_sent_to_a_file_tshark_reads(veth_pair, tmp_path):
    out = tmp_path / "written.pcapng"
    frames = veth_pair.frames_to_a(range(FRAME_COUNT))
    monitor = watching_a(veth_pair)

    async def scenario(app, pilot):
        dialog = await open_screen(pilot, "w", WriteFileDialog)
        dialog.query_one("#file-path", Input).value = str(out)
        await pilot.press("enter")
        await wait_for(pilot, lambda: f"writing {out}" in shown(app, "#session-bar"), "writing on the session bar")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        await wait_for(pilot, lambda: f" {FRAME_COUNT} packets" in shown(app, "#session-bar"),
                       "every frame counted as written")
        await pilot.press("w")
        await wait_for(pilot, lambda: monitor.writing is None and "not writing" in shown(app, "#session-bar"),
                       "the file closed and the session bar saying so")

    run_dashboard_on(monitor, scenario)
    packets = tshark_read(out)
    assert [packet.frame for packet in packets] == frames
    assert {packet.interface for packet in packets} == {f"{veth_pair.ns_a}/{veth_pair.if_a}"}


def test_slot_inspector_shows_the_frame_the_real_slot_holds(veth_pair):
    frames = veth_pair.frames_to_a(range(3), FRAME_SIZE)
    with netns.in_netns(veth_pair.ns_a):
        ifindex = socket.if_nametoindex(veth_pair.if_a)
    monitor = watching_a(veth_pair, CaptureOptions(ring_pages=CLASSIC_RING_PAGES))

    async def scenario(app, pilot):
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        await wait_for(pilot, lambda: app.latest[veth_pair.key_a].delivered == len(frames), "the frames delivered")
        await pilot.press("enter")  # the slot map's cursor starts on slot 0
        inspector = await wait_for_inspector(pilot)
        for index, frame in enumerate(frames):
            header = shown(app, "#detail-header")
            assert f"slot {index} of {veth_pair.key_a}" in header
            assert f"captured {FRAME_SIZE} B of {FRAME_SIZE} B on the wire" in header
            assert f"ifindex {ifindex}" in header
            labels = [str(node.label) for node in inspector.query_one(Tree).root.children]
            assert labels[:3] == [f"Ethernet II  {veth_pair.mac_b} > {veth_pair.mac_a}",
                                  f"IPv4  {veth_pair.ip_b} > {veth_pair.ip_a}",
                                  f"UDP  {netns.UDP_SRC_PORT} > {netns.UDP_DST_PORT}"]
            assert hex_dump_bytes(hex_dump_text(inspector.query_one(HexDump).data).plain) == frame
            await pilot.press("right_square_bracket")
        assert "never written" in shown(app, "#detail-header")  # slot 3: nothing sent filled it

    run_dashboard_on(monitor, scenario)


async def wait_for_inspector(pilot) -> SlotInspector:
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SlotInspector), "the slot inspector")
    return pilot.app.screen


def test_drop_policy_key_switches_the_real_rings_policy_and_where_packets_are_lost(veth_pair):
    sent = 1000
    monitor = watching_a(veth_pair, CaptureOptions(ring_pages=CLASSIC_RING_PAGES, drop_policy=DropPolicy.EARLY))

    async def scenario(app, pilot):
        await pilot.press("d")
        await wait_for(pilot, lambda: monitor.stats()[veth_pair.key_a].drop_policy == DropPolicy.LATE,
                       "drop-late in the ring's own statistics")
        # the panel shows it at its next refresh (10 Hz)
        await wait_for(pilot, lambda: "policy drop-late" in panel_shown(app, veth_pair.if_a, "#panel-status"),
                       "drop-late on the panel")
        await pilot.press("p")
        await wait_for(pilot, lambda: app.latest[veth_pair.key_a].paused, "paused")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(sent), FRAME_SIZE))
        # drop-late: the producer takes everything from the kernel and the ring drops what does not fit
        await wait_for(pilot, lambda: app.latest[veth_pair.key_a].kernel_packets == sent, "every frame taken")
        stats = app.latest[veth_pair.key_a]
        assert (stats.ring_drops, stats.kernel_drops, stats.occupancy) == (sent - CLASSIC_SLOTS, 0, CLASSIC_SLOTS)
        await pilot.press("d")
        await wait_for(pilot, lambda: monitor.stats()[veth_pair.key_a].drop_policy == DropPolicy.EARLY,
                       "drop-early back in the ring's statistics")
        await wait_for(pilot, lambda: "policy drop-early" in panel_shown(app, veth_pair.if_a, "#panel-status"),
                       "drop-early on the panel")

    run_dashboard_on(monitor, scenario)


def test_interface_panel_shows_the_kernels_facts_and_nic_counters_beside_ringmons(veth_pair):
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", veth_pair.if_a, "mtu", str(UNUSUAL_MTU)],
                   check=True, timeout=30)
    monitor = watching_a(veth_pair)

    async def scenario(app, pilot):
        facts = panel_shown(app, veth_pair.if_a, "InterfaceFactsView")
        assert f"up  MTU {UNUSUAL_MTU}" in facts
        assert f"netns {veth_pair.ns_a}" in facts
        assert f"inet {veth_pair.ip_a}/24" in facts and f"link {veth_pair.mac_a}" in facts
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE))
        # the veth's own counters (once a second) and ringmon's agree on every frame sent
        await wait_for(pilot, lambda: f"rx +{FRAME_COUNT}" in panel_shown(app, veth_pair.if_a, "InterfaceFactsView")
                       and f"in +{FRAME_COUNT}" in panel_shown(app, veth_pair.if_a, "InterfaceFactsView"),
                       "the NIC and ringmon counting every frame")

    run_dashboard_on(monitor, scenario)


def test_a_jumbo_frame_is_one_record_the_slot_map_joins_and_the_inspector_shows_whole_from_any_of_its_slots(
        veth_pair):
    netns.set_mtu(veth_pair, netns.JUMBO_MTU)
    sizes = (FRAME_SIZE, netns.MAX_JUMBO_FRAME_LEN, FRAME_SIZE)  # the jumbo frame takes slots 1..5
    frames = [netns.make_frame(seq, size, veth_pair.mac_b, veth_pair.mac_a, src_ip=veth_pair.ip_b,
                               dst_ip=veth_pair.ip_a) for seq, size in enumerate(sizes)]
    monitor = watching_a(veth_pair, CaptureOptions(ring_pages=CLASSIC_RING_PAGES))

    async def scenario(app, pilot):
        await pilot.press("p")  # paused: the frames stay in the ring, where the map shows them
        await wait_for(pilot, lambda: app.latest[veth_pair.key_a].paused, "paused")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        await wait_for(pilot, lambda: app.latest[veth_pair.key_a].kernel_packets == len(frames), "every frame taken")
        stats = app.latest[veth_pair.key_a]
        assert (stats.occupancy, stats.slots_used, stats.truncated) == (3, 7, 0)
        slot_map = app.active_panel().slot_map
        await wait_for(pilot, lambda: slot_map.glyphs(FILLED, 0, 7) == [GLYPHS[FILLED], GLYPHS[FILLED]]
                       + [CONTINUED_GLYPH] * 4 + [GLYPHS[FILLED]], "the jumbo frame's slots drawn as one record")
        slot_map.cursor = 3
        await pilot.press("enter")
        inspector = await wait_for_inspector(pilot)
        header = shown(app, "#detail-header")
        assert f"slots 1–5 of {veth_pair.key_a}" in header and "slot 3 is part of this packet's record" in header
        assert f"captured {netns.MAX_JUMBO_FRAME_LEN} B of {netns.MAX_JUMBO_FRAME_LEN} B on the wire" in header
        assert hex_dump_bytes(hex_dump_text(inspector.query_one(HexDump).data).plain) == frames[1]
        await pilot.press("right_square_bracket")  # the next record: after all the jumbo frame's slots
        assert f"slot 6 of {veth_pair.key_a}" in shown(app, "#detail-header")
        assert hex_dump_bytes(hex_dump_text(inspector.query_one(HexDump).data).plain) == frames[2]

    run_dashboard_on(monitor, scenario)


TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000


def test_slot_inspector_decodes_a_tun_devices_packets_as_raw_ip(namespace):
    """A tun device carries bare IP packets (link type 101): the ring says so and the inspector decodes by it."""
    with netns.in_netns(namespace):
        tun = os.open("/dev/net/tun", os.O_RDWR)
        fcntl.ioctl(tun, TUNSETIFF, struct.pack("16sH", b"tun0", IFF_TUN | IFF_NO_PI))
    try:
        netns.run_in_netns(namespace, ["ip", "link", "set", "tun0", "up"], check=True)
        netns.run_in_netns(namespace, ["ip", "addr", "add", "198.18.7.1/30", "dev", "tun0"], check=True)
        monitor = dashboard_monitor()
        key = monitor.plug("tun0", CaptureOptions(ring_pages=CLASSIC_RING_PAGES), netns=namespace)
        assert monitor.stats()[key].linktype == 101
        udp = dpkt.udp.UDP(sport=40000, dport=40001, data=b"hello")
        udp.ulen = len(udp)
        ip = dpkt.ip.IP(src=bytes([198, 18, 7, 2]), dst=bytes([198, 18, 7, 1]), p=dpkt.ip.IP_PROTO_UDP, data=udp)
        ip.len = len(ip)
        packet = bytes(ip)  # dpkt fills in the checksums

        async def scenario(app, pilot):
            os.write(tun, packet)  # the kernel receives it on tun0, as from the wire
            await wait_for(pilot, lambda: app.latest[key].delivered >= 1, "the packet delivered")
            await pilot.press("enter")
            inspector = await wait_for_inspector(pilot)
            labels = [str(node.label) for node in inspector.query_one(Tree).root.children]
            assert labels[:2] == ["IPv4  198.18.7.2 > 198.18.7.1", "UDP  40000 > 40001"]
            assert hex_dump_text(inspector.query_one(HexDump).data).plain.startswith("0000  45 00 00 21")

        run_dashboard_on(monitor, scenario)
    finally:
        os.close(tun)


@pytest.mark.parametrize(("immediate", "says"), [(False, "zero-copy  policy"), (True, "zero-copy  immediate  policy")],
                         ids=["v3-blocks", "immediate-v2-frames"])
def test_a_zero_copy_ring_says_so_has_no_ring_full_stage_refuses_drop_late_and_its_inspector_shows_a_kernel_slots_packet(
        veth_pair, immediate, says):
    frames = veth_pair.frames_to_a(range(3), FRAME_SIZE)
    monitor = watching_a(veth_pair, CaptureOptions(zero_copy=True, immediate=immediate))

    async def scenario(app, pilot):
        await wait_for(pilot, lambda: says in panel_shown(app, veth_pair.if_a, "#panel-status"),
                       "the mode on the panel's status line")
        await pilot.press("d")  # the kernel drops what finds no free block: early, always
        await pilot.pause(0.3)
        assert monitor.stats()[veth_pair.key_a].drop_policy == DropPolicy.EARLY
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        await wait_for(pilot, lambda: app.latest[veth_pair.key_a].delivered == len(frames), "the frames delivered")
        drops = panel_shown(app, veth_pair.if_a, "DropsByStage").splitlines()
        # no slot ring, so no stage where it fills: a dash, not a 0 that could grow
        assert next(line for line in drops if line.startswith("ring full")).split() == ["ring", "full", "—", "—"]
        await pilot.press("enter")  # slot 0: the kernel's first block (or frame), which the frames filled
        inspector = await wait_for_inspector(pilot)
        header = shown(app, "#detail-header")
        assert f"slot 0 of {veth_pair.key_a}" in header
        assert f"captured {FRAME_SIZE} B of {FRAME_SIZE} B on the wire" in header
        assert hex_dump_bytes(hex_dump_text(inspector.query_one(HexDump).data).plain) == frames[0]

    run_dashboard_on(monitor, scenario)


def test_the_polling_dialog_switches_a_real_ring_to_direct_and_back_to_copy_losing_no_frame(veth_pair):
    # The frames sent before, between and after the switches are all delivered, each once: the identity holds
    # over the rings the interface had (summed as a recapture's).
    monitor = watching_a(veth_pair)

    async def switch_to(app, pilot, mode: RingMode) -> None:
        await pilot.press("i")
        await pilot.pause()
        app.screen.query_one("#ring-mode").focus()
        await pilot.press(*(["down"] * mode.value), "enter")  # copy, zero-copy, direct: the highlight on the first
        await wait_for(pilot, lambda: monitor.stats()[veth_pair.key_a].mode == mode, f"{mode.label} in the ring")

    async def scenario(app, pilot):
        sent = 0
        for mode in (RingMode.DIRECT, RingMode.COPY, RingMode.ZERO_COPY):
            netns.send_frames(veth_pair.ns_b, veth_pair.if_b,
                              veth_pair.frames_to_a(range(sent, sent + 100), FRAME_SIZE))
            sent += 100
            await switch_to(app, pilot, mode)
        await wait_for(pilot, lambda: monitor.stats()[veth_pair.key_a].delivered == sent, f"all {sent} delivered")
        stats = monitor.stats()[veth_pair.key_a]
        assert stats.kernel_packets == stats.delivered + stats.ring_drops + stats.occupancy == sent
        await wait_for(pilot, lambda: "zero-copy" in panel_shown(app, veth_pair.if_a, "#panel-status"),
                       "the mode on the panel's status line")

    run_dashboard_on(monitor, scenario)
