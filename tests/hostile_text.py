"""Text that attacks a terminal, and the check that none of it survives to what ringmon displays."""
from __future__ import annotations

import re

# Escape sequences (CSI, OSC to BEL and to ST, a hyperlink), C1 controls as characters (U+0080–U+009F),
# bidi overrides and isolates, carriage return, backspace, DEL: each can move, recolour, retitle or reorder.
HOSTILE_STRINGS = (
    "\x1b[31mred", "\x1b[2J\x1b[H", "\x1b]0;pwned\x07", "\x1b]8;;http://198.18.0.9/\x1b\\link\x1b]8;;\x1b\\",
    "\x9b31m", "\x9d0;title\x9c", "\x85next", "\x90dcs\x9c", "\u202eevil", "\u202dltr", "\u2066\u2067\u2068iso\u2069",
    "\u200f", "cr\rover", "back\x08\x08", "del\x7f", "\x00nul", "\x07bell",
)
# The same as raw bytes, plus C1 as raw bytes (0x80–0x9f) and bytes that are not UTF-8 at all.
HOSTILE_BYTES = tuple(text.encode("utf-8") for text in HOSTILE_STRINGS) + (
    bytes(range(0x80, 0xA0)), b"\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc", b"\xed\xa0\x80surrogate",
)
# What must never reach the terminal: C0 controls but newline, DEL, C1, bidi controls, surrogates
# (undecodable bytes), and U+FFFD (a byte silently replaced instead of shown).
FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufffd]")


def assert_terminal_safe(text: str, *, lines: int | None = None) -> None:
    """No forbidden code point in `text`; `lines`: the newlines it may hold are exactly the structural ones."""
    assert FORBIDDEN.findall(text) == [], repr(text)
    if lines is not None:
        assert text.count("\n") == lines - 1, repr(text)
