"""PacketStore.open_file on files real tools wrote (tcpdump on a veth pair; tshark, editcap and mergecap
converting them): the store's index agrees with tshark and capinfos on every packet's time (ns), lengths,
bytes, interface and link type, and its comments; files it cannot read raise one line."""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess

import pytest

import netns
from readback import TSHARK_TIMEOUT_S, tshark_fields, tshark_read
from ringcore import _binding as rc
from ringcore import MAX_BATCH, CaptureFileError, PacketStore, StoredPacket

FRAMES = 300  # enough for packets of every size the sender varies over, few enough for tshark's JSON
COMMENTED_FRAME = 7  # editcap counts frames from 1
LINKTYPE_OF_ENCAPSULATION = {"ether": 1, "rawip": 101}
PIPE_BUFFER_BYTES = 65536  # Linux's default
STREAM_WAITS = 50  # of 0.2 s: far more than indexing half a small file takes


def _tool(*argv: str) -> None:
    netns.require(shutil.which(argv[0]) is not None, f"{argv[0]} writes the files read here")
    done = subprocess.run(argv, capture_output=True, text=True, timeout=TSHARK_TIMEOUT_S)
    assert done.returncode == 0, f"{argv}: {done.stderr}"


@pytest.fixture(scope="module")
def captured(tmp_path_factory) -> dict[str, object]:
    """A tcpdump capture of a veth pair and the forms tools make of it: name -> path."""
    directory = tmp_path_factory.mktemp("store-file")
    pcap = directory / "tcpdump.pcap"
    with netns.veth_pair() as pair:
        frames = pair.frames_to_a(range(FRAMES))
        with netns.tcpdump_alongside(pair.ns_a, pair.if_a, "udp", str(pcap)):
            netns.send_frames(pair.ns_b, pair.if_b, frames)
    files = {"pcap": pcap, "pcap-ns": directory / "nsec.pcap", "raw-ip": directory / "raw.pcap",
             "pcapng": directory / "merged.pcapng", "pcapng-comment": directory / "commented.pcapng"}
    _tool("tshark", "-r", str(pcap), "-F", "nsecpcap", "-w", str(files["pcap-ns"]))
    _tool("editcap", "-T", "rawip", str(pcap), str(files["raw-ip"]))  # same bytes, another link type
    # two interfaces of their own link types, packets interleaved by time
    _tool("mergecap", "-F", "pcapng", "-w", str(files["pcapng"]), str(files["pcap-ns"]), str(files["raw-ip"]))
    _tool("editcap", "-a", f"{COMMENTED_FRAME}:caf\u00e9 \x1b[31m comment", str(files["pcapng"]),
          str(files["pcapng-comment"]))
    return files


def _all_packets(store: PacketStore) -> list[StoredPacket]:
    progress = store.wait()
    assert progress.done and progress.error is None, progress.error
    packets: list[StoredPacket] = []
    while batch := store.packets(len(packets), MAX_BATCH):
        packets += batch
    assert len(packets) == progress.count
    return packets


def _capinfos_interfaces(path) -> list[tuple[int, int]]:
    """(pcap LINKTYPE, snap length) of each interface capinfos finds (it names Wireshark's encapsulations)."""
    done = subprocess.run(["capinfos", "-M", "-I", str(path)], capture_output=True, text=True, timeout=TSHARK_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    found = re.findall(r"^\s+Encapsulation = .*\(\d+ - (\w+)\)\n\s+Capture length = (\d+)$", done.stdout, re.MULTILINE)
    assert len(found) == int(re.search(r"^Number of interfaces in file: (\d+)$", done.stdout, re.MULTILINE)[1])
    return [(LINKTYPE_OF_ENCAPSULATION[name], int(snaplen)) for name, snaplen in found]


@pytest.mark.parametrize("form", ["pcap", "pcap-ns", "raw-ip", "pcapng", "pcapng-comment"])
def test_every_packet_of_a_real_file_agrees_with_tshark(captured, form):
    path = captured[form]
    with PacketStore.open_file(str(path)) as store:
        packets = _all_packets(store)
        interfaces = store.interfaces()
    expected = tshark_read(path)
    assert len(packets) == len(expected) >= FRAMES
    assert [(p.ts_ns, p.wirelen, p.data) for p in packets] == [(e.ts_ns, e.wirelen, e.frame) for e in expected]
    if form.startswith("pcapng"):
        assert [str(p.interface) for p in packets] == [fields[0] for fields in tshark_fields(path, "frame.interface_id")]
    assert [(interface.linktype, interface.snaplen) for interface in interfaces] == _capinfos_interfaces(path)


def _read_one_by_one(store: PacketStore, number: int) -> StoredPacket | None:
    """Packet `number` read as packets() did before it read in batches: its entry, then its bytes (rc_store_read)."""
    entry = rc.StoreEntry()
    if rc.lib.rc_store_entries(store.handle, number, ctypes.byref(entry), 1) != 1:
        return None
    data = ctypes.create_string_buffer(entry.caplen)
    assert rc.lib.rc_store_read(store.handle, number, data, entry.caplen) == entry.caplen
    return StoredPacket(number, entry.ts_ns, entry.caplen, entry.wirelen, entry.interface, entry.flags, data.raw)


def test_packets_read_in_one_batch_equal_the_same_packets_read_one_by_one_wherever_the_batch_starts_and_ends(
        captured):
    with PacketStore.open_file(str(captured["pcapng-comment"])) as store:
        count = store.wait().count
        one_by_one = [_read_one_by_one(store, number) for number in range(count)]
        assert all(one_by_one) and len({packet.caplen for packet in one_by_one}) > 10  # sizes vary
        for start, wanted in [(0, MAX_BATCH), (0, 1), (1, 7), (count - 3, 10), (count - 1, 1), (5, 0), (count, 5),
                              (count + 100, MAX_BATCH)]:
            assert store.packets(start, wanted) == one_by_one[start:start + wanted], (start, wanted)


def test_a_packet_comment_reads_back_as_tshark_shows_it_and_others_have_none(captured):
    path = captured["pcapng-comment"]
    with PacketStore.open_file(str(path)) as store:
        packets = _all_packets(store)
        comments = [store.comment(packet.number) for packet in packets]
    shown = [fields[0] or None for fields in tshark_fields(path, "frame.comment")]
    assert comments == shown
    assert [packet.has_comment for packet in packets] == [comment is not None for comment in shown]
    assert comments[COMMENTED_FRAME - 1] == "caf\u00e9 \x1b[31m comment"  # raw: the UI escapes it


def test_progress_reaches_the_file_size_and_the_format_is_named(captured):
    with PacketStore.open_file(str(captured["pcap-ns"])) as store:
        progress = store.wait()
    size = captured["pcap-ns"].stat().st_size
    assert (progress.format, progress.bytes_done, progress.bytes_total) == ("pcap-ns", size, size)


@pytest.mark.parametrize("content, says", [
    (b"", "the file is empty, not a capture"),
    (b"<html>", "not a capture file (neither pcap nor pcapng)"),
    (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00",
     "truncated at offset 0: tried to read 24 bytes of the pcap file header, only got 10")])
def test_a_file_that_is_not_a_capture_raises_one_line_naming_it(tmp_path, content, says):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    with pytest.raises(CaptureFileError) as raised:
        PacketStore.open_file(str(path))
    assert str(raised.value) == f"{path}: {says}"


def test_a_truncated_file_keeps_the_packets_before_the_cut_and_says_where(captured, tmp_path):
    content = captured["pcapng"].read_bytes()
    with PacketStore.open_file(str(captured["pcapng"])) as store:
        whole = store.wait().count
    path = tmp_path / "cut.pcapng"
    path.write_bytes(content[:-5])
    with PacketStore.open_file(str(path)) as store:
        progress = store.wait()
    last_block = int.from_bytes(content[-4:], "little")  # its length, repeated at its end
    at = len(content) - last_block
    assert progress.done and progress.count == whole - 1
    assert progress.error == f"truncated at offset {at}: tried to read {last_block} bytes of a block, only got {last_block - 5}"
    assert progress.error_offset == at


@pytest.mark.parametrize("header, says", [
    (b"\xd4\xc3\xb2\xa1" + bytes(16), "tried to read 24 bytes of the pcap file header, only got 20"),
    (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00\x4d\x3c\x2b\x1a", "tried to read 28 bytes of the section header, only got 12")])
def test_a_stream_that_ends_inside_its_file_header_is_refused_at_open(header, says):
    reader, writer = os.pipe()
    try:
        os.write(writer, header)
        os.close(writer)
        path = f"/proc/self/fd/{reader}"  # the pipe: read as a stream, up to its end
        with pytest.raises(CaptureFileError) as raised:
            PacketStore.open_file(path)
        assert str(raised.value) == f"{path}: truncated at offset 0: {says}"
    finally:
        os.close(reader)


def test_a_fifo_is_indexed_as_it_arrives_and_done_once_its_writer_leaves(captured, tmp_path):
    content = captured["pcap"].read_bytes()
    with PacketStore.open_file(str(captured["pcap"])) as store:
        whole = store.wait().count
    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    writer = os.open(fifo, os.O_RDWR)  # a writer first, so opening it to read does not block
    try:
        half = min(len(content) // 2, PIPE_BUFFER_BYTES // 2)  # written before anyone reads: fits the pipe
        os.write(writer, content[:half])
        with PacketStore.open_file(str(fifo)) as store:
            for _ in range(STREAM_WAITS):  # the indexer publishes what it has once it waits for more
                progress = store.wait(0.2)
                if progress.count:
                    break
            assert not progress.done and 0 < progress.count < whole and progress.bytes_total == 0
            assert store.packet(progress.count - 1) is not None
            os.write(writer, content[half:])
            os.close(writer)
            writer = None
            progress = store.wait()
            assert (progress.done, progress.error, progress.count) == (True, None, whole)
            assert progress.bytes_total == progress.bytes_done == len(content)
    finally:
        if writer is not None:
            os.close(writer)
