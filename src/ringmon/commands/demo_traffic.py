"""The demo's traffic generator: a subprocess that loops steady, bursty and flood phases over the demo's veth pair.

Runs only between the demo's own namespaces (it enters them itself), stops when its parent goes
away, and never runs longer than --max-seconds.
"""
from __future__ import annotations

import argparse
import ctypes
import itertools
import os
import signal
import socket
import sys
import time

import dpkt

from ringcore import in_netns

PR_SET_PDEATHSIG = 1
STEADY_PPS = 2_000
BURST_FRAMES = 5_000
BURSTS_PER_S = 1
# Frames of 64 to 1514 bytes: 42 bytes of Ethernet, IPv4 and UDP headers around these payloads.
UDP_PAYLOAD_SIZES = (22, 158, 534, 1158, 1472)
REPLY_EVERY = 8  # one frame back from b to a per this many from a to b
# (phase name, seconds): steady and bursty traffic the consumer absorbs, then a flood it cannot.
PHASES = (("steady", 8.0), ("bursty", 8.0), ("flood", 6.0))


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def build_frames(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str) -> list[bytes]:
    """A small mix of frames worth inspecting: DNS over UDP, TCP with data, ICMP echo, UDP of several sizes."""
    src, dst = socket.inet_aton(src_ip), socket.inet_aton(dst_ip)

    def udp(sport: int, dport: int, payload: bytes) -> dpkt.udp.UDP:
        # dpkt leaves the UDP length at its default (8, the header alone); the IP layer computes the
        # checksum over it, so it must be right before the frame is packed.
        return dpkt.udp.UDP(sport=sport, dport=dport, ulen=dpkt.udp.UDP_HDR_LEN + len(payload), data=payload)

    def ethernet(ip: dpkt.ip.IP) -> bytes:
        ip.src, ip.dst = src, dst
        return bytes(dpkt.ethernet.Ethernet(src=_mac(src_mac), dst=_mac(dst_mac), type=dpkt.ethernet.ETH_TYPE_IP, data=ip))

    query = dpkt.dns.DNS(id=0x1234, qd=[dpkt.dns.DNS.Q(name="ring.example", type=dpkt.dns.DNS_A)])
    frames = [
        ethernet(dpkt.ip.IP(p=dpkt.ip.IP_PROTO_UDP, data=udp(40000, 53, bytes(query)))),
        ethernet(dpkt.ip.IP(p=dpkt.ip.IP_PROTO_TCP, data=dpkt.tcp.TCP(
            sport=40001, dport=80, seq=1000, ack=1, flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
            data=b"GET /ring HTTP/1.1\r\nHost: demo\r\n\r\n"))),
        ethernet(dpkt.ip.IP(p=dpkt.ip.IP_PROTO_ICMP, data=dpkt.icmp.ICMP(
            type=dpkt.icmp.ICMP_ECHO, data=dpkt.icmp.ICMP.Echo(id=7, seq=1, data=b"ringmon demo ping")))),
    ]
    for payload_size in UDP_PAYLOAD_SIZES:
        payload = (bytes(range(256)) * (payload_size // 256 + 1))[:payload_size]
        frames.append(ethernet(dpkt.ip.IP(p=dpkt.ip.IP_PROTO_UDP, data=udp(40002, 40003, payload))))
    return frames


def open_sender(netns: str, ifname: str) -> socket.socket:
    with in_netns(netns):
        sender = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sender.bind((ifname, 0))
    return sender


class Generator:
    def __init__(self, forward: socket.socket, reverse: socket.socket, forward_frames: list[bytes],
                 reverse_frames: list[bytes], parent_pid: int, deadline: float) -> None:
        self.forward, self.reverse = forward, reverse
        self.forward_frames = itertools.cycle(forward_frames)
        self.reverse_frames = itertools.cycle(reverse_frames)
        self.parent_pid = parent_pid
        self.deadline = deadline
        self.sent = 0

    def alive(self) -> bool:
        return os.getppid() == self.parent_pid and time.monotonic() < self.deadline

    def send(self, count: int) -> None:
        for _ in range(count):
            try:
                self.forward.send(next(self.forward_frames))
                self.sent += 1
                if self.sent % REPLY_EVERY == 0:
                    self.reverse.send(next(self.reverse_frames))
            except BlockingIOError:  # the veth's queue is full: that is what a flood is
                pass

    def steady(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        tick_s = 0.01
        while time.monotonic() < end and self.alive():
            self.send(int(STEADY_PPS * tick_s))
            time.sleep(tick_s)

    def bursty(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.alive():
            self.send(BURST_FRAMES)
            time.sleep(1 / BURSTS_PER_S)

    def flood(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.alive():
            self.send(1000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--netns-a", required=True)
    parser.add_argument("--if-a", required=True)
    parser.add_argument("--mac-a", required=True)
    parser.add_argument("--ip-a", required=True)
    parser.add_argument("--netns-b", required=True)
    parser.add_argument("--if-b", required=True)
    parser.add_argument("--mac-b", required=True)
    parser.add_argument("--ip-b", required=True)
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    parser.add_argument("--phase-file", help="where to write the name of the phase running (the demo shows it)")
    args = parser.parse_args(argv)
    # Die with the demo even if it is killed with SIGKILL; the parent check below covers the race.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    forward = open_sender(args.netns_a, args.if_a)
    reverse = open_sender(args.netns_b, args.if_b)
    generator = Generator(
        forward, reverse,
        build_frames(args.mac_a, args.mac_b, args.ip_a, args.ip_b),
        build_frames(args.mac_b, args.mac_a, args.ip_b, args.ip_a),
        args.parent_pid, time.monotonic() + args.max_seconds,
    )
    while generator.alive():
        for phase, seconds in PHASES:
            if args.phase_file:
                with open(args.phase_file, "w") as phase_file:
                    phase_file.write(phase)
            getattr(generator, phase)(seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
