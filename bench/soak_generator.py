"""The soak's traffic on one interface: bursts of UDP frames as fast as the socket takes them, at a bounded
average rate, stopped and resumed on command so that the soak knows exactly how many frames went out while a
capture was listening.

    python -P soak_generator.py IFNAME --rate PPS --max-burst N --seed S     (inside the sender's namespace)

Commands on stdin, one per line, each answered on stdout: "go" starts sending ("going"); "stop" stops after
the frame in flight and answers "sent N", the frames the kernel accepted since the last "go"; end of input ends
the process. A frame counts as sent only when send() succeeded: a veth whose peer backlog is full refuses it
with ENOBUFS, so every frame counted here reached the capture end.
"""
from __future__ import annotations

import argparse
import errno
import random
import select
import socket
import struct
import sys
import time

# Neither end's MAC: the receiver's kernel sees the frames as PACKET_OTHERHOST and drops them without a reply,
# so the capture end carries exactly what this process sends.
DST_MAC = bytes.fromhex("0200c61200fe")
SRC_IP, DST_IP = "198.18.254.1", "198.18.254.2"  # RFC 2544 benchmarking range, never routed
UDP_PORT = 9  # discard
# Frame sizes in turn: mostly minimum-size frames (the flood), some larger ones for the writer's buffer.
FRAME_SIZES = (60, 60, 60, 124, 508, 1514)
ENOBUFS_BACKOFF_S = 0.0005


def _checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def make_frame(src_mac: bytes, size: int) -> bytes:
    """An Ethernet/IPv4/UDP frame of `size` bytes with valid lengths and IP checksum."""
    ip_len = size - 14
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0x4000, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(SRC_IP), socket.inet_aton(DST_IP))
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    udp = struct.pack("!HHHH", UDP_PORT, UDP_PORT, ip_len - 20, 0)
    return DST_MAC + src_mac + b"\x08\x00" + ip + udp + bytes(size - 42)


class Sender:
    """Bursts of frames on one interface, counted."""

    def __init__(self, ifname: str, rate_pps: int, max_burst: int, seed: int):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # protocol 0: send only
        self.sock.bind((ifname, 0))
        src_mac = self.sock.getsockname()[4]
        self.frames = [make_frame(src_mac, size) for size in FRAME_SIZES]
        self.rate_pps = rate_pps
        self.max_burst = max_burst
        self.random = random.Random(seed)
        self.sent = 0

    def burst(self) -> float:
        """Send one burst; returns the pause that keeps the average at the rate, in seconds."""
        count = self.random.randint(1, self.max_burst)
        started = time.monotonic()
        for index in range(count):
            frame = self.frames[index % len(self.frames)]
            while True:
                try:
                    self.sock.send(frame)
                    break
                except OSError as error:
                    if error.errno != errno.ENOBUFS:
                        raise
                    time.sleep(ENOBUFS_BACKOFF_S)
            self.sent += 1
        return max(0.0, count / self.rate_pps - (time.monotonic() - started))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("ifname")
    parser.add_argument("--rate", type=int, required=True, help="average frames per second")
    parser.add_argument("--max-burst", type=int, required=True, help="largest burst, in frames")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sender = Sender(args.ifname, args.rate, args.max_burst, args.seed)
    commands, answers = sys.stdin, sys.stdout
    sending = False
    pause_s = 0.0
    while True:
        # Commands come one at a time, each waiting for its answer: a line read here is never half a buffer.
        ready, _, _ = select.select([commands], [], [], pause_s if sending else None)
        if ready:
            command = commands.readline().strip()
            if not command:
                return 0
            if command == "go":
                sending, sender.sent = True, 0
                answers.write("going\n")
            elif command == "stop":
                sending = False
                answers.write(f"sent {sender.sent}\n")
            else:
                answers.write(f"error: unknown command {command!r}\n")
            answers.flush()
        elif sending:
            pause_s = sender.burst()


if __name__ == "__main__":
    sys.exit(main())
