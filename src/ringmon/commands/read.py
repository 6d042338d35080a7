"""`ringmon read FILE [FILTER]`: a capture file in the packet list, shown at once while the C indexer goes through
it, with FILTER applied as the list's filter bar would (with -w OUT, cli routes to the headless export,
commands/export.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ringcore.api import FilterError
from ringcore.filter import join_expression
from ringcore.store import PacketStore

from ..cli import UsageError, say
from ..formatting import escape


def run_read(args: argparse.Namespace) -> int:
    """A file that cannot be opened or is not a capture raises CaptureFileError (one line, from cli.main) before
    any screen is drawn, and a filter that does not compile is one line and exit status 2 (as a bad flag);
    damage found later shows in the status line. Ended by SIGTERM or SIGHUP, the exit status is 128 + the
    signal's number, the terminal given back first."""
    if args.count is not None or args.format:
        raise UsageError("read: -c and --format go with -w OUT")
    if args.file == "-":  # the list reads its keys from the terminal on standard input
        raise UsageError("read: standard input is the keyboard here; give a file name (a FIFO is fine)")
    signals_received: list[int] = []
    with PacketStore.open_file(args.file) as store:
        # The UI's imports (Textual: 0.3-0.5 s) come after the open, while the C thread already indexes.
        from ..read_app import ReadApp
        from ..signal_safe_app import exit_app_on_signals
        from ..widgets.packets.filter_bar import compile_display_filter

        expression = join_expression(args.filter)
        try:
            display_filter = compile_display_filter(store, expression) if expression else None
        except FilterError as error:
            say(escape(str(error)))
            return 2
        app = ReadApp(store, Path(args.file).name or args.file,  # the status line names the file, not its folders
                      display_filter)
        with exit_app_on_signals(app, signals_received):
            app.run()
    return 128 + signals_received[0] if signals_received else 0
