"""What the operating system says about the interface, and its NIC counters beside ringmon's."""
from __future__ import annotations

from rich.text import Text

from ringcore.api import RingStats

from ...formatting import si
from ...iface_facts import InterfaceFacts, NicCounters
from ..live_text import LiveText


class InterfaceFactsView(LiveText):
    """NIC counters count since the interface was created, ringmon's since it was plugged: both are
    shown as growth since the first reading here, so the two can be compared."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._baseline: tuple[NicCounters, int, int] | None = None

    def on_mount(self) -> None:
        self.border_title = "Interface"

    def show(self, facts: InterfaceFacts, stats: RingStats | None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if facts.unavailable:
            text.append(facts.unavailable, "yellow")
            self.update(text)
            return
        if not facts.is_up:
            text.append("down", "bold red")
        elif facts.has_carrier is False:
            text.append("up, no carrier", "bold yellow")
        else:
            text.append("up", "bold green")
        text.append("  MTU ", "dim")
        text.append(str(facts.mtu))
        text.append("  speed ", "dim")
        text.append(f"{facts.speed_mbps} Mb/s {facts.duplex}" if facts.speed_mbps else "n/a")
        if facts.netns:
            text.append("\nnetns ", "dim")
            text.append(facts.netns)
        for address in facts.addresses:
            text.append("\n" + address)
        text.append("\n")
        if facts.nic is None or stats is None:
            text.append("NIC counters unavailable", "dim")
            self.update(text)
            return
        ringmon_in = stats.kernel_packets - stats.outgoing_packets
        if self._baseline is None:
            self._baseline = (facts.nic, ringmon_in, stats.outgoing_packets)
        nic0, in0, out0 = self._baseline
        text.append("NIC     ", "dim")
        text.append(f"rx +{si(facts.nic.rx_packets - nic0.rx_packets)}  tx +{si(facts.nic.tx_packets - nic0.tx_packets)}")
        errors = facts.nic.rx_errors - nic0.rx_errors
        drops = facts.nic.rx_drops - nic0.rx_drops
        text.append("  err ", "dim")
        text.append(si(errors), "bold red" if errors else "")
        text.append(" drop ", "dim")
        text.append(si(drops), "bold red" if drops else "")
        text.append("\nringmon ", "dim")
        text.append(f"in +{si(ringmon_in - in0)}  out +{si(stats.outgoing_packets - out0)}")
        text.append("  kernel drops ", "dim")
        text.append(si(stats.kernel_drops), "bold red" if stats.kernel_drops else "")
        self.update(text)
