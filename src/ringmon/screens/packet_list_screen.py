"""A store's packets as a list: a status line (source, format, interfaces, packet count, time span, indexing
progress, errors, the filter's match count, marks), the list, and the keys to move, jump, find, open, filter
and export; `ringmon read` and the dashboard's live list both show it. Filters and exports run in thread
workers that post progress; the bar under the list shows it."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Static
from textual.worker import Worker, WorkerState, get_current_worker

from ringcore.api import RingcoreError
from ringcore.store import DisplayFilter, PacketSelection, PacketStore, StoreProgress

from ..formatting import NS_PER_S, escape, file_size
from ..messages import (ExportFinished, FilterFinished, FilterRequested, FindFinished, FindProgress,
                        MarksChanged, PacketChosen, TaskProgress)
from ..palette import PacketListCommands
from ..widgets.fitting_footer import FittingFooter
from ..widgets.packets.filter_bar import FilterBar, compile_display_filter
from ..widgets.packets.marks import PacketMarks
from ..widgets.packets.packet_list import COLUMN_MEANINGS, TIME_FORMATS, PacketList, known_ts_ns, shows_time
from .export_dialog import ExportDialog, ExportRequest
from .help import HelpScreen, HelpSection
from .packet_screen import PacketScreen
from .prompt_dialog import PromptDialog

FILTER_TOOLTIP = "Show only the packets a display filter matches (BPF or Wireshark syntax)"
STATUS_INTERVAL_S = 0.1  # how often the store's progress is read: one C call, so the end of indexing shows at once
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class GoToTarget:
    """A packet number (0-based), or a time: seconds after the first packet, or a time of day."""

    number: int | None = None
    relative_s: float | None = None
    time_of_day_s: float | None = None


def parse_go_to(text: str) -> GoToTarget:
    """'1234' is packet 1234 (as shown, from 1); '+2.5' or '2.5s' is 2.5 s after the first packet;
    '12:34:56.5' (or '12:34') a time of day."""
    if text.isdigit() and int(text) >= 1:
        return GoToTarget(number=int(text) - 1)
    if ":" in text:
        return GoToTarget(time_of_day_s=_time_of_day_s(text))
    try:
        if text.startswith("+") or text.endswith("s"):
            return GoToTarget(relative_s=float(text.strip("+s")))
    except ValueError:
        pass
    raise ValueError(f"not a packet number or a time: {text}")


def _time_of_day_s(text: str) -> float:
    """'12:34' or '12:34:56.5' as seconds after midnight; hours, minutes and seconds in their ranges."""
    hours, _, rest = text.partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        if hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60:
            seconds_s = float(seconds or 0)
            if 0 <= seconds_s < 60:
                return int(hours) * 3600 + int(minutes) * 60 + seconds_s
    except ValueError:
        pass
    raise ValueError(f"not a valid time of day: {text} (00:00 to 23:59:59.999999)")


def target_ts_ns(target: GoToTarget, base_ts_ns: int) -> int:
    """A time target as a timestamp: a time of day is taken on the first packet's (local) date, or the next
    day when that is before the first packet (a capture that runs past midnight)."""
    if target.relative_s is not None:
        return base_ts_ns + round(target.relative_s * NS_PER_S)
    day = time.localtime(base_ts_ns // NS_PER_S)
    midnight_s = time.mktime((day.tm_year, day.tm_mon, day.tm_mday, 0, 0, 0, 0, 0, -1))
    ts_ns = round((midnight_s + (target.time_of_day_s or 0.0)) * NS_PER_S)
    return ts_ns + SECONDS_PER_DAY * NS_PER_S if ts_ns < base_ts_ns else ts_ns


def first_at_or_after(store: PacketStore, first: int, count: int, ts_ns: int) -> int:
    """The first packet stamped at or after ts_ns, by bisection over the index (log2(n) single reads): packets
    are taken to be in time order, as capture files and the merged live store are."""
    low, high = first, count - 1
    while low < high:
        middle = (low + high) // 2
        packet = store.packet(middle)
        if packet is None or packet.ts_ns >= ts_ns:
            high = middle
        else:
            low = middle + 1
    return low


@dataclass(frozen=True)
class ListState:
    """What the status line says of the list besides the store: the filter, the marks, a find."""

    following: bool = False
    find: str | None = None
    displayed: int | None = None  # packets matching the filter, None without one
    filter_expression: str = ""
    marked: int = 0


# what the status line says, for the help (`?`)
STATUS_MEANINGS = (
    ("N packets", "packets stored; (N evicted): the oldest, gone from a live capture's spool"),
    ("indexing N%", "a file still being read: rows appear as it goes"),
    ("following", "the cursor stays on the newest packet (f, or end)"),
    ("finding N%", "a find going through the packets (escape stops it)"),
    ("N of M packets match EXPR", "a display filter shows only its matches (\\ changes it, empty shows all)"),
    ("N marked", "packets marked (space, shift+arrows, m, M; U clears): what export can write"),
    ("the rest", "the file's (or the capture's) name and format, its interfaces and the time from the "
                 "first packet to the last"),
)


def status_text(name: str, progress: StoreProgress, interfaces: list[str], span_ns: int | None,
                state: ListState) -> Text:
    """The status line. A benchmark reads it: while indexing it says `indexing`; once done, `N packets`."""
    text = Text(no_wrap=True, overflow="ellipsis")
    # what a person (and the benchmark) looks for first comes first: a long file name must not push it off
    stored = progress.count - progress.first
    if state.displayed is not None:
        text.append(f"{state.displayed:,} of {stored:,} packets match ", "bold")
        text.append(escape(state.filter_expression), "bold cyan")
    else:
        text.append(f"{stored:,} packets", "bold")
    if state.marked:
        text.append(f"  {state.marked:,} marked", "bold yellow")
    if progress.first:
        text.append(f" ({progress.first:,} evicted)", "yellow")
    if not progress.done and progress.format != "live":
        text.append("  indexing", "cyan")
        if progress.bytes_total:  # a stream (standard input, a FIFO) has no size to reach
            text.append(f" {progress.bytes_done / progress.bytes_total:.0%}", "cyan")
    if state.following and (progress.format == "live" or not progress.done):  # a whole file has nothing to follow
        text.append("  following", "green")
    if state.find:
        text.append(f"  {state.find}", "magenta")
    text.append(f"  {name}", "bold")
    if progress.format not in name.split():  # a live capture's name says its format
        text.append(f"  {progress.format}", "dim")
    if len(interfaces) > 1:
        text.append(f"  {len(interfaces)} interfaces")
    elif interfaces and interfaces[0] != name:  # a pcap's one interface is named after the file
        text.append(f"  {interfaces[0]}")
    if span_ns is not None:
        text.append(f"  {span_ns / NS_PER_S:.3f} s", "dim")
    if progress.error:  # last, cut with an ellipsis when long: the notification says it whole
        text.append(f"  {escape(progress.error)}", "bold red")
    return text


class ExportCancelled(Exception):
    """Raised in an export's progress callback when escape stopped it."""


class PacketListScreen(Screen[None]):
    COMMANDS = {PacketListCommands}
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "back", "Back"),
        Binding("escape", "cancel_or_back", "Back", show=False),
        Binding("g", "go_to", "Go to", tooltip="Go to a packet number or a time"),
        Binding("slash", "find", "Find", tooltip="Find the next packet whose line contains a text"),
        # n and N show in the footer once there is a text to find again (check_action)
        Binding("n", "find_again(False)", "Next",
                tooltip="Find the next packet whose line contains the text"),
        Binding("N", "find_again(True)", "Prev",
                tooltip="Find the previous packet whose line contains the text"),
        Binding("t", "time_format", "Time",
                tooltip="Time relative to the first packet, absolute, or delta from "
                "the previous"),
        Binding("f", "follow", "Follow", tooltip="Keep the cursor on the newest packet"),
        Binding("backslash", "filter", "Filter", tooltip=FILTER_TOOLTIP),
        Binding("F", "filter", "Filter", show=False, tooltip=FILTER_TOOLTIP),
        Binding("e", "export", "Export", tooltip="Write all, displayed, marked or a range of packets to a "
                "pcap/pcapng file"),
        Binding("question_mark", "help", "Help", tooltip="These keys, and what the columns and the status line say"),
    ]

    escape_goes_back: ClassVar[bool] = True

    def __init__(self, store: PacketStore, name: str, display_filter: DisplayFilter | None = None) -> None:
        """A live store's list follows its newest packet from the start; a file's starts at its first.
        display_filter: applied at once (compiled by the caller, so a bad one is refused before any screen)."""
        super().__init__()
        self.store = store
        self._initial_filter = display_filter
        self.source_name = escape(name)
        self.packet_list = PacketList(store, following=store.progress().format == "live", id="packet-list")
        self.status = Static(id="list-status")
        self.filter_bar = FilterBar(id="filter-bar")
        self.display_filter: DisplayFilter | None = None  # what the rows show; None: every packet
        self._filtered_up_to = 0  # the store's count when the display filter last ran
        self.needle: str | None = None
        self.find_state: str | None = None  # what the status line says of a find in progress
        self._span: tuple[int, int | None] = (0, None)  # (count it was measured at, span)
        self._error_said: str | None = None  # the store's error last notified

    @classmethod
    def help_sections(cls) -> list[HelpSection]:
        return [("Packet list", [*cls.BINDINGS, *PacketList.BINDINGS, *FilterBar.BINDINGS])]

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.filter_bar
        yield self.packet_list
        with Horizontal(id="task-progress"):
            yield Label(id="task-label")
            yield ProgressBar(id="task-bar", show_eta=False)
        yield FittingFooter()

    def on_mount(self) -> None:
        self.refresh_status()
        self.set_interval(STATUS_INTERVAL_S, self.refresh_status)
        self.packet_list.focus()
        if self._initial_filter is not None:
            self._run_filter(self._initial_filter.expression, self._initial_filter.language, self._initial_filter)
            self._initial_filter = None

    def refresh_status(self) -> None:
        progress = self.store.progress()
        packets = self.packet_list
        packets.update_extent(progress)
        filtering = self.display_filter is not None
        state = ListState(packets.following, self.find_state, packets.rows if filtering else None,
                          self.display_filter.expression if filtering else "", len(packets.marks))
        self.status.update(status_text(self.source_name, progress, packets.interface_names,
                                       self._span_ns(progress), state))
        # whole, once: the status line may cut it (once shown: a toast raised while mounting is never seen)
        if progress.error and progress.error != self._error_said and self.is_current:
            self._error_said = progress.error
            self.notify(escape(progress.error), title=self.source_name, severity="error", timeout=10, markup=False)
        # one thread at a time runs a filter (a slow tshark run on a live store is not started again meanwhile)
        if filtering and progress.count > self._filtered_up_to and not (self._task_running("filter") or
                                                                         self._task_running("filter-new")):
            self._filtered_up_to = progress.count
            self._filter_new_packets(self.display_filter)

    def _task_running(self, group: str) -> bool:
        return any(worker.group == group and worker.is_running for worker in self.workers)

    def _span_ns(self, progress: StoreProgress) -> int | None:
        """First to last stored packet, read again only when the count changed (two single reads)."""
        if self._span[0] != progress.count and progress.count > progress.first:
            oldest, newest = self.store.packet(progress.first), self.store.packet(progress.count - 1)
            times = [known_ts_ns(packet) for packet in (oldest, newest) if packet is not None]
            self._span = (progress.count, times[1] - times[0] if len(times) == 2 and None not in times else None)
        return self._span[1]

    # -- actions ---------------------------------------------------------------------------

    def _export_running(self) -> bool:
        """One export at a time, and its end is said on this screen: leaving or a second export waits for it."""
        if self._task_running("export"):
            self.notify("an export is being written: escape stops it", severity="warning", markup=False)
            return True
        return False

    def action_back(self) -> None:
        if self._export_running():
            return
        for group in ("find", "filter", "filter-new"):
            self.workers.cancel_group(self, group)
        self.dismiss()

    def action_cancel_or_back(self) -> None:
        """Escape stops a filter, a find or an export running, else closes the filter bar, else goes back (where
        going back is not quitting)."""
        running = [group for group in ("filter", "find", "export") if self._task_running(group)]
        if running:
            self.workers.cancel_group(self, running[0])
        elif self.filter_bar.is_open:
            self.filter_bar.close()
            self.packet_list.focus()
        elif self.escape_goes_back:
            self.action_back()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(self.help_sections(), [("Columns", COLUMN_MEANINGS),
                                                               ("Status line", STATUS_MEANINGS)]))

    def action_time_format(self) -> None:
        formats = TIME_FORMATS
        self.packet_list.time_format = formats[(formats.index(self.packet_list.time_format) + 1) % len(formats)]
        hidden = "" if shows_time(self.packet_list.columns()) else " (left out at this width: enter shows a packet's)"
        self.notify(f"time: {self.packet_list.time_format}{hidden}", timeout=2)

    def action_follow(self) -> None:
        self.packet_list.action_last()
        self.refresh_status()

    def action_go_to(self) -> None:
        self.app.push_screen(PromptDialog("Go to", "1234 a packet · +2.5 s after the first · 12:34:56.5 a time of day",
                                          parse_go_to), self._go_to)

    def _go_to(self, target: object) -> None:
        packets = self.packet_list
        if not isinstance(target, GoToTarget) or not packets.rows:
            return
        if target.number is not None:
            number = target.number
            if not packets.first <= number < packets.count:
                self.notify(self._no_such_packet(number), severity="warning", markup=False)
        else:
            ts_ns = target_ts_ns(target, packets.base_ts_ns or 0)
            number = first_at_or_after(self.store, packets.first, packets.count, ts_ns)
            last = self.store.packet(number)
            if last is not None and last.ts_ns < ts_ns:
                self.notify("no packet at or after that time: this is the last one", severity="warning", markup=False)
        packets.go_to(number)

    def _no_such_packet(self, number: int) -> str:
        """A file has packets 1 to N; a live capture stores some of what it captured."""
        progress = self.store.progress()
        packets = f"packets {progress.first + 1:,} to {progress.count:,}"
        if progress.format == "live":
            return f"packet {number + 1:,} is not stored ({packets} are)"
        return f"no packet {number + 1:,}: the file has {packets}{'' if progress.done else ' so far'}"

    def action_find(self) -> None:
        self.app.push_screen(PromptDialog("Find", "the next packet whose line contains this text (any case)",
                                          value=self.needle or ""), self._find_from_cursor)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "find_again":
            return self.needle is not None
        return True

    def _find_from_cursor(self, needle: object) -> None:
        if isinstance(needle, str):
            self.needle = needle
            self.refresh_bindings()
            self._find(needle, self.packet_list.cursor, False)

    def action_find_again(self, backwards: bool) -> None:
        if self.needle is not None:  # always, once check_action lets the key act
            self._find(self.needle, self.packet_list.cursor, backwards)

    @work(thread=True, exclusive=True, group="find")
    def _find(self, needle: str, after: int, backwards: bool) -> None:
        """Decoding every packet's line is Python work per packet: a thread, in batches, cancellable (escape)."""
        worker = get_current_worker()
        found = self.packet_list.find(needle, after, backwards, lambda: worker.is_cancelled,
                                      lambda searched, total: self.post_message(FindProgress(searched, total)))
        number, went_round = found if found is not None else (None, False)
        self.post_message(FindFinished(needle, number, worker.is_cancelled, backwards, went_round))

    def on_find_progress(self, message: FindProgress) -> None:
        self.find_state = f"finding {message.searched / max(1, message.total):.0%} (escape stops)"
        self.refresh_status()

    def on_find_finished(self, message: FindFinished) -> None:
        self.find_state = None
        if message.number is not None:
            self.packet_list.go_to(message.number)
            if message.went_round:
                self.notify(f"found going on from the {'last' if message.backwards else 'first'} packet",
                            markup=False)
        elif not message.cancelled:
            self.notify(f"not found: {escape(message.needle)}", severity="warning", markup=False)
        self.refresh_status()

    def on_packet_chosen(self, message: PacketChosen) -> None:
        self.app.push_screen(PacketScreen(self.store, message.number, self.packet_list.interface_names),
                             self._viewed)

    def _viewed(self, number: int | None) -> None:
        """Back from the packet view: the cursor on the last packet viewed (`[`, `]` stepped to it)."""
        if number is not None:
            self.packet_list.go_to(number)

    # -- display filter --------------------------------------------------------------------

    def action_filter(self) -> None:
        self.filter_bar.open(self.display_filter.expression if self.display_filter is not None else "")

    def on_filter_requested(self, message: FilterRequested) -> None:
        if not message.expression:  # empty: every packet again, the cursor's packet kept
            self.workers.cancel_group(self, "filter")
            self.workers.cancel_group(self, "filter-new")
            self.display_filter = None
            self.packet_list.show_selection(None)
            self._close_filter_bar()
            return
        self._run_filter(message.expression, message.language)

    @work(thread=True, exclusive=True, group="filter")
    def _run_filter(self, expression: str, language: str, display_filter: DisplayFilter | None = None) -> None:
        """libpcap over a million packets takes a moment, tshark longer: a thread, chunk by chunk, cancellable
        (escape); the filter shown until then stays. display_filter: one compiled already (`ringmon read FILE
        FILTER`)."""
        worker = get_current_worker()
        total = self.store.progress().count
        try:
            if display_filter is None:
                display_filter = compile_display_filter(self.store, expression, language)
            for examined in display_filter.run():
                if worker.is_cancelled:
                    break
                self.post_message(TaskProgress("filter", examined, total))
        except RingcoreError as error:
            self.post_message(FilterFinished(expression, None, str(error)))
            return
        if not worker.is_cancelled:  # also when cancelled during the last chunk
            self.post_message(FilterFinished(expression, display_filter, None))

    @work(thread=True, exclusive=True, group="filter-new")
    def _filter_new_packets(self, display_filter: DisplayFilter) -> None:
        """Packets stored since the filter last ran (a live capture, a file still indexed) are matched too."""
        worker = get_current_worker()
        for _ in display_filter.run():
            if worker.is_cancelled:
                return

    def on_filter_finished(self, message: FilterFinished) -> None:
        if message.error is not None:
            self.filter_bar.open(message.expression)  # the message under the expression; the old filter stays
            self.filter_bar.show_error(message.error)
            return
        self.workers.cancel_group(self, "filter-new")
        self.display_filter = message.display_filter
        self._filtered_up_to = 0  # packets stored while it ran are matched at the next refresh
        self.packet_list.show_selection(self.display_filter.selection)
        self._close_filter_bar()
        if not self.packet_list.rows:
            self.notify(f"no packet matches {escape(message.expression)}", severity="warning", markup=False)

    def _close_filter_bar(self) -> None:
        self.filter_bar.close()
        self.packet_list.focus()
        self.refresh_status()

    # -- progress of a filter or an export ---------------------------------------------------

    def on_task_progress(self, message: TaskProgress) -> None:
        self.query_one("#task-progress").add_class("-shown")
        verb = "filtering (escape stops)" if message.task == "filter" else "exporting (escape stops)"
        self.query_one("#task-label", Label).update(verb)
        self.query_one("#task-bar", ProgressBar).update(total=max(1, message.total), progress=message.done)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "find" and event.state == WorkerState.CANCELLED:
            self.find_state = None
        if event.worker.group in ("filter", "export") and event.worker.is_finished:
            self.query_one("#task-progress").remove_class("-shown")

    # -- marks and export --------------------------------------------------------------------

    def on_marks_changed(self, message: MarksChanged) -> None:
        self.refresh_status()

    def action_export(self) -> None:
        if self._export_running():
            return
        packets = self.packet_list
        self.refresh_status()
        self.app.push_screen(ExportDialog(packets.count - packets.first, packets.rows, len(packets.marks)),
                             self._export)

    def _export(self, request: ExportRequest | None) -> None:
        if request is None:
            return
        packets = self.packet_list
        if request.which == "marked":
            numbers = packets.marks.copy()  # its selection is built in the thread
        elif request.which == "displayed":
            numbers = packets.selection
        elif request.which == "range":
            numbers = [request.numbers]
        else:
            numbers = None
        self._write_export(request, numbers)

    @work(thread=True, group="export")
    def _write_export(self, request: ExportRequest,
                      numbers: PacketMarks | PacketSelection | list[range] | None) -> None:
        """Writing a million packets takes seconds: a thread, with progress; the list stays usable, escape stops
        it (nothing is left under the name)."""
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                raise ExportCancelled  # out of the C writer's callback: it stops and removes its temp file
            self.post_message(TaskProgress("export", done, total))

        if isinstance(numbers, PacketMarks):
            numbers = numbers.selection()
        try:
            result = self.store.export(request.path, request.format, numbers, progress=progress)
        except ExportCancelled:
            self.post_message(ExportFinished(request.path, 0, 0, "export stopped: no file written"))
            return
        except (RingcoreError, OSError) as error:
            self.post_message(ExportFinished(request.path, 0, 0, str(error)))
            return
        self.post_message(ExportFinished(request.path, result.packets, result.bytes, None))

    def on_export_finished(self, message: ExportFinished) -> None:
        if message.error is not None:
            self.notify(escape(message.error), title="export", severity="error", markup=False)
        else:
            plural = "" if message.packets == 1 else "s"
            self.notify(f"{message.packets:,} packet{plural}, {file_size(message.size_bytes)} written to "
                        f"{escape(message.path)}", title="export", markup=False)


class FileListScreen(PacketListScreen):
    """`ringmon read`'s list is the whole app: `q` quits, escape never does (one escape too many, after a
    dialog closed, would lose the session)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "back", "Quit"),
        *(binding for binding in PacketListScreen.BINDINGS if isinstance(binding, Binding) and binding.key != "q"),
    ]
    escape_goes_back = False
