"""Bad input and faults, as a user hits them: one `ringmon: ` line, a non-zero exit, no traceback,
and nothing already captured lost."""
import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from cli_process import (
    EXIT_TIMEOUT_S,
    UNPRIVILEGED,
    Finished,
    RunningCapture,
    assert_one_error_line,
    move_capture_end,
    run_ringmon,
    summary_counts,
    tshark_packets,
    wait_settled,
)

import netns


# Exit status as --help says: 2 for a bad flag or value, or flags that cannot go together (found before anything
# opens); 1 for what goes wrong with the world (an interface, a file, a filter libpcap refuses).
@pytest.mark.parametrize(("args", "fragments", "status"), [
    (["-i", "rmtnosuch0"], ["rmtnosuch0", "no such interface"], 1),
    (["-i", "lo", "udp", "prot", "53"], ["does not compile", "syntax error"], 1),  # libpcap's own words
    (["-i", "lo", "--slot-size", "32"], ["slot size 32", "64"], 2),
    (["-i", "lo", "--slot-size", "65552"], ["slot size 65552", "65536"], 2),
    (["-i", "lo", "--ring-pages", "1"], ["ring of 1 pages does not fit"], 2),
    (["-i", "lo", "-c", "0"], ["-c", "at least 1"], 2),
    (["-i", "lo", "-c", "-5"], ["-c", "at least 1"], 2),
    (["-i", "lo", "-s", "-1"], ["-s", "negative"], 2),
    (["-i", "lo", "-s", "300000"], ["snap length 300000 is out of range"], 2),
    (["-i", "lo", "--slot-size", "-2048"], ["--slot-size", "negative"], 2),
    (["-i", "lo", "--ring-pages", "-33"], ["--ring-pages", "negative"], 2),
    (["-i", "lo", "--wait", "adaptive", "--spin", "1001"], ["--spin", "spin 1001 us is out of range", "1 to 1000"], 2),
    (["-i", "lo", "--spin", "0"], ["--spin", "spin 0 us is out of range"], 2),
    (["-i", "lo", "-B", "100"], ["100 KiB does not fit"], 2),
    (["-i", "lo", "-w", "/nonexistent-dir/out.pcap"], ["/nonexistent-dir/out.pcap", "No such file"], 1),
    (["-i", "lo", "--stats-json", "/nonexistent-dir/stats.json"], ["/nonexistent-dir/stats.json", "No such file"], 1),
    (["-i", "lo", "-F", "/nonexistent-dir/filter"], ["/nonexistent-dir/filter", "No such file"], 1),
    (["-i", "lo", "-Z", "rmtnosuchuser"], ["-Z rmtnosuchuser: no such user"], 1),
    (["-i", "lo", "-r", "x.pcap"], ["-r", "-i"], 2),
    (["-r", "x.pcap", "--zero-copy"], ["-r reads a file", "--zero-copy"], 2),
    (["-r", "x.pcap", "--immediate-mode"], ["-r reads a file", "--immediate-mode"], 2),
    (["-r", "x.pcap", "--dispatch", "direct", "--wait", "spin", "-p"], ["-r reads a file", "-p or --dispatch or --wait"], 2),
    (["-r", "x.pcap", "--drop-policy", "late", "--poll-interval", "5", "--spin", "10"],
     ["-r reads a file", "--drop-policy or --poll-interval or --spin"], 2),
    (["-i", "lo", "--dispatch", "direct"], ["--dispatch direct", "-w", "--count-only"], 2),
    ([], ["-i IFACE", "-r FILE"], 2),
    (["-i", "lo", "--count-only", "-w", "out.pcap"], ["--count-only", "-w"], 2),
    (["-i", "lo", "-C", "1"], ["-C and -G", "-w FILE"], 2),
    (["-i", "lo", "-F", "/dev/null", "icmp"], ["-F /dev/null gives the filter", "'icmp'", "ignored"], 2),
], ids=["unknown-interface", "bad-filter", "slot-too-small", "slot-too-big", "ring-too-small", "count-zero",
        "count-negative", "snaplen-negative", "snaplen-too-big", "slot-negative", "ring-negative", "spin-too-long",
        "spin-zero", "kernel-buffer-too-small", "unwritable-file", "unwritable-stats", "unreadable-filter-file",
        "unknown-user", "read-and-interface", "read-and-zero-copy", "read-and-immediate", "read-and-dispatch-wait-promisc",
        "read-and-policy-polling", "direct-printing-lines", "no-source", "count-only-and-write", "rotation-without-file",
        "filter-file-and-expression"])
def test_bad_input_is_one_error_line_with_the_status_help_gives(veth_pair, args, fragments, status):
    result = run_ringmon("capture", "--netns", veth_pair.ns_a, *args)
    assert_one_error_line(result, *fragments)
    assert result.returncode == status, result.stderr
    assert result.stdout == b""


@pytest.mark.parametrize(("args", "fragments"), [
    (["--spool-size", "12X"], ["--spool-size", "'12X' is not a size", "512M"]),
    (["--spool-size", "100K"], ["--spool-size", "100K is too small", "1M"]),
    (["--spool-size=-1G"], ["--spool-size", "not a size"]),
    (["--spool-packets", "2X"], ["--spool-packets", "'2X' is not a number of packets", "4M"]),
    (["--spool-packets", "4095"], ["--spool-packets", "4095 is out of range", "4096 (4K)"]),
    (["--spool-packets", "5G"], ["--spool-packets", "5G is out of range", "(4G)"]),
    (["--spool-size", "1.5X"], ["--spool-size", "'1.5X' is not a size", "1.5G"]),
    (["--spool-size", "0.5M"], ["--spool-size", "0.5M is too small", "1M"]),
    (["--spool-packets", "4MB"], ["--spool-packets", "'4MB' is not a number of packets"]),
    (["--slot-size", "2X"], ["--slot-size", "'2X' is not a number of bytes", "2K"]),
    (["--keep-spool", "/nonexistent-dir"], ["--keep-spool: /nonexistent-dir: no such directory"]),
    (["--keep-spool", "/proc"], ["--keep-spool: /proc: cannot create a file there"]),
    (["--keep-spool", ""], ["--keep-spool: needs a directory"]),
    (["--keep-spool", "/etc/hostname"], ["--keep-spool: /etc/hostname: not a directory"]),
    (["--no-store", "--keep-spool", "/tmp"], ["--keep-spool needs the store"]),
    (["--spool-size", "0", "--keep-spool", "/tmp"], ["--keep-spool needs the store"]),
], ids=["not-a-size", "spool-too-small", "negative", "index-not-a-count", "index-too-small", "index-too-large",
        "decimal-not-a-size", "decimal-too-small", "index-in-bytes", "slot-not-a-size", "keep-nowhere", "keep-in-proc",
        "keep-empty-name", "keep-in-a-file", "keep-without-store", "keep-with-size-0"])
@pytest.mark.parametrize("command", [[], ["demo"]], ids=["dashboard", "demo"])
def test_bad_store_flags_are_one_error_line_before_anything_starts(command, args, fragments):
    result = run_ringmon(*command, *args, *([] if command else ["-i", "lo"]))
    assert_one_error_line(result, *fragments)
    assert result.returncode == 2  # bad values and flags that cannot go together, as --help says


@pytest.mark.parametrize("command", [[], ["demo"]], ids=["dashboard", "demo"])
def test_keep_spool_where_no_file_can_be_created_exits_2_at_start_leaving_nothing(command, tmp_path):
    """As tcpdump checks -w: a directory nobody may write to is refused before anything opens (no spool made)."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o755)  # nobody may look in (dac_read_search), not write
    spool_parent = tmp_path / "spool"
    spool_parent.mkdir()
    spool_parent.chmod(0o777)
    result = run_ringmon(*command, "--keep-spool", str(locked), *([] if command else ["-i", "lo"]),
                         prefix=("env", f"TMPDIR={spool_parent}", *UNPRIVILEGED))
    assert_one_error_line(result, f"--keep-spool: {locked}: cannot create a file there: Permission denied")
    assert result.returncode == 2
    assert list(locked.iterdir()) == [] and list(spool_parent.iterdir()) == []


@pytest.mark.parametrize("args", [["--spool-size", "1.5G"], ["--spool-size", "2MB"], ["--spool-size", "1.25 GiB"],
                                  ["--spool-packets", "1.5M"], ["--slot-size", "2K"], ["-s", "1.5K"]])
def test_sizes_and_counts_take_decimals_and_the_same_units_everywhere(args):
    # the flags parse: the first fault is the interface, found after them
    assert_one_error_line(run_ringmon(*args, "-i", "rmtnosuch0"), "rmtnosuch0: no such interface")


def test_writing_to_a_directory_is_one_error_line(veth_pair, tmp_path):
    result = run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(tmp_path))
    assert_one_error_line(result, str(tmp_path), "Is a directory")


def test_unknown_namespace_is_one_error_line():
    assert_one_error_line(run_ringmon("capture", "--netns", "rmt-no-such-ns", "-i", "lo"), "rmt-no-such-ns")


def test_without_cap_net_raw_the_error_names_the_capability(veth_pair):
    result = run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-c", "1", prefix=UNPRIVILEGED)
    assert_one_error_line(result, "CAP_NET_RAW")


def assert_disk_full_file_and_summary_agree(result: Finished, out: Path, sent: int, stats_path: Path) -> None:
    """One error line, and the file, the error, the summary and --stats-json all count the same whole packets."""
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr_lines if "disk is full" in line]
    assert len(errors) == 1 and errors[0].startswith(f"ringmon: {out}: "), result.stderr
    kept = int(re.search(r"keeps the (\d+) packets", errors[0])[1])
    packets = tshark_packets(out)
    assert 0 < kept == len(packets) < sent
    assert summary_counts(result.stderr)["captured"] == kept
    assert [entry["written"] for entry in json.loads(stats_path.read_text()).values()] == [kept]
    assert [netns.check_frame(packet.frame) for packet in packets] == list(range(kept))
    assert [path.name for path in out.parent.iterdir()] == [out.name]  # no temp file left behind


def test_disk_full_keeps_every_whole_packet_written_and_exits_nonzero(veth_pair, tmp_path, small_disk):
    out = small_disk / "out.pcap"
    # 1500 full-size frames (2.2 MB) overflow the 256 KiB disk several times over.
    frames = veth_pair.frames_to_a(range(1500), size=netns.MAX_FRAME_LEN)
    stats_path = tmp_path / "stats.json"
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "--stats-json", str(stats_path)) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()  # the full disk ends the capture by itself
    assert_disk_full_file_and_summary_agree(result, out, len(frames), stats_path)


def test_disk_full_found_by_the_last_flush_is_not_counted_in_the_summary(veth_pair, tmp_path, small_disk):
    out = small_disk / "out.pcap"
    # 400 full-size frames (600 KB): more than the disk, less than the 1 MiB write buffer, so the disk
    # fills only when the file is closed, after the capture stopped.
    frames = veth_pair.frames_to_a(range(400), size=netns.MAX_FRAME_LEN)
    stats_path = tmp_path / "stats.json"
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "--stats-json", str(stats_path)) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert_disk_full_file_and_summary_agree(result, out, len(frames), stats_path)


# Ways an interface goes away under a capture; a rename needs it down first.
GOING_AWAY = {
    "deleted": [["link", "del", "{ifname}"]],
    "set-down": [["link", "set", "{ifname}", "down"]],
    "renamed": [["link", "set", "{ifname}", "down"], ["link", "set", "{ifname}", "name", "{ifname}r"],
                ["link", "set", "{ifname}r", "up"]],
}


@pytest.mark.parametrize("how", list(GOING_AWAY))
def test_interface_gone_mid_capture_is_one_line_while_the_other_keeps_capturing(make_veth_pair, tmp_path, how):
    doomed, survivor = make_veth_pair(), make_veth_pair()
    move_capture_end(survivor, doomed.ns_a)
    out = tmp_path / "out.pcapng"
    with RunningCapture(tmp_path, "--netns", doomed.ns_a, "-i", doomed.if_a, "-i", survivor.if_a,
                        "-w", str(out), "--format", "pcapng", interfaces=2) as capture:
        netns.send_frames(doomed.ns_b, doomed.if_b, doomed.frames_to_a(range(0, 20)))
        netns.send_frames(survivor.ns_b, survivor.if_b, survivor.frames_to_a(range(1000, 1020)))
        wait_settled()
        for args in GOING_AWAY[how]:
            subprocess.run(["ip", "-n", doomed.ns_a, *(arg.format(ifname=doomed.if_a) for arg in args)], check=True,
                           timeout=EXIT_TIMEOUT_S)
        wait_settled()
        assert capture.process.poll() is None, "the capture ended with the first interface"
        netns.send_frames(survivor.ns_b, survivor.if_b, survivor.frames_to_a(range(2000, 2020)))
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    gone = [line for line in result.stderr_lines if doomed.if_a in line and "listening" not in line]
    assert gone == [f"ringmon: {doomed.if_a}: the interface went down or away; capture on it stopped"]
    by_interface = {}
    for packet in tshark_packets(out):
        by_interface.setdefault(packet.interface, []).append(netns.check_frame(packet.frame))
    assert by_interface == {
        f"{doomed.ns_a}/{doomed.if_a}": list(range(0, 20)),
        f"{doomed.ns_a}/{survivor.if_a}": [*range(1000, 1020), *range(2000, 2020)],
    }


def test_an_interface_name_with_an_escape_character_is_escaped_in_lines_notices_and_summaries(namespace, tmp_path):
    hostile = "r\x1bx"  # the kernel takes any byte but '/', ':' and white space in a name
    for args in (["link", "add", "name", hostile, "type", "veth", "peer", "name", "rmtpeer"],
                 ["link", "set", hostile, "up"], ["link", "set", "rmtpeer", "up"]):
        subprocess.run(["ip", "-n", namespace, *args], check=True, timeout=EXIT_TIMEOUT_S)
    stats_path = tmp_path / "stats.json"
    # two interfaces, so that each line names its own (as tcpdump, one interface's lines name none)
    with RunningCapture(tmp_path, "--netns", namespace, "-i", hostile, "-i", "rmtpeer", "--stats-json", str(stats_path),
                        interfaces=2) as capture:
        frame = netns.make_frame(0, 100, "02:00:c6:12:00:02", "02:00:c6:12:00:01")
        netns.send_frames(namespace, "rmtpeer", [frame] * 3)
        wait_settled()
        subprocess.run(["ip", "-n", namespace, "link", "del", hostile], check=True, timeout=EXIT_TIMEOUT_S)
        result = capture.finish()  # both ends of the pair gone, the capture ends by itself
    assert "\x1b" not in result.stderr and "\x1b" not in result.stdout.decode()
    assert f"ringmon: listening on r\\x1bx (netns {namespace}), link-type EN10MB" in result.stderr
    assert "ringmon: r\\x1bx: the interface went down or away; capture on it stopped" in result.stderr_lines
    lines = result.stdout.decode().splitlines()
    assert len([line for line in lines if " r\\x1bx " in line]) == 3, lines
    assert f"{namespace}/{hostile}" in json.loads(stats_path.read_text())  # JSON escapes it itself


@pytest.mark.parametrize(("word", "command"), [("reed", "read"), ("captur", "capture"), ("demoo", "demo")])
def test_a_mistyped_command_is_said_to_be_one_not_compiled_as_the_dashboards_filter(word, command):
    result = run_ringmon(word, "a.pcap")
    assert_one_error_line(result, f"'{word}' is not a command: did you mean 'ringmon {command}'?")
    assert result.returncode == 2
