"""The packet list's and `ringmon capture`'s summaries come from a walk that keeps no tree: it must say what the
full dissection says, on every frame the decode tree knows, cut at every length, and on real traffic."""
from __future__ import annotations

import dpkt
from decode_frames import frames
from packet_files import mixed_frame
from summary_modes import assert_summary_modes_agree
from test_decode_against_tshark import _talk

import netns
from ringcore import SlotMeta
from ringmon.decode.summary import summarize


def test_the_summary_walk_says_what_the_full_dissection_says_of_every_known_frame_and_every_cut_of_it():
    for linktype, frame in frames().values():
        for kept in range(len(frame) + 1):  # every length the capture could have kept: each failure path
            assert_summary_modes_agree(frame[:kept], linktype, len(frame))
            assert_summary_modes_agree(frame[:kept], linktype)  # and the frame that really ends there


def test_the_summary_walk_says_what_the_full_dissection_says_of_a_file_tcpdump_wrote(veth_pair, tmp_path):
    path = tmp_path / "real.pcap"
    with netns.tcpdump_alongside(veth_pair.ns_a, veth_pair.if_a, "", str(path)):
        _talk(veth_pair)
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, [mixed_frame(index) for index in range(100)])
    with open(path, "rb") as file:
        captured = [bytes(frame) for _, frame in dpkt.pcap.Reader(file)]
    assert len(captured) >= 100
    for frame in captured:
        assert_summary_modes_agree(frame, dpkt.pcap.DLT_EN10MB)
    protocols = {summarize(frame, SlotMeta(0, len(frame), len(frame), 0, 0, 0), "eth0").protocol for frame in captured}
    assert {"ARP", "TCP", "HTTP", "TLS", "DNS", "ICMP"} <= protocols
