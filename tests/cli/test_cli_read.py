"""`ringmon capture -r`: pcap and pcapng files written by other tools (dpkt), good, filtered, broken."""
import re
import struct
import subprocess
import time

import dpkt
import pytest
from cli_process import assert_one_error_line, run_ringmon

import capture_files
import netns
from ringcore import PacketStore
from capture_files import OPT_COMMENT, OPT_IF_NAME, OPT_IF_TSOFFSET, OPT_IF_TSRESOL

MAC_A, MAC_B = "02:00:c6:12:00:01", "02:00:c6:12:00:02"
TS_S = 1_700_000_000


def _frames(count: int, **fields) -> list[bytes]:
    return [netns.make_frame(seq, 60 + seq * 13, MAC_B, MAC_A, **fields) for seq in range(count)]


def _write_pcap(path, frames: list[bytes], nanoseconds: bool = False) -> None:
    with open(path, "wb") as stream:
        writer = dpkt.pcap.Writer(stream, nano=nanoseconds)
        for seq, frame in enumerate(frames):
            writer.writepkt(frame, ts=TS_S + seq / 1000)


def _write_pcapng(path, frames_by_interface: dict[bytes, list[bytes]]) -> None:
    """A pcapng with one interface block per name, each packet an enhanced block on its interface."""
    blocks = [bytes(dpkt.pcapng.SectionHeaderBlockLE())]
    packets = []
    for ifid, (name, frames) in enumerate(frames_by_interface.items()):
        blocks.append(bytes(dpkt.pcapng.InterfaceDescriptionBlockLE(
            linktype=dpkt.pcap.DLT_EN10MB, snaplen=65535,
            opts=[dpkt.pcapng.PcapngOptionLE(code=2, data=name), dpkt.pcapng.PcapngOptionLE(code=0)])))
        packets += [(ifid, frame) for frame in frames]
    for tick, (ifid, frame) in enumerate(packets):
        blocks.append(bytes(dpkt.pcapng.EnhancedPacketBlockLE(
            iface_id=ifid, ts_high=0, ts_low=tick, caplen=len(frame), pkt_len=len(frame), pkt_data=frame)))
    path.write_bytes(b"".join(blocks))


@pytest.mark.parametrize("nanoseconds", [False, True], ids=["pcap", "pcap-ns"])
def test_reading_a_pcap_prints_every_packet_in_order(tmp_path, nanoseconds):
    frames = _frames(20)
    _write_pcap(tmp_path / "in.pcap", frames, nanoseconds)
    result = run_ringmon("capture", "-r", str(tmp_path / "in.pcap"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode("ascii").splitlines()
    # tcpdump's line: the UDP payload's length, and no interface (a pcap names none, its file name is none)
    assert [int(re.search(r"length (\d+)$", line)[1]) for line in lines] == [len(frame) - 42 for frame in frames]
    assert all(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{6} IP 198\.18\.0\.2\.40000 > 198\.18\.0\.1\.40001: UDP, length \d+", line)
               for line in lines), lines
    assert result.stderr == ""


def test_reading_a_pcapng_of_several_interfaces_shows_the_interface_of_each_packet(tmp_path):
    _write_pcapng(tmp_path / "in.pcapng", {b"left": _frames(3), b"right": _frames(2)})
    result = run_ringmon("capture", "-r", str(tmp_path / "in.pcapng"))
    assert result.returncode == 0, result.stderr
    interfaces = [line.split()[1] for line in result.stdout.decode("ascii").splitlines()]
    assert interfaces == ["left", "left", "left", "right", "right"]


@pytest.mark.parametrize("name, shown", [
    (b"eth\x1b[31m0\r", r"eth\x1b[31m0\x0d"),
    (b"osc\x1b]0;pwned\x07", r"osc\x1b]0;pwned\x07"),
    ("c1\x9b31m\x85".encode(), r"c1\x9b31m\x85"),  # C1 controls as characters
    (b"raw\x9b\x85\xff\xfe", r"raw\x9b\x85\xff\xfe"),  # and as bytes that are not UTF-8
    ("bidi\u202e\u2066x\u2069".encode(), r"bidi\u202e\u2066x\u2069"),
], ids=["csi", "osc", "c1", "not-utf8", "bidi"])
def test_reading_escapes_a_hostile_interface_name_from_the_file(tmp_path, name, shown):
    _write_pcapng(tmp_path / "in.pcapng", {name: _frames(1), b"other": _frames(1)})  # several: names shown
    result = run_ringmon("capture", "-r", str(tmp_path / "in.pcapng"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("ascii").split()[1] == shown


def test_dash_reads_the_capture_from_standard_input(tmp_path):
    _write_pcap(tmp_path / "in.pcap", _frames(4))
    result = run_ringmon("capture", "-r", "-", stdin=(tmp_path / "in.pcap").read_bytes())
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 4


def test_filter_applies_to_a_file_as_tcpdump_does(tmp_path):
    frames = [netns.make_frame(seq, 100, MAC_B, MAC_A, dst_port=40001 + seq % 3) for seq in range(30)]
    _write_pcap(tmp_path / "in.pcap", frames)
    result = run_ringmon("capture", "-r", str(tmp_path / "in.pcap"), "-c", "5", "udp", "dst", "port", "40003")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.decode("ascii").splitlines()
    assert len(lines) == 5 and all("> 198.18.0.1.40003:" in line for line in lines)


@pytest.mark.parametrize("name", ["in.pcap", "in.pcapng"])
def test_truncated_file_prints_its_whole_packets_then_one_error_line(tmp_path, name):
    path = tmp_path / name
    frames = _frames(10)
    if name.endswith("ng"):
        _write_pcapng(path, {b"eth0": frames})
    else:
        _write_pcap(path, frames)
    whole = path.read_bytes()
    path.write_bytes(whole[:-7])  # the last packet loses its end
    result = run_ringmon("capture", "-r", str(path))
    if name.endswith("ng"):
        last_block = int.from_bytes(whole[-4:], "little")  # its length, repeated at its end
        says = (f"truncated at offset {len(whole) - last_block}: "
                f"tried to read {last_block} bytes of a block, only got {last_block - 7}")
    else:
        says = (f"truncated at offset {len(whole) - 16 - len(frames[-1])}: "
                f"tried to read {len(frames[-1])} captured bytes, only got {len(frames[-1]) - 7}")
    assert_one_error_line(result, f"{path}: {says}")
    assert len(result.stdout.splitlines()) == 9


def test_exporting_a_damaged_file_writes_the_packets_before_the_damage_and_says_so_as_tcpdump(tmp_path):
    path, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    frames = _frames(10)
    _write_pcap(path, frames)
    path.write_bytes(path.read_bytes()[:-7])  # the last packet loses its end
    result = run_ringmon("read", str(path), "-w", str(out))
    assert result.returncode == 1
    assert result.stderr_lines[0] == f"ringmon: 9 packets written to {out} from the 9 before the damage"
    assert result.stderr_lines[1].startswith(f"ringmon: {path}: truncated at offset") and len(result.stderr_lines) == 2
    assert [packet for _, packet in dpkt.pcap.Reader(out.open("rb"))] == frames[:9]
    tcpdump = subprocess.run(["tcpdump", "-r", str(path), "-w", str(tmp_path / "tcpdump.pcap")], capture_output=True,
                             timeout=30)
    assert tcpdump.returncode == 1 and out.read_bytes() == (tmp_path / "tcpdump.pcap").read_bytes()


def test_exporting_a_file_damaged_before_its_first_packet_leaves_no_file(tmp_path):
    path, out = tmp_path / "in.pcap", tmp_path / "out.pcap"
    _write_pcap(path, _frames(1))
    path.write_bytes(path.read_bytes()[:24] + struct.pack("<IIII", 0, 0, 1 << 31, 1 << 31))
    assert_one_error_line(run_ringmon("read", str(path), "-w", str(out)), f"{path}: corrupt pcap at offset 24")
    assert list(tmp_path.iterdir()) == [path]


_COMMENTED_SECTION = capture_files.block(capture_files.SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
                                         + capture_files.options([(OPT_COMMENT, b"a section of 48 bytes")]))


@pytest.mark.parametrize("name, header, says", [
    ("tiny.pcap", capture_files.pcap([])[:10], "tried to read 24 bytes of the pcap file header, only got 10"),
    ("tiny.pcapng", capture_files.section_header()[:20], "tried to read 28 bytes of the section header, only got 20"),
    ("cut.pcapng", _COMMENTED_SECTION[:40], f"tried to read {len(_COMMENTED_SECTION)} bytes of the section header, only got 40"),
])
def test_a_file_cut_inside_its_own_header_is_one_error_line_as_an_empty_file_is(tmp_path, name, header, says):
    path = tmp_path / name
    path.write_bytes(header)
    for command in (["capture", "-r"], ["read"]):
        result = run_ringmon(*command, str(path))
        assert_one_error_line(result, f"{path}: truncated at offset 0: {says}")
        assert result.returncode == 1 and result.stdout == b""


@pytest.mark.parametrize("content", [b"", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" * 4], ids=["empty", "text"])
def test_a_file_that_is_not_a_capture_is_one_error_line(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    result = run_ringmon("capture", "-r", str(path))
    assert_one_error_line(result, str(path), "not a capture")
    assert result.stdout == b""


def test_a_missing_file_is_one_error_line(tmp_path):
    assert_one_error_line(run_ringmon("capture", "-r", str(tmp_path / "absent.pcap")), "No such file")


# Hostile files: each field at a value no honest writer uses. The reader must say what is wrong in one
# line (after printing the packets before it, as tcpdump does) or read the file as Wireshark does.

def _read(tmp_path, content: bytes, *extra: str):
    path = tmp_path / "hostile.pcapng"
    path.write_bytes(content)
    return path, run_ringmon("capture", "-r", str(path), *extra)


def _capinfos_count(path) -> int:
    done = subprocess.run(["capinfos", "-M", "-c", "-T", "-r", str(path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split("\t")[-1])


@pytest.mark.parametrize("resolution", [0x7F, 0xFF, 0x14, 0xC0], ids=["10^-127", "2^-127", "10^-20", "2^-64"])
def test_a_timestamp_resolution_beyond_64_bits_is_one_corrupt_line(tmp_path, resolution):
    content = (capture_files.section_header() + capture_files.interface([(OPT_IF_TSRESOL, bytes([resolution]))])
               + capture_files.enhanced_packet(_frames(1)[0], ticks=2**64 - 1))
    path, result = _read(tmp_path, content)
    assert_one_error_line(result, f"{path}: corrupt pcapng at offset 28: if_tsresol")
    assert result.stdout == b""


@pytest.mark.parametrize("offset_s, clamped_ns", [(2**63 - 1, 2**63 - 1), (-(2**63), -(2**63))], ids=["max", "min"])
def test_a_timestamp_offset_beyond_64_bit_nanoseconds_reads_every_packet_clamped_and_flagged(tmp_path, offset_s,
                                                                                           clamped_ns):
    frames = _frames(3)
    content = (capture_files.section_header()
               + capture_files.interface([(OPT_IF_TSOFFSET, struct.pack("<q", offset_s))])
               + b"".join(capture_files.enhanced_packet(frame, ticks=tick) for tick, frame in enumerate(frames)))
    path, result = _read(tmp_path, content)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert len(result.stdout.splitlines()) == _capinfos_count(path) == 3
    with PacketStore.open_file(str(path)) as store:
        assert store.wait().error is None
        assert [(packet.ts_ns, packet.ts_clamped) for packet in store.packets(0, 3)] == [(clamped_ns, True)] * 3


def test_a_year_beyond_the_calendar_from_a_coarse_resolution_is_clamped(tmp_path):
    content = (capture_files.section_header() + capture_files.interface([(OPT_IF_TSRESOL, b"\x00")])
               + capture_files.enhanced_packet(_frames(1)[0], ticks=2**64 - 1))
    path, result = _read(tmp_path, content)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1
    with PacketStore.open_file(str(path)) as store:
        store.wait()
        assert store.packet(0).ts_ns == 2**63 - 1 and store.packet(0).ts_clamped


@pytest.mark.parametrize("snaplen", [2**31, 2**32 - 1, 0])
def test_a_snap_length_out_of_range_reads_as_no_limit_with_a_filter(tmp_path, snaplen):
    frames = [netns.make_frame(seq, 100, MAC_B, MAC_A, dst_port=40001 + seq % 2) for seq in range(6)]
    for content in (capture_files.pcapng(frames, snaplen=snaplen), capture_files.pcap(frames, snaplen=snaplen)):
        path, result = _read(tmp_path, content, "udp", "dst", "port", "40002")
        assert result.returncode == 0 and result.stderr == "", result.stderr
        assert len(result.stdout.splitlines()) == 3
        assert _capinfos_count(path) == 6


def test_a_simple_packet_block_too_short_for_its_length_field_is_one_corrupt_line(tmp_path):
    frames = _frames(2)
    good = capture_files.pcapng(frames)
    spb_12_bytes = capture_files.block(capture_files.SPB, b"")  # no room for the wire length
    path, result = _read(tmp_path, good + spb_12_bytes)
    assert_one_error_line(result, f"{path}: corrupt pcapng at offset {len(good)}: block type 0x00000003 claims 12 bytes")
    assert len(result.stdout.splitlines()) == 2  # the packets before it


def test_a_simple_packet_block_gives_the_packet_it_holds_without_a_time(tmp_path):
    frame = _frames(1)[0]
    one_second = [(OPT_IF_TSOFFSET, struct.pack("<q", TS_S))]  # an offset is no time for a block that has none
    content = (capture_files.section_header() + capture_files.interface(one_second)
               + capture_files.simple_packet(frame) + capture_files.enhanced_packet(frame))
    path, result = _read(tmp_path, content)
    assert result.returncode == 0, result.stderr
    simple, enhanced = result.stdout.decode("ascii").splitlines()
    assert simple == f"--:--:--.------ {enhanced.split(' ', 1)[1]}"  # tshark leaves its time blank
    assert enhanced.startswith(time.strftime("%H:%M:%S.000000 ", time.localtime(TS_S)))
    assert simple.endswith(f", length {len(frame) - 42}")  # the UDP payload's, as tcpdump
    assert _capinfos_count(path) == 2
    with PacketStore.open_file(str(path)) as store:
        store.wait(10)
        assert [(packet.no_time, packet.ts_ns) for packet in store.packets(0, 2)] == [(True, 0), (False, TS_S * 10**9)]


def test_an_interface_comment_that_is_not_utf8_does_not_reject_the_file(tmp_path):
    content = capture_files.pcapng(_frames(4), [(OPT_COMMENT, b"caf\xe9 \xff\xfe"), (OPT_IF_NAME, b"eth0")])
    path, result = _read(tmp_path, content)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert [line.split()[1] for line in result.stdout.decode("ascii").splitlines()] == ["IP"] * 4  # one: not named
    assert _capinfos_count(path) == 4


@pytest.mark.parametrize("corruption, reason", [
    (lambda frame: capture_files.block(capture_files.EPB, bytes(20) + frame, trailing_len=8),
     "at its start but 8 at its end"),
    (lambda frame: capture_files.enhanced_packet(frame, ifid=7), "interface 7, which no interface block declared"),
    (lambda frame: capture_files.enhanced_packet(frame, caplen=len(frame) + 100), "overruns its"),
    (lambda frame: capture_files.enhanced_packet(frame, caplen=2**31), "overruns its"),
    (lambda frame: capture_files.block(capture_files.EPB, bytes(20) + frame, total_len=2**31), "claims 2147483648 bytes"),
    (lambda frame: capture_files.block(capture_files.EPB, bytes(20) + frame, total_len=30), "claims 30 bytes"),
    (lambda frame: capture_files.interface([(OPT_IF_TSOFFSET, b"\x01\x02")]), "if_tsoffset"),
    (lambda frame: capture_files.interface([(OPT_IF_TSRESOL, b"")]), "if_tsresol is 0 bytes"),
    (lambda frame: capture_files.block(capture_files.IDB, bytes(8) + struct.pack("<HH", 2, 200)), "overruns its block"),
    (lambda frame: capture_files.section_header(major=2), "pcapng version 2.0"),
], ids=["trailer", "ifid", "caplen", "caplen-2^31", "length-2^31", "length-unaligned", "tsoffset-short",
        "tsresol-empty", "option-overrun", "version"])
def test_each_corrupt_field_is_one_line_with_its_offset_after_the_packets_before_it(tmp_path, corruption, reason):
    frames = _frames(3)
    good = capture_files.pcapng(frames)
    path, result = _read(tmp_path, good + corruption(frames[0]) + capture_files.enhanced_packet(frames[1]))
    assert_one_error_line(result, f"{path}: corrupt pcapng at offset {len(good)}: ", reason)
    assert len(result.stdout.splitlines()) == 3


def test_a_pcap_record_longer_than_any_snap_length_is_one_corrupt_line_with_its_offset(tmp_path):
    frames = _frames(3)
    path = tmp_path / "in.pcap"
    path.write_bytes(capture_files.pcap(frames, caplens={2: 2**31}))
    result = run_ringmon("capture", "-r", str(path))
    offset = 24 + 16 * 2 + len(frames[0]) + len(frames[1])
    assert_one_error_line(result, f"{path}: corrupt pcap at offset {offset}: a packet record claims 2147483648 bytes")
    assert len(result.stdout.splitlines()) == 2


def test_a_filter_on_a_file_of_an_unsupported_link_type_is_one_line(tmp_path):
    path = tmp_path / "in.pcap"
    path.write_bytes(capture_files.pcap(_frames(2), linktype=147))
    assert_one_error_line(run_ringmon("capture", "-r", str(path), "udp"), "link type 147")
