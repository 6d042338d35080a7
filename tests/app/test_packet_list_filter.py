"""The display filter and marks in the packet list, driven by Pilot on a capture file of mixed traffic: the rows
are exactly what tcpdump (BPF) or tshark (Wireshark syntax) match, a filter that matches nothing and a bad one
say so, and marks outlive filter changes."""
from __future__ import annotations

import subprocess
import threading

import test_packet_list
from packet_files import FIRST_TS_S, STEP_US, ListStore, mixed_frame, write_mixed_pcap
from test_packet_list import PACKETS, _tshark_filter, open_store, run, status

from ringmon.read_app import ReadApp
from ringmon.widgets.packets import filter_bar
from ringmon.widgets.packets.filter_bar import detect_language
from ringmon.widgets.packets.packet_list import MARK_GLYPH, PacketList

TALL = (110, 60)

mixed_pcap = test_packet_list.mixed_pcap  # the same file, one fixture


def tcpdump_numbers(path, expression: str) -> list[int]:
    """The 0-based numbers of the packets tcpdump matches, from their timestamps (the mix steps STEP_US)."""
    done = subprocess.run(["tcpdump", "-r", str(path), "-n", "-tt", expression], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    stamps = [line.split()[0] for line in done.stdout.splitlines()]
    return [round((float(stamp) - FIRST_TS_S) * 10**6 / STEP_US) for stamp in stamps]


async def shown_numbers(pilot, packet_list: PacketList) -> list[int]:
    """Every row's packet number (0-based) as drawn, paging from the first row to the last."""
    await pilot.press("home")
    seen: list[int] = []
    before = None
    while packet_list.cursor != before:  # the last page: pagedown moves no more
        await pilot.pause()
        for y in range(1, packet_list.size.height):
            cells = packet_list.render_line(y).text.split()
            if cells and cells[0] == MARK_GLYPH:
                cells.pop(0)
            if cells and int(cells[0]) - 1 not in seen:
                seen.append(int(cells[0]) - 1)
        before = packet_list.cursor
        await pilot.press("pagedown")
    return seen


async def apply_filter(pilot, app, expression: str) -> None:
    await pilot.pause()
    await pilot.press("backslash")
    assert app.screen.filter_bar.input.has_focus
    app.screen.filter_bar.input.value = expression
    await pilot.press("enter")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def filter_error(app) -> str:
    return str(app.screen.query_one("#display-filter-error").content)


def test_a_bpf_filter_shows_exactly_the_packets_tcpdump_matches_and_empty_shows_all_again(mixed_pcap):
    expected = tcpdump_numbers(mixed_pcap, "icmp[icmptype] == icmp-echoreply or udp port 9000")
    assert 100 < len(expected) < PACKETS

    async def scenario(app, pilot, packet_list):
        await pilot.press("g", *"1500", "enter")
        await apply_filter(pilot, app, "icmp[icmptype] == icmp-echoreply or udp port 9000")
        assert f"{len(expected):,} of {PACKETS:,} packets match" in status(app)
        kept = packet_list.cursor
        assert kept in expected and kept >= 1499  # the cursor's packet, or the next one that matches
        assert await shown_numbers(pilot, packet_list) == expected
        await pilot.press("end")
        assert packet_list.cursor == expected[-1]
        await pilot.press("g", *"3", "enter")  # not a match: the next one that is
        await pilot.pause()
        assert packet_list.cursor == next(number for number in expected if number >= 2)
        at = packet_list.cursor
        await apply_filter(pilot, app, "")
        assert packet_list.cursor == at and f"{PACKETS:,} packets" in status(app) and "match" not in status(app)
        assert packet_list.rows == PACKETS

    run(open_store(mixed_pcap), scenario, size=TALL)


def test_a_wireshark_filter_is_detected_and_shows_exactly_what_tshark_matches(mixed_pcap):
    expression = 'dns.qry.name contains "host12"'
    expected = [int(number) - 1 for (number,) in _tshark_filter(mixed_pcap, expression)]
    assert detect_language(expression) == "wireshark" and len(expected) > 3

    async def scenario(app, pilot, packet_list):
        await apply_filter(pilot, app, expression)
        assert f"{len(expected):,} of {PACKETS:,} packets match" in status(app)
        assert await shown_numbers(pilot, packet_list) == expected
        await pilot.press("home", "slash", *"host1245", "enter")  # find goes through the displayed rows only
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert packet_list.cursor == 1245
        await apply_filter(pilot, app, "dns")  # not BPF: tried as Wireshark's
        assert f"{PACKETS // 5:,} of {PACKETS:,} packets match dns" in status(app)
        await pilot.press("backslash", "ctrl+t")  # detect -> BPF
        await pilot.pause()
        assert "[BPF]" in str(app.screen.query_one("#display-filter-language").content)
        app.screen.filter_bar.input.value = expression
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "does not compile" in filter_error(app)  # libpcap's word on it
        assert f"{PACKETS // 5:,} of {PACKETS:,} packets match dns" in status(app)

    run(open_store(mixed_pcap), scenario, size=TALL)


def test_bpf_words_with_dots_are_not_taken_for_wireshark_fields():
    assert detect_language("host 198.18.0.1 and port 53") == "bpf"
    assert detect_language("host www.example.com") == "bpf"
    assert detect_language("ip[8] == 64") == "bpf" and detect_language("len == 100") == "bpf"
    assert detect_language("ip.src == 198.18.0.1") == "wireshark"
    assert detect_language("http contains \"GET\"") == "wireshark"


def test_a_filter_that_matches_nothing_says_so_and_a_bad_one_shows_libpcaps_message_and_keeps_the_old(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        await apply_filter(pilot, app, "arp")
        arp = packet_list.rows
        assert arp == PACKETS // 5 and f"{arp:,} of {PACKETS:,} packets match" in status(app)
        await apply_filter(pilot, app, "udp and tcp")
        assert f"0 of {PACKETS:,} packets match" in status(app) and packet_list.rows == 0
        assert any("no packet matches udp and tcp" in str(note.message) for note in app._notifications)
        await apply_filter(pilot, app, "arp")
        await apply_filter(pilot, app, "udp and and")
        assert "syntax error" in filter_error(app)
        assert app.screen.filter_bar.is_open and packet_list.rows == arp
        assert f"{arp:,} of {PACKETS:,} packets match arp" in status(app)
        await pilot.press("escape")  # closes the bar, the filter stays
        await pilot.pause()
        assert not app.screen.filter_bar.is_open and packet_list.rows == arp

    run(open_store(mixed_pcap), scenario, size=TALL)


def marked_numbers(packet_list) -> list[int]:
    """The marked packets' numbers, as an export takes them (the selection PacketMarks builds)."""
    selection = packet_list.marks.selection()
    return [number for start in range(0, len(selection), 4096) for number in selection.numbers(start, 4096)]


def test_marks_by_space_shift_movement_and_range_survive_filter_changes(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("space", "down", "shift+down", "shift+down")  # 0, then 1 to 3
        await pilot.press("m", *"100-104", "enter")
        await pilot.pause()
        marked = {0, 1, 2, 3, 99, 100, 101, 102, 103}
        assert "9 marked" in status(app)
        await apply_filter(pilot, app, "arp")  # packets 4, 9, …: 4 is the first shown
        await pilot.press("home", "space", "shift+down")  # 4, 9
        marked |= {4, 9}
        assert "11 marked" in status(app)
        await apply_filter(pilot, app, "")
        assert marked_numbers(packet_list) == [*range(0, 5), 9, *range(99, 104)]
        await pilot.press("home")
        await pilot.pause()
        drawn = [packet_list.render_line(y).text.split() for y in range(1, 12)]
        assert [int(cells[1]) - 1 for cells in drawn if cells[0] == MARK_GLYPH] == sorted(n for n in marked if n < 11)
        await pilot.press("space")  # unmarks 0
        await pilot.pause()
        assert "10 marked" in status(app)
        await apply_filter(pilot, app, "icmp")
        await pilot.press("M")  # every displayed one: a fifth of the packets
        await pilot.pause()
        marked.discard(0)
        icmp = set(range(1, PACKETS, 5))
        assert f"{len(marked | icmp):,} marked" in status(app)
        assert marked_numbers(packet_list) == sorted(marked | icmp)
        await pilot.press("U")
        await pilot.pause()
        assert "marked" not in status(app) and not len(packet_list.marks)

    run(open_store(mixed_pcap), scenario, size=TALL)


class HeldFilter:
    """A display filter that waits for `release` after each chunk it examined: a long run, held in progress."""

    def __init__(self, display_filter, release: threading.Event) -> None:
        self.inner, self.release = display_filter, release
        self.expression, self.language = display_filter.expression, display_filter.language

    @property
    def selection(self):
        return self.inner.selection

    def run(self, chunk: int = 65536):
        for examined in self.inner.run(chunk):
            yield examined
            self.release.wait(10)


def test_escape_stops_a_filter_in_progress_and_the_filter_shown_stays(mixed_pcap):
    store = open_store(mixed_pcap)
    release = threading.Event()
    compile_filter = store.compile_filter
    store.compile_filter = lambda expression, language="bpf": HeldFilter(compile_filter(expression, language),
                                                                          release)

    async def scenario(app, pilot, packet_list):
        await apply_filter(pilot, app, "arp")
        release.clear()
        await pilot.press("backslash")
        app.screen.filter_bar.input.value = "udp"
        await pilot.press("enter")
        await pilot.pause(0.2)
        assert app.screen.query_one("#task-progress").has_class("-shown")
        await pilot.press("escape")
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.screen.query_one("#task-progress").has_class("-shown")
        assert f"{PACKETS // 5:,} of {PACKETS:,} packets match arp" in status(app)
        assert packet_list.rows == PACKETS // 5

    release.set()
    run(store, scenario, size=TALL)


def test_marks_of_evicted_packets_go_with_them():
    store = ListStore([(FIRST_TS_S * 10**9 + index, mixed_frame(index)) for index in range(100)], format="live",
                      done=False)

    async def scenario(app, pilot, packet_list):
        await pilot.press("m", *"1-10", "enter")
        await pilot.pause()
        assert "10 marked" in status(app)
        store.evict(4)  # a spool at its limit
        await pilot.pause(0.4)
        assert "6 marked" in status(app) and marked_numbers(packet_list) == list(range(4, 10))

    run(store, scenario)


def test_filtered_list_with_marks_and_a_bad_filter_fits_80x24(snap_compare, tmp_path):
    path = write_mixed_pcap(tmp_path / "mixed.pcap", 200)

    async def filter_mark_and_mistype(pilot):
        await pilot.pause()
        await apply_filter(pilot, pilot.app, "udp")
        await pilot.press("down", "space", "down", "down", "shift+down")
        await pilot.press("backslash")
        pilot.app.screen.filter_bar.input.cursor_blink = False  # the snapshot must not catch it half-way
        pilot.app.screen.filter_bar.input.value = "udp and and"
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(ReadApp(open_store(path), "mixed.pcap"), terminal_size=(80, 24),
                        run_before=filter_mark_and_mistype)


def test_without_tshark_the_wireshark_option_says_what_to_install(mixed_pcap, monkeypatch):
    monkeypatch.setattr(filter_bar, "tshark_installed", lambda: False)

    async def scenario(app, pilot, packet_list):
        await pilot.press("backslash", "ctrl+t", "ctrl+t")  # detect -> BPF -> Wireshark
        await pilot.pause()
        language = str(app.screen.query_one("#display-filter-language").content)
        assert "[Wireshark]" in language and "install" in language and "tshark" in language

    run(open_store(mixed_pcap), scenario, size=TALL)
