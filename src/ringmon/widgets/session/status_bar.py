"""The top line: how many interfaces are plugged, the capture file being written, growing, and a background
part (the demo's generator) that died."""
from __future__ import annotations

from rich.text import Text

from ringcore import WriteStatus

from ...formatting import escape, file_size, si
from ..live_text import LiveText


class SessionBar(LiveText):
    def show(self, interface_count: int, writing: WriteStatus | None, background_failed: str | None = None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" ringmon ", "bold reverse")
        text.append(f" {interface_count} interface{'s' if interface_count != 1 else ''}  ")
        if background_failed is not None:
            text.append(f"{escape(background_failed)}  ", "bold red")
        if writing is None:
            text.append("not writing", "dim")
        elif writing.error:
            text.append(f"write failed: {writing.error}", "bold red")
        else:
            text.append("● writing ", "bold red")
            text.append(writing.path, "bold")
            text.append(f"  {writing.format}  {si(writing.packets)} packets  {file_size(writing.bytes)}")
        self.update(text)
