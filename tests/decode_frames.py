"""Real frames of every protocol the decode tree knows, built byte by byte (dpkt fills in lengths and checksums),
for decode tests that check them against tshark: (link type, frame) pairs."""
from __future__ import annotations

import struct

import dpkt

MAC_A, MAC_B = bytes.fromhex("0200c6120001"), bytes.fromhex("0200c6120002")
IP_A, IP_B = bytes([198, 18, 0, 1]), bytes([198, 18, 0, 2])
IP6_A = bytes.fromhex("fe80000000000000000000fffe120001")
IP6_B = bytes.fromhex("fe80000000000000000000fffe120002")
LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_NULL, LINKTYPE_SLL, LINKTYPE_SLL2 = 1, 101, 0, 113, 276


def ethernet(ethertype: int, payload: bytes, src: bytes = MAC_B, dst: bytes = MAC_A) -> bytes:
    return dst + src + struct.pack("!H", ethertype) + payload


def ipv4(protocol: int, payload: bytes, options: bytes = b"", src: bytes = IP_B, dst: bytes = IP_A) -> bytes:
    ip = dpkt.ip.IP(src=src, dst=dst, p=protocol, ttl=64, id=0x1234, opts=options, data=payload)
    ip.hl = 5 + len(options) // 4
    ip.len = len(ip)
    ip.df = 1
    return bytes(ip)


def ipv6(next_header: int, payload: bytes, src: bytes = IP6_B, dst: bytes = IP6_A) -> bytes:
    return struct.pack("!IHBB", 0x60000000 | 0x12345, len(payload), next_header, 255) + src + dst + payload


def tcp(payload: bytes = b"", flags: int = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, options: bytes = b"",
        sport: int = 40000, dport: int = 80) -> bytes:
    assert len(options) % 4 == 0
    return struct.pack("!HHIIBBHHH", sport, dport, 1000, 2000 if flags & dpkt.tcp.TH_ACK else 0,
                       (5 + len(options) // 4) << 4, flags, 64240, 0, 0) + options + payload


def udp(payload: bytes, sport: int = 40000, dport: int = 53) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def dns_response() -> bytes:
    answers = [dpkt.dns.DNS.RR(name="www.example.test", type=dpkt.dns.DNS_CNAME, cls=1, ttl=300,
                               cname="host.example.test"),
               dpkt.dns.DNS.RR(name="host.example.test", type=dpkt.dns.DNS_A, cls=1, ttl=60, ip=IP_A)]
    return bytes(dpkt.dns.DNS(id=0x1B1B, op=0x8180, qd=[dpkt.dns.DNS.Q(name="www.example.test", type=1)], an=answers))


def client_hello(server_name: bytes) -> bytes:
    sni = struct.pack("!HBH", len(server_name) + 3, 0, len(server_name)) + server_name
    supported_versions = struct.pack("!HHB", 43, 3, 2) + b"\x03\x04"  # TLS 1.3
    protocols = b"\x02h2\x08http/1.1"
    alpn = struct.pack("!HHH", 16, len(protocols) + 2, len(protocols)) + protocols
    extensions = struct.pack("!HH", 0, len(sni)) + sni + supported_versions + alpn
    body = (struct.pack("!H", 0x0303) + bytes(range(32)) + b"\x00" + struct.pack("!HHH", 4, 0x1301, 0x1302)
            + b"\x01\x00" + struct.pack("!H", len(extensions)) + extensions)
    handshake = struct.pack("!B", 1) + len(body).to_bytes(3, "big") + body
    return struct.pack("!BHH", 22, 0x0301, len(handshake)) + handshake


SYN_OPTIONS = (b"\x02\x04\x05\xb4" b"\x04\x02" b"\x08\x0a\x00\x00\x00\x01\x00\x00\x00\x00" b"\x01" b"\x03\x03\x07")
SACK = b"\x01\x01\x05\x0a" + struct.pack("!II", 3000, 4000)
DNS_QUERY = bytes(dpkt.dns.DNS(id=0x2b2b, qd=[dpkt.dns.DNS.Q(name="mail.example.test", type=dpkt.dns.DNS_MX)]))
ROUTER_ALERT = b"\x94\x04\x00\x00"
HTTP_REQUEST = b"GET /index.html HTTP/1.1\r\nHost: example.test\r\nUser-Agent: ringmon-test\r\n\r\n"
HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
NEIGHBOR_SOLICITATION = (struct.pack("!BBHI", 135, 0, 0, 0) + IP6_A + b"\x01\x01" + MAC_B)
HOP_BY_HOP = struct.pack("!BB", 58, 0) + b"\x05\x02\x00\x00" + b"\x01\x00"  # router alert, PadN
FRAGMENT_FIRST = struct.pack("!BBHI", 17, 0, 0x0001, 0xABCD)  # offset 0, more fragments
ROUTING = struct.pack("!BBBBI", 17, 2, 0, 1, 0) + IP6_A  # type 0, one address


def quoted_start(packet: bytes, length: int) -> bytes:
    """What an ICMP error quotes of the packet that caused it: its first bytes."""
    return packet[:length]


def arp(operation: int) -> bytes:
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, operation) + MAC_B + IP_B + (MAC_A if operation == 2 else bytes(6)) + IP_A


def frames() -> dict[str, tuple[int, bytes]]:
    """name → (link type, frame): one of each protocol and link type the decode tree knows."""
    syn = tcp(flags=dpkt.tcp.TH_SYN, options=SYN_OPTIONS)
    dns_udp = udp(dns_response(), sport=53, dport=40000)
    dns_query_udp = udp(DNS_QUERY, sport=40000, dport=53)
    return {
        "tcp syn with options, ipv4 options": (LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(6, syn, ROUTER_ALERT))),
        "tcp ack with sack": (LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(6, tcp(flags=dpkt.tcp.TH_ACK, options=SACK)))),
        "dns query over tcp": (LINKTYPE_ETHERNET, ethernet(0x86DD, ipv6(6, tcp(struct.pack("!H", len(DNS_QUERY)) + DNS_QUERY,
                                                                             dport=53)))),
        "http request": (LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(6, tcp(HTTP_REQUEST)))),
        "http response": (LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(6, tcp(HTTP_RESPONSE, sport=80, dport=40000)))),
        "tls client hello": (LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(6, tcp(client_hello(b"sni.example.test"), dport=443)))),
        "dns response in qinq": (LINKTYPE_ETHERNET, ethernet(0x88A8, struct.pack("!HH", 100, 0x8100)
                                                             + struct.pack("!HH", 0x2000 | 200, 0x0800) + ipv4(17, dns_udp))),
        "icmp echo request": (LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(1, struct.pack("!BBHHH", 8, 0, 0, 7, 1) + b"ping"))),
        "icmp port unreachable": (LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(1, struct.pack("!BBHI", 3, 3, 0, 0)
                                                                          + quoted_start(ipv4(17, dns_query_udp), 28),
                                                                          src=IP_A, dst=IP_B))),
        "icmp time exceeded quoting 8 bytes of tcp": (LINKTYPE_ETHERNET, ethernet(0x0800, ipv4(
            1, struct.pack("!BBHI", 11, 0, 0, 0) + quoted_start(ipv4(6, syn), 28), src=IP_A, dst=IP_B))),
        "icmpv6 packet too big": (LINKTYPE_ETHERNET, ethernet(0x86DD, ipv6(58, struct.pack("!BBHI", 2, 0, 0, 1280)
                                                                          + quoted_start(ipv6(6, syn), 80)))),
        "arp request": (LINKTYPE_ETHERNET, ethernet(0x0806, arp(1), dst=b"\xff" * 6)),
        "arp reply": (LINKTYPE_ETHERNET, ethernet(0x0806, arp(2))),
        "neighbor solicitation after hop-by-hop": (LINKTYPE_ETHERNET, ethernet(0x86DD, ipv6(0, HOP_BY_HOP + NEIGHBOR_SOLICITATION))),
        "ipv6 first fragment": (LINKTYPE_ETHERNET, ethernet(0x86DD, ipv6(44, FRAGMENT_FIRST + udp(b"fragment", dport=40001)))),
        "ipv6 routing header": (LINKTYPE_ETHERNET, ethernet(0x86DD, ipv6(43, ROUTING + udp(b"routed", dport=40001)))),
        "mpls": (LINKTYPE_ETHERNET, ethernet(0x8847, struct.pack("!I", (1000 << 12) | 0x100 | 64) + ipv4(17, udp(b"x", dport=40001)))),
        "raw ipv4": (LINKTYPE_RAW, ipv4(17, dns_udp)),
        "null ipv6": (LINKTYPE_NULL, struct.pack("<I", 30) + ipv6(17, udp(b"loop", dport=40001))),
        "sll": (LINKTYPE_SLL, struct.pack("!HHH", 4, 1, 6) + MAC_B + b"\0\0" + struct.pack("!H", 0x0800) + ipv4(6, syn)),
        "sll2": (LINKTYPE_SLL2, struct.pack("!HHiHBB", 0x0800, 0, 3, 1, 0, 6) + MAC_B + b"\0\0" + ipv4(17, dns_udp)),
    }
