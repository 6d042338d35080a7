"""Proof that the namespace, veth and frame helpers every network test builds on do what they promise."""

import os
import pathlib
import shutil
import socket
import subprocess
import threading
import time

import dpkt
import pytest

import netns

pytest_plugins = ["pytester"]

TESTS_DIR = pathlib.Path(__file__).parent
SO_RCVBUFFORCE = 33  # socket(7); Python's socket module does not export it
# Room for every frame of a test burst: this test reads only after sending, and the default
# rmem (~208 KiB) holds fewer than a hundred full-size frames.
CAPTURE_RCVBUF_BYTES = 4 << 20
RECV_TIMEOUT_S = 5.0
QUIET_WINDOW_S = 0.3


def receive_frames(sock: socket.socket, count: int, timeout_s: float = RECV_TIMEOUT_S) -> list[bytes]:
    """Up to `count` frames from `sock`, stopping early when `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    frames = []
    while len(frames) < count:
        remaining_s = deadline - time.monotonic()
        if remaining_s <= 0:
            break
        sock.settimeout(remaining_s)
        try:
            frames.append(sock.recv(netns.MAX_FRAME_LEN + 100))
        except TimeoutError:
            break
    return frames


def open_capture(ns: str, ifname: str) -> socket.socket:
    sock = netns.open_packet_socket(ns, ifname)
    sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, CAPTURE_RCVBUF_BYTES)
    return sock


def test_frames_sent_from_ns_b_arrive_in_ns_a_intact_in_order_and_alone(veth_pair):
    sizes = [netns.MIN_FRAME_LEN + (seq * 37) % (netns.MAX_FRAME_LEN - netns.MIN_FRAME_LEN + 1) for seq in range(200)]
    sizes[:2] = [netns.MIN_FRAME_LEN, netns.MAX_FRAME_LEN]
    frames = [
        netns.make_frame(seq, size, veth_pair.mac_b, veth_pair.mac_a, src_ip=veth_pair.ip_b, dst_ip=veth_pair.ip_a)
        for seq, size in enumerate(sizes)
    ]
    with open_capture(veth_pair.ns_a, veth_pair.if_a) as capture:
        assert netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames) == len(frames)
        received = receive_frames(capture, len(frames))
        # Anything after the burst would be kernel chatter that breaks exact-count capture tests.
        assert receive_frames(capture, 1, timeout_s=QUIET_WINDOW_S) == []
    assert received == frames
    assert [netns.check_frame(frame) for frame in received] == list(range(len(frames)))


def test_send_frames_paces_frames_pace_us_apart(veth_pair):
    frames = [netns.make_frame(seq, 100, veth_pair.mac_b, veth_pair.mac_a) for seq in range(20)]
    start = time.monotonic()
    netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames, pace_us=5000)
    assert time.monotonic() - start >= 19 * 0.005


def test_send_frames_raises_when_the_time_bound_is_exceeded(veth_pair):
    frames = [netns.make_frame(seq, 100, veth_pair.mac_b, veth_pair.mac_a) for seq in range(1000)]
    with pytest.raises(TimeoutError):
        netns.send_frames(veth_pair.ns_b, veth_pair.if_b, frames, pace_us=1000, timeout_s=0.05)


@pytest.mark.parametrize("size", [netns.MIN_FRAME_LEN, 61, 577, netns.MAX_FRAME_LEN])
def test_check_frame_rejects_every_single_flipped_byte(size):
    frame = netns.make_frame(7, size, "02:00:c6:12:00:02", "02:00:c6:12:00:01")
    assert len(frame) == size
    assert netns.check_frame(frame) == 7
    for position in range(size):
        corrupt = bytearray(frame)
        corrupt[position] ^= 0x01
        with pytest.raises(ValueError):
            netns.check_frame(bytes(corrupt))


@pytest.mark.parametrize("seq", [0, 255, 2**64 - 1])
def test_make_frame_is_exactly_the_size_asked_for_every_size_from_60_to_1514(seq):
    for size in range(netns.MIN_FRAME_LEN, netns.MAX_FRAME_LEN + 1):
        frame = netns.make_frame(seq, size, "02:00:c6:12:00:02", "02:00:c6:12:00:01")
        assert (len(frame), netns.check_frame(frame)) == (size, seq)


@pytest.mark.parametrize("size", [netns.MIN_FRAME_LEN - 1, netns.MAX_JUMBO_FRAME_LEN + 1])
def test_make_frame_refuses_sizes_outside_60_to_9014(size):
    with pytest.raises(ValueError):
        netns.make_frame(0, size, "02:00:c6:12:00:02", "02:00:c6:12:00:01")


def test_tshark_decodes_test_frames_as_udp_with_good_ip_checksums(tmp_path):
    netns.require(shutil.which("tshark") is not None, "tshark not installed (scripts/install.sh installs it)")
    sizes = [netns.MIN_FRAME_LEN, 61, 100, 1000, netns.MAX_FRAME_LEN]
    pcap_path = tmp_path / "frames.pcap"
    with open(pcap_path, "wb") as pcap_file:
        writer = dpkt.pcap.Writer(pcap_file)
        for seq, size in enumerate(sizes):
            writer.writepkt(netns.make_frame(seq, size, "02:00:c6:12:00:02", "02:00:c6:12:00:01"), ts=seq)
    decoded = subprocess.run(
        ["tshark", "-n", "-r", str(pcap_path), "-o", "ip.check_checksum:TRUE", "-T", "fields",
         "-E", "separator=,", "-e", "frame.len", "-e", "ip.checksum.status", "-e", "udp.length",
         "-e", "udp.srcport", "-e", "udp.dstport", "-e", "_ws.expert"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout.splitlines()
    good = "1"  # tshark's checksum status: 0 bad, 1 good, 2 unverified
    assert decoded == [
        f"{size},{good},{size - 34},{netns.UDP_SRC_PORT},{netns.UDP_DST_PORT}," for size in sizes
    ]


def test_in_netns_moves_only_the_calling_thread_and_returns_it(veth_pair):
    def netns_inode() -> int:
        return os.stat("/proc/thread-self/ns/net").st_ino

    home_inode = netns_inode()
    # The other thread must exist before the switch: a thread started inside inherits the namespace.
    switched, looked = threading.Event(), threading.Event()
    other_thread_inodes = []

    def look_while_switched():
        if switched.wait(timeout=10):
            other_thread_inodes.append(netns_inode())
        looked.set()

    other = threading.Thread(target=look_while_switched)
    other.start()
    with netns.in_netns(veth_pair.ns_a):
        assert netns_inode() != home_inode
        assert socket.if_nametoindex(veth_pair.if_a) > 0
        switched.set()
        assert looked.wait(timeout=10)
    other.join(timeout=10)
    assert other_thread_inodes == [home_inode]
    assert netns_inode() == home_inode
    with pytest.raises(OSError):
        socket.if_nametoindex(veth_pair.if_a)


def test_in_netns_returns_the_thread_home_when_the_body_raises(veth_pair):
    home_inode = os.stat("/proc/thread-self/ns/net").st_ino
    with pytest.raises(RuntimeError), netns.in_netns(veth_pair.ns_a):
        raise RuntimeError("body failed")
    assert os.stat("/proc/thread-self/ns/net").st_ino == home_inode


def test_veth_pair_keeps_both_ends_out_of_the_host_never_forwards_and_routes_only_its_subnet(veth_pair):
    host_links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    assert veth_pair.if_a not in host_links and veth_pair.if_b not in host_links
    subnet = veth_pair.ip_a.rsplit(".", 1)[0] + ".0/24"
    for ns in (veth_pair.ns_a, veth_pair.ns_b):
        routes = netns.run_in_netns(ns, ["ip", "-4", "route"], capture_output=True, text=True, check=True).stdout
        assert [route.split()[0] for route in routes.splitlines()] == [subnet]
        forwarding = netns.run_in_netns(ns, ["sysctl", "-n", "net.ipv4.ip_forward"], capture_output=True, text=True)
        assert forwarding.stdout.strip() == "0"
        ipv6_addresses = netns.run_in_netns(ns, ["ip", "-6", "addr"], capture_output=True, text=True, check=True)
        assert ipv6_addresses.stdout == ""


def test_udp_crosses_the_pair_through_the_kernel_stack(veth_pair):
    with netns.in_netns(veth_pair.ns_a):
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with netns.in_netns(veth_pair.ns_b):
        sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with receiver, sender:
        receiver.bind((veth_pair.ip_a, netns.UDP_DST_PORT))
        receiver.settimeout(RECV_TIMEOUT_S)
        sender.sendto(b"hello", (veth_pair.ip_a, netns.UDP_DST_PORT))
        payload, (source_ip, _) = receiver.recvfrom(100)
    assert (payload, source_ip) == (b"hello", veth_pair.ip_b)


def test_make_veth_pair_gives_each_pair_its_own_namespaces_and_subnet(make_veth_pair):
    first, second = make_veth_pair(), make_veth_pair()
    assert len({first.ns_a, first.ns_b, second.ns_a, second.ns_b}) == 4
    assert first.ip_a != second.ip_a
    assert set(netns.namespaces_of_this_process()) >= {first.ns_a, first.ns_b, second.ns_a, second.ns_b}


def test_namespaces_are_deleted_when_a_test_using_the_fixture_fails(pytester, monkeypatch):
    netns.require_netns_privileges()
    names_file = pytester.path / "namespaces.txt"
    pytester.makeconftest((TESTS_DIR / "conftest.py").read_text())
    pytester.makepyfile(
        f"""
        import os

        def test_fails_while_holding_two_pairs(make_veth_pair):
            pairs = [make_veth_pair(), make_veth_pair()]
            names = [ns for pair in pairs for ns in (pair.ns_a, pair.ns_b)]
            assert all(os.path.exists("/run/netns/" + ns) for ns in names)
            with open({str(names_file)!r}, "w") as names_out:
                names_out.write(" ".join(names))
            raise RuntimeError("deliberate failure")
        """
    )
    monkeypatch.setenv("PYTHONPATH", str(TESTS_DIR))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*deliberate failure*"])
    names = names_file.read_text().split()
    assert len(names) == 4
    assert [ns for ns in names if os.path.exists(os.path.join(netns.NETNS_DIR, ns))] == []


def test_require_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "")
    with pytest.raises(pytest.skip.Exception):
        netns.require(False, "no capability")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no capability"):
        netns.require(False, "no capability")
    netns.require(True, "never raised")
