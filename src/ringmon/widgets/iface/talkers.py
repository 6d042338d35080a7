"""The conversations that moved the most bytes over the last 40 s, counted in C by the drain: each direction on
a line of its own, named by its addresses (A → B, then A ← B), with its bytes and, as iftop shows them, its rates
over the last 2 s, 10 s and 40 s; as many conversations as the panel has room for."""
from __future__ import annotations

from rich.text import Text

from ringcore import TALKERS_SPANS_S, Talker, TopTalkers

from ...formatting import si
from ..live_text import LiveText

TALKERS_ASKED = 16  # the most conversations the panel shows, however tall the terminal
TALKERS_MIN = 3  # shown even when the panel has no room left (the column scrolls)
_NUMBER_WIDTH = 7  # " 12.3kB", " 1.23M"
_NUMBERS_WIDTH = _NUMBER_WIDTH * (1 + len(TALKERS_SPANS_S))
_PROTOCOL_WIDTH = 7  # " icmp6 "


def _bytes(count: int) -> str:
    return f"{si(count)}B"


def _numbers(top: TopTalkers, total: int, spans: tuple[int, ...]) -> Text:
    """Bytes over the window, then bits per second over each span."""
    text = Text(f"{_bytes(total):>{_NUMBER_WIDTH}}", "bold" if total else "dim")
    for span, span_bytes in enumerate(spans):
        text.append(f"{si(top.rate_bps(span_bytes, span)):>{_NUMBER_WIDTH}}", "" if span_bytes else "dim")
    return text


class TopTalkersView(LiveText):
    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._top: TopTalkers | None = None

    def on_mount(self) -> None:
        self.border_title = "Top talkers"

    def on_resize(self) -> None:
        if self._top is not None:
            self.show(self._top)

    def show(self, top: TopTalkers) -> None:
        self._top = top
        title = f"Top talkers · last {top.window_s} s"
        if self.border_title != title:  # setting it repaints the whole view, even when it is the same
            self.border_title = title
        if not top.bytes:
            self.update(Text(f"no traffic in the last {top.window_s} s", "dim"))
            return
        width = max(self.content_region.width, _NUMBERS_WIDTH + len("other "))  # a narrow column: stacked
        label_width = width - _NUMBERS_WIDTH
        # One line a direction when both addresses fit beside the numbers; else the pair gets a line of its own.
        widest = max((len(talker.a) + len(talker.b) + 3 + _PROTOCOL_WIDTH for talker in top.talkers), default=0)
        stacked = widest > label_width
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{'conversation' if not stacked else '':<{label_width}}{'bytes':>{_NUMBER_WIDTH}}", "dim")
        for span, span_s in enumerate(TALKERS_SPANS_S):  # rates in bits per second, as iftop's
            text.append(f"{('b/s ' if span == 0 else '') + f'{span_s}s':>{_NUMBER_WIDTH}}", "dim")
        for talker in top.talkers[:self._room(stacked, bool(top.rest_bytes))]:
            self._conversation(text, top, talker, label_width, stacked)
        if top.rest_bytes:
            other = "other (untracked, no address)" if label_width > 30 else "other"
            text.append(f"\n{other:<{label_width}}", "dim italic")
            text.append_text(_numbers(top, top.rest_bytes, top.rest_spans))
        self.update(text)

    @staticmethod
    def _conversation(text: Text, top: TopTalkers, talker: Talker, label_width: int, stacked: bool) -> None:
        """Two lines, A → B and A ← B; stacked, the pair and protocol first, then → and ← under it (as iftop's
        => and <=: from the address on the left, from the one on the right)."""
        directions = (("→", talker.bytes_ab, talker.spans_ab), ("←", talker.bytes_ba, talker.spans_ba))
        if stacked:
            text.append("\n")
            text.append(f"{talker.a} ⇄ {talker.b}  ", "bold")
            text.append(talker.protocol, "cyan")
        for arrow, total, spans in directions:
            text.append("\n")
            if stacked:
                label = Text(f"  {arrow}", "bold")
            else:
                label = Text.assemble(talker.a, (f" {arrow} ", "bold"), talker.b, " ", (talker.protocol, "cyan"))
            label.truncate(label_width, overflow="ellipsis", pad=True)
            text.append_text(label)
            text.append_text(_numbers(top, total, spans))

    def _room(self, stacked: bool, rest_shown: bool) -> int:
        """How many conversations fit the height the other sections of the column leave (at least TALKERS_MIN)."""
        column = self.parent
        if column is None:
            return TALKERS_MIN
        others = sum(child.outer_size.height for child in column.children if child is not self and child.display)
        free = column.scrollable_content_region.height - others - 2  # the border, the header line
        return max(TALKERS_MIN, (free - (1 if rest_shown else 0)) // (3 if stacked else 2))
