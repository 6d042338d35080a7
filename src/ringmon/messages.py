"""Every message that crosses a thread or a widget boundary in the dashboard, in one place."""
from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class SlotChosen(Message):
    """Enter on a slot of a slot map: open the inspector on it."""

    key: str  # interface_key()
    index: int


@dataclass
class UnplugRequested(Message):
    """A panel asks the app to unplug its interface and remove the panel."""

    key: str  # interface_key()
