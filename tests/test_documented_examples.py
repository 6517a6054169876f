"""Every kafkactl command shown in README.md and docs/ that needs no host runs as documented."""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest

from helpers import ROOT, run_cli

NEEDS_HOSTS = {"apply", "lab", "migrate", "restart", "runs", "backup"}


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```(?:bash|console|sh)\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                for part in line.removeprefix("$ ").split("&&"):
                    part = part.strip()
                    if part.startswith("kafkactl "):
                        found.append((doc.name, part))
    return found


EXAMPLES = _examples()


def _offline(command: list[str]) -> bool:
    if command[0] in NEEDS_HOSTS:
        return False
    return command[0] != "plan" or "--offline" in command


def test_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("doc,command", EXAMPLES, ids=[f"{d}:{c}" for d, c in EXAMPLES])
def test_documented_example(doc: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = shlex.split(command)[1:]
    if not _offline(args):
        pytest.skip("needs real hosts: covered by the lab tests")
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    monkeypatch.chdir(tmp_path)
    outcome = run_cli(*args)
    assert outcome.exit_code in (0, 2), outcome.stderr
    assert "error" not in outcome.stderr
