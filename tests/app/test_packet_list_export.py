"""Export from the packet list, driven by Pilot: marked, displayed and all packets of a file, read back by tshark
and tcpdump (exactly those packets: count, bytes, timestamps); a full disk (a notification, nothing under the
name); and from the dashboard's live list on a veth pair while capture goes on."""
from __future__ import annotations

import os
import subprocess
import threading

import netns
import test_packet_list
from packet_files import FIRST_TS_S, STEP_US, mixed_frame
from readback import tshark_read
from test_dashboard_capture import open_screen, run_dashboard_on, wait_for, watching_a
from test_packet_list import PACKETS, open_store, run, status
from test_packet_list_filter import apply_filter, tcpdump_numbers
from textual.widgets import Input, RadioButton, RadioSet

from ringmon.screens.export_dialog import ExportDialog
from ringmon.screens.packet_list_screen import PacketListScreen

SIZE = (110, 40)

mixed_pcap = test_packet_list.mixed_pcap  # the same file, one fixture


def mixed_ts_ns(number: int) -> int:
    return (FIRST_TS_S * 10**6 + number * STEP_US) * 1000


def export_notes(app) -> list[str]:
    return [str(note.message) for note in app._notifications if note.title == "export"]


async def export(pilot, app, path, which: str, fmt: str = "pcapng", numbers: str = "") -> list[str]:
    """e, then the dialog answered: which packets, the format, the range, the path; enter. The export
    notifications then (they expire after a few seconds)."""
    await pilot.pause()
    await pilot.press("e")
    await pilot.pause()
    dialog = app.screen
    assert isinstance(dialog, ExportDialog)
    for radio_set, name in (("#export-which", which), ("#export-format", fmt)):
        next(button for button in dialog.query_one(radio_set, RadioSet).query(RadioButton)
             if button.name == name).value = True
    await pilot.pause()
    dialog.query_one("#export-range", Input).value = numbers
    path_input = dialog.query_one("#export-path", Input)
    path_input.value = str(path)
    path_input.focus()
    await pilot.press("enter")
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()
    return export_notes(app)


def tcpdump_count(path) -> int:
    done = subprocess.run(["tcpdump", "-r", str(path), "-n"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return len(done.stdout.splitlines())


def assert_file_holds(path, numbers: list[int]) -> None:
    """tshark and tcpdump read exactly these packets of the mix, with their bytes and timestamps."""
    packets = tshark_read(path)
    assert [packet.frame for packet in packets] == [mixed_frame(number) for number in numbers]
    assert [packet.ts_ns for packet in packets] == [mixed_ts_ns(number) for number in numbers]
    assert tcpdump_count(path) == len(numbers)
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_export_marked_displayed_and_all_writes_exactly_those_packets(mixed_pcap, tmp_path):
    expression = "udp port 9000"
    matching = tcpdump_numbers(mixed_pcap, expression)

    async def scenario(app, pilot, packet_list):
        await pilot.press("space", "down", "down", "shift+down")  # 0, 2, 3
        await pilot.press("m", *"2001-2003", "enter")
        await pilot.pause()
        notes = await export(pilot, app, tmp_path / "marked.pcapng", "marked")
        assert notes[-1].startswith("6 packets") and notes[-1].endswith("marked.pcapng")
        await apply_filter(pilot, app, expression)
        notes = await export(pilot, app, tmp_path / "displayed.pcap", "displayed", "pcap")
        assert notes[-1].startswith(f"{len(matching):,} packets")
        notes = await export(pilot, app, tmp_path / "all.pcapng", "all", "pcap-ns")
        assert notes[-1].startswith(f"{PACKETS:,} packets")
        await export(pilot, app, tmp_path / "range.pcapng", "range", numbers="11-20")
        await export(pilot, app, tmp_path / "marked.pcapng", "marked")  # the name is taken: said in the dialog
        assert "exists" in str(app.screen.query_one("#export-error").content)
        await pilot.press("escape")

    run(open_store(mixed_pcap), scenario, size=SIZE)
    assert_file_holds(tmp_path / "marked.pcapng", [0, 2, 3, 2000, 2001, 2002])
    assert_file_holds(tmp_path / "displayed.pcap", matching)
    assert_file_holds(tmp_path / "all.pcapng", list(range(PACKETS)))
    assert_file_holds(tmp_path / "range.pcapng", list(range(10, 20)))


def test_export_to_a_full_disk_says_so_in_one_line_and_leaves_nothing_under_the_name(mixed_pcap, small_disk):
    target = small_disk / "all.pcapng"

    async def scenario(app, pilot, packet_list):
        notes = await export(pilot, app, target, "all")
        assert len(notes) == 1 and "\n" not in notes[0] and "the disk is full" in notes[0], notes
        assert any(note.severity == "error" for note in app._notifications)

    run(open_store(mixed_pcap), scenario, size=SIZE)
    assert not target.exists() and os.listdir(small_disk) == []


def test_export_from_the_live_list_while_capture_goes_on(veth_pair, tmp_path):
    monitor = watching_a(veth_pair)
    burst, frame_size = 200, 150
    frames = veth_pair.frames_to_a(range(2 * burst), frame_size)
    path = tmp_path / "live.pcapng"
    interfaces: list[str] = []

    def send(seqs: range) -> None:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, [frames[seq] for seq in seqs], pace_us=50)

    async def scenario(app, pilot):
        screen = await open_screen(pilot, "l", PacketListScreen)
        packet_list = screen.packet_list
        send(range(burst))
        await wait_for(pilot, lambda: packet_list.rows >= burst, "the first burst in the list")
        await apply_filter(pilot, app, f"udp and src host {veth_pair.ip_b}")
        await wait_for(pilot, lambda: packet_list.rows == burst, "the burst's packets matching")
        send(range(burst, 2 * burst))  # captured while the export is asked for and written
        notes = await export(pilot, app, path, "displayed")
        assert len(notes) == 1 and "written to" in notes[0]
        await wait_for(pilot, lambda: packet_list.rows == 2 * burst, "new packets that match, as they arrive")
        assert f"{2 * burst:,} of" in status(app)
        interfaces.extend(interface.name for interface in packet_list.interfaces)

    run_dashboard_on(monitor, scenario)
    packets = tshark_read(path)
    assert burst <= len(packets) <= 2 * burst
    assert [packet.frame for packet in packets] == frames[:len(packets)]
    assert {packet.interface for packet in packets} == set(interfaces) and len(interfaces) == 1
    assert tcpdump_count(path) == len(packets)


def test_the_palette_offers_the_lists_commands_and_export_opens_the_dialog(mixed_pcap):
    async def scenario(app, pilot, packet_list):
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"Export")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ExportDialog)

    run(open_store(mixed_pcap), scenario, size=SIZE)


def test_escape_stops_an_export_in_progress_and_nothing_is_left(mixed_pcap, tmp_path):
    store = open_store(mixed_pcap)
    release = threading.Event()
    export_all = store.export

    def held_export(path, fmt="pcapng", numbers=None, progress=None):
        def held(done: int, total: int) -> None:
            progress(done, total)
            release.wait(10)
            progress(done, total)  # the next chunk's call: the export sees it was stopped meanwhile

        return export_all(path, fmt, numbers, progress=held)

    store.export = held_export
    target = tmp_path / "stopped.pcapng"

    async def scenario(app, pilot, packet_list):
        await pilot.press("e")
        await pilot.pause()
        path_input = app.screen.query_one("#export-path", Input)
        path_input.value = str(target)
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert app.screen.query_one("#task-progress").has_class("-shown")
        await pilot.press("q")  # not while it is written
        await pilot.pause()
        assert isinstance(app.screen, PacketListScreen)
        await pilot.press("escape")
        release.set()
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert export_notes(app) == ["export stopped: no file written"]

    run(store, scenario, size=SIZE)
    assert os.listdir(tmp_path) == []
