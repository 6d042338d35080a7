"""How the consumer polls its ring: polls and empty polls, batch sizes, sleeps, latency, strategy."""
from __future__ import annotations

from rich.text import Text

from ringcore.api import RingMode, RingStats

from ...formatting import duration_us, latency_bound, percent, si
from ...stats_history import LATENCY_WINDOW_S, LatencySummary, RingRates
from ..live_text import LiveText
from ..sparkline import BARS

# The drain takes at most 256 slots per poll: buckets [1,2) .. [256,512) are the ones that occur.
_SHOWN_BATCH_BUCKETS = 9


def _batch_bars(batch_hist: tuple[int, ...]) -> Text:
    highest = max((bucket for bucket, count in enumerate(batch_hist) if count), default=0)
    buckets = batch_hist[:max(_SHOWN_BATCH_BUCKETS, highest + 1)]
    tallest = max(buckets, default=0)
    text = Text("batch ", "dim")
    text.append("1▕")
    for count in buckets:
        if count == 0 or tallest == 0:
            text.append(" ")
        else:
            text.append(BARS[min(len(BARS) - 1, int(count / tallest * len(BARS) - 1e-9))], "cyan")
    text.append(f"▏{2 ** (len(buckets) - 1)}")
    return text


class PollingStats(LiveText):
    def on_mount(self) -> None:
        self.border_title = "Polling"

    def show(self, stats: RingStats, rates: RingRates, latency: LatencySummary) -> None:
        text = Text()
        if stats.mode == RingMode.DIRECT:  # no consumer waits: the capture thread runs the sinks on each block
            text.append("direct", "bold")
            text.append(" the capture thread hands each kernel block to the sinks", "dim")
        else:
            text.append(stats.wait_strategy.name.lower(), "bold")
            if stats.wait_strategy.name == "SLEEP":
                text.append(f" {duration_us(stats.poll_interval_us)}", "bold")
            elif stats.wait_strategy.name == "ADAPTIVE":
                text.append(f" spin {duration_us(stats.spin_us)}", "bold")
            text.append(" when empty", "dim")
        if stats.paused:
            text.append("  PAUSED", "bold reverse yellow")
        text.append("\npolls ", "dim")
        text.append(f"{si(rates.polls_ps)}/s")
        text.append("  empty ", "dim")
        text.append(percent(rates.empty_poll_share))
        text.append("\nsleeps ", "dim")
        text.append(f"{si(rates.sleeps_ps)}/s")
        text.append("  asleep ", "dim")
        text.append(percent(rates.asleep_share))
        text.append("\n")
        text.append_text(_batch_bars(rates.batch_hist))
        text.append(f" {si(sum(rates.batch_hist))}/s", "dim")
        # percentiles and max of one window: a bucket's edge is clamped to the max, never above it
        text.append(f"\nlatency, last {LATENCY_WINDOW_S:.0f} s  ", "dim")
        text.append("max ", "dim")
        text.append(latency_bound(latency.max_us, latency.max_is_exact))
        text.append("\n  p50 ", "dim")
        text.append(latency_bound(latency.p50_us))
        text.append("  p99 ", "dim")
        text.append(latency_bound(latency.p99_us))
        self.update(text)
