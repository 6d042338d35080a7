"""`ringmon capture -w`: real frames on a veth pair between test namespaces, read back by tshark."""
import dataclasses
import json
import signal
import subprocess

import pytest
from cli_process import (
    EXIT_TIMEOUT_S,
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
from readback import capinfos_interfaces
from ringcore import RingStats

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
    stats = json.loads((tmp_path / "stats.json").read_text())[veth_pair.if_a]
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


def test_stats_json_counts_equal_frames_sent_and_the_accounting_closes(veth_pair, tmp_path):
    stats_path = tmp_path / "stats.json"
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(tmp_path / "out.pcap"),
                        "-c", str(FRAME_COUNT), "--stats-json", str(stats_path)) as capture:
        frames = veth_pair.frames_to_a(range(FRAME_COUNT))
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    document = json.loads(stats_path.read_text())
    assert list(document) == [veth_pair.if_a]
    stats = document[veth_pair.if_a]
    assert set(stats) == {field.name for field in dataclasses.fields(RingStats)}
    assert stats["kernel_packets"] == FRAME_COUNT
    assert stats["kernel_bytes"] == sum(map(len, frames))
    assert stats["delivered"] == FRAME_COUNT
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
    stats = json.loads(stats_path.read_text())[veth_pair.if_a]
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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
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
    result = run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-i", "rmtun0",
                         "-w", str(tmp_path / "out.pcap"))
    assert_one_error_line(result, "one link type", "pcapng")
