"""The packet list on a capture file of mixed traffic, driven by Pilot: numbering and count as tshark reads the
file, first/last, go to a number or a time, find, time formats, opening a packet, escaping, follow mode."""
from __future__ import annotations

import asyncio
import gc
import os
import struct
import subprocess
import threading

import pytest
from packet_files import FIRST_TS_S, STEP_US, ListStore, mixed_frame, write_mixed_pcap
from readback import tshark_fields

import capture_files
from capture_files import OPT_COMMENT, OPT_IF_NAME
from hostile_text import HOSTILE_BYTES, HOSTILE_STRINGS, assert_terminal_safe
from screen_text import all_shown
from ringcore.store import PacketStore
from ringmon.read_app import ReadApp
from ringmon.formatting import escape, wall_clock
from ringmon.screens.help import HelpScreen
from ringmon.screens.packet_list_screen import PacketListScreen
from ringmon.screens.packet_screen import PacketScreen
from ringmon.signal_safe_app import GC_FREEZE_AFTER_S
from ringmon.widgets.packets.decode_tree import PacketTree
from ringmon.widgets.packets.packet_detail import PacketDetail
from ringmon.widgets.packets.filter_bar import FilterBar
from ringmon.widgets.packets.packet_list import COLUMN_MEANINGS, MARK_GLYPH, PacketList, layout_columns

PACKETS = 3000
PCAP_HEADER_BYTES = 24
SIZE = (100, 30)


@pytest.fixture(scope="module")
def mixed_pcap(tmp_path_factory):
    return write_mixed_pcap(tmp_path_factory.mktemp("list") / "mixed.pcap", PACKETS)


def open_store(path) -> PacketStore:
    """The file indexed by the C store, to its end (the status test shows the list while indexing)."""
    store = PacketStore.open_file(str(path))
    store.wait()
    return store


def run(store, scenario, size=SIZE) -> None:
    async def main():
        app = ReadApp(store, "mixed.pcap")
        async with app.run_test(size=size) as pilot:
            await pilot.pause()
            await scenario(app, pilot, app.screen.packet_list)

    asyncio.run(main())


def rows(packet_list: PacketList) -> list[list[str]]:
    """The rows on screen as cells split on spaces (the header line left out)."""
    lines = [packet_list.render_line(y).text for y in range(1, packet_list.size.height)]
    return [line.split() for line in lines if line.strip()]


def cursor_row(packet_list: PacketList) -> list[str]:
    return packet_list.render_line(packet_list.cursor - packet_list.first - int(packet_list.scroll_y) + 1).text.split()


def status(app) -> str:
    return str(app.screen.query_one("#list-status").content)


async def settle(pilot, app) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


def test_rows_are_numbered_and_addressed_as_tshark_reads_the_file_and_end_shows_the_last(mixed_pcap):
    fields = tshark_fields(mixed_pcap, "frame.number", "frame.len", "ip.src", "ip.dst", "arp.src.proto_ipv4")

    async def scenario(app, pilot, packet_list):
        assert f"{len(fields):,} packets" in status(app) and "indexing" not in status(app)
        for shown in (rows(packet_list), None):
            if shown is None:
                await pilot.press("end")
                await pilot.pause()
                shown = rows(packet_list)
                assert shown[-1][0] == fields[-1][0] == str(PACKETS)
            for cells in shown:
                number, length, ip_src, ip_dst, arp_src = fields[int(cells[0]) - 1]
                assert cells[0] == number
                assert cells[2].startswith(ip_src or arp_src)
                assert cells[5] == length
        await pilot.press("home")
        await pilot.pause()
        assert rows(packet_list)[0][0] == "1" and packet_list.cursor == 0

    run(open_store(mixed_pcap), scenario)


def test_the_last_packet_stays_in_view_when_the_list_gets_shorter_after_end(mixed_pcap):
    """End, then the terminal loses rows (as when the footer grows to two lines after the first frame): the
    cursor's packet, the last, is still the bottom row."""
    async def scenario(app, pilot, packet_list):
        await pilot.press("end")
        await pilot.pause()
        assert rows(packet_list)[-1][0] == str(PACKETS)
        for height in (SIZE[1] - 1, SIZE[1] - 5):
            await pilot.resize_terminal(SIZE[0], height)
            await pilot.pause()
            assert rows(packet_list)[-1][0] == str(PACKETS), height

    run(open_store(mixed_pcap), scenario)


def test_go_to_a_packet_number_and_to_a_time_puts_the_cursor_on_that_packet(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("g", *"1234", "enter")
        await pilot.pause()
        assert packet_list.cursor == 1233 and cursor_row(packet_list)[0] == "1234"
        await pilot.press("g", *"+1.5", "enter")  # 1.5 s after the first packet: 1000 steps of 1.5 ms
        await pilot.pause()
        assert cursor_row(packet_list)[0] == "1001"
        clock = wall_clock((FIRST_TS_S * 10**6 + 2000 * STEP_US) * 1000, "%H:%M:%S", 6)
        await pilot.press("g", *clock, "enter")
        await pilot.pause()
        assert cursor_row(packet_list)[0] == "2001"
        await pilot.press("g", *"nonsense", "enter")
        await pilot.pause()
        assert "not a packet number or a time" in str(app.screen.query_one("#prompt-error").content)

    run(open_store(mixed_pcap), scenario)


def test_find_and_next_visit_the_packets_tshark_finds_and_previous_goes_back(mixed_pcap):
    matches = [int(number) for (number,) in _tshark_filter(mixed_pcap, 'dns.qry.name contains "host12"')]
    assert len(matches) > 3

    async def scenario(app, pilot, packet_list):
        await pilot.press("slash", *"HOST12", "enter")
        await settle(pilot, app)
        visited = [packet_list.cursor + 1]
        for _ in matches[1:]:
            await pilot.press("n")
            await settle(pilot, app)
            visited.append(packet_list.cursor + 1)
        assert visited == matches
        await pilot.press("N")
        await settle(pilot, app)
        assert packet_list.cursor + 1 == matches[-2]
        await pilot.press("n")
        await settle(pilot, app)
        await pilot.press("n")  # none after the last: on from the first, as Wireshark and vim, and it says so
        await settle(pilot, app)
        assert packet_list.cursor + 1 == matches[0]
        assert [note.message for note in app._notifications][-1:] == ["found going on from the first packet"]
        await pilot.press("N")  # and back round, from the last
        await settle(pilot, app)
        assert packet_list.cursor + 1 == matches[-1]
        assert [note.message for note in app._notifications][-1:] == ["found going on from the last packet"]

    run(open_store(mixed_pcap), scenario)


def _tshark_filter(path, display_filter: str) -> list[tuple[str, ...]]:
    done = subprocess.run(["tshark", "-r", str(path), "-Y", display_filter, "-T", "fields", "-e", "frame.number"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [tuple(line.split("\t")) for line in done.stdout.splitlines()]


def test_time_toggles_between_relative_absolute_and_delta(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        third = (FIRST_TS_S * 10**6 + 2 * STEP_US) * 1000
        assert rows(packet_list)[2][1] == "0.003000"
        await pilot.press("t")
        await pilot.pause()
        assert rows(packet_list)[2][1] == wall_clock(third, "%H:%M:%S", 6)
        await pilot.press("t")
        await pilot.pause()
        assert [row[1] for row in rows(packet_list)[:3]] == ["0.000000", "0.001500", "0.001500"]
        await pilot.press("t")
        await pilot.pause()
        assert rows(packet_list)[2][1] == "0.003000"

    run(open_store(mixed_pcap), scenario)


def test_enter_opens_the_packet_under_the_cursor_and_escape_comes_back(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("g", *"42", "enter", "enter")
        await pilot.pause()
        assert isinstance(app.screen, PacketScreen)
        assert app.screen.shown.data == mixed_frame(41)
        assert str(app.screen.query_one("#detail-header").content).startswith("packet 42 ")
        await pilot.press("right_square_bracket")
        assert app.screen.shown.data == mixed_frame(42)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PacketListScreen)

    run(open_store(mixed_pcap), scenario)


def test_status_says_indexing_until_the_store_is_done_then_the_count_and_what_is_wrong(tmp_path):
    """A FIFO is indexed as it arrives: the list shows what came, the status says indexing until the end,
    and a last record cut short is said there."""
    whole = write_mixed_pcap(tmp_path / "whole.pcap", 1500).read_bytes()
    fifo = tmp_path / "stream.pcap"
    os.mkfifo(fifo)
    writer = []

    def open_and_send_the_header() -> None:
        writer.append(open(fifo, "wb", buffering=0))
        writer[0].write(whole[:PCAP_HEADER_BYTES])

    opener = threading.Thread(target=open_and_send_the_header)
    opener.start()

    async def main():
        store = PacketStore.open_file(str(fifo))  # returns once it has read the file header
        opener.join()
        app = ReadApp(store, fifo.name)
        async with app.run_test(size=SIZE) as pilot:
            writer[0].write(whole[PCAP_HEADER_BYTES:len(whole) // 2])
            while store.progress().count < 700:
                await pilot.pause(0.05)
            await pilot.pause(0.3)
            assert "indexing" in status(app) and app.screen.packet_list.rows >= 700
            writer[0].write(whole[len(whole) // 2:-10])
            writer[0].close()
            store.wait(10)
            await pilot.pause(0.3)
            assert "1,499 packets" in status(app) and "indexing" not in status(app)
            assert "truncated" in status(app)
            assert app.screen.packet_list.rows == 1499
        store.close()

    asyncio.run(main())


def test_hostile_interface_names_and_packet_text_are_escaped_in_every_row(tmp_path):
    """A pcapng whose interfaces are named with terminal attacks, carrying frames dpkt fails on."""
    names = [name.encode("utf-8", "surrogateescape") for name in HOSTILE_STRINGS[:3]]
    frames = []
    for index, hostile in enumerate(HOSTILE_BYTES):
        frames.append(mixed_frame(0)[:14] + hostile)  # a layer dpkt fails on
        frames.append(mixed_frame(index) + hostile)
    path = tmp_path / "hostile.pcapng"
    path.write_bytes(capture_files.section_header()
                     + b"".join(capture_files.interface([(OPT_IF_NAME, name)]) for name in names)
                     + b"".join(capture_files.enhanced_packet(frame, ticks=index, ifid=index % 3)
                                for index, frame in enumerate(frames)))

    async def scenario(app, pilot, packet_list):
        lines = [packet_list.render_line(y).text for y in range(packet_list.size.height)]
        assert sum(bool(line.strip()) for line in lines) == len(frames) + 1
        for line in lines:
            assert_terminal_safe(line)
        assert_terminal_safe(status(app))
        # each row names its interface escaped once (no name holds a backslash: none may show doubled)
        shown_names = {line.split()[2].rstrip("…") for line in lines[1:] if line.strip()}
        assert len(shown_names) == 3 and all(any(escape(name).startswith(shown) for name in HOSTILE_STRINGS[:3])
                                             for shown in shown_names)
        assert not any("\\\\" in line for line in lines)

    run(open_store(path), scenario, size=(160, 2 * len(HOSTILE_BYTES) + 4))


def test_follow_keeps_the_newest_packet_in_view_until_the_user_moves_up_and_f_brings_it_back():
    store = ListStore(format="live", done=False)

    async def scenario(app, pilot, packet_list):
        def arrive(count: int) -> None:
            start = store.first + len(store.stored)
            for index in range(start, start + count):
                store.append(FIRST_TS_S * 10**9 + index, mixed_frame(index))

        arrive(100)
        await pilot.pause(0.4)
        assert packet_list.cursor == 99 and rows(packet_list)[-1][0] == "100"
        assert "following" in status(app)
        await pilot.press("up")
        arrive(50)
        await pilot.pause(0.4)
        assert packet_list.cursor == 98 and "following" not in status(app)
        await pilot.press("f")
        await pilot.pause()
        assert packet_list.cursor == 149 and rows(packet_list)[-1][0] == "150"
        await pilot.press("down", "pagedown")  # at the newest already: still following
        assert packet_list.following
        store.evict(120)  # a spool at its limit: the oldest go, the rows are what is left
        arrive(1)
        await pilot.pause(0.4)
        assert packet_list.rows == 31 and rows(packet_list)[-1][0] == "151"
        assert "120 evicted" in status(app)
        await pilot.press("home")
        await pilot.pause()
        assert rows(packet_list)[0][0] == "121" and packet_list.cursor == 120

    run(store, scenario)


def test_escape_stops_a_find_in_progress_and_leaves_the_cursor(mixed_pcap):
    store = open_store(mixed_pcap)
    release = threading.Event()
    read = store.packets

    def slow_packets(start, count):
        if threading.current_thread() is not threading.main_thread():
            release.wait(10)
        return read(start, count)

    store.packets = slow_packets

    async def scenario(app, pilot, packet_list):
        await pilot.press("slash", *"no such text", "enter")
        await pilot.pause()
        assert "finding" in status(app) or app.workers
        await pilot.press("escape")
        release.set()
        await settle(pilot, app)
        assert isinstance(app.screen, PacketListScreen) and packet_list.cursor == 0
        assert "finding" not in status(app)

    run(store, scenario)


def test_a_packets_hostile_pcapng_comment_is_shown_escaped_when_it_is_opened(tmp_path):
    frame = mixed_frame(0)
    comment = "\x1b]0;pwned\x07 note \u202eevil".encode()
    body = (struct.pack("<IIIII", 0, 0, 0, len(frame), len(frame)) + capture_files.padded(frame)
            + capture_files.options([(OPT_COMMENT, comment)]))
    path = tmp_path / "commented.pcapng"
    path.write_bytes(capture_files.section_header() + capture_files.interface()
                     + capture_files.block(capture_files.EPB, body))

    async def scenario(app, pilot, packet_list):
        await pilot.press("enter")
        await pilot.pause()
        header = str(app.screen.query_one("#detail-header").content)
        assert_terminal_safe(header)
        assert r"comment: \x1b]0;pwned\x07 note \u202eevil" in header

    run(open_store(path), scenario)


def test_question_mark_explains_every_key_and_column_of_the_list_and_every_key_of_the_packet_screen(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = " ".join(all_shown(app, "#help Static").split())  # the tables wrap long lines
        for binding in [*PacketListScreen.BINDINGS, *PacketList.BINDINGS, *FilterBar.BINDINGS]:
            assert " ".join((binding.tooltip or binding.description).split()) in shown, binding
        for column in layout_columns(120, (4, 9, 9, 16, 16, 5, 4, 30), "relative", True):  # widest titles
            title = column.title or MARK_GLYPH  # the marks' column has no header, its glyph is explained
            assert title in shown and title in dict(COLUMN_MEANINGS)
        assert "indexing" in shown and "evicted" in shown
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PacketListScreen)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, PacketScreen)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        shown = " ".join(all_shown(app, "#help Static").split())
        for binding in [*PacketScreen.BINDINGS, *PacketDetail.BINDINGS, *PacketTree.BINDINGS]:
            assert " ".join((binding.tooltip or binding.description).split()) in shown, binding
        assert "Decoded" in shown and "Bytes" in shown
        await pilot.press("question_mark")  # ? closes it too
        await pilot.pause()
        assert isinstance(app.screen, PacketScreen)

    run(open_store(mixed_pcap), scenario, size=(120, 50))


def test_the_lists_objects_are_frozen_out_of_the_collector_once_built_and_let_go_at_exit(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        assert gc.get_freeze_count() == 0
        await pilot.pause(GC_FREEZE_AFTER_S + 0.5)
        assert gc.get_freeze_count() > 10_000  # the app's widgets, styles and modules: never scanned again

    run(open_store(mixed_pcap), scenario)
    assert gc.get_freeze_count() == 0
