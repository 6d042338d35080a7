"""The dashboard's actions on the deterministic FakeMonitor: each key does what the footer says."""
from __future__ import annotations

import asyncio

from dashboard_fakes import fake_dashboard, refresh
from fake_monitor import FakeMonitor
from screen_text import panel_shown, screen_lines, shown
from textual.widgets import Input, Tree
from textual.widgets._toast import Toast

from ringmon.screens.confirm_dialog import ConfirmDialog
from ringmon.screens.filter_dialog import FilterDialog
from ringmon.screens.interface_picker import InterfacePicker
from ringmon.screens.slot_inspector import SlotInspector
from ringmon.widgets.fitting_footer import FittingFooter
from ringmon.widgets.iface.panel import InterfacePanel
from ringmon.widgets.packets.hex_dump import HexDump, hex_dump_text
from ringcore.api import DropPolicy, RingMode, WaitStrategy


def run(scenario) -> None:
    """Run an async Pilot scenario against a fresh fake dashboard (no pytest-asyncio needed)."""
    async def main():
        fake = FakeMonitor()
        app = fake_dashboard(fake)
        async with app.run_test(size=(120, 40)) as pilot:
            await refresh(pilot, 20)
            await scenario(app, pilot, fake)

    asyncio.run(main())


def test_pause_key_pauses_the_consumer_and_the_panel_says_so():
    async def scenario(app, pilot, fake):
        await pilot.press("p")
        await refresh(pilot)
        assert fake.stats()["eth0"].paused
        assert "consumer PAUSED" in panel_shown(app, "eth0", "#panel-status")
        await pilot.press("p")
        await refresh(pilot)
        assert "capturing" in panel_shown(app, "eth0", "#panel-status")

    run(scenario)


def test_drop_policy_key_switches_early_and_late():
    async def scenario(app, pilot, fake):
        await pilot.press("d")
        await refresh(pilot)
        assert fake.stats()["eth0"].drop_policy == DropPolicy.LATE
        assert "drop-late" in panel_shown(app, "eth0", "#panel-status")

    run(scenario)


def test_pause_and_drop_policy_keys_pressed_twice_between_two_refreshes_switch_twice():
    """Each press switches from the state the last press set, not from the last snapshot (which both would see)."""
    async def scenario(app, pilot, fake):
        await pilot.press("p", "p", "d", "d", "d")
        await pilot.pause()
        stats = fake.stats()["eth0"]
        assert not stats.paused and stats.drop_policy == DropPolicy.LATE
        messages = [note.message for note in app._notifications]
        assert messages ==   ["consumer paused", "consumer resumed", "drop policy: drop-late",
                                "drop policy: drop-early", "drop policy: drop-late"], messages

    run(scenario)


def test_bad_filter_shows_the_compilers_message_inline_and_keeps_the_old_filter():
    async def scenario(app, pilot, fake):
        fake.set_filter("eth0", "udp")
        await pilot.press("f")
        dialog = app.screen
        assert isinstance(dialog, FilterDialog)
        dialog.query_one(Input).value = "udp and bogus ["
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog, "a rejected filter keeps the dialog open"
        assert "syntax error in filter expression" in shown(app, "#filter-error")
        assert "[" in shown(app, "#filter-error"), "the message is shown as text, not parsed as markup"
        assert fake.stats()["eth0"].filter == "udp"
        dialog.query_one(Input).value = "tcp"
        await pilot.press("enter")
        await pilot.pause()
        assert not isinstance(app.screen, FilterDialog)
        assert fake.stats()["eth0"].filter == "tcp"

    run(scenario)


def test_unplug_asks_first_naming_the_interface_and_only_unplug_chosen_unplugs():
    async def scenario(app, pilot, fake):
        await pilot.press("x")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmDialog)
        text = "\n".join(screen_lines(app))
        assert "Unplug eth0?" in text and "(•) unplug eth0" in text and "( ) keep capturing" in text
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog) and fake.interfaces == ["eth0", "eth1"]
        await pilot.press("x", "down", "enter")  # keep capturing, chosen
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmDialog) and fake.interfaces == ["eth0", "eth1"]
        await pilot.press("x", "enter")  # unplug, as offered
        await pilot.pause()
        assert fake.interfaces == ["eth1"]

    run(scenario)


def test_a_replugged_interface_takes_back_its_filter_drop_policy_polling_and_ring_and_a_new_one_the_defaults():
    async def scenario(app, pilot, fake):
        await pilot.press("d")  # drop-late, from the panel
        fake.set_filter("eth0", "udp")  # as the filter and polling dialogs apply them
        fake.set_wait("eth0", WaitStrategy.SPIN, 250)
        await refresh(pilot)
        await pilot.press("x", "enter")
        await pilot.pause()
        assert fake.interfaces == ["eth1"]
        fake.unplug("eth1")  # gone without the dashboard: its next plug is a first one
        await app.plug_interface(("eth0", None))
        stats = fake.stats()["eth0"]
        assert (stats.filter, stats.drop_policy, stats.wait_strategy, stats.poll_interval_us) == (
            "udp", DropPolicy.LATE, WaitStrategy.SPIN, 250)
        assert any("eth0 plugged again as it was: filter udp, drop-late, spin polling, copy ring" in str(note.message)
                   for note in app._notifications)
        await app.plug_interface(("eth1", None))
        assert fake.stats()["eth1"].filter is None and fake.stats()["eth1"].drop_policy == DropPolicy.EARLY

    run(scenario)


def test_a_replugged_interface_takes_back_its_ring_mode():
    async def scenario(app, pilot, fake):
        fake.set_mode("eth0", RingMode.ZERO_COPY)
        await pilot.press("x", "enter")
        await pilot.pause()
        await app.plug_interface(("eth0", None))
        assert fake.stats()["eth0"].mode == RingMode.ZERO_COPY

    run(scenario)


def test_unplug_key_removes_the_panel_and_the_other_keeps_its_own():
    async def scenario(app, pilot, fake):
        await pilot.press("x", "enter")
        await pilot.pause()
        assert fake.interfaces == ["eth1"]
        assert list(app.panels) == ["eth1"] and [panel.ifname for panel in app.query(InterfacePanel)] == ["eth1"]
        await refresh(pilot)
        assert "eth1" in panel_shown(app, "eth1", "#panel-status")

    run(scenario)


def test_write_key_starts_a_file_whose_size_grows_in_the_top_line_and_stops_it():
    async def scenario(app, pilot, fake):
        await pilot.press("w")
        path_input = app.screen.query_one("#file-path", Input)
        path_input.value = "out.pcapng"
        await pilot.press("enter")
        await pilot.pause()
        app.refresh_from_capture()
        first = shown(app, "#session-bar")
        app.refresh_from_capture()
        second = shown(app, "#session-bar")
        assert "writing out.pcapng" in first and first != second
        await pilot.press("w")
        assert fake.writing is None
        app.refresh_from_capture()
        assert "not writing" in shown(app, "#session-bar")

    run(scenario)


def test_slot_inspector_shows_packet_bytes_as_text_never_as_markup():
    async def scenario(app, pilot, fake):
        await pilot.press("enter")
        await pilot.pause()
        inspector = app.screen
        assert isinstance(inspector, SlotInspector)
        assert "slot 0 of eth0" in shown(app, "#detail-header")
        labels = [str(node.label) for node in inspector.query_one(Tree).root.children]
        assert labels[:3] == ["Ethernet II  02:00:c6:12:00:02 > 02:00:c6:12:00:01",
                              "IPv4  198.18.0.2 > 198.18.0.1", "UDP  40000 > 40001"]
        dump = hex_dump_text(inspector.query_one(HexDump).data).plain
        ascii_column = "".join(line[-16:] for line in dump.splitlines())
        assert "[bold red]not markup[/]" in ascii_column
        assert "\x1b" not in dump and "\x00" not in dump
        await pilot.press("right_square_bracket")
        assert "slot 1 of eth0" in shown(app, "#detail-header")
        await pilot.press("escape")
        assert not isinstance(app.screen, SlotInspector)

    run(scenario)


def test_command_palette_offers_every_panel_action_per_interface():
    async def scenario(app, pilot, fake):
        from ringmon.palette import RingmonCommands

        provider = RingmonCommands(app.screen)
        titles = [title for title, _, _ in provider._commands()]
        assert "eth0: Pause" in titles and "eth1: Filter" in titles and "Plug" in titles
        assert titles.count("Quit") == 1

    run(scenario)


def test_arrow_keys_move_the_slot_cursor_and_enter_inspects_that_slot():
    async def scenario(app, pilot, fake):
        await pilot.press("right", "right", "down")
        slot_map = app.active_panel().slot_map
        expected = 2 + slot_map._columns
        assert slot_map.cursor == expected
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, SlotInspector)
        assert f"slot {expected} of eth0" in shown(app, "#detail-header")

    run(scenario)


def test_next_interface_key_shows_the_other_panel():
    async def scenario(app, pilot, fake):
        assert app.active_panel().ifname == "eth0"
        await pilot.press("n")
        await pilot.pause()
        assert app.active_panel().ifname == "eth1"
        await refresh(pilot)
        assert "eth1" in panel_shown(app, "eth1", "#panel-status")
        await pilot.press("n")
        assert app.active_panel().ifname == "eth0"

    run(scenario)


def test_resizing_to_80x24_and_back_redraws_everything_as_it_was():
    async def scenario(app, pilot, fake):
        before = app.export_screenshot()
        panel = app.active_panel()
        wide_cell = panel.slot_map._cell_size
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.size == (80, 24)
        # every section still inside the screen, the slot map on smaller cells, every slot drawn
        for section in (panel.occupancy, panel.slot_map, panel.drops, panel.polling, panel.rates, panel.talkers):
            assert section.region.right <= 80, type(section).__name__
        assert panel.slot_map._cell_size < wide_cell
        columns = panel.slot_map._columns
        assert -(-64 // columns) * panel.slot_map._cell_size[1] <= panel.slot_map.virtual_size.height
        assert "eth0" in panel_shown(app, "eth0", "#panel-status")
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert app.export_screenshot() == before

    run(scenario)


def test_packets_key_and_palette_command_open_the_sessions_live_list_following_the_newest():
    async def scenario(app, pilot, fake):
        from ringmon.screens.packet_list_screen import PacketListScreen

        await pilot.press("l")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, PacketListScreen)
        packet_list = screen.packet_list
        assert packet_list.following and packet_list.cursor == fake.store.progress().count - 1
        assert "2 interfaces" in shown(app, "#list-status") and "following" in shown(app, "#list-status")
        header = packet_list.render_line(0).text.split()
        assert header[:4] == ["No.", "Rel.", "time", "Iface"]  # short names: a short title
        await pilot.press("l")  # on the list already: no second list
        await pilot.press("q")
        await pilot.pause()
        assert not isinstance(app.screen, PacketListScreen)
        from ringmon.palette import RingmonCommands

        palette_entry = next(run for title, _, run in RingmonCommands(app.screen)._commands() if title == "Packets")
        await palette_entry()
        await pilot.pause()
        assert isinstance(app.screen, PacketListScreen)

    run(scenario)


def test_a_toast_sits_above_a_two_line_footer_and_covers_none_of_its_keys():
    async def main():
        app = fake_dashboard(FakeMonitor())
        async with app.run_test(size=(80, 24), notifications=True) as pilot:  # run_test leaves toasts out
            await refresh(pilot, 20)
            footer = app.screen.query_one(FittingFooter)
            assert footer.has_class("-two-lines") and footer.region.height == 2
            app.notify("a toast")
            await pilot.pause(0.3)
            toast = app.screen.query_one(Toast)
            assert toast.region.bottom <= footer.region.y, (toast.region, footer.region)

    asyncio.run(main())


def test_a_dialogs_errors_are_said_inside_it_not_in_a_toast_over_it():
    async def scenario(app, pilot, fake):
        await pilot.press("i")
        await pilot.pause()
        app.screen.query_one("#poll-interval", Input).value = "-5"
        await pilot.press("enter")
        await pilot.pause()
        assert "whole number of microseconds" in shown(app, "#poll-error") and not app._notifications
        await pilot.press("escape")
        app.push_screen(InterfacePicker([fake.facts("eth0")], {"eth0"}))
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert shown(app, "#picker-error") == "eth0 is already plugged" and not app._notifications

    run(scenario)
