"""tcpdump's flags on `ringmon capture` (-D -L -y -Q -B -U -l -n -F --version), each on real interfaces in
namespaces the test creates, compared with tcpdump where both do the same thing."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import time

import pytest
from cli_process import (
    EXIT_TIMEOUT_S,
    RunningCapture,
    RunningTcpdump,
    assert_one_error_line,
    run_ringmon,
    summary_counts,
    tshark_packets,
    wait_settled,
)

import netns
from capture_files import pcap

PCAP_FILE_HEADER = 24
PCAP_RECORD_HEADER = 16


def _ip_json(ns: str, *args: str) -> list[dict]:
    return json.loads(subprocess.run(["ip", "-n", ns, "-j", *args], check=True, capture_output=True,
                                     timeout=EXIT_TIMEOUT_S).stdout)


def _tcpdump(ns: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", ns, "tcpdump", *args], capture_output=True, text=True,
                          timeout=EXIT_TIMEOUT_S)


def test_D_lists_the_interfaces_ip_link_shows_with_tcpdumps_own_lines_and_numbers(veth_pair):
    subprocess.run(["ip", "-n", veth_pair.ns_a, "tuntap", "add", "dev", "rmttap0", "mode", "tap"], check=True,
                   timeout=EXIT_TIMEOUT_S)  # down, beside the veth end (up) and lo (down)
    subprocess.run(["ip", "-n", veth_pair.ns_b, "link", "set", veth_pair.if_b, "down"], check=True,
                   timeout=EXIT_TIMEOUT_S)  # the veth end up, its peer down: no carrier, Disconnected
    deadline = time.monotonic() + 10  # the kernel's link watch passes the carrier on a moment later
    while "NO-CARRIER" not in _ip_json(veth_pair.ns_a, "link", "show", veth_pair.if_a)[0]["flags"]:
        assert time.monotonic() < deadline, "the veth end never lost its carrier"
        time.sleep(0.05)
    result = run_ringmon("capture", "-D", "--netns", veth_pair.ns_a)
    assert result.returncode == 0, result.stderr
    ours = result.stdout.decode().splitlines()
    links = {link["ifname"]: "UP" in link["flags"] for link in _ip_json(veth_pair.ns_a, "link")}
    shown = {re.match(r"\d+\.(\S+)", line).group(1): line for line in ours}
    assert set(shown) == set(links) == {"lo", veth_pair.if_a, "rmttap0"}
    for name, up in links.items():
        assert ("[Up," in shown[name]) == up, shown[name]
    assert shown[veth_pair.if_a].endswith(f".{veth_pair.if_a} [Up, Disconnected]"), shown[veth_pair.if_a]
    # every line is tcpdump's own for that interface, its number too (tcpdump's pseudo-devices are left out)
    theirs = _tcpdump(veth_pair.ns_a, "-D").stdout.splitlines()
    assert all(line in theirs for line in ours), (ours, theirs)
    assert [line for line in theirs if re.match(r"\d+\.(\S+)", line).group(1) in links] == ours

    # -i takes the number -D gives, as tcpdump's does
    number = re.match(r"(\d+)\.", shown[veth_pair.if_a]).group(1)
    listed = run_ringmon("capture", "-L", "--netns", veth_pair.ns_a, "-i", number)
    assert listed.stderr_lines == [f"Data link types for {veth_pair.if_a} (use option -y to set):",
                                                   "  EN10MB (Ethernet)"]
    assert_one_error_line(run_ringmon("capture", "-L", "--netns", veth_pair.ns_a, "-i", "99"),
                          "no interface number 99", "-D")


def test_L_lists_the_link_type_tcpdump_lists_first_and_y_takes_only_that_one(veth_pair, tmp_path):
    listed = run_ringmon("capture", "-L", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a)
    assert listed.returncode == 0, listed.stderr
    theirs = _tcpdump(veth_pair.ns_a, "-L", "-i", veth_pair.if_a)
    # tcpdump prints the heading and the list on stderr, nothing on stdout: ringmon too
    assert listed.stdout == b"" and theirs.stdout == ""
    assert listed.stderr_lines == theirs.stderr.splitlines()[:2]  # tcpdump offers DOCSIS too, which ringmon does not

    frames = veth_pair.frames_to_a(range(3))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-y", "en10mb", "-c", "3",
                        "--count-only") as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        result = capture.finish()
    assert result.returncode == 0 and summary_counts(result.stderr)["captured"] == 3, result.stderr

    assert_one_error_line(run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-y", "DOCSIS"),
                          f"{veth_pair.if_a} does not offer link type DOCSIS", "EN10MB (Ethernet)", "-L")
    assert_one_error_line(run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-y", "NOSUCH"),
                          "-y", "'NOSUCH' is not a link type")
    # a tun device carries bare IP packets: RAW, as tcpdump names it
    subprocess.run(["ip", "-n", veth_pair.ns_a, "tuntap", "add", "dev", "rmttun2", "mode", "tun"], check=True,
                   timeout=EXIT_TIMEOUT_S)
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", "rmttun2", "up"], check=True, timeout=EXIT_TIMEOUT_S)
    listed = run_ringmon("capture", "-L", "--netns", veth_pair.ns_a, "-i", "rmttun2")
    theirs = _tcpdump(veth_pair.ns_a, "-L", "-i", "rmttun2").stderr.splitlines()
    assert listed.stdout == b""
    assert listed.stderr_lines == theirs == ["Data link types for rmttun2 (use option -y to set):",
                                                             "  RAW (Raw IP)"]


def _udp_on_loopback(ns: str, count: int) -> None:
    """`count` datagrams to a socket listening on 127.0.0.1 inside `ns`."""
    with netns.in_netns(ns):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind(("127.0.0.1", netns.UDP_DST_PORT))
        for seq in range(count):
            sender.sendto(b"ringmon %d" % seq, ("127.0.0.1", netns.UDP_DST_PORT))


def test_Q_takes_the_packets_tcpdump_Q_takes_each_way(veth_pair, tmp_path):
    where = ["--netns", veth_pair.ns_a, "-i", veth_pair.if_a]
    captures = {direction: RunningCapture(tmp_path / direction, *where, "-Q", direction, "--count-only")
                for direction in ("in", "out", "inout") if (tmp_path / direction).mkdir() is None}
    tcpdumps = {direction: RunningTcpdump(veth_pair.ns_a, veth_pair.if_a, tmp_path / f"tcpdump-{direction}.pcap",
                                          "-Q", direction) for direction in ("in", "out")}
    try:
        netns.send_frames(veth_pair.ns_a, veth_pair.if_a, veth_pair.frames_to_b(range(7)))  # sent: out
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(20)))  # received: in
        theirs = {direction: tcpdump.finish() for direction, tcpdump in tcpdumps.items()}
        for capture in captures.values():
            capture.signal(signal.SIGINT)
        ours = {direction: summary_counts(capture.finish().stderr)["captured"]
                for direction, capture in captures.items()}
    finally:
        for capture in captures.values():
            capture.__exit__()
    assert ours == {"in": 20, "out": 7, "inout": 27}
    assert theirs == {"in": 20, "out": 7}


def test_Q_on_loopback_sees_each_packet_once_coming_in_as_tcpdump_does(namespace, tmp_path):
    subprocess.run(["ip", "-n", namespace, "link", "set", "lo", "up"], check=True, timeout=EXIT_TIMEOUT_S)
    captures = {direction: RunningCapture(tmp_path / direction, "--netns", namespace, "-i", "lo", "-Q", direction,
                                          "--count-only")
                for direction in ("in", "out") if (tmp_path / direction).mkdir() is None}
    tcpdumps = {direction: RunningTcpdump(namespace, "lo", tmp_path / f"tcpdump-{direction}.pcap", "-Q", direction)
                for direction in ("in", "out")}
    try:
        _udp_on_loopback(namespace, 4)
        theirs = {direction: tcpdump.finish() for direction, tcpdump in tcpdumps.items()}
        for capture in captures.values():
            capture.signal(signal.SIGINT)
        finished = {direction: capture.finish() for direction, capture in captures.items()}
    finally:
        for capture in captures.values():
            capture.__exit__()
    ours = {direction: summary_counts(result.stderr)["captured"] for direction, result in finished.items()}
    assert ours == theirs == {"in": 4, "out": 0}
    assert "lo is loopback: each packet is seen once, coming in, so -Q out takes none" in finished["out"].stderr


def _kernel_ring_bytes(pid: int) -> int:
    """The size of the packet socket's ring mapped into the process."""
    with open(f"/proc/{pid}/maps") as maps:
        sizes = [int(end, 16) - int(start, 16) for start, end in
                 (line.split()[0].split("-") for line in maps if "socket:" in line)]
    assert len(sizes) == 1, sizes
    return sizes[0]


@pytest.mark.parametrize(("flags", "ring_bytes"), [([], 8 << 20), (["-B", "1024"], 1 << 20), (["-B", "1000"], 1 << 20),
                                                   (["-B", "256"], 256 << 10)],
                         ids=["default", "1-MiB", "rounded-up-to-blocks", "one-block"])
def test_B_sizes_the_kernel_ring_and_it_still_captures(veth_pair, tmp_path, flags, ring_bytes):
    frames = veth_pair.frames_to_a(range(50))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, *flags,
                        "-w", str(tmp_path / "out.pcap")) as capture:
        assert _kernel_ring_bytes(capture.process.pid) == ring_bytes
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
        wait_settled()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    counts = summary_counts(result.stderr)
    captured = [packet.frame for packet in tshark_packets(tmp_path / "out.pcap")]
    assert len(captured) == counts["captured"] > 0
    # A one-block ring is the kernel's while the capture copies it: what arrives then is dropped there (as
    # tcpdump's with -B 256), and counted. Every frame is either in the file, in order, or a kernel drop.
    assert counts["captured"] + counts["dropped by kernel"] == len(frames), result.stderr
    assert captured == [frame for frame in frames if frame in captured]
    if ring_bytes > 256 << 10:
        assert captured == frames


@pytest.mark.parametrize(("kib", "fragments"), [("100", ["100 KiB does not fit", "256 KiB", "-B 256"]),
                                                ("1000000000000", ["does not fit", "memory"]),
                                                ("8M", ["-B", "'8M' is not a number of KiB"])],
                         ids=["less-than-a-block", "more-than-memory", "not-a-number"])
def test_B_that_does_not_fit_is_one_error_line(veth_pair, kib, fragments):
    assert_one_error_line(run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-B", kib),
                          *fragments)


def _read_for(reader: int, seconds: float, wanted: int) -> bytes:
    """What a FIFO's reader gets within `seconds` (stopping early once it has `wanted` bytes)."""
    got = b""
    deadline = time.monotonic() + seconds
    while len(got) < wanted and time.monotonic() < deadline:
        if select.select([reader], [], [], max(0.0, deadline - time.monotonic()))[0]:
            chunk = os.read(reader, 1 << 16)
            if not chunk:
                break
            got += chunk
    return got


@pytest.mark.parametrize("packet_buffered", [True, False], ids=["U", "buffered"])
def test_U_hands_a_fifo_reader_each_batch_while_the_capture_runs(veth_pair, tmp_path, packet_buffered):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # before ringmon, which waits for a reader
    frames = veth_pair.frames_to_a(range(5), 200)
    whole = PCAP_FILE_HEADER + sum(PCAP_RECORD_HEADER + len(frame) for frame in frames)
    try:
        with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-w", str(fifo),
                            *(["-U"] if packet_buffered else [])) as capture:
            netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames)
            during = _read_for(reader, 5.0 if packet_buffered else 1.0, whole)
            capture.signal(signal.SIGINT)
            result = capture.finish()
        after = _read_for(reader, EXIT_TIMEOUT_S, 1 << 30)
    finally:
        os.close(reader)
    assert result.returncode == 0, result.stderr
    # -U: all of it while ringmon still runs; without, nothing before the end (the 1 MiB buffer is not full)
    assert len(during) == (whole if packet_buffered else 0)
    (tmp_path / "read.pcap").write_bytes(during + after)
    assert [packet.frame for packet in tshark_packets(tmp_path / "read.pcap")] == frames


def test_l_and_n_print_each_line_to_a_pipe_as_it_comes_without_names(veth_pair, tmp_path):
    with RunningCapture(tmp_path, "-l", "-n", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a,
                        stdout_pipe=True) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(1)))
        assert select.select([capture.process.stdout], [], [], 10.0)[0], "no line reached the pipe while ringmon ran"
        line = capture.process.stdout.readline().decode()
        assert capture.process.poll() is None
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert veth_pair.ip_b in line and veth_pair.ip_a in line, line


def test_F_reads_the_filter_as_tcpdump_does_comments_and_all(veth_pair, tmp_path):
    expression = tmp_path / "filter"
    expression.write_text("# one port only\nudp # a comment\nand dst port 40001\n")
    udp = veth_pair.frames_to_a(range(10))
    tcpdump = RunningTcpdump(veth_pair.ns_a, veth_pair.if_a, tmp_path / "tcpdump.pcap", "-F", str(expression))
    with RunningCapture(tmp_path, "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-F", str(expression),
                        "-w", str(tmp_path / "ours.pcap")) as capture:
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, udp)
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, veth_pair.frames_to_a(range(5), dst_port=40002))
        theirs = tcpdump.finish()
        capture.signal(signal.SIGINT)
        result = capture.finish()
    assert result.returncode == 0, result.stderr
    assert [packet.frame for packet in tshark_packets(tmp_path / "ours.pcap")] == udp
    assert theirs == len(udp)


@pytest.mark.parametrize("command", ["capture", "read"])
def test_F_with_an_expression_too_is_a_usage_error_and_a_missing_file_a_runtime_one(veth_pair, tmp_path, command):
    """tcpdump would silently ignore the expression and capture more than asked: ringmon refuses, exit 2 as
    --help says of usage errors; a filter file that cannot be read is an error of the world, exit 1."""
    expression = tmp_path / "filter"
    expression.write_text("udp\n")
    source = tmp_path / "in.pcap"
    source.write_bytes(pcap(veth_pair.frames_to_a(range(2))))
    where = (["--netns", veth_pair.ns_a, "-i", veth_pair.if_a] if command == "capture" else [str(source)])
    both = run_ringmon(command, *where, "-F", str(expression), "icmp")
    assert_one_error_line(both, f"-F {expression} gives the filter", "'icmp'", "ignored", f"'ringmon {command} --help'")
    assert both.returncode == 2
    missing = run_ringmon(command, *where, "-F", str(tmp_path / "none"))
    assert_one_error_line(missing, str(tmp_path / "none"), "No such file")
    assert missing.returncode == 1
    help_text = run_ringmon(command, "--help").stdout.decode()
    assert "usage error, exit status 2" in " ".join(help_text.split())


def test_version_names_ringmon_and_the_libpcap_tcpdump_uses():
    result = run_ringmon("capture", "--version")
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert re.fullmatch(r"ringmon version \d+\.\d+\.\S+", lines[0])
    tcpdump_libpcap = subprocess.run(["tcpdump", "--version"], capture_output=True, text=True).stdout.splitlines()[1]
    assert lines[1] == tcpdump_libpcap  # the system's libpcap, linked by the C library (display filters)
    # then the other libpcap, named by its role: pcapy-ng's own, which compiles capture filters
    assert re.fullmatch(r"capture filters compiled by pcapy-ng's libpcap version \d+\.\d+\.\S+.*", lines[2]), lines[2]
    assert len(lines) == 3
    assert run_ringmon("--version").stdout == result.stdout


def test_a_down_interface_is_one_line_saying_so(veth_pair):
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", veth_pair.if_a, "down"], check=True,
                   timeout=EXIT_TIMEOUT_S)
    assert_one_error_line(run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a),
                          f"{veth_pair.if_a} is down", f"ip link set {veth_pair.if_a} up")


def test_a_filter_that_does_not_compile_on_one_of_two_interfaces_names_it_with_libpcaps_words(veth_pair):
    subprocess.run(["ip", "-n", veth_pair.ns_a, "tuntap", "add", "dev", "rmttun0", "mode", "tun"], check=True,
                   timeout=EXIT_TIMEOUT_S)
    subprocess.run(["ip", "-n", veth_pair.ns_a, "link", "set", "rmttun0", "up"], check=True, timeout=EXIT_TIMEOUT_S)
    # a MAC address means something on Ethernet, nothing on raw IP
    result = run_ringmon("capture", "--netns", veth_pair.ns_a, "-i", veth_pair.if_a, "-i", "rmttun0",
                         "ether", "host", veth_pair.mac_b)
    assert_one_error_line(result, "rmttun0: filter", "does not compile")
    assert veth_pair.if_a not in result.stderr and "is up" not in result.stderr


@pytest.mark.parametrize("command", ["read", "capture"])
def test_read_and_capture_r_take_F_and_n_as_tcpdump_r_does(veth_pair, tmp_path, command):
    """A file's packets written through -F's filter: the same ones tcpdump -r -F writes."""
    frames = veth_pair.frames_to_a(range(6)) + veth_pair.frames_to_a(range(6, 10), dst_port=40002)
    source = tmp_path / "in.pcap"
    source.write_bytes(pcap(frames))
    expression = tmp_path / "filter"
    expression.write_text("udp dst port 40002 # the last four\n")
    args = (["read", str(source)] if command == "read" else ["capture", "-r", str(source)])
    result = run_ringmon(*args, "-n", "-F", str(expression), "-w", str(tmp_path / "ours.pcap"))
    assert result.returncode == 0, result.stderr
    subprocess.run(["tcpdump", "-r", str(source), "-F", str(expression), "-w", str(tmp_path / "theirs.pcap")],
                   check=True, capture_output=True, timeout=EXIT_TIMEOUT_S)
    ours = [packet.frame for packet in tshark_packets(tmp_path / "ours.pcap")]
    assert ours == [packet.frame for packet in tshark_packets(tmp_path / "theirs.pcap")] == frames[6:]
