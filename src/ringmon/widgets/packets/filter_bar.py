"""The display filter's input over the packet list: an expression in tcpdump/BPF syntax (run by libpcap in C
over the store) or Wireshark's display-filter syntax (run by tshark), picked by a toggle or detected; Enter
asks the screen to apply it, whose errors come back here, one line under the input."""
from __future__ import annotations

import re
import shutil
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widgets import Input, Label, Static

from ringcore.api import FilterError
from ringcore.store import DisplayFilter, PacketStore

from ...formatting import escape
from ...messages import FilterRequested

LANGUAGES = ("auto", "bpf", "wireshark")
LANGUAGE_NAMES = {"auto": "detect", "bpf": "BPF", "wireshark": "Wireshark"}
TSHARK_MISSING = "Wireshark syntax needs tshark: install it (apt install tshark, or scripts/install.sh)"
# Words only Wireshark's language has: a dotted field name (ip.src, dns.qry.name; BPF's dotted words are the
# host names and addresses after host/net/gateway, left out first), contains, matches. Not ==: BPF has it too
# (len == 100); a bare protocol only Wireshark knows (dns, http) fails as BPF and is then tried as Wireshark.
_BPF_ADDRESS = re.compile(r"\b(?:host|net|gateway)\s+\S+")
_WIRESHARK_WORDS = re.compile(r"\b[a-z][a-z0-9_-]*\.[a-z]|\bcontains\b|\bmatches\b", re.IGNORECASE)


def detect_language(expression: str) -> str:
    """'wireshark' when the expression uses what only Wireshark's language has, else 'bpf'."""
    return "wireshark" if _WIRESHARK_WORDS.search(_BPF_ADDRESS.sub("", expression)) else "bpf"


def tshark_installed() -> bool:
    return shutil.which("tshark") is not None


def compile_display_filter(store: PacketStore, expression: str, language: str = "auto") -> DisplayFilter:
    """The expression compiled over the store (FilterError when it does not compile). 'auto' takes the
    language the expression looks like; one that does not compile as BPF is tried as Wireshark's (a bare
    `dns` or `http`), and libpcap's message stands when tshark rejects it too."""
    chosen = detect_language(expression) if language == "auto" else language
    try:
        return store.compile_filter(expression, chosen)
    except FilterError as error:
        if language != "auto" or chosen != "bpf" or not tshark_installed():
            raise
        bpf_error = error
    try:
        return store.compile_filter(expression, "wireshark")
    except FilterError:
        raise bpf_error from None


class FilterBar(Vertical):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+t", "toggle_language", "Language", tooltip="BPF (tcpdump), Wireshark, or detected"),
    ]
    DEFAULT_CSS = """
    FilterBar { height: auto; display: none; background: $panel; padding: 0 1; }
    FilterBar.-open { display: block; }
    FilterBar Horizontal { height: auto; }
    FilterBar Label { padding: 0 1 0 0; }
    FilterBar #display-filter { width: 1fr; border: none; height: 1; padding: 0; }
    FilterBar #display-filter-error { color: $error; }
    """

    language: reactive[str] = reactive("auto")

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Label(Text("Filter", "bold"))
            yield Label(id="display-filter-language")
            yield Input(placeholder="tcp port 80 · dns.qry.name contains \"example\" · empty shows all",
                        id="display-filter")
        yield Static(id="display-filter-error")
        yield Label(Text("enter apply · ctrl+t language · escape close", "dim"))

    @property
    def input(self) -> Input:
        return self.query_one("#display-filter", Input)

    def open(self, expression: str) -> None:
        self.add_class("-open")
        self.input.value = expression
        self.input.focus()

    def close(self) -> None:
        self.remove_class("-open")
        self.show_error(None)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def show_error(self, message: str | None) -> None:
        self.query_one("#display-filter-error", Static).update(Text(escape(message)) if message else "")

    def on_mount(self) -> None:
        self.watch_language()

    def watch_language(self) -> None:
        text = Text(f"[{LANGUAGE_NAMES[self.language]}]", "cyan")
        if self.language == "wireshark" and not tshark_installed():
            text.append(f" {TSHARK_MISSING}", "yellow")
        self.query_one("#display-filter-language", Label).update(text)

    def action_toggle_language(self) -> None:
        self.language = LANGUAGES[(LANGUAGES.index(self.language) + 1) % len(LANGUAGES)]

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.show_error(None)
        self.post_message(FilterRequested(event.value.strip(), self.language))
