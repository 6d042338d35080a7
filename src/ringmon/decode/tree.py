"""The display tree a decoded packet becomes, and the declarative description of one protocol layer."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DecodedNode:
    """One line of the decode tree. `label` is plain text taken from the packet: never render it as markup."""

    label: str
    children: list[DecodedNode] = field(default_factory=list)
    malformed: bool = False


@dataclass(frozen=True)
class Field:
    """A header field: dpkt's attribute name, the label shown, and how its value is written."""

    name: str
    label: str
    format: Callable[[Any], str] = str


@dataclass(frozen=True)
class Layer:
    """How to show one dpkt class: its name, a one-line summary of the instance, and its fields."""

    name: str
    summary: Callable[[Any], str]
    fields: tuple[Field, ...]


def describe(layer: Layer, packet: Any) -> DecodedNode:
    node = DecodedNode(f"{layer.name}  {layer.summary(packet)}".rstrip())
    for spec in layer.fields:
        try:
            value = spec.format(getattr(packet, spec.name))
        except Exception as error:  # a property computed from hostile bytes: show why, never raise
            value = f"malformed: {error}"
        node.children.append(DecodedNode(f"{spec.label}: {value}"))
    return node


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
