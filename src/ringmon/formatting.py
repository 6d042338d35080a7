"""Numbers as a person reads them on the dashboard: SI-scaled counts, rates, sizes and durations."""
from __future__ import annotations

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


def file_size(size_bytes: int) -> str:
    value = float(size_bytes)
    prefix_index = 0
    while value >= 1024 and prefix_index < len(_BINARY_PREFIXES) - 1:
        value /= 1024
        prefix_index += 1
    return f"{value:.0f} {_BINARY_PREFIXES[0]}" if prefix_index == 0 else f"{value:.1f} {_BINARY_PREFIXES[prefix_index]}"


def duration_us(micros: float) -> str:
    """A latency or interval: '850µs', '1.2ms', '3.0s' (no space: a wrapped line never splits number and unit)."""
    if micros < 1000:
        return f"{micros:.0f}µs"
    if micros < 1_000_000:
        return f"{micros / 1000:.1f}ms"
    return f"{micros / 1_000_000:.1f}s"


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"
