"""The display tree a decoded packet becomes: one node per layer and per field, each knowing the bytes of
the frame it came from, and the declarative description of a dpkt header's fields."""
from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from ..formatting import escape

Span = tuple[int, int]  # [start, end) in the frame
MAX_LABEL = 300  # characters of packet text on one line of the tree


@dataclass
class DecodedNode:
    """One line of the decode tree. `label` is plain text taken from the packet, escaped here, once, so
    that whoever shows a node cannot forget to: never render it as markup either. `span` is the bytes of
    the frame the line describes (None: no bytes, e.g. what the capture did not keep)."""

    label: str
    children: list[DecodedNode] = field(default_factory=list)
    malformed: bool = False
    span: Span | None = None

    def __post_init__(self) -> None:
        if len(self.label) > MAX_LABEL:  # a 60 KB header line is shown by its bytes in the hex view
            self.label = f"{self.label[:MAX_LABEL]}... ({len(self.label) - MAX_LABEL} more characters)"
        self.label = escape(self.label)

    def add(self, label: str, span: Span | None = None, malformed: bool = False, at: int | None = None) -> DecodedNode:
        """A child, last or at index `at`."""
        child = DecodedNode(label, malformed=malformed, span=span)
        self.children.insert(len(self.children) if at is None else at, child)
        return child

    def add_fields(self, packet: Any, start: int, fields: tuple[Field, ...]) -> None:
        """A child per field of `packet` (a dpkt header that starts at `start` in the frame)."""
        layout = header_layout(type(packet))
        for spec in fields:
            first, last = layout[spec.name]
            self.add(f"{spec.label}: {shown(spec.format, getattr(packet, spec.name))}", (start + first, start + last))

    def flag(self, problem: str) -> None:
        """A layer that parsed but says something untrue or incomplete: first child 'malformed: why' or
        'truncated: what'."""
        self.malformed = True
        self.children.insert(0, DecodedNode(problem, malformed=True, span=self.span))

    def walk(self):
        yield self
        for child in self.children:
            yield from child.walk()


class UnkeptNode:
    """A layer's node in a walk for the summary only: the protocol functions run as for the tree, reading the
    same header fields, but what they add to it is dropped, unformatted (field labels are most of a walk's
    cost, and a list of a million rows needs only the summary's columns)."""

    span: Span | None = None
    malformed = False

    @property
    def children(self) -> list[DecodedNode]:
        return []  # a fresh list each time: nothing put there is kept

    def add(self, label: str, span: Span | None = None, malformed: bool = False, at: int | None = None) -> UnkeptNode:
        return self

    def add_fields(self, packet: Any, start: int, fields: tuple[Field, ...]) -> None:
        pass

    def flag(self, problem: str) -> None:
        pass


UNKEPT = UnkeptNode()


@dataclass(frozen=True)
class Field:
    """A header field: dpkt's attribute name (a bit field's too), the label shown, how its value is written."""

    name: str
    label: str
    format: Callable[[Any], str] = str


@cache
def header_layout(cls: type) -> dict[str, Span]:
    """Where each field of a dpkt header class lies, from its `__hdr__` table: a bit field gets the bytes
    its bits fall in (IPv4's flags share a byte with the fragment offset, as in tshark)."""
    order = cls.__hdr_fmt__[0]
    bit_fields = getattr(cls, "__bit_fields__", {})
    layout: dict[str, Span] = {}
    offset = 0
    for name, fmt, _ in cls.__hdr__:
        size = struct.calcsize(order + fmt)
        layout[name] = (offset, offset + size)
        bit = 0
        for sub, width in bit_fields.get(name, ()):
            layout[sub] = (offset + bit // 8, offset + -(-(bit + width) // 8))
            bit += width
        offset += size
    return layout


@cache
def _header_struct(cls: type) -> struct.Struct:
    return struct.Struct(cls.__hdr_fmt__)


def header_only(cls: type, frame: bytes, start: int) -> Any:
    """A dpkt header read from `frame` at `start` by its `__hdr__` table alone: the caller decides what
    follows it (dpkt's own unpack would parse the payload too, as it guesses). What dpkt.Packet.unpack does,
    without copying the header's bytes out first: every packet's every layer comes here."""
    header = cls.__new__(cls)
    for name, value in zip(cls.__hdr_fields__, _header_struct(cls).unpack_from(frame, start)):
        setattr(header, name, value)
    header.data = b""
    return header


def shown(show: Callable[[Any], str], value: Any) -> str:
    try:
        return show(value)
    except Exception as error:  # a value computed from hostile bytes: show why, never raise
        return f"malformed: {error}"


def hex16(value: int) -> str:
    return f"0x{value:04x}"


def hex8(value: int) -> str:
    return f"0x{value:02x}"


def mac(value: bytes) -> str:
    return value.hex(":")


def named(names: dict[int, str], number_format: Callable[[int], str] = str) -> Callable[[int], str]:
    """A number with its name when it has one: '6 (tcp)', '0x0800 (IPv4)'."""
    return lambda number: f"{number_format(number)} ({names[number]})" if number in names else number_format(number)
