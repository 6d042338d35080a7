"""The real dashboard on real captures: a veth pair between namespaces the test creates, real frames,
ringcore's Monitor, and the screen read back as text."""
from __future__ import annotations

import asyncio
import time

import pytest
from screen_text import panel_shown, shown
from textual.widgets import DataTable, Input, RadioButton

import netns
from ringmon.dashboard import RingmonApp, dashboard_monitor
from ringmon.screens.filter_dialog import FilterDialog
from ringmon.screens.interface_picker import InterfacePicker
from ringmon.screens.poll_settings_dialog import PollSettingsDialog
from ringmon.widgets.iface.panel import InterfacePanel
from ringcore import Monitor
from ringcore.api import CLASSIC_RING_PAGES, CaptureOptions, DropPolicy, WaitStrategy

WAIT_S = 10.0
FRAME_COUNT = 500
FRAME_SIZE = 128
FLOOD_FRAMES = 12_000  # of 1514 bytes: more than the kernel's 8 MiB socket ring holds


def watching_a(pair: netns.VethPair, options: CaptureOptions = CaptureOptions()) -> Monitor:
    """The dashboard's own session with end a of the pair plugged."""
    monitor = dashboard_monitor()
    monitor.plug(pair.if_a, options, netns=pair.ns_a)
    return monitor


async def open_screen(pilot, key: str, screen_type: type):
    """Press `key` and return the screen it opened, which must be a `screen_type`."""
    await pilot.press(key)
    screen = pilot.app.screen
    assert isinstance(screen, screen_type), f"{key} opened {screen!r}"
    return screen


async def wait_for(pilot, condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}")
        await pilot.pause(0.1)


def run_dashboard_on(monitor: Monitor, netns_of: dict[str, str], scenario) -> None:
    async def main():
        app = RingmonApp(monitor, netns_of=netns_of)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause(0.2)
            await scenario(app, pilot)

    try:
        asyncio.run(main())
    finally:
        monitor.close()


def test_panel_shows_every_frame_sent_the_identity_closing_and_who_sent_them(veth_pair):
    monitor = watching_a(veth_pair, CaptureOptions(ring_pages=CLASSIC_RING_PAGES))

    async def scenario(app, pilot):
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE),
                          pace_us=50)
        await wait_for(pilot, lambda: f"taken {FRAME_COUNT:,} = delivered {FRAME_COUNT:,}"
                       in panel_shown(app, veth_pair.if_a, "DropsByStage"), "all frames on the panel")
        drops = panel_shown(app, veth_pair.if_a, "DropsByStage")
        assert "+ ring drops 0 + in ring 0 ✓" in drops
        assert app.latest[veth_pair.if_a].kernel_packets == FRAME_COUNT
        # all of it from b to a: the lower address (a, .1) first, every byte in the b→a column
        conversation = f"{veth_pair.ip_a} ⇄ {veth_pair.ip_b}"
        await wait_for(pilot, lambda: conversation in panel_shown(app, veth_pair.if_a, "TopTalkersView"),
                       "the conversation in top talkers")
        row = next(line for line in panel_shown(app, veth_pair.if_a, "TopTalkersView").splitlines()
                   if conversation in line)
        assert row.split()[-3:] == ["0B", "64.0kB", "100%"], row  # FRAME_COUNT frames of FRAME_SIZE bytes

    run_dashboard_on(monitor, {veth_pair.if_a: veth_pair.ns_a}, scenario)


@pytest.mark.parametrize("policy", [DropPolicy.EARLY, DropPolicy.LATE], ids=["drop-early", "drop-late"])
def test_paused_consumer_fills_the_ring_then_drops_at_the_policys_stage(veth_pair, policy):
    monitor = watching_a(veth_pair, CaptureOptions(ring_pages=CLASSIC_RING_PAGES, drop_policy=policy))

    async def scenario(app, pilot):
        await pilot.press("p")
        await wait_for(pilot, lambda: "PAUSED" in panel_shown(app, veth_pair.if_a, "#panel-status"), "paused")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FLOOD_FRAMES), 1514))
        await wait_for(pilot, lambda: "64/64 slots" in panel_shown(app, veth_pair.if_a, "#occupancy-numbers"),
                       "a full ring on the panel")
        if policy == DropPolicy.EARLY:
            await wait_for(pilot, lambda: app.latest[veth_pair.if_a].kernel_drops > 0, "kernel drops")
            assert app.latest[veth_pair.if_a].ring_drops == 0
        else:
            await wait_for(pilot, lambda: app.latest[veth_pair.if_a].ring_drops > 0, "ring drops")
        stats = app.latest[veth_pair.if_a]
        assert stats.occupancy == stats.slot_count == 64
        assert stats.kernel_packets == stats.delivered + stats.ring_drops + stats.occupancy
        stage = "kernel" if policy == DropPolicy.EARLY else "ring full"
        stage_line = next(line for line in panel_shown(app, veth_pair.if_a, "DropsByStage").splitlines()
                          if line.startswith(stage))
        assert stage_line.split()[-2] != "0", stage_line
        await pilot.press("p")
        # The identity closes by construction; the totals prove it: every frame sent was taken or dropped
        # by the kernel, and every frame taken was delivered or dropped at the ring.
        await wait_for(pilot, lambda: app.latest[veth_pair.if_a].occupancy == 0
                       and app.latest[veth_pair.if_a].kernel_seen == FLOOD_FRAMES, "the ring drained after resume")
        stats = app.latest[veth_pair.if_a]
        assert stats.kernel_packets + stats.kernel_drops == FLOOD_FRAMES
        assert stats.delivered + stats.ring_drops == stats.kernel_packets
        assert "high 64" in panel_shown(app, veth_pair.if_a, "#occupancy-numbers")
        await pilot.press("r")  # the high-water mark starts again from the (empty) ring
        await wait_for(pilot, lambda: "high 0" in panel_shown(app, veth_pair.if_a, "#occupancy-numbers"),
                       "the high-water mark reset")

    run_dashboard_on(monitor, {veth_pair.if_a: veth_pair.ns_a}, scenario)


def test_unplugging_removes_its_panel_while_the_other_keeps_counting(veth_pair):
    monitor = watching_a(veth_pair)
    monitor.plug(veth_pair.if_b, CaptureOptions(), netns=veth_pair.ns_b)

    async def scenario(app, pilot):
        assert app.active_panel().ifname == veth_pair.if_a
        await pilot.press("x")
        await wait_for(pilot, lambda: [panel.ifname for panel in app.query(InterfacePanel)] == [veth_pair.if_b],
                       "one panel left")
        assert monitor.interfaces == [veth_pair.if_b]
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE),
                          pace_us=50)
        await wait_for(pilot, lambda: f"taken {FRAME_COUNT:,}" in panel_shown(app, veth_pair.if_b, "DropsByStage"),
                       "the remaining interface counting the frames it sent")

    run_dashboard_on(monitor, {veth_pair.if_a: veth_pair.ns_a, veth_pair.if_b: veth_pair.ns_b}, scenario)


def test_bad_filter_shows_libpcaps_message_and_capture_goes_on_with_the_old_one(veth_pair):
    monitor = watching_a(veth_pair, CaptureOptions(filter="udp"))

    async def scenario(app, pilot):
        dialog = await open_screen(pilot, "f", FilterDialog)
        dialog.query_one(Input).value = "udp and and port"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog
        assert "syntax error" in shown(app, "#filter-error")
        await pilot.press("escape")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE),
                          pace_us=50)
        await wait_for(pilot, lambda: f"taken {FRAME_COUNT:,}" in panel_shown(app, veth_pair.if_a, "DropsByStage"),
                       "frames still captured")
        assert "filter udp" in panel_shown(app, veth_pair.if_a, "#panel-status")

    run_dashboard_on(monitor, {veth_pair.if_a: veth_pair.ns_a}, scenario)


def test_plug_key_lists_the_namespaces_interfaces_and_the_one_picked_starts_counting(veth_pair):
    monitor = watching_a(veth_pair)

    async def scenario(app, pilot):
        picker = await open_screen(pilot, "a", InterfacePicker)
        table = picker.query_one(DataTable)
        keys = [row_key.value for row_key in table.rows]
        assert f"{veth_pair.ns_a}\0{veth_pair.if_a}" in keys and f"{veth_pair.ns_b}\0lo" in keys
        table.move_cursor(row=keys.index(f"{veth_pair.ns_b}\0{veth_pair.if_b}"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: veth_pair.if_b in monitor.interfaces
                       and app.active_panel().ifname == veth_pair.if_b, "the picked interface plugged and shown")
        netns.send_frames(veth_pair.ns_a, veth_pair.if_a, veth_pair.frames_to_b(range(FRAME_COUNT), FRAME_SIZE),
                          pace_us=50)
        await wait_for(pilot, lambda: f"taken {FRAME_COUNT:,} = delivered {FRAME_COUNT:,}"
                       in panel_shown(app, veth_pair.if_b, "DropsByStage"), "the new panel counting")

    # both namespaces are the session's: the picker lists their interfaces
    run_dashboard_on(monitor, {veth_pair.if_a: veth_pair.ns_a, veth_pair.if_b: veth_pair.ns_b}, scenario)


def test_polling_settings_change_how_the_real_consumer_waits(veth_pair):
    monitor = watching_a(veth_pair)

    async def scenario(app, pilot):
        dialog = await open_screen(pilot, "i", PollSettingsDialog)
        dialog.query_one(Input).value = "250"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "sleep 250µs when empty" in panel_shown(app, veth_pair.if_a, "PollingStats"),
                       "the new interval on the panel")
        sleeps_before = app.latest[veth_pair.if_a].sleeps
        await pilot.pause(0.5)
        # an idle ring at 250 µs sleeps far more often than the 1 ms default would (at most 500 in 0.5 s)
        assert app.latest[veth_pair.if_a].sleeps - sleeps_before > 700

        dialog = await open_screen(pilot, "i", PollSettingsDialog)
        event = next(button for button in dialog.query(RadioButton) if button.name == "EVENT")
        await pilot.click(event)
        dialog.query_one(Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.latest[veth_pair.if_a].wait_strategy == WaitStrategy.EVENT, "event wait")
        assert "event when empty" in panel_shown(app, veth_pair.if_a, "PollingStats")
        sleeps_before = app.latest[veth_pair.if_a].sleeps
        await pilot.pause(0.5)
        # idle, an event wait sleeps until the producer signals, at most 100 ms at a time
        assert app.latest[veth_pair.if_a].sleeps - sleeps_before <= 10

    run_dashboard_on(monitor, {veth_pair.if_a: veth_pair.ns_a}, scenario)
