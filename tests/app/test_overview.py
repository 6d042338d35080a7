"""The overview of every interface: the first screen when several are plugged, `o` from anywhere, sorted by any
number with `s`, enter opening the interface's panel — and its numbers those of the panels, for the same snapshot
(the fake monitor's, and a real capture's of a veth pair)."""
from __future__ import annotations

import asyncio
import re
import subprocess
import time

from dashboard_fakes import fake_dashboard, refresh, warm_up
from fake_monitor import FakeMonitor
from screen_text import panel_shown, screen_lines, shown

import netns
from ringmon.dashboard import RingmonApp, dashboard_monitor
from ringmon.formatting import latency_bound
from ringmon.screens.overview import OverviewScreen
from ringmon.screens.packet_list_screen import PacketListScreen
from ringmon.stats_history import REFRESH_HZ
from ringmon.widgets.iface.panel import InterfacePanel
from ringmon.widgets.iface.rates import TrafficRates
from ringmon.widgets.overview.interface_table import COLUMNS, InterfaceTable
from ringcore.api import RingMode, interface_key

FRAME_COUNT = 500
DOWN_WAIT_S = 10
SEND_PACE_US = 4000  # 2 s of frames: the rates of the last second are never zero while refreshed


def run(scenario, fake: FakeMonitor | None = None, *, overview_at_start: bool | None = None) -> None:
    async def main():
        app = fake_dashboard(fake or FakeMonitor(), overview_at_start=overview_at_start)
        async with app.run_test(size=(120, 40)) as pilot:
            await refresh(pilot, 20)
            await scenario(app, pilot)

    asyncio.run(main())


def overview_cells(app: RingmonApp, key: str) -> dict[str, str]:
    """The overview's row of `key`, as the screen shows each cell."""
    table = app.overview.query_one(InterfaceTable)
    return {column.key: cell.plain.strip() for column, cell in zip(COLUMNS, table.get_row(key))}


def panel_numbers(app: RingmonApp, key: str) -> dict[str, str]:
    """The same numbers as the interface's panel shows them, read from its text."""
    wire = re.search(r"rx\s+(\S+) pps\s+tx\s+(\S+) pps", panel_shown(app, key, "#rate-wire"))
    drops = {line.split()[0]: line.split()[-1] for line in panel_shown(app, key, "DropsByStage").splitlines()[1:4]}
    occupancy = re.match(r"(\d+)/(\d+) slots\s+high (\d+)", panel_shown(app, key, "#occupancy-numbers"))
    panel = next(panel for panel in app.query(InterfacePanel) if panel.key == key)
    taken = re.search(r"taken (\S+) pps", str(panel.query_one(TrafficRates).border_title))
    return {
        "wire_in": wire[1], "wire_out": wire[2], "taken": taken[1],
        "kernel_drops": drops["kernel"], "ring_drops": drops["ring"], "truncated": drops["truncated"],
        "occupancy": f"{occupancy[1]}/{occupancy[2]} ↑{occupancy[3]}",
        "p99": re.search(r"p99 (\S+)", panel_shown(app, key, "PollingStats"))[1],
    }


async def open_panel_from_overview(pilot, key: str) -> None:
    """Enter on `key`'s row: the panel drawn from the snapshot the overview showed (no refresh between)."""
    table = pilot.app.overview.query_one(InterfaceTable)
    table.move_cursor(row=table.get_row_index(key))
    await pilot.press("enter")
    await pilot.pause()


async def assert_overview_equals_panels(app: RingmonApp, pilot, keys: list[str]) -> None:
    """For each interface: the overview's numbers, then its panel's, of one snapshot, are the same strings."""
    for key in keys:
        if app.screen is not app.overview:
            await pilot.press("o")
        overview = overview_cells(app, key)
        await open_panel_from_overview(pilot, key)
        assert app.screen is not app.overview
        panel = panel_numbers(app, key)
        assert {name: overview[name] for name in panel} == panel, key
        assert overview["state"] == "up"


def test_several_interfaces_open_on_the_overview_one_on_its_panel():
    async def several(app, pilot):
        assert isinstance(app.screen, OverviewScreen)
        assert [row.value for row in app.overview.query_one(InterfaceTable).rows] == ["eth0", "eth1"]
        assert "2 interfaces" in shown(app, "#overview-title")

    async def one(app, pilot):
        assert not isinstance(app.screen, OverviewScreen)
        assert "eth0" in panel_shown(app, "eth0", "#panel-status")

    run(several)
    run(one, FakeMonitor(("eth0",)))


def test_overview_numbers_equal_the_panels_for_the_same_snapshot():
    async def scenario(app, pilot):
        await warm_up(pilot)  # in the flood: drops, a full ring and latency in every column
        await assert_overview_equals_panels(app, pilot, ["eth0", "eth1"])
        assert overview_cells(app, "eth0")["kernel_drops"] != "0"

    run(scenario)


def test_a_zero_copy_interface_has_no_ring_drop_stage_in_the_overview_nor_its_panel():
    fake = FakeMonitor()
    fake.set_mode("eth1", RingMode.ZERO_COPY)

    async def scenario(app, pilot):
        await warm_up(pilot)
        await assert_overview_equals_panels(app, pilot, ["eth0", "eth1"])
        assert overview_cells(app, "eth1")["ring_drops"] == "—"  # no slot ring: not a 0 that could grow
        assert overview_cells(app, "eth0")["ring_drops"] != "—"

    run(scenario, fake)


def test_a_refresh_rewrites_only_the_cells_whose_text_changed():
    async def scenario(app, pilot):
        table = app.overview.query_one(InterfaceTable)
        written: list[tuple[str, str]] = []
        update_cell = table.update_cell

        def recording_update_cell(row_key, column_key, value, **kwargs):
            assert table.get_cell(row_key, column_key) != value, "a cell written with the text it had"
            written.append((row_key, column_key))
            update_cell(row_key, column_key, value, **kwargs)

        table.update_cell = recording_update_cell
        columns_written: set[str] = set()
        for _ in range(REFRESH_HZ):  # a second: its rates are written once, occupancy and latency as they move
            written.clear()
            await refresh(pilot)
            # the fake's names, states and ring sizes never change
            assert not {column for _, column in written} & {"interface", "state"}
            assert len(written) < len(COLUMNS) * table.row_count
            columns_written |= {column for _, column in written}
        assert "history" in columns_written and columns_written & {"wire_in", "wire_out", "taken"}

    run(scenario)


def test_enter_opens_the_panel_of_the_row_under_the_cursor():
    async def scenario(app, pilot):
        await open_panel_from_overview(pilot, "eth1")
        assert app.active_panel().key == "eth1"
        assert not isinstance(app.screen, OverviewScreen)

    run(scenario)


def test_s_cycles_the_sort_column_shown_in_the_header_and_title():
    async def scenario(app, pilot):
        table = app.overview.query_one(InterfaceTable)

        def order() -> list[str]:
            return [row.value for row in table.rows]

        assert order() == ["eth0", "eth1"]
        await pilot.press("s")  # wire in: eth0 receives more (the fake's eth1 sends half of its traffic)
        await pilot.pause()
        assert "sorted by wire in" in shown(app, "#overview-title")
        assert order() == ["eth0", "eth1"]
        header = next(column.label for column in table.columns.values() if column.key.value == "wire_in")
        assert [str(span.style) for span in header.spans] == ["reverse"]
        await pilot.press("s")  # wire out: eth1 sends more
        await pilot.pause()
        assert "sorted by out" in shown(app, "#overview-title")
        assert order() == ["eth1", "eth0"]
        assert table.cursor_key() == "eth0", "the cursor stays on its interface"
        for _ in range(len([column for column in COLUMNS if column.value]) - 1):
            await pilot.press("s")
        await pilot.pause()
        assert "sorted by interface" in shown(app, "#overview-title") and order() == ["eth0", "eth1"]

    run(scenario)


def test_o_opens_the_overview_from_a_panel_and_from_the_packet_list():
    async def scenario(app, pilot):
        assert not isinstance(app.screen, OverviewScreen)
        await pilot.press("o")
        assert isinstance(app.screen, OverviewScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, OverviewScreen)
        await pilot.press("l")
        assert isinstance(app.screen, PacketListScreen)
        await pilot.press("o")
        assert isinstance(app.screen, OverviewScreen)

    run(scenario, overview_at_start=False)


def overview_lines(size: tuple[int, int], keys: tuple[str, ...] = ()) -> list[str]:
    """The overview's screen at `size`, warmed up, after pressing `keys`."""
    async def main():
        app = fake_dashboard(overview_at_start=None)
        async with app.run_test(size=size) as pilot:
            await warm_up(pilot)
            await pilot.press(*keys)
            await pilot.pause()
            return screen_lines(app)

    return asyncio.run(main())


def test_every_column_and_the_title_fit_at_80_and_the_sparkline_shows_where_there_is_room():
    lines = overview_lines((80, 24))
    assert lines[0].strip().endswith("· per second (? says what)")  # whole, on one line
    header = lines[1]
    labels = [column.label for column in COLUMNS if column.key != "history"]
    assert header.split() == " ".join(labels).split() and "last minute" not in header  # every number's label whole
    assert lines[2].split()[-1].startswith("≤") and "…" not in "".join(lines[:4])  # p99, the last column, whole
    wide = overview_lines((120, 40))
    assert "per second: wire (NIC) in/out, taken, drops by stage" in wide[0] and "taken, last minute" in wide[1]


def test_at_60_columns_the_title_says_the_table_scrolls_sideways_and_arrows_bring_the_rest_the_name_staying():
    lines = overview_lines((60, 18))
    title = " ".join(lines[0:2])
    assert "← → more columns" in title and "(? says what)" in title  # wrapped, not cut
    assert "p99" not in lines[2] and lines[2].startswith("interface")
    lines = overview_lines((60, 18), ("right", "right"))
    assert lines[2].startswith("interface") and lines[2].rstrip().endswith("p99")
    assert [line.split()[0] for line in lines[3:5]] == ["eth0", "eth1"] and lines[3].split()[-1].startswith("≤")


def test_overview_at_60x18(snap_compare):
    assert snap_compare(fake_dashboard(overview_at_start=None), terminal_size=(60, 18), run_before=warm_up)


def test_overview_at_80x24(snap_compare):
    assert snap_compare(fake_dashboard(overview_at_start=None), terminal_size=(80, 24), run_before=warm_up)


def test_overview_at_120x40(snap_compare):
    assert snap_compare(fake_dashboard(overview_at_start=None), terminal_size=(120, 40), run_before=warm_up)


def test_overview_numbers_equal_the_panels_on_a_real_capture_of_both_ends_of_a_veth_pair(veth_pair):
    monitor = dashboard_monitor()
    keys = [monitor.plug(veth_pair.if_a, netns=veth_pair.ns_a), monitor.plug(veth_pair.if_b, netns=veth_pair.ns_b)]
    assert keys == [interface_key(veth_pair.if_a, veth_pair.ns_a), interface_key(veth_pair.if_b, veth_pair.ns_b)]

    async def main():
        app = RingmonApp(monitor, refresh_interval_s=None)  # refreshed here: one snapshot for both views
        async with app.run_test(size=(120, 40)) as pilot:
            assert isinstance(app.screen, OverviewScreen)
            frames = veth_pair.frames_to_a(range(FRAME_COUNT))
            sending = asyncio.create_task(asyncio.to_thread(netns.send_frames, veth_pair.ns_b, veth_pair.if_b, frames,
                                                            pace_us=SEND_PACE_US))
            for _ in range(15):  # one and a half seconds of refreshes while frames go, two readings of the NICs
                app.refresh_from_capture()
                await pilot.pause(0.1)
            cells = overview_cells(app, keys[0])
            assert cells["taken"] != "0" and cells["wire_in"] not in ("0", "—"), cells
            await assert_overview_equals_panels(app, pilot, keys)
            await sending

    try:
        asyncio.run(main())
    finally:
        monitor.close()


def test_an_interface_that_goes_down_is_down_in_the_overview_with_no_rates_while_the_other_is_up(veth_pair):
    monitor = dashboard_monitor()
    keys = [monitor.plug(veth_pair.if_a, netns=veth_pair.ns_a), monitor.plug(veth_pair.if_b, netns=veth_pair.ns_b)]

    async def main():
        app = RingmonApp(monitor, refresh_interval_s=None)
        async with app.run_test(size=(120, 40)) as pilot:
            subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", veth_pair.if_a, "down"], check=True,
                           timeout=30)
            deadline = time.monotonic() + DOWN_WAIT_S
            while overview_cells(app, keys[0])["state"] != "down":
                assert time.monotonic() < deadline, "the interface never showed down"
                app.refresh_from_capture()
                await pilot.pause(0.1)
            down = overview_cells(app, keys[0])
            assert {name: down[name] for name in ("taken", "kernel_drops", "p99")} == dict.fromkeys(
                ("taken", "kernel_drops", "p99"), "—")
            assert overview_cells(app, keys[1])["state"] == "up"

    try:
        asyncio.run(main())
    finally:
        monitor.close()


def test_the_overviews_keys_are_commands_in_the_palette():
    async def scenario(app, pilot):
        await pilot.press("ctrl+p")
        await pilot.press(*"sort")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, OverviewScreen)
        assert "sorted by wire in" in shown(app, "#overview-title")

    run(scenario)


def test_an_interface_name_with_control_bytes_is_shown_escaped_in_the_overview():
    hostile = "v\x1b[2Jil"

    async def scenario(app, pilot):
        assert overview_cells(app, hostile)["interface"] == "v\\x1b[2Jil"

    run(scenario, FakeMonitor(("eth0", hostile)))


def test_interfaces_whose_keys_outgrow_the_column_are_told_apart_by_their_names():
    # As the demo's netns/name keys: longer than the column, alike but for their ends.
    keys = ("capture-host-one-eth0", "capture-host-one-eth1")

    async def scenario(app, pilot):
        assert [overview_cells(app, key)["interface"] for key in keys] == ["…-one-eth0", "…-one-eth1"]

    run(scenario, FakeMonitor(keys))


def test_every_p99_the_histogram_can_give_fits_its_column_whole():
    """The overview showed '≤131.1m' for a p99 of 131 ms: a bucket's edge from 100 ms was one character too wide."""
    room = next(column.width for column in COLUMNS if column.key == "p99") - 1  # the width holds the space before it
    for bucket in range(32):
        shown = latency_bound(2 ** (bucket + 1))
        assert len(shown) <= room, shown
