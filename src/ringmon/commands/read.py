"""`ringmon read FILE`: a capture file in the packet list, shown at once while the C indexer goes through it."""
from __future__ import annotations

import argparse
from pathlib import Path

from textual.app import App

from ringcore.api import CaptureFileError
from ringcore.store import PacketStore

from ..screens.packet_list_screen import PacketListScreen

STYLESHEET = Path(__file__).parent.parent / "ringmon.tcss"


class ReadApp(App[None]):
    CSS_PATH = STYLESHEET
    TITLE = "ringmon read"

    def __init__(self, store: PacketStore, name: str) -> None:
        super().__init__()
        self.store = store
        self.file_name = name

    def on_mount(self) -> None:
        self.push_screen(PacketListScreen(self.store, self.file_name), lambda _: self.exit())


def run_read(args: argparse.Namespace) -> int:
    """A file that cannot be opened or is not a capture raises RingcoreError (one line, from cli.main) before
    any screen is drawn; damage found later shows in the status line."""
    if args.file == "-":  # the list reads its keys from the terminal on standard input
        raise CaptureFileError("read: standard input is the keyboard here; give a file name (a FIFO is fine)")
    with PacketStore.open_file(args.file) as store:
        ReadApp(store, Path(args.file).name or args.file).run()  # the status line names the file, not its folders
    return 0
