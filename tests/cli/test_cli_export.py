"""`ringmon read IN -w OUT [FILTER]` and `ringmon capture -r IN -w OUT FILTER`: the headless export, checked
against tcpdump doing the same on the same file (same packets, bytes and timestamps, read back by tshark)."""
from __future__ import annotations

import os
import subprocess

import pytest
from cli_process import RINGMON, assert_one_error_line, run_ringmon
from readback import tshark_read

import capture_files
import decode_frames

# Several packets of each Ethernet protocol the decode frames know, microseconds apart.
PACKETS = 400
EXPRESSIONS = ["tcp", "port 53", "icmp or arp", "ip6", "tcp[tcpflags] & tcp-syn != 0", "vlan or mpls",
               "host 198.18.0.1 and not port 443"]
TCPDUMP_TIMEOUT_S = 60


def _ethernet_frames() -> list[bytes]:
    frames = [frame for linktype, frame in decode_frames.frames().values()
              if linktype == decode_frames.LINKTYPE_ETHERNET]
    return [frames[index % len(frames)] for index in range(PACKETS)]


@pytest.fixture(params=["pcap", "pcapng"])
def capture_input(request, tmp_path):
    """The frames as a µs pcap, or converted to pcapng by editcap (a file another tool wrote)."""
    frames = _ethernet_frames()
    pcap = tmp_path / "in.pcap"
    pcap.write_bytes(capture_files.pcap(frames))
    if request.param == "pcap":
        return pcap
    pcapng = tmp_path / "in.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(pcapng)], check=True, timeout=TCPDUMP_TIMEOUT_S)
    return pcapng


def _packets(path) -> list[tuple[int, int, bytes]]:
    """Each packet's time, wire length and bytes, as tshark reads them (tcpdump's pcap names no interface)."""
    return [(packet.ts_ns, packet.wirelen, packet.frame) for packet in tshark_read(path)]


def _tcpdump_write(source, destination, expression: str) -> None:
    done = subprocess.run(["tcpdump", "-r", str(source), "-w", str(destination), expression], capture_output=True,
                          text=True, timeout=TCPDUMP_TIMEOUT_S)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_read_w_filter_writes_exactly_what_tcpdump_writes(capture_input, tmp_path, expression):
    ours, reference = tmp_path / "ours", tmp_path / "tcpdump.pcap"
    result = run_ringmon("read", str(capture_input), "-w", str(ours), *expression.split())
    assert result.returncode == 0, result.stderr
    _tcpdump_write(capture_input, reference, expression)
    expected = _packets(reference)
    assert expected, f"'{expression}' should match some of the frames"
    assert _packets(ours) == expected
    assert result.stderr_lines == [f"ringmon: {len(expected)} packet{'s' if len(expected) != 1 else ''} "
                                   f"written to {ours}"]
    assert os.stat(ours).st_mode & 0o777 == 0o600
    # the input's own format by default: a pcap input gives the very bytes tcpdump writes
    if capture_input.suffix == ".pcap":
        assert ours.read_bytes() == reference.read_bytes()
    else:
        assert ours.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"


def test_capture_r_w_filter_is_the_same_export_in_the_format_asked(capture_input, tmp_path):
    ours, reference = tmp_path / "ours.pcap", tmp_path / "tcpdump.pcap"
    result = run_ringmon("capture", "-r", str(capture_input), "-w", str(ours), "--format", "pcap", "-c", "5", "tcp")
    assert result.returncode == 0, result.stderr
    _tcpdump_write(capture_input, reference, "tcp")
    assert _packets(ours) == _packets(reference)[:5]
    assert ours.read_bytes()[:4] == b"\xd4\xc3\xb2\xa1"


def test_read_w_without_a_filter_copies_every_packet_in_pcap_ns(capture_input, tmp_path):
    ours = tmp_path / "all.pcap"
    result = run_ringmon("read", str(capture_input), "-w", str(ours), "--format", "pcap-ns")
    assert result.returncode == 0, result.stderr
    assert _packets(ours) == _packets(capture_input)
    assert ours.read_bytes()[:4] == b"\x4d\x3c\xb2\xa1"


def test_a_filter_that_matches_nothing_writes_an_empty_valid_file(capture_input, tmp_path):
    ours = tmp_path / "none.pcap"
    result = run_ringmon("read", str(capture_input), "-w", str(ours), "--format", "pcap", "udp port 9")
    assert result.returncode == 0 and result.stderr_lines == [f"ringmon: 0 packets written to {ours}"]
    assert tshark_read(ours) == []


def test_a_bad_filter_is_libpcaps_message_in_one_line_and_no_file(capture_input, tmp_path):
    ours = tmp_path / "bad.pcap"
    assert_one_error_line(run_ringmon("read", str(capture_input), "-w", str(ours), "tcp", "port"), "syntax error")
    assert os.listdir(tmp_path) == [capture_input.name] + (["in.pcap"] if capture_input.suffix == ".pcapng" else [])


def test_an_export_onto_a_full_disk_is_one_line_and_leaves_nothing_under_the_name(tmp_path, small_disk):
    big = tmp_path / "big.pcap"
    big.write_bytes(capture_files.pcap([bytes(1000)] * 1000))  # 1 MB onto a 256 KiB disk
    out = small_disk / "out.pcap"
    assert_one_error_line(run_ringmon("read", str(big), "-w", str(out)), str(out), "disk is full")
    assert os.listdir(small_disk) == []


def test_w_dash_on_a_terminal_is_refused_in_one_line(capture_input):
    done = subprocess.run(["script", "-qec", f"{RINGMON} read {capture_input} -w - tcp", "/dev/null"],
                          capture_output=True, text=True, timeout=TCPDUMP_TIMEOUT_S, env=os.environ)
    assert done.returncode != 0 and "terminal" in done.stdout and "Traceback" not in done.stdout


def test_a_bad_filter_without_w_is_one_line_and_exit_status_2_before_any_screen(capture_input):
    result = run_ringmon("read", str(capture_input), "tcp", "port")  # standard output is no terminal here
    assert_one_error_line(result, "tcp port", "syntax error")
    assert result.returncode == 2 and not result.stdout


def test_a_count_without_w_is_one_line(capture_input):
    assert_one_error_line(run_ringmon("read", str(capture_input), "-c", "5"), "-w")
