"""Values as a person reads them on the terminal: SI-scaled counts, rates, sizes and durations, wall-clock
timestamps, and text from packets and files escaped so that it can never drive the terminal."""
from __future__ import annotations

import time

NS_PER_S = 1_000_000_000
# Python's surrogateescape decoding keeps an undecodable byte B as the lone surrogate U+DC00+B.
_SURROGATE_ESCAPED_BYTES = range(0xDC80, 0xDD00)

_SI_PREFIXES = ("", "k", "M", "G", "T", "P")
_BINARY_PREFIXES = ("B", "KiB", "MiB", "GiB", "TiB")


def si(value: float, unit: str = "") -> str:
    """1234567 -> '1.23M'; small values keep their integer form so counts stay exact below 1000."""
    if abs(value) < 1000:
        number = f"{value:.0f}" if float(value).is_integer() or abs(value) >= 10 else f"{value:.1f}"
        return f"{number} {unit}" if unit else number
    prefix_index = 0
    while abs(value) >= 1000 and prefix_index < len(_SI_PREFIXES) - 1:
        value /= 1000
        prefix_index += 1
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    number = f"{value:.{digits}f}{_SI_PREFIXES[prefix_index]}"
    return f"{number} {unit}" if unit else number


def cut_start(text: str, width: int) -> str:
    """`text` in at most `width` characters, its start replaced by an ellipsis when it must be (an interface's
    key keeps its name, the end, which tells the interfaces of one namespace apart)."""
    return text if len(text) <= width else "…" + text[len(text) - max(width - 1, 0):]


def cut_end(text: str, width: int) -> str:
    """`text` in at most `width` characters, its end replaced by an ellipsis when it must be."""
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def cut_in_middle(text: str, width: int) -> str:
    """`text` in `width` cells, its middle replaced by an ellipsis. The end tells addresses apart (hosts of one
    network, a port, a netns's suffix): the tail keeps a port (`.443`) whole and twice what the head keeps of the
    start, and all of it when the head would be too short to read."""
    if len(text) <= width:
        return text
    room = width - 1
    head, dot, port = text.rpartition(".")
    kept_tail = len(port) + 1 if dot and head and port.isdigit() and len(port) + 1 < room else 0
    head_width = (room - kept_tail) // 3
    head_width = head_width if head_width >= 4 else 0
    return text[:head_width] + "…" + text[len(text) - (room - head_width):]


def file_size(size_bytes: int) -> str:
    value = float(size_bytes)
    prefix_index = 0
    while value >= 1024 and prefix_index < len(_BINARY_PREFIXES) - 1:
        value /= 1024
        prefix_index += 1
    return f"{value:.0f} {_BINARY_PREFIXES[0]}" if prefix_index == 0 else f"{value:.1f} {_BINARY_PREFIXES[prefix_index]}"


def duration_us(micros: float) -> str:
    """A latency or interval: '850µs', '1.2ms', '131ms', '3.0s', '134s' (no space: a wrapped line never splits
    number and unit; at most six characters up to 27 hours, so that with '≤' it fits the overview's p99 column)."""
    if micros < 1000:
        return f"{micros:.0f}µs"
    if micros < 99_950:
        return f"{micros / 1000:.1f}ms"
    if micros < 1_000_000:
        return f"{micros / 1000:.0f}ms"
    if micros < 99_950_000:
        return f"{micros / 1_000_000:.1f}s"
    return f"{micros / 1_000_000:.0f}s"


def latency_bound(upper_bound_us: float | None, exact: bool = False) -> str:
    """A latency from the ring's log2 histogram: '≤1.0ms' (a bucket's edge bounds it), '4.2ms' when exact, '—' for none."""
    if upper_bound_us is None:
        return "—"
    return ("" if exact else "≤") + duration_us(upper_bound_us)


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def escape(text: str) -> str:
    """Printable ASCII as it is, anything else as \\xNN, \\uNNNN or \\UNNNNNNNN, so nothing from the wire or a
    file reaches a terminal raw: no escape sequence, no C1 control, no carriage return, no bidi override.
    The one escaping function: every string taken from a packet or a file goes through it before display.
    A byte that was not UTF-8 (decoded with surrogateescape) shows as the byte, \\xNN."""
    if text.isascii() and text.isprintable() and "\\" not in text:
        return text  # the common case, without a loop per character
    out = []
    for char in text:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif 0x20 <= code < 0x7F:
            out.append(char)
        elif code < 0x100:
            out.append(f"\\x{code:02x}")
        elif code in _SURROGATE_ESCAPED_BYTES:
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    return "".join(out)


def wall_clock(ts_ns: int, date_format: str, fraction_digits: int, *, utc: bool = False) -> str:
    """A timestamp as date_format plus a fraction of a second. A file can claim any time at all (pcapng's
    if_tsoffset is 64-bit seconds); one the C library cannot break down is shown as raw seconds, not an error."""
    seconds, nanoseconds = divmod(ts_ns, NS_PER_S)
    fraction = f"{nanoseconds // 10 ** (9 - fraction_digits):0{fraction_digits}d}"
    try:
        clock = time.strftime(date_format, time.gmtime(seconds) if utc else time.localtime(seconds))
    except (OverflowError, OSError, ValueError):
        return f"{seconds}.{fraction}s"
    return f"{clock}.{fraction}"


def time_of_day(wall_s: float) -> str:
    """A moment of this session (time.time()) as the clock on the wall shows it: '12:01:03'."""
    return time.strftime("%H:%M:%S", time.localtime(wall_s))
