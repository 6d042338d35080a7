"""The dashboard under faults, on real captures: an interface that goes down and comes back, two interfaces of
one name in two namespaces, a file that cannot be opened at once (a FIFO without a reader), and an interface
whose name holds an escape character."""
from __future__ import annotations

import os
import re
import subprocess
import time

from screen_text import panel_shown, shown
from test_dashboard_capture import open_screen, run_dashboard_on, wait_for, watching_a
from textual.widgets import Input

import netns
from ringcore.api import CaptureOptions
from ringmon.dashboard import dashboard_monitor
from ringmon.screens.write_file_dialog import WriteFileDialog

FIFO_OPEN_WAIT_S = 10  # the C writer waits this long for a FIFO's reader
IP_TIMEOUT_S = 30


def ip(ns: str, *args: str) -> None:
    subprocess.run(["ip", "-n", ns, *args], check=True, timeout=IP_TIMEOUT_S, capture_output=True)


def notifications(app, fragment: str) -> list[str]:
    return [str(note.message) for note in app._notifications if fragment in str(note.message)]


def test_an_interface_set_down_then_up_is_captured_again_with_a_visible_gap_and_its_counters_summed(veth_pair):
    monitor = watching_a(veth_pair, CaptureOptions(filter="udp"))  # a filter: it needs the interface up again
    key = veth_pair.key_a

    async def scenario(app, pilot):
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(40)))
        await wait_for(pilot, lambda: app.latest[key].delivered == 40, "the first frames")
        ip(veth_pair.ns_a, "link", "set", veth_pair.if_a, "down")
        await wait_for(pilot, lambda: "down since" in panel_shown(app, key, "#panel-status"), "down on the panel")
        await pilot.pause(2.2)  # two points of the per-second history while down
        ip(veth_pair.ns_a, "link", "set", veth_pair.if_a, "up")
        await wait_for(pilot, lambda: ", recaptured" in panel_shown(app, key, "#panel-status"), "captured again")
        status = panel_shown(app, key, "#panel-status")
        assert re.search(r"down \d\d:\d\d:\d\d–\d\d:\d\d:\d\d, recaptured", status), status
        assert notifications(app, "is back: capturing again") == [f"{key} is back: capturing again"]
        assert "·" in app.panels[key].rates.rate_in_history.render().plain  # the gap in the rate history
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(100, 125)))
        await wait_for(pilot, lambda: app.latest[key].delivered == 65, "the frames after the flap, summed")
        stats = app.latest[key]
        assert (stats.kernel_packets, stats.recaptures, stats.error, stats.filter) == (65, 1, None, "udp")

    run_dashboard_on(monitor, scenario)


def test_an_interface_deleted_and_created_again_with_its_name_is_captured_again(veth_pair):
    monitor = watching_a(veth_pair)
    key = veth_pair.key_a

    async def scenario(app, pilot):
        ip(veth_pair.ns_a, "link", "del", veth_pair.if_a)  # its peer, end b, goes with it
        await wait_for(pilot, lambda: "down since" in panel_shown(app, key, "#panel-status"), "gone on the panel")
        ip(veth_pair.ns_a, "link", "add", veth_pair.if_a, "type", "veth", "peer", "name", veth_pair.if_b,
           "netns", veth_pair.ns_b)
        ip(veth_pair.ns_a, "link", "set", veth_pair.if_a, "address", veth_pair.mac_a, "up")
        ip(veth_pair.ns_b, "link", "set", veth_pair.if_b, "address", veth_pair.mac_b, "up")
        await wait_for(pilot, lambda: ", recaptured" in panel_shown(app, key, "#panel-status"), "captured again")
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(10)))
        await wait_for(pilot, lambda: app.latest[key].delivered == 10, "the new interface's frames")

    run_dashboard_on(monitor, scenario)


def test_two_interfaces_of_one_name_in_two_namespaces_each_have_their_panel_and_their_own_traffic(make_veth_pair):
    first, second = make_veth_pair(), make_veth_pair()
    ip(second.ns_a, "link", "set", second.if_a, "down")
    ip(second.ns_a, "link", "set", second.if_a, "name", first.if_a, "up")
    monitor = dashboard_monitor()
    keys = [monitor.plug(first.if_a, netns=first.ns_a), monitor.plug(first.if_a, netns=second.ns_a)]

    async def scenario(app, pilot):
        assert [str(tab.label) for tab in app.tabs.query("ContentTab")] == keys
        netns.send_frames(first.ns_b, first.if_b, first.frames_to_a(range(12)))
        netns.send_frames(second.ns_b, second.if_b, second.frames_to_a(range(500, 505)))
        await wait_for(pilot, lambda: [app.latest[key].delivered for key in keys] == [12, 5], "each its own frames")
        await pilot.press("escape")  # from the overview (two interfaces) to the panels
        await pilot.press("n")
        await wait_for(pilot, lambda: "taken 5 = delivered 5" in panel_shown(app, keys[1], "DropsByStage"),
                       "the second panel's own count")
        assert keys[1] in panel_shown(app, keys[1], "#panel-status")

    run_dashboard_on(monitor, scenario)


def test_writing_to_a_fifo_without_a_reader_never_blocks_the_ui_and_fails_in_one_notification(veth_pair, tmp_path):
    fifo = tmp_path / "no-reader.fifo"
    os.mkfifo(fifo)
    monitor = watching_a(veth_pair)

    async def scenario(app, pilot):
        dialog = await open_screen(pilot, "w", WriteFileDialog)
        dialog.query_one("#file-path", Input).value = str(fifo)
        started = time.monotonic()
        await pilot.press("enter")
        refreshes = app._refreshes
        await pilot.pause(2.0)  # the open waits for a reader meanwhile
        assert app._refreshes - refreshes >= 10, "the dashboard stopped refreshing while the file opened"
        assert monitor.stats()[veth_pair.key_a].error is None  # the session's lock is free too
        await wait_for_long(pilot, lambda: notifications(app, "not writing"), FIFO_OPEN_WAIT_S + 5)
        assert time.monotonic() - started >= FIFO_OPEN_WAIT_S - 1
        failed = notifications(app, "not writing")
        assert len(failed) == 1 and failed[0].startswith(f"{fifo}: not writing: ") and "\n" not in failed[0]
        assert monitor.writing is None and "not writing" in shown(app, "#session-bar")

    run_dashboard_on(monitor, scenario)


async def wait_for_long(pilot, condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout_s} s"
        await pilot.pause(0.2)


def test_an_interface_name_with_an_escape_character_is_shown_escaped(namespace):
    hostile = "r\x1bx"  # the kernel takes any byte but '/', ':' and white space in a name
    ip(namespace, "link", "add", "name", hostile, "type", "veth", "peer", "name", "rmtpeer")
    for ifname in (hostile, "rmtpeer"):
        ip(namespace, "link", "set", ifname, "up")
    monitor = dashboard_monitor()
    key = monitor.plug(hostile, netns=namespace)

    async def scenario(app, pilot):
        await pilot.pause(0.3)
        escaped = f"{namespace}/r\\x1bx"
        assert [str(tab.label) for tab in app.tabs.query("ContentTab")] == [escaped]
        assert escaped in panel_shown(app, key, "#panel-status")
        ip(namespace, "link", "del", hostile)
        await wait_for(pilot, lambda: "down since" in panel_shown(app, key, "#panel-status"), "gone on the panel")
        status = panel_shown(app, key, "#panel-status")
        assert "r\\x1bx: the interface went down or away" in status and "\x1b" not in status
        await pilot.press("x", "enter")
        await wait_for(pilot, lambda: notifications(app, "unplugged"), "the unplug notification")
        assert notifications(app, "unplugged") == [f"{escaped} unplugged"]

    run_dashboard_on(monitor, scenario)
