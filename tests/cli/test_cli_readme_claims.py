"""What the README says `ringmon capture` does, each claim shown on a real capture of a veth pair and read back
by tshark: the default ring and wait, pcap-ns, 802.1Q tags put back, and -p (one pcapng interface block per
interface, and the accounting's end totals beside tcpdump's: test_cli_write.py)."""
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_process import RunningCapture, tshark_packets, wait_settled

import netns
from readback import tshark_fields

PAGE_SIZE = 4096
PCAP_MAGIC = {"pcap": 0xA1B2C3D4, "pcap-ns": 0xA1B23C4D}  # microsecond and nanosecond timestamps


def capture_stats(tmp_path: Path, pair: netns.VethPair, frames: list[bytes], *args: str) -> dict:
    """`ringmon capture -w` on end a while `frames` go from b to a, stopped by SIGINT; its --stats-json."""
    stats_path = tmp_path / "stats.json"
    with RunningCapture(tmp_path, "--netns", pair.ns_a, "-i", pair.if_a, "-w", str(tmp_path / "out.pcap"),
                        "--stats-json", str(stats_path), *args) as capture:
        netns.send_frames(pair.ns_b, pair.if_b, frames)
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    return json.loads(stats_path.read_text())[pair.key_a]


def test_default_ring_is_4097_pages_of_8192_2048_byte_slots_and_the_consumer_waits_for_events(veth_pair, tmp_path):
    frames = veth_pair.frames_to_a(range(100))
    stats = capture_stats(tmp_path, veth_pair, frames)
    assert (stats["slot_count"], stats["slot_size"]) == (8192, 2048)
    assert stats["slot_count"] * stats["slot_size"] == 16 * 1024 * 1024
    assert 1 + stats["slot_count"] * stats["slot_size"] // PAGE_SIZE == 4097  # one header page
    assert stats["wait_strategy"] == "event"
    assert (stats["kernel_packets"], stats["delivered"], stats["kernel_drops"]) == (100, 100, 0)


@pytest.mark.parametrize("fmt", ["pcap", "pcap-ns"])
def test_pcap_ns_has_the_nanosecond_magic_and_timestamps_tshark_reads_to_the_nanosecond(veth_pair, tmp_path, fmt):
    out = tmp_path / "out.pcap"
    frames = veth_pair.frames_to_a(range(50))
    sent_after_ns = time.time_ns()
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "--format", fmt, "-c", "50") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    sent_before_ns = time.time_ns()
    assert result.returncode == 0, result.stderr
    assert int.from_bytes(out.read_bytes()[:4], sys.byteorder) == PCAP_MAGIC[fmt]
    packets = tshark_packets(out)
    assert [packet.frame for packet in packets] == frames
    timestamps = [packet.ts_ns for packet in packets]
    assert sent_after_ns // 1000 * 1000 <= timestamps[0] and timestamps[-1] <= sent_before_ns
    # 50 kernel timestamps all whole microseconds would be a one in 10^150 chance: pcap-ns kept the nanoseconds
    sub_microsecond = [ts_ns % 1000 for ts_ns in timestamps]
    assert any(sub_microsecond) if fmt == "pcap-ns" else not any(sub_microsecond)


def test_802_1q_tag_the_kernel_strips_is_back_in_the_file(veth_pair, tmp_path):
    out = tmp_path / "out.pcap"
    # the receiving kernel moves the tag into the packet's metadata before any packet socket sees it
    tagged = [netns.with_vlan_tag(frame, vlan_id=100 + seq, priority=seq % 8)
              for seq, frame in enumerate(veth_pair.frames_to_a(range(10), 200))]
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(out),
                        "-c", "10") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, tagged)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert [packet.frame for packet in tshark_packets(out)] == tagged
    assert tshark_fields(out, "vlan.id", "vlan.priority", "udp.dstport") == [
        (str(100 + seq), str(seq % 8), str(netns.UDP_DST_PORT)) for seq in range(10)]


def bridge_over_end_a(pair: netns.VethPair, bridge: str, bridge_mac: str) -> None:
    """End a enslaved to a bridge: a bridge, unlike a veth, passes frames for other hosts to its packet
    sockets only when promiscuous."""
    for argv in (["link", "add", bridge, "address", bridge_mac, "type", "bridge"],
                 ["link", "set", pair.if_a, "master", bridge], ["link", "set", bridge, "up"]):
        subprocess.run(["ip", "-n", pair.ns_a, *argv], check=True, timeout=30)


@pytest.mark.parametrize("no_promisc", [False, True], ids=["promisc", "-p"])
def test_foreign_unicast_is_captured_without_p_and_not_with_it(veth_pair, tmp_path, no_promisc):
    bridge, bridge_mac = "rmtbr", "02:00:c6:12:fe:01"
    bridge_over_end_a(veth_pair, bridge, bridge_mac)
    foreign = [netns.make_frame(seq, 100, veth_pair.mac_b, "02:00:c6:13:00:99") for seq in range(10)]
    to_bridge = [netns.make_frame(seq, 100, veth_pair.mac_b, bridge_mac) for seq in range(10, 15)]
    out = tmp_path / "out.pcap"
    # "udp" keeps out the IGMP report the bridge sends when it comes up
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", bridge, "-w", str(out),
                        *(["-p"] if no_promisc else []), "udp") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, foreign + to_bridge)
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    seqs = [netns.check_frame(packet.frame) for packet in tshark_packets(out)]
    assert seqs == (list(range(10, 15)) if no_promisc else list(range(15)))
