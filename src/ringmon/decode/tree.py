"""The display tree a decoded packet becomes, and the declarative description of one protocol layer."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..formatting import escape


@dataclass
class DecodedNode:
    """One line of the decode tree. `label` is plain text taken from the packet, escaped here, once, so
    that whoever shows a node cannot forget to: never render it as markup either."""

    label: str
    children: list[DecodedNode] = field(default_factory=list)
    malformed: bool = False

    def __post_init__(self) -> None:
        self.label = escape(self.label)


@dataclass(frozen=True)
class Field:
    """A header field: dpkt's attribute name, the label shown, and how its value is written."""

    name: str
    label: str
    format: Callable[[Any], str] = str

    def show(self, packet: Any) -> str:
        return self.format(getattr(packet, self.name))


@dataclass(frozen=True)
class Layer:
    """How to show one dpkt class: its name, a one-line summary of the instance, and its fields."""

    name: str
    summary: Callable[[Any], str]
    fields: tuple[Field, ...]


def describe(layer: Layer, packet: Any) -> DecodedNode:
    node = DecodedNode(f"{layer.name}  {_shown(layer.summary, packet)}".rstrip())
    for spec in layer.fields:
        node.children.append(DecodedNode(f"{spec.label}: {_shown(spec.show, packet)}"))
    return node


def _shown(show: Callable[[Any], str], packet: Any) -> str:
    try:
        return show(packet)
    except Exception as error:  # a value computed from hostile bytes: show why, never raise
        return f"malformed: {error}"


def describe_generic(packet: Any) -> DecodedNode:
    """A class without its own Layer: dpkt's header table (`__hdr__`) gives its fields."""
    public = tuple(Field(name, name, hex_or_int) for name, _, _ in getattr(packet, "__hdr__", ()) if not name.startswith("_"))
    return describe(Layer(type(packet).__name__, lambda _: "", public), packet)


def hex_or_int(value: Any) -> str:
    return value.hex(":") if isinstance(value, bytes) else str(value)


def hex16(value: int) -> str:
    return f"0x{value:04x}"


def mac(value: bytes) -> str:
    return value.hex(":")
