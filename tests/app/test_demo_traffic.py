"""The demo's frames are valid on the wire: tshark and tcpdump read them without a complaint."""
from __future__ import annotations

import subprocess
import tempfile

import dpkt
from readback import TSHARK_ROOT_NOTICE, TSHARK_TIMEOUT_S

from ringmon.commands.demo import DemoNetwork
from ringmon.commands.demo_traffic import PHASES, build_frames

# tshark's expert severities (epan/proto.h): chat 0x00200000 and note 0x00400000 are information,
# warn 0x00600000 and error 0x00800000 (malformed, bad checksum, bad length) are faults.
EXPERT_WARN = 0x00600000
CHECK_CHECKSUMS = [f"{protocol}.check_checksum:TRUE" for protocol in ("ip", "udp", "tcp")]


def demo_pcap(tmp_path):
    path = tmp_path / "demo.pcap"
    frames = build_frames("02:00:c6:12:00:01", "02:00:c6:12:00:02", "198.18.0.1", "198.18.0.2")
    with path.open("wb") as file:
        writer = dpkt.pcap.Writer(file, snaplen=65535)
        for index, frame in enumerate(frames):
            writer.writepkt(frame, ts=1_700_000_000 + index)
    return path, frames


def test_every_demo_frame_has_right_lengths_and_checksums_for_tshark_and_tcpdump(tmp_path):
    path, frames = demo_pcap(tmp_path)
    options = [option for check in CHECK_CHECKSUMS for option in ("-o", check)]
    done = subprocess.run(["tshark", "-r", str(path), *options, "-T", "fields", "-E", "occurrence=a",
                           "-e", "frame.len", "-e", "ip.len", "-e", "ip.proto", "-e", "udp.length",
                           "-e", "_ws.expert.severity", "-e", "_ws.expert.message"],
                          capture_output=True, text=True, timeout=TSHARK_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert all(TSHARK_ROOT_NOTICE.match(line) for line in done.stderr.splitlines()), done.stderr
    rows = [line.split("\t") for line in done.stdout.splitlines()]
    assert len(rows) == len(frames)
    udp_rows = 0
    for frame_len, ip_len, proto, udp_length, severities, messages in rows:
        assert int(ip_len) == int(frame_len) - 14  # Ethernet header, then the whole IP datagram
        if proto == "17":
            udp_rows += 1
            assert int(udp_length) == int(ip_len) - 20, (frame_len, udp_length)
        faults = [int(severity, 0) for severity in severities.split(",") if severity and int(severity, 0) >= EXPERT_WARN]
        assert not faults, messages
    assert udp_rows == 6  # the DNS query and the five sizes: the ones that were malformed

    done = subprocess.run(["tcpdump", "-v", "-nn", "-r", str(path)], capture_output=True, text=True,
                          timeout=TSHARK_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    for complaint in ("invalid", "bad", "length 0", "malformed", "truncated"):
        assert complaint not in done.stdout.lower(), done.stdout


def test_the_demo_note_takes_two_lines_from_80_columns_in_every_phase_so_the_panels_stay_put():
    """The old note (phase · ring) took one line at 120 columns in the steady phase and two in the flood: every
    panel below moved a row up and down as the phases turned."""
    demo = DemoNetwork("ns-a", "ns-b")
    with tempfile.NamedTemporaryFile("w+") as phase_file:
        demo.phase_file = phase_file
        for phase in [name for name, _seconds in PHASES] + ["starting"]:
            phase_file.seek(0)
            phase_file.truncate()
            phase_file.write(phase)
            phase_file.flush()
            lines = demo.phase_note().split("\n")
            # the note's line is the terminal's width less its padding of one column each side
            assert len(lines) == 2 and all(len(line) <= 80 - 2 for line in lines), (phase, lines)
            assert lines[0].startswith(f"demo phase: {phase}")
