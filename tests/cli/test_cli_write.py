"""`ringmon capture -w`: real frames on a veth pair between test namespaces, read back by tshark; files created
exclusively and 0600, complete however the capture is asked to end."""
import dataclasses
import json
import os
import pty
import select
import signal
import stat
import subprocess
import threading
import time

import pytest
from cli_process import (
    EXIT_TIMEOUT_S,
    RINGMON,
    Finished,
    RunningCapture,
    RunningTcpdump,
    assert_one_error_line,
    move_capture_end,
    run_ringmon,
    summary_counts,
    tshark_packets,
    wait_settled,
)

import netns
from readback import capinfos_interfaces, epoch_ns, tshark_fields
from ringcore import RingStats
from ringmon.commands.capture import StatsFile

FRAME_COUNT = 200


def test_pcap_holds_every_sent_frame_intact_and_in_order(veth_pair, tmp_path):
    out = tmp_path / "out.pcap"
    frames = veth_pair.frames_to_a(range(FRAME_COUNT))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "-c", str(FRAME_COUNT)) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    packets = tshark_packets(out)
    assert [netns.check_frame(packet.frame) for packet in packets] == list(range(FRAME_COUNT))
    assert [packet.frame for packet in packets] == frames
    assert summary_counts(result.stderr)["captured"] == FRAME_COUNT


def test_count_stops_the_capture_after_exactly_that_many_packets(veth_pair, tmp_path):
    out = tmp_path / "out.pcapng"
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "--format", "pcapng", "-c", "25") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(100)))
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert [netns.check_frame(packet.frame) for packet in tshark_packets(out)] == list(range(25))


def test_filter_keeps_only_matching_frames_in_the_file(veth_pair, tmp_path):
    out = tmp_path / "out.pcap"
    # Matching and non-matching frames alternate, so a filter that let others through would show in the file.
    frames = [frame for seq in range(FRAME_COUNT)
              for frame in veth_pair.frames_to_a([seq], 100, dst_port=40002 if seq % 2 else 40001)]
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "--stats-json", str(tmp_path / "stats.json"),
                        "udp", "dst", "port", "40002") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    odd = list(range(1, FRAME_COUNT, 2))
    assert [netns.check_frame(packet.frame) for packet in tshark_packets(out)] == odd
    stats = json.loads((tmp_path / "stats.json").read_text())[veth_pair.key_a]
    assert stats["kernel_packets"] == len(odd)  # the others never left the kernel
    assert stats["filter"] == "udp dst port 40002"


def test_two_interfaces_in_pcapng_have_one_interface_block_each_and_keep_each_packets_interface(make_veth_pair,
                                                                                                tmp_path):
    first, second = make_veth_pair(), make_veth_pair()
    move_capture_end(second, first.ns_a)
    out = tmp_path / "out.pcapng"
    first_frames = first.frames_to_a(range(0, 60))
    second_frames = second.frames_to_a(range(1000, 1060))
    with RunningCapture(tmp_path, "--netns", first.ns_a, "-i", first.if_a, "-i", second.if_a, "-w", str(out),
                        "--format", "pcapng", "-c", "120", interfaces=2) as capture:
        netns.send_frames(first.ns_b, first.if_b, first_frames)
        netns.send_frames(second.ns_b, second.if_b, second_frames)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert capinfos_interfaces(out) == [f"{first.ns_a}/{first.if_a}", f"{first.ns_a}/{second.if_a}"]
    packets = tshark_packets(out)
    by_interface = {}
    for packet in packets:
        by_interface.setdefault(packet.interface, []).append(netns.check_frame(packet.frame))
    assert by_interface == {
        f"{first.ns_a}/{first.if_a}": list(range(0, 60)),
        f"{first.ns_a}/{second.if_a}": list(range(1000, 1060)),
    }


MERGE_FRAMES = 15_000  # per interface, 1.5 s long each: the floods overlap
MERGE_PACE_US = 100


def test_a_file_from_two_flooded_interfaces_is_in_time_order_and_holds_each_ones_packets(make_veth_pair, tmp_path):
    """Two drains write one file: their batches are merged by timestamp, as mergecap merges files."""
    first, second = make_veth_pair(), make_veth_pair()
    move_capture_end(second, first.ns_a)
    out, stats_path = tmp_path / "out.pcapng", tmp_path / "stats.json"
    senders = [netns.Sender(first.ns_b, first.if_b, first.frames_to_a(range(MERGE_FRAMES), size=200),
                             pace_us=MERGE_PACE_US),
               netns.Sender(second.ns_b, second.if_b, second.frames_to_a(range(MERGE_FRAMES), size=200),
                             pace_us=MERGE_PACE_US)]
    with RunningCapture(tmp_path, "--netns", first.ns_a, "-i", first.if_a, "-i", second.if_a, "-w", str(out),
                        "--format", "pcapng", "--stats-json", str(stats_path), interfaces=2) as capture:
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.finish()
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    packets = tshark_fields(out, "frame.time_epoch", "frame.interface_name")
    stamps = [epoch_ns(stamp) for stamp, _ in packets]
    steps_back = sum(later < earlier for earlier, later in zip(stamps, stamps[1:]))
    assert steps_back == 0, f"{steps_back} of {len(stamps)} packets are older than the one before them"
    names = [name for _, name in packets]
    stats = json.loads(stats_path.read_text())
    for pair in (first, second):
        assert names.count(f"{first.ns_a}/{pair.if_a}") == stats[f"{first.ns_a}/{pair.if_a}"]["written"] == MERGE_FRAMES
    switches = sum(name != before for before, name in zip(names, names[1:]))
    assert switches > 100, "the floods did not overlap: nothing to merge"


def test_stats_json_counts_equal_frames_sent_and_the_accounting_closes(veth_pair, tmp_path):
    stats_path = tmp_path / "stats.json"
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(tmp_path / "out.pcap"),
                        "-c", str(FRAME_COUNT), "--stats-json", str(stats_path)) as capture:
        frames = veth_pair.frames_to_a(range(FRAME_COUNT))
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    document = json.loads(stats_path.read_text())
    assert list(document) == [veth_pair.key_a]
    stats = document[veth_pair.key_a]
    assert set(stats) == ({field.name for field in dataclasses.fields(RingStats)}
                          | {"written", "files_written", "files_removed", "drop_stages"})
    assert stats["drop_stages"] == ["kernel", "ring"] and stats["mode"] == "copy" and stats["immediate"] is False
    assert stats["kernel_packets"] == FRAME_COUNT
    assert stats["kernel_bytes"] == sum(map(len, frames))
    assert stats["delivered"] == stats["written"] == FRAME_COUNT
    assert stats["kernel_packets"] == stats["delivered"] + stats["ring_drops"] + stats["occupancy"]
    assert not list(tmp_path.glob("stats.json.tmp*"))  # written through a temp file, renamed


def test_tiny_ring_with_drop_late_counts_ring_drops_and_totals_equal_the_generators_and_tcpdumps(veth_pair,
                                                                                                  tmp_path):
    sent = 2000
    stats_path = tmp_path / "stats.json"
    out = tmp_path / "out.pcap"
    tcpdump_out = tmp_path / "tcpdump.pcap"
    tcpdump = RunningTcpdump(veth_pair.ns_a, veth_pair.if_a, tcpdump_out)
    try:
        # Two pages: one header page and two 2048-byte slots, so a burst must overflow it.
        with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                            "--ring-pages", "2", "--drop-policy", "late", "--stats-json", str(stats_path)) as capture:
            netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(sent), size=1000))
            wait_settled()
            capture.signal(signal.SIGINT)
            result = capture.finish()
    finally:
        tcpdump_captured = tcpdump.finish()
    assert result.returncode == 0, result.stderr
    stats = json.loads(stats_path.read_text())[veth_pair.key_a]
    assert stats["drop_policy"] == "late"
    # The identity holds by construction (delivered is the ring's tail): what proves the accounting is
    # that its terms add up to what the generator sent, which tcpdump saw too, side by side.
    assert tcpdump_captured == len(tshark_packets(tcpdump_out)) == sent
    assert stats["kernel_packets"] == stats["kernel_seen"] == sent
    assert stats["ring_drops"] > 0 and stats["kernel_drops"] == 0
    assert (stats["delivered"] + stats["ring_drops"], stats["occupancy"]) == (sent, 0)
    written = [netns.check_frame(packet.frame) for packet in tshark_packets(out)]
    assert len(written) == stats["delivered"] and written == sorted(written)
    counts = summary_counts(result.stderr)
    assert counts["captured"] == stats["delivered"]
    assert counts["dropped at ring"] == stats["ring_drops"]


# Every way a capture is asked to end: Ctrl-C, kill, and the terminal or ssh session closing.
STOP_SIGNALS = [signal.SIGINT, signal.SIGTERM, signal.SIGHUP]
STOP_SIGNAL_IDS = ["SIGINT", "SIGTERM", "SIGHUP"]
# About three seconds of traffic (10k frames/s), so a signal a second in lands while it flows.
FLOOD_FRAMES = 30_000
FLOOD_PACE_US = 100
FLOOD_LEAD_S = 1.0


def start_flood(pair: netns.VethPair) -> netns.Sender:
    """Frames from end b to end a in a child process; the test signals the capture while they flow."""
    sender = netns.Sender(pair.ns_b, pair.if_b, pair.frames_to_a(range(FLOOD_FRAMES), size=200), pace_us=FLOOD_PACE_US)
    sender.start()
    time.sleep(FLOOD_LEAD_S)
    assert sender.is_alive(), "the flood ended before the test could stop the capture in its middle"
    return sender


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=STOP_SIGNAL_IDS)
def test_signal_mid_flood_leaves_a_complete_file_holding_the_count_in_the_summary(veth_pair, tmp_path, signum):
    out, stats_path = tmp_path / "out.pcapng", tmp_path / "stats.json"
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "--format", "pcapng", "--stats-json", str(stats_path)) as capture:
        sender = start_flood(veth_pair)
        capture.signal(signum)
        result = capture.finish()
    sender.finish()
    assert result.returncode == 0, result.stderr
    counts = summary_counts(result.stderr)
    captured = counts["captured"]
    written = [netns.check_frame(packet.frame) for packet in tshark_packets(out)]
    assert 0 < captured == len(written) < FLOOD_FRAMES
    assert written == sorted(set(written))
    # What the kernel counted while the capture ran is in the file, or counted as dropped: the
    # packets still in a kernel block at the stop are taken, not lost silently.
    assert counts["received by filter"] == captured + counts["dropped by kernel"] + counts["dropped at ring"]
    stats = json.loads(stats_path.read_text())[veth_pair.key_a]
    assert stats["delivered"] == stats["written"] == captured
    assert stats["kernel_seen"] == stats["kernel_packets"] + stats["kernel_drops"]
    assert not list(tmp_path.glob("*.tmp*"))


def test_reader_of_stdout_going_away_mid_flood_ends_the_capture_cleanly_with_a_summary(veth_pair, tmp_path):
    """`ringmon capture -w - | tshark -c 100 -r -`: the reader leaves, ringmon stops as tcpdump does (SIGPIPE)."""
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", "-",
                        stdout_pipe=True) as capture:
        sender = start_flood(veth_pair)
        assert capture.process.stdout.read(4096)  # the stream flows
        capture.process.stdout.close()
        result = capture.finish()
    sender.finish()
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and not [line for line in result.stderr_lines if "ringmon:" in line
                                                     and "listening on" not in line], result.stderr
    assert summary_counts(result.stderr)["captured"] > 0


def test_write_to_stdout_on_a_terminal_is_refused_in_one_line(veth_pair):
    terminal, other_end = pty.openpty()
    try:
        done = subprocess.run([RINGMON, "capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", "-"],
                              stdout=other_end, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                              timeout=EXIT_TIMEOUT_S)
        assert select.select([terminal], [], [], 0.2)[0] == [], "something reached the terminal"
    finally:
        os.close(terminal)
        os.close(other_end)
    assert_one_error_line(Finished(done.returncode, b"", done.stderr.decode()), "standard output is a terminal")


def test_fifo_without_a_reader_is_one_error_line_in_bounded_time(veth_pair, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(fifo))
    assert_one_error_line(result, str(fifo), "no reader on the FIFO")


def test_fifo_whose_reader_starts_after_ringmon_gets_the_stream(veth_pair, tmp_path):
    """As with tcpdump: `ringmon capture -w FIFO &` then `tshark -r FIFO` (the reader may come a little later)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    received = []

    def read_later() -> None:
        time.sleep(1.0)
        with open(fifo, "rb") as reader:
            received.append(reader.read())

    reader = threading.Thread(target=read_later, daemon=True)
    reader.start()
    frames = veth_pair.frames_to_a(range(30))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(fifo), "-c", "30") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    reader.join(EXIT_TIMEOUT_S)
    assert result.returncode == 0, result.stderr
    (tmp_path / "from-fifo.pcap").write_bytes(received[0])
    assert [packet.frame for packet in tshark_packets(tmp_path / "from-fifo.pcap")] == frames


def test_stats_json_is_never_written_through_a_planted_symlink(tmp_path):
    # In process, so the symlink is planted before the file is made at the name it used to have (NAME.tmp-PID).
    victim = tmp_path / "victim"
    victim.write_text("not yours")
    stats_path = tmp_path / "stats.json"
    (tmp_path / f"stats.json.tmp-{os.getpid()}").symlink_to(victim)
    StatsFile(str(stats_path)).commit({}, None)
    assert victim.read_text() == "not yours"
    assert json.loads(stats_path.read_text()) == {}


def test_files_written_are_0600(veth_pair, tmp_path):
    stats_path, out = tmp_path / "stats.json", tmp_path / "out.pcap"
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "-c", "5", "--stats-json", str(stats_path)) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(5)))
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert json.loads(stats_path.read_text())[veth_pair.key_a]["delivered"] == 5
    assert stat.S_IMODE(stats_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_replaced_stats_json_keeps_its_mode(veth_pair, tmp_path):
    stats_path = tmp_path / "stats.json"
    stats_path.write_text("{}")
    stats_path.chmod(0o640)
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(tmp_path / "out.pcap"),
                        "-c", "5", "--stats-json", str(stats_path)) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(5)))
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(stats_path.stat().st_mode) == 0o640
    assert veth_pair.key_a in json.loads(stats_path.read_text())


@pytest.mark.parametrize("signum", STOP_SIGNALS, ids=STOP_SIGNAL_IDS)
def test_signal_mid_capture_prints_summary_and_leaves_a_complete_file(veth_pair, tmp_path, signum):
    out = tmp_path / "out.pcapng"
    frames = veth_pair.frames_to_a(range(50))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "--format", "pcapng") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        wait_settled()
        capture.signal(signum)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert summary_counts(result.stderr) == {
        "captured": 50, "received by filter": 50, "dropped by kernel": 0, "dropped at ring": 0,
    }
    assert [packet.frame for packet in tshark_packets(out)] == frames
    assert not list(tmp_path.glob("out.pcapng.tmp*"))


def test_write_to_stdout_streams_a_pcap_that_tshark_reads(veth_pair, tmp_path):
    frames = veth_pair.frames_to_a(range(30))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", "-", "-c", "30") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    (tmp_path / "stdout.pcap").write_bytes(result.stdout)
    assert [packet.frame for packet in tshark_packets(tmp_path / "stdout.pcap")] == frames


def test_pcap_with_mixed_link_types_is_one_error_that_suggests_pcapng(veth_pair, tmp_path):
    # A tun device carries bare IP packets (raw IP link type), unlike the Ethernet veth.
    subprocess.run(["ip", "-n", veth_pair.ns_a, "tuntap", "add", "dev", "rmtun0", "mode", "tun"],
                   check=True, timeout=EXIT_TIMEOUT_S)
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", "rmtun0", "up"], check=True, timeout=EXIT_TIMEOUT_S)
    result = run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-i", "rmtun0",
                         "-w", str(tmp_path / "out.pcap"))
    assert_one_error_line(result, "one link type", "pcapng")
