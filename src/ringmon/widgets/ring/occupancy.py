"""How full one ring is: slots used (a packet larger than a slot takes several), the high-water mark, and the
last minute of it."""
from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import ProgressBar

from ringcore.api import RingStats

from ..live_text import LiveText
from ..sparkline import ZeroBasedSparkline


class RingOccupancy(Vertical):
    def __init__(self) -> None:
        super().__init__()
        self.numbers = LiveText(id="occupancy-numbers")
        self.gauge = ProgressBar(show_eta=False, id="occupancy-gauge")
        self.history = ZeroBasedSparkline(id="occupancy-history")

    def compose(self) -> ComposeResult:
        yield self.numbers
        yield self.gauge
        yield self.history

    def on_mount(self) -> None:
        self.border_title = "Ring occupancy"

    def show(self, stats: RingStats) -> None:
        numbers = Text.assemble(
            (f"{stats.slots_used}", "bold"), f"/{stats.slot_count} slots  ",
            ("high ", "dim"),
            (f"{stats.slots_used_high}", "bold red" if stats.slots_used_high >= stats.slot_count else "bold"),
        )
        self.numbers.update(numbers)
        self.gauge.update(total=stats.slot_count, progress=stats.slots_used)

    def plot(self, stats: RingStats, occupancy_history: Sequence[int]) -> None:
        self.history.plot(occupancy_history, ceiling=stats.slot_count)
