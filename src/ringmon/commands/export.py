"""Headless export, tcpdump-shaped: `ringmon read IN -w OUT [FILTER]` and `ringmon capture -r IN -w OUT [FILTER]`.
The file is indexed in place, the filter runs in C over the index (libpcap's compiler and pcap_offline_filter),
and the C writer writes the matches: Python only steers."""
from __future__ import annotations

from ringcore import CaptureFileError, PacketStore

from ..cli import say
from ..formatting import escape

# A live or unknown input has no format of its own to keep: pcapng keeps every interface.
DEFAULT_FORMAT = "pcapng"


def export_file(source: str, destination: str, fmt: str | None = None, count: int | None = None,
                expression: str | None = None) -> int:
    """Write source's packets that match `expression` (all without one), the first `count` of them, to
    destination in fmt (the input's own format by default). One line on stderr says how many were written; a
    file damaged part way is exported up to the damage, then said, with exit status 1 (as tcpdump)."""
    with PacketStore.open_file(source) as store:
        progress = store.wait()
        if expression:
            display_filter = store.compile_filter(expression)
            for _ in display_filter.run():
                pass
            selected = display_filter.selection if count is None else display_filter.selection.first(count)
        else:
            selected = None if count is None else [range(0, min(count, progress.count))]
        if fmt is None:
            fmt = progress.format if progress.format in ("pcap", "pcap-ns", "pcapng") else DEFAULT_FORMAT
        result = store.export(destination, fmt, selected)
    noun = "packet" if result.packets == 1 else "packets"
    say(f"{result.packets} {noun} written to {escape(destination)}")
    if progress.error:
        raise CaptureFileError(f"{source}: {progress.error}")
    return 0

