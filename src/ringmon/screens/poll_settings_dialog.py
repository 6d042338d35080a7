"""Choose how an interface's consumer waits when its ring is empty (sleep, and for how long, yield, spin, event or
adaptive) and what its ring is (copy, zero-copy or direct dispatch)."""
from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ringcore.api import RingMode, WaitStrategy

from ..formatting import cut_start, escape
from ..widgets.choice_set import ChoiceSet, MarkedRadioButton
from ..widgets.dialog_error import DialogError

# What the kernel ring hands over is a block of packets, or one frame each in immediate mode (TPACKET_V2).
_STRATEGY_HELP = {
    WaitStrategy.SLEEP: "sleep: sleep the interval, then poll again (cheap, adds latency)",
    WaitStrategy.YIELD: "yield: give the CPU away and poll again at once",
    WaitStrategy.SPIN: "spin: poll again at once (a whole core, lowest latency)",
    WaitStrategy.EVENT: "event: sleep until the capture hands over a kernel {unit} (no idle wake-ups)",
    WaitStrategy.ADAPTIVE: "adaptive: poll again for a few µs (--spin), then sleep as event (few wake-ups under load)",
}
_MODE_HELP = {
    RingMode.COPY: "copy: packets copied from the kernel's {unit}s into the ring",
    RingMode.ZERO_COPY: "zero-copy: read in place in the kernel's {unit}s (drops: kernel)",
    RingMode.DIRECT: "direct: the capture thread hands each {unit} to the sinks",
}
_TITLE_KEY_KEPT = 40  # the title stays on one line in the narrowest dialog (60 columns): the key's end kept
PollChoice = tuple[WaitStrategy, int, RingMode]


class PollSettingsDialog(ModalScreen[PollChoice | None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    DEFAULT_CSS = """
    #poll-choices { height: auto; max-height: 100%; }
    #poll-keys { dock: bottom; }  /* below the choices, in sight however short the terminal */
    """

    def __init__(self, ifname: str, strategy: WaitStrategy, poll_interval_us: int,
                 mode: RingMode = RingMode.COPY, immediate: bool = False) -> None:
        """`immediate`: the kernel ring hands over frames one by one (immediate mode), not blocks."""
        super().__init__()
        self.ifname = ifname
        self.strategy = strategy
        self.poll_interval_us = poll_interval_us
        self.mode = mode
        self.unit = "frame" if immediate else "block"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            # the title and the keys stay in sight; a short terminal scrolls the choices to the focused one
            yield Label(Text(f"Polling of {cut_start(escape(self.ifname), _TITLE_KEY_KEPT)}", "bold"), id="poll-title")
            with VerticalScroll(id="poll-choices"):
                yield Label(Text("when the ring is empty, the consumer…", "dim"))
                with ChoiceSet(id="wait-strategy"):
                    for strategy, help_text in _STRATEGY_HELP.items():
                        yield MarkedRadioButton(Text(help_text.format(unit=self.unit)), value=strategy == self.strategy,
                                                name=strategy.name)
                yield Label(Text("sleep interval in µs (sleep only)", "dim"))
                yield Input(str(self.poll_interval_us), type="integer", id="poll-interval")
                yield DialogError(id="poll-error")
                yield Label(Text("the ring (switched live, no packet lost)", "dim"))
                with ChoiceSet(id="ring-mode"):
                    for mode, help_text in _MODE_HELP.items():
                        yield MarkedRadioButton(Text(help_text.format(unit=self.unit)), value=mode == self.mode,
                                                name=mode.name)
            yield Label(Text("enter apply · tab/shift+tab to the choices (↑↓ move, space choose, enter choose "
                             "and apply) · escape cancel", "dim"), id="poll-keys")

    def on_mount(self) -> None:
        self.query_one("#poll-interval", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._apply()

    def on_choice_set_chosen(self, event: ChoiceSet.Chosen) -> None:
        self._apply()

    def _apply(self) -> None:
        pressed = self.query_one("#wait-strategy", ChoiceSet).pressed_button
        strategy = WaitStrategy[pressed.name] if pressed is not None and pressed.name else self.strategy
        pressed = self.query_one("#ring-mode", ChoiceSet).pressed_button
        mode = RingMode[pressed.name] if pressed is not None and pressed.name else self.mode
        try:
            interval_us = int(self.query_one("#poll-interval", Input).value)
        except ValueError:
            interval_us = -1
        if interval_us < 0:
            self.query_one(DialogError).say("the interval is a whole number of microseconds, 0 or more")
            return
        self.dismiss((strategy, interval_us, mode))
