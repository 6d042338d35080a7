"""The dashboard's live packet list on a real capture of a veth pair: packets appear as they are captured and
the list follows the newest, moving up stops following while capture goes on, f comes back to the newest; a spool at its limit shows only the packets it holds."""
from __future__ import annotations

from test_dashboard_capture import open_screen, run_dashboard_on, wait_for, watching_a
from test_packet_list import rows

import netns
from ringcore.api import StoreOptions
from ringmon.dashboard import dashboard_monitor
from ringmon.screens.packet_list_screen import PacketListScreen
from ringmon.screens.packet_screen import PacketScreen

BURST = 300
FRAME_SIZE = 200
SMALL_SPOOL_BYTES = 1 << 20
EVICTING_FRAMES = 3000


def test_live_list_follows_new_packets_until_the_user_moves_up_and_f_follows_again(veth_pair):
    monitor = watching_a(veth_pair)

    def send(seqs: range) -> None:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(seqs, FRAME_SIZE), pace_us=50)

    async def scenario(app, pilot):
        screen = await open_screen(pilot, "l", PacketListScreen)
        packet_list = screen.packet_list
        send(range(BURST))
        await wait_for(pilot, lambda: packet_list.rows >= BURST, "the first burst in the list")
        await pilot.pause(0.3)
        assert packet_list.following and packet_list.cursor == packet_list.count - 1
        last_row = rows(packet_list)[-1]
        assert last_row[0] == str(packet_list.count)
        assert last_row[2:4] == [f"{veth_pair.ip_b}.{netns.UDP_SRC_PORT}", f"{veth_pair.ip_a}.{netns.UDP_DST_PORT}"]
        assert last_row[5] == str(FRAME_SIZE)

        await pilot.press("up")
        stopped_at = packet_list.cursor
        send(range(BURST, 2 * BURST))
        await wait_for(pilot, lambda: packet_list.rows >= 2 * BURST, "the second burst in the list")
        await pilot.pause(0.3)
        assert not packet_list.following and packet_list.cursor == stopped_at
        assert "following" not in str(screen.status.content)

        await pilot.press("f")
        # the scroll to the newest is drawn at the next refresh: a loaded machine may take a while
        await wait_for(pilot, lambda: rows(packet_list)[-1][0] == str(packet_list.count), "the newest row shown")
        assert packet_list.following and packet_list.cursor == packet_list.count - 1

        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PacketScreen)
        assert app.screen.shown.data == veth_pair.frames_to_a([2 * BURST - 1], FRAME_SIZE)[0]

    run_dashboard_on(monitor, scenario)


def test_live_list_over_a_small_spool_shows_only_what_is_held_and_says_how_many_were_evicted(veth_pair, tmp_path):
    monitor = dashboard_monitor(StoreOptions(spool_bytes=SMALL_SPOOL_BYTES, directory=str(tmp_path)))
    monitor.plug(veth_pair.if_a, netns=veth_pair.ns_a)
    frames = veth_pair.frames_to_a(range(EVICTING_FRAMES), 1000)  # 3 MB through a 1 MiB spool

    async def scenario(app, pilot):
        screen = await open_screen(pilot, "l", PacketListScreen)
        packet_list = screen.packet_list
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames, pace_us=20)
        await wait_for(pilot, lambda: packet_list.count >= EVICTING_FRAMES, "every frame stored")
        await pilot.pause(0.3)
        progress = monitor.store.progress()
        assert progress.first > 0 and packet_list.first == progress.first
        assert f"({progress.first:,} evicted)" in str(screen.status.content)
        await pilot.press("home")
        await pilot.pause()
        assert rows(packet_list)[0][0] == str(progress.first + 1)
        await pilot.press("g", *str(progress.first // 2 + 1), "enter")  # an evicted packet: the oldest held
        await pilot.pause()
        assert packet_list.cursor == monitor.store.progress().first
        await pilot.press("end", "enter")
        await pilot.pause()
        assert app.screen.shown.data == frames[-1]

    run_dashboard_on(monitor, scenario)
