#!/usr/bin/env python3
"""Display filters and export against the tools people use for them, side by side in one run, on one capture
(the list benchmark's million-packet file):

- the display filter over the whole store, once indexed (libpcap in C): time and match count, against
  tcpdump's count;
- `ringmon read IN -w OUT FILTER` against `tcpdump -r IN -w OUT FILTER` (interpreter start, indexing and
  filtering included): same
  packets, the files byte-identical for a pcap input;
- every packet exported to pcapng (PacketStore.export) against `editcap -F pcapng IN OUT`, in MB/s of input;
- the Wireshark-syntax path (tshark over the store, then the export) against `tshark -r IN -Y EXPR -w OUT`.

    python bench/packet_mix.py --count 1000000 /tmp/mix.pcap   # (bench/packet_mix.py: the list benchmark's)
    python bench/export_bench.py /tmp/mix.pcap [--runs 3] [--no-wireshark]

Times are wall-clock medians of --runs runs (the tshark ones: one run), the outputs in a private directory
beside --out-dir (default: $TMPDIR), removed at the end. ringmon's files are fsync'ed before they are renamed
into place, tcpdump's, editcap's and tshark's are not: the comparison is against their faster, less durable
write."""
from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from ringcore import PacketStore

# The console script installed beside this interpreter (as the tests run it): a version manager's shim on PATH
# would add its own start-up to ringmon's.
RINGMON = str(Path(sys.executable).with_name("ringmon"))

BPF_EXPRESSIONS = ("udp port 53", "tcp")  # few matches, and nearly all: the writer's share shows in the second
WIRESHARK_EXPRESSION = 'dns.qry.name contains "example"'
TARGET_RATIO = 3.0  # ringmon read -w against tcpdump -w: the bound


def timed(action: Callable[[], object], runs: int) -> tuple[float, object]:
    """The median wall time of `runs` calls, and the last call's result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def run(*command: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"export_bench: {' '.join(command)} failed: {done.stderr.strip()}")


def packet_count(path: str) -> int:
    with PacketStore.open_file(path) as store:
        return store.wait().count


def fresh(path: str) -> str:
    if os.path.exists(path):
        os.unlink(path)
    return path


def display_filter(store: PacketStore, expression: str) -> int:
    compiled = store.compile_filter(expression)
    for _ in compiled.run():
        pass
    return len(compiled.selection)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", help="a pcap (the list benchmark's packet_mix.py file)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out-dir", default=None, help="where the outputs go (default: $TMPDIR)")
    parser.add_argument("--no-wireshark", action="store_true", help="skip the tshark rows (a minute or more each)")
    args = parser.parse_args()
    for tool in ("tcpdump", "editcap", "tshark", RINGMON):
        if shutil.which(tool) is None:
            raise SystemExit(f"export_bench: {tool} is not installed (scripts/install.sh installs it)")
    source = args.file
    size_mb = os.path.getsize(source) / 1e6
    with PacketStore.open_file(source) as store:
        started = time.perf_counter()
        total = store.wait().count
        index_s = time.perf_counter() - started
    print(f"{source}: {total:,} packets, {size_mb:,.0f} MB (indexed in {index_s * 1000:.0f} ms); "
          f"median of {args.runs} runs\n")
    rows = []
    with tempfile.TemporaryDirectory(prefix="export-bench-", dir=args.out_dir) as out:
        ours, theirs = os.path.join(out, "ringmon.pcap"), os.path.join(out, "tcpdump.pcap")
        for expression in BPF_EXPRESSIONS:
            with PacketStore.open_file(source) as store:
                store.wait()  # the index is timed above: this is the filter alone
                filter_s, matches = timed(lambda: display_filter(store, expression), args.runs)
            read_s, _ = timed(lambda: run(RINGMON, "read", source, "-w", fresh(ours), expression), args.runs)
            tcpdump_s, _ = timed(lambda: run("tcpdump", "-r", source, "-w", fresh(theirs), expression), args.runs)
            reference = packet_count(theirs)
            identical = filecmp.cmp(ours, theirs, shallow=False)
            rows.append((f"display filter `{expression}` (in C, whole store)", f"{filter_s * 1000:,.0f} ms",
                         f"{matches:,} matches; tcpdump: {reference:,}", "equal" if matches == reference else "DIFFER"))
            rows.append((f"`ringmon read IN -w OUT {expression}` vs `tcpdump -r IN -w OUT {expression}`",
                         f"{read_s:.2f} s vs {tcpdump_s:.2f} s",
                         f"{read_s / tcpdump_s:.2f}x (target <= {TARGET_RATIO:.0f}x)",
                         f"{packet_count(ours):,} packets, " + ("byte-identical" if identical else "FILES DIFFER")))
        pcapng_ours, pcapng_theirs = os.path.join(out, "ringmon.pcapng"), os.path.join(out, "editcap.pcapng")
        with PacketStore.open_file(source) as store:
            store.wait()
            export_s, result = timed(lambda: store.export(fresh(pcapng_ours), "pcapng"), args.runs)
        editcap_s, _ = timed(lambda: run("editcap", "-F", "pcapng", source, fresh(pcapng_theirs)), args.runs)
        rows.append(("every packet to pcapng: PacketStore.export vs `editcap -F pcapng`",
                     f"{size_mb / export_s:,.0f} MB/s vs {size_mb / editcap_s:,.0f} MB/s",
                     f"{export_s:.2f} s vs {editcap_s:.2f} s", f"{result.packets:,} packets"))
        if not args.no_wireshark:
            ws_ours, ws_theirs = os.path.join(out, "ws-ringmon.pcapng"), os.path.join(out, "ws-tshark.pcapng")

            def wireshark_path() -> int:
                with PacketStore.open_file(source) as store:
                    compiled = store.compile_filter(WIRESHARK_EXPRESSION, "wireshark")
                    for _ in compiled.run():
                        pass
                    return store.export(fresh(ws_ours), "pcapng", compiled.selection).packets

            ws_s, ws_matches = timed(wireshark_path, 1)
            tshark_s, _ = timed(lambda: run("tshark", "-r", source, "-Y", WIRESHARK_EXPRESSION, "-w",
                                            fresh(ws_theirs)), 1)
            reference = packet_count(ws_theirs)
            rows.append((f"Wireshark filter `{WIRESHARK_EXPRESSION}` + export vs `tshark -r IN -Y … -w OUT`",
                         f"{ws_s:.1f} s vs {tshark_s:.1f} s", f"{ws_s / tshark_s:.2f}x",
                         f"{ws_matches:,} packets; tshark: {reference:,}"))
    print("| what | ringmon vs the tool | ratio / count | result |")
    print("|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
