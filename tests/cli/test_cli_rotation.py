"""`ringmon capture -w` rotating as tcpdump's -C, -G and -W, on a flood over a veth pair: every file complete on its
own (read by tshark and capinfos), the files together holding each delivered frame once, -W keeping the newest."""
import json
import os
import re
import signal
import stat

import pytest
from cli_process import RunningCapture, assert_one_error_line, run_ringmon, summary_counts, tshark_packets, wait_settled

import netns
from readback import capinfos_interfaces

FLOOD_FRAMES = 5000
FRAME_BYTES = 200  # 5000 records of 216 bytes: about 1.1 MB of pcap
FILE_MB = "0.1"
FILE_BYTES_MAX = 100_000
TIMED_FRAMES = 3500  # paced over 3.5 s: four files or more of one second
TIMED_PACE_US = 1000


def capture_flood(pair: netns.VethPair, tmp_path, out: str, frames: list[bytes], *options: str,
                  pace_us: int = 0) -> tuple[dict, dict]:
    """Capture `frames` sent from end b to end a, then SIGINT: (summary counts, --stats-json entry)."""
    stats_path = tmp_path / "stats.json"
    with RunningCapture(tmp_path, "--netns", pair.ns_a, "-i", pair.if_a, "-w", out, "--stats-json", str(stats_path),
                        *options) as capture:
        sender = netns.Sender(pair.ns_b, pair.if_b, frames, pace_us=pace_us)
        sender.start()
        sender.finish()
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    stats = json.loads(stats_path.read_text())[pair.key_a]
    counts = summary_counts(result.stderr)
    assert counts["captured"] == stats["delivered"] == stats["written"]
    # every frame the generator sent is in the files or counted dropped
    assert stats["kernel_seen"] == len(frames) == stats["delivered"] + stats["ring_drops"] + stats["kernel_drops"]
    files_line = f"{stats['files_written']} files written, {stats['files_removed']} removed by -W"
    assert files_line in result.stderr.splitlines()
    return counts, stats


def sequences(path) -> list[int]:
    return [netns.check_frame(packet.frame) for packet in tshark_packets(path)]


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_rotation_by_size_makes_complete_files_within_the_size_holding_every_delivered_frame_once(veth_pair, tmp_path,
                                                                                                  fmt):
    out = tmp_path / f"out.{fmt}"
    frames = veth_pair.frames_to_a(range(FLOOD_FRAMES), size=FRAME_BYTES)
    _, stats = capture_flood(veth_pair, tmp_path, str(out), frames, "-C", FILE_MB, "--format", fmt)
    # tcpdump's names: FILE, FILE1, FILE2 ...
    names = [out] + [tmp_path / f"out.{fmt}{number}" for number in range(1, stats["files_written"])]
    assert sorted(tmp_path.glob("out.*")) == sorted(names)
    assert stats["files_written"] >= 10 and stats["files_removed"] == 0
    written = []
    for path in names:
        assert path.stat().st_size <= FILE_BYTES_MAX
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        if fmt == "pcapng":  # each file its own section with its interface block
            assert capinfos_interfaces(path) == [veth_pair.key_a]
        written += sequences(path)
    assert len(written) == stats["delivered"] and written == sorted(set(written))
    assert not list(tmp_path.glob("*.tmp*"))


def test_count_of_files_keeps_exactly_the_newest_in_a_ring_of_names(veth_pair, tmp_path):
    out = tmp_path / "ring.pcap"
    frames = veth_pair.frames_to_a(range(FLOOD_FRAMES), size=FRAME_BYTES)
    _, stats = capture_flood(veth_pair, tmp_path, str(out), frames, "-C", FILE_MB, "-W", "3")
    assert sorted(path.name for path in tmp_path.glob("ring.*")) == ["ring.pcap0", "ring.pcap1", "ring.pcap2"]
    assert stats["files_written"] >= 10 and stats["files_removed"] == stats["files_written"] - 3
    # oldest first: the ring's names from the one after the newest
    newest_first = [tmp_path / f"ring.pcap{(stats['files_written'] - 1 - age) % 3}" for age in range(3)]
    kept = [seq for path in reversed(newest_first) for seq in sequences(path)]
    assert kept == sorted(set(kept)) and 0 < len(kept) < stats["delivered"]
    if stats["ring_drops"] == 0:  # then the last frame sent was delivered: the newest file ends with it
        assert kept[-1] == FLOOD_FRAMES - 1
    assert not list(tmp_path.glob("*.tmp*"))


def test_rotation_by_time_makes_one_complete_file_a_period_named_by_strftime(veth_pair, tmp_path):
    pattern = str(tmp_path / "cap-%s.pcapng")  # %s: the period's start, in seconds since the epoch
    frames = veth_pair.frames_to_a(range(TIMED_FRAMES), size=FRAME_BYTES)
    _, stats = capture_flood(veth_pair, tmp_path, pattern, frames, "-G", "1", "--format", "pcapng",
                             pace_us=TIMED_PACE_US)
    paths = sorted(tmp_path.glob("cap-*.pcapng"), key=lambda path: int(re.search(r"(\d+)", path.name).group(1)))
    assert len(paths) == stats["files_written"] >= 4 and stats["files_removed"] == 0
    written = []
    for path in paths:
        period_start_s = int(re.search(r"(\d+)", path.name).group(1))
        packets = tshark_packets(path)
        assert capinfos_interfaces(path) == [veth_pair.key_a]
        # a file's period starts at its first packet (named by that second) and lasts one second
        assert all(0 <= packet.ts_ns // 1_000_000_000 - period_start_s <= 1 for packet in packets)
        written += [netns.check_frame(packet.frame) for packet in packets]
    assert len(written) == stats["delivered"] and written == sorted(set(written))


@pytest.mark.parametrize("options, fragment", [
    (["-w", "out.pcap", "-C", "0"], "must be more than 0"),
    (["-w", "out.pcap", "-C", "x"], "not a number of millions of bytes"),
    (["-w", "out-%s.pcap", "-G", "-1"], "must be at least 1"),
    (["-w", "out.pcap", "-W", "3"], "-W keeps the newest COUNT files of a rotation: it needs -C or -G"),
    (["-w", "out.pcap", "-G", "5"], "-G needs a strftime pattern in the file name"),
    (["-C", "1"], "they need -w FILE"),
    (["-w", "-", "-C", "1"], "not standard output"),
    (["-w", "out.pcap", "-G", "5", "-C", "1"], "-G needs a strftime pattern in the file name"),
], ids=["C-0", "C-word", "G-negative", "W-alone", "G-no-pattern", "C-no-w", "C-stdout", "G-C-no-pattern"])
def test_bad_rotation_values_are_one_line_and_exit_2(options, fragment):
    result = run_ringmon("capture", "-i", "lo", *options)
    assert_one_error_line(result, fragment)
    assert result.returncode == 2


def test_rotation_of_a_file_read_with_r_is_refused_in_one_line(tmp_path):
    result = run_ringmon("capture", "-r", "/dev/null", "-w", str(tmp_path / "out.pcap"), "-C", "1")
    assert_one_error_line(result, "-r reads a file, so it cannot be used with -C")
    assert not list(tmp_path.iterdir())


def test_rotation_into_a_fifo_is_refused_in_one_line(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    result = run_ringmon("capture", "-i", "lo", "-w", str(fifo), "-C", "1")
    assert_one_error_line(result, "rotation (-C, -G) writes regular files: not standard output, a FIFO")
