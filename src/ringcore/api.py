"""The pythonic face of ringcore: options, statistics snapshots, and the Monitor that plugs interfaces."""
from __future__ import annotations

import enum
from dataclasses import dataclass

DEFAULT_SLOT_SIZE = 2048
# 4097 pages = one header page + 8192 slots of 2048 bytes (16 MiB): absorbs a
# 5 ms consumer stall at 1.48 Mpps (10 GbE minimum-size frames would need more,
# a 1 GbE link fills 8192 slots of minimum frames in 5.5 ms).
DEFAULT_RING_PAGES = 4097
CLASSIC_RING_PAGES = 33
DEFAULT_SNAPLEN = 262144
DEFAULT_POLL_INTERVAL_US = 1000
# The kernel's TPACKET_V3 ring of each capture (tcpdump's -B): 32 blocks of 256 KiB (see capture.py).
DEFAULT_KERNEL_BUFFER_BYTES = 8 << 20
# RC_SPIN_DEFAULT_US: the adaptive strategy polls again for this long before it sleeps on the producer's event.
DEFAULT_SPIN_US = 50
DEFAULT_SPOOL_BYTES = 1 << 30
# The spool's index holds at most this many packets, 32 bytes each: 64 MiB (RC_STORE_SPOOL_DEFAULT_PACKETS).
DEFAULT_SPOOL_PACKETS = 1 << 21


class RingcoreError(Exception):
    """A capture problem the user can act on; str() is one line."""


class FilterError(RingcoreError):
    """The capture filter does not compile."""


class PrivilegeError(RingcoreError):
    """The process lacks CAP_NET_RAW (or CAP_NET_ADMIN for namespaces)."""


class CaptureFileError(RingcoreError):
    """A capture file that cannot be opened, is not a capture, or is corrupt or truncated; names the file."""


class OutOfRangeError(RingcoreError, ValueError):
    """A count, size or setting the C core cannot take (a ValueError too: it is a bad argument)."""


class Direction(enum.Enum):
    """Which packets a capture takes (tcpdump's -Q): received, sent, or both."""

    INOUT = "inout"
    IN = "in"
    OUT = "out"


class DropPolicy(enum.IntEnum):
    EARLY = 0
    LATE = 1


class RingMode(enum.IntEnum):
    """What a ring's slots are (enum rc_ring_mode)."""

    COPY = 0  # packets copied out of the kernel's blocks into the ring's slots
    ZERO_COPY = 1  # the slots are the kernel's blocks: the consumer reads them in place
    DIRECT = 2  # zero-copy, its drain's sinks run in the capture thread on each kernel block

    @property
    def label(self) -> str:
        return self.name.lower().replace("_", "-")

    @property
    def drop_stages(self) -> tuple[str, ...]:
        """Where this ring can lose a packet: zero-copy has no slot ring of its own, so only the kernel drops."""
        return ("kernel", "ring") if self is RingMode.COPY else ("kernel",)


class WaitStrategy(enum.IntEnum):
    SLEEP = 0  # sleep the poll interval, poll again: the classic design
    YIELD = 1
    SPIN = 2
    EVENT = 3  # sleep until the producer signals a new kernel block
    ADAPTIVE = 4  # spin for spin_us, then sleep as EVENT: no wake-up when work comes within the spin


@dataclass(frozen=True)
class CaptureOptions:
    slot_size: int = DEFAULT_SLOT_SIZE
    ring_pages: int = DEFAULT_RING_PAGES
    snaplen: int = DEFAULT_SNAPLEN
    promisc: bool = True
    filter: str | None = None
    drop_policy: DropPolicy = DropPolicy.EARLY
    wait_strategy: WaitStrategy = WaitStrategy.SLEEP
    poll_interval_us: int = DEFAULT_POLL_INTERVAL_US
    spin_us: int = DEFAULT_SPIN_US  # WaitStrategy.ADAPTIVE's spin, 1 .. 1000 us
    # Cut every packet to one slot (counted as truncated); else a packet larger than a slot spans several.
    truncate_to_slot: bool = False
    # tcpdump's -B, -Q and -y: the kernel ring's size, the direction taken (a kernel filter beside `filter`), and
    # the link type (libpcap's DLT_ value) the interface must have, None: whichever it has.
    kernel_buffer_bytes: int = DEFAULT_KERNEL_BUFFER_BYTES
    direction: Direction = Direction.INOUT
    linktype_required: int | None = None
    # The ring's slots are the kernel's blocks (ringcore.h): no copy, every drop the kernel's; slot_size,
    # ring_pages and truncate_to_slot are not used.
    zero_copy: bool = False
    # A session's drain runs its sinks in the capture thread on each kernel block, with no hand-off through a
    # ring (rc_drain_start_direct): the ring is zero-copy whatever zero_copy says.
    direct_dispatch: bool = False
    # Immediate mode (tcpdump's --immediate-mode): a TPACKET_V2 kernel ring whose frames are handed over as soon as
    # each is written (not after the block timeout), sized for the interface's MTU: a longer packet is cut to its
    # frame and counted as truncated.
    immediate: bool = False


@dataclass(frozen=True)
class StoreOptions:
    """A session's packet store: a spool of at most spool_bytes and spool_packets (the oldest packets are evicted
    beyond either) in a private directory made under `directory` ($TMPDIR or /tmp), removed at close; with
    keep_dir, the packets still held are first saved there as a pcapng named by the session's start time."""

    spool_bytes: int = DEFAULT_SPOOL_BYTES
    spool_packets: int = DEFAULT_SPOOL_PACKETS  # the index's size: 32 bytes of memory a packet
    keep_dir: str | None = None
    directory: str | None = None
    owner: tuple[int, int] | None = None  # (uid, gid) given the spool: a session about to become that user (-Z)


def interface_key(ifname: str, netns: str | None = None) -> str:
    """How a session names a plugged interface, in its tables and in files: "netns/ifname" for one inside a
    namespace, so two interfaces of one name in two namespaces stay apart (neither name can hold a '/')."""
    return f"{netns}/{ifname}" if netns else ifname


def split_interface_key(key: str) -> tuple[str, str | None]:
    """(ifname, netns) of an interface_key()."""
    netns, _, ifname = key.rpartition("/")
    return ifname, netns or None


@dataclass(frozen=True)
class RingStats:
    """One consistent reading of an interface's ring (names of struct rc_stats)."""

    ifname: str
    ifindex: int
    kernel_packets: int
    kernel_bytes: int
    kernel_drops: int
    kernel_seen: int
    lost_at_stop: int
    ring_drops: int
    truncated: int
    outgoing_packets: int
    outgoing_bytes: int
    produced: int
    head: int
    delivered: int
    delivered_bytes: int
    tail: int
    consuming: int
    polls: int
    empty_polls: int
    sleeps: int
    sleep_ns: int
    latency_max_ns: int
    latency_sum_ns: int  # of every delivered packet's latency: the histogram's sum
    batch_hist: tuple[int, ...]
    latency_hist: tuple[int, ...]
    occupancy: int  # packets in the ring (the accounting identity's term)
    slots_used: int  # the slots they take: a packet larger than a slot takes several
    slots_used_high: int
    slot_size: int
    slot_count: int
    drop_policy: DropPolicy
    wait_strategy: WaitStrategy
    poll_interval_us: int
    paused: bool
    truncate_to_slot: bool = False
    mode: RingMode = RingMode.COPY
    immediate: bool = False  # the kernel ring is TPACKET_V2 frames handed over one by one (--immediate-mode)
    filter: str | None = None
    error: str | None = None  # set once the producer stopped (interface gone)
    netns: str | None = None
    recaptures: int = 0  # times captured again after it went down or away: counters are summed over all
    linktype: int = 1  # pcap LINKTYPE_ of its frames (1: Ethernet), to decode a slot's packet
    # The packet store (a session with one): of the packets delivered, those stored and those it failed to take
    # (delivered == stored + store_failed), and how many of the stored ones it has evicted since.
    storing: bool = False
    stored: int = 0
    store_failed: int = 0
    store_evicted: int = 0
    # Times the consumer slept in the kernel and woke up; adaptive spins that found work, and those that slept.
    wakeups: int = 0
    spin_found: int = 0
    spin_slept: int = 0
    spin_us: int = DEFAULT_SPIN_US

    @property
    def store_held(self) -> int:
        """Packets of this interface the store holds: stored == store_held + store_evicted."""
        return self.stored - self.store_evicted


TALKERS_WINDOW_S = 40  # RC_TALKERS_WINDOW_S: top talkers are the bytes of the last 40 seconds
# RC_TALKERS_SPAN_S and the window: the three spans iftop averages rates over, each ending now
TALKERS_SPANS_S = (2, 10, TALKERS_WINDOW_S)


@dataclass(frozen=True)
class Talker:
    """One conversation of the last TALKERS_WINDOW_S seconds: two addresses (IP, or MAC for frames that are
    not IP), the protocol they speak, and the wire bytes each way. `a` is the lower address, so a pair is always
    written one way."""

    a: str
    b: str
    bytes_ab: int
    bytes_ba: int
    packets: int
    protocol: str  # "tcp", "udp", "icmp", "arp", …, or its number
    spans_ab: tuple[int, ...]  # bytes a→b over each of TALKERS_SPANS_S (the last is bytes_ab)
    spans_ba: tuple[int, ...]

    @property
    def bytes(self) -> int:
        return self.bytes_ab + self.bytes_ba


@dataclass(frozen=True)
class TopTalkers:
    """The largest conversations, and the rest: conversations beyond the table and frames with no address."""

    talkers: tuple[Talker, ...] = ()
    rest_bytes: int = 0
    rest_packets: int = 0
    window_s: int = TALKERS_WINDOW_S
    rest_spans: tuple[int, ...] = (0,) * len(TALKERS_SPANS_S)  # the rest's bytes over each of TALKERS_SPANS_S
    # How long each span had lasted when read: its whole seconds before the current one, and the current one's part.
    spans_elapsed_s: tuple[float, ...] = TALKERS_SPANS_S

    def rate_bps(self, span_bytes: int, span: int) -> float:
        """Bits per second of `span_bytes` counted over span number `span` (of TALKERS_SPANS_S)."""
        return span_bytes * 8 / self.spans_elapsed_s[span]

    @property
    def bytes(self) -> int:
        return sum(talker.bytes for talker in self.talkers) + self.rest_bytes
