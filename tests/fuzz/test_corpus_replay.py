"""Every file of the regression corpus (tests/corpus/: crashers the fuzzers found, and hand-made hostile
inputs; c/: the C targets') replayed through the same checks as the fuzz targets, on every run."""
from __future__ import annotations

import pytest
from c_targets import C_TARGETS, corpus_files as c_corpus_files, replay, write_seeds
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


@pytest.mark.parametrize("target", C_TARGETS)
def test_corpus_c_target(target, c_fuzzer, tmp_path):
    """The C targets' seeds (real frames, odd headers) and their regression corpus, each input run once."""
    seeds = sorted(write_seeds(target, tmp_path / "seeds").iterdir())
    replay(target, c_fuzzer(target), seeds + c_corpus_files(target), tmp_path / "replay")
