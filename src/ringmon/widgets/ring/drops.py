"""Where packets were lost: kernel, ring full (no such stage in zero-copy: no slot ring), truncated (cut to one slot
or to the ring); the accounting identity, in packets; and the packet store's: what it took of the delivered packets
and what it evicted since."""
from __future__ import annotations

from rich.text import Text

from ringcore.api import RingStats

from ...formatting import si
from ...stats_history import RingRates
from ..live_text import LiveText

_STAGE_WIDTH = 11
_NUMBER_WIDTH = 9


class DropsByStage(LiveText):
    def on_mount(self) -> None:
        self.border_title = "Drops by stage"

    def show(self, stats: RingStats, rates: RingRates) -> None:
        text = Text()
        text.append(f"{'':<{_STAGE_WIDTH}}{'total':>{_NUMBER_WIDTH}}{'per s':>{_NUMBER_WIDTH}}\n", "dim")
        stages = (
            ("kernel", stats.kernel_drops, rates.kernel_drops_ps),
            ("ring full", stats.ring_drops, rates.ring_drops_ps),
            ("truncated", stats.truncated, rates.truncated_ps),
        )
        for stage, total, per_second in stages:
            text.append(f"{stage:<{_STAGE_WIDTH}}")
            if stage == "ring full" and "ring" not in stats.mode.drop_stages:
                # zero-copy: no slot ring to fill, no rate (a total is from before a switch to it), as the overview
                text.append(f"{si(total) if total else '—':>{_NUMBER_WIDTH}}{'—':>{_NUMBER_WIDTH}}\n", "dim")
                continue
            text.append(f"{si(total):>{_NUMBER_WIDTH}}", "bold red" if total else "green")
            text.append(f"{si(per_second):>{_NUMBER_WIDTH}}\n", "bold red" if per_second >= 0.5 else "green")
        accounted = stats.delivered + stats.ring_drops + stats.occupancy
        text.append("taken ", "dim")
        # Exact numbers: the identity is only convincing if nothing is rounded away.
        text.append(f"{stats.kernel_packets:,}", "bold")
        text.append(" = delivered ", "dim")
        text.append(f"{stats.delivered:,}")
        text.append("\n  + ring drops ", "dim")
        text.append(f"{stats.ring_drops:,}")
        text.append(" + in ring ", "dim")
        text.append(f"{stats.occupancy:,}")
        text.append(" ")
        _check_mark(text, stats.kernel_packets - accounted)
        if stats.storing:
            _show_store(text, stats)
        self.update(text)


def _check_mark(text: Text, off_by: int) -> None:
    if off_by == 0:
        text.append("✓", "bold green")
    else:
        text.append(f"✗ off by {off_by}", "bold red")


def _show_store(text: Text, stats: RingStats) -> None:
    """delivered = stored + not stored (a write error), and what the store holds of them: stored = held + evicted."""
    text.append("\nstored ", "dim")
    text.append(f"{stats.stored:,}")
    if stats.store_failed:
        text.append(" + not stored ", "dim")
        text.append(f"{stats.store_failed:,}", "bold red")
    text.append(" of delivered ", "dim")
    _check_mark(text, stats.delivered - stats.stored - stats.store_failed)
    text.append("\n  = held ", "dim")
    text.append(f"{stats.store_held:,}")
    text.append(" + evicted ", "dim")
    text.append(f"{stats.store_evicted:,}", "yellow" if stats.store_evicted else "")
