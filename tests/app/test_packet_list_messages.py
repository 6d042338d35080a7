"""What `ringmon read` says and does for a person new to it, driven by Pilot: escape never quits, the list comes
back on the last packet viewed, a file's wording (no "stored", no "following" once indexed), an invalid time
said so, the `g` help within 80 columns, and the status line keeping count, name and format ahead of an error."""
from __future__ import annotations

import pytest
from packet_files import write_mixed_pcap
from screen_text import screen_lines
from test_packet_list import open_store, run, status

from ringmon.screens.packet_list_screen import PacketListScreen, parse_go_to
from ringmon.screens.packet_screen import PacketScreen
from ringmon.screens.prompt_dialog import PromptDialog

PACKETS = 43


@pytest.fixture(scope="module")
def small_pcap(tmp_path_factory):
    return write_mixed_pcap(tmp_path_factory.mktemp("messages") / "small.pcap", PACKETS)


def notes(app) -> list[str]:
    return [str(note.message) for note in app._notifications]


def test_escape_does_not_quit_read_and_q_does(small_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("g", "escape", "escape", "escape")  # a prompt closed, then escape once too many
        await pilot.pause()
        assert isinstance(app.screen, PacketListScreen) and app.is_running
        assert "q Quit" in " ".join(screen_lines(app)[-2:])  # the footer: two lines at 80 columns
        await pilot.press("enter", "escape")  # escape still closes the packet view
        await pilot.pause()
        assert isinstance(app.screen, PacketListScreen)
        await pilot.press("q")
        await pilot.pause()
        assert app._exit

    run(open_store(small_pcap), scenario, size=(80, 24))


def test_back_from_the_packet_view_the_cursor_is_on_the_last_packet_viewed(small_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("g", *"10", "enter", "enter")
        await pilot.pause()
        await pilot.press("right_square_bracket", "right_square_bracket", "left_square_bracket",
                          "right_square_bracket", "right_square_bracket")
        assert app.screen.number == 12
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, PacketListScreen) and packet_list.cursor == 12

    run(open_store(small_pcap), scenario, size=(80, 24))


def test_a_file_says_which_packets_it_has_and_the_last_packet_is_the_last(small_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("g", *"99999", "enter")
        await pilot.pause()
        assert f"no packet 99,999: the file has packets 1 to {PACKETS}" in notes(app)
        await pilot.press("end", "enter", "right_square_bracket")
        await pilot.pause()
        assert isinstance(app.screen, PacketScreen) and "this is the last packet" in notes(app)
        await pilot.press("q", "end")
        await pilot.pause()
        assert not any("stored" in note for note in notes(app))
        assert "following" not in status(app) and packet_list.cursor == PACKETS - 1  # End on a whole file

    run(open_store(small_pcap), scenario, size=(80, 24))


@pytest.mark.parametrize("text", ["25:00:00", "12:60", "12:30:61", "1.5:00"])
def test_an_out_of_range_time_of_day_is_not_a_valid_time(text):
    with pytest.raises(ValueError, match="not a valid time of day"):
        parse_go_to(text)


def test_go_to_an_invalid_time_says_so_in_the_prompt_and_its_help_fits_80_columns(small_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("g")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, PromptDialog)
        hint = str(dialog.query(".dialog Label")[1].content)
        assert len(hint) <= dialog.query_one(".dialog").content_region.width
        await pilot.press(*"25:00:00", "enter")
        await pilot.pause()
        assert "not a valid time of day" in str(app.screen.query_one("#prompt-error").content)
        assert packet_list.cursor == 0

    run(open_store(small_pcap), scenario, size=(80, 24))


def test_a_truncated_file_keeps_count_name_and_format_in_view_and_notifies_the_error(tmp_path):
    whole = write_mixed_pcap(tmp_path / "whole.pcap", PACKETS).read_bytes()
    path = tmp_path / "trunc.pcap"
    path.write_bytes(whole[:-10])

    async def scenario(app, pilot, packet_list):
        await pilot.pause(0.3)
        shown = app.screen.query_one("#list-status").render_line(0).text
        assert shown.split()[:4] == [f"{PACKETS - 1}", "packets", "mixed.pcap", "pcap"]
        assert "truncated" in shown or "…" in shown
        error = [note for note in notes(app) if "truncated" in note or "cut short" in note]
        assert error and error[0] in status(app)

    run(open_store(path), scenario, size=(80, 24))
