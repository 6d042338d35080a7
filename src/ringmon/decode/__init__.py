"""Decodes a captured frame with dpkt into a display tree, one node per protocol layer.

Malformed data becomes a node that says so; no parsing error escapes.
"""
from __future__ import annotations

import dpkt

from . import inet, link, transport
from .lengths import length_problem
from .tree import DecodedNode, describe, describe_generic

_LAYERS = {**link.LAYERS, **inet.LAYERS, **transport.LAYERS}
_MAX_DEPTH = 8  # tunnels inside tunnels: stop long before a crafted packet could recurse far


def _inner_class(packet: dpkt.Packet) -> type | None:
    """The class dpkt would have parsed the payload as, to say why it stayed raw bytes."""
    if isinstance(packet, dpkt.ethernet.Ethernet):
        return dpkt.ethernet.Ethernet._typesw.get(packet.type)
    protocol_switch = getattr(type(packet), "_protosw", None)
    number = getattr(packet, "p", getattr(packet, "nxt", None))
    return protocol_switch.get(number) if protocol_switch is not None and number is not None else None


def _payload_node(packet: dpkt.Packet, payload: bytes) -> DecodedNode:
    if isinstance(packet, dpkt.ip.IP) and (packet.mf or packet.offset):
        # dpkt leaves fragments raw on purpose: the transport header is in the first one only.
        return DecodedNode(f"Fragment  {len(payload)} bytes at offset {packet.offset}")
    inner = _inner_class(packet)
    if inner is not None:
        try:
            inner(payload)
        except Exception as error:  # dpkt raises more than UnpackError on crafted bytes
            name = _LAYERS[inner].name if inner in _LAYERS else inner.__name__
            return DecodedNode(f"{name}: malformed: {error}", malformed=True)
    return DecodedNode(f"Payload  {len(payload)} bytes")


def _layer_node(packet: dpkt.Packet, parent: dpkt.Packet | None, uncaptured: int) -> DecodedNode:
    layer = _LAYERS.get(type(packet))
    node = describe(layer, packet) if layer else describe_generic(packet)
    try:
        problem = length_problem(packet, parent, uncaptured)
    except Exception as error:  # see decode_frame
        problem = str(error)
    if problem:
        node.malformed = True
        node.children.insert(0, DecodedNode(f"malformed: {problem}", malformed=True))
    return node


def decode_frame(frame: bytes, wirelen: int | None = None) -> list[DecodedNode]:
    """The layers of an Ethernet frame, outermost first; `wirelen` is its length on the wire when the
    capture kept less, so a length field is only called wrong when the wire did not carry the bytes."""
    uncaptured = max(0, (wirelen or 0) - len(frame))
    try:
        packet = dpkt.ethernet.Ethernet(frame)
    except Exception as error:  # any parse failure is a fact about the packet, not a crash
        return [DecodedNode(f"Ethernet II: malformed: {error}", malformed=True)]
    layers: list[DecodedNode] = []
    parent = None
    while isinstance(packet, dpkt.Packet) and len(layers) < _MAX_DEPTH:
        layers.append(_layer_node(packet, parent, uncaptured))
        payload = packet.data
        if isinstance(payload, bytes):
            if payload:
                layers.append(_payload_node(packet, payload))
            break
        parent, packet = packet, payload
    return layers
