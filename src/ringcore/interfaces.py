"""The interfaces a capture can open, as libpcap lists them (tcpdump -D's order and flags), their link types by
libpcap's names (-y, -L), and whether one is up."""
from __future__ import annotations

import ctypes
import errno
import fcntl
import socket
import struct
from dataclasses import dataclass

from . import _binding as rc
from .api import RingcoreError
from .filter import DLT_FOR_LINKTYPE
from .netns import in_netns

_SIOCGIFFLAGS = 0x8913  # linux/sockios.h
_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFREQ = struct.Struct("16sH22x")  # struct ifreq: the name, then ifr_flags
# tcpdump's status_flags, in its order
_STATUS_NAMES = ((rc.PCAP_IF_UP, "Up"), (rc.PCAP_IF_RUNNING, "Running"), (rc.PCAP_IF_LOOPBACK, "Loopback"),
                 (rc.PCAP_IF_WIRELESS, "Wireless"))
_CONNECTION_NAMES = {rc.PCAP_IF_CONNECTION_STATUS_UNKNOWN: "Connection status unknown",
                     rc.PCAP_IF_CONNECTION_STATUS_CONNECTED: "Connected",
                     rc.PCAP_IF_CONNECTION_STATUS_DISCONNECTED: "Disconnected"}
_ASSOCIATION_NAMES = {rc.PCAP_IF_CONNECTION_STATUS_UNKNOWN: "Association status unknown",
                      rc.PCAP_IF_CONNECTION_STATUS_CONNECTED: "Associated",
                      rc.PCAP_IF_CONNECTION_STATUS_DISCONNECTED: "Not associated"}


@dataclass(frozen=True)
class ListedInterface:
    """One network interface as pcap_findalldevs reports it, with tcpdump -D's number for it."""

    number: int
    name: str
    description: str | None
    flags: int  # pcap_if_t's PCAP_IF_*

    @property
    def status(self) -> str:
        """The bracketed part of a tcpdump -D line: 'Up, Running, Connected'."""
        if not self.flags:
            return ""
        names = [name for bit, name in _STATUS_NAMES if self.flags & bit]
        words = [", ".join(names) or "none"]
        table = _ASSOCIATION_NAMES if self.flags & rc.PCAP_IF_WIRELESS else _CONNECTION_NAMES
        connection = table.get(self.flags & rc.PCAP_IF_CONNECTION_STATUS)
        if connection:
            words.append(connection)
        return ", ".join(words)


def list_interfaces(netns: str | None = None) -> list[ListedInterface]:
    """The network interfaces of `netns` (None: ours) in libpcap's order (running and up first, loopback after the
    others) and numbered as tcpdump -D numbers them, leaving out libpcap's devices that are no interface (any,
    nflog, dbus, usbmon...: a packet socket cannot be bound to them), so -i 3 is the interface tcpdump's is."""
    devices = ctypes.POINTER(rc.PcapIf)()
    error = ctypes.create_string_buffer(rc.PCAP_ERRBUF_SIZE)
    with in_netns(netns):
        if rc.lib.pcap_findalldevs(ctypes.byref(devices), error) != 0:
            raise RingcoreError(f"listing the interfaces failed: {error.value.decode(errors='replace')}")
        try:
            found = []
            device = devices
            number = 0
            while device:
                number += 1
                name = device.contents.name.decode(errors="surrogateescape")
                description = device.contents.description
                if _interface_index(name):
                    found.append(ListedInterface(number, name, description.decode(errors="replace") if description else None,
                                                 device.contents.flags))
                device = device.contents.next
            return found
        finally:
            rc.lib.pcap_freealldevs(devices)


def exists(ifname: str, netns: str | None = None) -> bool:
    with in_netns(netns):
        return bool(_interface_index(ifname))


def _interface_index(name: str) -> int:
    try:
        return socket.if_nametoindex(name)
    except OSError:
        return 0


def interface_named(name: str, netns: str | None = None) -> str:
    """-i's interface: its name, or the number tcpdump -D gives it (-i 2, as tcpdump takes it) when no interface
    has that name."""
    if not name.isdigit() or exists(name, netns):
        return name
    for listed in list_interfaces(netns):
        if listed.number == int(name):
            return listed.name
    raise RingcoreError(f"there is no interface number {name} (see 'ringmon capture -D')")


def _interface_flags(ifname: str, netns: str | None) -> int:
    """The interface's IFF_* flags, read in its namespace (a socket belongs to the namespace it was made in)."""
    with in_netns(netns):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with probe:
        try:
            request = _IFREQ.pack(ifname.encode(errors="surrogateescape")[:15], 0)
            return _IFREQ.unpack(fcntl.ioctl(probe.fileno(), _SIOCGIFFLAGS, request))[1]
        except OSError as exc:
            raise RingcoreError(f"{ifname}: no such interface (see 'ip link' for the ones that exist)"
                                if exc.errno == errno.ENODEV else f"{ifname}: reading its state failed: {exc.strerror}") from None


def is_up(ifname: str, netns: str | None = None) -> bool:
    return bool(_interface_flags(ifname, netns) & _IFF_UP)


def is_loopback(ifname: str, netns: str | None = None) -> bool:
    return bool(_interface_flags(ifname, netns) & _IFF_LOOPBACK)


def interface_linktype(ifname: str, netns: str | None = None) -> int:
    """The LINKTYPE_ value a capture on the interface has (the one link type ringmon offers there)."""
    buf = rc.errbuf()
    with in_netns(netns):
        linktype = rc.lib.rc_interface_linktype(ifname.encode(errors="surrogateescape"), buf, len(buf))
    if linktype < 0:
        raise RingcoreError(rc.message(buf))
    return linktype


def linktype_name(linktype: int) -> str:
    """libpcap's name and description of a LINKTYPE_ value, as tcpdump prints them: 'EN10MB (Ethernet)'."""
    dlt = DLT_FOR_LINKTYPE.get(linktype, linktype)
    name = rc.lib.pcap_datalink_val_to_name(dlt)
    if name is None:
        return str(linktype)
    description = rc.lib.pcap_datalink_val_to_description(dlt)
    return f"{name.decode()} ({description.decode()})" if description else name.decode()


def linktype_by_name(name: str) -> int:
    """libpcap's DLT_ value for a link type name (EN10MB, RAW; any case), or RingcoreError."""
    dlt = rc.lib.pcap_datalink_name_to_val(name.encode(errors="replace"))
    if dlt < 0:
        raise RingcoreError(f"'{name}' is not a link type libpcap knows (EN10MB, RAW, ...: see -L)")
    return dlt
