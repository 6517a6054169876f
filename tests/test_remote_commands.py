"""The one quoting builder for remote commands (kafkactl/remote.py)."""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath

import pytest

from kafkactl.remote import Command, cmd, seq, sh, shell

HOSTILE = ["a;touch /tmp/x", "$(id)", "`id`", "a b", "'", '"', "\\", "-rf", "x\ny", "*", "~root", "%p", "ä"]


def run_locally(command: Command) -> str:
    return subprocess.run(["sh", "-c", command.text], capture_output=True, text=True, check=True).stdout


@pytest.mark.parametrize("value", HOSTILE)
def test_every_value_reaches_the_program_as_one_word(value: str):
    assert run_locally(cmd("printf", "%s|", value, "end")) == f"{value}|end|"
    assert run_locally(sh("printf '%s|' {value} end", value=value)) == f"{value}|end|"


def test_commands_compose_without_losing_their_quoting():
    both = cmd("printf", "%s", "a;b") & cmd("printf", "%s", "$(c)")
    assert run_locally(both) == "a;b$(c)"
    assert run_locally(seq(cmd("false"), cmd("printf", "ran"))) == "ran"
    assert run_locally(cmd("printf", "x y") | cmd("tr", " ", "_")) == "x_y"
    assert run_locally(shell(both)) == "a;b$(c)"
    assert run_locally(sh("{inner} && printf ok", inner=cmd("true"))) == "ok"
    assert run_locally(sh("printf '%s,' {words}", words=["a b", "c"])) == "a b,c,"
    assert cmd("cat", PurePosixPath("/etc/x y")).text == "cat '/etc/x y'"


def test_a_command_cannot_be_made_from_a_string():
    with pytest.raises(TypeError):
        Command("rm -rf /")
    with pytest.raises(TypeError):
        cmd("true") & "rm -rf /"  # type: ignore[operator]
    with pytest.raises(TypeError):
        cmd("echo", object())  # type: ignore[arg-type]


def test_template_fields_and_values_must_match():
    with pytest.raises(ValueError):
        sh("echo {a}", a="1", b="2")
    with pytest.raises(ValueError):
        sh("echo {a} {b}", a="1")
