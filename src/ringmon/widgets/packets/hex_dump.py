"""A packet's bytes as offset / hex / ASCII, every byte outside printable ASCII a dim dot; the bytes of the
field chosen in the decode tree highlighted. A line-API view: a 64 KiB packet costs only its visible lines."""
from __future__ import annotations

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ...decode.tree import Span

_WIDE_BYTES_PER_LINE = 16
_NARROW_BYTES_PER_LINE = 8
HIGHLIGHT = "reverse"


def offset_digits(size: int) -> int:
    """Hex digits of the offset column: 4, more for a packet past 64 KiB (a GRO packet, a 256 KiB snap length)."""
    return max(4, len(f"{max(size - 1, 0):x}"))


def _line_width(bytes_per_line: int, digits: int = 4) -> int:
    return digits + 2 + 3 * bytes_per_line + 1 + 1 + bytes_per_line  # offset, gap, hex, middle gap, gap, ASCII


def bytes_per_line_for(width: int, digits: int = 4) -> int:
    return _WIDE_BYTES_PER_LINE if width >= _line_width(_WIDE_BYTES_PER_LINE, digits) else _NARROW_BYTES_PER_LINE


def hex_line(data: bytes, offset: int, bytes_per_line: int, highlight: Span | None = None, digits: int = 4) -> Text:
    """One line of the dump: the bytes from `offset`, those inside `highlight` reversed in both columns."""
    text = Text(no_wrap=True, end="")
    half = bytes_per_line // 2
    chunk = data[offset:offset + bytes_per_line]
    first, last = highlight if highlight else (0, 0)
    text.append(f"{offset:0{digits}x}  ", "dim")
    for position in range(bytes_per_line):
        if position == half:
            text.append(" ", HIGHLIGHT if first <= offset + position - 1 and offset + position < last else "")
        if position < len(chunk):
            byte = chunk[position]
            marked = first <= offset + position < last
            text.append(f"{byte:02x}", HIGHLIGHT if marked else "dim" if byte == 0 else "")
            # the gap after a byte is highlighted when the next byte is too, so a field reads as one block
            gap_marked = marked and offset + position + 1 < last and position + 1 < len(chunk)
            text.append(" ", HIGHLIGHT if gap_marked else "")
        else:
            text.append("   ")
    text.append(" ")
    for position, byte in enumerate(chunk):
        style = HIGHLIGHT if first <= offset + position < last else "cyan" if 0x20 <= byte < 0x7F else "dim"
        text.append(chr(byte) if 0x20 <= byte < 0x7F else "·", style)
    return text


def hex_dump_text(data: bytes, bytes_per_line: int = _WIDE_BYTES_PER_LINE) -> Text:
    """A dump of `data` as one text, offsets from 0 (what `c` copies)."""
    digits = offset_digits(len(data))
    return Text("\n", no_wrap=True).join(hex_line(data, offset, bytes_per_line, digits=digits)
                                          for offset in range(0, len(data), bytes_per_line))


class HexDump(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    HexDump { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data = b""
        self.highlight: Span | None = None

    @property
    def bytes_per_line(self) -> int:
        return bytes_per_line_for(self.scrollable_content_region.width, offset_digits(len(self.data)))

    def show(self, data: bytes) -> None:
        self.data = data
        self.highlight = None
        self._size_to_data()
        self.scroll_home(animate=False)
        self.refresh()

    def highlight_bytes(self, span: Span | None) -> None:
        """Marks the bytes [start, end) of the frame and scrolls so that their first line is in view."""
        self.highlight = span
        if span is not None and span[1] > span[0]:
            per_line = self.bytes_per_line
            first_line, last_line = span[0] // per_line, (span[1] - 1) // per_line
            height = min(last_line - first_line + 1, max(1, self.scrollable_content_region.height))
            self.scroll_to_region(Region(0, first_line, 1, height), animate=False, immediate=True)
        self.refresh()

    def on_resize(self) -> None:
        self._size_to_data()

    def _size_to_data(self) -> None:
        per_line = self.bytes_per_line
        width = _line_width(per_line, offset_digits(len(self.data)))
        self.virtual_size = Size(width, max(1, -(-len(self.data) // per_line)))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        per_line = self.bytes_per_line
        offset = (scroll_y + y) * per_line
        width = self.scrollable_content_region.width
        if offset >= len(self.data):
            return Strip.blank(width, self.rich_style)
        text = hex_line(self.data, offset, per_line, self.highlight, offset_digits(len(self.data)))
        segments = [Segment(segment.text, self.rich_style + segment.style if segment.style else self.rich_style)
                    for segment in text.render(self.app.console)]
        return Strip(segments).crop(scroll_x, scroll_x + width).extend_cell_length(width, self.rich_style)

