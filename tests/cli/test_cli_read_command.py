"""`ringmon read FILE` before any screen: a file that is missing, not a file or not a capture is one line on
stderr and a non-zero exit, never a traceback or a half-drawn screen."""
from __future__ import annotations

import capture_files
import pytest
from cli_process import assert_one_error_line, run_ringmon


def test_read_help_says_what_it_does():
    result = run_ringmon("read", "--help")
    assert result.returncode == 0
    assert "packet list" in result.stdout.decode() and "pcapng" in result.stdout.decode()


def test_read_without_a_file_is_one_line():
    assert_one_error_line(run_ringmon("read"), "FILE")


def test_a_missing_file_is_one_line_naming_it(tmp_path):
    assert_one_error_line(run_ringmon("read", str(tmp_path / "nowhere.pcap")), "nowhere.pcap")


def test_a_directory_is_one_line(tmp_path):
    assert_one_error_line(run_ringmon("read", str(tmp_path)), str(tmp_path))


def test_a_file_that_is_not_a_capture_is_one_line(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("these are not packets\n" * 10)
    assert_one_error_line(run_ringmon("read", str(text)), "notes.txt")


def test_an_empty_file_is_one_line(tmp_path):
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    assert_one_error_line(run_ringmon("read", str(empty)), "empty.pcap")


def test_standard_input_is_refused_it_is_the_keyboard():
    assert_one_error_line(run_ringmon("read", "-", stdin=b"\xd4\xc3\xb2\xa1"), "standard input")


@pytest.mark.parametrize(("args", "fragments", "status"), [
    ([], ["the following arguments are required: FILE (see"], 2),  # FILTER is not required
    (["-"], ["standard input"], 2),
    (["{pcap}", "-c", "3"], ["-c and --format go with -w OUT"], 2),
    (["{pcap}", "--format", "pcapng"], ["-c and --format go with -w OUT"], 2),
    (["{pcap}", "-w", "{out}", "tcp", "prt", "80"], ["does not compile"], 1),
    (["{missing}"], ["nowhere.pcap"], 1),
], ids=["no-file", "stdin", "count-without-w", "format-without-w", "filter-with-w", "missing-file"])
def test_exit_status_is_2_for_a_usage_error_and_1_for_the_file_as_help_says(tmp_path, args, fragments, status):
    pcap = tmp_path / "in.pcap"
    pcap.write_bytes(capture_files.pcap([bytes(60)]))
    names = {"pcap": pcap, "out": tmp_path / "out.pcap", "missing": tmp_path / "nowhere.pcap"}
    result = run_ringmon("read", *(arg.format(**names) for arg in args))
    assert_one_error_line(result, *fragments)
    assert result.returncode == status
    assert not (tmp_path / "out.pcap").exists()
