"""Headless export, tcpdump-shaped: `ringmon read IN -w OUT [FILTER]` and `ringmon capture -r IN -w OUT [FILTER]`.
The file is indexed in place, the filter runs in C over the index (libpcap's compiler and pcap_offline_filter),
and the C writer writes the matches: Python only steers."""
from __future__ import annotations

import argparse

from ringcore import CaptureFileError, PacketStore
from ringcore.filter import join_expression

from ..cli import say
from ..formatting import escape

# A live or unknown input has no format of its own to keep: pcapng keeps every interface.
DEFAULT_FORMAT = "pcapng"


def run_read_export(args: argparse.Namespace) -> int:
    """`ringmon read FILE -w OUT [--format F] [-c COUNT] [FILTER]`."""
    return export_file(args.file, args.write_file, args.format, args.count, join_expression(args.filter))


def export_file(source: str, destination: str, fmt: str | None = None, count: int | None = None,
                expression: str | None = None) -> int:
    """Write source's packets that match `expression` (all without one), the first `count` of them, to
    destination in fmt (the input's own format by default). One line on stderr says how many were written; a
    file damaged part way is exported up to the damage (as tcpdump), then the damage said, with exit status 1;
    one damaged before its first packet leaves no file."""
    with PacketStore.open_file(source) as store:
        if expression:
            # run while the file is indexed: the filter follows the indexer on the other core
            display_filter = store.compile_filter(expression)
            for _ in display_filter.run():
                pass
            progress = store.wait()
            selected = display_filter.selection if count is None else display_filter.selection.first(count)
        else:
            progress = store.wait()
            selected = None if count is None else [range(0, min(count, progress.count))]
        if progress.error and progress.count == 0:
            raise CaptureFileError(f"{source}: {progress.error}")  # nothing to salvage: no file
        if fmt is None:
            fmt = progress.format if progress.format in ("pcap", "pcap-ns", "pcapng") else DEFAULT_FORMAT
        result = store.export(destination, fmt, selected)
    noun = "packet" if result.packets == 1 else "packets"
    salvaged = f" from the {progress.count} before the damage" if progress.error else ""
    say(f"{result.packets} {noun} written to {escape(destination)}{salvaged}")
    if progress.error:
        raise CaptureFileError(f"{source}: {progress.error}")
    return 0

