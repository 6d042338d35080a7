"""The `ringmon` entry point: which command runs, and that the dashboard's bad input never reaches a screen."""
from cli_process import assert_one_error_line, run_ringmon


def test_dashboard_rejects_a_ring_that_does_not_fit_before_drawing_anything():
    assert_one_error_line(run_ringmon("--slot-size", "32"), "slot size 32")


def test_dashboard_unknown_interface_is_one_error_line():
    assert_one_error_line(run_ringmon("-i", "rmtnosuch0"), "rmtnosuch0", "no such interface")


def test_unknown_flag_is_one_error_line_naming_the_commands_help():
    assert_one_error_line(run_ringmon("capture", "--bogus"), "--bogus", "ringmon capture --help")


def test_help_lists_the_commands():
    result = run_ringmon("--help")
    assert result.returncode == 0
    assert b"ringmon capture" in result.stdout and b"ringmon demo" in result.stdout
