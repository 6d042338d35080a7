"""ctypes declarations for ringcore.h: the structures it shares and every function's signature."""
from __future__ import annotations

import ctypes
import importlib.machinery
import os
from pathlib import Path

RC_ERRBUF_SIZE = 256
RC_BATCH_BUCKETS = 16
RC_LATENCY_BUCKETS = 32
RC_SLOT_TRUNCATED = 0x1
RC_SLOT_OUTGOING = 0x2
RC_SLOT_PADDING = 0x4
RC_SLOT_KIND_FIRST, RC_SLOT_KIND_CONTINUED, RC_SLOT_KIND_PADDING = 0, 1, 2
RC_MODE_COPY, RC_MODE_ZERO_COPY, RC_MODE_DIRECT = 0, 1, 2  # enum rc_ring_mode
RC_FORMAT_PCAP_US = 0
RC_FORMAT_PCAP_NS = 1
RC_FORMAT_PCAPNG = 2
RC_SAVE_KEEP_PARTIAL = 0x1  # enum rc_save_flags
RC_EVENT_WAIT_MAX_US = 100_000
RC_POLL_INTERVAL_MAX_US = 1_000_000
RC_SPIN_MAX_US = 1000
RC_TALKERS_WINDOW_S = 40
RC_TALKERS_MAX = 768
RC_TALKERS_SPAN_S = (2, 10)
RC_ADDR_NONE, RC_ADDR_MAC, RC_ADDR_IPV4, RC_ADDR_IPV6 = 0, 1, 4, 6

u32, i32, u64, i64 = ctypes.c_uint32, ctypes.c_int32, ctypes.c_uint64, ctypes.c_int64
size_t, vp, cp = ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p


class SlotHdr(ctypes.Structure):
    _pack_ = 1  # packed in C: in a zero-copy ring it sits where the kernel put the packet
    _fields_ = [
        ("caplen", u32),
        ("wirelen", u32),
        ("ts_ns", u64),
        ("ifindex", i32),
        ("flags", u32),
        ("slots", u32),
        ("reserved", u32),
    ]


SLOT_HDR_SIZE = ctypes.sizeof(SlotHdr)


class RingConfig(ctypes.Structure):
    _fields_ = [
        ("slot_size", u32),
        ("ring_pages", u32),
        ("drop_policy", i32),
        ("wait_strategy", i32),
        ("poll_interval_us", u32),
        ("truncate_to_slot", u32),
        ("spin_us", u32),
    ]


class CaptureConfig(ctypes.Structure):
    _fields_ = [
        ("ring", RingConfig),
        ("snaplen", u32),
        ("promisc", u32),
        ("kernel_block_size", u32),
        ("kernel_block_nr", u32),
        ("block_timeout_ms", u32),
        ("zero_copy", u32),
        ("immediate", u32),
    ]


class Stats(ctypes.Structure):
    _fields_ = [
        ("kernel_packets", u64),
        ("kernel_bytes", u64),
        ("kernel_drops", u64),
        ("kernel_seen", u64),
        ("lost_at_stop", u64),
        ("ring_drops", u64),
        ("truncated", u64),
        ("outgoing_packets", u64),
        ("outgoing_bytes", u64),
        ("produced", u64),
        ("head", u64),
        ("delivered", u64),
        ("delivered_bytes", u64),
        ("stored", u64),
        ("store_failed", u64),
        ("store_evicted", u64),
        ("tail", u64),
        ("consuming", u64),
        ("polls", u64),
        ("empty_polls", u64),
        ("sleeps", u64),
        ("sleep_ns", u64),
        ("wakeups", u64),
        ("spin_found", u64),
        ("spin_slept", u64),
        ("latency_max_ns", u64),
        ("latency_sum_ns", u64),
        ("batch_hist", u64 * RC_BATCH_BUCKETS),
        ("latency_hist", u64 * RC_LATENCY_BUCKETS),
        ("occupancy", u64),
        ("slots_used", u64),
        ("slots_used_high", u64),
        ("slot_size", u32),
        ("slot_count", u32),
        ("drop_policy", i32),
        ("wait_strategy", i32),
        ("poll_interval_us", u32),
        ("spin_us", u32),
        ("paused", u32),
        ("truncate_to_slot", u32),
        ("mode", u32),
    ]


class Talker(ctypes.Structure):
    _fields_ = [
        ("family", u32),
        ("protocol", ctypes.c_uint16),
        ("reserved", ctypes.c_uint16),
        ("a", ctypes.c_uint8 * 16),
        ("b", ctypes.c_uint8 * 16),
        ("bytes_ab", u64),
        ("bytes_ba", u64),
        ("packets", u64),
        ("span_ab", u64 * len(RC_TALKERS_SPAN_S)),
        ("span_ba", u64 * len(RC_TALKERS_SPAN_S)),
    ]


class BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint16), ("jt", ctypes.c_uint8), ("jf", ctypes.c_uint8), ("k", u32)]


WRITER_MAX_INTERFACES = 256  # RC_WRITER_MAX_INTERFACES


class WriterFiles(ctypes.Structure):
    _fields_ = [("written", u64), ("removed", u64)]


class WriterTotals(ctypes.Structure):
    _fields_ = [("packets", u64), ("bytes", u64), ("interface_packets", u64 * WRITER_MAX_INTERFACES),
                ("files", WriterFiles)]


class Rotation(ctypes.Structure):
    _fields_ = [("file_bytes_max", u64), ("seconds", u32), ("files_max", u32)]


class Limit(ctypes.Structure):
    # C11 _Atomic int64_t/int32_t have the plain types' layout on Linux.
    _fields_ = [("remaining", i64), ("reached", i32)]


STORE_INTERFACE_NAME_MAX = 64  # RC_STORE_INTERFACE_NAME_MAX
STORE_MESSAGE_MAX = 256  # RC_STORE_MESSAGE_MAX
STORE_SPOOL_MIN_BYTES = 1 << 20  # RC_STORE_SPOOL_MIN_BYTES
STORE_SPOOL_MIN_PACKETS = 4096  # RC_STORE_SPOOL_MIN_PACKETS
STORE_SPOOL_MAX_PACKETS = 1 << 32  # RC_STORE_SPOOL_MAX_PACKETS
RC_STORE_SPOOL, RC_STORE_PCAP_US, RC_STORE_PCAP_NS, RC_STORE_PCAPNG = 0, 1, 2, 3
RC_STORED_TRUNCATED, RC_STORED_OUTGOING, RC_STORED_COMMENT, RC_STORED_TS_CLAMPED, RC_STORED_NO_TIME = 1, 2, 4, 8, 16


class StoreEntry(ctypes.Structure):
    _fields_ = [
        ("data_offset", u64),
        ("ts_ns", i64),
        ("caplen", u32),
        ("wirelen", u32),
        ("interface", ctypes.c_uint16),
        ("flags", ctypes.c_uint16),
        ("block_back", u32),
    ]


class StoreInterfaceInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * STORE_INTERFACE_NAME_MAX), ("linktype", u32), ("snaplen", u32),
                ("packets", u64), ("evicted", u64)]


class StoreInfo(ctypes.Structure):
    _fields_ = [
        ("first", u64),
        ("count", u64),
        ("bytes_done", u64),
        ("bytes_total", u64),
        ("bytes_held", u64),
        ("error_offset", u64),
        ("format", i32),
        ("done", i32),
        ("error", i32),
        ("interface_count", u32),
        ("error_message", ctypes.c_char * STORE_MESSAGE_MAX),
    ]


# Loads this build of the C library instead of the installed one: for a sanitizer build, with the sanitizer's
# runtime in LD_PRELOAD (bench/soak.py). A path that does not exist is an error, never a silent fallback.
LIBRARY_OVERRIDE_ENV = "RINGCORE_LIBRARY"


def _find_library() -> Path:
    override = os.environ.get(LIBRARY_OVERRIDE_ENV)
    if override:
        if not Path(override).is_file():
            raise ImportError(f"{LIBRARY_OVERRIDE_ENV}={override}: no such file")
        return Path(override)
    here = Path(__file__).parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = here / f"_ringcore{suffix}"
        if candidate.exists():
            return candidate
    raise ImportError(f"ringcore's C library is not built in {here}: install the package with 'pip install .'")


# rc_progress_fn: called from the exporting thread (ctypes takes the GIL); nonzero cancels
ProgressFn = ctypes.CFUNCTYPE(ctypes.c_int, vp, u64, u64)

lib = ctypes.CDLL(str(_find_library()), use_errno=True)

_P = ctypes.POINTER
_SIGNATURES = {
    "rc_ring_slots_for": (i64, [u32, u32]),
    "rc_ring_create": (ctypes.c_int, [_P(RingConfig), _P(vp), cp, size_t]),
    "rc_ring_retain": (None, [vp]),
    "rc_ring_destroy": (None, [vp]),
    "rc_ring_produce": (ctypes.c_int, [vp, vp, u32, u32, u64, i32, u32]),
    "rc_ring_count_drop": (None, [vp, u32, u32]),
    "rc_ring_notify": (None, [vp]),
    "rc_ring_full": (ctypes.c_int, [vp]),
    "rc_ring_attach_consumer": (ctypes.c_int, [vp]),
    "rc_ring_detach_consumer": (None, [vp]),
    "rc_ring_poll": (u32, [vp, u32, _P(u64)]),
    "rc_ring_next": (vp, [vp, _P(u64)]),
    "rc_ring_slot": (vp, [vp, u64]),
    "rc_ring_release": (ctypes.c_int, [vp, u32]),
    "rc_ring_wait": (None, [vp]),
    "rc_ring_stats": (None, [vp, _P(Stats)]),
    "rc_ring_reset_high_water": (None, [vp]),
    "rc_ring_set_drop_policy": (ctypes.c_int, [vp, i32]),
    "rc_ring_set_wait": (ctypes.c_int, [vp, i32, u32]),
    "rc_ring_set_spin": (ctypes.c_int, [vp, u32]),
    "rc_ring_base": (vp, [vp]),
    "rc_ring_map_size": (size_t, [vp]),
    "rc_ring_data_base": (vp, [vp]),
    "rc_ring_data_size": (size_t, [vp]),
    "rc_ring_copy_slot": (i64, [vp, u32, vp, size_t, _P(u32)]),
    "rc_ring_slot_kinds": (u32, [vp, vp, u32]),
    "rc_interface_linktype": (ctypes.c_int, [cp, cp, size_t]),
    "rc_capture_open": (ctypes.c_int, [cp, _P(CaptureConfig), _P(BpfInsn), u32, _P(vp), cp, size_t]),
    "rc_capture_start": (ctypes.c_int, [vp, cp, size_t]),
    "rc_capture_stop": (None, [vp]),
    "rc_capture_close": (None, [vp]),
    "rc_capture_ring": (vp, [vp]),
    "rc_capture_ifindex": (ctypes.c_int, [vp]),
    "rc_capture_linktype": (u32, [vp]),
    "rc_capture_set_filter": (ctypes.c_int, [vp, _P(BpfInsn), u32, cp, size_t]),
    "rc_capture_switch": (ctypes.c_int, [vp, ctypes.c_int, _P(RingConfig), cp, size_t]),
    "rc_capture_error": (ctypes.c_int, [vp, cp, size_t]),
    "rc_writer_open": (ctypes.c_int, [cp, i32, _P(vp), cp, size_t]),
    "rc_writer_open_rotating": (ctypes.c_int, [cp, i32, _P(Rotation), _P(vp), cp, size_t]),
    "rc_writer_files": (None, [vp, _P(WriterFiles)]),
    "rc_writer_add_interface": (ctypes.c_int, [vp, cp, u32, u32]),
    "rc_writer_write": (ctypes.c_int, [vp, i32, _P(vp), u32]),
    "rc_writer_packets": (u64, [vp]),
    "rc_writer_interface_packets": (u64, [vp, i32]),
    "rc_writer_bytes": (u64, [vp]),
    "rc_writer_close": (ctypes.c_int, [vp, _P(WriterTotals), cp, size_t]),
    "rc_writer_abort": (None, [vp]),
    "rc_writer_error": (ctypes.c_int, [vp, cp, size_t]),
    "rc_writer_chown": (ctypes.c_int, [vp, u32, u32]),
    "rc_writer_set_packet_buffered": (None, [vp, ctypes.c_int]),
    "rc_drain_start": (ctypes.c_int, [vp, vp, i32, vp, vp, u32, _P(Limit), u32, _P(vp), cp, size_t]),
    "rc_drain_start_direct": (ctypes.c_int, [vp, vp, i32, vp, vp, u32, _P(Limit), u32, _P(vp), cp, size_t]),
    "rc_drain_stats": (None, [vp, _P(Stats)]),
    "rc_drain_pause": (None, [vp, ctypes.c_int]),
    "rc_drain_stop": (None, [vp, ctypes.c_int]),
    "rc_drain_set_writer": (None, [vp, vp, i32]),
    "rc_talkers_create": (ctypes.c_int, [u32, _P(vp)]),
    "rc_talkers_destroy": (None, [vp]),
    "rc_talkers_add": (None, [vp, _P(vp), u32]),
    "rc_talkers_top": (u32, [vp, u64, _P(Talker), u32, _P(Talker)]),
    "rc_store_info": (None, [vp, _P(StoreInfo)]),
    "rc_store_entries": (u32, [vp, u64, _P(StoreEntry), u32]),
    "rc_store_read": (i64, [vp, u64, vp, u64]),
    "rc_store_read_batch": (i64, [vp, u64, u32, _P(StoreEntry), vp, u64]),
    "rc_store_interface": (ctypes.c_int, [vp, u32, _P(StoreInterfaceInfo)]),
    "rc_store_close": (None, [vp]),
    "rc_store_open_file": (ctypes.c_int, [cp, _P(vp), cp, size_t]),
    "rc_store_wait": (ctypes.c_int, [vp, u32]),
    "rc_store_comment": (i64, [vp, u64, vp, u64]),
    "rc_store_create_spool": (ctypes.c_int, [cp, u64, u64, _P(vp), cp, size_t]),
    "rc_store_spool_dir": (ctypes.c_int, [vp, cp, size_t]),
    "rc_store_add_interface": (ctypes.c_int, [vp, cp, u32, u32]),
    "rc_store_append": (ctypes.c_int, [vp, u32, _P(vp), u32]),
    "rc_selection_new": (vp, []),
    "rc_selection_free": (None, [vp]),
    "rc_selection_add": (ctypes.c_int, [vp, _P(u64), u32]),
    "rc_selection_add_range": (ctypes.c_int, [vp, u64, u64]),
    "rc_selection_count": (u64, [vp]),
    "rc_selection_numbers": (u32, [vp, u64, _P(u64), u32]),
    "rc_selection_position": (u64, [vp, u64]),
    "rc_selection_set_bits": (u64, [vp, u64, u64, vp, u64]),
    "rc_selection_add_bits": (ctypes.c_int, [vp, cp, u64]),
    "rc_store_filter_new": (ctypes.c_int, [vp, cp, _P(vp), cp, size_t]),
    "rc_store_filter_run": (i64, [vp, vp, u64]),
    "rc_store_filter_examined": (u64, [vp]),
    "rc_store_filter_free": (None, [vp]),
    "rc_store_save": (ctypes.c_int, [vp, cp, i32, u32, vp, ProgressFn, vp, _P(u64), _P(u64), cp, size_t]),
}


class PcapAddr(ctypes.Structure):
    pass  # pcap_addr: only walked past, never read


class PcapIf(ctypes.Structure):
    pass


PcapIf._fields_ = [("next", ctypes.POINTER(PcapIf)), ("name", ctypes.c_char_p),
                   ("description", ctypes.c_char_p), ("addresses", ctypes.POINTER(PcapAddr)), ("flags", u32)]
# pcap_if_t.flags (pcap/pcap.h)
PCAP_IF_LOOPBACK = 0x1
PCAP_IF_UP = 0x2
PCAP_IF_RUNNING = 0x4
PCAP_IF_WIRELESS = 0x8
PCAP_IF_CONNECTION_STATUS = 0x30
PCAP_IF_CONNECTION_STATUS_UNKNOWN = 0x0
PCAP_IF_CONNECTION_STATUS_CONNECTED = 0x10
PCAP_IF_CONNECTION_STATUS_DISCONNECTED = 0x20
PCAP_ERRBUF_SIZE = 256
# The system libpcap the C library links (display filters): its functions are reached through the library.
_SIGNATURES |= {
    "pcap_lib_version": (ctypes.c_char_p, []),
    "pcap_findalldevs": (ctypes.c_int, [_P(_P(PcapIf)), cp]),
    "pcap_freealldevs": (None, [_P(PcapIf)]),
    "pcap_datalink_name_to_val": (ctypes.c_int, [cp]),
    "pcap_datalink_val_to_name": (ctypes.c_char_p, [ctypes.c_int]),
    "pcap_datalink_val_to_description": (ctypes.c_char_p, [ctypes.c_int]),
}
for _name, (_restype, _argtypes) in _SIGNATURES.items():
    _fn = getattr(lib, _name)
    _fn.restype = _restype
    _fn.argtypes = _argtypes


def errbuf() -> ctypes.Array:
    return ctypes.create_string_buffer(RC_ERRBUF_SIZE)


def message(buf: ctypes.Array) -> str:
    return buf.value.decode("utf-8", "replace")
