"""What the operating system says about an interface (psutil), gathered inside the interface's namespace."""
from __future__ import annotations

import socket
from dataclasses import dataclass

import psutil

from ringcore import RingcoreError, in_netns

_FAMILY_NAMES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6", psutil.AF_LINK: "link"}
_DUPLEX_NAMES = {psutil.NIC_DUPLEX_FULL: "full", psutil.NIC_DUPLEX_HALF: "half", psutil.NIC_DUPLEX_UNKNOWN: "?"}


@dataclass(frozen=True)
class NicCounters:
    rx_packets: int
    rx_errors: int
    rx_drops: int
    tx_packets: int


@dataclass(frozen=True)
class InterfaceFacts:
    ifname: str
    netns: str | None
    is_up: bool | None = None  # administratively (IFF_UP): what `ip link set up` sets and a capture needs
    has_carrier: bool | None = None  # operationally up (IFF_RUNNING, `ip link`'s state UP): a link to carry on
    mtu: int | None = None
    speed_mbps: int | None = None  # 0 when the driver does not say (veth, lo)
    duplex: str | None = None
    addresses: tuple[str, ...] = ()  # "inet 198.18.0.1/24", "link 02:00:..."
    nic: NicCounters | None = None
    unavailable: str | None = None  # why nothing could be gathered


def _prefix_length(netmask: str | None) -> str:
    if not netmask:
        return ""
    try:
        packed = socket.inet_pton(socket.AF_INET6 if ":" in netmask else socket.AF_INET, netmask)
    except OSError:
        return ""
    return f"/{sum(bin(byte).count('1') for byte in packed)}"


def _describe_address(address) -> str:
    family = _FAMILY_NAMES.get(address.family, str(address.family))
    if address.family == psutil.AF_LINK:
        return f"{family} {address.address}"
    return f"{family} {address.address.split('%')[0]}{_prefix_length(address.netmask)}"


def _gather_here(ifname: str, netns: str | None) -> InterfaceFacts:
    stats = psutil.net_if_stats().get(ifname)
    if stats is None:
        return InterfaceFacts(ifname, netns, unavailable="not found" + (f" in netns {netns}" if netns else ""))
    addresses = tuple(_describe_address(address) for address in psutil.net_if_addrs().get(ifname, ()))
    # nowrap=False: psutil's wrap correction keeps the last value per interface *name*, process-wide, so
    # reading `lo` here after another namespace's smaller `lo` "wrapped" and added the old total each
    # time. The kernel's counters are 64-bit: they do not wrap.
    counters = psutil.net_io_counters(pernic=True, nowrap=False).get(ifname)
    nic = NicCounters(counters.packets_recv, counters.errin, counters.dropin, counters.packets_sent) if counters else None
    flags = stats.flags.split(",")
    return InterfaceFacts(
        ifname, netns, is_up="up" in flags, has_carrier="running" in flags, mtu=stats.mtu, speed_mbps=stats.speed,
        duplex=_DUPLEX_NAMES.get(stats.duplex, "?"), addresses=addresses, nic=nic,
    )


def gather_facts(ifname: str, netns: str | None = None) -> InterfaceFacts:
    """Facts about `ifname`; for one in another namespace the calling thread enters it for the call.

    Call it from the main thread: psutil lists interfaces from /proc/net/dev, and /proc/net
    follows the namespace of the process's main thread, not of the thread reading it. The
    calls are a few ioctls, cheap enough for the event loop once a second.
    """
    try:
        with in_netns(netns):
            return _gather_here(ifname, netns)
    except (RingcoreError, OSError) as error:
        return InterfaceFacts(ifname, netns, unavailable=f"in netns {netns}: {error}" if netns else str(error))


def list_interfaces(netns: str | None = None) -> list[InterfaceFacts]:
    """Every interface of a namespace with its state, for the plug picker."""
    try:
        with in_netns(netns):
            return [_gather_here(ifname, netns) for ifname in sorted(psutil.net_if_stats())]
    except (RingcoreError, OSError) as error:
        return [InterfaceFacts(f"({netns})", netns, unavailable=str(error))]


def up_interfaces(include_loopback: bool) -> list[str]:
    """Interfaces of this namespace that are up and have a carrier (psutil's isup is IFF_RUNNING): what `ringmon`
    with no -i watches."""
    return sorted(
        name for name, stats in psutil.net_if_stats().items()
        if stats.isup and (include_loopback or "loopback" not in stats.flags.split(","))
    )
