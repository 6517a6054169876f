"""Remote commands: the one way kafkactl builds a shell command for a host.

kafkactl runs as root on every host, so a value from an inventory or read from a host is data, never
code. Every command a host runs is a `Command`, and only this module makes one:

- `cmd("systemctl", "restart", unit)`: an argument list, every word quoted;
- `sh("if [ -e {path} ]; then rm -f {path}; fi", path=p)`: a fixed shell text (a literal in the
  source: tests/test_remote_commands.py checks every call) whose `{fields}` are quoted values, or
  Commands inserted as they are;
- `a & b` runs b when a succeeded (`all_of(a, b, c)` for several), `a | b` pipes, `seq(a, b)` runs both in turn.

`Connection.run` accepts nothing else, so an f-string can never reach a host's shell.
"""

from __future__ import annotations

import shlex
import string
from pathlib import PurePath

Word = str | int | PurePath

_FORMATTER = string.Formatter()


class Command:
    """A shell command whose every value has been quoted. Made only by `cmd`, `sh` and the operators."""

    __slots__ = ("_text",)

    def __init__(self, text: str, *, _made_here: object = None) -> None:
        if _made_here is not _TOKEN:
            raise TypeError("a Command is made with kafkactl.remote.cmd() or sh(), never from a string")
        self._text = text

    @property
    def text(self) -> str:
        return self._text

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"Command({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Command) and other._text == self._text

    def __hash__(self) -> int:
        return hash(self._text)

    def __and__(self, other: Command) -> Command:
        return _made(f"{self._group()} && {_checked(other)._group()}")

    def __or__(self, other: Command) -> Command:
        return _made(f"{self._group()} | {_checked(other)._group()}")

    def _group(self) -> str:
        return self._text if _is_simple(self._text) else "{ " + self._text + "; }"


_TOKEN = object()


def _made(text: str) -> Command:
    return Command(text, _made_here=_TOKEN)


def _checked(value: object) -> Command:
    if not isinstance(value, Command):
        raise TypeError(f"expected a Command, got {type(value).__name__}")
    return value


def _is_simple(text: str) -> bool:
    """True when the text has no top-level shell operator, so it needs no braces around it."""
    try:
        lexer = shlex.shlex(text, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return not any(token in {"&&", "||", ";", "|", "&"} for token in lexer)
    except ValueError:
        return False


def quote(value: Word) -> str:
    """One word, quoted for a POSIX shell. Only str, int and paths are words: anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int, PurePath)):
        raise TypeError(f"a shell word must be str, int or a path, got {type(value).__name__}")
    return shlex.quote(str(value))


def cmd(*words: Word) -> Command:
    """An argument list: `cmd("install", "-d", path)`."""
    if not words:
        raise ValueError("cmd() needs at least the program")
    return _made(" ".join(quote(word) for word in words))


def sh(template: str, /, **values: Word | Command | list[Word]) -> Command:
    """A fixed shell text with quoted values: `{name}` is a quoted word (a list is several quoted words),
    a Command is inserted as it is. Every field must be given and every value used."""
    fields = {name for _, name, _, _ in _FORMATTER.parse(template) if name is not None}
    if fields != set(values):
        raise ValueError(f"shell template fields {sorted(fields)} do not match the values {sorted(values)}")
    rendered = {}
    for name, value in values.items():
        if isinstance(value, Command):
            rendered[name] = value.text
        elif isinstance(value, list):
            rendered[name] = " ".join(quote(word) for word in value)
        else:
            rendered[name] = quote(value)
    return _made(template.format(**rendered))


def all_of(*commands: Command) -> Command:
    """Commands run in turn while each succeeds: `a && b && c`."""
    return _made(" && ".join(_checked(c)._group() for c in commands))


def seq(*commands: Command) -> Command:
    """Commands run one after the other, whatever each one's exit status."""
    return _made("; ".join(_checked(c).text for c in commands))


def shell(command: Command, program: str = "sh") -> Command:
    """The command as one argument to `sh -c` (or bash -c), for sudo, runuser and the like."""
    return cmd(program, "-c", _checked(command).text)


def program_of(text: str) -> str:
    """The first word of a command, for messages: never its arguments, which may hold values. Read as shlex.split
    reads it, only as far as that word (a facts script is long)."""
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split, lexer.commenters = True, ""
    try:
        for word in lexer:
            if word not in ("{", "(", "!") and "=" not in word:
                return word
    except ValueError:
        return next((word for word in text.split() if word not in ("{", "(", "!") and "=" not in word), "command")
    return "command"
