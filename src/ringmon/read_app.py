"""`ringmon read`'s app: the file's packet list is the whole app (commands/read.py opens the file first)."""
from __future__ import annotations

from pathlib import Path

from ringcore.store import DisplayFilter, PacketStore

from .screens.packet_list_screen import FileListScreen
from .signal_safe_app import SignalSafeApp

STYLESHEET = Path(__file__).parent / "ringmon.tcss"


class ReadApp(SignalSafeApp[None]):
    CSS_PATH = STYLESHEET
    TITLE = "ringmon read"

    def __init__(self, store: PacketStore, name: str, display_filter: DisplayFilter | None = None) -> None:
        super().__init__()
        self.store = store
        self.file_name = name
        self.display_filter = display_filter

    def on_mount(self) -> None:
        self.defer_driver_signals()
        self.freeze_once_built()
        self.push_screen(FileListScreen(self.store, self.file_name, self.display_filter), lambda _: self.exit())

    def on_unmount(self) -> None:
        self.restore_driver_signals()
        self.unfreeze()
