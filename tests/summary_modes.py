"""The summary a walk for the summary only gives must be the full dissection's: the packet list and `ringmon
capture` show the one, the packet screen the other."""
from __future__ import annotations

from ringmon.decode import Dissection, dissect


def summary_columns(found: Dissection) -> tuple[str, str, str, str]:
    return found.protocol, found.source, found.destination, found.summary_info


def assert_summary_modes_agree(frame: bytes, linktype: int, wirelen: int | None = None) -> None:
    fast = dissect(frame, linktype, wirelen, tree=False)
    assert fast.layers == []
    assert summary_columns(fast) == summary_columns(dissect(frame, linktype, wirelen)), frame.hex()
