"""The `ringmon` command: the dashboard (no command), `ringmon demo`, the headless `ringmon capture`, and
`ringmon read` (a capture file in the packet list)."""
from __future__ import annotations

import argparse
import difflib
import errno
import math
import os
import re
import stat
import sys
import tempfile
import textwrap
from collections.abc import Callable, Sequence
from fractions import Fraction

from ringcore import (
    CLASSIC_RING_PAGES,
    DEFAULT_KERNEL_BUFFER_BYTES,
    DEFAULT_POLL_INTERVAL_US,
    DEFAULT_RING_PAGES,
    DEFAULT_SLOT_SIZE,
    DEFAULT_SNAPLEN,
    DEFAULT_SPIN_US,
    DEFAULT_SPOOL_BYTES,
    DEFAULT_SPOOL_PACKETS,
    FORMATS,
    CaptureOptions,
    Direction,
    DropPolicy,
    RingcoreError,
    StoreOptions,
    WaitStrategy,
    validate_kernel_buffer,
    validate_ring,
    validate_snaplen,
    validate_spin,
)
from ringcore.store import MAX_SPOOL_BYTES, MAX_SPOOL_PACKETS, SPOOL_MIN_BYTES, SPOOL_MIN_PACKETS
from ringcore.filter import join_expression

from .formatting import escape

PROG = "ringmon"
DEFAULT_METRICS_ADDRESS = "127.0.0.1"  # --metrics PORT: only this host may scrape unless an address is named


def say(message: str) -> None:
    """One line on stderr, the way every ringmon error and notice reads."""
    print(f"{PROG}: {message}", file=sys.stderr, flush=True)


class UsageError(RingcoreError):
    """Flags that cannot go together, found after parsing: said and exited as argparse's own errors (status 2)."""


EXIT_STATUS = ("exit status:\n"
               "  0    done as asked (for a capture: -c reached, interrupted, or its reader went away)\n"
               "  1    an error, said in one line on stderr (an interface down or gone, a filter that does not\n"
               "       compile, a file that cannot be read or written, no privilege to capture)\n"
               "  2    a bad flag or value on the command line, or flags that cannot go together (such as\n"
               "       -F FILE with an expression, or --zero-copy with --slot-size), said in one line on stderr")


class _ManPageFormatter(argparse.HelpFormatter):
    """--help that reads like a man page: the description's paragraphs filled to the terminal, the sections of
    the epilog (examples, exit status: paragraphs of several lines) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(paragraph if "\n" in paragraph else
                            textwrap.fill(paragraph, width, initial_indent=indent, subsequent_indent=indent)
                            for paragraph in text.split("\n\n"))


class _Parser(argparse.ArgumentParser):
    def __init__(self, **kwargs):
        super().__init__(formatter_class=_ManPageFormatter, **kwargs)

    # argparse prints usage plus an error; a bad flag gets the same single line as any other bad input.
    def error(self, message: str):
        say(f"{message} (see '{self.prog} --help')")
        sys.exit(2)


# argparse names a type by its function in "invalid count value: 'x'"
def count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def megabytes(text: str) -> int:
    """-C's millions of bytes (as tcpdump's: 1 is 1,000,000; decimals too: 0.5), in bytes."""
    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of millions of bytes") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text.strip()}")
    return math.ceil(value * 1_000_000)


def spin_microseconds(text: str) -> int:
    try:
        return validate_spin(int(text))
    except ValueError as error:  # OutOfRangeError names the range
        raise argparse.ArgumentTypeError(str(error)) from None


def nonnegative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


# Every size and count flag reads the same way: a number (decimals too: 1.5G) and a binary unit, K = 1024;
# sizes may end in B or iB (2MB, 2MiB). A fraction of a byte or packet counts as one, as numfmt rounds.
_SCALED = re.compile(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(I?B)?", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def _scaled(text: str, flag_help: str, bytes_suffix: bool = True) -> int:
    """The number `text` says, in bytes (or packets: bytes_suffix False); one line naming what is wrong."""
    match = _SCALED.fullmatch(text.strip())
    if not match or (match.group(3) and not bytes_suffix):
        raise argparse.ArgumentTypeError(f"'{text}' is not {flag_help}")
    return math.ceil(Fraction(match.group(1)) * _SIZE_UNITS[match.group(2).upper()])


def size(text: str) -> int:
    """A spool's bytes from '512M', '1.5G', '2MB', '1048576'."""
    value = _scaled(text, "a size: a number of bytes, or with K, M, G or T (512M, 1.5G)")
    if value and value < SPOOL_MIN_BYTES:
        raise argparse.ArgumentTypeError(f"{text} is too small: a spool holds at least 1M (0: no store)")
    if value > MAX_SPOOL_BYTES:
        raise argparse.ArgumentTypeError(f"{text} is too large")
    return value


def byte_count(text: str) -> int:
    """Bytes for -s and --slot-size: '2048', '2K'."""
    if text.strip().startswith("-"):
        raise argparse.ArgumentTypeError(f"must not be negative, got {text.strip()}")
    return _scaled(text, "a number of bytes: a number, or with K (2K)")


def packets(text: str) -> int:
    """A packet count from '4M', '1.5M', '500K', '1000000' (units as sizes': 1M is 1048576)."""
    value = _scaled(text, "a number of packets: a number, or with K, M or G (4M, 1.5M)", bytes_suffix=False)
    if not SPOOL_MIN_PACKETS <= value <= MAX_SPOOL_PACKETS:
        raise argparse.ArgumentTypeError(f"{text} is out of range: the index holds {SPOOL_MIN_PACKETS} (4K) to "
                                         f"{MAX_SPOOL_PACKETS} (4G) packets")
    return value


def keep_directory(text: str) -> str:
    """--keep-spool's DIR, checked at start as tcpdump checks -w: a directory a file can be created in now (an
    exclusive probe, removed at once), so the store is not lost at exit for a typo, /proc or a read-only disk."""
    if not text:
        raise argparse.ArgumentTypeError("needs a directory, not an empty name")
    shown = escape(text)
    try:
        if not stat.S_ISDIR(os.stat(text).st_mode):
            raise argparse.ArgumentTypeError(f"{shown}: not a directory")
    except OSError as exc:
        reason = "no such directory" if exc.errno == errno.ENOENT else exc.strerror
        raise argparse.ArgumentTypeError(f"{shown}: {reason}") from None
    try:
        descriptor, probe = tempfile.mkstemp(prefix=".ringmon-probe-", dir=text)
    except OSError as exc:
        # /proc says ENOENT for a name it does not have: it takes no new file
        reason = "this file system takes no new files" if exc.errno == errno.ENOENT else exc.strerror
        raise argparse.ArgumentTypeError(f"{shown}: cannot create a file there: {reason}") from None
    os.close(descriptor)
    os.unlink(probe)
    return text


def listen_address(text: str) -> tuple[str, int]:
    """--metrics's [ADDR:]PORT ('9100', '0.0.0.0:9100', '[::1]:9100'); a port alone listens on 127.0.0.1."""
    address, _, port_text = text.rpartition(":")
    address = address.removeprefix("[").removesuffix("]") or DEFAULT_METRICS_ADDRESS
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise argparse.ArgumentTypeError(f"'{text}' is not [ADDR:]PORT with a port from 1 to 65535")
    return address, int(port_text)


def kibibytes(text: str) -> int:
    """-B's KiB (as tcpdump's: 4096 is 4 MiB), in bytes."""
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of KiB (-B 8192: 8 MiB)")
    return int(text) << 10


def link_type(text: str) -> int:
    """-y's name (EN10MB, RAW; any case), as libpcap's DLT_ value."""
    from ringcore.interfaces import linktype_by_name

    try:
        return linktype_by_name(text)
    except RingcoreError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def filter_from_file(path: str) -> str:
    """-F FILE's expression, read as tcpdump reads it: '#' to the end of its line is a comment."""
    try:
        with open(path, "rb") as file:
            text = file.read().decode("utf-8", "replace")
    except OSError as exc:
        raise RingcoreError(f"{path}: cannot read the filter: {exc.strerror}") from None
    return re.sub(r"#[^\n]*", " ", text)


class _VersionAction(argparse.Action):
    """--version: ringmon's, and the libpcap versions it runs (as tcpdump --version)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        from importlib.metadata import version

        from ringcore.filter import libpcap_versions

        linked, bundled = libpcap_versions()
        # tcpdump's first two lines; the third names the other libpcap's role, as tcpdump's names OpenSSL
        print(f"{PROG} version {version(PROG)}\n{linked}\ncapture filters compiled by pcapy-ng's {bundled}")
        parser.exit()


def _add_filter_file(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-F", dest="filter_file", metavar="FILE",
                        help="read the filter from FILE ('#' starts a comment to the end of the line, as tcpdump "
                             "reads it); an expression on the command line as well is a usage error, exit status 2 "
                             "(tcpdump ignores it) (default: the expression on the command line)")


def _add_numeric(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", dest="numeric", action="store_true",
                        help="do not resolve addresses or ports to names: ringmon never does (accepted for "
                             "tcpdump's habit)")


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action=_VersionAction,
                        help="print ringmon's version and the libpcap it links (as tcpdump --version), then the "
                             "version of pcapy-ng's own libpcap, which compiles capture filters, and exit")


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    """Where the dashboard keeps every packet it captures: the dashboard and the demo share them."""
    parser.add_argument("--spool-size", metavar="SIZE", type=size, default=DEFAULT_SPOOL_BYTES,
                        help="keep the packets captured in a spool of at most SIZE (512M, 1.5G; 0: none), in a private "
                             "directory under $TMPDIR removed at exit; beyond it the oldest leave, counted as evicted "
                             f"(default {DEFAULT_SPOOL_BYTES >> 30}G)")
    parser.add_argument("--spool-packets", metavar="COUNT", type=packets, default=DEFAULT_SPOOL_PACKETS,
                        help="index at most COUNT packets (4M, 500K), 32 bytes of memory each; beyond it the oldest "
                             f"leave, counted as evicted (default {DEFAULT_SPOOL_PACKETS >> 20}M: "
                             f"{DEFAULT_SPOOL_PACKETS * 32 >> 20} MiB)")
    parser.add_argument("--no-store", action="store_true", help="keep no packets (the same as --spool-size 0)")
    parser.add_argument("--keep-spool", metavar="DIR", type=keep_directory,
                        help="at exit, save the packets still stored to DIR as a pcapng named by the start time "
                             "(checked at start: a directory ringmon can create a file in) (default: the spool is removed at exit)")


def store_options(args: argparse.Namespace) -> StoreOptions | None:
    """The options of _add_store_options, checked together (DIR alone was checked by keep_directory)."""
    if args.no_store or args.spool_size == 0:
        if args.keep_spool is not None:
            raise UsageError("--keep-spool needs the store: drop --no-store or --spool-size 0")
        return None
    return StoreOptions(spool_bytes=args.spool_size, spool_packets=args.spool_packets, keep_dir=args.keep_spool)


def _add_ring_options(parser: argparse.ArgumentParser, ring_pages: int) -> None:
    # None unless given: --zero-copy refuses them given, and the demo picks its classic ring
    parser.add_argument("--slot-size", metavar="BYTES", type=byte_count,
                        help=f"bytes per ring slot, 64 to 65536 (64K) (default {DEFAULT_SLOT_SIZE})")
    parser.add_argument("--ring-pages", metavar="PAGES", type=nonnegative,
                        help=f"ring size in pages, one of them the header (default {ring_pages})")


def _add_capture_options(parser: argparse.ArgumentParser, wait: str) -> None:
    """The flags that say what to capture and how: the dashboard and `capture` share them."""
    parser.add_argument("-i", dest="interfaces", metavar="IFACE", action="append", default=[],
                        help="capture on this interface, by name or by the number 'ringmon capture -D' gives it "
                             "(repeat for several) (default: the dashboard watches every interface that is up; "
                             "capture needs one)")
    parser.add_argument("-s", dest="snaplen", metavar="SNAPLEN", type=byte_count, default=0,
                        help=f"bytes kept of each packet (0: the default, {DEFAULT_SNAPLEN})")
    parser.add_argument("-p", dest="promisc", action="store_false",
                        help="do not put the interface in promiscuous mode (default: promiscuous, as tcpdump)")
    _add_ring_options(parser, DEFAULT_RING_PAGES)
    parser.add_argument("--truncate-to-slot", action="store_true",
                        help="cut each packet to one slot (counted as truncated); by default a packet larger "
                             "than a slot takes several, kept whole up to the snap length")
    parser.add_argument("--drop-policy", choices=[policy.name.lower() for policy in DropPolicy], default="early",
                        help="when the ring is full: leave packets to the kernel (early) or take and drop them (late) "
                             "(default early)")
    parser.add_argument("--zero-copy", action="store_true",
                        help="no slot ring: the consumer reads each packet in place in the kernel's blocks, and a "
                             "block goes back to the kernel once its packets are consumed; every drop is the "
                             "kernel's (--slot-size, --ring-pages, --truncate-to-slot and --drop-policy late are "
                             "refused with it: exit status 2) (default: copied into the slot ring)")
    parser.add_argument("--dispatch", choices=("ring", "direct"), default="ring",
                        help="where the file, the talkers and the store take packets: a drain thread of their own "
                             "behind the ring (ring), or the capture thread itself on each kernel block, with no "
                             "hand-off (direct: implies --zero-copy; a slow sink shows as kernel drops; capture: "
                             "with -w or --count-only, its sinks) (default ring)")
    parser.add_argument("--immediate-mode", dest="immediate", action="store_true",
                        help="hand each packet over as soon as the kernel writes it, as tcpdump's --immediate-mode: "
                             "a TPACKET_V2 ring of frames sized for the interface's MTU instead of blocks handed "
                             "over when full or after 20 ms; costs a wake-up per frame at most, and a packet longer "
                             "than the MTU when the capture opened (a jumbo or GSO packet) is cut and counted as "
                             "truncated (default: blocks)")
    parser.add_argument("--wait", choices=[strategy.name.lower() for strategy in WaitStrategy], default=wait,
                        help="how the consumer waits on an empty ring: sleep the poll interval, yield, spin, "
                             "sleep until the producer signals a kernel block (event), or spin --spin us and then "
                             f"sleep as event (adaptive) (default {wait})")
    parser.add_argument("--poll-interval", metavar="US", type=nonnegative, default=DEFAULT_POLL_INTERVAL_US,
                        help=f"sleep between polls of an empty ring with --wait sleep (default {DEFAULT_POLL_INTERVAL_US} us)")
    parser.add_argument("--spin", metavar="US", type=spin_microseconds, default=DEFAULT_SPIN_US,
                        help="with --wait adaptive, poll again for this long before sleeping (1 to 1000, "
                             f"default {DEFAULT_SPIN_US} us)")
    parser.add_argument("-Z", dest="run_as", metavar="USER",
                        help="once the interfaces and output files are open, go on as USER with no capability "
                             "(default: stay who started it)")
    parser.add_argument("--metrics", metavar="[ADDR:]PORT", type=listen_address,
                        help="serve the statistics for Prometheus on http://ADDR:PORT/metrics (ADDR: default "
                             f"{DEFAULT_METRICS_ADDRESS}, this host only; 0.0.0.0: every address) (default: not served)")
    # tcpdump's capture flags
    parser.add_argument("-B", dest="kernel_buffer", metavar="KIB", type=kibibytes,
                        help="the kernel's buffer of each interface in KiB, as tcpdump's -B: its TPACKET_V3 ring "
                             "(cut into frames with --immediate-mode), whole 256 KiB blocks (rounded up), at least one and at most the machine's memory "
                             f"(default {DEFAULT_KERNEL_BUFFER_BYTES >> 10}: 32 blocks)")
    parser.add_argument("-Q", dest="direction", choices=[direction.value for direction in Direction],
                        help="capture only the packets received (in), sent (out) or both (inout, the default), "
                             "tested in the kernel by libpcap's 'inbound'/'outbound'; on loopback every packet is "
                             "seen once, coming in, so 'out' takes none there (as tcpdump)")
    parser.add_argument("-y", dest="linktype", metavar="TYPE", type=link_type,
                        help="the link type to capture by its libpcap name (EN10MB, RAW); one the interface does not "
                             "offer is an error (default: the interface's; -L lists it)")
    _add_filter_file(parser)
    parser.add_argument("filter", nargs="*", metavar="EXPRESSION",
                        help="capture filter, tcpdump syntax (pcap-filter(7)), compiled by libpcap and run in the "
                             "kernel (default: every packet)")


def _filter_expression(args: argparse.Namespace) -> str | None:
    """The filter of the command line's words or of -F FILE, never both (tcpdump 4.99 ignores the words)."""
    if args.filter_file is None:
        return join_expression(args.filter)
    if args.filter:
        raise UsageError(f"-F {args.filter_file} gives the filter: the expression on the command line "
                         f"('{' '.join(args.filter)}') would be ignored")
    return join_expression([filter_from_file(args.filter_file)])


def capture_options(args: argparse.Namespace) -> CaptureOptions:
    """The options of _add_capture_options, checked together: flags that contradict each other, or a ring that
    does not fit, are a usage error before anything opens."""
    _refuse_slot_ring_flags(args)
    slot_size = DEFAULT_SLOT_SIZE if args.slot_size is None else args.slot_size
    ring_pages = DEFAULT_RING_PAGES if args.ring_pages is None else args.ring_pages
    kernel_buffer = DEFAULT_KERNEL_BUFFER_BYTES if args.kernel_buffer is None else args.kernel_buffer
    snaplen = args.snaplen or DEFAULT_SNAPLEN
    try:
        validate_ring(slot_size, ring_pages)
        validate_kernel_buffer(kernel_buffer)
        validate_snaplen(snaplen)
    except RingcoreError as exc:
        raise UsageError(str(exc)) from None
    return CaptureOptions(
        slot_size=slot_size,
        ring_pages=ring_pages,
        snaplen=snaplen,
        promisc=args.promisc,
        kernel_buffer_bytes=kernel_buffer,
        direction=Direction(args.direction or "inout"),
        linktype_required=args.linktype,
        filter=_filter_expression(args),
        drop_policy=DropPolicy[args.drop_policy.upper()],
        wait_strategy=WaitStrategy[args.wait.upper()],
        poll_interval_us=args.poll_interval,
        spin_us=args.spin,
        truncate_to_slot=args.truncate_to_slot,
        zero_copy=args.zero_copy,
        direct_dispatch=args.dispatch == "direct",
        immediate=args.immediate,
    )


def _refuse_slot_ring_flags(args: argparse.Namespace) -> None:
    """Zero-copy (and direct dispatch, which is zero-copy) reads the kernel's blocks in place: the slot ring's
    flags would be ignored, so naming one is a usage error rather than a silent no-op."""
    mode_flag = "--dispatch direct" if args.dispatch == "direct" else "--zero-copy" if args.zero_copy else None
    if mode_flag is None:
        return
    given = [flag for flag, meaningless in (("--slot-size", args.slot_size is not None),
                                            ("--ring-pages", args.ring_pages is not None),
                                            ("--truncate-to-slot", args.truncate_to_slot),
                                            ("--drop-policy late", args.drop_policy == "late")) if meaningless]
    if given:
        raise UsageError(f"{mode_flag} cannot be used with {' or '.join(given)}: it reads packets in place in "
                         "the kernel's blocks, so there are no slots to size or cut packets to, and every drop is "
                         "the kernel's (early)")


def _dashboard_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="See what crosses an interface, and whether capture keeps up: the live dashboard on the named "
                    "interfaces (-i), or on every interface that is up (loopback with --loopback). Each interface's "
                    "packets go through a kernel ring and a ring in C to a packet store; the dashboard shows the "
                    "rings, the drops at each stage, the rates and the top talkers. ? in the dashboard explains "
                    "every key and every number.",
        epilog=f"commands:\n  {PROG} capture ...     headless capture, tcpdump-shaped (see '{PROG} capture --help')\n"
               f"  {PROG} read FILE       a pcap or pcapng file in the packet list (see '{PROG} read --help')\n"
               f"  {PROG} demo            the dashboard on generated traffic in private network namespaces\n"
               f"  {PROG} completion SH   the completion script for bash or zsh\n"
               f"\nexamples:\n"
               f"  {PROG}                             every interface that is up\n"
               f"  {PROG} -i eth0 -i wlan0 not port 22   two interfaces, without ssh\n"
               f"  {PROG} -i eth0 --spool-size 4G --keep-spool ~/captures   keep the packets at exit\n"
               f"\n{EXIT_STATUS}\n"
               f"  128+N  ended by signal N (SIGTERM, SIGHUP)",
    )
    _add_capture_options(parser, wait="sleep")  # the dashboard shows the classic 1 ms polling
    parser.add_argument("--loopback", action="store_true",
                        help="without -i, also plug the loopback interface")
    _add_store_options(parser)
    _add_version(parser)
    return parser


def _run_dashboard(args: argparse.Namespace) -> int:
    from ringcore.interfaces import interface_named

    from .dashboard import run_dashboard

    return run_dashboard([interface_named(name) for name in args.interfaces], capture_options(args), include_loopback=args.loopback, run_as=args.run_as,
                         store=store_options(args), metrics=args.metrics)


def _demo_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=f"{PROG} demo",
                     description="The dashboard on generated traffic between private network namespaces that the "
                                 "demo creates and removes (needs root): steady, bursty and flood phases show how the "
                                 "ring fills and where packets drop.",
                     epilog=f"examples:\n  sudo {PROG} demo\n  sudo {PROG} demo --ring-pages 4097   the default ring "
                            f"instead of the classic 64 slots\n\n{EXIT_STATUS}\n  128+N  ended by signal N (SIGTERM, SIGHUP)")
    _add_ring_options(parser, CLASSIC_RING_PAGES)  # the demo shows the classic ring
    _add_store_options(parser)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from .commands.demo import run_demo

    return run_demo(args)


# The capture options only a live capture has (by dest): -r refuses each one given a value other than its default.
LIVE_ONLY = {"interfaces", "netns", "stats_json", "metrics", "count_only", "file_size_mb", "rotate_seconds", "files_max",
             "kernel_buffer", "direction", "linktype", "promisc", "zero_copy", "dispatch", "immediate", "slot_size",
             "ring_pages", "truncate_to_slot", "drop_policy", "wait", "poll_interval", "spin"}


class _CaptureParser(_Parser):
    """Rotation's flags only make sense together and with -w, the live capture's not with -r: checked as argparse
    checks one flag (exit 2)."""

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        if parsed.read_file:
            live = [action.option_strings[0] for action in self._actions
                    if action.dest in LIVE_ONLY and getattr(parsed, action.dest) != action.default]
            if live:
                self.error(f"-r reads a file, so it cannot be used with {' or '.join(live)}")
        rotating = parsed.file_size_mb or parsed.rotate_seconds
        if parsed.files_max and not rotating:
            self.error("-W keeps the newest COUNT files of a rotation: it needs -C or -G")
        if rotating and not parsed.write_file:
            self.error("-C and -G rotate the file written: they need -w FILE")
        if rotating and parsed.write_file == "-":
            self.error("-C and -G rotate files: not standard output")
        if parsed.time_style > 5:
            self.error("-t takes at most five t's (-ttttt: the time since the first packet)")
        if parsed.rotate_seconds and "%" not in parsed.write_file:
            self.error("-G needs a strftime pattern in the file name (e.g. -w 'cap-%Y%m%d-%H%M%S.pcap'): "
                       "one name would replace each period's file with the next")
        return parsed


def _capture_parser() -> argparse.ArgumentParser:
    parser = _CaptureParser(
        prog=f"{PROG} capture",
        description="Capture without the dashboard, with tcpdump's flags: to a file with -w (drained in C, no "
                    "Python per packet), only counted with --count-only (read through --metrics), or one line per "
                    "packet on stdout; -r reads a file instead. At the end, tcpdump's summary on stderr: packets "
                    "captured, received by filter, dropped by the kernel and at the ring.",
        epilog=f"examples:\n"
               f"  {PROG} capture -D                                list the interfaces, numbered\n"
               f"  {PROG} capture -i eth0 -n udp port 53            DNS, one line per packet\n"
               f"  {PROG} capture -i eth0 -Q in -c 100 icmp         100 ICMP packets received\n"
               f"  {PROG} capture -i eth0 -U -w - | tshark -r -     a live stream to another tool\n"
               f"  {PROG} capture -i eth0 -B 65536 -w big.pcapng --format pcapng   a 64 MiB kernel buffer\n"
               f"  {PROG} capture -i eth0 -F filter.txt -w out.pcap -C 100 -W 10   ten files of 100 MB in a ring\n"
               f"  {PROG} capture -i eth0 -w 'cap-%Y%m%d-%H.pcap' -G 3600    a new file every hour\n"
               f"  {PROG} capture -r in.pcap tcp                    a file's TCP packets\n"
               f"  {PROG} capture -i eth0 --count-only --metrics 9100   counted, for Prometheus\n"
               f"\n{EXIT_STATUS}",
    )
    # headless, nobody watches the polling: sleep until the producer signals, no idle wake-ups
    _add_capture_options(parser, wait="event")
    parser.add_argument("-r", dest="read_file", metavar="FILE",
                        help="read packets from a pcap or pcapng file ('-': standard input) instead of capturing "
                             "(default: capture live, -i)")
    parser.add_argument("-w", dest="write_file", metavar="FILE", help="write packets to FILE, created 0600 (a replaced file keeps its mode) and complete under its name "
                             "once the capture ends; '-': standard output (refused on a terminal); a FIFO's reader "
                             "is waited for up to 10 s, as with tcpdump the reader may start after ringmon (default: one line per "
                             "packet on stdout)")
    parser.add_argument("-c", dest="count", metavar="COUNT", type=count,
                        help="stop after COUNT packets (default: until interrupted, or the end of -r's file)")
    parser.add_argument("-C", dest="file_size_mb", metavar="MB", type=megabytes,
                        help="with -w: a new file before one would pass MB millions of bytes, named FILE, FILE1, "
                             "FILE2 ... (with -W: FILE0 ... in a ring), as tcpdump (default: one file)")
    parser.add_argument("-G", dest="rotate_seconds", metavar="SECONDS", type=count,
                        help="with -w: a new file every SECONDS (at the first packet after), its name FILE through "
                             "strftime (-w 'cap-%%Y%%m%%d-%%H%%M%%S.pcap') (default: one file)")
    parser.add_argument("-W", dest="files_max", metavar="COUNT", type=count,
                        help="with -C or -G: keep the newest COUNT files, the oldest removed (default: keep all)")
    parser.add_argument("--format", choices=list(FORMATS),
                        help="file format for -w (pcapng keeps each packet's interface; default: pcap, or with -r "
                             "the input's)")
    parser.add_argument("--stats-json", metavar="FILE", help="write the final per-interface statistics to FILE (with -w, "
                             "'written': that interface's packets in the file) (default: none)")
    parser.add_argument("--netns", metavar="NAME",
                        help="open the interfaces (and list them, -D) inside this network namespace, as made by "
                             "'ip netns add' (default: this process's)")
    parser.add_argument("--count-only", action="store_true",
                        help="capture and count, printing and writing no packet: the headless monitor, with --metrics "
                             "what runs on every host of a fleet; the summary and --stats-json at the end as usual")
    _add_line_format_options(parser)
    # tcpdump's habits
    parser.add_argument("-D", dest="list_interfaces", action="store_true",
                        help="list the interfaces (of --netns) with their state, numbered as tcpdump -D numbers them "
                             "(its pseudo-devices, such as any, left out), and exit; -i takes the number too")
    parser.add_argument("-L", dest="list_linktypes", action="store_true",
                        help="list the link types of the -i interfaces (for -y) on stderr, as tcpdump, and exit")
    parser.add_argument("-U", dest="packet_buffered", action="store_true",
                        help="with -w: packet-buffered, each batch of packets reaches the file or stream as it is "
                             "taken (a FIFO's reader sees them at once) instead of when 1 MiB is buffered "
                             "(default: buffered; standard output is always packet-buffered)")
    parser.add_argument("-l", dest="line_buffered", action="store_true",
                        help="line-buffered standard output, for '| grep' or '| tee': always so in ringmon, each "
                             "batch of lines is written as it is printed (accepted for tcpdump's habit)")
    _add_numeric(parser)
    _add_version(parser)
    return parser


def _add_line_format_options(parser: argparse.ArgumentParser) -> None:
    """tcpdump's output flags: how each packet's line reads (decode/summary.py's LineFormat)."""
    lines = parser.add_argument_group("packet lines (as tcpdump's)")
    lines.add_argument("-e", dest="link_header", action="store_true",
                       help="print the link-level header on each line: MAC addresses, ethertype, frame length")
    lines.add_argument("-v", dest="verbose", action="count", default=0,
                       help="print the IP header's fields (tos, ttl, id, offset, flags, proto, length) and what "
                            "tcpdump -v adds: checksums checked, neighbor discovery options, DNS answers' names, "
                            "HTTP heads; -vv adds what tcpdump -vv does: IPv4 UDP checksums, every TCP segment's "
                            "seq, a DNS response's questions and authority and additional records, IGMP and MLD "
                            "records' sources, each neighbor discovery option's bytes; -vvv DNS TTLs too")
    lines.add_argument("-q", dest="quiet", action="store_true", help="quiet: less protocol information per line")
    lines.add_argument("-t", dest="time_style", action="count", default=0,
                       help="-t: no time; -tt: seconds since the epoch; -ttt: since the packet before; -tttt: "
                            "date and time; -ttttt: since the first packet (default: the time of day)")
    lines.add_argument("-x", dest="hex", action="count", default=0,
                       help="print each packet's bytes in hex, from the network layer (-xx: from the link layer)")
    lines.add_argument("-X", dest="hex_ascii", action="count", default=0,
                       help="print each packet's bytes in hex and ASCII, from the network layer (-XX: from the "
                            "link layer)")
    lines.add_argument("-A", dest="ascii", action="store_true",
                       help="print each packet's bytes from the network layer as text (what is not printable as "
                            "'.', escaped as every packet byte ringmon prints)")


def _run_capture(args: argparse.Namespace) -> int:
    from .commands.capture import run_capture

    return run_capture(args, capture_options(args))


class _IntermixedParser(_Parser):
    """FILE, then options, then the filter's words (`read IN -w OUT tcp port 80`), as tcpdump takes them."""

    def parse_args(self, args=None, namespace=None):
        return self.parse_intermixed_args(args, namespace)


def _read_parser() -> argparse.ArgumentParser:
    parser = _IntermixedParser(
        prog=f"{PROG} read",
        description="Open a pcap or pcapng file in the packet list: it shows at once while the file is indexed "
                    "in the background (in place, no copy), scrolls, jumps (g), finds (/) and opens packets "
                    "(enter). A damaged file shows every packet up to the damage and says what is wrong. "
                    "With -w, no list: the packets that match are written to a file.",
        epilog=f"examples:\n"
               f"  {PROG} read capture.pcapng                   the list; ? explains its keys\n"
               f"  {PROG} read capture.pcap tcp port 443        only HTTPS (tcpdump syntax)\n"
               f"  {PROG} read capture.pcap 'http.request'      Wireshark syntax, run by tshark\n"
               f"  {PROG} read in.pcap -w dns.pcap port 53      the DNS packets to a file\n"
               f"\n{EXIT_STATUS};\n       without -w, also a FILTER that does not compile\n"
               f"  128+N  the list ended by signal N (SIGTERM, SIGHUP)",
    )
    parser.add_argument("file", metavar="FILE", help="the capture file (pcap, µs or ns, either byte order; pcapng)")
    parser.add_argument("-w", dest="write_file", metavar="OUT",
                        help="no list: write the packets that match FILTER (all without one) to OUT, as "
                             "'tcpdump -r FILE -w OUT FILTER' does, and say how many on stderr; created 0600, complete "
                             "under its name or not there; '-': standard output (refused on a terminal) (default: the list)")
    parser.add_argument("--format", choices=list(FORMATS), help="file format for -w (default: the input's)")
    parser.add_argument("-c", dest="count", metavar="COUNT", type=count,
                        help="with -w: write the first COUNT matches (default: all)")
    parser.add_argument("filter", nargs="*", default=[], metavar="FILTER",  # a default: not "required"
                        help="show only the packets it matches, as the list's filter bar: tcpdump syntax (run by "
                             "libpcap) or Wireshark's display-filter syntax (run by tshark), detected; with -w, "
                             "tcpdump syntax, the packets written")
    _add_filter_file(parser)
    _add_numeric(parser)
    _add_version(parser)
    return parser


def _run_read(args: argparse.Namespace) -> int:
    expression = _filter_expression(args)
    args.filter = [expression] if expression else []
    if args.write_file:  # headless: none of the list's imports (Textual alone takes half a second)
        from .commands.export import run_read_export

        return run_read_export(args)
    from .commands.read import run_read

    return run_read(args)


def _completion_command_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=f"{PROG} completion",
        description="Print the shell completion script for ringmon's commands and flags (generated from its own "
                    "parsers by shtab).",
        epilog="enabling it:\n"
               f"  bash: {PROG} completion bash > ~/.local/share/bash-completion/completions/{PROG}\n"
               f"        (or: eval \"$({PROG} completion bash)\" in ~/.bashrc)\n"
               f"  zsh:  {PROG} completion zsh > \"${{fpath[1]}}/_{PROG}\"   (then start a new shell)\n"
               f"\n{EXIT_STATUS}",
    )
    parser.add_argument("shell", choices=["bash", "zsh"], help="the shell to complete in")
    return parser


def _run_completion(args: argparse.Namespace) -> int:
    from .commands.completion import completion_parser, print_completion

    commands = {name: (make_parser, summary) for name, (make_parser, _, summary) in COMMANDS.items() if name}
    return print_completion(completion_parser(_dashboard_parser(), commands), args.shell)


# The first word picks the command; none (or a filter word) is the dashboard. A table rather than
# argparse subcommands, because the dashboard itself takes a trailing filter expression.
COMMANDS: dict[str | None, tuple[Callable[[], argparse.ArgumentParser], Callable[[argparse.Namespace], int], str]] = {
    None: (_dashboard_parser, _run_dashboard, "the live dashboard"),
    "capture": (_capture_parser, _run_capture, "headless capture, tcpdump-shaped"),
    "demo": (_demo_parser, _run_demo, "the dashboard on generated traffic in private network namespaces"),
    "read": (_read_parser, _run_read, "a pcap or pcapng file in the packet list"),
    "completion": (_completion_command_parser, _run_completion, "the shell completion script (bash, zsh)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else None
    make_parser, run, _ = COMMANDS[command]
    # a mistyped command would be taken for the dashboard's filter, and fail as one
    typo = difflib.get_close_matches(argv[0], [name for name in COMMANDS if name], n=1, cutoff=0.75) if argv else []
    if command is None and typo:
        make_parser().error(f"'{escape(argv[0])}' is not a command: did you mean '{PROG} {typo[0]}'?")
    args = make_parser().parse_args(argv[1:] if command else argv)
    try:
        return run(args)
    except UsageError as exc:
        make_parser().error(escape(str(exc)))  # exits 2, as argparse's own
    except RingcoreError as exc:
        say(escape(str(exc)))  # it may name an interface or a file: any name Linux allows
        return 1
    except KeyboardInterrupt:
        return 130
