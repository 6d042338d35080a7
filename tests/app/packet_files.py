"""A capture file of mixed traffic (DNS, ICMP, TCP with payload, UDP, ARP) written with dpkt, and, until the C
indexer reads files, a stand-in store with PacketStore's read methods over the packets of such a file."""
from __future__ import annotations

import socket
from pathlib import Path

import dpkt

from ringcore.store import MAX_BATCH, StoredPacket, StoreInterface, StoreProgress

FIRST_TS_S = 1_700_000_000
STEP_US = 1500  # between packets
MAC_A, MAC_B = bytes.fromhex("0200c6120001"), bytes.fromhex("0200c6120002")
IP_A, IP_B = socket.inet_aton("198.18.0.1"), socket.inet_aton("198.18.0.2")


def _ip(payload: dpkt.Packet, protocol: int, reply: bool) -> bytes:
    ip = dpkt.ip.IP(src=IP_B if reply else IP_A, dst=IP_A if reply else IP_B, p=protocol, data=payload, ttl=64)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=MAC_B, type=dpkt.ethernet.ETH_TYPE_IP, data=ip))


def mixed_frame(index: int) -> bytes:
    """Packet `index` (0-based) of the mix: the kind cycles over five, names and payloads carry the index."""
    kind, reply = index % 5, bool(index // 5 % 2)
    if kind == 0:
        query = dpkt.dns.DNS(id=index & 0xFFFF, qd=[dpkt.dns.DNS.Q(name=f"host{index}.example", type=dpkt.dns.DNS_A)])
        udp = dpkt.udp.UDP(sport=40000 + index % 1000, dport=53, data=bytes(query))
        udp.ulen = len(udp)
        return _ip(udp, dpkt.ip.IP_PROTO_UDP, False)
    if kind == 1:
        echo = dpkt.icmp.ICMP.Echo(id=7, seq=index & 0xFFFF, data=b"ping")
        icmp = dpkt.icmp.ICMP(type=0 if reply else 8, code=0, data=echo)
        return _ip(icmp, dpkt.ip.IP_PROTO_ICMP, reply)
    if kind == 2:
        tcp = dpkt.tcp.TCP(sport=50000, dport=80, seq=index * 100, flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
                           data=f"GET /page{index} HTTP/1.1\r\n\r\n".encode())
        return _ip(tcp, dpkt.ip.IP_PROTO_TCP, False)
    if kind == 3:
        udp = dpkt.udp.UDP(sport=41000, dport=9000, data=bytes(index % 256 for _ in range(index % 200)))
        udp.ulen = len(udp)
        return _ip(udp, dpkt.ip.IP_PROTO_UDP, reply)
    arp = dpkt.arp.ARP(op=dpkt.arp.ARP_OP_REQUEST, sha=MAC_A, spa=IP_A, tha=b"\0" * 6, tpa=IP_B)
    return bytes(dpkt.ethernet.Ethernet(src=MAC_A, dst=b"\xff" * 6, type=dpkt.ethernet.ETH_TYPE_ARP, data=arp))


def write_mixed_pcap(path: Path, count: int, frame=mixed_frame) -> Path:
    with open(path, "wb") as stream:
        writer = dpkt.pcap.Writer(stream)
        for index in range(count):
            writer.writepkt(frame(index), ts=FIRST_TS_S + index * STEP_US / 10**6)
    return path


class ListStore:
    """PacketStore's read side over a list of packets (a capture file read with dpkt, or appended by a test:
    a live store); `evict(n)` drops the oldest n, as a spool at its size limit does."""

    def __init__(self, packets: list[tuple[int, bytes]] = (), names: tuple[str, ...] = ("eth0",),
                 format: str = "pcap", done: bool = True, error: str | None = None) -> None:
        self.stored: list[StoredPacket] = []
        self.first = 0
        self.names = names
        self.format = format
        self.done = done
        self.error = error
        for ts_ns, data in packets:
            self.append(ts_ns, data)

    @classmethod
    def from_pcap(cls, path: Path, **options) -> ListStore:
        """A microsecond pcap (write_mixed_pcap's)."""
        with open(path, "rb") as stream:
            return cls([(round(ts * 10**6) * 1000, data) for ts, data in dpkt.pcap.Reader(stream)], **options)

    def append(self, ts_ns: int, data: bytes, interface: int = 0) -> None:
        number = self.first + len(self.stored)
        self.stored.append(StoredPacket(number, ts_ns, len(data), len(data), interface, 0, data))

    def evict(self, count: int) -> None:
        del self.stored[:count]
        self.first += count

    def progress(self) -> StoreProgress:
        count = self.first + len(self.stored)
        return StoreProgress(self.first, count, 0, 0, sum(p.caplen for p in self.stored),
                             self.format, self.done, self.error, 0, len(self.names))

    def interfaces(self) -> list[StoreInterface]:
        return [StoreInterface(name, dpkt.pcap.DLT_EN10MB, 65535) for name in self.names]

    def packets(self, start: int, count: int) -> list[StoredPacket]:
        assert 0 <= count <= MAX_BATCH
        begin = max(0, start - self.first)
        return self.stored[begin:max(begin, start - self.first + count)] if start >= self.first else []

    def packet(self, number: int) -> StoredPacket | None:
        found = self.packets(number, 1)
        return found[0] if found else None

    def close(self) -> None:
        pass
