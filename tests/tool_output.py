"""Captured tool output (tests/cases/tool_output/) and a connection that answers with it."""

from __future__ import annotations

import re
from collections.abc import Callable

from kafkactl.transport import CommandResult

from helpers import ROOT

CAPTURES = ROOT / "tests/cases/tool_output"


def captured(name: str) -> CommandResult:
    """What the tool printed, and its exit code, as it ran in the lab."""
    folder = CAPTURES / name
    code = int(re.search(r"^exit_code: (-?\d+)$", (folder / "about.yml").read_text(), re.M).group(1))
    return CommandResult(code, (folder / "stdout").read_text(), (folder / "stderr").read_text())


class ScriptedConnection:
    """Answers commands with scripted results (one for all, or one per command text) and records the commands:
    these tests are about reading output, not running it."""

    def __init__(self, result: CommandResult | Callable[[str], CommandResult], host=None) -> None:
        self.result = result
        self.host = host
        self.commands: list = []

    def run(self, command, **options) -> CommandResult:
        self.commands.append(command)
        return self.result(str(command)) if callable(self.result) else self.result
