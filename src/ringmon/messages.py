"""Every message that crosses a thread or a widget boundary in the app, in one place."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.message import Message

if TYPE_CHECKING:
    from ringcore.store import DisplayFilter


@dataclass
class SlotChosen(Message):
    """Enter on a slot of a slot map: open the inspector on it."""

    key: str  # interface_key()
    index: int


@dataclass
class UnplugRequested(Message):
    """A panel asks the app to unplug its interface and remove the panel."""

    key: str  # interface_key()


@dataclass
class FieldHighlighted(Message):
    """The cursor of a packet's decode tree moved to a node: these bytes of the frame are what it describes."""

    span: tuple[int, int] | None  # [start, end) in the frame; None: a node with no bytes (what was not captured)


@dataclass
class PacketChosen(Message):
    """Enter on a row of a packet list: open that packet."""

    number: int  # the store's packet number (0-based)


@dataclass
class FindProgress(Message):
    """A find running in a thread searched `searched` of the `total` packets it has to search."""

    searched: int
    total: int


@dataclass
class FindFinished(Message):
    """A find ended: `number` is the packet found, None when none matched or it was cancelled; `went_round`: found
    only past the last packet (the first, going back), from the other end."""

    needle: str
    number: int | None
    cancelled: bool
    backwards: bool
    went_round: bool


@dataclass
class MarksChanged(Message):
    """Packets of a list were marked or unmarked: `marked` are marked now."""

    marked: int


@dataclass
class FilterRequested(Message):
    """Enter in the display filter bar: apply `expression` ('' shows every packet) in `language`
    ('auto', 'bpf' or 'wireshark')."""

    expression: str
    language: str


@dataclass
class TaskProgress(Message):
    """A filter or an export running in a thread did `done` of `total` (packets or bytes)."""

    task: str  # "filter" or "export": the worker group
    done: int
    total: int


@dataclass
class FilterFinished(Message):
    """A display filter ran over the store: `display_filter` when it ran to the end,
    `error` (one line) when it could not be compiled or run. A cancelled one posts nothing."""

    expression: str
    display_filter: DisplayFilter | None
    error: str | None


@dataclass
class ExportFinished(Message):
    """An export ended: `packets` and `size_bytes` written to `path`, or `error` (one line) and nothing there."""

    path: str
    packets: int
    size_bytes: int
    error: str | None
