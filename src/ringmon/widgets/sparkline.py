"""A one-line sparkline whose bars start at zero (Textual's Sparkline scales from the data's minimum,
which turns a steady rate with a little jitter into a saw)."""
from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"


class ZeroBasedSparkline(Widget):
    """The newest value at the right edge; each column is the maximum of the values it covers."""

    DEFAULT_CSS = """
    ZeroBasedSparkline { height: 1; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._values: tuple[float, ...] = ()
        self._ceiling: float | None = None

    def plot(self, values: Sequence[float], ceiling: float | None = None) -> None:
        """Show `values`; `ceiling` is the value of a full bar (default: the largest value)."""
        values = tuple(values)
        if (values, ceiling) == (self._values, self._ceiling):
            return  # per-second history, plotted ten times a second: most calls change nothing
        self._values = values
        self._ceiling = ceiling
        self.refresh()

    def render(self) -> Text:
        width = self.size.width
        values = self._values
        if len(values) > width:
            step = len(values) / width
            columns = [max(values[int(i * step):max(int((i + 1) * step), int(i * step) + 1)]) for i in range(width)]
        else:
            columns = list(values)
        ceiling = self._ceiling if self._ceiling else max(columns, default=0)
        text = Text(" " * (width - len(columns)), no_wrap=True)
        for value in columns:
            if value <= 0 or ceiling <= 0:
                text.append("▁", "dim")
            else:
                text.append(BARS[min(len(BARS) - 1, int(value / ceiling * len(BARS) - 1e-9))])
        return text
