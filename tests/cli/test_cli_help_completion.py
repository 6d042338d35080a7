"""`--help` reads like a man page (every option with its default, examples, exit status) and `ringmon completion`
gives a script the real bash completes ringmon's commands, flags and values with."""
import argparse
import re
import subprocess

import pytest
from cli_process import EXIT_TIMEOUT_S, run_ringmon

from ringmon import cli

COMMANDS = [name for name in cli.COMMANDS if name]


@pytest.mark.parametrize("command", [None, *COMMANDS], ids=["dashboard", *COMMANDS])
def test_help_has_a_description_examples_or_setup_and_the_exit_status(command):
    result = run_ringmon(*([command] if command else []), "--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    assert "exit status:\n  0 " in text and "\n  2 " in text
    assert "examples:\n" in text or "enabling it:\n" in text
    description = cli.COMMANDS[command][0]().description
    assert " ".join(description.split()[:6]) in " ".join(text.split())


@pytest.mark.parametrize("command", [None, *COMMANDS], ids=["dashboard", *COMMANDS])
def test_every_option_that_takes_a_value_says_its_default(command):
    parser = cli.COMMANDS[command][0]()
    undocumented = [action.option_strings[0] for action in parser._actions
                    if action.option_strings and action.nargs != 0 and not isinstance(action, argparse._HelpAction)
                    and "default" not in (action.help or "")]
    assert undocumented == []


def _bash_completes(script: str, *words: str) -> list[str]:
    """What bash's own completion offers for the last of `words`, with the script sourced."""
    program = f"""{script}
COMP_WORDS=({' '.join(repr(word) for word in words)})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE="${{COMP_WORDS[*]}}"
COMP_POINT=${{#COMP_LINE}}
_shtab_ringmon ringmon "${{COMP_WORDS[-1]}}" "${{COMP_WORDS[-2]}}"
printf '%s\\n' "${{COMPREPLY[@]}}"
"""
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", program], capture_output=True, text=True,
                          timeout=EXIT_TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_bash_completes_commands_flags_choices_and_interfaces(tmp_path):
    result = run_ringmon("completion", "bash")
    assert result.returncode == 0, result.stderr
    script = result.stdout.decode()
    assert _bash_completes(script, "ringmon", "ca") == ["capture"]
    assert _bash_completes(script, "ringmon", "capture", "--ver") == ["--version"]
    assert _bash_completes(script, "ringmon", "capture", "-Q", "") == ["inout", "in", "out"]
    assert "lo" in _bash_completes(script, "ringmon", "capture", "-i", "")
    assert _bash_completes(script, "ringmon", "completion", "") == ["bash", "zsh"]
    assert _bash_completes(script, "ringmon", "--spool-s") == ["--spool-size"]
    (tmp_path / "filter.txt").write_text("udp\n")
    assert _bash_completes(script, "ringmon", "capture", "-F", f"{tmp_path}/fil") == [f"{tmp_path}/filter.txt"]


def test_zsh_script_names_every_flag_of_capture():
    result = run_ringmon("completion", "zsh")
    assert result.returncode == 0, result.stderr
    script = result.stdout.decode()
    assert script.startswith("#compdef ringmon")
    capture = script.split("_shtab_ringmon_capture_options=(", 1)[1].split("\n)\n", 1)[0]
    for action in cli.COMMANDS["capture"][0]()._actions:
        for flag in action.option_strings:  # "-Q[help]:..." or {-h,--help}
            assert re.search(rf'["{{,*]{re.escape(flag)}[\[,}}]', capture), flag
