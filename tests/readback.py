"""Capture files read back by tshark, the reference reader: what every writer test compares against."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from netns import require

TSHARK_TIMEOUT_S = 60
# tshark says this on stderr whenever it runs as root; anything else it says means trouble.
TSHARK_ROOT_NOTICE = re.compile(r'^Running as user "root".*dangerous\.$')


@dataclass(frozen=True)
class ReadBack:
    """A packet as a reading tool shows it."""

    ts_ns: int
    wirelen: int
    frame: bytes
    interface: str | None = None


def epoch_ns(text: str) -> int:
    seconds, _, fraction = text.partition(".")
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])


def tshark_read(path: Path) -> list[ReadBack]:
    """Every packet as tshark reads it; fails the test if tshark has anything to say about the file."""
    require(shutil.which("tshark") is not None, "tshark reads the files back")
    done = subprocess.run(["tshark", "-r", str(path), "-T", "json", "-x", "-J", "frame"],
                          capture_output=True, text=True, timeout=TSHARK_TIMEOUT_S)
    complaints = [line for line in done.stderr.splitlines() if not TSHARK_ROOT_NOTICE.match(line)]
    assert done.returncode == 0 and not complaints, f"tshark on {path}: {done.stderr}"
    packets = []
    for record in json.loads(done.stdout or "[]"):
        layers = record["_source"]["layers"]
        frame = layers["frame"]
        raw = bytes.fromhex(layers["frame_raw"][0])
        assert int(frame["frame.cap_len"]) == len(raw)
        interface = frame.get("frame.interface_id_tree", {}).get("frame.interface_name")
        packets.append(ReadBack(epoch_ns(frame["frame.time_epoch"]), int(frame["frame.len"]), raw, interface))
    return packets


def tshark_fields(path: Path, *fields: str) -> list[tuple[str, ...]]:
    """Each packet's `fields` (tshark -e names) as tshark decodes them; '' where a packet has none."""
    done = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-E", "separator=/t",
                           *(arg for field in fields for arg in ("-e", field))],
                          capture_output=True, text=True, timeout=TSHARK_TIMEOUT_S)
    assert done.returncode == 0, f"tshark on {path}: {done.stderr}"
    return [tuple(line.split("\t")) for line in done.stdout.splitlines()]


def capinfos_interfaces(path: Path) -> list[str]:
    """The name of each interface description block Wireshark's capinfos finds in a pcapng file, in order."""
    done = subprocess.run(["capinfos", "-M", "-I", str(path)], capture_output=True, text=True,
                          timeout=TSHARK_TIMEOUT_S)
    assert done.returncode == 0, f"capinfos on {path}: {done.stderr}"
    count = re.search(r"^Number of interfaces in file: (\d+)$", done.stdout, re.MULTILINE)
    names = re.findall(r"^\s+Name = (.*)$", done.stdout, re.MULTILINE)
    assert count and int(count.group(1)) == len(names), done.stdout
    return names
