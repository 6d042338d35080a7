"""Packets larger than a ring slot, on real veth pairs: kept whole up to the snap length as tcpdump keeps them
(jumbo frames, and the 64 KB packets a TCP stream hands a veth), cut only when the user asks (-s, or
--truncate-to-slot), and counted as truncated only when the ring cut them."""
from __future__ import annotations

import json
import signal
import subprocess

import pytest

from cli_process import RING_MODES, RunningCapture, RunningTcpdump, tshark_packets, wait_settled

import netns

SLOT_DATA = 2048 - 32  # the default slot less its header: what one slot holds
# Sizes around the slot and up to the jumbo MTU: one slot, just over it, several, the largest frame.
JUMBO_SIZES = (60, SLOT_DATA, SLOT_DATA + 1, 4096, 6000, netns.MAX_JUMBO_FRAME_LEN)
JUMBO_FRAMES = 300
TCP_BYTES = 8 << 20
# Sent a 64 KiB chunk every 5 ms: still one TSO-sized packet each, but no burst that fills an 8 MiB kernel ring
# (tcpdump's or ours) while a loaded machine keeps its reader off the CPU.
TCP_CHUNK = 64 << 10
TCP_PAUSE_S = 0.005
TCP_PORT = 5201
TCP_TIMEOUT_S = 60


def jumbo_frames(pair: netns.VethPair) -> list[bytes]:
    return [netns.make_frame(seq, JUMBO_SIZES[seq % len(JUMBO_SIZES)], pair.mac_b, pair.mac_a,
                             src_ip=pair.ip_b, dst_ip=pair.ip_a) for seq in range(JUMBO_FRAMES)]


def capture_beside_tcpdump(pair: netns.VethPair, tmp_path, send, *options: str):
    """ringmon capture -w (with `options`) and tcpdump on end a while send() runs; (ringmon's packets,
    tcpdump's packets, ringmon's statistics, its summary's lines), both files read back by tshark."""
    out, reference, stats_path = tmp_path / "ringmon.pcap", tmp_path / "tcpdump.pcap", tmp_path / "stats.json"
    tcpdump = RunningTcpdump(pair.ns_a, pair.if_a, reference)
    try:
        with RunningCapture(tmp_path, "--netns", pair.ns_a, "-i", pair.if_a, "-w", str(out),
                            "--stats-json", str(stats_path), *options) as capture:
            send()
            wait_settled()
            capture.signal(signal.SIGINT)
            result = capture.finish()
    finally:
        tcpdump.finish()
    assert result.returncode == 0, result.stderr
    return (tshark_packets(out), tshark_packets(reference), json.loads(stats_path.read_text())[pair.key_a],
            result.stderr_lines)


@pytest.mark.parametrize("mode", RING_MODES)
def test_jumbo_frames_are_kept_whole_byte_for_byte_as_tcpdump_keeps_them(veth_pair, tmp_path, mode):
    netns.set_mtu(veth_pair, netns.JUMBO_MTU)
    frames = jumbo_frames(veth_pair)
    ours, tcpdumps, stats, summary = capture_beside_tcpdump(
        veth_pair, tmp_path, lambda: netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames), *RING_MODES[mode])
    assert [packet.frame for packet in tcpdumps] == frames, "tcpdump, the reference, kept every frame whole"
    assert [packet.frame for packet in ours] == frames
    assert [packet.wirelen for packet in ours] == [len(frame) for frame in frames]
    assert (stats["truncated"], stats["delivered"], stats["kernel_packets"]) == (0, len(frames), len(frames))
    assert stats["mode"] == mode
    if mode == "copy":
        assert stats["slots_used_high"] > stats["occupancy"], "a jumbo frame took several slots"


def _tcp_stream(pair: netns.VethPair) -> None:
    """TCP_BYTES from end b to end a through the kernel's stack: the sender hands the veth segments of up
    to 64 KB (TSO), which the capture on end a sees as single packets, as it sees GRO's on a real NIC."""
    server = subprocess.Popen(
        ["ip", "netns", "exec", pair.ns_a, "python3", "-c",
         "import socket, sys\n"
         f"s = socket.create_server(('{pair.ip_a}', {TCP_PORT}))\n"
         "print('ready', flush=True)\n"
         "c, _ = s.accept()\n"
         "while c.recv(1 << 20): pass\n"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "ready"
        subprocess.run(
            ["ip", "netns", "exec", pair.ns_b, "python3", "-c",
             "import socket, time\n"
             f"c = socket.create_connection(('{pair.ip_a}', {TCP_PORT}))\n"
             f"for _ in range({TCP_BYTES // TCP_CHUNK}):\n"
             f"    c.sendall(bytes({TCP_CHUNK}))\n"
             f"    time.sleep({TCP_PAUSE_S})\n"
             "c.close()\n"],
            check=True, timeout=TCP_TIMEOUT_S)
        server.wait(TCP_TIMEOUT_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


@pytest.mark.parametrize("mode", RING_MODES)
def test_64k_packets_of_a_tcp_stream_are_kept_whole_as_tcpdump_keeps_them(veth_pair, tmp_path, mode):
    ours, tcpdumps, stats, summary = capture_beside_tcpdump(veth_pair, tmp_path, lambda: _tcp_stream(veth_pair),
                                                   *RING_MODES[mode])
    largest = max(packet.wirelen for packet in tcpdumps)
    assert largest > 4 * SLOT_DATA, f"the stream's largest packet was {largest} bytes: no GRO/TSO-sized packet"
    # The same packets, byte for byte; not compared in order: the data one way and the ACKs the other reach
    # two sockets on different paths and CPUs, so two captures may interleave them differently.
    assert sorted((p.wirelen, p.frame) for p in ours) == sorted((p.wirelen, p.frame) for p in tcpdumps)
    assert all(len(packet.frame) == packet.wirelen for packet in ours), "every packet whole"
    assert stats["truncated"] == 0


@pytest.mark.parametrize("mode", RING_MODES)
def test_snaplen_cuts_every_packet_to_it_and_counts_none_as_truncated(veth_pair, tmp_path, mode):
    netns.set_mtu(veth_pair, netns.JUMBO_MTU)
    frames = jumbo_frames(veth_pair)
    ours, _, stats, summary = capture_beside_tcpdump(
        veth_pair, tmp_path, lambda: netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames), "-s", "100",
        *RING_MODES[mode])
    assert [packet.frame for packet in ours] == [frame[:100] for frame in frames]
    assert [packet.wirelen for packet in ours] == [len(frame) for frame in frames]
    assert stats["truncated"] == 0, "a snap length the user asked for is not the ring's truncation"


def test_truncate_to_slot_cuts_to_one_slot_as_asked_and_counts_each_cut_packet(veth_pair, tmp_path):
    netns.set_mtu(veth_pair, netns.JUMBO_MTU)
    frames = jumbo_frames(veth_pair)
    ours, _, stats, summary = capture_beside_tcpdump(
        veth_pair, tmp_path, lambda: netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames),
        "--truncate-to-slot")
    assert [packet.frame for packet in ours] == [frame[:SLOT_DATA] for frame in frames]
    assert stats["truncated"] == sum(len(frame) > SLOT_DATA for frame in frames)
    assert stats["truncate_to_slot"] is True
    assert f"{stats['truncated']} packets truncated to one slot (--truncate-to-slot)" in summary


# Immediate mode (TPACKET_V2 frames sized for the MTU), copied into slots or each frame a slot.
IMMEDIATE_MODES = {"copy": ("--immediate-mode",), "zero_copy": ("--immediate-mode", "--zero-copy")}


@pytest.mark.parametrize("mode", IMMEDIATE_MODES)
def test_immediate_mode_cuts_a_tcp_streams_64k_packets_to_the_mtus_frame_and_counts_each_as_truncated(
        veth_pair, tmp_path, mode):
    ours, tcpdumps, stats, summary = capture_beside_tcpdump(veth_pair, tmp_path, lambda: _tcp_stream(veth_pair),
                                                   *IMMEDIATE_MODES[mode])
    cut = [packet for packet in ours if len(packet.frame) < packet.wirelen]
    assert cut, "no GRO/TSO-sized packet was cut"
    kept = len(cut[0].frame)
    assert 1514 <= kept < 1514 + 64 and all(len(packet.frame) == kept for packet in cut), "cut to one frame's room"
    # tcpdump (blocks, the default) kept them whole: ours are its packets, each cut to the frame
    assert sorted((p.wirelen, p.frame) for p in ours) == sorted((p.wirelen, p.frame[:kept]) for p in tcpdumps)
    assert stats["truncated"] == len(cut) and stats["mode"] == mode
    assert f"{len(cut)} packets truncated by the kernel: longer than --immediate-mode's frames, sized for the MTU" in summary
