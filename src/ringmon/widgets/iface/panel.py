"""One plugged interface's panel: its ring on the left, drops, polling, rates and facts on the right.

The panel owns the actions on its interface (pause, drop policy, polling, filter, high-water, unplug).
Below 80 columns the two columns become one; what the terminal's height does not hold scrolls (`s`, then the
arrow keys), never cut (the stylesheet's breakpoints: RingmonApp.HORIZONTAL_BREAKPOINTS).
"""
from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Static

from ringcore.api import DropPolicy, RingcoreError, RingMode, RingStats, TopTalkers, split_interface_key

from ...capture_source import CaptureSource
from ...formatting import cut_end, cut_start, duration_us, escape, si, time_of_day
from ...iface_facts import InterfaceFacts
from ...messages import UnplugRequested
from ...screens.confirm_dialog import ConfirmDialog
from ...screens.filter_dialog import FilterDialog
from ...screens.poll_settings_dialog import PollChoice, PollSettingsDialog
from ...stats_history import InterfaceHistory
from ..live_text import LiveText
from ..ring.drops import DropsByStage
from ..ring.occupancy import RingOccupancy
from ..ring.polling import PollingStats
from ..ring.slot_map import SlotMap
from .facts import InterfaceFactsView
from .rates import TrafficRates
from .talkers import TopTalkersView

DROP_POLICY_NAMES = {DropPolicy.EARLY: "drop-early", DropPolicy.LATE: "drop-late"}
FILTER_KEPT = 8  # what a narrow status line keeps of the filter's start, the key cut first


# VerticalScroll's own keys, as help lists them (it does not show them in the footer).
SCROLL_KEYS = [
    Binding("up,down", "scroll_line", "Scroll a line"),
    Binding("pageup,pagedown", "scroll_page", "Scroll a page"),
    Binding("home,end", "scroll_end", "To the top, to the end"),
]


def _summary_line(history: InterfaceHistory) -> Text:
    """What a narrow terminal shows above the ring before any scrolling: captured rates, drops, latency."""
    rates = history.rates
    drops_ps = rates.kernel_drops_ps + rates.ring_drops_ps
    return Text.assemble(
        ("rx ", "dim"), (si(rates.rx_pps), "bold"), (" tx ", "dim"), (si(rates.tx_pps), "bold"), (" pps", "dim"),
        ("  drops ", "dim"), (f"{si(drops_ps)}/s", "bold red" if drops_ps >= 0.5 else "green"),
        ("  p99 ", "dim"), ("—" if history.latency.p99_us is None else f"≤{duration_us(history.latency.p99_us)}"),
    )


class ScrollColumn(VerticalScroll):
    """A column that takes the focus only while some of it is out of sight (and so has something to scroll)."""

    def allow_focus(self) -> bool:
        return self.max_scroll_y > 0


class InterfacePanel(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "toggle_pause", "Pause", tooltip="Pause or resume the consumer: the ring fills, then drops "
                "appear at the stage the drop policy says"),
        Binding("d", "toggle_drop_policy", "Drop policy", tooltip="Switch drop-early (kernel drops) / drop-late "
                "(copied, then dropped at the ring)"),
        Binding("f", "set_filter", "Filter", tooltip="Set or clear the capture filter (tcpdump syntax)"),
        Binding("x", "unplug", "Unplug", tooltip="Stop capturing on this interface and close its panel (asked "
                "first; a plugs it again as it was)"),
        Binding("i", "poll_settings", "Polling settings",
                tooltip="How the consumer waits on an empty ring (sleep interval, yield, spin, event or "
                "adaptive) and what the ring is (copy, zero-copy, direct)"),
        Binding("r", "reset_high_water", "Reset high-water",
                tooltip="Start the occupancy high-water mark again from now"),
        Binding("s", "scroll_stats", "Scroll stats", tooltip="Move to the statistics the terminal cannot hold at "
                "once, to scroll them with the arrow keys (shown only when some do not fit)"),
        Binding("escape", "back_to_slot_map", "Slot map", tooltip="Back from the statistics to the slot map"),
    ]

    def __init__(self, key: str, capture: CaptureSource, *, id: str | None = None) -> None:
        """`key`: the interface's in the capture session (interface_key: its namespace and name)."""
        super().__init__(id=id)
        self.key = key
        self.ifname, self.netns = split_interface_key(key)
        self.capture = capture
        self.stats: RingStats | None = None
        # Held, not queried: refreshed 10 times a second, and safe to update while the app tears down.
        self.status = LiveText(id="panel-status")
        self.summary = LiveText(id="panel-summary")  # one column only: the sections' numbers that matter most
        self.occupancy = RingOccupancy()
        self.slot_map = SlotMap(key)
        self.drops = DropsByStage()
        self.polling = PollingStats()
        self.rates = TrafficRates()
        self.talkers = TopTalkersView()
        self.facts = InterfaceFactsView()
        # One column below 80 columns, two otherwise: whichever has content out of sight scrolls.
        self.body = ScrollColumn(id="panel-body")
        self.stats_column = ScrollColumn(id="stats-column")
        self._scrollable = False

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.summary
        with self.body:
            with Vertical(id="ring-column"):
                yield self.occupancy
                yield self.slot_map
                yield Static(id="slot-map-legend")
            with self.stats_column:
                yield self.drops
                yield self.polling
                yield self.rates
                yield self.talkers
                yield self.facts

    def on_mount(self) -> None:
        self.query_one("#slot-map-legend", Static).update(self.slot_map.legend())

    def show(self, stats: RingStats, history: InterfaceHistory, slot_kinds: bytes = b"") -> None:
        """The ring as it is now: its state, the slot map and the occupancy gauge (every refresh)."""
        self.stats = stats
        self.status.update(self._status_line(stats, history))
        if self.summary.display:
            self.summary.update(_summary_line(history))
        self.occupancy.show(stats)
        self.slot_map.show(stats, slot_kinds)

    def show_numbers(self, stats: RingStats, history: InterfaceHistory) -> None:
        """Drops and polling: numbers to be read, not watched move (a few times a second)."""
        self.drops.show(stats, history.rates)
        self.polling.show(stats, history.rates, history.latency)

    def show_rates(self, stats: RingStats, history: InterfaceHistory) -> None:
        """Rates and the last minute's sparklines (as often as the numbers)."""
        self.occupancy.plot(stats, history.occupancy)
        self.rates.show(history)
        scrollable = self._scroll_target() is not None
        if scrollable != self._scrollable:  # the footer shows `s` only when there is something to scroll
            self._scrollable = scrollable
            self.refresh_bindings()

    def show_facts(self, facts: InterfaceFacts, stats: RingStats | None) -> None:
        self.facts.show(facts, stats)

    def show_talkers(self, top: TopTalkers) -> None:
        self.talkers.show(top)
        talkers = self.talkers.content_region
        if talkers.width and talkers.height != self.talkers.get_content_height(self.size, self.size, talkers.width):
            # Textual sometimes keeps the height of an update made while the table was out of sight (one column,
            # scrolled), leaving blank lines under it; asked again, it lays it out at its height.
            self.talkers.refresh(layout=True)

    def _status_line(self, stats: RingStats, history: InterfaceHistory) -> Text:
        """The interface's state in one line that fits the panel. A narrow panel gives way in this order: shorter
        words first (`early` for `drop-early`, `PAUSED` for `consumer PAUSED`, the recapture note's times only),
        then the key's start (down to `…/ifname`: the tabs above say the namespace), then the filter's end (down
        to `FILTER_KEPT` characters and `…`), and last the key down to its name's end: the filter, which decides
        what is captured, is always shown."""
        key, filter_text = escape(self.key), escape(stats.filter or "none")
        width = self.status.content_region.width
        line = self._status_words(stats, history, key, filter_text, short=False)
        if not width or line.cell_len <= width:  # not laid out yet: drawn again at the next refresh
            return line
        line = self._status_words(stats, history, key, filter_text, short=True)
        over = line.cell_len - width
        if over <= 0 or stats.error:  # an error's line ends in the error, cut by the line's ellipsis
            return line
        named_key = cut_start(key, len(self.ifname) + 2) if self.netns else key  # `…/ifname`
        fitted_key = cut_start(key, max(len(key) - over, len(named_key)))
        over -= len(key) - len(fitted_key)
        fitted_filter = cut_end(filter_text, max(len(filter_text) - over, min(FILTER_KEPT, len(filter_text))))
        over -= len(filter_text) - len(fitted_filter)
        fitted_key = cut_start(fitted_key, max(len(fitted_key) - over, 2))
        return self._status_words(stats, history, fitted_key, fitted_filter, short=True)

    def _status_words(self, stats: RingStats, history: InterfaceHistory, key: str, filter_text: str, *,
                      short: bool) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")  # the ellipsis: a panel too narrow even for the fitted line
        text.append(f" {key} ", "bold reverse")
        if stats.error:
            since = f" since {time_of_day(history.down_since)}" if history.down_since is not None else ""
            text.append(f" down{since}: {escape(stats.error)}", "bold red")
            text.append("  captured once up" if short else "  captured again once it is up", "dim")
            return text
        if stats.paused:
            text.append(" PAUSED " if short else " consumer PAUSED ", "bold reverse yellow")
        else:
            text.append(" capturing", "green")
        if stats.mode != RingMode.COPY:  # copy is the default, said by nothing
            text.append(f"  {stats.mode.label}", "bold cyan")
        if stats.immediate:  # blocks are the default, said by nothing
            text.append("  immediate", "bold cyan")
        text.append("  policy ", "dim")
        # short: the policy's own name, as --drop-policy spells it
        text.append(stats.drop_policy.name.lower() if short else DROP_POLICY_NAMES[stats.drop_policy], "bold")
        text.append("  filter ", "dim")
        text.append(filter_text, "bold" if stats.filter else "dim")
        if history.gaps:
            start, end = history.gaps[-1]
            earlier = len(history.gaps) - 1
            if short:
                text.append(f"  down {time_of_day(start)}–{time_of_day(end)}{f' +{earlier}' if earlier else ''}",
                            "yellow")
            else:
                earlier_note = f" (and {earlier} earlier)" if earlier else ""
                text.append(f"  down {time_of_day(start)}–{time_of_day(end)}, recaptured{earlier_note}", "yellow")
        return text

    def _act(self, operation, *args) -> bool:
        """Run one Monitor call on this interface; a refusal becomes a notification, not a crash."""
        try:
            operation(self.key, *args)
        except RingcoreError as error:
            self.notify(escape(str(error)), title=escape(self.key), severity="error", markup=False)
            return False
        return True

    def action_toggle_pause(self) -> None:
        if self.stats is not None:
            paused = not self.stats.paused
            if self._act(self.capture.pause, paused):
                self.stats = replace(self.stats, paused=paused)  # a second press before the next snapshot undoes it
                self.notify(f"consumer {'paused' if paused else 'resumed'}", title=escape(self.key), markup=False)

    def action_toggle_drop_policy(self) -> None:
        if self.stats is not None:
            policy = DropPolicy.LATE if self.stats.drop_policy == DropPolicy.EARLY else DropPolicy.EARLY
            if self._act(self.capture.set_drop_policy, policy):
                self.stats = replace(self.stats, drop_policy=policy)  # as for pause: the next press switches back
                self.notify(f"drop policy: {DROP_POLICY_NAMES[policy]}", title=escape(self.key), markup=False)

    def action_reset_high_water(self) -> None:
        self._act(self.capture.reset_high_water)

    def action_poll_settings(self) -> None:
        if self.stats is None:
            return

        def apply(choice: PollChoice | None) -> None:
            if choice is None:
                return
            strategy, interval_us, mode = choice
            self._act(self.capture.set_wait, strategy, interval_us)
            if mode == self.stats.mode:
                return
            if self.stats.paused:  # its ring could not empty: the switch would wait, then give up
                self.notify("resume the consumer (p) before switching the ring", title=escape(self.key),
                            severity="warning", markup=False)
            elif self._act(self.capture.set_mode, mode):
                self.notify(f"ring: {mode.label}", title=escape(self.key), markup=False)

        self.app.push_screen(PollSettingsDialog(self.key, self.stats.wait_strategy, self.stats.poll_interval_us,
                                                self.stats.mode, self.stats.immediate), apply)

    def action_set_filter(self) -> None:
        current = self.stats.filter if self.stats else None
        self.app.push_screen(FilterDialog(self.key, current, lambda expression: self.capture.set_filter(self.key, expression)))

    def _scroll_target(self) -> ScrollColumn | None:
        return next((column for column in (self.body, self.stats_column) if column.allow_focus()), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "scroll_stats":
            return self._scroll_target() is not None
        if action == "back_to_slot_map":
            return isinstance(self.screen.focused, ScrollColumn)
        return True

    def action_scroll_stats(self) -> None:
        target = self._scroll_target()
        if target is not None:
            target.focus()
            self.refresh_bindings()  # escape, back to the slot map, shows in the footer

    def action_back_to_slot_map(self) -> None:
        self.slot_map.focus()

    def action_unplug(self) -> None:
        """Asked first: unplugging ends the capture (a plugs it again, as it was)."""
        def unplug(confirmed: bool | None) -> None:
            if confirmed:
                self.post_message(UnplugRequested(self.key))

        name = escape(self.key)
        self.app.push_screen(ConfirmDialog(
            f"Unplug {name}?", f"capturing on {name} stops and its panel closes; its packets stay in the list (l); "
            "a plugs it again with its filter, drop policy, polling and ring as they are now",
            f"unplug {name}", "keep capturing"), unplug)
