"""The live dashboard: one panel per plugged interface, refreshed from one statistics snapshot at 10 Hz.

The UI never touches packets one by one: each refresh makes one `stats()` call (one C call per
interface), so its CPU does not grow with the packet rate. Capture and draining run in C threads
and go on at full speed while the UI is busy, resized or showing a dialog.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import count
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Static, TabbedContent, TabPane

from ringcore import Monitor, require_capture_privilege
from ringcore.api import CaptureOptions, RingcoreError, RingMode, RingStats, StoreOptions, interface_key

from . import iface_facts
from .capture_source import CaptureSource
from .palette import RingmonCommands
from .formatting import escape, file_size, si
from .iface_facts import InterfaceFacts
from .messages import SlotChosen, UnplugRequested
from .metrics import MetricsServer
from .privilege import drop_privileges, installation_needs, require_access, user_account
from .screens.help import DASHBOARD_PANELS, HelpScreen
from .screens.interface_picker import InterfaceChoice, InterfacePicker
from .screens.overview import OverviewScreen
from .screens.packet_list_screen import PacketListScreen
from .screens.packet_screen import PacketScreen
from .screens.slot_inspector import SlotInspector
from .screens.write_file_dialog import WriteFileDialog
from .signal_safe_app import SignalSafeApp, exit_app_on_signals
from .stats_history import LATENCY_WINDOW_S, REFRESH_HZ, InterfaceHistory
from .widgets.fitting_footer import FittingFooter
from .widgets.iface.panel import DROP_POLICY_NAMES, SCROLL_KEYS, InterfacePanel
from .widgets.iface.talkers import TALKERS_ASKED
from .widgets.live_text import LiveText
from .widgets.ring.slot_map import SlotMap
from .widgets.session.status_bar import SessionBar

FactsSource = Callable[[str, "str | None"], InterfaceFacts]
# Says why a part running beside the dashboard (the demo's generator) died, or None while it lives.
BackgroundCheck = Callable[[], "str | None"]
# A line about what the part running beside the dashboard does now (the demo's phase), or None.
SessionNote = Callable[[], "str | None"]
BACKGROUND_CHECK_S = 0.5
# The slot map and the occupancy gauge move with every refresh; the numbers to be read (drops, polling,
# rates, the minute's sparklines) twice a second, which is as often as a person reads them: redrawing them
# ten times a second was most of the dashboard's cost.
NUMBERS_EVERY = REFRESH_HZ // 2
# Once nothing has been captured and nothing has changed for this long (the latency window: every number on
# the screen has settled), the dashboard refreshes QUIET_INTERVAL_S apart, drawing everything each time (the
# minute's sparklines still move), until something happens again or a key is pressed.
QUIET_AFTER_S = LATENCY_WINDOW_S
QUIET_INTERVAL_S = 1.0
FAILURE_SHOWN_S = 86_400.0  # a notification that stays until the user has quit
# The app's keys that act on the dashboard: the packet list and the packet view have keys of their own.
DASHBOARD_ACTIONS = frozenset({"plug", "toggle_writing", "next_interface", "packets"})


class RingmonApp(SignalSafeApp[None]):
    CSS_PATH = Path(__file__).with_name("ringmon.tcss")  # absolute: subclasses elsewhere find it too
    TITLE = "ringmon"
    COMMANDS = App.COMMANDS | {RingmonCommands}
    # The stylesheet's breakpoints: below 80 columns an interface's panel is one column (see widgets/iface/panel.py).
    HORIZONTAL_BREAKPOINTS: ClassVar[list[tuple[int, str]]] = [(0, "-narrow"), (80, "-wide")]
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("ctrl+c", "quit", "Quit", show=False),
        Binding("question_mark", "help", "Help", tooltip="These keys, and what the panels show"),
        Binding("a", "plug", "Plug", tooltip="Plug another interface, picked from the system's list"),
        Binding("w", "toggle_writing", "Write", tooltip="Start (or stop) writing every interface's packets "
                "to a pcap/pcapng file"),
        Binding("n", "next_interface", "Next interface", tooltip="Show the next interface's panel"),
        Binding("o", "overview", "Overview", tooltip="Every interface in one table (the first screen when several "
                "are plugged, but for the demo's); enter opens one's panel"),
        Binding("l", "packets", "Packets", tooltip="The list of every packet this session captured, following the "
                "newest (q comes back)"),
    ]

    def __init__(
        self,
        capture: CaptureSource,
        *,
        plug_options: CaptureOptions = CaptureOptions(),
        namespaces: Sequence[str] = (),
        refresh_interval_s: float | None = 1 / REFRESH_HZ,
        clock: Callable[[], float] = time.monotonic,
        gather_facts: FactsSource = iface_facts.gather_facts,
        background_failure: BackgroundCheck | None = None,
        overview_at_start: bool | None = None,
        note: SessionNote | None = None,
    ) -> None:
        """The picker offers the interfaces of `namespaces`, of those of plugged interfaces and of the default one.
        `refresh_interval_s=None` leaves refreshing to the caller (tests call `refresh_from_capture`).
        `background_failure` is checked twice a second; what it reports stays on screen and makes the
        exit status non-zero. `note` is read as often, and shown under the session bar. `overview_at_start`: open
        on the overview (None: when several interfaces are plugged)."""
        super().__init__()
        self.capture = capture
        self.plug_options = plug_options
        self.namespaces = set(namespaces)
        self.wall_clock: Callable[[], float] = time.time  # when an interface went down and came back
        self.refresh_interval_s = refresh_interval_s
        self.clock = clock
        self.gather_facts = gather_facts
        self.background_failure = background_failure
        self.background_failed: str | None = None
        self.note = note
        self.note_line = LiveText(id="session-note")
        self._store_error_shown = False
        # Every table of interfaces is by key (interface_key: namespace and name), as the capture session's.
        self.histories: dict[str, InterfaceHistory] = {}
        self.latest: dict[str, RingStats] = {}
        # Widgets the 10 Hz refresh touches are held, not queried: cheaper, and still valid while
        # the app tears its screens down under a last timer tick.
        self.session_bar = SessionBar(id="session-bar")
        self.tabs = TabbedContent(id="interfaces")
        self.panels: dict[str, InterfacePanel] = {}
        self._pane_ids: dict[str, str] = {}
        self._pane_numbers = count()
        self._refreshes = 0
        self._opening_file = False
        self._offered_wait: InterfaceChoice | None = None  # a down interface picked once: the next pick waits
        # what an interface unplugged in this session was set to: plugged again, it is again (_as_it_was)
        self._unplugged: dict[str, CaptureOptions] = {}
        self.overview_at_start = overview_at_start
        self.overview = OverviewScreen()
        self._refresh_timer: Timer | None = None
        self._activity: object = None  # what changed last, at self._active_at (see _activity_of)
        self._active_at = clock()
        self.quiet = False  # refreshing QUIET_INTERVAL_S apart

    # -- layout ----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.session_bar
        if self.note is not None:
            yield self.note_line
        yield Static(Text("No interface plugged. Press a to plug one.", "dim"), id="no-interfaces")
        with self.tabs:
            for key in self.capture.interfaces:
                yield self._new_pane(key)
        yield FittingFooter()

    def _new_pane(self, key: str) -> TabPane:
        pane_id = f"pane-{next(self._pane_numbers)}"
        self._pane_ids[key] = pane_id
        self.panels[key] = InterfacePanel(key, self.capture)
        return TabPane(Content(escape(key)), self.panels[key], id=pane_id)

    def on_mount(self) -> None:
        self.defer_driver_signals()
        if self.refresh_interval_s is not None:
            self._refresh_timer = self.set_interval(self.refresh_interval_s, self.refresh_from_capture)
            self.freeze_once_built()
        if self.background_failure is not None:
            self.set_interval(BACKGROUND_CHECK_S, self.check_background)
        self.install_screen(self.overview, "overview")
        self.screen_change_signal.subscribe(self, self._screen_changed)
        if self.note is not None:
            self.set_interval(BACKGROUND_CHECK_S, self.show_note)
        self.refresh_from_capture()
        self._say_which_are_down()
        self._focus_active_panel()
        if self.overview_at_start or (self.overview_at_start is None and len(self.capture.interfaces) > 1):
            self.action_overview()

    def _say_which_are_down(self) -> None:
        """An interface plugged before the dashboard started (-i) that is down is said to be, as the picker says
        it: plugged as down, it is waited for (refresh_facts captures it once it is up)."""
        for panel in self.panels.values():
            if self.gather_facts(panel.ifname, panel.netns).is_up is False:
                self.notify(f"{escape(panel.key)} is down: waiting for it, captured as soon as it comes up",
                            title="plug", severity="warning", markup=False)

    def on_unmount(self) -> None:
        self.restore_driver_signals()
        self.unfreeze()

    def active_panel(self) -> InterfacePanel | None:
        active_pane_id = self.tabs.active
        return next((self.panels[key] for key, pane_id in self._pane_ids.items() if pane_id == active_pane_id), None)

    def _focus_active_panel(self) -> None:
        panel = self.active_panel()
        self.query_one("#no-interfaces").display = panel is None
        if panel is not None and self.screen is panel.screen:
            panel.slot_map.focus()

    # -- refresh -----------------------------------------------------------------

    def refresh_from_capture(self) -> None:
        """One snapshot of every ring; the visible panel draws it, hidden ones only keep history, and nothing is
        drawn while another screen or a dialog covers the panels."""
        if not self.screen_stack:  # a last tick while the app tears its screens down: nothing left to draw on
            return
        now = self.clock()
        self.latest = self.capture.stats()
        for key, stats in self.latest.items():
            history = self.histories.setdefault(key, InterfaceHistory())
            history.add(now, stats)
            if stats.error:
                history.went_down(self.wall_clock())
        writing = self.capture.writing
        self._pace(self._settled(now, (self.latest, writing, self.background_failed)))
        # before drawing: once a second, the ring's rates and the NIC's, over that same second
        if self.quiet or self._refreshes % REFRESH_HZ == 0:
            self.refresh_facts()
            self._show_active_talkers()
            self._check_store()
        if self.screen is self.overview:
            self.overview.show(self.latest, self.histories)
        elif self.dashboard_in_view():
            self._show_active(numbers=self.quiet or self._refreshes % NUMBERS_EVERY == 0)
            self.session_bar.show(len(self.latest), writing, self.background_failed)
        self._refreshes += 1

    def _settled(self, now: float, state: tuple) -> bool:
        """Whether nothing was captured and nothing changed for QUIET_AFTER_S, by `state`'s activity."""
        activity = _activity_of(state)
        if activity != self._activity:
            self._activity, self._active_at = activity, now
        return now - self._active_at >= QUIET_AFTER_S

    def _pace(self, quiet: bool) -> None:
        """Refresh QUIET_INTERVAL_S apart while quiet, every refresh_interval_s otherwise."""
        if quiet == self.quiet:
            return
        self.quiet = quiet
        if self._refresh_timer is not None:
            self._refresh_timer.stop()
            interval = QUIET_INTERVAL_S if quiet else self.refresh_interval_s
            self._refresh_timer = self.set_interval(interval, self.refresh_from_capture)

    async def on_event(self, event: events.Event) -> None:
        """A key or a click ends a quiet spell at once: what it does shows within one fast refresh."""
        if self.quiet and isinstance(event, (events.Key, events.MouseDown)):
            self._active_at = self.clock()
            self._pace(False)
        await super().on_event(event)

    def dashboard_in_view(self) -> bool:
        """Whether any of the dashboard shows: it is on top, or only dialogs (which let it show through) are.
        Textual repaints the screen on top wherever the screen under it changed, even a full screen that hides it:
        drawn under the slot inspector or the packet list, every refresh repainted them."""
        return all(isinstance(screen, ModalScreen) for screen in self.screen_stack[1:])

    def check_background(self) -> None:
        """A background part that died is shown at once, not after the user quits."""
        if self.background_failed is None and self.background_failure is not None:
            self.background_failed = self.background_failure()
            if self.background_failed is not None:
                self.notify(escape(self.background_failed), title="background", severity="error",
                            timeout=FAILURE_SHOWN_S, markup=False)

    def show_note(self) -> None:
        """The note of the part running beside the dashboard follows what it does (the demo's phase)."""
        if self.note is not None:
            self.note_line.update(Text(self.note() or "", "italic"))  # the part's own words, never packet data

    def _visible_panel(self) -> InterfacePanel | None:
        """The active panel, unless another screen or a dialog is on top of it."""
        panel = self.active_panel()
        stack = self.screen_stack  # empty, not an error, while the app tears its screens down under a last tick
        return panel if panel is not None and panel.is_attached and stack and panel.screen is stack[-1] else None

    def _screen_changed(self, screen: object) -> None:
        """Back on the panels: drawn at once, not at the next refresh."""
        if self._visible_panel() is not None:
            self._show_active()
            self._show_active_talkers()

    def _show_active(self, numbers: bool = True) -> None:
        panel = self._visible_panel()
        if panel is not None and panel.key in self.latest:
            try:
                kinds = self.capture.slot_kinds(panel.key)
            except RingcoreError:  # unplugged since the snapshot: the map draws slots without their records
                kinds = b""
            stats, history = self.latest[panel.key], self.histories[panel.key]
            panel.show(stats, history, kinds)
            if numbers and self.quiet:  # one frame a second: fewer wake-ups, and little changes
                panel.show_numbers(stats, history)
                panel.show_rates(stats, history)
            elif numbers:  # each part in a frame of its own: no frame holds the event loop long
                self.call_after_refresh(self._show_in_frames, panel, (panel.show_numbers, panel.show_rates),
                                        stats, history)

    def _show_in_frames(self, panel: InterfacePanel, draws: Sequence[Callable[[RingStats, InterfaceHistory], None]],
                        stats: RingStats, history: InterfaceHistory) -> None:
        """The first of `draws` now, the next after the frame that paints it, and so on; none once the panel is
        unplugged, switched away from or covered."""
        if draws and panel is self._visible_panel():
            draws[0](stats, history)
            self.call_after_refresh(self._show_in_frames, panel, draws[1:], stats, history)

    def _show_active_talkers(self) -> None:
        """The visible panel's top talkers: rates over 2 s and more, so once a second (and on switching) is enough."""
        panel = self._visible_panel()
        if panel is None:
            return
        try:
            top = self.capture.top_talkers(panel.key, TALKERS_ASKED)
        except RingcoreError:
            return  # unplugged since the panel was drawn
        panel.show_talkers(top)

    def refresh_facts(self) -> None:
        """psutil's view of every plugged interface, once a second (see gather_facts: main thread only), and
        with it the second's rates; one that went down or away and is up again is captured again."""
        for panel in self.panels.values():
            facts = self.gather_facts(panel.ifname, panel.netns)
            if panel.key in self.histories:  # timed as read: a slow gather must not stretch the NIC's second
                self.histories[panel.key].add_second(self.clock(), facts.nic)
            stats = self.latest.get(panel.key)
            if stats is not None and stats.error and facts.is_up and not facts.unavailable:
                self._recapture(panel.key)
            if self.dashboard_in_view():
                panel.show_facts(facts, stats)

    def _check_store(self) -> None:
        """The store's first write error (a full disk) is said once; the drops panel counts what it did not take."""
        if not self._store_error_shown:
            error = self.capture.store_error()
            if error is not None:
                self._store_error_shown = True
                self.notify(escape(error), title="packet store", severity="error", timeout=FAILURE_SHOWN_S,
                            markup=False)

    def _recapture(self, key: str) -> None:
        """A link flap is not the end of monitoring: the interface is back, so capture it again. Its counters go
        on from where they were (the session sums them); its history keeps the gap."""
        try:
            self.capture.recapture(key)
        except RingcoreError:
            return  # not quite back (a filter needs it up): tried again in a second
        self.histories[key].recaptured(self.wall_clock())
        self.notify(f"{escape(key)} is back: capturing again", markup=False)

    def on_tabbed_content_tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self._show_active()
        self._show_active_talkers()
        self._focus_active_panel()

    # -- actions -----------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The dashboard's own keys act (and show in the footer) only on the dashboard, not on the screens over it,
        and only when there is something to act on: `n` with two interfaces, `w` with one (or a file open)."""
        if action in DASHBOARD_ACTIONS and self.screen is not self.screen_stack[0]:
            return False
        if action == "next_interface":
            return len(self.panels) > 1
        if action == "toggle_writing":
            return bool(self.panels) or self.capture.writing is not None
        return True

    def action_help(self) -> None:
        palette = Binding(self.COMMAND_PALETTE_BINDING, "command_palette", "Command palette")
        self.push_screen(HelpScreen([
            ("Everywhere", [*self.BINDINGS, palette]),
            ("Overview", OverviewScreen.BINDINGS),
            ("Interface panel", InterfacePanel.BINDINGS),
            ("Scrolling (s)", SCROLL_KEYS),
            ("Slot map", SlotMap.BINDINGS),
            ("Slot inspector", SlotInspector.BINDINGS),
            *PacketListScreen.help_sections(),
            *PacketScreen.help_sections(),
        ], [OverviewScreen.help_notes(), ("What the panels show", DASHBOARD_PANELS)],
            "escape closes · ctrl+p opens the command palette (every action is there)"))

    def action_plug(self) -> None:
        namespaces = [None, *sorted(self.namespaces | {panel.netns for panel in self.panels.values() if panel.netns})]
        interfaces = [facts for netns in namespaces for facts in iface_facts.list_interfaces(netns)]
        self.push_screen(InterfacePicker(interfaces, set(self.capture.interfaces)), self.plug_interface)

    async def plug_interface(self, choice: InterfaceChoice | None) -> None:
        if choice is None:
            return
        ifname, netns = choice
        if choice != self._offered_wait and self.gather_facts(ifname, netns).is_up is False:
            self._offered_wait = choice  # picked again: plugged as down, captured once up (refresh_facts)
            self.notify(f"{escape(interface_key(ifname, netns))} is down: pick it again (a) to wait for it, "
                        "captured as soon as it comes up", title="plug", severity="warning", markup=False)
            return
        self._offered_wait = None
        key = interface_key(ifname, netns)
        options = self._unplugged.get(key, self.plug_options)
        try:
            self.capture.plug(ifname, options, netns=netns)
        except RingcoreError as error:
            self.notify(escape(str(error)), title="plug", severity="error", markup=False)
            return
        if self._unplugged.pop(key, None) is not None:
            self.notify(f"{escape(key)} plugged again as it was: {_settings_text(options)}", title="plug",
                        markup=False)
        await self.tabs.add_pane(self._new_pane(key))
        self.tabs.active = self._pane_ids[key]
        self.refresh_from_capture()
        self.refresh_bindings()  # n and w may act now
        self._focus_active_panel()

    async def on_unplug_requested(self, message: UnplugRequested) -> None:
        key = message.key
        stats = self.capture.stats().get(key)  # its settings now, not a refresh ago
        if stats is not None:
            self._unplugged[key] = _as_it_was(self.plug_options, stats)
        try:
            self.capture.unplug(key)
        except RingcoreError as error:
            self.notify(escape(str(error)), title="unplug", severity="error", markup=False)
        self.panels.pop(key)
        await self.tabs.remove_pane(self._pane_ids.pop(key))
        self.histories.pop(key, None)
        self.notify(f"{escape(key)} unplugged", markup=False)
        self.refresh_bindings()  # n and w may no longer act
        self._focus_active_panel()

    def action_packets(self) -> None:
        """The session's packet list; from the list itself, or a packet opened from it, the key does nothing."""
        if any(isinstance(screen, PacketListScreen) for screen in self.screen_stack):
            return
        store = self.capture.store
        if store is None:
            self.notify("this session keeps no packets", severity="warning", markup=False)
            return
        self.push_screen(PacketListScreen(store, "live capture"))

    def action_overview(self) -> None:
        """From anywhere: the overview, on top (the screens over it are closed; they were opened from it)."""
        if self.overview in self.screen_stack:
            while self.screen is not self.overview:
                self.pop_screen()
            return
        self.overview.show(self.latest, self.histories)
        self.push_screen(self.overview, self._open_panel)

    def _open_panel(self, key: str | None) -> None:
        if key in self._pane_ids:
            self.tabs.active = self._pane_ids[key]
        self._show_active()
        self._focus_active_panel()

    def action_next_interface(self) -> None:
        pane_ids = list(self._pane_ids.values())
        if self.tabs.active in pane_ids:
            self.tabs.active = pane_ids[(pane_ids.index(self.tabs.active) + 1) % len(pane_ids)]

    def action_toggle_writing(self) -> None:
        if self._opening_file:
            self.notify("the file is still being opened", title="writing", severity="warning", markup=False)
            return
        if self.capture.writing is None:
            self.push_screen(WriteFileDialog(), self._start_writing)
            return
        status = self.capture.stop_writing()
        if status.error:
            self.notify(escape(status.error), title="writing", severity="error", markup=False)
            return
        self.notify(f"wrote {si(status.packets)} packets ({file_size(status.bytes)}) to {escape(status.path)}",
                    markup=False)

    def _start_writing(self, choice: tuple[str, str] | None) -> None:
        if choice is not None:
            self._opening_file = True
            self._open_file(*choice)

    @work(thread=True, exclusive=True, group="write-file")
    def _open_file(self, path: str, fmt: str) -> None:
        """Opening may wait (a FIFO waits up to 10 s for its reader; a slow disk), so it runs in a thread:
        the UI refreshes meanwhile, and the session's lock is not held while the file opens."""
        try:
            self.capture.start_writing(path, fmt)
        except (RingcoreError, OSError) as error:
            message, severity = f"{escape(path)}: not writing: {escape(str(error))}", "error"
        else:
            message, severity = f"writing to {escape(path)}", "information"
        self.call_from_thread(self._file_opened, message, severity)

    def _file_opened(self, message: str, severity: str) -> None:
        self._opening_file = False
        self.notify(message, title="writing", severity=severity, markup=False)

    def on_slot_chosen(self, message: SlotChosen) -> None:
        stats = self.latest.get(message.key)
        if stats is not None:
            self.push_screen(SlotInspector(self.capture, message.key, message.index, stats))


def _as_it_was(options: CaptureOptions, stats: RingStats) -> CaptureOptions:
    """`options` with what the user can change on a plugged interface (filter, drop policy, polling, ring) as
    `stats` say it is."""
    return replace(options, filter=stats.filter, drop_policy=stats.drop_policy, wait_strategy=stats.wait_strategy,
                   poll_interval_us=stats.poll_interval_us, zero_copy=stats.mode == RingMode.ZERO_COPY,
                   direct_dispatch=stats.mode == RingMode.DIRECT)


def _settings_text(options: CaptureOptions) -> str:
    mode = RingMode.DIRECT if options.direct_dispatch else RingMode.ZERO_COPY if options.zero_copy else RingMode.COPY
    return (f"filter {escape(options.filter or 'none')}, {DROP_POLICY_NAMES[options.drop_policy]}, "
            f"{options.wait_strategy.name.lower()} polling, {mode.label} ring")


def _activity_of(state: object) -> object:
    """`state` without the counters that move on an idle ring (its consumer polls and sleeps all the time)."""
    if isinstance(state, RingStats):
        return replace(state, polls=0, empty_polls=0, sleeps=0, sleep_ns=0, wakeups=0, spin_found=0, spin_slept=0)
    if isinstance(state, dict):
        return {key: _activity_of(value) for key, value in state.items()}
    if isinstance(state, tuple):
        return tuple(_activity_of(value) for value in state)
    return state


def dashboard_monitor(store: StoreOptions | None = StoreOptions()) -> Monitor:
    """The session the dashboard watches: drained in C, with top talkers counted by the drains, and every packet
    kept in a packet store (unless store is None)."""
    return Monitor(count_talkers=True, store=store)


@dataclass(frozen=True)
class PlugRequest:
    """An interface to plug before the dashboard starts, with its own options and namespace."""

    ifname: str
    options: CaptureOptions = CaptureOptions()
    netns: str | None = None


def run_plugged(
    plugs: Sequence[PlugRequest],
    *,
    plug_options: CaptureOptions = CaptureOptions(),
    skip_unpluggable: bool = False,
    monitor_factory: Callable[[StoreOptions | None], CaptureSource] = dashboard_monitor,
    app_class: type[RingmonApp] = RingmonApp,
    background_failure: BackgroundCheck | None = None,
    note: SessionNote | None = None,
    run_as: str | None = None,
    store: StoreOptions | None = StoreOptions(),
    metrics: tuple[str, int] | None = None,
    overview_at_start: bool | None = None,
) -> int:
    """Plug every request, then run the dashboard until the user quits; returns the exit status.

    Every problem found before the screen is drawn (no privilege, unknown interface, bad filter)
    is one line on stderr and status 1; with `skip_unpluggable` an interface that cannot be
    plugged is only reported. `plug_options` are used for interfaces plugged from the picker.
    `app_class` lets the dashboard benchmark run the real app with a probe in it. A failure that
    `background_failure` reports while the dashboard runs is repeated on stderr and makes the status 1.
    With `run_as` the dashboard runs as that user once every request is plugged (interfaces plugged
    later from the picker then need CAP_NET_RAW, which that user lacks).
    Ended by SIGTERM or SIGHUP, the status is 128 + the signal's number, as a shell reports it.
    `store` is the session's packet store (None: no store); a kept spool is named on stderr at the end.
    `metrics` (address, port): serve the session's statistics for Prometheus there while the dashboard runs.
    `overview_at_start`: as RingmonApp's (None: the overview first when several interfaces are plugged).
    """
    signals_received: list[int] = []
    try:
        account = user_account(run_as) if run_as else None
        if account is not None:
            require_access(account, installation_needs() + _keep_needs(store))
            if store is not None:
                store = replace(store, owner=(account.pw_uid, account.pw_gid))
        require_capture_privilege()
        metrics_server = MetricsServer(metrics) if metrics else None  # listening before -Z drops privileges
    except RingcoreError as error:
        print(f"ringmon: {error}", file=sys.stderr)
        return 1
    try:
        monitor = monitor_factory(store)
    except RingcoreError as error:  # the spool's directory cannot be made
        print(f"ringmon: {escape(str(error))}", file=sys.stderr)
        if metrics_server:
            metrics_server.close()
        return 1
    if metrics_server:
        metrics_server.watch(monitor)
    try:
        for plug in plugs:
            try:
                monitor.plug(plug.ifname, plug.options, netns=plug.netns)
            except RingcoreError as error:
                if not skip_unpluggable:
                    print(f"ringmon: {escape(str(error))}", file=sys.stderr)
                    return 1
                print(f"ringmon: skipping {escape(interface_key(plug.ifname, plug.netns))}: {escape(str(error))}",
                      file=sys.stderr)
        if not monitor.interfaces:
            why = "none could be plugged, see above" if plugs else "none is up; name one with -i"
            print(f"ringmon: no interface to watch ({why})", file=sys.stderr)
            return 1
        if account is not None:
            try:
                drop_privileges(account)
            except RingcoreError as error:
                print(f"ringmon: {error}", file=sys.stderr)
                return 1
        app = app_class(monitor, plug_options=plug_options, namespaces=[plug.netns for plug in plugs if plug.netns],
                        background_failure=background_failure, note=note, overview_at_start=overview_at_start)
        with exit_app_on_signals(app, signals_received):
            app.run()
    finally:
        if metrics_server:
            metrics_server.close()
        monitor.close()
    if monitor.kept_spool is not None:
        path, packets = monitor.kept_spool
        print(f"ringmon: kept {packets:,} stored packets in {escape(path)}", file=sys.stderr)
    failed = False
    if background_failure is not None:
        app.check_background()  # it may have died in the last half second
        if app.background_failed is not None:
            print(f"ringmon: {escape(app.background_failed)}", file=sys.stderr)
            failed = True
    if signals_received:
        return 128 + signals_received[0]
    return 1 if failed else 0


def _keep_needs(store: StoreOptions | None) -> list[tuple[str, int, str]]:
    """With -Z, the user saves the store at exit: --keep-spool's directory must let that user in."""
    if store is None or store.keep_dir is None:
        return []
    return [(store.keep_dir, os.W_OK | os.X_OK, "save the packet store there at exit (--keep-spool)")]


def run_dashboard(
    interfaces: Sequence[str] | None = None,
    options: CaptureOptions = CaptureOptions(),
    *,
    include_loopback: bool = False,
    run_as: str | None = None,
    store: StoreOptions | None = StoreOptions(),
    metrics: tuple[str, int] | None = None,
) -> int:
    """`ringmon [-i IFACE ...] [capture options] [FILTER]`: the named interfaces, or every interface
    that is up (loopback only with `include_loopback`), all with `options`, stored in `store`."""
    names = list(interfaces) if interfaces else iface_facts.up_interfaces(include_loopback)
    return run_plugged([PlugRequest(name, options) for name in names], plug_options=options,
                       skip_unpluggable=not interfaces, run_as=run_as, store=store, metrics=metrics)
