"""Network namespaces, veth pairs and test frames for tests that put real packets on a wire.

Safety rules every helper here keeps: traffic flows only between namespaces the test created;
both ends of every veth pair live in those namespaces, never in the host's; addresses come only
from 198.18.0.0/15 (RFC 2544 benchmarking) and no namespace gets a route beyond its own /24;
every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import itertools
import multiprocessing
import os
import shutil
import signal
import socket
import struct
import subprocess
import time
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import pytest

from ringcore.api import interface_key
from ringcore.netns import in_netns  # noqa: F401  (tests import it from here too)

NETNS_DIR = "/run/netns"
# The pid keeps parallel runs (and pytest-xdist workers) from touching each other's namespaces.
NAMESPACE_PREFIX = f"rmt-{os.getpid()}-"
RUN_TIMEOUT_S = 60.0
SEND_TIMEOUT_S = 10.0
# tcpdump's kernel blocks are handed over at most 1 s after their first packet; with a margin.
TCPDUMP_BLOCK_TIMEOUT_S = 1.5

# capability(7) bit numbers: creating namespaces needs SYS_ADMIN (ip netns bind-mounts them),
# veths and addresses need NET_ADMIN, AF_PACKET sockets need NET_RAW.
REQUIRED_CAPABILITIES = {"CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13, "CAP_SYS_ADMIN": 21}

ETH_P_IP = 0x0800
ETH_P_ALL = 0x0003
ETH_P_8021Q = 0x8100
UDP_SRC_PORT = 40000
UDP_DST_PORT = 40001
FRAME_MAGIC = b"RMT1"
ETH_HEADER = struct.Struct("!6s6sH")
IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
UDP_HEADER = struct.Struct("!HHHH")
VLAN_TAG = struct.Struct("!HH")  # TPID, then priority (3 bits), DEI (1) and VLAN id (12)
# Payload: magic, seq, filler, then a CRC32 of every frame byte before it.  The magic and seq
# come first so a truncated capture still shows which frame it was.
PAYLOAD_HEAD = struct.Struct("!4sQ")
FRAME_CRC = struct.Struct("!I")
HEADERS_LEN = ETH_HEADER.size + IPV4_HEADER.size + UDP_HEADER.size
MIN_FRAME_LEN = 60  # Ethernet minimum without FCS
MAX_FRAME_LEN = 1514  # 1500-byte MTU plus the Ethernet header
JUMBO_MTU = 9000
MAX_JUMBO_FRAME_LEN = JUMBO_MTU + 14  # what a link set to JUMBO_MTU carries (set_mtu)
# Long enough for the largest filler starting at any offset 0..255.
FILLER = bytes(range(256)) * (MAX_JUMBO_FRAME_LEN // 256 + 2)

# Applied in every test namespace before any interface exists in it.
NAMESPACE_SYSCTLS = {
    # A new namespace copies the host's IPv4 settings, forwarding included: never route anything.
    "net.ipv4.ip_forward": "0",
    # No router solicitations, DAD or MLD reports in captures (`default` covers interfaces made later).
    "net.ipv6.conf.all.disable_ipv6": "1",
    "net.ipv6.conf.default.disable_ipv6": "1",
    # No ICMP errors (port unreachable to a test frame) and so no ARP to send them: a capture
    # then counts exactly the frames the test sent.  Echo replies are not rate-limited, so ping works.
    "net.ipv4.icmp_msgs_per_sec": "0",
    "net.ipv4.icmp_msgs_burst": "0",
}

_namespace_numbers = itertools.count()
_pair_numbers = itertools.count()


def running_in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require(condition: bool, reason: str) -> None:
    """Skip the test when `condition` is false, but fail it in CI, where a skip would hide a broken machine."""
    if condition:
        return
    if running_in_ci():
        pytest.fail(f"{reason} (CI=true: refusing to skip)", pytrace=False)
    pytest.skip(reason)


def missing_capabilities() -> list[str]:
    with open("/proc/self/status") as status:
        cap_eff_hex = next(line.split()[1] for line in status if line.startswith("CapEff:"))
    effective = int(cap_eff_hex, 16)
    return [name for name, bit in REQUIRED_CAPABILITIES.items() if not effective >> bit & 1]


def require_netns_privileges() -> None:
    missing = missing_capabilities()
    require(not missing, f"network namespace tests need {', '.join(missing)} (run as root)")
    require(shutil.which("ip") is not None, "network namespace tests need `ip` from iproute2")


def run_in_netns(ns: str, argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run of `argv` inside namespace `ns`, with a default timeout so no test hangs on it."""
    kwargs.setdefault("timeout", RUN_TIMEOUT_S)
    return subprocess.run(["ip", "netns", "exec", ns, *argv], **kwargs)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, timeout=RUN_TIMEOUT_S, capture_output=True, text=True)


def _write_sysctl(name: str, value: str) -> None:
    # /proc/sys/net resolves against the writing thread's namespace, so this works under in_netns.
    with open("/proc/sys/" + name.replace(".", "/"), "w") as sysctl:
        sysctl.write(value)


def create_namespace() -> str:
    """A new, empty namespace that never forwards and never speaks unless a test makes it."""
    ns = f"{NAMESPACE_PREFIX}{next(_namespace_numbers)}"
    _ip("netns", "add", ns)
    try:
        with in_netns(ns):
            for name, value in NAMESPACE_SYSCTLS.items():
                _write_sysctl(name, value)
    except BaseException:
        delete_namespace(ns)
        raise
    return ns


def delete_namespace(ns: str) -> None:
    # Deleting a namespace destroys its veth end, and with it the peer in the other namespace.
    # A socket still open in it keeps it alive, unnamed, until that socket is closed.
    subprocess.run(["ip", "netns", "del", ns], timeout=RUN_TIMEOUT_S, capture_output=True)


def namespaces_of_this_process() -> list[str]:
    try:
        names = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(name for name in names if name.startswith(NAMESPACE_PREFIX))


def delete_namespaces_of_this_process() -> None:
    for ns in namespaces_of_this_process():
        delete_namespace(ns)


@dataclass(frozen=True)
class VethPair:
    """A veth pair between two test namespaces: end `a` in `ns_a`, end `b` in `ns_b`, both up.

    Neither namespace sends anything by itself (see NAMESPACE_SYSCTLS): the link carries only
    what the test puts on it, plus ARP if the test uses the kernel's IP stack.
    """

    ns_a: str
    ns_b: str
    if_a: str
    if_b: str
    mac_a: str
    mac_b: str
    ip_a: str
    ip_b: str

    @property
    def key_a(self) -> str:
        """End a's key in a capture session (ringcore.interface_key)."""
        return interface_key(self.if_a, self.ns_a)

    def frames_to_a(self, seqs: Iterable[int], size: int | None = None, **fields) -> list[bytes]:
        """make_frame frames from end b to end a, carrying `seqs`; sizes vary with the sequence number
        (60..1514) unless one `size` is given."""
        return [make_frame(seq, size or _varied_size(seq), self.mac_b, self.mac_a, src_ip=self.ip_b,
                           dst_ip=self.ip_a, **fields) for seq in seqs]

    def frames_to_b(self, seqs: Iterable[int], size: int | None = None, **fields) -> list[bytes]:
        """As frames_to_a, from end a to end b."""
        return [make_frame(seq, size or _varied_size(seq), self.mac_a, self.mac_b, src_ip=self.ip_a,
                           dst_ip=self.ip_b, **fields) for seq in seqs]


def _varied_size(seq: int) -> int:
    return MIN_FRAME_LEN + (seq * 37) % (MAX_FRAME_LEN - MIN_FRAME_LEN + 1)


@contextlib.contextmanager
def veth_pair() -> Iterator[VethPair]:
    """Two fresh namespaces joined by a veth pair; both namespaces are deleted on exit, also on error."""
    pair_number = next(_pair_numbers)
    subnet = pair_number % 256
    namespaces: list[str] = []
    try:
        namespaces.append(create_namespace())
        namespaces.append(create_namespace())
        ns_a, ns_b = namespaces
        # Locally administered MACs that echo the addresses: 02:00:c6:12:<subnet>:<host>.
        pair = VethPair(
            ns_a=ns_a,
            ns_b=ns_b,
            if_a=f"rmt{pair_number}a",
            if_b=f"rmt{pair_number}b",
            mac_a=f"02:00:c6:12:{subnet:02x}:01",
            mac_b=f"02:00:c6:12:{subnet:02x}:02",
            ip_a=f"198.18.{subnet}.1",
            ip_b=f"198.18.{subnet}.2",
        )
        # Both ends are created directly inside their namespaces: no moment in the host namespace.
        _ip("link", "add", pair.if_a, "address", pair.mac_a, "netns", ns_a, "type", "veth",
            "peer", "name", pair.if_b, "address", pair.mac_b, "netns", ns_b)
        for ns, ifname, address in ((ns_a, pair.if_a, pair.ip_a), (ns_b, pair.if_b, pair.ip_b)):
            _ip("-n", ns, "addr", "add", f"{address}/24", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up")
        yield pair
    finally:
        for ns in namespaces:
            delete_namespace(ns)


def set_mtu(pair: VethPair, mtu: int) -> None:
    """Both ends of the pair carry frames of up to mtu + 14 bytes."""
    for ns, ifname in ((pair.ns_a, pair.if_a), (pair.ns_b, pair.if_b)):
        _ip("-n", ns, "link", "set", ifname, "mtu", str(mtu))


def _mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def _ipv4_checksum(header: bytes) -> int:
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def make_frame(
    seq: int,
    size: int,
    src_mac: str,
    dst_mac: str,
    *,
    src_ip: str = "198.18.0.2",
    dst_ip: str = "198.18.0.1",
    src_port: int = UDP_SRC_PORT,
    dst_port: int = UDP_DST_PORT,
) -> bytes:
    """An Ethernet/IPv4/UDP frame of exactly `size` bytes (60..1514, or up to 9014 for a link whose MTU is
    JUMBO_MTU) carrying `seq`, checkable by check_frame."""
    if not MIN_FRAME_LEN <= size <= MAX_JUMBO_FRAME_LEN:
        raise ValueError(f"frame size {size} outside {MIN_FRAME_LEN}..{MAX_JUMBO_FRAME_LEN}")
    ip_len = size - ETH_HEADER.size
    udp_len = ip_len - IPV4_HEADER.size
    filler_len = size - HEADERS_LEN - PAYLOAD_HEAD.size - FRAME_CRC.size
    ip_header = IPV4_HEADER.pack(
        0x45, 0, ip_len, seq & 0xFFFF, 0x4000, 64, socket.IPPROTO_UDP, 0,  # DF set, checksum below
        socket.inet_aton(src_ip), socket.inet_aton(dst_ip),
    )
    ip_header = ip_header[:10] + struct.pack("!H", _ipv4_checksum(ip_header)) + ip_header[12:]
    # UDP checksum 0 means "none" in IPv4; it keeps the frame CRC from covering a field that covers it.
    body = b"".join((
        ETH_HEADER.pack(_mac_bytes(dst_mac), _mac_bytes(src_mac), ETH_P_IP),
        ip_header,
        UDP_HEADER.pack(src_port, dst_port, udp_len, 0),
        PAYLOAD_HEAD.pack(FRAME_MAGIC, seq),
        FILLER[seq % 256 : seq % 256 + filler_len],
    ))
    return body + FRAME_CRC.pack(zlib.crc32(body))


def with_vlan_tag(frame: bytes, vlan_id: int, priority: int = 0) -> bytes:
    """`frame` with an 802.1Q tag (TPID 0x8100) inserted after its MAC addresses."""
    return frame[:12] + VLAN_TAG.pack(ETH_P_8021Q, priority << 13 | vlan_id) + frame[12:]


def check_frame(frame: bytes) -> int:
    """The sequence number of a frame made by make_frame; ValueError if any byte of it changed."""
    if len(frame) < MIN_FRAME_LEN:
        raise ValueError(f"frame of {len(frame)} bytes is shorter than {MIN_FRAME_LEN}")
    magic, seq = PAYLOAD_HEAD.unpack_from(frame, HEADERS_LEN)
    if magic != FRAME_MAGIC:
        raise ValueError(f"no test frame magic (found {magic!r})")
    (crc,) = FRAME_CRC.unpack_from(frame, len(frame) - FRAME_CRC.size)
    if crc != zlib.crc32(frame[: -FRAME_CRC.size]):
        raise ValueError(f"frame {seq} is corrupt (CRC mismatch)")
    return seq


def open_packet_socket(ns: str, ifname: str, *, protocol: int = ETH_P_ALL) -> socket.socket:
    """An AF_PACKET raw socket bound to `ifname` in namespace `ns`; protocol 0 opens a send-only socket."""
    with in_netns(ns):
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
        try:
            sock.bind((ifname, protocol))
        except BaseException:
            sock.close()
            raise
    return sock


def send_frames(
    ns: str,
    ifname: str,
    frames: Sequence[bytes],
    *,
    pace_us: int = 0,
    timeout_s: float = SEND_TIMEOUT_S,
) -> int:
    """Put each frame on `ifname` in namespace `ns`, one every `pace_us`; returns the count sent.

    Raises TimeoutError if the whole send takes longer than `timeout_s`.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    with open_packet_socket(ns, ifname, protocol=0) as sock:
        sock.settimeout(timeout_s)
        for index, frame in enumerate(frames):
            if pace_us:
                # Pace against the start time so sleep overshoot does not accumulate.
                time.sleep(max(0.0, start + index * pace_us / 1e6 - time.monotonic()))
            if time.monotonic() > deadline:
                raise TimeoutError(f"sent {index} of {len(frames)} frames in {timeout_s} s")
            sock.send(frame)
    return len(frames)


@contextlib.contextmanager
def tcpdump_alongside(ns: str, ifname: str, expression: str, path: str) -> Iterator[None]:
    """tcpdump capturing `ifname` in `ns` into `path` while the body runs: the reference a capture is
    compared with, on the same traffic at the same time. Returns once it listens; stopped by SIGINT."""
    stderr_path = f"{path}.stderr"
    with open(stderr_path, "wb") as stderr:
        # -Z root: tcpdump would otherwise drop to its own user, who may not write `path`. -U: each
        # packet it reads reaches the file at once. Not --immediate-mode: its ring holds a few dozen
        # lo-sized frames and drops a burst.
        argv = ["tcpdump", "-i", ifname, "-nn", "-U", "-Z", "root", "-w", path, expression]
        process = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while b"listening on" not in open(stderr_path, "rb").read():
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"tcpdump did not start: {open(stderr_path, 'rb').read()!r}")
            time.sleep(0.02)
        yield
        # What the kernel still holds in a block is lost at SIGINT: let the block time out first.
        time.sleep(TCPDUMP_BLOCK_TIMEOUT_S)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(RUN_TIMEOUT_S)


class Sender:
    """send_frames in a child process, so the test can watch the capture while traffic flows. Not a
    thread: a test polling statistics in a tight loop starved a sender thread of the GIL (455 of
    20,000 frames in 10 s)."""

    def __init__(self, ns: str, ifname: str, frames: list[bytes], pace_us: int = 0):
        self._process = multiprocessing.get_context("spawn").Process(
            target=send_frames, args=(ns, ifname, frames), kwargs={"pace_us": pace_us}, daemon=True)

    def start(self) -> None:
        self._process.start()

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def finish(self) -> None:
        self._process.join(timeout=SEND_TIMEOUT_S + 5)
        assert not self._process.is_alive(), "sender did not finish"
        assert self._process.exitcode == 0, f"sender failed (exit {self._process.exitcode}): see its stderr"
