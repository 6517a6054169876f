"""The one quoting builder for remote commands (kafkactl/remote.py)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from kafkactl.remote import Command, all_of, cmd, program_of, seq, sh, shell

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


def test_all_of_runs_each_command_while_the_ones_before_succeed():
    chained = all_of(cmd("printf", "a"), sh("false || printf {b}", b="b;"), cmd("printf", "c"))
    assert chained.text == "printf a && { false || printf 'b;'; } && printf c"
    assert run_locally(chained) == "ab;c"
    assert run_locally(seq(all_of(cmd("printf", "x"), cmd("false"), cmd("printf", "never")), cmd("true"))) == "x"


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


# Every module builds its remote commands with kafkactl.remote -----------------------------------------

PACKAGE = Path(__file__).resolve().parent.parent / "kafkactl"
RUNNERS = {"run", "exec_command"}  # what sends a command to a host's shell


def _is_text(node: ast.AST) -> bool:
    """An expression that makes a string: a literal, an f-string, a %-format, a concatenation, .format or .join."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Mod)):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in ("format", "join") \
        and isinstance(node.func.value, (ast.Constant, ast.JoinedStr))


def command_building_problems(source: str, path: str) -> list[str]:
    """Where a module builds a remote command other than with kafkactl.remote."""
    problems = []
    in_builder = path.endswith("kafkactl/remote.py")
    tree = ast.parse(source)
    attribute_objects = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    for node in ast.walk(tree):
        where = f"{path}:{getattr(node, 'lineno', 0)}"
        if not in_builder:
            # shlex.split reads words from a local setting and quotes nothing: the one use allowed elsewhere.
            if isinstance(node, ast.ImportFrom) and node.module == "shlex":
                problems.append(f"{where}: imports from shlex; quote with kafkactl.remote")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "shlex" \
                    and node.attr != "split":
                problems.append(f"{where}: shlex.{node.attr} outside kafkactl/remote.py; quote with kafkactl.remote")
            elif isinstance(node, ast.Name) and node.id == "shlex" and id(node) not in attribute_objects:
                problems.append(f"{where}: shlex passed around outside kafkactl/remote.py")
        if not isinstance(node, ast.Call):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id if isinstance(node.func, ast.Name) else ""
        if name == "sh" and (not node.args or not (isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))):
            problems.append(f"{where}: sh() template is not a string literal")
        if isinstance(node.func, ast.Attribute) and name in RUNNERS:
            given = node.args[:1] + [k.value for k in node.keywords if k.arg == "command"]
            if any(_is_text(arg) for arg in given):
                problems.append(f"{where}: .{name}() is given a string; build a Command with kafkactl.remote")
    return problems


def test_no_module_builds_a_remote_command_another_way():
    problems = [p for module in sorted(PACKAGE.rglob("*.py"))
                for p in command_building_problems(module.read_text(), str(module.relative_to(PACKAGE.parent)))]
    assert problems == []


PLANTED = [
    ('conn.run(f"systemctl restart {name}")', ".run() is given a string"),
    ('conn.run("rm -rf %s" % path)', ".run() is given a string"),
    ('conn.run("rm -rf " + path)', ".run() is given a string"),
    ('conn.run("true")', ".run() is given a string"),
    ('conn.run(command="cat {}".format(path))', ".run() is given a string"),
    ('conn.run(" && ".join(steps))', ".run() is given a string"),
    ('channel.exec_command(f"sh -c {x}")', ".exec_command() is given a string"),
    ('sh(template, x=1)', "sh() template is not a string literal"),
    ('sh(f"echo {x}")', "sh() template is not a string literal"),
    ('remote.sh("echo " + x)', "sh() template is not a string literal"),
    ("import shlex\nshlex.quote(x)", "shlex.quote outside kafkactl/remote.py"),
    ("from shlex import quote", "imports from shlex"),
    ("import shlex\nq = shlex", "shlex passed around"),
]


@pytest.mark.parametrize("source, problem", PLANTED)
def test_the_check_finds_a_planted_command_string(source: str, problem: str):
    [found] = command_building_problems(source, "kafkactl/planted.py")
    assert problem in found


def test_the_check_accepts_commands_built_with_the_builder():
    source = ('import shlex\nwords = shlex.split(setting)\nconn.run(cmd("systemctl", "restart", name))\n'
              'conn.run(sh("if [ -e {p} ]; then rm -f {p}; fi", p=path), check=False)\nconn.run(command)\n'
              'executor.run(playbook)\n')
    assert command_building_problems(source, "kafkactl/planted.py") == []
    assert command_building_problems("import shlex\nshlex.quote(x)\n", "kafkactl/remote.py") == []


@pytest.mark.parametrize("text", ["true", b"true"])
def test_a_connection_runs_nothing_but_a_command(text):
    from kafkactl.transport import Connection

    connection = Connection.__new__(Connection)  # no SSH session: the refusal comes before any use of one
    with pytest.raises(TypeError, match="kafkactl.remote Command"):
        connection.run(text)


@pytest.mark.parametrize("text, program", [
    ("a=1 b=2 systemctl restart kafka", "systemctl"),
    ("{ printf '%s' x; }", "printf"),
    ("( cd /tmp && ls )", "cd"),
    ("echo 'unbalanced", "echo"),
    ("! true", "true"),
    ("X=1", "command"),
])
def test_a_command_is_named_by_its_first_word_only(text: str, program: str) -> None:
    assert program_of(text) == program
