"""Application layers: DNS (queries and answers, over UDP or TCP), HTTP/1 request and response heads, and
the TLS ClientHello with its server name (SNI). A TCP or UDP payload is tried as one of them by its ports or,
for HTTP and TLS, by its first bytes."""
from __future__ import annotations

import re
import socket
import struct

import dpkt

from .dissect import Dissection, Next, layer
from .tree import MAX_LABEL, UNKEPT, DecodedNode, Field, UnkeptNode, header_only, hex16, named

DNS_PORTS = (53, 5353, 5355)  # DNS, multicast DNS, LLMNR
DNS_TYPES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
             41: "OPT", 64: "SVCB", 65: "HTTPS", 255: "ANY"}
_DNS_RCODES = {0: "no error", 1: "format error", 2: "server failure", 3: "no such name", 4: "not implemented",
               5: "refused"}
_HTTP_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ", b"TRACE ")
_DNS_HEADER_FIELDS = (
    Field("id", "id", hex16), Field("op", "flags", lambda op: f"0x{op:04x} ({'response' if op & 0x8000 else 'query'}"
                                                           f", {_DNS_RCODES.get(op & 0xF, op & 0xF)})"),
    Field("qd", "questions"), Field("an", "answers"), Field("ns", "authority records"), Field("ar", "additional records"),
)
_TLS_VERSIONS = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2", 0x0304: "TLS 1.3"}
_TLS_CONTENT_TYPES = {20: "change cipher spec", 21: "alert", 22: "handshake", 23: "application data"}
_TLS_HANDSHAKES = {1: "Client Hello", 2: "Server Hello", 4: "New Session Ticket", 8: "Encrypted Extensions",
                   11: "Certificate", 12: "Server Key Exchange", 13: "Certificate Request", 14: "Server Hello Done",
                   15: "Certificate Verify", 16: "Client Key Exchange", 20: "Finished"}
_TLS_EXTENSIONS = {0: "server_name", 10: "supported_groups", 13: "signature_algorithms", 16: "alpn",
                   43: "supported_versions", 45: "psk_key_exchange_modes", 51: "key_share"}


def on_tcp(d: Dissection, sport: int, dport: int, start: int, end: int) -> Next:
    head = d.frame[start:start + 8]
    if head.startswith(_HTTP_METHODS) or head.startswith(b"HTTP/1."):
        return http, start, end
    if _looks_like_tls(head):
        return tls, start, end
    if sport in DNS_PORTS or dport in DNS_PORTS:
        return dns_over_tcp, start, end
    d.payload(start, end)
    return None


def on_udp(d: Dissection, sport: int, dport: int, start: int, end: int) -> Next:
    if sport in DNS_PORTS or dport in DNS_PORTS:
        return dns, start, end
    d.payload(start, end)
    return None


def _looks_like_tls(head: bytes) -> bool:
    return len(head) >= 3 and head[0] in _TLS_CONTENT_TYPES and head[1] == 3 and head[2] <= 4


# DNS ----------------------------------------------------------------------------------------------------

def _dns_name(message: bytes, offset: int) -> tuple[str, int]:
    """The name at `offset` and the offset after it (RFC 1035 4.1.4: a pointer only points backwards, so a
    crafted message cannot loop); label bytes that are not UTF-8 stay what they are, for escape() to show."""
    labels: list[bytes] = []
    after = None
    lowest = offset
    while True:
        if offset >= len(message):
            raise ValueError("name runs past the message")
        length = message[offset]
        if length & 0xC0 == 0xC0:
            if offset + 2 > len(message):
                raise ValueError("name runs past the message")
            pointer = struct.unpack_from("!H", message, offset)[0] & 0x3FFF
            if pointer >= lowest:
                raise ValueError(f"compression pointer {pointer} does not point backwards")
            after = offset + 2 if after is None else after
            offset = lowest = pointer
        elif length & 0xC0:
            raise ValueError(f"label length 0x{length:02x}")
        elif length == 0:
            name = b".".join(labels).decode("utf-8", "surrogateescape")
            return name or "<root>", after if after is not None else offset + 1
        else:
            labels.append(message[offset + 1:offset + 1 + length])
            offset += 1 + length


def _rdata(message: bytes, kind: int, offset: int, length: int) -> str:
    data = message[offset:offset + length]
    if kind == 1 and length == 4:
        return socket.inet_ntoa(data)
    if kind == 28 and length == 16:
        return socket.inet_ntop(socket.AF_INET6, data)
    if kind in (2, 5, 12):
        return _dns_name(message, offset)[0]
    if kind == 15 and length >= 3:
        return f"{struct.unpack_from('!H', data)[0]} {_dns_name(message, offset + 2)[0]}"
    if kind == 16:
        texts, position = [], 0
        while position < len(data):
            texts.append(data[position + 1:position + 1 + data[position]].decode("utf-8", "surrogateescape"))
            position += 1 + data[position]
        return " ".join(f'"{text}"' for text in texts)
    return f"{length} bytes"


def _dns_message(d: Dissection, start: int, end: int, name: str) -> DecodedNode | UnkeptNode:
    """The message's node (when it is too short for a header, the node that says so)."""
    if d.short(name, start, end, 12):
        if end - start < 12:  # the datagram holds less than a header: tcpdump's words say so (the info column too)
            d.line = f"domain [length {end - start} < 12] (invalid)"
            d.info = d.problems.pop()
        return d.layers[-1] if d.tree else UNKEPT
    header = header_only(dpkt.dns.DNS, d.frame, start)  # the counts: dpkt's own DNS would read the records too
    message = d.frame[start:min(end, len(d.frame))]
    response = bool(header.op & 0x8000)
    node = d.add_layer(f"{name}  {'response' if response else 'query'} 0x{header.id:04x}", start, start + len(message),
                       protocol="DNS")
    node.add_fields(header, start, _DNS_HEADER_FIELDS)
    offset, questions, answers = 12, [], []
    asked, told, named = [], [], []  # tcpdump's words for the questions and the answers
    # -vv's words for each record (the answers, the authority and additional ones), then -vvv's, with its TTL
    records = {section: ([], []) for section in ("answer", "authority", "additional")}
    over_udp = d.tcp is None
    unicast = over_udp and (d.source.endswith(".53") or d.destination.endswith(".53"))
    multicast = over_udp and not unicast and (d.source.endswith(".5353") or d.destination.endswith(".5353"))
    try:
        for section, count in (("question", header.qd), ("answer", header.an), ("authority", header.ns),
                               ("additional", header.ar)):
            for _ in range(count):
                first = offset
                record_name, offset = _dns_name(message, offset)
                if offset + 4 > len(message):
                    raise ValueError(f"{section} runs past the message")
                kind, klass = struct.unpack_from("!HH", message, offset)
                kind_name = DNS_TYPES.get(kind, str(kind))
                at = start + offset  # the record's fixed fields, after its name
                if section == "question":
                    offset += 4
                    record = node.add(f"question: {record_name} {kind_name}", (start + first, start + offset))
                    questions.append(f"{kind_name} {record_name}")
                    if multicast:  # mDNS: the top bit asks for a unicast answer (RFC 6762 5.4)
                        kind_words = f"{_dns_class(klass & 0x7FFF)}{' (QU)' if klass & 0x8000 else ' (QM)'}"
                    else:
                        kind_words = _dns_class(klass)
                    asked.append(f"{DNS_TYPES.get(kind, f'Type{kind}')}{kind_words}? {_fqdn(record_name)}")
                else:
                    if offset + 10 > len(message):
                        raise ValueError(f"{section} runs past the message")
                    ttl, length = struct.unpack_from("!IH", message, offset + 4)
                    if offset + 10 + length > len(message):
                        raise ValueError(f"{section} data runs past the message")
                    value = _rdata(message, kind, offset + 10, length)
                    offset += 10 + length
                    record = node.add(f"{section}: {record_name} {kind_name} {value} (ttl {ttl})",
                                      (start + first, start + offset))
                    # mDNS: the top bit says the answer replaces what caches hold (RFC 6762 10.2)
                    flushed = multicast and klass & 0x8000
                    classed = (f"{_dns_class((klass & 0x7FFF) if multicast else klass, kind)}"
                               f"{' (Cache flush)' if flushed else ''}")
                    type_word = DNS_TYPES.get(kind, f"Type{kind}")
                    # -v names each record, and says an SOA's fields; -vvv its TTL (an OPT record's is flags)
                    data_words = _rdata_line(message, kind, offset - length, length, verbose=True)
                    with_name = f"{_fqdn(record_name)}{classed} {type_word}{data_words}"
                    ttl_words = f" [{_relative_time(ttl)}]" if kind != 41 else ""
                    records[section][0].append(with_name)
                    records[section][1].append(f"{_fqdn(record_name)}{classed}{ttl_words} {type_word}{data_words}")
                    if section == "answer":
                        answers.append(f"{kind_name} {value}")
                        told.append(f"{classed} {type_word}".lstrip() + _rdata_line(message, kind, offset - length,
                                                                                   length))
                        named.append(with_name)
                record.add(f"name: {record_name}", (start + first, at))
                record.add(f"type: {kind_name}", (at, at + 2))
                record.add(f"class: {klass}", (at + 2, at + 4))
                if section != "question":
                    record.add(f"ttl: {ttl}", (at + 4, at + 8))
                    record.add(f"data length: {length}", (at + 8, at + 10))
                    record.add(f"data: {value}", (at + 10, at + 10 + length))
    except ValueError as error:
        d.malformed(node, f"DNS {error}", truncated=d.cut_by_capture(end))
        if d.quoted and not response:  # a query an ICMP error's quote cut: tcpdump's header words and its mark
            d.line = f"{_dns_line(header, [], [])} [|domain]"
            return node
    info = f"{'response' if response else 'query'} {header.id} {' '.join(questions)}".rstrip()
    rcode = header.op & 0xF
    if response and rcode:  # an error answers nothing: say which
        info = f"{info}: {_DNS_RCODES.get(rcode, f'rcode {rcode}')}"
    d.info = f"{info}: {', '.join(answers)}" if answers else info
    text = f"{_dns_line(header, asked, told)} ({end - start})"  # the length the wire carried
    if d.tcp is not None:
        if 53 in (d.tcp.sport, d.tcp.dport):
            d.app_line = f" {text}"
    elif unicast or multicast:  # tcpdump reads DNS on these ports (LLMNR's otherwise)
        d.line = text
        if named:
            d.verbose_line = (f"{_dns_line(header, asked, named)} ({end - start})",)
        if response:
            d.very_verbose_lines = tuple((f"{_dns_line(header, asked, *(sections[level] for sections in records.values()))}"
                                          f" ({end - start})",) for level in (0, 1))
    return node


def _rdata_line(message: bytes, kind: int, offset: int, length: int, verbose: bool = False) -> str:
    """tcpdump's words for a record's data (ns_rprint): addresses, names, MX, TXT, SRV, with -v an SOA's
    fields; nothing for the types it says nothing about."""
    data = message[offset:offset + length]
    if kind == 6 and verbose:
        primary, after = _dns_name(message, offset)
        mailbox, after = _dns_name(message, after)
        if after + 20 <= offset + length:
            numbers = " ".join(str(number) for number in struct.unpack_from("!5I", message, after))
            return f" {_fqdn(primary)} {_fqdn(mailbox)} {numbers}"
    if kind in (1, 28, 16) and length:  # addresses; TXT's strings, each quoted
        return f" {_rdata(message, kind, offset, length)}"
    if kind in (2, 5, 12, 39):
        return f" {_fqdn(_dns_name(message, offset)[0])}"
    if kind == 15 and length >= 3:
        return f" {_fqdn(_dns_name(message, offset + 2)[0])} {struct.unpack_from('!H', data)[0]}"
    if kind == 33 and length >= 7:
        priority, weight, port = struct.unpack_from("!HHH", data)
        return f" {_fqdn(_dns_name(message, offset + 6)[0])}:{port} {priority} {weight}"
    return ""


_DNS_CLASSES = {3: "CHAOS", 4: "HS", 255: "ANY"}


def _dns_class(klass: int, kind: int = 0) -> str:
    """tcpdump's word for a class other than IN (none for an OPT record, whose class is a size), after a space."""
    if klass == 1 or kind == 41:
        return ""
    return f" {_DNS_CLASSES.get(klass, f'(Class {klass})')}"


def _fqdn(name: str) -> str:
    return "." if name == "<root>" else f"{name}."


_DNS_OPCODES = {1: " inv_q", 2: " stat", 4: " notify", 5: " update"}
_DNS_RESPONSE_CODES = ("", " FormErr", " ServFail", " NXDomain", " NotImp", " Refused", " YXDomain", " YXRRSet",
                       " NXRRSet", " NotAuth", " NotZone")


def _relative_time(seconds: int) -> str:
    """tcpdump's words for a TTL (unsigned_relts_print): 5m, 1h1m1s, 0s."""
    parts = []
    for unit, size in (("y", 31536000), ("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts) or "0s"


def _dns_line(header, asked: list[str], told: list[str], authority: list[str] | None = None,
              additional: list[str] | None = None) -> str:
    """tcpdump's (domain_print): a query's id, flags and questions; a response's id, flags, counts and answers.
    Given the `authority` and `additional` records, -vv's response: its questions too ("q:"), and those
    records ("ns:", "ar:")."""
    flags = header.op
    opcode = (flags >> 11) & 0xF
    words = [f"{header.id}{_DNS_OPCODES.get(opcode, f' op{opcode}' if opcode else '')}"]
    if flags & 0x8000:
        rcode = flags & 0xF
        words[0] += (_DNS_RESPONSE_CODES[rcode] if rcode < len(_DNS_RESPONSE_CODES) else f" Resp{rcode}") \
            + ("*" if flags & 0x0400 else "") + ("" if flags & 0x0080 else "-") + ("|" if flags & 0x0200 else "") \
            + ("$" if flags & 0x0020 else "")
        if header.qd != 1:
            words.append(f"[{header.qd}q]")
        if authority is not None and asked:
            words.append(", ".join(f"q: {question}" for question in asked))
        elif header.qd > 1:  # tcpdump separates the questions it skips too: "[2q],"
            words[-1] += "," * (header.qd - 1)
        words.append(f"{header.an}/{header.ns}/{header.ar}")
        if told:
            words.append(", ".join(told))
        for label, section in (("ns:", authority), ("ar:", additional)):
            if section:
                words.append(f"{label} {', '.join(section)}")
        return " ".join(words)
    words[0] += ("+" if flags & 0x0100 else "") + ("%" if flags & 0x0010 else "")
    if flags & 0x6CF:
        words.append(f"[b2&3=0x{flags:x}]")
    if header.an:
        words.append(f"[{header.an}a]")
    if header.qd != 1:
        words.append(f"[{header.qd}q]")
    if header.ns:
        words.append(f"[{header.ns}n]")
    if header.ar:
        words.append(f"[{header.ar}au]")
    return " ".join(words + asked)


@layer("DNS")
def dns(d: Dissection, start: int, end: int) -> Next:
    _dns_message(d, start, end, "DNS")
    return None


@layer("DNS (TCP)")
def dns_over_tcp(d: Dissection, start: int, end: int) -> Next:
    if d.short("DNS", start, end, 2):
        return None
    (length,) = struct.unpack_from("!H", d.frame, start)
    if length + 2 > end - start:  # a message split over segments: not reassembled
        d.payload(start, end, "DNS (part of a message)")
        return None
    message = _dns_message(d, start + 2, start + 2 + length, "DNS")
    if message.span is not None:  # the layer is the length and the message
        message.span = (start, message.span[1])
        message.add(f"length: {length}", (start, start + 2), at=0)
    d.payload(start + 2 + length, end)
    return None


# HTTP/1 -------------------------------------------------------------------------------------------------

@layer("HTTP")
def http(d: Dissection, start: int, end: int) -> Next:
    captured_end = min(end, len(d.frame))
    data = d.frame[start:captured_end]
    head_end = data.find(b"\r\n\r\n")
    head = data if head_end < 0 else data[:head_end + 2]
    offset, lines = 0, []
    while offset < len(head):
        line_end = head.find(b"\r\n", offset)
        line_end = len(head) if line_end < 0 else line_end
        lines.append((offset, line_end))
        offset = line_end + 2
    first = data[:lines[0][1]].decode("latin-1")
    node = d.add_layer(f"HTTP  {first}", start, start + (len(data) if head_end < 0 else head_end + 4))
    node.add(("status line: " if first.startswith("HTTP/") else "request line: ") + first,
             (start, start + min(lines[0][1] + 2, len(data))))
    for line_start, line_end in lines[1:]:
        node.add(data[line_start:line_end].decode("latin-1"), (start + line_start, start + min(line_end + 2, len(data))))
    if head_end < 0:
        node.add("(the head goes on past the bytes of this segment)")
    d.info = first if len(first) <= MAX_LABEL else f"{first[:MAX_LABEL]}..."
    if d.tcp is not None and {d.tcp.sport, d.tcp.dport} & {80, 8080}:  # tcpdump reads HTTP on these ports only
        # tcpdump's words: the first line, or when the capture cut it, that it did
        d.app_line = f": HTTP: {d.info}" if b"\r\n" in data or end <= len(d.frame) else ": HTTP [|http]"
        d.text_span = (start, end)  # -v prints it line by line: made then (text_lines), not for every summary
    if head_end >= 0:
        d.payload(start + head_end + 4, end, "Body")
    return None


_TEXT_RUN = re.compile(rb"[\t\x20-\x7e]*")


def text_lines(data: bytes) -> list[str]:
    """tcpdump -v's lines of a text protocol's segment (print_txt_line): each line up to CRLF or LF, until a byte
    that is not text; a last line without its end is marked cut short ([|http])."""
    lines, offset = [], 0
    while offset < len(data):
        end = _TEXT_RUN.match(data, offset).end()
        if end == len(data):
            lines.append(f"{data[offset:end].decode('ascii')} [|http]")
            break
        if data[end] == 0x0A or data[end:end + 2] == b"\r\n":
            lines.append(data[offset:end].decode("ascii"))
            offset = end + (1 if data[end] == 0x0A else 2)
        else:
            break  # binary data, or a CR alone (or the segment's last byte): tcpdump prints no more
    return lines


# TLS ----------------------------------------------------------------------------------------------------

def _vector(data: bytes, offset: int, width: int) -> tuple[int, int]:
    """A TLS vector's body: (start, end) after its `width`-byte length."""
    if offset + width > len(data):
        raise ValueError("runs past the record")
    length = int.from_bytes(data[offset:offset + width], "big")
    if offset + width + length > len(data):
        raise ValueError("runs past the record")
    return offset + width, offset + width + length


def _client_hello(node: DecodedNode, data: bytes, base: int) -> str:
    """The fields of a ClientHello body starting at data[0] (frame offset `base`); returns the SNI name."""
    node.add(f"client version: {named(_TLS_VERSIONS, hex16)(int.from_bytes(data[0:2], 'big'))}", (base, base + 2))
    node.add(f"random: {data[2:34].hex()}", (base + 2, base + 34))
    session = _vector(data, 34, 1)
    node.add(f"session id: {session[1] - session[0]} bytes", (base + 34, base + session[1]))
    suites = _vector(data, session[1], 2)
    node.add(f"cipher suites: {(suites[1] - suites[0]) // 2}", (base + session[1], base + suites[1]))
    compression = _vector(data, suites[1], 1)
    node.add(f"compression methods: {compression[1] - compression[0]}", (base + suites[1], base + compression[1]))
    if compression[1] == len(data):
        return ""
    extensions = _vector(data, compression[1], 2)
    offset, server_name = extensions[0], ""
    while offset < extensions[1]:
        kind = int.from_bytes(data[offset:offset + 2], "big")
        body = _vector(data, offset + 2, 2)
        label = f"extension: {named(_TLS_EXTENSIONS)(kind)} ({body[1] - body[0]} bytes)"
        extension = node.add(label, (base + offset, base + body[1]))
        if kind == 16:  # ALPN: the application protocols offered, 'h2', 'http/1.1'
            names = _vector(data, body[0], 2)
            entry, offered = names[0], []
            while entry < names[1]:
                name = _vector(data, entry, 1)
                offered.append(data[name[0]:name[1]].decode("utf-8", "surrogateescape"))
                entry = name[1]
            extension.add(f"protocols: {', '.join(offered)}", (base + names[0], base + names[1]))
        if kind == 0:
            names = _vector(data, body[0], 2)
            entry = names[0]
            while entry + 3 <= names[1]:
                name = _vector(data, entry + 1, 2)
                if data[entry] == 0:
                    server_name = data[name[0]:name[1]].decode("utf-8", "surrogateescape")
                    extension.add(f"server name: {server_name}", (base + name[0], base + name[1]))
                entry = name[1]
        offset = body[1]
    return server_name


@layer("TLS")
def tls(d: Dissection, start: int, end: int) -> Next:
    if d.short("TLS", start, end, 5):
        return None
    content_type, version, length = struct.unpack_from("!BHH", d.frame, start)
    record_end = start + 5 + length
    kind = _TLS_CONTENT_TYPES.get(content_type, str(content_type))
    handshake = d.frame[start + 5] if content_type == 22 and start + 5 < len(d.frame) else None
    title = _TLS_HANDSHAKES.get(handshake, f"handshake {handshake}") if handshake is not None else kind
    first_record = d.protocol != "TLS"
    node = d.add_layer(f"TLS  {title}", start, min(record_end, end))
    node.add(f"content type: {content_type} ({kind})", (start, start + 1))
    node.add(f"version: {named(_TLS_VERSIONS, hex16)(version)}", (start + 1, start + 3))
    node.add(f"length: {length}", (start + 3, start + 5))
    if first_record:
        d.info = title
    if handshake == 1:
        body = d.frame[start + 9:min(record_end, end, len(d.frame))]
        hello = node.add("Client Hello", (start + 5, start + 5 + 4 + len(body)))
        try:
            server_name = _client_hello(hello, body, start + 9)
        except ValueError as error:
            d.malformed(node, f"ClientHello {error}", truncated=d.cut_by_capture(min(record_end, end)))
        else:
            if server_name and first_record:
                d.info = f"Client Hello, SNI {server_name}"
    if record_end < min(end, len(d.frame)) and _looks_like_tls(d.frame[record_end:record_end + 3]):
        return tls, record_end, end
    d.payload(record_end, end)
    return None
