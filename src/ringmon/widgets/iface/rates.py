"""Packets and bits per second in and out, each with its last minute as a sparkline."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from ...formatting import si
from ...stats_history import InterfaceHistory
from ..live_text import LiveText
from ..sparkline import ZeroBasedSparkline


def _rate_line(direction: str, pps: float, bps: float) -> Text:
    return Text.assemble((f"{direction:<4}", "dim"), (f"{si(pps):>6}", "bold"), (" pps ", "dim"),
                         (f"{si(bps):>6}", "bold"), (" b/s", "dim"), no_wrap=True)


class TrafficRates(Vertical):
    def __init__(self) -> None:
        super().__init__()
        self.rate_in = LiveText(id="rate-in")
        self.rate_in_history = ZeroBasedSparkline(id="rate-in-history")
        self.rate_out = LiveText(id="rate-out")
        self.rate_out_history = ZeroBasedSparkline(id="rate-out-history")

    def compose(self) -> ComposeResult:
        with Horizontal(classes="rate-row"):
            yield self.rate_in
            yield self.rate_in_history
        with Horizontal(classes="rate-row"):
            yield self.rate_out
            yield self.rate_out_history

    def on_mount(self) -> None:
        self.border_title = "Rates"

    def show(self, history: InterfaceHistory) -> None:
        rates = history.rates
        self.rate_in.update(_rate_line("in", rates.rx_pps, rates.rx_bps))
        self.rate_out.update(_rate_line("out", rates.tx_pps, rates.tx_bps))
        self.rate_in_history.plot(history.rx_pps)
        self.rate_out_history.plot(history.tx_pps)
