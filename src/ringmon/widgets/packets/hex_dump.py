"""A packet's bytes as offset / hex / ASCII, every byte outside printable ASCII escaped as a dim dot."""
from __future__ import annotations

from rich.text import Text
from textual.geometry import Size
from textual.widget import Widget

_WIDE_BYTES_PER_LINE = 16
_NARROW_BYTES_PER_LINE = 8


def _line_width(bytes_per_line: int) -> int:
    return 4 + 2 + 3 * bytes_per_line + 1 + 1 + bytes_per_line  # offset, gap, hex, middle gap, gap, ASCII


def bytes_per_line_for(width: int) -> int:
    return _WIDE_BYTES_PER_LINE if width >= _line_width(_WIDE_BYTES_PER_LINE) else _NARROW_BYTES_PER_LINE


def hex_dump_text(data: bytes, bytes_per_line: int = _WIDE_BYTES_PER_LINE) -> Text:
    text = Text(no_wrap=True)
    half = bytes_per_line // 2
    for offset in range(0, len(data), bytes_per_line):
        chunk = data[offset:offset + bytes_per_line]
        text.append(f"{offset:04x}  ", "dim")
        for position in range(bytes_per_line):
            if position == half:
                text.append(" ")
            if position < len(chunk):
                byte = chunk[position]
                text.append(f"{byte:02x} ", "dim" if byte == 0 else "")
            else:
                text.append("   ")
        text.append(" ")
        for byte in chunk:
            if 0x20 <= byte < 0x7F:
                text.append(chr(byte), "cyan")
            else:
                text.append("·", "dim")
        if offset + bytes_per_line < len(data):
            text.append("\n")
    return text


class HexDump(Widget):
    DEFAULT_CSS = """
    HexDump { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = b""

    def show(self, data: bytes) -> None:
        self.data = data
        self.refresh(layout=True)

    def get_content_width(self, container: Size, viewport: Size) -> int:
        return _line_width(bytes_per_line_for(container.width))

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, -(-len(self.data) // bytes_per_line_for(width)))

    def render(self) -> Text:
        return hex_dump_text(self.data, bytes_per_line_for(self.size.width))
