"""Every key the dashboard's footer shows does what the footer says; dialogs' options are chosen with enter and shown
without colour; live widgets never draw over a screen or a dialog on top of the dashboard."""
from __future__ import annotations

import asyncio

import pytest
from dashboard_fakes import fake_dashboard, refresh
from fake_monitor import FakeMonitor
from screen_text import shown
from rich.cells import cell_len
from rich.segment import ControlType
from textual.command import CommandPalette
from textual.geometry import Region
from textual.widgets._footer import FooterKey

from ringcore.api import DropPolicy, RingMode, WaitStrategy
from ringmon.dashboard import RingmonApp
from ringmon.screens.confirm_dialog import ConfirmDialog
from ringmon.screens.filter_dialog import FilterDialog
from ringmon.screens.help import HelpScreen
from ringmon.screens.interface_picker import InterfacePicker
from ringmon.screens.packet_list_screen import PacketListScreen
from ringmon.screens.packet_screen import PacketScreen
from ringmon.screens.poll_settings_dialog import PollSettingsDialog
from ringmon.screens.overview import OverviewScreen
from ringmon.screens.slot_inspector import SlotInspector
from ringmon.screens.write_file_dialog import WriteFileDialog
from ringmon.widgets.iface.panel import ScrollColumn


def run(scenario, size=(80, 24)) -> None:
    async def main():
        fake = FakeMonitor()
        app = fake_dashboard(fake)
        async with app.run_test(size=size) as pilot:
            await refresh(pilot, 20)
            await pilot.pause()
            await scenario(app, pilot, fake)

    asyncio.run(main())


def footer_keys(app) -> dict[str, str]:
    """The keys the footer of the screen in view shows, with their (possibly shortened) descriptions."""
    return {key.key: key.description for key in app.screen.query(FooterKey)}


# What each footer key of the dashboard does, seen from the fake or the screen after pressing it.
EFFECTS = {
    "enter": lambda app, fake: isinstance(app.screen, SlotInspector),
    "p": lambda app, fake: fake.stats()["eth0"].paused,
    "d": lambda app, fake: fake.stats()["eth0"].drop_policy == DropPolicy.LATE,
    "f": lambda app, fake: isinstance(app.screen, FilterDialog),
    "x": lambda app, fake: isinstance(app.screen, ConfirmDialog) and "eth0" in app.screen.title_text,
    "i": lambda app, fake: isinstance(app.screen, PollSettingsDialog),
    "r": lambda app, fake: fake._ring("eth0").slots_used_high == fake._ring("eth0").occupancy,
    "s": lambda app, fake: isinstance(app.focused, ScrollColumn),
    "q": lambda app, fake: app._exit,
    "question_mark": lambda app, fake: isinstance(app.screen, HelpScreen),
    "a": lambda app, fake: isinstance(app.screen, InterfacePicker),
    "w": lambda app, fake: isinstance(app.screen, WriteFileDialog),
    "n": lambda app, fake: app.active_panel().key == "eth1",
    "l": lambda app, fake: isinstance(app.screen, PacketListScreen),
    "o": lambda app, fake: isinstance(app.screen, OverviewScreen),
    "ctrl+p": lambda app, fake: isinstance(app.screen, CommandPalette),
}


def test_the_footer_at_80x24_shows_every_key_of_the_dashboard_each_with_a_word():
    async def scenario(app, pilot, fake):
        shown = footer_keys(app)
        assert set(shown) == set(EFFECTS)
        assert all(shown[key] for key in shown if key != "ctrl+p"), shown

    run(scenario)


def test_at_60_columns_the_footer_keeps_every_key_and_helps_word():
    async def scenario(app, pilot, fake):
        shown = footer_keys(app)
        assert set(shown) == set(EFFECTS)
        assert shown["question_mark"] == "Help"

    run(scenario, size=(60, 18))


def test_the_footer_shows_n_only_with_two_interfaces_and_w_only_with_one():
    """Keys with nothing to act on are not offered: with one interface left, n (next) would stay where it is;
    with none, w would write nothing."""
    async def scenario(app, pilot, fake):
        await pilot.press("x", "enter")  # eth0 unplugged: eth1 left
        await pilot.pause()
        shown = footer_keys(app)
        assert "n" not in shown and "w" in shown, shown
        await pilot.press("x", "enter")
        await pilot.pause()
        shown = footer_keys(app)
        assert not {"n", "w"} & set(shown) and "a" in shown, shown

    run(scenario)


@pytest.mark.parametrize("key", sorted(EFFECTS))
def test_each_footer_key_does_what_it_says(key):
    async def scenario(app, pilot, fake):
        assert key in footer_keys(app)
        if key == "r":  # a paused consumer fills the ring; resumed, it drains below the high-water mark
            fake.pause("eth0", True)
            await refresh(pilot, 2)
            fake.pause("eth0", False)
            await refresh(pilot, 2)
            assert fake._ring("eth0").slots_used_high > fake._ring("eth0").occupancy
        await pilot.press(key)
        await pilot.pause()
        assert EFFECTS[key](app, fake)

    run(scenario)


def test_the_live_packet_list_shows_its_own_keys_not_the_dashboards():
    async def scenario(app, pilot, fake):
        await pilot.press("l")
        await pilot.pause(0.3)
        shown = footer_keys(app)
        assert {"enter", "q", "slash", "f", "backslash", "e", "question_mark"} <= set(shown)
        assert not {"a", "w", "l", "p", "d", "x"} & set(shown)
        await pilot.press("w")  # the dashboard's write key does nothing here
        await pilot.pause()
        assert isinstance(app.screen, PacketListScreen)

    run(scenario)


async def choose_in_poll_dialog(app, pilot, choices: str, downs: int) -> dict[str, str]:
    """Opens the polling dialog, goes `downs` options down the choice set `choices` (its id) and presses enter,
    which chooses and applies at once; returns the marks the options had before."""
    await pilot.press("i")
    await pilot.pause()
    dialog = app.screen
    marks = {str(button.name): button._button.plain for button in dialog.query(f"#{choices} MarkedRadioButton")}
    dialog.query_one(f"#{choices}").focus()
    await pilot.press(*["down"] * downs, "enter")
    await refresh(pilot)
    assert not isinstance(app.screen, PollSettingsDialog)
    return marks


def test_poll_dialog_marks_the_chosen_option_without_colour_and_enter_on_an_option_applies_it():
    async def scenario(app, pilot, fake):
        marks = await choose_in_poll_dialog(app, pilot, "wait-strategy", 3)  # to event
        assert marks == {"SLEEP": "(•)", "YIELD": "( )", "SPIN": "( )", "EVENT": "( )", "ADAPTIVE": "( )"}
        assert fake.stats()["eth0"].wait_strategy == WaitStrategy.EVENT

    run(scenario)


def test_poll_dialog_switches_the_ring_to_zero_copy_and_the_status_line_says_so():
    async def scenario(app, pilot, fake):
        marks = await choose_in_poll_dialog(app, pilot, "ring-mode", 1)  # to zero-copy
        assert marks == {"COPY": "(•)", "ZERO_COPY": "( )", "DIRECT": "( )"}
        assert fake.stats()["eth0"].mode == RingMode.ZERO_COPY
        assert "zero-copy" in str(app.query_one("#panel-status").render())

    run(scenario)


class Terminal:
    """The cells a terminal shows: every update the app writes, applied in order."""

    def __init__(self, app) -> None:
        self.cells = [[" "] * app.size.width for _ in range(app.size.height)]
        self.writes = 0  # updates written
        display = app._display

        def record(screen, update):
            if update is not None:
                self.writes += 1
                self._apply(app, update)
            return display(screen, update)

        app._display = record

    def _apply(self, app, update) -> None:
        x = y = 0
        for segment in app.console.render(update):
            for control in segment.control or ():
                if control[0] == ControlType.CURSOR_MOVE_TO:
                    x, y = control[1], control[2]
            if segment.control:
                continue
            for character in segment.text:
                if character == "\n":
                    x, y = 0, y + 1
                    continue
                if 0 <= y < len(self.cells) and 0 <= x < len(self.cells[y]):
                    self.cells[y][x] = character
                x += cell_len(character)

    def text(self, region: Region) -> list[str]:
        return ["".join(row[region.x:region.right]) for row in self.cells[region.y:region.bottom]]


@pytest.mark.parametrize("keys", [("question_mark",), ("enter",), ("l", "enter")],
                         ids=["help", "slot-inspector", "packet-view"])
def test_a_screen_over_the_live_dashboard_is_never_drawn_over_by_its_refreshes(keys):
    async def scenario(app, pilot, fake):
        for key in keys:
            await pilot.press(key)
            await pilot.pause(0.2)
        assert isinstance(app.screen, (HelpScreen, SlotInspector, PacketScreen))
        terminal = Terminal(app)
        app.screen.refresh()
        await pilot.pause()
        dialogs = app.screen.query(".dialog")
        region = dialogs.first().region if dialogs else app.screen.region
        before = terminal.text(region)
        assert any(line.strip() for line in before)
        writes = terminal.writes
        for _ in range(30):  # three seconds of refreshes: sparklines, slot map, texts all change
            await refresh(pilot)
        assert terminal.text(region) == before
        if keys == ("enter",):  # a full screen hides the dashboard: its refreshes send the terminal nothing
            assert terminal.writes == writes

    run(scenario)


def test_a_note_from_the_part_beside_the_dashboard_follows_it_under_the_session_bar():
    """The demo says which phase its traffic is in; the note is read twice a second, as it changes."""
    notes = ["demo phase: steady", "demo phase: flood"]

    async def main():
        fake = FakeMonitor()
        app = RingmonApp(fake, refresh_interval_s=None, clock=fake.clock, gather_facts=fake.facts,
                         note=lambda: notes[0], overview_at_start=False)
        async with app.run_test(size=(80, 24)) as pilot:
            await until_shown(pilot, "demo phase: steady")
            notes.pop(0)
            await until_shown(pilot, "demo phase: flood")

    async def until_shown(pilot, note: str) -> None:
        for _ in range(50):  # the note is read every half second: at most a few tenths here, 5 s on a loaded machine
            await pilot.pause(0.1)
            if shown(pilot.app, "#session-note") == note:
                return
        assert shown(pilot.app, "#session-note") == note

    asyncio.run(main())


def test_write_dialog_marks_its_format_without_colour_describes_each_and_enter_on_one_starts_writing():
    async def scenario(app, pilot, fake):
        await pilot.press("w")
        await pilot.pause()
        dialog = app.screen
        labels = {str(button.name): str(button.label) for button in dialog.query("MarkedRadioButton")}
        assert set(labels) == {"pcapng", "pcap", "pcap-ns"} and all(": " in label for label in labels.values())
        dialog.query_one("#file-format").focus()
        await pilot.press("down", "space")  # chosen, not yet started
        await pilot.pause()
        assert [button._button.plain for button in dialog.query("MarkedRadioButton")] == ["( )", "(•)", "( )"]
        assert fake.writing is None
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert fake.writing is not None and fake.writing.format == "pcap"

    run(scenario)


def test_after_s_the_footer_shows_escape_back_to_the_slot_map_and_end_reaches_the_last_section():
    async def scenario(app, pilot, fake):
        await pilot.press("s")
        await pilot.pause()
        column = app.focused
        assert isinstance(column, ScrollColumn) and "escape" in footer_keys(app)
        await pilot.press("end")
        await pilot.wait_for_scheduled_animations()
        assert column.scroll_y == column.max_scroll_y > 0
        await pilot.press("escape")
        await pilot.pause()
        assert app.focused is app.active_panel().slot_map
        assert "escape" not in footer_keys(app) and "enter" in footer_keys(app)

    run(scenario)


def test_the_packet_lists_footer_shows_t_and_after_a_find_n_and_N():
    async def scenario(app, pilot, fake):
        await pilot.press("l")
        await pilot.pause(0.3)
        assert "t" in footer_keys(app) and not {"n", "N"} & set(footer_keys(app))
        await pilot.press("slash", *"eth1", "enter")
        await pilot.pause(0.3)
        assert {"n", "N", "t"} <= set(footer_keys(app))

    run(scenario)
