"""ringcore: per-interface capture rings in C, and their Python API."""
from .api import (
    CLASSIC_RING_PAGES,
    DEFAULT_POLL_INTERVAL_US,
    DEFAULT_RING_PAGES,
    DEFAULT_SLOT_SIZE,
    DEFAULT_SNAPLEN,
    DEFAULT_SPOOL_BYTES,
    DEFAULT_SPOOL_PACKETS,
    CaptureFileError,
    CaptureOptions,
    DropPolicy,
    FilterError,
    OutOfRangeError,
    PrivilegeError,
    RingcoreError,
    RingMode,
    RingStats,
    StoreOptions,
    TALKERS_WINDOW_S,
    Talker,
    TopTalkers,
    WaitStrategy,
    interface_key,
)
from .capture import (
    FORMATS,
    Capture,
    Drain,
    Limit,
    Ring,
    Rotation,
    SlotMeta,
    SlotView,
    Talkers,
    Writer,
    WriterFiles,
    validate_ring,
)
from .filter import UserSpaceFilter, compile_live_filter
from .monitor import Monitor, WriteStatus, require_capture_privilege
from .netns import in_netns
from .store import (
    MAX_BATCH,
    DisplayFilter,
    ExportResult,
    PacketSelection,
    PacketStore,
    StoredPacket,
    StoreInterface,
    StoreProgress,
)

__all__ = [
    "CLASSIC_RING_PAGES", "DEFAULT_POLL_INTERVAL_US", "DEFAULT_RING_PAGES", "DEFAULT_SLOT_SIZE", "DEFAULT_SNAPLEN",
    "DEFAULT_SPOOL_BYTES", "DEFAULT_SPOOL_PACKETS", "FORMATS", "MAX_BATCH", "TALKERS_WINDOW_S",
    "Capture", "CaptureFileError", "CaptureOptions", "DisplayFilter", "Drain", "DropPolicy", "ExportResult",
    "FilterError", "Limit", "Monitor", "OutOfRangeError", "PacketSelection", "PacketStore", "PrivilegeError", "Ring",
    "Rotation",
    "RingMode", "RingStats", "RingcoreError", "SlotMeta", "SlotView",
    "StoreInterface", "StoreOptions", "StoreProgress", "StoredPacket", "Talker", "Talkers", "TopTalkers",
    "UserSpaceFilter", "WaitStrategy", "WriteStatus", "Writer", "WriterFiles", "compile_live_filter", "in_netns", "interface_key",
    "require_capture_privilege", "validate_ring",
]
