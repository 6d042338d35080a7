"""The packets a person marked in the list: a bitmap over packet numbers, one bit a packet (a million packets
cost 125 KiB), so marking everything displayed, counting and exporting never hold a Python int per packet."""
from __future__ import annotations

from ringcore.store import PacketSelection

_FULL = 0xFF


class PacketMarks:
    def __init__(self) -> None:
        self._bits = bytearray()
        self._count: int | None = 0  # None: changed since last counted

    def __contains__(self, number: int) -> bool:
        byte = number >> 3
        return byte < len(self._bits) and bool(self._bits[byte] >> (number & 7) & 1)

    def __len__(self) -> int:
        if self._count is None:
            self._count = int.from_bytes(self._bits, "little").bit_count()
        return self._count

    def _grow(self, stop: int) -> None:
        needed = (stop + 7) >> 3
        if needed > len(self._bits):
            self._bits.extend(bytes(needed - len(self._bits)))

    def toggle(self, number: int) -> bool:
        """Packet `number` marked if it was not, unmarked if it was; whether it is marked now."""
        self._grow(number + 1)
        self._bits[number >> 3] ^= 1 << (number & 7)
        self._count = None
        return number in self

    def set_range(self, start: int, stop: int, marked: bool = True) -> None:
        """Numbers start .. stop-1 marked (or unmarked): whole bytes at once, bits only at the two ends."""
        if start >= stop:
            return
        if not marked:
            stop = min(stop, len(self._bits) * 8)
            if start >= stop:
                return
        self._grow(stop)
        self._count = None
        head_end, tail_start = min(stop, (start + 7) & ~7), max(start, stop & ~7)
        for number in (*range(start, head_end), *range(max(head_end, tail_start), stop)):
            if marked:
                self._bits[number >> 3] |= 1 << (number & 7)
            else:
                self._bits[number >> 3] &= ~(1 << (number & 7)) & _FULL
        if head_end < tail_start:
            fill = b"\xff" if marked else b"\x00"
            self._bits[head_end >> 3:tail_start >> 3] = fill * ((tail_start - head_end) >> 3)

    def mark_selected(self, selection: PacketSelection, start_index: int, stop_index: int) -> None:
        """The numbers at positions start_index .. stop_index-1 of a selection marked, in C: a filter's
        400,000 matches take a few milliseconds, not a Python loop over ints."""
        stop_index = min(stop_index, len(selection))
        last = selection.numbers(stop_index - 1, 1) if stop_index > start_index else []
        if last:
            self._grow(last[0] + 1)
            selection.set_bits(self._bits, start_index, stop_index)
            self._count = None

    def copy(self) -> PacketMarks:
        """The marks as they are now, for a thread to read while the list changes them (125 KiB a million)."""
        marks = PacketMarks()
        marks._bits, marks._count = bytearray(self._bits), self._count
        return marks

    def clear(self) -> None:
        self._bits = bytearray()
        self._count = 0

    def selection(self) -> PacketSelection:
        """The marked numbers as a selection, built in C from the bitmap: what an export takes."""
        return PacketSelection.from_bitmap(self._bits)
