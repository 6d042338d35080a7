"""ringcore's libFuzzer targets (tests/ringcore/fuzz/*.c): built with clang under ASan+UBSan, their seed inputs
made of real frames, and one run of a target, which fails the test on a crash, a hang or a sanitizer report."""
from __future__ import annotations

import os
import random
import re
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from targets import CORPUS, SAVE_CRASHERS

import capture_files as cf
import netns

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "ringcore" / "src"
HARNESSES = ROOT / "tests" / "ringcore" / "fuzz"
C_TEST_HELPERS = ROOT / "tests" / "ringcore" / "c"  # helpers.h: its capture-file reader reads the writer's files back
C_TARGETS = ("talkers", "writer", "store_file")
CLANG_FLAGS = ["-std=gnu11", "-pthread", "-g", "-O1", "-fno-omit-frame-pointer", "-Wall", "-Wextra", "-Werror",
               "-fsanitize=fuzzer,address,undefined", "-fno-sanitize-recover=all", f"-I{SRC}", f"-I{C_TEST_HELPERS}"]
SANITIZER_OPTIONS = {"ASAN_OPTIONS": "detect_leaks=1 halt_on_error=1", "UBSAN_OPTIONS": "print_stacktrace=1 halt_on_error=1"}
# libFuzzer exits non-zero on each of these; the output is checked too, so a report can never pass unseen
FAULT_REPORT = re.compile(r"ERROR: (libFuzzer|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:")
# One input running this long is a hang, a fault like a crash.
INPUT_TIMEOUT_S = 10
BUILD_TIMEOUT_S = 180
# The writer target creates, fsyncs and renames a file per input: on a tmpfs that costs a third of the time on disk.
FILES_DIR = "/dev/shm" if os.path.isdir("/dev/shm") else None
OUTPUT_TAIL_LINES = 60
ARTIFACTS = ("crash-*", "leak-*", "timeout-*", "oom-*")  # the inputs libFuzzer keeps, by kind of fault
SHOWN_INPUT_BYTES = 4096


def build(target: str, out_dir: Path) -> Path:
    """The target's fuzzer, linked with every ringcore source (instrumented, so coverage guides the fuzzer there)."""
    netns.require(shutil.which("clang") is not None, "clang is not installed (scripts/install.sh installs it)")
    exe = out_dir / f"fuzz_{target}"
    built = subprocess.run(["clang", *CLANG_FLAGS, str(HARNESSES / f"fuzz_{target}.c"), *map(str, sorted(SRC.glob("*.c"))),
                            "-lpcap", "-o", str(exe)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert built.returncode == 0, f"fuzz_{target}.c does not build:\n{built.stderr}"
    return exe


def corpus_dir(target: str) -> Path:
    return CORPUS / "c" / target


def corpus_files(target: str) -> list[Path]:
    """The target's regression corpus: crashers the fuzzer found, kept by scripts/fuzz.sh."""
    directory = corpus_dir(target)
    return sorted(path for path in directory.iterdir() if path.name != "pending-crash") if directory.is_dir() else []


@dataclass
class FuzzRun:
    executions: int
    coverage: int  # edges covered
    features: int
    corpus: int  # inputs in the corpus at the end
    seed: int


def _stat(pattern: str, output: str) -> int:
    found = re.findall(pattern, output)
    return int(found[-1]) if found else 0


def _fail(target: str, exe: Path, result: subprocess.CompletedProcess, artifacts: list[Path], seed: int | None) -> None:
    """Fail the test with what reproduces the fault: the input (kept in the corpus when saving), and the command."""
    if SAVE_CRASHERS and artifacts:
        corpus_dir(target).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifacts[0], corpus_dir(target) / "pending-crash")
    tail = "\n".join(result.stderr.splitlines()[-OUTPUT_TAIL_LINES:])
    found = "".join(f"input {path} (hex, up to {SHOWN_INPUT_BYTES} bytes): {path.read_bytes()[:SHOWN_INPUT_BYTES].hex()}\n"
                    for path in artifacts[:1])
    pytest.fail(f"fuzz_{target} (seed {seed}) exited {result.returncode}\n{tail}\n{found}"
                f"reproduce: {exe} INPUT", pytrace=False)


def _run(target: str, exe: Path, args: list[str], work: Path, timeout_s: float, seed: int | None = None):
    work.mkdir(parents=True, exist_ok=True)
    command = [str(exe), f"-timeout={INPUT_TIMEOUT_S}", f"-artifact_prefix={work}/", *args]
    with tempfile.TemporaryDirectory(prefix="ringmon-fuzz-", dir=FILES_DIR) as files_dir:
        env = {**os.environ, **SANITIZER_OPTIONS, "TMPDIR": files_dir}
        result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout_s)
    if result.returncode != 0 or FAULT_REPORT.search(result.stderr):
        _fail(target, exe, result, sorted(path for kind in ARTIFACTS for path in work.glob(kind)), seed)
    return result


def replay(target: str, exe: Path, inputs: list[Path], work: Path) -> None:
    """Each input run once: no crash, no report."""
    _run(target, exe, [str(path) for path in inputs], work, timeout_s=INPUT_TIMEOUT_S * (len(inputs) + 6))


def fuzz(target: str, exe: Path, seconds: int, work: Path) -> FuzzRun:
    """Fuzz for `seconds` from the seeds and the regression corpus (read only: new inputs go to `work`)."""
    seed = random.randrange(1, 2**31)  # logged in a failure; a fixed -max_total_time never repeats a run exactly anyway
    seeds = write_seeds(target, work / "seeds")
    found = work / "found"
    found.mkdir(parents=True)
    dirs = [found, seeds] + ([corpus_dir(target)] if corpus_files(target) else [])
    result = _run(target, exe, [f"-max_total_time={seconds}", f"-seed={seed}", "-print_final_stats=1", *map(str, dirs)],
                  work, timeout_s=seconds + BUILD_TIMEOUT_S, seed=seed)
    return FuzzRun(executions=_stat(r"stat::number_of_executed_units: (\d+)", result.stderr),
                   coverage=_stat(r"cov: (\d+)", result.stderr), features=_stat(r"ft: (\d+)", result.stderr),
                   corpus=_stat(r"corp: (\d+)", result.stderr), seed=seed)


# ---- seeds: the targets' input formats (documented in their .c files) filled with real frames ------------------

MAC_A, MAC_B = "02:00:c6:12:00:01", "02:00:c6:12:00:02"
IPV4_UDP = netns.make_frame(1, 74, MAC_B, MAC_A)
VLAN = netns.with_vlan_tag(IPV4_UDP, 7)
_OUTER_TAGGED = netns.with_vlan_tag(VLAN, 9)
QINQ = _OUTER_TAGGED[:12] + struct.pack("!H", 0x88A8) + _OUTER_TAGGED[14:]  # 802.1ad service tag outside the 802.1Q one
IPV6_UDP = (bytes.fromhex("020000c61201" "020000c61202" "86dd")
            + bytes.fromhex("60000000" "000d1140" "20010db8000000000000000000000002" "20010db8000000000000000000000001")
            + struct.pack("!HHHH", 40000, 40001, 13, 0) + b"hello")
ARP_REQUEST = (bytes.fromhex("ffffffffffff" "020000c61202" "0806" "0001080006040001" "020000c61202" "c6120002")
               + bytes(6) + bytes.fromhex("c6120001"))
ETHERNET_FRAMES = (IPV4_UDP, VLAN, QINQ, IPV6_UDP, ARP_REQUEST)
# each cut inside a header the talkers parser reads: type, VLAN tag, IP addresses
CUT_FRAMES = (IPV4_UDP[:13], IPV4_UDP[:33], VLAN[:17], VLAN[:37], QINQ[:21], IPV6_UDP[:53], ARP_REQUEST[:6])
IP_PACKETS = (IPV4_UDP[14:], IPV6_UDP[14:], IPV4_UDP[14:33], IPV6_UDP[14:53], b"\x45", b"")
T0_NS = 1_700_000_000 * 10**9 + 123_456_789
NS_2106 = 2**32 * 10**9  # pcap's 32-bit seconds end here
U64_MAX = 2**64 - 1
# talkers: link type indices and control bits (fuzz_talkers.c)
ETHERNET, RAW_IP, IPV4_ONLY, IPV6_ONLY, NOT_PARSED = range(5)
END_BATCH, READ_TOP, READ_ALL = 1, 2, 62 << 2
FILL_TABLE = 0xE


def talkers_input(linktype: int, frames, *, one_window: bool = True, reads_at=(), wirelen_extra: int = 0,
                  short_of_full: int | None = None) -> bytes:
    """Every frame one second after the other; the last one ends the batch and reads the whole table, at each of
    `reads_at` (outside "one window" mode) in turn.  short_of_full: the table is first filled to that many
    conversations short of full."""
    fill = 0 if short_of_full is None else FILL_TABLE | short_of_full << 4
    out = bytes([linktype, one_window | fill])
    for i, frame in enumerate(frames):
        last = i == len(frames) - 1
        control = READ_TOP | READ_ALL if last else END_BATCH * (i % 4 == 3)
        out += struct.pack("<BHIQI", control, len(frame),
                           len(frame) + wirelen_extra, T0_NS + i * 10**9, 0) + frame
        if last and not one_window:
            out += struct.pack("<Q", reads_at[0] if reads_at else T0_NS)
    for now_ns in reads_at[1:]:
        out += struct.pack("<BHIQI", READ_TOP | READ_ALL, 0, 0, now_ns, 0) + struct.pack("<Q", now_ns)
    return out


# writer: formats and control bits (fuzz_writer.c)
PCAP_US, PCAP_NS, PCAPNG = range(3)
WRITER_END_BATCH, LARGE = 8, 16
BAD_INTERFACE = 7


def writer_record(frame: bytes, ifid: int, *, ts_ns: int = T0_NS, wirelen: int | None = None, end_batch: bool = True,
                  caplen: int | None = None, control: int = 0) -> bytes:
    caplen = len(frame) if caplen is None else caplen
    control |= ifid | (WRITER_END_BATCH if end_batch else 0)
    return struct.pack("<BIIQI", control, caplen, len(frame) if wirelen is None else wirelen, ts_ns, 0) + frame


def writer_input(file_format: int, interfaces: int, records, snaplen: int = 262144) -> bytes:
    return struct.pack("<BBI", file_format, interfaces - 1, snaplen) + b"".join(records)


def _writer_seeds() -> dict[str, bytes]:
    frames = [writer_record(frame, i % 2, ts_ns=T0_NS + i * 1_001_001, end_batch=i % 2 == 1)
              for i, frame in enumerate(ETHERNET_FRAMES)]
    odd_headers = [writer_record(b"", 0), writer_record(IPV4_UDP, 1, wirelen=20), writer_record(VLAN, 0, wirelen=2**32 - 1),
                   *(writer_record(ARP_REQUEST, 1, ts_ns=ts) for ts in (0, NS_2106 - 1, NS_2106, NS_2106 + 999_999_999, U64_MAX))]
    seeds = {f"{name}-frames-and-odd-headers": writer_input(fmt, 2, frames + odd_headers)
             for name, fmt in (("pcap-us", PCAP_US), ("pcap-ns", PCAP_NS), ("pcapng", PCAPNG))}
    seeds["unknown-interfaces"] = writer_input(PCAPNG, 1, [writer_record(IPV4_UDP, 3), writer_record(IPV4_UDP, BAD_INTERFACE),
                                                           writer_record(IPV4_UDP, 0)])
    for name, fmt, fits in (("pcap", PCAP_US, 2**20 - 16), ("pcapng", PCAPNG, 2**20 - 32)):
        # the largest record the write buffer holds is written, one byte more is refused with the batch's rest
        seeds[f"{name}-record-filling-the-buffer"] = writer_input(fmt, 1, [
            writer_record(IPV4_UDP, 0, end_batch=False), writer_record(b"", 0, caplen=fits, control=LARGE)])
        seeds[f"{name}-record-past-the-buffer"] = writer_input(fmt, 1, [
            writer_record(IPV4_UDP, 0, end_batch=False), writer_record(b"", 0, caplen=fits + 4, control=LARGE)])
    return seeds


def _store_file_seeds() -> dict[str, bytes]:
    """Files of each form the indexer reads, with real frames, so the fuzzer starts past the framing."""
    frames = list(ETHERNET_FRAMES)
    big_endian = (cf.section_header(">") + cf.interface([(cf.OPT_IF_TSRESOL, b"\x89")], 64, 101, ">")
                  + cf.simple_packet(IP_PACKETS[0], order=">")
                  + cf.enhanced_packet(IP_PACKETS[1], 2**40, order=">"))
    commented = cf.block(cf.EPB, struct.pack("<IIIII", 1, 0, 7, len(VLAN), len(VLAN)) + cf.padded(VLAN)
                         + cf.options([(cf.OPT_COMMENT, b"caf\xe9 \x1b[31m"), (cf.OPT_COMMENT, b"two")]))
    return {
        "pcap-us": cf.pcap(frames),
        "pcap-ns-big-endian": struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 0, 1) + b"".join(
            struct.pack(">IIII", 1_700_000_000, i, len(frame), len(frame) + i) + frame for i, frame in enumerate(frames)),
        "pcapng-two-sections-comments": (cf.pcapng(frames, [(cf.OPT_IF_NAME, b"eth0"),
                                                            (cf.OPT_IF_TSOFFSET, struct.pack("<q", -5))])
                                         + cf.interface([(cf.OPT_IF_NAME, b"if\x1b]0;x\x07")]) + commented
                                         + cf.block(0x0BAD, b"unknown") + big_endian),
    }


def seed_inputs(target: str) -> dict[str, bytes]:
    if target == "writer":
        return _writer_seeds()
    if target == "store_file":
        return _store_file_seeds()
    return {
        "ethernet-frames": talkers_input(ETHERNET, ETHERNET_FRAMES),
        "ethernet-frames-cut-in-headers": talkers_input(ETHERNET, CUT_FRAMES, wirelen_extra=1000),
        "raw-ip": talkers_input(RAW_IP, IP_PACKETS),
        "ipv4-link-type": talkers_input(IPV4_ONLY, IP_PACKETS),
        "ipv6-link-type": talkers_input(IPV6_ONLY, IP_PACKETS),
        "link-type-not-parsed": talkers_input(NOT_PARSED, ETHERNET_FRAMES),
        "table-filling-up": talkers_input(ETHERNET, ETHERNET_FRAMES, short_of_full=1),
        "clock-steps": talkers_input(ETHERNET, ETHERNET_FRAMES * 2, one_window=False,
                                     reads_at=(T0_NS + 20 * 10**9, T0_NS - 100 * 10**9, 0, U64_MAX, T0_NS)),
    }


def write_seeds(target: str, directory: Path) -> Path:
    directory.mkdir(parents=True)
    for name, data in seed_inputs(target).items():
        (directory / name).write_bytes(data)
    return directory
