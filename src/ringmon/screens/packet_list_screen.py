"""A store's packets as a list: a status line (source, format, interfaces, packet count, time span, indexing
progress, errors), the list, and the keys to move, jump, find and open; `ringmon read` and the dashboard's
live list both show it."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.worker import Worker, WorkerState, get_current_worker

from ringcore.store import PacketStore, StoreProgress

from ..formatting import NS_PER_S, escape
from ..messages import FindFinished, FindProgress, PacketChosen
from ..widgets.packets.packet_list import TIME_FORMATS, PacketList
from .packet_screen import PacketScreen
from .prompt_dialog import PromptDialog

STATUS_INTERVAL_S = 0.25  # how often the store's progress is read: one C call
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
    try:
        if text.isdigit():
            if int(text) < 1:
                raise ValueError
            return GoToTarget(number=int(text) - 1)
        if text.startswith("+") or text.endswith("s"):
            return GoToTarget(relative_s=float(text.strip("+s")))
        if ":" in text:
            parts = [float(part) for part in text.split(":")]
            if len(parts) in (2, 3) and all(part >= 0 for part in parts):
                hours, minutes, seconds = (*parts, 0.0)[:3]
                return GoToTarget(time_of_day_s=hours * 3600 + minutes * 60 + seconds)
    except ValueError:
        pass
    raise ValueError(f"not a packet number or a time: {text}")


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


def status_text(name: str, progress: StoreProgress, interfaces: list[str], span_ns: int | None,
                following: bool, find: str | None) -> Text:
    """The status line. A benchmark reads it: while indexing it says `indexing`; once done, `N packets`."""
    text = Text(no_wrap=True, overflow="ellipsis")
    # what a person (and the benchmark) looks for first comes first: a long file name must not push it off
    stored = progress.count - progress.first
    text.append(f"{stored:,} packets", "bold")
    if progress.first:
        text.append(f" ({progress.first:,} evicted)", "yellow")
    if not progress.done and progress.format != "live":
        text.append("  indexing", "cyan")
        if progress.bytes_total:  # a stream (standard input, a FIFO) has no size to reach
            text.append(f" {progress.bytes_done / progress.bytes_total:.0%}", "cyan")
    if progress.error:
        text.append(f"  {escape(progress.error)}", "bold red")
    if following:
        text.append("  following", "green")
    if find:
        text.append(f"  {find}", "magenta")
    text.append(f"  {name}", "bold")
    text.append(f"  {progress.format}", "dim")
    if len(interfaces) > 1:
        text.append(f"  {len(interfaces)} interfaces")
    elif interfaces and interfaces[0] != name:  # a pcap's one interface is named after the file
        text.append(f"  {interfaces[0]}")
    if span_ns is not None:
        text.append(f"  {span_ns / NS_PER_S:.3f} s", "dim")
    return text


class PacketListScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "back", "Back"),
        Binding("escape", "cancel_or_back", "Back", show=False),
        Binding("g", "go_to", "Go to", tooltip="Go to a packet number or a time"),
        Binding("slash", "find", "Find", tooltip="Find the next packet whose line contains a text"),
        Binding("n", "find_again(False)", "Next", tooltip="Find the next packet whose line contains the text"),
        Binding("N", "find_again(True)", "Prev", tooltip="Find the previous packet whose line contains the text"),
        Binding("t", "time_format", "Time", tooltip="Time relative to the first packet, absolute, or delta from "
                "the previous"),
        Binding("f", "follow", "Follow", tooltip="Keep the cursor on the newest packet"),
    ]

    def __init__(self, store: PacketStore, name: str) -> None:
        """A live store's list follows its newest packet from the start; a file's starts at its first."""
        super().__init__()
        self.store = store
        self.source_name = escape(name)
        self.packet_list = PacketList(store, following=store.progress().format == "live", id="packet-list")
        self.status = Static(id="list-status")
        self.needle: str | None = None
        self.find_state: str | None = None  # what the status line says of a find in progress
        self._span: tuple[int, int | None] = (0, None)  # (count it was measured at, span)

    def compose(self) -> ComposeResult:
        yield self.status
        yield self.packet_list
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.refresh_status()
        self.set_interval(STATUS_INTERVAL_S, self.refresh_status)
        self.packet_list.focus()

    def refresh_status(self) -> None:
        progress = self.store.progress()
        self.packet_list.update_extent(progress)
        self.status.update(status_text(self.source_name, progress, self.packet_list.interface_names,
                                       self._span_ns(progress), self.packet_list.following, self.find_state))

    def _span_ns(self, progress: StoreProgress) -> int | None:
        """First to last stored packet, read again only when the count changed (two single reads)."""
        if self._span[0] != progress.count and progress.count > progress.first:
            oldest, newest = self.store.packet(progress.first), self.store.packet(progress.count - 1)
            self._span = (progress.count, newest.ts_ns - oldest.ts_ns if oldest and newest else None)
        return self._span[1]

    # -- actions ---------------------------------------------------------------------------

    def action_back(self) -> None:
        self.workers.cancel_group(self, "find")
        self.dismiss()

    def action_cancel_or_back(self) -> None:
        if any(worker.group == "find" and worker.is_running for worker in self.workers):
            self.workers.cancel_group(self, "find")
        else:
            self.action_back()

    def action_time_format(self) -> None:
        formats = TIME_FORMATS
        self.packet_list.time_format = formats[(formats.index(self.packet_list.time_format) + 1) % len(formats)]
        self.notify(f"time: {self.packet_list.time_format}", timeout=2)

    def action_follow(self) -> None:
        self.packet_list.action_last()
        self.refresh_status()

    def action_go_to(self) -> None:
        self.app.push_screen(PromptDialog("Go to", "a packet number (1234), seconds after the first packet "
                                          "(+2.5) or a time of day (12:34:56.5)", parse_go_to), self._go_to)

    def _go_to(self, target: object) -> None:
        packets = self.packet_list
        if not isinstance(target, GoToTarget) or not packets.rows:
            return
        if target.number is not None:
            number = target.number
        else:
            number = first_at_or_after(self.store, packets.first, packets.count,
                                       target_ts_ns(target, packets.base_ts_ns or 0))
        if not packets.first <= number < packets.count:
            self.notify(f"packet {number + 1:,} is not stored (packets {packets.first + 1:,} to {packets.count:,} are)",
                        severity="warning")
        packets.go_to(number)

    def action_find(self) -> None:
        self.app.push_screen(PromptDialog("Find", "the next packet whose line contains this text (any case)",
                                          value=self.needle or ""), self._find_from_cursor)

    def _find_from_cursor(self, needle: object) -> None:
        if isinstance(needle, str):
            self.needle = needle
            self._find(needle, self.packet_list.cursor, False)

    def action_find_again(self, backwards: bool) -> None:
        if self.needle is None:
            self.action_find()
        else:
            self._find(self.needle, self.packet_list.cursor, backwards)

    @work(thread=True, exclusive=True, group="find")
    def _find(self, needle: str, after: int, backwards: bool) -> None:
        """Decoding every packet's line is Python work per packet: a thread, in batches, cancellable (escape)."""
        worker = get_current_worker()
        number = self.packet_list.find(needle, after, backwards, lambda: worker.is_cancelled,
                                       lambda searched, total: self.post_message(FindProgress(searched, total)))
        self.post_message(FindFinished(needle, number, worker.is_cancelled))

    def on_find_progress(self, message: FindProgress) -> None:
        self.find_state = f"finding {message.searched / max(1, message.total):.0%} (escape stops)"
        self.refresh_status()

    def on_find_finished(self, message: FindFinished) -> None:
        self.find_state = None
        if message.number is not None:
            self.packet_list.go_to(message.number)
        elif not message.cancelled:
            self.notify(f"not found: {escape(message.needle)}", severity="warning", markup=False)
        self.refresh_status()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "find" and event.state == WorkerState.CANCELLED:
            self.find_state = None

    def on_packet_chosen(self, message: PacketChosen) -> None:
        self.app.push_screen(PacketScreen(self.store, message.number, self.packet_list.interface_names))
