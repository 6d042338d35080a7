"""A Static redrawn many times a second, without re-laying out the whole screen each time."""
from __future__ import annotations

from rich.errors import NotRenderableError
from rich.text import Text
from textual.visual import VisualType
from textual.widgets import Static


class LiveText(Static):
    """Static.update re-lays out the screen on every call, which at 10 Hz costs more than everything
    else the dashboard does. The same text again does nothing; a new text or Rich renderable that
    takes as many lines at this width only repaints this widget; a change in height still re-lays
    out. Not displayed (a hidden tab's panel), it never lays the screen out: it is laid out when shown."""

    def __init__(self, content: VisualType = "", *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(content, id=id, classes=classes)
        self._lines: int | None = None
        self._shown: VisualType | None = None

    def update(self, content: VisualType = "", *, layout: bool | None = None) -> None:
        if isinstance(content, Text) and content == self._shown:
            return
        self._shown = content
        if layout is None and self.content_region.width <= 0:
            layout, self._lines = False, None
        elif layout is None:
            lines = self._height_of(content)
            layout = lines is None or lines != self._lines
            self._lines = lines
        super().update(content, layout=layout)

    def _height_of(self, content: VisualType) -> int | None:
        width = self.content_region.width
        if width <= 0:
            return None
        console = self.app.console
        if isinstance(content, Text):
            return len(content.wrap(console, width))
        try:
            return len(console.render_lines(content, console.options.update(width=width, height=None), pad=False))
        except NotRenderableError:  # Textual's own content: let Textual size it
            return None
