"""Every file of the regression corpus (tests/corpus/: crashers the fuzzers found, and hand-made hostile
inputs) replayed through the same checks as the fuzz targets, on every run."""
from __future__ import annotations

import pytest
from targets import check_capture_file, check_packet, corpus_files

from ringcore.filter import LINKTYPE_ETHERNET, LINKTYPE_RAW


@pytest.mark.parametrize("path", corpus_files("capture_file"), ids=lambda path: path.name)
def test_corpus_capture_file(path):
    check_capture_file(path.read_bytes())
    check_capture_file(path.read_bytes(), "udp")


@pytest.mark.parametrize("path", corpus_files("packet"), ids=lambda path: path.name)
def test_corpus_packet(path):
    data = path.read_bytes()
    for linktype in (LINKTYPE_ETHERNET, LINKTYPE_RAW):
        check_packet(data, linktype)
        check_packet(data, linktype, wirelen=len(data) + 1000)
