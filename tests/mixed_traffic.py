"""Real mixed traffic between the two ends of a test veth pair, made by the kernels' own stacks (ARP, neighbor
discovery, echo replies, the TCP handshake) and by sockets in each namespace (DNS, UDP, TCP data): what a
tcpdump beside it writes is the file ringmon's lines are compared with tcpdump's on."""
from __future__ import annotations

import socket
import struct
import time
from pathlib import Path

import dpkt

import netns
from netns import in_netns

DNS_NAME = "host.example"
TCP_PORT = 8080
UDP_PORT = 40001
CLOSED_PORT = 40009
MULTICAST_GROUP = "239.18.0.1"  # administratively scoped (RFC 2365): never leaves the veth pair
FRAGMENTED_BYTES = 3000  # over a 1500-byte MTU: three fragments
IO_TIMEOUT_S = 5.0


def ipv6_addresses(pair: netns.VethPair) -> tuple[str, str]:
    """Ends a and b on IPv6, from 2001:2::/48 (RFC 5180, benchmarking)."""
    subnet = pair.ip_a.split(".")[2]
    return f"2001:2:0:{subnet}::1", f"2001:2:0:{subnet}::2"


def _enable_ipv6(pair: netns.VethPair) -> None:
    for ns, ifname, address in zip((pair.ns_a, pair.ns_b), (pair.if_a, pair.if_b), ipv6_addresses(pair)):
        netns.run_in_netns(ns, ["sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=0"], check=True)
        netns.run_in_netns(ns, ["ip", "addr", "add", f"{address}/64", "dev", ifname, "nodad"], check=True)


def _socket(ns: str, family: int, kind: int, protocol: int = 0) -> socket.socket:
    with in_netns(ns):
        sock = socket.socket(family, kind, protocol)
    sock.settimeout(IO_TIMEOUT_S)
    return sock


def _echo(pair: netns.VethPair, family: int, destination: str, ident: int) -> None:
    """Two echo requests from b; a's kernel answers them (after ARP or neighbor discovery)."""
    protocol, request = (socket.IPPROTO_ICMP, 8) if family == socket.AF_INET else (socket.IPPROTO_ICMPV6, 128)
    with _socket(pair.ns_b, family, socket.SOCK_RAW, protocol) as sock:
        for sequence in (1, 2):
            # a tab and backslashes among the bytes: -A's one named difference is how they are escaped
            body = struct.pack("!HH", ident, sequence) + bytes(range(48)) + b"\\\\"  # even: the checksum sums 16-bit words
            header = struct.pack("!BBH", request, 0, 0)
            if family == socket.AF_INET:  # the kernel fills ICMPv6's checksum, not ICMP's (the IPv4 header's sum)
                header = struct.pack("!BBH", request, 0, netns._ipv4_checksum(header + body))
            sock.sendto(header + body, (destination, 0))
            while True:  # the reply (a raw socket sees every ICMP message: skip our own request)
                reply = sock.recv(2048)
                kind = reply[(reply[0] & 0x0F) * 4] if family == socket.AF_INET else reply[0]
                if kind in (0, 129):
                    break


def _dns(pair: netns.VethPair) -> None:
    """A query for an A record from b, answered by a responder on a; then one for a name that does not exist."""
    with _socket(pair.ns_a, socket.AF_INET, socket.SOCK_DGRAM) as server, \
            _socket(pair.ns_b, socket.AF_INET, socket.SOCK_DGRAM) as client:
        server.bind((pair.ip_a, 53))
        for ident, name, kind in ((0x1234, DNS_NAME, dpkt.dns.DNS_A), (0x1235, "missing.example", dpkt.dns.DNS_AAAA)):
            query = dpkt.dns.DNS(id=ident, qd=[dpkt.dns.DNS.Q(name=name, type=kind)])
            client.sendto(bytes(query), (pair.ip_a, 53))
            data, source = server.recvfrom(2048)
            answer = dpkt.dns.DNS(data)
            answer.op = dpkt.dns.DNS_RA | 0x8000 | 0x0400  # a response, authoritative, recursion available
            if name == DNS_NAME:
                answer.an = [dpkt.dns.DNS.RR(name=name, type=dpkt.dns.DNS_A, ttl=300, rdata=socket.inet_aton(pair.ip_a))]
            else:
                answer.rcode = dpkt.dns.DNS_RCODE_NXDOMAIN
            server.sendto(bytes(answer), source)
            client.recv(2048)


def _tcp(pair: netns.VethPair, family: int, server_address: str) -> None:
    """A connection from b to a: handshake, a request and a reply with data, both sides closing."""
    with _socket(pair.ns_a, family, socket.SOCK_STREAM) as listener, \
            _socket(pair.ns_b, family, socket.SOCK_STREAM) as client:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((server_address, TCP_PORT))
        listener.listen(1)
        client.connect((server_address, TCP_PORT))
        connection, _ = listener.accept()
        with connection:
            client.sendall(b"GET / HTTP/1.0\r\n\r\n")
            connection.recv(2048)
            connection.sendall(b"HTTP/1.0 200 OK\r\n\r\nhello")
            client.recv(2048)
            client.shutdown(socket.SHUT_WR)
            connection.recv(2048)  # the FIN
        client.recv(2048)  # a's FIN
    time.sleep(0.05)  # the last ACK


def _udp(pair: netns.VethPair, family: int, destination: str) -> None:
    """A small datagram, and one larger than the link's MTU: the kernel sends it in fragments."""
    with _socket(pair.ns_b, family, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"hello over udp", (destination, UDP_PORT))
        sock.sendto(bytes(FRAGMENTED_BYTES), (destination, UDP_PORT))


def _multicast(pair: netns.VethPair) -> None:
    """b joins a multicast group and leaves it: the kernel's IGMPv3 reports (with the router alert option)."""
    membership = socket.inet_aton(MULTICAST_GROUP) + socket.inet_aton(pair.ip_b)
    with _socket(pair.ns_b, socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        time.sleep(0.05)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, membership)


def _refused(pair: netns.VethPair, ip6_a: str) -> None:
    """Datagrams to a port nobody listens on, answered (once a allows ICMP errors) with port unreachable over
    IPv4 and IPv6 (over IPv4 to the DNS port too); a connection to a closed port, answered with a reset."""
    netns.run_in_netns(pair.ns_a, ["sysctl", "-qw", "net.ipv4.icmp_msgs_per_sec=1000", "net.ipv4.icmp_msgs_burst=50"],
                       check=True)
    for family, destination in ((socket.AF_INET, pair.ip_a), (socket.AF_INET6, ip6_a)):
        with _socket(pair.ns_b, family, socket.SOCK_DGRAM) as sock:
            sock.connect((destination, CLOSED_PORT))
            sock.send(b"anyone there?")
            try:
                sock.recv(2048)  # the error, as ECONNREFUSED: it has arrived
            except ConnectionRefusedError:
                pass
    with _socket(pair.ns_b, socket.AF_INET, socket.SOCK_DGRAM) as sock:  # one byte to the DNS port, closed now:
        sock.connect((pair.ip_a, 53))  # tcpdump -v reads the quoted datagram as a DNS message too short for a header
        sock.send(b"?")
        try:
            sock.recv(2048)
        except ConnectionRefusedError:
            pass
    with _socket(pair.ns_b, socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.connect((pair.ip_a, CLOSED_PORT))
        except ConnectionRefusedError:
            pass


def make_mixed_traffic(pair: netns.VethPair, path: Path) -> Path:
    """tcpdump's file of the traffic on end a: ARP, ICMP echo, DNS, UDP (also fragmented), TCP, IGMP over IPv4; neighbor
    discovery, ICMPv6 echo, UDP (also fragmented) and TCP over IPv6 (and whatever MLD reports the kernel sends as
    IPv6 comes up); then port unreachable over both and a connection reset."""
    ip6_a, ip6_b = ipv6_addresses(pair)
    with netns.tcpdump_alongside(pair.ns_a, pair.if_a, "", str(path)):
        _echo(pair, socket.AF_INET, pair.ip_a, 0x77)
        _dns(pair)
        _udp(pair, socket.AF_INET, pair.ip_a)
        _tcp(pair, socket.AF_INET, pair.ip_a)
        _multicast(pair)
        _enable_ipv6(pair)
        _echo(pair, socket.AF_INET6, ip6_a, 0x66)
        _udp(pair, socket.AF_INET6, ip6_a)
        _tcp(pair, socket.AF_INET6, ip6_a)
        _refused(pair, ip6_a)
    return path
