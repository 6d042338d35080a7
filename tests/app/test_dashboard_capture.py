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
from ringcore import Monitor, interface_key
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


async def choose_wait(pilot, strategy: WaitStrategy) -> None:
    """The polling dialog: a click on the strategy's option, then enter in the interval's field applies it."""
    dialog = await open_screen(pilot, "i", PollSettingsDialog)
    await pilot.click(next(button for button in dialog.query(RadioButton) if button.name == strategy.name))
    dialog.query_one(Input).focus()
    await pilot.press("enter")


async def wait_for(pilot, condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {WAIT_S} s for {what}")
        await pilot.pause(0.1)


def proc_net_dev(ns: str, ifname: str) -> tuple[int, int]:
    """(rx, tx) packets of `ifname` as /proc/net/dev counts them inside namespace `ns`."""
    lines = netns.run_in_netns(ns, ["cat", "/proc/net/dev"], capture_output=True, text=True, check=True).stdout
    for line in lines.splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == ifname:
            fields = counters.split()
            return int(fields[1]), int(fields[9])
    raise AssertionError(f"{ifname} not in /proc/net/dev of {ns}")


def run_dashboard_on(monitor: Monitor, scenario, namespaces: tuple[str, ...] = ()) -> None:
    async def main():
        app = RingmonApp(monitor, namespaces=namespaces)
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
        assert app.latest[veth_pair.key_a].kernel_packets == FRAME_COUNT
        # all of it from b to a: the lower address (a, .1) first, every byte on the line a ← b (beside the
        # addresses, or under the pair "a ⇄ b" when the panel is narrow)
        await wait_for(pilot, lambda: veth_pair.ip_b in panel_shown(app, veth_pair.if_a, "TopTalkersView"),
                       "the conversation in top talkers")
        lines = panel_shown(app, veth_pair.if_a, "TopTalkersView").splitlines()
        beside = [line for line in lines if f"{veth_pair.ip_a} ← {veth_pair.ip_b}" in line]
        heading = f"{veth_pair.ip_a} ⇄ {veth_pair.ip_b}"
        row = beside[0] if beside else lines[next(n for n, line in enumerate(lines) if heading in line) + 2]
        assert "←" in row, row
        # FRAME_COUNT frames of FRAME_SIZE bytes, in the last 40 s (and, as iftop, bits per second over 2/10/40 s)
        assert row.split()[-4] == "64.0kB", row
        assert "udp" in "".join(lines)

    run_dashboard_on(monitor, scenario)


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
            await wait_for(pilot, lambda: app.latest[veth_pair.key_a].kernel_drops > 0, "kernel drops")
            assert app.latest[veth_pair.key_a].ring_drops == 0
        else:
            await wait_for(pilot, lambda: app.latest[veth_pair.key_a].ring_drops > 0, "ring drops")
        stats = app.latest[veth_pair.key_a]
        assert stats.occupancy == stats.slot_count == 64
        assert stats.kernel_packets == stats.delivered + stats.ring_drops + stats.occupancy
        stage = "kernel" if policy == DropPolicy.EARLY else "ring full"

        def stage_total() -> str:
            return next(line for line in panel_shown(app, veth_pair.if_a, "DropsByStage").splitlines()
                        if line.startswith(stage)).split()[-2]

        # the numbers are drawn a few times a second, not with every snapshot
        await wait_for(pilot, lambda: stage_total() != "0", f"drops at the {stage} stage on the panel")
        await pilot.press("p")
        # The identity closes by construction; the totals prove it: every frame sent was taken or dropped
        # by the kernel, and every frame taken was delivered or dropped at the ring.
        await wait_for(pilot, lambda: app.latest[veth_pair.key_a].occupancy == 0
                       and app.latest[veth_pair.key_a].kernel_seen == FLOOD_FRAMES, "the ring drained after resume")
        stats = app.latest[veth_pair.key_a]
        assert stats.kernel_packets + stats.kernel_drops == FLOOD_FRAMES
        assert stats.delivered + stats.ring_drops == stats.kernel_packets
        assert "high 64" in panel_shown(app, veth_pair.if_a, "#occupancy-numbers")
        await pilot.press("r")  # the high-water mark starts again from the (empty) ring
        await wait_for(pilot, lambda: "high 0" in panel_shown(app, veth_pair.if_a, "#occupancy-numbers"),
                       "the high-water mark reset")

    run_dashboard_on(monitor, scenario)


def test_unplugging_removes_its_panel_while_the_other_keeps_counting(veth_pair):
    monitor = watching_a(veth_pair)
    monitor.plug(veth_pair.if_b, CaptureOptions(), netns=veth_pair.ns_b)

    async def scenario(app, pilot):
        await pilot.press("escape")  # two interfaces: the dashboard opened on the overview
        assert app.active_panel().ifname == veth_pair.if_a
        await pilot.press("x", "enter")
        await wait_for(pilot, lambda: [panel.ifname for panel in app.query(InterfacePanel)] == [veth_pair.if_b],
                       "one panel left")
        assert monitor.interfaces == [interface_key(veth_pair.if_b, veth_pair.ns_b)]
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE),
                          pace_us=50)
        await wait_for(pilot, lambda: f"taken {FRAME_COUNT:,}" in panel_shown(app, veth_pair.if_b, "DropsByStage"),
                       "the remaining interface counting the frames it sent")

    run_dashboard_on(monitor, scenario)


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

    run_dashboard_on(monitor, scenario)


def test_plug_key_lists_the_namespaces_interfaces_and_the_one_picked_starts_counting(veth_pair):
    monitor = watching_a(veth_pair)

    async def scenario(app, pilot):
        picker = await open_screen(pilot, "a", InterfacePicker)
        table = picker.query_one(DataTable)
        keys = [row_key.value for row_key in table.rows]
        assert f"{veth_pair.ns_a}\0{veth_pair.if_a}" in keys and f"{veth_pair.ns_b}\0lo" in keys
        table.move_cursor(row=keys.index(f"{veth_pair.ns_b}\0{veth_pair.if_b}"))
        await pilot.press("enter")
        await wait_for(pilot, lambda: interface_key(veth_pair.if_b, veth_pair.ns_b) in monitor.interfaces
                       and app.active_panel().ifname == veth_pair.if_b, "the picked interface plugged and shown")
        netns.send_frames(veth_pair.ns_a, veth_pair.if_a, veth_pair.frames_to_b(range(FRAME_COUNT), FRAME_SIZE),
                          pace_us=50)
        await wait_for(pilot, lambda: f"taken {FRAME_COUNT:,} = delivered {FRAME_COUNT:,}"
                       in panel_shown(app, veth_pair.if_b, "DropsByStage"), "the new panel counting")

    # both namespaces are the session's: the picker lists their interfaces
    run_dashboard_on(monitor, scenario, namespaces=(veth_pair.ns_b,))


def test_polling_settings_change_how_the_real_consumer_waits(veth_pair):
    monitor = watching_a(veth_pair)

    async def scenario(app, pilot):
        dialog = await open_screen(pilot, "i", PollSettingsDialog)
        dialog.query_one(Input).value = "250"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "sleep 250µs when empty" in panel_shown(app, veth_pair.if_a, "PollingStats"),
                       "the new interval on the panel")
        sleeps_before = app.latest[veth_pair.key_a].sleeps
        await pilot.pause(0.5)
        # an idle ring at 250 µs sleeps far more often than the 1 ms default would (at most 500 in 0.5 s)
        assert app.latest[veth_pair.key_a].sleeps - sleeps_before > 700

        await choose_wait(pilot, WaitStrategy.EVENT)
        await wait_for(pilot, lambda: app.latest[veth_pair.key_a].wait_strategy == WaitStrategy.EVENT, "event wait")
        await wait_for(pilot, lambda: "event when empty" in panel_shown(app, veth_pair.if_a, "PollingStats"),
                       "the event wait on the panel (its numbers are drawn a few times a second)")
        sleeps_before = app.latest[veth_pair.key_a].sleeps
        await pilot.pause(0.5)
        # idle, an event wait sleeps until the producer signals, at most 100 ms at a time
        assert app.latest[veth_pair.key_a].sleeps - sleeps_before <= 10

        await choose_wait(pilot, WaitStrategy.ADAPTIVE)
        await wait_for(pilot, lambda: "adaptive spin 50µs when empty" in panel_shown(app, veth_pair.if_a, "PollingStats"),
                       "adaptive wait and its spin on the panel")
        before = app.latest[veth_pair.key_a]
        await pilot.pause(0.5)
        after = app.latest[veth_pair.key_a]
        # idle, each spin runs out and sleeps as event does
        assert 0 < after.spin_slept - before.spin_slept <= 10

    run_dashboard_on(monitor, scenario)


def facts_line(app, ifname: str, label: str) -> str:
    """The line of `ifname`'s Interface section that starts with `label` ("NIC", "ringmon"), or ""."""
    return next((line for line in panel_shown(app, ifname, "InterfaceFactsView").splitlines()
                 if line.startswith(label)), "")


def test_nic_counters_of_lo_beside_another_namespace_are_its_own_proc_net_dev_growth(veth_pair):
    # `lo` is in every namespace: beside a ring of another namespace, two /proc/net/dev files name one
    # `lo`, and what is read of one must not leak into the other (it grew by its total every second).
    netns.run_in_netns(veth_pair.ns_b, ["ip", "link", "set", "lo", "up"], check=True)
    monitor = watching_a(veth_pair)
    monitor.plug("lo", CaptureOptions(), netns=veth_pair.ns_b)

    async def scenario(app, pilot):
        await pilot.press("escape", "n")  # from the overview (two interfaces) to the second panel
        await wait_for(pilot, lambda: facts_line(app, "lo", "NIC"), "lo's NIC counters")
        before = proc_net_dev(veth_pair.ns_b, "lo")
        netns.send_frames(veth_pair.ns_b, "lo", veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE))
        rx, tx = (now - then for now, then in zip(proc_net_dev(veth_pair.ns_b, "lo"), before))
        assert rx >= FRAME_COUNT and tx >= FRAME_COUNT
        await wait_for(pilot, lambda: f"rx +{rx}  tx +{tx} " in facts_line(app, "lo", "NIC"), f"NIC rx +{rx} tx +{tx}")
        for _ in range(3):  # three more readings of both namespaces: still the kernel's count
            await pilot.pause(1.0)
            assert f"rx +{rx}  tx +{tx} " in facts_line(app, "lo", "NIC")
        assert proc_net_dev(veth_pair.ns_b, "lo") == tuple(then + grown for then, grown in zip(before, (rx, tx)))

    run_dashboard_on(monitor, scenario)


def rate_pps(app, ifname: str, row: str) -> float:
    """The first packets-per-second figure of the Rates row `row` ("#rate-wire", "#rate-in"); 0 before one is known."""
    figure = panel_shown(app, ifname, row).split(" pps")[0].split()[-1]
    if figure == "—":
        return 0.0
    scale = {"k": 1e3, "M": 1e6, "G": 1e9}.get(figure[-1], 1)
    return float(figure.rstrip("kMG")) * scale


def test_rates_show_what_crossed_the_wire_beside_what_was_captured(veth_pair):
    # Paused, drop-early: the ring's 64 slots fill, then the kernel drops; the wire carried it all.
    monitor = watching_a(veth_pair, CaptureOptions(ring_pages=CLASSIC_RING_PAGES))

    async def scenario(app, pilot):
        await pilot.press("p")
        await wait_for(pilot, lambda: "PAUSED" in panel_shown(app, veth_pair.if_a, "#panel-status"), "paused")
        assert "wire (NIC) rx" in panel_shown(app, veth_pair.if_a, "#rate-wire")
        assert panel_shown(app, veth_pair.if_a, "#rate-in").startswith("captured rx")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FLOOD_FRAMES), 1514))
        await wait_for(pilot, lambda: rate_pps(app, veth_pair.if_a, "#rate-wire") >= 1000, "the flood's wire rate")
        assert rate_pps(app, veth_pair.if_a, "#rate-in") <= 64  # at most the ring's slots were taken
        stats = app.latest[veth_pair.key_a]
        assert stats.kernel_packets == 64 and stats.kernel_drops > 0

    run_dashboard_on(monitor, scenario)


def shown_latencies_s(app, ifname: str) -> dict[str, float | None]:
    """The Polling section's latency figures ("max", "p50", "p99") in seconds; None where it shows "—"."""
    polling = panel_shown(app, ifname, "PollingStats")
    latency = polling[polling.index("latency"):].replace("≤", "")
    units = {"µs": 1e-6, "ms": 1e-3, "s": 1.0}
    figures = {}
    for name in ("max", "p50", "p99"):
        figure = latency.split(name + " ", 1)[1].split()[0]
        unit = next((unit for unit in units if figure.endswith(unit)), None)
        figures[name] = None if unit is None else float(figure.removesuffix(unit)) * units[unit]
    return figures


def test_latency_max_of_a_pause_is_shown_then_a_new_wait_strategy_starts_a_new_window(veth_pair):
    monitor = watching_a(veth_pair, CaptureOptions(ring_pages=CLASSIC_RING_PAGES))

    async def scenario(app, pilot):
        def latencies():
            return shown_latencies_s(app, veth_pair.if_a)

        await pilot.press("p")
        await wait_for(pilot, lambda: "PAUSED" in panel_shown(app, veth_pair.if_a, "#panel-status"), "paused")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE))
        await pilot.pause(1.2)
        await pilot.press("p")
        # the backlog waited over a second, and no percentile is shown above the max
        await wait_for(pilot, lambda: (latencies()["max"] or 0) >= 1.0, "the pause's max")
        shown = latencies()
        assert shown["p50"] <= shown["p99"] <= shown["max"], shown

        await choose_wait(pilot, WaitStrategy.EVENT)
        await wait_for(pilot, lambda: "event when empty" in panel_shown(app, veth_pair.if_a, "PollingStats"),
                       "event wait")
        assert latencies() == {"max": None, "p50": None, "p99": None}  # a new window, empty so far
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE),
                          pace_us=50)
        await wait_for(pilot, lambda: latencies()["max"] is not None, "the new window's latency")
        shown = latencies()
        assert shown["p50"] <= shown["p99"] <= shown["max"] < 1.0, shown  # the pause is not in this window

    run_dashboard_on(monitor, scenario)
