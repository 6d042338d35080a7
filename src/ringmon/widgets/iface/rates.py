"""Packets per second on the wire (the NIC's counters) beside those captured (taken from the kernel), which
are fewer when a filter rejects packets or the kernel drops them; captured rates with their last minute."""
from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical

from ...formatting import si
from ...stats_history import InterfaceHistory, WireRates
from ..live_text import LiveText
from ..sparkline import ZeroBasedSparkline


def _captured_line(direction: str, pps: float, bps: float) -> Text:
    return Text.assemble((f"captured {direction}  ", "dim"), (f"{si(pps):>5}", "bold"), (" pps ", "dim"),
                         (f"{si(bps):>5}", "bold"), (" b/s", "dim"), no_wrap=True)


def _wire_line(wire: WireRates | None) -> Text:
    text = Text("wire (NIC) rx ", "dim", no_wrap=True)
    if wire is None:
        return text.append("—", "dim")
    return text.append_text(Text.assemble((f"{si(wire.rx_pps):>5}", "bold"), (" pps  tx ", "dim"),
                                          (f"{si(wire.tx_pps):>5}", "bold"), (" pps", "dim")))


class TrafficRates(Vertical):
    def __init__(self) -> None:
        super().__init__()
        self.wire = LiveText(id="rate-wire")
        self.rate_in = LiveText(id="rate-in")
        self.rate_in_history = ZeroBasedSparkline(id="rate-in-history")
        self.rate_out = LiveText(id="rate-out")
        self.rate_out_history = ZeroBasedSparkline(id="rate-out-history")

    def compose(self) -> ComposeResult:
        yield self.wire
        with Horizontal(classes="rate-row"):
            yield self.rate_in
            yield self.rate_in_history
        with Horizontal(classes="rate-row"):
            yield self.rate_out
            yield self.rate_out_history

    def on_mount(self) -> None:
        self.border_title = "Rates · per second"

    def show(self, history: InterfaceHistory) -> None:
        rates = history.rates
        # the total taken is what the overview's "taken" column shows for this interface
        self.border_title = f"Rates · per second · taken {si(rates.taken_pps)} pps"
        self.wire.update(_wire_line(history.wire))
        self.rate_in.update(_captured_line("rx", rates.rx_pps, rates.rx_bps))
        self.rate_out.update(_captured_line("tx", rates.tx_pps, rates.tx_bps))
        self.rate_in_history.plot(history.rx_pps)
        self.rate_out_history.plot(history.tx_pps)
