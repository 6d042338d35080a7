"""The conversations that moved the most bytes over the last seconds, each way, counted in C by the drain."""
from __future__ import annotations

from rich.table import Table
from rich.text import Text

from ringcore import TopTalkers

from ...formatting import percent, si
from ..live_text import LiveText

TALKERS_SHOWN = 5
_NUMBERS_WIDTH = 21  # of the content width: two byte columns (6 each), share (5), their padding (3), one for the first column


def _bytes(count: int) -> str:
    return f"{si(count)}B"


class TopTalkersView(LiveText):
    def on_mount(self) -> None:
        self.border_title = "Top talkers"

    def show(self, top: TopTalkers) -> None:
        title = f"Top talkers · last {top.window_s} s"
        if self.border_title != title:  # setting it repaints the whole view, even when it is the same
            self.border_title = title
        total = top.bytes
        if not total:
            self.update(Text(f"no traffic in the last {top.window_s} s", "dim"))
            return
        table = Table(box=None, padding=(0, 0, 0, 1), expand=True, show_edge=False, header_style="dim")
        table.add_column("conversation", ratio=1, overflow="fold")
        table.add_column("a→b", justify="right", no_wrap=True)
        table.add_column("b→a", justify="right", no_wrap=True)
        table.add_column("share", justify="right", no_wrap=True)
        for talker in top.talkers:
            # Addresses come formatted by ringcore, and Text keeps them out of markup anyway. In a narrow
            # column (80 columns) b goes under a, indented, so both addresses stay whole.
            between = " ⇄ " if len(talker.a) + len(talker.b) + 3 <= self.size.width - _NUMBERS_WIDTH else "\n "
            table.add_row(Text.assemble(talker.a, (between, "dim"), talker.b), _bytes(talker.bytes_ab),
                          _bytes(talker.bytes_ba), percent(talker.bytes / total))
        if top.rest_bytes:
            table.add_row(Text("other (untracked or no address)", "dim italic"), _bytes(top.rest_bytes), "",
                          percent(top.rest_bytes / total))
        self.update(table)
