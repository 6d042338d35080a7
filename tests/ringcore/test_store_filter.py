"""Display filters and export over a PacketStore: BPF counts equal tcpdump's, Wireshark filters equal tshark -Y's,
bad filters are one line, selections answer by position, and a live store exports exactly the selected packets
while the capture goes on."""
from __future__ import annotations

import struct
import subprocess

import psutil
import pytest
from readback import tshark_read

import capture_files
import decode_frames
import netns
from ringcore import FilterError, Monitor, PacketSelection, PacketStore, RingcoreError, StoreOptions
from test_capture import wait_for
from test_store_live import UDP_ONLY, all_packets

PACKETS = 300
TOOL_TIMEOUT_S = 60


@pytest.fixture
def frames_file(tmp_path):
    """Every Ethernet frame the decode tests know, round and round: a file tcpdump and tshark read too."""
    frames = [frame for linktype, frame in decode_frames.frames().values()
              if linktype == decode_frames.LINKTYPE_ETHERNET]
    path = tmp_path / "frames.pcap"
    path.write_bytes(capture_files.pcap([frames[index % len(frames)] for index in range(PACKETS)]))
    return path


def _matches(store: PacketStore, expression: str, language: str = "bpf") -> list[int]:
    display_filter = store.compile_filter(expression, language)
    for _ in display_filter.run():
        pass
    selection = display_filter.selection
    return [number for start in range(0, len(selection), 4096) for number in selection.numbers(start, 4096)]


def _tool_frame_numbers(*command: str) -> list[int]:
    done = subprocess.run(command, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    return [int(line) - 1 for line in done.stdout.split()]


@pytest.mark.parametrize("expression", ["tcp", "port 53", "icmp or arp", "ip6 and not tcp", "vlan", "greater 120"])
def test_a_bpf_display_filter_matches_the_packets_tcpdump_matches(frames_file, expression):
    done = subprocess.run(["tcpdump", "-r", str(frames_file), "-tt", "-n", expression], capture_output=True,
                          text=True, timeout=TOOL_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    # each packet's microseconds are its index in the file (capture_files.pcap)
    expected = [int(line.split()[0].split(".")[1]) for line in done.stdout.splitlines()]
    with PacketStore.open_file(str(frames_file)) as store:
        store.wait()
        assert expected and _matches(store, expression) == expected


@pytest.mark.parametrize("expression", ["http.request", "dns", "tcp.flags.syn == 1", 'tls.handshake.extensions_server_name '
                                        'contains "example"'])
def test_a_wireshark_display_filter_matches_the_frames_tshark_matches(frames_file, expression):
    expected = _tool_frame_numbers("tshark", "-n", "-r", str(frames_file), "-Y", expression, "-T", "fields", "-e",
                                   "frame.number")
    with PacketStore.open_file(str(frames_file)) as store:
        assert expected and _matches(store, expression, "wireshark") == expected


def test_a_wireshark_filter_stopped_part_way_ends_tshark(frames_file):
    with PacketStore.open_file(str(frames_file)) as store:
        steps = store.compile_filter("frame", "wireshark").run()
        next(steps)
        tsharks = [child for child in psutil.Process().children() if child.name() == "tshark"]
        assert len(tsharks) == 1
        steps.close()  # cancelled
        assert not psutil.pid_exists(tsharks[0].pid)  # killed and reaped


def test_a_bad_filter_raises_filter_error_at_once_with_the_tools_message(frames_file):
    with PacketStore.open_file(str(frames_file)) as store:
        with pytest.raises(FilterError, match="syntax error"):
            store.compile_filter("tcp and (")
        with pytest.raises(FilterError, match="neither a field nor a protocol"):
            store.compile_filter("nosuchprotocol.field", "wireshark")
        with pytest.raises(RingcoreError, match="unknown filter language"):
            store.compile_filter("tcp", "perl")


def test_without_tshark_a_wireshark_filter_says_what_to_install(frames_file, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with PacketStore.open_file(str(frames_file)) as store:
        with pytest.raises(FilterError, match=r"install it \(Debian package tshark\)"):
            store.compile_filter("dns", "wireshark")


def test_a_run_stopped_part_way_keeps_its_matches_and_a_later_run_goes_on_from_there(frames_file):
    with PacketStore.open_file(str(frames_file)) as store:
        store.wait()
        display_filter = store.compile_filter("tcp")
        steps = display_filter.run(chunk=100)
        assert next(steps) == 100
        steps.close()  # cancelled
        first_part = len(display_filter.selection)
        assert first_part == len([number for number in _matches(store, "tcp") if number < 100])
        assert list(display_filter.run(chunk=100)) == [200, 300]
        assert len(display_filter.selection) == len(_matches(store, "tcp"))
        assert list(display_filter.run()) == []  # nothing new in a file


def test_a_selection_answers_by_position_and_refuses_numbers_out_of_order():
    selection = PacketSelection.from_numbers([1, 4, range(10, 13), 20])
    assert len(selection) == 6 and selection.numbers(0, 10) == [1, 4, 10, 11, 12, 20]
    assert selection.numbers(4, 2) == [12, 20] and selection.position(5) == 2 and selection.position(21) == 6
    assert 11 in selection and 13 not in selection and -1 not in selection
    assert selection.first(3).numbers(0, 10) == [1, 4, 10]
    with pytest.raises(RingcoreError, match="ascend"):
        PacketSelection.from_numbers([3, 2])
    with pytest.raises(RingcoreError, match="ascend"):
        PacketSelection.from_numbers([5, range(5, 8)])


def test_a_selection_sets_the_bits_of_its_numbers_in_a_bitmap_and_none_beyond_its_end_and_is_made_from_one():
    selection = PacketSelection.from_numbers([1, 4, range(10, 13), 20, 1000])
    bitmap = bytearray(b"\x80\x00")  # 7 already set: kept
    assert selection.set_bits(bitmap, 1, 6) == 4  # 4, 10, 11, 12; 20 lies beyond the bitmap's 16 bits
    assert bitmap == bytes([0x80 | 1 << 4, 1 << 2 | 1 << 3 | 1 << 4])
    assert selection.set_bits(bitmap, 0, 1) == 1 and bitmap[0] == 0x80 | 1 << 4 | 1 << 1
    assert selection.set_bits(bitmap, 3, 3) == 0 and selection.set_bits(bytearray(), 0, 7) == 0
    bitmap.append(0)  # resizable again once the call returned
    large = bytearray(126)
    assert selection.set_bits(large, 0, 100) == 7 and large[125] == 1 << 0
    assert PacketSelection.from_bitmap(large).numbers(0, 10) == [1, 4, 10, 11, 12, 20, 1000]
    assert len(PacketSelection.from_bitmap(bytes(3))) == 0
    assert PacketSelection.from_bitmap(b"\xff" * 2 + b"\x80").numbers(0, 20) == [*range(16), 23]


def test_an_export_of_a_selection_holds_exactly_those_packets(frames_file, tmp_path):
    with PacketStore.open_file(str(frames_file)) as store:
        store.wait()
        wanted = [3, 4, 5, 99, 150, 299]
        out = tmp_path / "some.pcapng"
        seen = []
        result = store.export(str(out), "pcapng", [range(3, 6), 99, 150, 299, 5000],
                              progress=lambda done, total: seen.append((done, total)))
        assert result.packets == len(wanted) and result.bytes == out.stat().st_size
        assert seen and seen[-1] == (len(wanted), len(wanted) + 1)  # 5000 was never stored: left out
        expected = [store.packet(number) for number in wanted]
        assert [(packet.ts_ns, packet.frame) for packet in tshark_read(out)] == \
            [(packet.ts_ns, packet.data) for packet in expected]


def test_a_progress_callback_that_raises_cancels_and_leaves_no_file(frames_file, tmp_path):
    def stop(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with PacketStore.open_file(str(frames_file)) as store:
        store.wait()
        with pytest.raises(KeyboardInterrupt):
            store.export(str(tmp_path / "x.pcapng"), progress=stop)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["frames.pcap"]


def test_a_live_store_filters_and_exports_exactly_the_selected_packets_while_the_capture_goes_on(veth_pair,
                                                                                                    tmp_path):
    """Two kinds of frames arrive interleaved while a filter picks one kind and the export writes them: the
    file holds exactly the selected packets, byte for byte, read back by tshark; a Wireshark filter over the
    live store (through a temporary export) picks the same ones."""
    wanted_port, other_port = 1111, 2222
    frames = [frame for seq in range(2000) for frame in
              (veth_pair.frames_to_a([seq], src_port=wanted_port if seq % 2 else other_port))]
    monitor = Monitor(store=StoreOptions(directory=str(tmp_path)))
    try:
        monitor.plug(veth_pair.if_a, UDP_ONLY, netns=veth_pair.ns_a)
        sender = netns.Sender(veth_pair.ns_b, veth_pair.if_b, frames, pace_us=200)
        sender.start()
        try:
            store = monitor.store
            assert wait_for(lambda: store.progress().count >= 200)
            display_filter = store.compile_filter(f"udp src port {wanted_port}")
            for _ in display_filter.run(chunk=64):
                pass
            selection = display_filter.selection
            out = tmp_path / "live.pcapng"
            result = store.export(str(out), "pcapng", selection)
            assert sender.is_alive(), "the capture should still be going on"
        finally:
            sender.finish()
        assert result.packets == len(selection) > 0
        stored = {packet.number: packet for packet in all_packets(store)}
        expected = [stored[number] for number in selection.numbers(0, len(selection))]
        assert all(struct.unpack("!H", packet.data[34:36])[0] == wanted_port for packet in expected)
        assert [(packet.ts_ns, packet.frame) for packet in tshark_read(out)] == \
            [(packet.ts_ns, packet.data) for packet in expected]

        # the rest of the capture: examined by a later run, and tshark's filter agrees over the live store
        assert wait_for(lambda: store.progress().count == len(frames))
        for _ in display_filter.run():
            pass
        bpf_matches = selection.numbers(0, 4096)
        assert len(bpf_matches) == len(frames) // 2
        assert _matches(store, f"udp.srcport == {wanted_port}", "wireshark") == bpf_matches
    finally:
        monitor.close()
