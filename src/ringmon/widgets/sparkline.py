"""A one-line sparkline whose bars start at zero (Textual's Sparkline scales from the data's minimum,
which turns a steady rate with a little jitter into a saw)."""
from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widget import Widget

BARS = "▁▂▃▄▅▆▇█"
GAP = "·"  # no value: nothing was captured then (the interface was down), unlike a zero


class ZeroBasedSparkline(Widget):
    """sparkline_text, as a widget of its own width."""

    DEFAULT_CSS = """
    ZeroBasedSparkline { height: 1; width: 1fr; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._values: tuple[float | None, ...] = ()
        self._ceiling: float | None = None

    def plot(self, values: Sequence[float | None], ceiling: float | None = None) -> None:
        """Show `values`; `ceiling` is the value of a full bar (default: the largest value)."""
        values = tuple(values)
        if (values, ceiling) == (self._values, self._ceiling):
            return  # per-second history, plotted ten times a second: most calls change nothing
        self._values = values
        self._ceiling = ceiling
        self.refresh()

    def render(self) -> Text:
        return sparkline_text(self._values, self.size.width, self._ceiling)


def sparkline_text(values: Sequence[float | None], width: int, ceiling: float | None = None) -> Text:
    """`values` in `width` cells, the newest at the right edge; each cell is the maximum of the values it covers,
    a gap (None) where it covers none. `ceiling` is the value of a full bar (default: the largest value)."""
    values = tuple(values)  # a deque does not slice
    if len(values) > width:
        step = len(values) / width
        columns = [_largest(values[int(i * step):max(int((i + 1) * step), int(i * step) + 1)])
                   for i in range(width)]
    else:
        columns = list(values)
    ceiling = ceiling if ceiling else _largest(columns) or 0
    text = Text(" " * (width - len(columns)), no_wrap=True)
    for value in columns:
        if value is None:
            text.append(GAP, "dim red")
        elif value <= 0 or ceiling <= 0:
            text.append("▁", "dim")
        else:
            text.append(BARS[min(len(BARS) - 1, int(value / ceiling * len(BARS) - 1e-9))])
    return text


def _largest(values: Sequence[float | None]) -> float | None:
    """The largest value, or None when there is none (a gap)."""
    return max((value for value in values if value is not None), default=None)
