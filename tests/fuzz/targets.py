"""The properties every fuzz target checks, through ringmon's real entry points, shared with the corpus
replay: whatever the bytes, no exception escapes, an error is one line, and the output is terminal-safe."""
from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hostile_text import assert_terminal_safe
from summary_modes import assert_summary_modes_agree
from ringcore import SlotMeta
from ringcore.filter import LINKTYPE_ETHERNET
from ringmon.cli import main
from ringmon.decode import DecodedNode, decode_frame
from ringmon.decode.summary import LineFormat, LinePrinter, packet_line
from ringmon.widgets.packets.hex_dump import hex_dump_text

CORPUS = Path(__file__).resolve().parent.parent / "corpus"
# scripts/fuzz.sh sets this: the failing input is kept (the last one written is the shrunk one) and
# renamed by the script into the corpus, which the suite replays.
SAVE_CRASHERS = os.environ.get("RINGMON_FUZZ_SAVE") == "1"
FILE_FAULTS = ("corrupt pcap", "truncated", "not a capture", "is empty")  # after "ringmon: FILE: "
FILTER_FAULTS = ("ringmon: filter '", "ringmon: filters are not supported on link type")


@contextlib.contextmanager
def kept_if_failing(target: str, data: bytes) -> Iterator[None]:
    try:
        yield
    except BaseException:
        if SAVE_CRASHERS:
            (CORPUS / target / "pending-crash").write_bytes(data)
        raise


def check_capture_file(content: bytes, *filter_words: str) -> None:
    """`ringmon capture -r FILE [FILTER]` in this process: exit 0 with nothing on stderr, or exit 1 with one
    line naming a known fault of the file or of the filter for its link type; every stdout line printable ASCII."""
    with kept_if_failing("capture_file", content), tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "fuzz.pcapng")
        Path(path).write_bytes(content)
        stdout, stderr = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = main(["capture", "-r", path, *filter_words])
        errors = stderr.getvalue().splitlines()
        if status == 0:
            assert errors == []
        else:
            assert status == 1 and len(errors) == 1, errors
            file_fault = errors[0].startswith(f"ringmon: {path}: ") and any(kind in errors[0] for kind in FILE_FAULTS)
            assert file_fault or errors[0].startswith(FILTER_FAULTS), errors
        for line in stdout.getvalue().splitlines():
            assert line.isascii() and line.isprintable(), repr(line)


def _labels(nodes: list[DecodedNode]) -> Iterator[str]:
    for node in nodes:
        yield node.label
        yield from _labels(node.children)


# -e -v -XX -ttt and -q -A -tttt: every path of a line's making but the plain one
OUTPUT_FLAGS = (LineFormat(link_header=True, verbose=1, dump="hex_ascii", dump_link=True, time_style=3),
                LineFormat(quiet=True, dump="ascii", time_style=4))


def check_packet(data: bytes, linktype: int = LINKTYPE_ETHERNET, wirelen: int | None = None,
                 ts_ns: int = 0, ifname: str = "eth0") -> None:
    """The packet line, the decode tree and the hex dump of one packet: no exception, one line each, safe; the
    summary-only walk says what the full one does."""
    wirelen = len(data) if wirelen is None else wirelen
    with kept_if_failing("packet", data):
        meta = SlotMeta(0, len(data), wirelen, ts_ns, 0, 0)
        line = packet_line(data, meta, ifname, linktype)
        assert line.isascii() and line.isprintable(), repr(line)
        for line_format in OUTPUT_FLAGS:  # tcpdump's flags: lines under lines, each after a tab at most
            text = LinePrinter(line_format).line(data, meta, ifname, linktype)
            assert "[not in tcpdump's words: " not in text, text  # the printer's safety net: a bug if used
            for line in text.split("\n"):
                assert line.removeprefix("\t").isascii() and line.removeprefix("\t").isprintable(), repr(line)
        for label in _labels(decode_frame(data, wirelen, linktype)):
            assert_terminal_safe(label, lines=1)
        assert_terminal_safe(hex_dump_text(data).plain)
        assert_summary_modes_agree(data, linktype, wirelen)


def corpus_files(target: str) -> list[Path]:
    return sorted(path for path in (CORPUS / target).iterdir() if path.name != "pending-crash" and path.is_file())
