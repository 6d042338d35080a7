"""`ringmon capture -r`: pcap and pcapng files written by other tools (dpkt), good, filtered, broken."""
import re

import dpkt
import pytest
from cli_process import assert_one_error_line, run_ringmon

import netns

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
    assert [int(re.search(r"length (\d+)$", line)[1]) for line in lines] == [len(frame) for frame in frames]
    assert all(" in.pcap UDP 198.18.0.2.40000 > 198.18.0.1.40001: " in line for line in lines)
    assert result.stderr == ""


def test_reading_a_pcapng_shows_the_interface_of_each_packet(tmp_path):
    _write_pcapng(tmp_path / "in.pcapng", {b"left": _frames(3), b"right": _frames(2)})
    result = run_ringmon("capture", "-r", str(tmp_path / "in.pcapng"))
    assert result.returncode == 0, result.stderr
    interfaces = [line.split()[1] for line in result.stdout.decode("ascii").splitlines()]
    assert interfaces == ["left", "left", "left", "right", "right"]


def test_reading_escapes_a_hostile_interface_name_from_the_file(tmp_path):
    _write_pcapng(tmp_path / "in.pcapng", {b"eth\x1b[31m0\r": _frames(1)})
    result = run_ringmon("capture", "-r", str(tmp_path / "in.pcapng"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode("ascii").split()[1] == r"eth\x1b[31m0\x0d"


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
    path.write_bytes(path.read_bytes()[:-7])  # the last packet loses its end
    result = run_ringmon("capture", "-r", str(path))
    assert_one_error_line(result, str(path), "truncated", "after 9 whole packets")
    assert len(result.stdout.splitlines()) == 9


@pytest.mark.parametrize("content", [b"", b"GET / HTTP/1.1\r\nHost: example\r\n\r\n" * 4], ids=["empty", "text"])
def test_a_file_that_is_not_a_capture_is_one_error_line(tmp_path, content):
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    result = run_ringmon("capture", "-r", str(path))
    assert_one_error_line(result, str(path), "not a capture")
    assert result.stdout == b""


def test_a_missing_file_is_one_error_line(tmp_path):
    assert_one_error_line(run_ringmon("capture", "-r", str(tmp_path / "absent.pcap")), "No such file")
