#!/usr/bin/env python3
"""Writes a capture of mixed, coherent traffic for bench/read_bench.py: TCP flows (handshakes, HTTP/1.1,
TLS with a ClientHello naming its server, bulk downloads, FINs), DNS over UDP, NTP, ICMP echo, ARP, IPv6
(TCP, DNS, ICMPv6 echo and neighbour discovery) and a few 802.1Q-tagged frames, interleaved as on a busy
link. The same seed gives the same bytes.

    python bench/packet_mix.py OUT [--count 1000000] [--format pcap|pcapng] [--seed 1]

Frames are packed with struct, checksums computed with big-integer arithmetic (one C call per frame),
so a million packets take seconds. OUT is created exclusively (0600) and appears only when complete.
"""
from __future__ import annotations

import argparse
import os
import random
import struct
import sys
import tempfile
from collections.abc import Callable, Iterator

ETH_IP4, ETH_IP6, ETH_ARP, ETH_VLAN = 0x0800, 0x86DD, 0x0806, 0x8100
PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMP6 = 1, 6, 17, 58
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
MSS = 1448  # what a 1500-byte MTU leaves with TCP timestamps; segments here carry no options but SYN's
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
START_S = 1_767_268_800  # 2026-01-01 12:00:00 UTC
MEAN_GAP_US = 40  # about 25,000 packets a second: a million span 40 s
CONCURRENT_EPISODES = 48  # conversations in progress at once, their packets interleaved
VLAN_SHARE = 0.02  # of IPv4 conversations, tagged 802.1Q on one of VLAN_IDS
VLAN_IDS = (10, 20, 100)
WRITE_BATCH = 65536  # packets per write()

SERVER_NAMES = ("www.example.com", "api.example.com", "cdn1.example.net", "cdn2.example.net", "static.example.org",
                "mail.example.org", "login.example.com", "images.example.net", "updates.example.org",
                "video.example.com", "news.example.net", "shop.example.com", "git.example.org", "wiki.example.org",
                "docs.example.com", "metrics.example.net", "ads.example.net", "chat.example.com")
# (path, the type of what it returns): bodies are text, JSON or opaque bytes as their type says, so that
# tshark's dissectors for the content types parse them
HTTP_PATHS = (("/", b"text/html; charset=utf-8"), ("/index.html", b"text/html; charset=utf-8"),
              ("/static/app.js", b"application/javascript"), ("/static/style.css", b"text/css"),
              ("/api/v1/items?page=", b"application/json"), ("/download/release.tar.gz", b"application/octet-stream"),
              ("/search?q=ring+buffer", b"text/html; charset=utf-8"), ("/video/clip-", b"application/octet-stream"))
USER_AGENTS = (b"curl/7.88.1", b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
               b"Wget/1.21.3", b"python-requests/2.31.0")
TLS_CIPHERS = (0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C,
               0x009D, 0x002F, 0x0035)
TLS_SIGNATURES = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601)


def checksum(data: bytes) -> int:
    """The Internet checksum: 2^16 = 1 modulo 0xFFFF, so the number the bytes spell, modulo 0xFFFF, is the
    sum of their 16-bit words with end-around carry (as 1..0xFFFF: the data here is never all zero)."""
    if len(data) & 1:
        data += b"\0"
    return 0xFFFF - (int.from_bytes(data, "big") % 0xFFFF or 0xFFFF)


class Host:
    """A machine on the link: its MAC, IPv4 and IPv6 addresses (global and link-local)."""

    def __init__(self, index: int, ip4: str, ip6: str):
        self.mac = bytes((0x02, 0x00, 0xC6, 0x12, index >> 8, index & 0xFF))
        self.ip4 = bytes(int(part) for part in ip4.split("."))
        self.ip6 = bytes.fromhex(ip6)
        # fe80::/64 and the modified EUI-64 of the MAC (universal/local bit flipped, ff:fe in the middle)
        self.link_local6 = (bytes.fromhex("fe80000000000000") + bytes((self.mac[0] ^ 0x02,)) + self.mac[1:3]
                            + b"\xff\xfe" + self.mac[3:])


class Endpoint:
    """One end of a conversation at layer 3: whose frames, to which MAC, over IPv4 or IPv6, and an 802.1Q tag."""

    def __init__(self, src_mac: bytes, dst_mac: bytes, src: bytes, dst: bytes, vlan: int | None):
        self.src_mac, self.dst_mac, self.src, self.dst, self.vlan = src_mac, dst_mac, src, dst, vlan
        self.ip6 = len(src) == 16
        self._ident = 0

    def reverse(self) -> Endpoint:
        return Endpoint(self.dst_mac, self.src_mac, self.dst, self.src, self.vlan)

    def ethernet(self, ethertype: int, payload: bytes) -> bytes:
        if self.vlan is not None:
            return self.dst_mac + self.src_mac + struct.pack("!HHH", ETH_VLAN, self.vlan, ethertype) + payload
        return self.dst_mac + self.src_mac + struct.pack("!H", ethertype) + payload

    def ip(self, proto: int, segment: bytes, checksum_at: int | None, hop_limit: int = 64) -> bytes:
        """A frame carrying `segment`, its transport checksum (at byte `checksum_at`) filled in over the
        pseudo-header."""
        length = len(segment)
        if checksum_at is not None:
            if self.ip6:
                pseudo = self.src + self.dst + struct.pack("!I3xB", length, proto)
            else:
                pseudo = self.src + self.dst + struct.pack("!xBH", proto, length)
            value = checksum(pseudo + segment)
            if proto == PROTO_UDP and value == 0:
                value = 0xFFFF  # 0 means "no checksum" in UDP
            segment = segment[:checksum_at] + value.to_bytes(2, "big") + segment[checksum_at + 2:]
        if self.ip6:
            return self.ethernet(ETH_IP6, struct.pack("!IHBB", 0x60000000, length, proto, hop_limit)
                                 + self.src + self.dst + segment)
        self._ident = (self._ident + 1) & 0xFFFF
        header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + length, self._ident, 0x4000, hop_limit, proto, 0) \
            + self.src + self.dst
        header = header[:10] + checksum(header).to_bytes(2, "big") + header[12:]
        return self.ethernet(ETH_IP4, header + segment)

    def udp(self, sport: int, dport: int, payload: bytes) -> bytes:
        return self.ip(PROTO_UDP, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload, 6)


class TcpFlow:
    """Both directions of one TCP connection, sequence and acknowledgement numbers kept right."""

    SYN_OPTIONS = struct.pack("!BBHBBBBBBBB", 2, 4, 1460, 1, 3, 3, 7, 4, 2, 1, 1)  # MSS, NOP, WS 7, SACK ok, NOP NOP

    def __init__(self, client: Endpoint, sport: int, dport: int, rng: random.Random):
        self.ends = (client, client.reverse())
        self.ports = ((sport, dport), (dport, sport))
        self.next_seq = [rng.getrandbits(32), rng.getrandbits(32)]
        self.frames: list[bytes] = []

    def segment(self, side: int, flags: int, payload: bytes = b"", window: int = 502) -> None:
        """A segment from the client (side 0) or the server (side 1)."""
        sport, dport = self.ports[side]
        seq, ack = self.next_seq[side], self.next_seq[1 - side] if flags & ACK else 0
        options = self.SYN_OPTIONS if flags & SYN else b""
        if flags & SYN:
            window = 64240 if side == 0 else 65160  # unscaled in a SYN
        header = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (20 + len(options)) << 2, flags, window, 0, 0)
        self.frames.append(self.ends[side].ip(PROTO_TCP, header + options + payload, 16))
        self.next_seq[side] = (seq + len(payload) + (1 if flags & (SYN | FIN) else 0)) & 0xFFFFFFFF

    def open(self) -> None:
        self.segment(0, SYN)
        self.segment(1, SYN | ACK)
        self.segment(0, ACK)

    def send(self, side: int, message: bytes, ack_every: int = 2) -> None:
        """`message` in MSS-sized segments, PSH on the last; the other side ACKs every `ack_every` and the end."""
        pieces = [message[at:at + MSS] for at in range(0, len(message), MSS)]
        for number, piece in enumerate(pieces, 1):
            self.segment(side, ACK | (PSH if number == len(pieces) else 0), piece)
            if number % ack_every == 0 or number == len(pieces):
                self.segment(1 - side, ACK)

    def close(self, side: int = 0) -> None:
        self.segment(side, FIN | ACK)
        self.segment(1 - side, FIN | ACK)
        self.segment(side, ACK)


class Traffic:
    """Conversations of each kind, each a list of frames in order; `episodes` chooses among them."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.gateway = Host(1, "198.18.0.1", "20010db8000100000000000000000001")
        self.clients = [Host(16 + n, f"198.18.1.{16 + n}", f"20010db80001000000000000{0x1000 + n:08x}")
                        for n in range(60)]
        self.servers = {name: (bytes((198, 19, n // 200, 10 + n % 200)),
                               bytes.fromhex(f"20010db800ff{n:04x}0000000000000080"))
                        for n, name in enumerate(SERVER_NAMES)}
        self.filler = rng.randbytes(1 << 20)  # bodies and ciphertext are slices of it
        self.page_text = (b"<p>ringmon packet list benchmark: lorem ipsum dolor sit amet, consectetur adipiscing "
                          b"elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.</p>\n") * 4096
        self.json_items = [b'{"id": %d, "name": "item %d", "price": %d.%02d, "tags": ["ring", "bench"]}'
                           % (n, n, n % 97, n % 100) for n in range(8_000)]
        self.kinds: list[tuple[Callable[[], list[bytes]], int]] = [
            (lambda: self.dns(ip6=False), 30), (lambda: self.dns(ip6=True), 5),
            (lambda: self.tls(ip6=False), 20), (lambda: self.tls(ip6=True), 6),
            (lambda: self.http(ip6=False), 12), (lambda: self.http(ip6=True), 2),
            (lambda: self.ping(ip6=False), 6), (lambda: self.ping(ip6=True), 2),
            (self.arp, 4), (self.neighbour_discovery, 3), (self.ntp, 2),
        ]
        self._choose = [kind for kind, weight in self.kinds for _ in range(weight)]

    def episodes(self) -> Iterator[list[bytes]]:
        while True:
            yield self.rng.choice(self._choose)()

    # -- who talks to whom ---------------------------------------------------------------------------------

    def _client_to(self, server: bytes | None, ip6: bool) -> Endpoint:
        """A client's end towards `server` (default: the gateway, resolver and NTP server of the link)."""
        client = self.rng.choice(self.clients)
        vlan = self.rng.choice(VLAN_IDS) if not ip6 and self.rng.random() < VLAN_SHARE else None
        if server is None:
            server = self.gateway.ip6 if ip6 else self.gateway.ip4
        return Endpoint(client.mac, self.gateway.mac, client.ip6 if ip6 else client.ip4, server, vlan)

    def _server(self, ip6: bool) -> tuple[str, bytes]:
        name = self.rng.choice(SERVER_NAMES)
        return name, self.servers[name][1 if ip6 else 0]

    def _ephemeral_port(self) -> int:
        return self.rng.randrange(32768, 61000)

    def _bytes(self, size: int) -> bytes:
        at = self.rng.randrange(0, len(self.filler) - size) if size < len(self.filler) else 0
        return self.filler[at:at + size]

    def _body(self, content_type: bytes, size: int) -> bytes:
        """About `size` bytes of what `content_type` says."""
        if content_type == b"application/json":
            first = self.rng.randrange(len(self.json_items))
            return b"[" + b", ".join(self.json_items[first:first + 1 + size // 80]) + b"]"
        if content_type == b"application/octet-stream":
            return self._bytes(size)
        return self.page_text[:size]

    def _body_size(self) -> int:
        draw = self.rng.random()
        if draw < 0.6:
            return self.rng.randrange(200, 8_000)
        if draw < 0.94:
            return self.rng.randrange(8_000, 64_000)
        return self.rng.randrange(64_000, 400_000)

    # -- conversations -------------------------------------------------------------------------------------

    def http(self, ip6: bool) -> list[bytes]:
        name, address = self._server(ip6)
        flow = TcpFlow(self._client_to(address, ip6), self._ephemeral_port(), 80, self.rng)
        flow.open()
        for _ in range(self.rng.choice((1, 1, 1, 2, 3))):  # keep-alive: a few requests on one connection
            path, content_type = self.rng.choice(HTTP_PATHS)
            if path.endswith(("=", "-")):
                path += str(self.rng.randrange(1, 50))
            flow.send(0, b"GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: %s\r\nAccept: */*\r\n"
                         b"Accept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n\r\n"
                      % (path.encode(), name.encode(), self.rng.choice(USER_AGENTS)))
            draw = self.rng.random()
            if draw < 0.08:
                flow.send(1, b"HTTP/1.1 304 Not Modified\r\nServer: nginx\r\nETag: \"%08x\"\r\n\r\n"
                          % self.rng.getrandbits(32))
                continue
            if draw < 0.12:
                status, reason, content_type, body = 404, b"Not Found", b"text/html", self.page_text[:153]
            else:
                status, reason, body = 200, b"OK", self._body(content_type, self._body_size())
            flow.send(1, b"HTTP/1.1 %d %s\r\nServer: nginx\r\nContent-Type: %s\r\nContent-Length: %d\r\n"
                         b"Cache-Control: max-age=3600\r\nConnection: keep-alive\r\n\r\n%s"
                      % (status, reason, content_type, len(body), body))
        flow.close()
        return flow.frames

    def tls(self, ip6: bool) -> list[bytes]:
        name, address = self._server(ip6)
        flow = TcpFlow(self._client_to(address, ip6), self._ephemeral_port(), 443, self.rng)
        flow.open()
        session_id = self.rng.randbytes(32)
        flow.send(0, self._client_hello(name.encode(), session_id))
        server_hello = (struct.pack("!H", 0x0303) + self.rng.randbytes(32) + b"\x20" + session_id
                        + struct.pack("!HB", 0x1301, 0)
                        + _extensions([(43, struct.pack("!H", 0x0304)),
                                       (51, struct.pack("!HH", 0x001D, 32) + self.rng.randbytes(32))]))
        flow.send(1, _tls_record(22, _handshake(2, server_hello)) + _tls_record(20, b"\x01")
                  + _tls_record(23, self._bytes(self.rng.randrange(2_500, 4_500))))
        flow.send(0, _tls_record(20, b"\x01") + _tls_record(23, self._bytes(53)))
        for _ in range(self.rng.choice((1, 1, 2, 4))):
            flow.send(0, _tls_record(23, self._bytes(self.rng.randrange(80, 700))))
            size = self._body_size()
            # records of at most 16 KiB of plaintext, as TLS sends them
            flow.send(1, b"".join(_tls_record(23, self._bytes(min(16_401, size - at)))
                                  for at in range(0, size, 16_401)))
        flow.close(side=self.rng.randrange(2))
        return flow.frames

    def _client_hello(self, server_name: bytes, session_id: bytes) -> bytes:
        sni = struct.pack("!HBH", len(server_name) + 3, 0, len(server_name)) + server_name
        alpn = b"\x02h2\x08http/1.1"
        hello = (struct.pack("!H", 0x0303) + self.rng.randbytes(32) + b"\x20" + session_id
                 + struct.pack(f"!H{len(TLS_CIPHERS)}H", 2 * len(TLS_CIPHERS), *TLS_CIPHERS) + b"\x01\x00"
                 + _extensions([(0, sni), (10, struct.pack("!HHHH", 6, 0x001D, 0x0017, 0x0018)), (11, b"\x01\x00"),
                                (13, struct.pack(f"!H{len(TLS_SIGNATURES)}H", 2 * len(TLS_SIGNATURES),
                                                 *TLS_SIGNATURES)),
                                (16, struct.pack("!H", len(alpn)) + alpn), (43, struct.pack("!BHH", 4, 0x0304, 0x0303)),
                                (45, b"\x01\x01"),
                                (51, struct.pack("!HHH", 36, 0x001D, 32) + self.rng.randbytes(32))]))
        return _tls_record(22, _handshake(1, hello), version=0x0301)

    def dns(self, ip6: bool) -> list[bytes]:
        name, _ = self._server(self.rng.random() < 0.5)
        if self.rng.random() < 0.1:
            name = f"host{self.rng.randrange(1000)}.invalid"  # answered NXDOMAIN
        qtype = 28 if self.rng.random() < 0.4 else 1
        client = self._client_to(None, ip6)
        ident, sport = self.rng.getrandbits(16), self._ephemeral_port()
        question = b"".join(bytes((len(label),)) + label.encode() for label in name.split(".")) + b"\0" \
            + struct.pack("!HH", qtype, 1)
        frames = [client.udp(sport, 53, struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question)]
        if name.endswith(".invalid"):
            answer = struct.pack("!HHHHHH", ident, 0x8183, 1, 0, 0, 0) + question
        else:
            v4, v6 = self.servers[name]
            count = self.rng.randrange(1, 4)
            address = v6 if qtype == 28 else v4
            records = b"".join(struct.pack("!HHHIH", 0xC00C, qtype, 1, self.rng.randrange(30, 3600), len(address))
                               + address[:-1] + bytes(((address[-1] + n) & 0xFF,)) for n in range(count))
            answer = struct.pack("!HHHHHH", ident, 0x8180, 1, count, 0, 0) + question + records
        frames.append(client.reverse().udp(53, sport, answer))
        return frames

    def ntp(self) -> list[bytes]:
        client = self._client_to(None, False)
        sport = self._ephemeral_port()
        stamp = (START_S + 2_208_988_800) << 32 | self.rng.getrandbits(32)  # NTP counts from 1900
        request = struct.pack("!BBbbII4sQQQQ", 0x23, 0, 6, -20, 0, 0, b"\0\0\0\0", 0, 0, 0, stamp)
        reply = struct.pack("!BBbbII4sQQQQ", 0x24, 2, 6, -23, 0x1A, 0x2C, bytes((198, 19, 200, 1)), stamp - (64 << 32),
                            stamp, stamp + 1000, stamp + 2000)
        return [client.udp(sport, 123, request), client.reverse().udp(123, sport, reply)]

    def ping(self, ip6: bool) -> list[bytes]:
        _, address = self._server(ip6)
        client = self._client_to(address, ip6)
        ident, frames = self.rng.getrandbits(16), []
        data = struct.pack("!Q", START_S) + bytes(range(0x10, 0x38))  # as ping(8): a timestamp, then a pattern
        request, reply, proto = (128, 129, PROTO_ICMP6) if ip6 else (8, 0, PROTO_ICMP)
        for seq in range(1, self.rng.randrange(2, 6)):
            for end, kind in ((client, request), (client.reverse(), reply)):
                message = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + data
                if ip6:
                    frames.append(end.ip(proto, message, 2))
                else:
                    frames.append(end.ip(proto, message[:2] + checksum(message).to_bytes(2, "big") + message[4:],
                                         None))
        return frames

    def arp(self) -> list[bytes]:
        asker, target = self.rng.sample([self.gateway, *self.clients], 2)
        broadcast = b"\xff" * 6
        request = struct.pack("!HHBBH", 1, ETH_IP4, 6, 4, 1) + asker.mac + asker.ip4 + b"\0" * 6 + target.ip4
        reply = struct.pack("!HHBBH", 1, ETH_IP4, 6, 4, 2) + target.mac + target.ip4 + asker.mac + asker.ip4
        padding = b"\0" * 18  # to Ethernet's 60-byte minimum, as a NIC pads it
        return [broadcast + asker.mac + struct.pack("!H", ETH_ARP) + request + padding,
                asker.mac + target.mac + struct.pack("!H", ETH_ARP) + reply + padding]

    def neighbour_discovery(self) -> list[bytes]:
        """A neighbour solicitation to the target's solicited-node group and its advertisement."""
        asker, target = self.rng.sample([self.gateway, *self.clients], 2)
        group = bytes.fromhex("ff0200000000000000000001ff") + target.ip6[13:]
        solicit = Endpoint(asker.mac, b"\x33\x33" + group[12:], asker.link_local6, group, None)
        advert = Endpoint(target.mac, asker.mac, target.link_local6, asker.link_local6, None)
        return [solicit.ip(PROTO_ICMP6, struct.pack("!BBHI", 135, 0, 0, 0) + target.ip6 + b"\x01\x01" + asker.mac,
                           2, hop_limit=255),
                advert.ip(PROTO_ICMP6, struct.pack("!BBHI", 136, 0, 0, 0x60000000) + target.ip6 + b"\x02\x01"
                          + target.mac, 2, hop_limit=255)]


def _extensions(pairs: list[tuple[int, bytes]]) -> bytes:
    body = b"".join(struct.pack("!HH", kind, len(value)) + value for kind, value in pairs)
    return struct.pack("!H", len(body)) + body


def _handshake(kind: int, body: bytes) -> bytes:
    return struct.pack("!I", kind << 24 | len(body)) + body


def _tls_record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def packets(count: int, seed: int) -> Iterator[tuple[int, bytes]]:
    """(timestamp in µs, frame) for `count` packets: CONCURRENT_EPISODES conversations at a time, a random
    one giving its next frame each step, a new one starting when one ends."""
    rng = random.Random(seed)
    episodes = Traffic(rng).episodes()
    active = [iter(next(episodes)) for _ in range(CONCURRENT_EPISODES)]
    now_us = START_S * 1_000_000
    produced = 0
    while produced < count:
        slot = rng.randrange(CONCURRENT_EPISODES)
        frame = next(active[slot], None)
        if frame is None:
            active[slot] = iter(next(episodes))
            continue
        now_us += 1 + int(rng.expovariate(1 / MEAN_GAP_US))
        produced += 1
        yield now_us, frame


def pcap_file(count: int, seed: int) -> Iterator[bytes]:
    """A classic pcap, microsecond timestamps, little-endian: header, then batches of records."""
    yield struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)
    batch = []
    pack = struct.Struct("<IIII").pack
    for stamp_us, frame in packets(count, seed):
        batch.append(pack(stamp_us // 1_000_000, stamp_us % 1_000_000, len(frame), len(frame)))
        batch.append(frame)
        if len(batch) >= 2 * WRITE_BATCH:
            yield b"".join(batch)
            batch.clear()
    yield b"".join(batch)


def pcapng_file(count: int, seed: int) -> Iterator[bytes]:
    """A pcapng: one section, one Ethernet interface (microsecond ticks), an enhanced packet block each."""
    application = b"ringmon bench/packet_mix.py"
    shb_options = struct.pack("<HH", 4, len(application)) + application + b"\0" * (-len(application) % 4) \
        + struct.pack("<HH", 0, 0)
    shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + shb_options
    yield struct.pack("<II", 0x0A0D0D0A, 12 + len(shb_body)) + shb_body + struct.pack("<I", 12 + len(shb_body))
    interface_name = b"bench0\0\0"
    idb_body = struct.pack("<HHI", LINKTYPE_ETHERNET, 0, SNAPLEN) + struct.pack("<HH", 2, 6) + interface_name \
        + struct.pack("<HH", 0, 0)
    yield struct.pack("<II", 1, 12 + len(idb_body)) + idb_body + struct.pack("<I", 12 + len(idb_body))
    batch = []
    pack_head, pack_tail = struct.Struct("<IIIIIII").pack, struct.Struct("<I").pack
    pads = [b"\0" * n for n in range(4)]
    for stamp_us, frame in packets(count, seed):
        pad = -len(frame) % 4
        total = 32 + len(frame) + pad
        batch.append(pack_head(6, total, 0, stamp_us >> 32, stamp_us & 0xFFFFFFFF, len(frame), len(frame)))
        batch.append(frame)
        batch.append(pads[pad] + pack_tail(total))
        if len(batch) >= 3 * WRITE_BATCH:
            yield b"".join(batch)
            batch.clear()
    yield b"".join(batch)


FORMATS = {"pcap": pcap_file, "pcapng": pcapng_file}


def write_capture(path: str, count: int, file_format: str = "pcap", seed: int = 1) -> None:
    """Writes the capture to a temporary file (mkstemp: exclusive, 0600) beside `path`, then links it to
    `path`, which fails if `path` exists: `path` is never overwritten, and never seen half written."""
    directory = os.path.dirname(os.path.abspath(path))
    descriptor, temporary = tempfile.mkstemp(prefix=".packet_mix-", suffix=".part", dir=directory)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            for chunk in FORMATS[file_format](count, seed):
                stream.write(chunk)
        os.link(temporary, path)
    finally:
        os.unlink(temporary)


def _count(text: str) -> int:
    value = int(text.replace("_", "").replace(",", ""))
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="file to create (must not exist)")
    parser.add_argument("--count", type=_count, default=1_000_000, help="packets (default: 1,000,000)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="pcap", dest="file_format")
    parser.add_argument("--seed", type=int, default=1, help="the same seed writes the same file (default: 1)")
    args = parser.parse_args(argv)
    try:
        write_capture(args.out, args.count, args.file_format, args.seed)
    except OSError as exc:
        print(f"packet_mix: {args.out}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
