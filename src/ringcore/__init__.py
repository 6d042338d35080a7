"""ringcore: per-interface capture rings in C, and their Python API."""
from .api import (
    CLASSIC_RING_PAGES,
    DEFAULT_POLL_INTERVAL_US,
    DEFAULT_RING_PAGES,
    DEFAULT_SLOT_SIZE,
    DEFAULT_SNAPLEN,
    DEFAULT_SPOOL_BYTES,
    CaptureOptions,
    DropPolicy,
    FilterError,
    OutOfRangeError,
    PrivilegeError,
    RingcoreError,
    RingStats,
    StoreOptions,
    TALKERS_WINDOW_S,
    Talker,
    TopTalkers,
    WaitStrategy,
    interface_key,
)
from .capture import FORMATS, Capture, Drain, Limit, Ring, SlotMeta, SlotView, Talkers, Writer, validate_ring
from .filter import compile_live_filter
from .monitor import Monitor, WriteStatus, require_capture_privilege
from .netns import in_netns
from .store import PacketStore

__all__ = [
    "CLASSIC_RING_PAGES", "DEFAULT_POLL_INTERVAL_US", "DEFAULT_RING_PAGES", "DEFAULT_SLOT_SIZE", "DEFAULT_SNAPLEN",
    "DEFAULT_SPOOL_BYTES",
    "FORMATS", "Capture", "CaptureOptions", "Drain", "DropPolicy", "FilterError", "Limit", "Monitor",
    "OutOfRangeError", "PrivilegeError", "Ring", "RingStats", "RingcoreError", "SlotMeta", "SlotView", "StoreOptions", "PacketStore", "TALKERS_WINDOW_S", "Talker",
    "Talkers", "TopTalkers", "WaitStrategy", "WriteStatus", "Writer", "compile_live_filter", "in_netns", "interface_key", "require_capture_privilege", "validate_ring",
]
