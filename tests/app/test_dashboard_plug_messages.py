"""What the dashboard says when plugging goes wrong, on real interfaces: a down interface is named as down and,
picked again, waited for; one up without a carrier is plugged at once and said to have none; a filter one interface
cannot compile names that interface and libpcap's words."""
from __future__ import annotations

import asyncio
import time

from screen_text import panel_shown
from test_dashboard_capture import FRAME_COUNT, FRAME_SIZE, WAIT_S, open_screen, run_dashboard_on, wait_for, watching_a
from test_dashboard_faults import ip, notifications
from textual.widgets import DataTable

import netns
from ringcore import interface_key
from ringcore.api import CaptureOptions
from ringmon.dashboard import PlugRequest, RingmonApp, dashboard_monitor, run_plugged
from ringmon.iface_facts import gather_facts
from ringmon.screens.interface_picker import InterfacePicker


async def pick(pilot, ns: str, ifname: str, picker: InterfacePicker | None = None) -> None:
    """Open the picker (or use the one open) and plug `ifname` of `ns` with it."""
    picker = picker or await open_screen(pilot, "a", InterfacePicker)
    table = picker.query_one(DataTable)
    keys = [row_key.value for row_key in table.rows]
    table.move_cursor(row=keys.index(f"{ns}\0{ifname}"))
    await pilot.press("enter")


def test_a_down_interface_picked_is_said_down_and_picked_again_is_waited_for_until_it_comes_up(veth_pair):
    monitor = watching_a(veth_pair)
    key = interface_key("lo", veth_pair.ns_b)  # a new namespace's loopback is down

    async def scenario(app, pilot):
        await pick(pilot, veth_pair.ns_b, "lo")
        await wait_for(pilot, lambda: notifications(app, "is down"), "the notification")
        assert notifications(app, "is down") == [f"{key} is down: pick it again (a) to wait for it, captured as soon "
                                                  "as it comes up"]
        assert key not in monitor.interfaces
        await pick(pilot, veth_pair.ns_b, "lo")
        await wait_for(pilot, lambda: key in monitor.interfaces, "plugged, waiting")
        ip(veth_pair.ns_b, "link", "set", "lo", "up")
        await wait_for(pilot, lambda: notifications(app, f"{key} is back: capturing again"), "captured once up")

    run_dashboard_on(monitor, scenario, namespaces=(veth_pair.ns_b,))


def test_an_interface_up_without_a_carrier_is_plugged_at_once_and_captures_once_its_link_comes(veth_pair):
    # a is set up but its peer is not: a has no carrier (IFF_RUNNING clear), as a NIC without its cable, or
    # every new veth end for its first second, when picking it once said "is down" (a CI failure)
    ip(veth_pair.ns_b, "link", "set", veth_pair.if_b, "down")
    deadline = time.monotonic() + WAIT_S  # the kernel says so within a second (its link watch)
    while gather_facts(veth_pair.if_a, veth_pair.ns_a).has_carrier:
        assert time.monotonic() < deadline, "a kept its carrier"
        time.sleep(0.05)
    monitor = dashboard_monitor()

    async def scenario(app, pilot):
        picker = await open_screen(pilot, "a", InterfacePicker)
        table = picker.query_one(DataTable)
        state = table.get_cell(f"{veth_pair.ns_a}\0{veth_pair.if_a}", table.ordered_columns[2].key)
        assert str(state) == "no carrier"
        await pick(pilot, veth_pair.ns_a, veth_pair.if_a, picker)
        await wait_for(pilot, lambda: veth_pair.key_a in monitor.interfaces, "plugged at once")
        assert not notifications(app, "is down")
        await wait_for(pilot, lambda: panel_shown(app, veth_pair.if_a, "InterfaceFactsView").startswith(
            "up, no carrier"), "no carrier on the panel")
        ip(veth_pair.ns_b, "link", "set", veth_pair.if_b, "up")
        await wait_for(pilot, lambda: panel_shown(app, veth_pair.if_a, "InterfaceFactsView").startswith("up  MTU"),
                       "the carrier on the panel")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(FRAME_COUNT), FRAME_SIZE),
                          pace_us=50)
        await wait_for(pilot, lambda: f"taken {FRAME_COUNT:,} = delivered {FRAME_COUNT:,}"
                       in panel_shown(app, veth_pair.if_a, "DropsByStage"), "every frame captured")

    run_dashboard_on(monitor, scenario, namespaces=(veth_pair.ns_a,))


def test_a_filter_an_interface_cannot_compile_names_it_and_never_says_none_is_up(veth_pair, capfd):
    ip(veth_pair.ns_a, "tuntap", "add", "dev", "rmttun1", "mode", "tun")
    ip(veth_pair.ns_a, "link", "set", "rmttun1", "up")
    options = CaptureOptions(filter=f"ether host {veth_pair.mac_b}")  # nothing on raw IP has a MAC address
    status = run_plugged([PlugRequest("rmttun1", options, veth_pair.ns_a)], skip_unpluggable=True, store=None)
    lines = capfd.readouterr().err.splitlines()
    assert status == 1
    assert lines[0].startswith(f"ringmon: skipping {veth_pair.ns_a}/rmttun1: rmttun1: filter 'ether host "), lines
    assert "does not compile: ethernet addresses supported only on" in lines[0]
    assert lines[1:] == ["ringmon: no interface to watch (none could be plugged, see above)"]


class PilotedDashboard(RingmonApp):
    """The app run_plugged starts, driven by Pilot instead of a terminal (`scenario` set by the test)."""

    scenario = None

    def run(self, *args, **kwargs) -> None:
        async def main():
            async with self.run_test(size=(120, 40)) as pilot:
                await pilot.pause(0.2)
                await self.scenario(pilot)

        asyncio.run(main())


def test_a_down_interface_named_with_i_is_said_down_and_waited_for_until_it_comes_up(veth_pair):
    ip(veth_pair.ns_a, "link", "set", veth_pair.if_a, "down")
    key = interface_key(veth_pair.if_a, veth_pair.ns_a)
    said: list[str] = []

    async def scenario(pilot):
        app = pilot.app
        await wait_for(pilot, lambda: notifications(app, "is down"), "the notification")
        said.extend(notifications(app, "is down"))
        ip(veth_pair.ns_a, "link", "set", veth_pair.if_a, "up")
        await wait_for(pilot, lambda: notifications(app, f"{key} is back: capturing again"), "captured once up")

    PilotedDashboard.scenario = staticmethod(scenario)
    status = run_plugged([PlugRequest(veth_pair.if_a, netns=veth_pair.ns_a)], app_class=PilotedDashboard, store=None)
    assert status == 0
    assert said == [f"{key} is down: waiting for it, captured as soon as it comes up"]
