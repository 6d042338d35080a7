"""At 80x24 (and down to 60x18), what a line cannot hold whole is cut visibly, with an ellipsis, never silently:
the `ringmon demo`'s two interfaces, each in a namespace, drawn from the FakeMonitor."""
from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest
from dashboard_fakes import fake_dashboard, refresh
from fake_monitor import FakeMonitor
from screen_text import screen_lines
from textual.widgets import RadioButton

from ringcore.api import RingMode, WaitStrategy
from ringmon.screens.interface_picker import InterfacePicker
from ringmon.screens.poll_settings_dialog import PollSettingsDialog
from ringmon.stats_history import REFRESH_HZ
from ringmon.widgets.packets.packet_list import layout_columns, shows_time

# The demo's keys: namespace/interface, the namespace named after the demo's pid.
DEMO_KEYS = ("ringmon-demo-1234567-a/demo-a", "ringmon-demo-1234567-b/demo-b")
LONG_FILTER = "udp and port 5000 and not host 198.18.0.1"


def run(scenario, size=(80, 24), filter_expression="udp", mode=RingMode.ZERO_COPY) -> None:
    async def main():
        fake = FakeMonitor(DEMO_KEYS)
        for key in DEMO_KEYS:
            fake.set_filter(key, filter_expression)
            fake.set_mode(key, mode)
        app = fake_dashboard(fake)
        async with app.run_test(size=size) as pilot:
            await refresh(pilot, 3)
            await scenario(app, pilot, fake)

    asyncio.run(main())


def status_line(app) -> str:
    """The first panel's status line as the screen shows it (the line under the tabs)."""
    return next(line for line in screen_lines(app) if "capturing" in line).rstrip()


def test_the_status_line_at_80_columns_shows_the_filter_and_says_the_policy_in_one_word():
    async def scenario(app, pilot, fake):
        line = status_line(app)
        assert line.endswith("filter udp"), line
        assert "policy early " in line and "drop-early" not in line
        assert DEMO_KEYS[0] in line or "…/demo-a" in line

    run(scenario)


def test_a_filter_too_long_for_the_status_line_is_cut_at_its_end_after_the_key_is_cut_to_its_name():
    async def scenario(app, pilot, fake):
        line = status_line(app)
        assert line.startswith(" …/demo-a "), line
        assert "filter udp and port" in line and line.endswith("…"), line

    run(scenario, filter_expression=LONG_FILTER)


def test_at_60_columns_the_status_line_still_shows_the_filter_start_and_the_key_end():
    async def scenario(app, pilot, fake):
        line = status_line(app)
        assert "…" in line.split()[0] and line.split()[0].endswith("-a"), line
        assert "filter udp and…" in line, line
        assert len(line) <= 60

    run(scenario, size=(60, 18), filter_expression=LONG_FILTER)


def demo_interfaces(fake: FakeMonitor) -> list:
    """The plug dialog's rows in the demo: its two veths, plugged, one with more addresses than fit."""
    demo_a = replace(fake.facts("demo-a", "ringmon-demo-1234567-a"),
                     addresses=("inet 198.18.250.1/24", "link 02:00:c6:12:fa:01"))
    demo_b = replace(fake.facts("demo-b", "ringmon-demo-1234567-b"),
                     addresses=("inet 198.18.250.2/24", "inet6 fe80::c6ff:fe12:fa02/64", "inet6 2001:db8::2/64"))
    return [demo_a, demo_b]


def test_the_plug_dialog_shows_an_address_whole_and_cuts_what_does_not_fit_with_an_ellipsis():
    async def scenario(app, pilot, fake):
        app.push_screen(InterfacePicker(demo_interfaces(fake), set(DEMO_KEYS)))
        await pilot.pause()
        await pilot.pause()
        rows = {line.split("│")[1].split()[0]: line for line in screen_lines(app) if "plugged" in line}
        assert "inet 198.18.250.1/24 " in rows["demo-a"], rows
        assert "inet 198.18.250.2/24, …" in rows["demo-b"], rows  # whole addresses, then `…` for the others
        netns = {name: line.split("│")[1].split()[1] for name, line in rows.items()}
        assert netns["demo-a"].startswith("…") and netns["demo-a"].endswith("567-a"), netns  # the netns's end

    run(scenario)


def test_the_packet_list_status_says_live_once_and_fits_80_columns():
    async def scenario(app, pilot, fake):
        await pilot.press("l")
        await pilot.pause()
        status = screen_lines(app)[0].rstrip()
        assert status.split().count("live") == 1, status
        assert "live capture  2 interfaces  " in status and status.endswith(" s") and "…" not in status, status

    run(scenario)


def test_the_info_header_says_the_time_column_is_left_out_in_a_title_its_width_holds():
    # the demo's addresses (198.18.250.x and a port) at 80 columns leave the time column out
    needs = (5, 8, 6, 18, 18, 3, 3, 30)  # No., time, Iface, Source, Destination, Proto, Len, Info
    for width in (80, 70, 60):
        columns = layout_columns(width, needs, "relative", with_interface=True)
        info = columns[-1]
        assert not shows_time(columns) and "no time" in info.title and len(info.title) <= info.width, (width, info)


def test_the_polling_dialog_title_and_keys_stay_whole_and_in_sight_while_its_choices_scroll():
    for size in ((80, 24), (60, 18)):
        async def scenario(app, pilot, fake):
            await pilot.press("i")
            await pilot.pause()
            await pilot.press("tab", "tab", "down")  # to the ring's choices, the last ones: the choices scroll
            await pilot.pause()
            title = next((line for line in screen_lines(app) if "Polling of" in line), "no title in sight")
            assert f"Polling of {DEMO_KEYS[0]} " in title, (size, title)
            assert app.screen.query_one("#poll-choices").scroll_y > 0, size  # what scrolled is below the title
            lines = screen_lines(app)
            assert any("direct: the capture thread" in line for line in lines), size  # the highlighted, last choice
            assert any("escape cancel" in line for line in lines), size  # the keys below the choices

        run(scenario, size=size)


def test_the_polling_dialog_says_frames_for_a_ring_in_immediate_mode_and_blocks_otherwise():
    async def scenario(app, pilot, fake):
        for immediate, unit in ((True, "frame"), (False, "block")):
            app.push_screen(PollSettingsDialog("demo-a", WaitStrategy.SLEEP, 1000, RingMode.COPY, immediate))
            await pilot.pause()
            choices = [str(button.label) for button in app.screen.query(RadioButton)]
            assert "copy: packets copied from the kernel's {unit}s into the ring".format(unit=unit) in choices
            assert any(f"kernel's {unit}s (drops: kernel)" in choice for choice in choices)
            assert any(f"hands each {unit} to the sinks" in choice for choice in choices)
            assert not any(("block" if immediate else "frame") in choice for choice in choices), choices
            await pilot.press("escape")
            await pilot.pause()

    run(scenario)


@pytest.mark.parametrize("view", ["panel", "plug", "polling", "packets"])
def test_the_demo_at_80x24(snap_compare, view):
    """What the review at 80x24 found cut, as the demo shows it: the panel's status line, the plug, polling and
    packet list screens."""
    fake = FakeMonitor(DEMO_KEYS)
    for key in DEMO_KEYS:
        fake.set_filter(key, "udp")
        fake.set_mode(key, RingMode.ZERO_COPY)

    async def open_view(pilot):
        await refresh(pilot, REFRESH_HZ + 3)  # a second's rates are known
        if view == "plug":
            pilot.app.push_screen(InterfacePicker(demo_interfaces(fake), set(DEMO_KEYS)))
        elif view != "panel":
            await pilot.press({"polling": "i", "packets": "l"}[view])
        await pilot.pause()
        await pilot.pause()

    assert snap_compare(fake_dashboard(fake), terminal_size=(80, 24), run_before=open_view)
