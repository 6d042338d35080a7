"""Network layers: IPv4 (with options), IPv6 (with hop-by-hop, routing, fragment and destination-options
headers), ICMP and ICMPv6 (with neighbor discovery and MLD), and IGMP."""
from __future__ import annotations

import socket
import struct

import dpkt

from . import transport
from .dissect import Dissection, Next, layer, walk
from .tree import DecodedNode, Field, header_only, hex8, hex16, mac, named

IP_PROTOCOLS = {0: "hop-by-hop", 1: "icmp", 4: "ipv4", 6: "tcp", 17: "udp", 41: "ipv6", 43: "routing",
                44: "fragment", 47: "gre", 50: "esp", 51: "ah", 58: "icmpv6", 59: "no next header",
                60: "destination options", 132: "sctp"}
_IPV4_OPTIONS = {0: "end of options", 1: "no operation", 7: "record route", 68: "timestamp", 130: "security",
                 131: "loose source route", 137: "strict source route", 148: "router alert"}
ICMP_TYPES = {0: "echo reply", 3: "destination unreachable", 4: "source quench", 5: "redirect", 8: "echo request",
              9: "router advertisement", 10: "router solicitation", 11: "time exceeded", 12: "parameter problem",
              13: "timestamp", 14: "timestamp reply"}
_ICMP_UNREACHABLE = {0: "net unreachable", 1: "host unreachable", 2: "protocol unreachable", 3: "port unreachable",
                     4: "fragmentation needed", 9: "net prohibited", 10: "host prohibited",
                     13: "administratively prohibited"}
ICMP6_TYPES = {1: "destination unreachable", 2: "packet too big", 3: "time exceeded", 4: "parameter problem",
               128: "echo request", 129: "echo reply", 130: "multicast listener query",
               131: "multicast listener report", 132: "multicast listener done", 133: "router solicitation",
               134: "router advertisement", 135: "neighbor solicitation", 136: "neighbor advertisement",
               137: "redirect", 143: "multicast listener report v2"}
_ND_OPTIONS = {1: "source link-layer address", 2: "target link-layer address", 3: "prefix information",
               4: "redirected header", 5: "MTU", 25: "recursive DNS servers", 31: "DNS search list"}
_ND_OPTION_WORDS = {1: "source link-address option", 2: "destination link-address option", 3: "prefix info option",
                    4: "redirected header option", 5: "mtu option", 25: "rdnss option", 31: "dnssl option"}
_NA_FLAGS = ((0x80, "router"), (0x40, "solicited"), (0x20, "override"))
# (tcpdump 4.99's words; the space before "unreachable prohibited" is its own)
_ICMP6_UNREACHABLE = {0: "unreachable route", 1: " unreachable prohibited", 2: "beyond scope",
                      3: "unreachable address", 4: "unreachable port"}
_ECHO = (0, 8, 128, 129)
_ICMP_ERRORS = (3, 4, 5, 11, 12)  # they quote the start of the packet that caused them, from byte 8
_ICMP6_ERRORS = (1, 2, 3, 4)
# An ICMP error carries the IP header and at least 8 bytes of the packet (RFC 792), as much as fits in
# IPv6's minimum MTU (RFC 4443): its lengths may say up to an IP packet's largest more than the quote holds.
_QUOTE_MAY_LACK = 65535


def ipv6_address(address: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET6, address)


IPV4_FIELDS = (
    Field("v", "version"), Field("hl", "header length", lambda hl: f"{hl * 4} bytes"),
    Field("tos", "type of service", hex8), Field("len", "total length"), Field("id", "identification", hex16),
    Field("rf", "reserved bit"), Field("df", "don't fragment"), Field("mf", "more fragments"),
    Field("offset", "fragment offset", lambda offset: f"{offset * 8} bytes"),
    Field("ttl", "ttl"), Field("p", "protocol", named(IP_PROTOCOLS)), Field("sum", "checksum", hex16),
    Field("src", "source", socket.inet_ntoa), Field("dst", "destination", socket.inet_ntoa),
)
IPV6_FIELDS = (
    Field("v", "version"), Field("fc", "traffic class", hex8), Field("flow", "flow label", lambda flow: f"0x{flow:05x}"),
    Field("plen", "payload length"), Field("nxt", "next header", named(IP_PROTOCOLS)), Field("hlim", "hop limit"),
    Field("src", "source", ipv6_address), Field("dst", "destination", ipv6_address),
)


def ip_by_version(d: Dissection, start: int, end: int) -> Next:
    """Raw IP (and what follows an MPLS label stack): the version nibble says which."""
    if d.short("IP", start, end, 1):
        return None
    version = d.frame[start] >> 4
    if version not in (4, 6):
        d.fail("IP", start, end, f"malformed: IP version {version}")
        return None
    return (ipv4 if version == 4 else ipv6), start, end


@layer("IP")
def ip_by_version_layer(d: Dissection, start: int, end: int) -> Next:
    d.link = ("raw",)
    return ip_by_version(d, start, end)


def _next_header(d: Dissection, number: int, start: int, end: int, ipv6_headers: bool) -> Next:
    protocols = {1: icmp, 2: igmp, 6: transport.tcp, 17: transport.udp, 58: icmpv6, 4: ipv4, 41: ipv6}
    if ipv6_headers:
        protocols.update({0: hop_by_hop, 43: routing, 44: fragment, 60: destination_options})
    protocol = protocols.get(number)
    if protocol is None:
        d.info = f"proto {number}"
        d.line = f"ip-proto-{number} {max(0, end - start)}"
        d.payload(start, end)
        return None
    return protocol, start, end


_IPV4_OPTION_WORDS = {0: "EOL", 1: "NOP", 7: "RR", 68: "timestamp", 130: "security", 131: "LSRR", 137: "SSRR",
                      148: "RA", 82: "traceroute"}


def _ipv4_option_words(frame: bytes, start: int, end: int) -> str:
    """tcpdump -v's words for an IPv4 header's options (ip_optprint): names, a router alert's value if not 0."""
    words, offset = [], start
    end = min(end, len(frame))
    while offset < end:
        kind = frame[offset]
        word = _IPV4_OPTION_WORDS.get(kind, f"unknown {kind}")
        length = 1 if kind in (0, 1) else frame[offset + 1] if offset + 1 < end else 0
        if length < 1 or length > end - offset or kind not in (0, 1) and length < 2:
            words.append(f"{word} [bad length {length}]")
            break
        if kind == 148 and length >= 4 and int.from_bytes(frame[offset + 2:offset + 4], "big"):
            word += f" value {int.from_bytes(frame[offset + 2:offset + 4], 'big')}"
        words.append(word)
        if kind == 0:
            break
        offset += length
    return ",".join(words)


def _ipv4_options(node: DecodedNode, frame: bytes, start: int, end: int) -> None:
    offset = start
    while offset < end:
        kind = frame[offset]
        if kind in (0, 1):
            node.add(f"option: {_IPV4_OPTIONS[kind]}", (offset, offset + 1))
            offset += 1
            if kind == 0:
                break
            continue
        length = frame[offset + 1] if offset + 1 < end else 0
        if length < 2 or offset + length > end:
            node.add(f"option {kind}: malformed: length {length} in {end - offset} bytes", (offset, end), malformed=True)
            return
        name = _IPV4_OPTIONS.get(kind, f"option {kind}")
        node.add(f"option: {name} ({length} bytes) {frame[offset + 2:offset + length].hex()}".rstrip(),
                 (offset, offset + length))
        offset += length


@layer("IPv4")
def ipv4(d: Dissection, start: int, end: int) -> Next:
    ip = d.parse("IPv4", dpkt.ip.IP, start, end, IPV4_FIELDS)
    if ip is None:
        return None
    header_len = ip.hl * 4
    if ip.v != 4 or header_len < 20:
        d.fail("IPv4", start, end, f"malformed: version {ip.v}, header length {header_len}")
        return None
    if d.short("IPv4", start, end, header_len):
        return None
    source, destination = socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst)
    node = d.add_layer(f"IPv4  {source} > {destination}", start, start + header_len)
    node.add_fields(ip, start, IPV4_FIELDS)
    _ipv4_options(node, d.frame, start + 20, start + header_len)
    d.ip_options = _ipv4_option_words(d.frame, start + 20, start + header_len) if header_len > 20 else ""
    d.source, d.destination = source, destination
    d.network, d.network_header, d.line_prefix, d.verbose_prefix = "IP", ip, "", ""
    d.network_start = start if d.network_start < 0 else d.network_start
    inner_end = end
    if ip.len == 0:  # segmentation offload hands the capture packets whose length is not filled in yet
        pass
    elif ip.len < header_len:
        d.malformed(node, f"IPv4 total length {ip.len} < header length {header_len}")
    else:
        on_wire = end - start
        if ip.len > on_wire:
            d.malformed(node, f"IPv4 total length {ip.len} > {on_wire} bytes")
        inner_end = start + ip.len
        if inner_end < end:
            d.trailer(inner_end, end, "Padding (after the IPv4 total length)")
    if ip.offset:  # the transport header is in the first fragment only
        d.fragment = True
        d.info = f"fragment at offset {ip.offset * 8}, proto {ip.p}"
        d.line = f"ip-proto-{ip.p}"  # tcpdump -n's words for a fragment that is not the first
        d.payload(start + header_len, inner_end, "Fragment")
        return None
    d.fragment = bool(ip.mf)
    if ip.mf:  # the rest of the datagram follows in other packets
        d.notes.append(f"first fragment, id 0x{ip.id:04x}")
    return _next_header(d, ip.p, start + header_len, inner_end, ipv6_headers=False)


@layer("IPv6")
def ipv6(d: Dissection, start: int, end: int) -> Next:
    ip = d.parse("IPv6", dpkt.ip6.IP6, start, end, IPV6_FIELDS)
    if ip is None:
        return None
    if ip.v != 6:
        d.fail("IPv6", start, end, f"malformed: version {ip.v}")
        return None
    source, destination = ipv6_address(ip.src), ipv6_address(ip.dst)
    node = d.add_layer(f"IPv6  {source} > {destination}", start, start + 40)
    node.add_fields(ip, start, IPV6_FIELDS)
    d.source, d.destination = source, destination
    d.network, d.network_header, d.line_prefix, d.verbose_prefix = "IP6", ip, "", ""
    d.network_start = start if d.network_start < 0 else d.network_start
    inner_end = end
    if ip.plen:  # 0: a jumbogram, or segmentation offload
        on_wire = end - start - 40
        if ip.plen > on_wire:
            d.malformed(node, f"IPv6 payload length {ip.plen} > {on_wire} bytes")
        inner_end = start + 40 + ip.plen
        if inner_end < end:
            d.trailer(inner_end, end, "Padding (after the IPv6 payload length)")
    d.fragment = False
    return _next_header(d, ip.nxt, start + 40, inner_end, ipv6_headers=True)


def _extension(d: Dissection, name: str, start: int, end: int, fields: tuple[Field, ...], cls: type) -> tuple[int, DecodedNode] | None:
    """An IPv6 extension header: its node, and where the next header starts."""
    if d.short(name, start, end, 8):
        return None
    header = header_only(cls, d.frame, start)
    length = 8 if cls is dpkt.ip6.IP6FragmentHeader else (d.frame[start + 1] + 1) * 8
    if d.short(name, start, end, length):
        return None
    node = d.add_layer(name, start, start + length, protocol="")
    node.add(f"next header: {named(IP_PROTOCOLS)(header.nxt)}", (start, start + 1))
    node.add_fields(header, start, fields)
    return start + length, node


def _options_header(d: Dissection, name: str, start: int, end: int) -> Next:
    found = _extension(d, name, start, end, (Field("len", "length", lambda n: f"{(n + 1) * 8} bytes"),),
                       dpkt.ip6.IP6OptsHeader)
    if found is None:
        return None
    after, node = found
    offset = start + 2
    word = "HBH" if name == "IPv6 hop-by-hop options" else "DSTOPT"  # tcpdump's
    d.line_prefix += f"{word} "
    options = []  # tcpdump -v's words for them (print-ip6opts.c: only the router alert's end in a space)
    while offset < after:
        kind = d.frame[offset]
        length = 1 if kind == 0 else 2 + (d.frame[offset + 1] if offset + 1 < after else 0)
        label = {0: "Pad1", 1: "PadN", 5: "router alert", 194: "jumbo payload"}.get(kind, f"option {kind}")
        node.add(f"option: {label} ({length} bytes)", (offset, min(offset + length, after)))
        value = d.frame[offset + 2:min(offset + length, after)]
        options.append("(pad1)" if kind == 0 else "(padn)" if kind == 1 else
                       f"(rtalert: 0x{int.from_bytes(value, 'big'):04x}) " if kind == 5 and len(value) == 2 else
                       f"(unknown opt-type 0x{kind:02x} len={length - 2})")
        offset += length
    d.verbose_prefix += f"{word} {''.join(options)} "
    return _next_header(d, d.frame[start], after, end, ipv6_headers=True)


@layer("IPv6 hop-by-hop options")
def hop_by_hop(d: Dissection, start: int, end: int) -> Next:
    return _options_header(d, "IPv6 hop-by-hop options", start, end)


@layer("IPv6 destination options")
def destination_options(d: Dissection, start: int, end: int) -> Next:
    return _options_header(d, "IPv6 destination options", start, end)


@layer("IPv6 routing")
def routing(d: Dissection, start: int, end: int) -> Next:
    found = _extension(d, "IPv6 routing", start, end, (
        Field("len", "length", lambda n: f"{(n + 1) * 8} bytes"), Field("type", "type"),
        Field("segs_left", "segments left"),
    ), dpkt.ip6.IP6RoutingHeader)
    if found is None:
        return None
    after, node = found
    units, kind, segments_left = d.frame[start + 1:start + 4]
    addresses = []
    if kind in (0, 2, 4):  # types 0 and 2 and segment routing carry addresses from byte 8
        for offset in range(start + 8, after - 15, 16):
            addresses.append(ipv6_address(d.frame[offset:offset + 16]))
            node.add(f"address: {addresses[-1]}", (offset, offset + 16))
    if segments_left and addresses and kind in (0, 2):  # the packet is bound for the last: checksums count it
        d.checksum_destination = d.frame[after - 16:after]
    # tcpdump's words (print-rt6.c); -v shows the reserved field (flags, for segment routing) even when 0
    words = f"RT6 (len={units}, type={kind}{' [Deprecated]' if kind == 0 else ''}, segleft={segments_left}"
    if kind in (0, 2):
        reserved = int.from_bytes(d.frame[start + 4:start + 8], "big")
        plain, verbose = (f"{words}, rsv=0x{reserved:x}",) * 2 if reserved else (words, f"{words}, rsv=0x0")
    elif kind == 4:
        last_entry, flags, tag = d.frame[start + 4], d.frame[start + 5], int.from_bytes(d.frame[start + 6:start + 8], "big")
        addresses = addresses[:last_entry + 1]
        words = f"{words}, last-entry={last_entry}"
        plain, verbose = ((f"{words}, flags=0x{flags:x}",) * 2 if flags else (words, f"{words}, flags=0x0"))
        plain, verbose = f"{plain}, tag={tag:x}", f"{verbose}, tag={tag:x}"
    else:
        plain = verbose = f"{words} (unknown type)"
    listed = "".join(f", [{index}]{address}" for index, address in enumerate(addresses) if kind in (0, 2, 4))
    _words_before_ports(d, f"{plain}{listed})", f"{verbose}{listed})")
    return _next_header(d, d.frame[start], after, end, ipv6_headers=True)


def _words_before_ports(d: Dissection, plain: str, verbose: str) -> None:
    """An IPv6 header's words, which tcpdump prints after the addresses and before the ports."""
    if d.header_words is None:
        d.header_words = (d.source, d.destination, plain, verbose)
    else:
        source, destination, plain_before, verbose_before = d.header_words
        d.header_words = (source, destination, f"{plain_before} {plain}", f"{verbose_before} {verbose}")


@layer("IPv6 fragment")
def fragment(d: Dissection, start: int, end: int) -> Next:
    found = _extension(d, "IPv6 fragment", start, end, (
        Field("frag_off", "offset", lambda offset: f"{offset * 8} bytes"), Field("m_flag", "more fragments"),
        Field("id", "identification", lambda ident: f"0x{ident:08x}"),
    ), dpkt.ip6.IP6FragmentHeader)
    if found is None:
        return None
    after, _ = found
    offset = struct.unpack_from("!H", d.frame, start + 2)[0] >> 3
    d.fragment = True
    ident = struct.unpack_from("!I", d.frame, start + 4)[0]
    # tcpdump's line: the addresses, the fragment, then (the first fragment) the ports and the transport's words
    _words_before_ports(d, f"frag ({offset * 8}|{end - after})", f"frag (0x{ident:08x}:{offset * 8}|{end - after})")
    if offset:
        d.info = f"fragment at offset {offset * 8}, proto {d.frame[start]}"
        d.payload(after, end, "Fragment")
        return None
    if d.frame[start + 3] & 1:  # more fragments: the rest of the datagram follows in other packets
        d.notes.append(f"first fragment, id 0x{ident:08x}")
    return _next_header(d, d.frame[start], after, end, ipv6_headers=True)


def _icmp_common(d: Dissection, name: str, start: int, end: int, types: dict[int, str]) -> tuple[DecodedNode, str] | None:
    packet = d.parse(name, dpkt.icmp.ICMP, start, end)  # ICMP and ICMPv6 share their first four bytes
    if packet is None:
        return None
    what = types.get(packet.type, f"type {packet.type} code {packet.code}")
    if name == "ICMP" and packet.type == 3 and packet.code in _ICMP_UNREACHABLE:
        what = f"{what} ({_ICMP_UNREACHABLE[packet.code]})"
    node = d.add_layer(f"{name}  {what}", start, end)
    node.add_fields(packet, start, (
        Field("type", "type", named(types)), Field("code", "code"), Field("sum", "checksum", hex16),
    ))
    if packet.type in _ECHO and d.captured(start, end) >= 8:
        ident, sequence = struct.unpack_from("!HH", d.frame, start + 4)
        node.add(f"identifier: {ident}", (start + 4, start + 6))
        node.add(f"sequence: {sequence}", (start + 6, start + 8))
        what = f"{what}, id {ident}, seq {sequence}"
        if name == "ICMPv6":
            d.verbose_line = (f"ICMP6, {what}",)  # tcpdump -v leaves an echo's length out
    d.info = what
    d.line = f"{'ICMP' if name == 'ICMP' else 'ICMP6,'} {what}, length {end - start}"
    if d.quoted and packet.type in _ECHO and d.captured(start, end) < 8:  # tcpdump's words need the id and seq
        d.line = f" [|{name.lower()}]"
    if name == "ICMPv6":
        d.transport = ("icmp6", start, end)
    return node, what


def _invoking_packet(d: Dissection, node: DecodedNode, start: int, end: int, first_layer) -> None:
    """The packet an ICMP error quotes, decoded as a packet of its own under the ICMP node (an error about an
    error is never sent, RFC 1122 3.2.2: a quote inside a quote is not followed)."""
    if d.quoted:
        return
    quoted = None
    if d.captured(start, end):
        quote = d.frame[:min(end, len(d.frame))]
        quoted = Dissection(quote, len(quote) + _QUOTE_MAY_LACK, quoted=True, tree=d.tree)
        walk(quoted, (first_layer, start, quoted.wirelen))
        what = f"{quoted.protocol} {quoted.source} > {quoted.destination}".rstrip(" >")
        invoking = node.add(f"Invoking packet: {what}", (start, start + d.captured(start, end)))
        invoking.children.extend(quoted.layers)
        d.info = f"{d.info}, for {what}"
        if quoted.network_header is None:  # the capture cut the quote's header
            quoted = None
    if first_layer is ipv4:
        if quoted is not None and d.line.startswith("ICMP "):  # tcpdump read its words: -v prints the quote
            d.quote = quoted  # under the error's line
        return
    kind, code = d.frame[start - 8], d.frame[start - 7]
    if kind == 2:  # packet too big: its words are the MTU's
        return
    pointer = d.frame[start - 4:start]
    words = _icmp6_error_words(kind, code, int.from_bytes(pointer, "big") if len(pointer) == 4 else None, quoted)
    d.line = words if words.endswith(_ICMP6_CUT) else f"{words}, length {end - start + 8}"
    d.verbose_line = (words,)


_ICMP6_CUT = " [|icmp6]"  # tcpdump's mark of words that need the bytes of a quote the message lacks
_ICMP6_PARAMETER_PROBLEMS = {0: "erroneous", 1: "next header", 2: "option", 3: "incomplete header chain"}


def _icmp6_error_words(kind: int, code: int, pointer: int | None, quoted: Dissection | None) -> str:
    """tcpdump's line for an ICMPv6 error (print-icmp6.c, without the length), from the packet it quotes (None:
    its header cut off); ending in [|icmp6] where they need what the quote lacks."""
    header = None if quoted is None else quoted.network_header
    address = "" if header is None else ipv6_address(header.dst)
    if kind == 3:
        what = "ICMP6, time exceeded in-transit"
        if code == 1:
            return f"{what} (reassembly)"
        if code:
            return f"{what}, unknown code ({code})"
        return f"{what} for {address}" if address else f"{what}{_ICMP6_CUT}"
    if kind == 4:
        if not address or pointer is None:
            return f"ICMP6, parameter problem{_ICMP6_CUT}"
        if code in _ICMP6_PARAMETER_PROBLEMS:
            return f"ICMP6, parameter problem, {_ICMP6_PARAMETER_PROBLEMS[code]} - octet {pointer}"
        return f"ICMP6, parameter problem, code-#{code}"
    what = f"ICMP6, destination unreachable, {_ICMP6_UNREACHABLE.get(code, f'unknown unreach code ({code})')}"
    if code > 4:
        return what
    if not address:
        return f"{what}{_ICMP6_CUT}"
    if code == 2:
        return f"{what} {address}, source address {ipv6_address(header.src)}"
    if code != 4:
        return f"{what} {address}"
    transport = quoted.transport[0] if quoted.transport else quoted.protocol.lower()  # (DNS's too: over UDP)
    if transport in ("tcp", "udp") and quoted.destination.startswith(f"{address}."):
        return f"{what}, {address} {transport} port {quoted.destination[len(address) + 1:]}"
    return f"{what}{_ICMP6_CUT}"


# tcpdump's words for a destination unreachable by code (the others: _icmp_error_words): before and after
# "ADDRESS unreachable"
_UNREACHABLE_WORDS = {0: ("net ", ""), 1: ("host ", ""), 5: ("", " - source route failed"),
                      6: ("net ", " - unknown"), 7: ("host ", " - unknown"), 8: ("", " - source host isolated"),
                      9: ("net ", " - admin prohibited"), 10: ("host ", " - admin prohibited"),
                      11: ("net ", " - tos prohibited"), 12: ("host ", " - tos prohibited"),
                      13: ("host ", " - admin prohibited filter"), 14: ("host ", " - host precedence violation"),
                      15: ("host ", " - precedence cutoff")}
_REDIRECT_WORDS = {0: "redirect {} to net {}", 1: "redirect {} to host {}", 2: "redirect-tos {} to net {}",
                   3: "redirect-tos {} to host {}"}
_QUOTED_DESTINATION = 8 + 16  # the quoted IP header's destination address, from the ICMP message's start


def _icmp_error_words(message: bytes) -> str | None:
    """tcpdump's words for an ICMP error (print-icmp.c), read from the message's bytes as tcpdump reads them;
    None when they need a byte the message lacks (tcpdump prints "[|icmp]" instead)."""
    kind, code = message[0], message[1]
    if kind == 4:
        return ICMP_TYPES[4]
    if kind == 12:
        if code:
            return f"parameter problem - code {code}"
        return f"parameter problem - octet {message[4]}" if len(message) > 4 else None
    if len(message) < _QUOTED_DESTINATION + 4:
        return None
    address = socket.inet_ntoa(message[_QUOTED_DESTINATION:_QUOTED_DESTINATION + 4])
    if kind == 11:
        return {0: "time exceeded in-transit", 1: "ip reassembly time exceeded"}.get(code, f"time exceeded-#{code}")
    if kind == 5:
        gateway = socket.inet_ntoa(message[4:8])
        return _REDIRECT_WORDS[code].format(address, gateway) if code in _REDIRECT_WORDS else (
            f"redirect-#{code} {address} to {gateway}")
    protocol = message[8 + 9]
    if code == 2:
        return f"{address} protocol {protocol} unreachable"
    if code == 3:  # the port: where the quoted header's length says its transport header starts
        port_at = 8 + (message[8] & 0x0F) * 4 + 2
        if len(message) < port_at + 2:
            return None
        port = int.from_bytes(message[port_at:port_at + 2], "big")
        name = {6: "tcp", 17: "udp"}.get(protocol)
        return f"{address} {name} port {port} unreachable" if name else (
            f"{address} protocol {protocol} port {port} unreachable")
    if code == 4:
        mtu = int.from_bytes(message[6:8], "big")
        return f"{address} unreachable - need to frag{f' (mtu {mtu})' if mtu else ''}"
    before, after = _UNREACHABLE_WORDS.get(code, ("", f" - #{code}"))
    return f"{before}{address} unreachable{after}"


def _icmp_checksum_note(message: bytes) -> str:
    """tcpdump -v's note after an ICMP message's line when its checksum is wrong."""
    written = int.from_bytes(message[2:4], "big")
    correct = dpkt.in_cksum(message[:2] + b"\0\0" + message[4:])
    return "" if written == correct else f" (wrong icmp cksum {written:x} (->{correct:x})!)"


@layer("ICMP")
def icmp(d: Dissection, start: int, end: int) -> Next:
    found = _icmp_common(d, "ICMP", start, end, ICMP_TYPES)
    if found is None:
        return None
    message = d.frame[start:min(end, len(d.frame))]
    if message[0] in _ICMP_ERRORS:
        words = _icmp_error_words(message)
        d.line = " [|icmp]" if words is None else f"ICMP {words}, length {end - start}"
        _invoking_packet(d, found[0], start + 8, end, ipv4)
    else:
        d.payload(start + 8, end, "Data")
    if not d.fragment and end <= len(d.frame) and d.line.startswith("ICMP ") and (note := _icmp_checksum_note(message)):
        d.verbose_line = (f"{d.line}{note}",)
    return None


def _nd_options(node: DecodedNode, frame: bytes, start: int, end: int, lines: list[str] | None = None,
                more_lines: list[str] | None = None) -> str:
    """Neighbor discovery options (type, length in 8-byte units); returns the link-layer address, if any. With
    `lines` and `more_lines`, tcpdump -v's and -vv's lines of each option are added to them."""
    offset, link_address = start, ""
    kept_end = min(end, len(frame))
    while offset + 2 <= kept_end:
        kind, units = frame[offset], frame[offset + 1]
        if units == 0 or offset + units * 8 > end:
            node.add(f"option {kind}: malformed: length {units * 8} in {end - offset} bytes", (offset, kept_end),
                     malformed=True)
            break
        if offset + units * 8 > kept_end:
            node.add(f"option {kind}: truncated: {units * 8} bytes, the capture kept {kept_end - offset}",
                     (offset, kept_end), malformed=True)
            break
        body = frame[offset + 2:offset + units * 8]
        name = _ND_OPTIONS.get(kind, f"option {kind}")
        if lines is not None:  # the link-layer addresses by name; the rest in hex, as tcpdump -v prints an unknown one
            value = f" {mac(body[:6])}" if kind in (1, 2) else " "
            heading = f"  {_ND_OPTION_WORDS.get(kind, 'unknown option')} ({kind}), length {units * 8} ({units}):{value}"
            lines.append(heading)
            if kind not in (1, 2):
                lines.extend(_hex_lines(body, "  "))
            if more_lines is not None:  # -vv: every option's bytes too, further in
                more_lines.append(heading)
                more_lines.extend(_hex_lines(body, "    "))
        if kind in (1, 2):
            link_address = mac(body[:6])
            node.add(f"{name}: {link_address}", (offset, offset + units * 8))
        elif kind == 3 and len(body) >= 30:
            node.add(f"{name}: {ipv6_address(body[14:30])}/{body[0]}", (offset, offset + units * 8))
        elif kind == 5 and len(body) >= 6:
            node.add(f"{name}: {int.from_bytes(body[2:6], 'big')}", (offset, offset + units * 8))
        else:
            node.add(f"{name} ({units * 8} bytes)", (offset, offset + units * 8))
        offset += units * 8
    return link_address


def _hex_lines(data: bytes, indent: str) -> list[str]:
    """tcpdump's hex of an option's bytes (print_unknown_data): 16 to a line, in 2-byte words."""
    return [f"{indent}0x{at:04x}:  {data[at:at + 16].hex(' ', -2)}" for at in range(0, len(data), 16)]


_MLD_RECORD_TYPES = {1: "is_in", 2: "is_ex", 3: "to_in", 4: "to_ex", 5: "allow", 6: "block"}  # IGMPv3's too
_IGMP_TYPES = {0x11: "query", 0x12: "v1 report", 0x16: "v2 report", 0x17: "leave", 0x22: "v3 report"}


@layer("IGMP")
def igmp(d: Dissection, start: int, end: int) -> Next:
    if d.short("IGMP", start, end, 8):
        return None
    kind, max_response = d.frame[start], d.frame[start + 1]
    group = socket.inet_ntoa(d.frame[start + 4:start + 8])
    what = _IGMP_TYPES.get(kind, f"type 0x{kind:02x}")
    node = d.add_layer(f"IGMP  {what}", start, end)
    node.add(f"type: 0x{kind:02x} ({what})", (start, start + 1))
    node.add(f"checksum: 0x{int.from_bytes(d.frame[start + 2:start + 4], 'big'):04x}", (start + 2, start + 4))
    length = end - start
    # tcpdump's words (print-igmp.c); -v adds a v3 report's records
    if kind == 0x22:
        records = int.from_bytes(d.frame[start + 6:start + 8], "big")
        node.add(f"group records: {records}", (start + 6, start + 8))
        d.info = d.line = f"igmp v3 report, {records} group record(s)"
        d.verbose_line = (f"{d.line}{_group_records(d.frame, start + 8, end, records, 4)}",)
        d.very_verbose_lines = ((f"{d.line}{_group_records(d.frame, start + 8, end, records, 4, sources=True)}",),)
    elif kind == 0x11:
        node.add(f"group: {group}", (start + 4, start + 8))
        d.info = d.line = "igmp query" + (f" [max resp time {max_response / 10:g}s]" if length < 12 and max_response != 100
                                          else "") + (f" [gaddr {group}]" if group != "0.0.0.0" else "")
        d.line += f" [len {length}]" if length != 8 and length < 12 else ""
    else:
        node.add(f"group: {group}", (start + 4, start + 8))
        d.info = d.line = f"igmp {what} {group}"
    d.quiet_line = "igmp"
    d.transport = ("igmp", start, end)
    return None



def _group_records(frame: bytes, start: int, end: int, count: int, address_size: int = 16,
                   sources: bool = False) -> str:
    """tcpdump -v's words for an MLDv2 or IGMPv3 report's group records: address, type and how many sources; with
    `sources`, -vv's: the sources themselves, "{ a b }"."""
    words, offset = [], start
    end = min(end, len(frame))
    for _ in range(count):
        if offset + 4 + address_size > end:
            break
        kind, aux_words, source_count = struct.unpack_from("!BBH", frame, offset)
        addresses_end = offset + 4 + address_size * (1 + source_count if sources else 1)  # the group's, the sources'
        if addresses_end > end:  # the capture cut the sources
            break
        shown = [ipv6_address(frame[at:at + address_size]) if address_size == 16 else
                 socket.inet_ntoa(frame[at:at + address_size]) for at in range(offset + 4, addresses_end, address_size)]
        listed = f" {{{''.join(f' {source}' for source in shown[1:])} }}" if sources else f", {source_count} source(s)"
        words.append(f" [gaddr {shown[0]} {_MLD_RECORD_TYPES.get(kind, '[invalid]')}{listed}]")
        offset += 4 + address_size * (1 + source_count) + 4 * aux_words
    return "".join(words)


@layer("ICMPv6")
def icmpv6(d: Dissection, start: int, end: int) -> Next:
    found = _icmp_common(d, "ICMPv6", start, end, ICMP6_TYPES)
    if found is None:
        return None
    node, what = found
    kind = d.frame[start]
    if kind in (135, 136, 137) and d.short("ICMPv6", start, end, 24):
        return None
    if kind in (135, 136, 137):
        target = ipv6_address(d.frame[start + 8:start + 24])
        if kind == 136:
            flags = d.frame[start + 4]
            letters = "".join(letter for bit, letter in ((0x80, "R"), (0x40, "S"), (0x20, "O")) if flags & bit)
            node.add(f"flags: {letters or 'none'}", (start + 4, start + 5))
        node.add(f"target: {target}", (start + 8, start + 24))
        options_start = start + (40 if kind == 137 else 24)
        if kind == 137:
            node.add(f"destination: {ipv6_address(d.frame[start + 24:start + 40])}", (start + 24, start + 40))
        option_lines: list[str] = []
        option_bytes: list[str] = []
        link_address = _nd_options(node, d.frame, options_start, end, option_lines, option_bytes)
        d.info = f"{what} for {target}" if kind == 135 else f"{what}, {target}"
        about = f"who has {target}" if kind == 135 else f"tgt is {target}" if kind == 136 else target
        d.line = f"ICMP6, {what}, {about}, length {end - start}"
        if kind == 136:
            flags = d.frame[start + 4]
            about += f", Flags [{', '.join(name for bit, name in _NA_FLAGS if flags & bit) or 'none'}]"
        d.verbose_line = (f"ICMP6, {what}, length {end - start}, {about}", *option_lines)
        d.very_verbose_lines = ((d.verbose_line[0], *option_bytes),)
        if link_address:
            d.info += f" is at {link_address}" if kind == 136 else f" from {link_address}"
    elif kind == 133:
        _nd_options(node, d.frame, start + 8, end)
    elif kind == 134 and d.captured(start, end) >= 16:
        hop_limit, flags, lifetime = struct.unpack_from("!BBH", d.frame, start + 4)
        node.add(f"hop limit: {hop_limit}", (start + 4, start + 5))
        node.add(f"flags: 0x{flags:02x}", (start + 5, start + 6))
        node.add(f"router lifetime: {lifetime} s", (start + 6, start + 8))
        _nd_options(node, d.frame, start + 16, end)
    elif kind == 143 and d.captured(start, end) >= 8:
        records = struct.unpack_from("!H", d.frame, start + 6)[0]
        node.add(f"group records: {records}", (start + 6, start + 8))
        d.line = f"ICMP6, {what}, {records} group record(s), length {end - start}"
        heading = f"ICMP6, {what}, {records} group record(s)"
        d.verbose_line = (f"{heading}{_group_records(d.frame, start + 8, end, records)}",)
        d.very_verbose_lines = ((f"{heading}{_group_records(d.frame, start + 8, end, records, sources=True)}",),)
    elif kind in _ICMP6_ERRORS:
        if kind in (2, 4) and d.captured(start, end) >= 8:
            value = struct.unpack_from("!I", d.frame, start + 4)[0]
            node.add(f"{'MTU' if kind == 2 else 'pointer'}: {value}", (start + 4, start + 8))
            d.info = f"{d.info}, {'mtu' if kind == 2 else 'pointer'} {value}"
            if kind == 2:
                d.line = f"ICMP6, {ICMP6_TYPES[2]}, mtu {value}, length {end - start}"
                d.verbose_line = (f"ICMP6, {ICMP6_TYPES[2]}, mtu {value}",)
        _invoking_packet(d, node, start + 8, end, ipv6)
    else:
        d.payload(start + (8 if kind in _ECHO else 4), end, "Data")
    return None
