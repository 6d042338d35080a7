"""The top line: how many interfaces are plugged and the capture file being written, growing."""
from __future__ import annotations

from rich.text import Text

from ringcore import WriteStatus

from ...formatting import file_size, si
from ..live_text import LiveText


class SessionBar(LiveText):
    def show(self, interface_count: int, writing: WriteStatus | None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" ringmon ", "bold reverse")
        text.append(f" {interface_count} interface{'s' if interface_count != 1 else ''}  ")
        if writing is None:
            text.append("not writing", "dim")
        elif writing.error:
            text.append(f"write failed: {writing.error}", "bold red")
        else:
            text.append("● writing ", "bold red")
            text.append(writing.path, "bold")
            text.append(f"  {writing.format}  {si(writing.packets)} packets  {file_size(writing.bytes)}")
        self.update(text)
