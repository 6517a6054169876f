"""Bad input: one clear error line naming file, line, host or key; exit 1; no traceback; nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from helpers import run_cli

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "bad_inventories.yml").read_text())


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "inventory.yml"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
@pytest.mark.parametrize("command", ["plan", "render", "validate"])
def test_bad_inventory(case: dict, command: str, tmp_path: Path) -> None:
    inventory = _write(tmp_path, case["files"])
    out = tmp_path / "out"
    args = {"plan": ["plan", str(inventory), "--offline"], "render": ["render", str(inventory), "--out", str(out)],
            "validate": ["validate", str(inventory)]}[command]
    outcome = run_cli(*args)

    assert outcome.exit_code == 1
    assert "Traceback" not in outcome.stderr + outcome.stdout
    errors = [line for line in outcome.stderr.splitlines() if line.startswith("error: ")]
    assert errors, outcome.stderr
    assert all(line.startswith(("error: ", "warning: ")) for line in outcome.stderr.splitlines())
    assert len(errors) <= 5
    matching = [line for line in errors if case["error"] in line]
    assert matching, f"expected {case['error']!r} in {errors}"
    if "warning" in case:
        assert any(case["warning"] in line for line in outcome.stderr.splitlines() if line.startswith("warning: ")), outcome.stderr
    assert all(secret not in outcome.stderr + outcome.stdout for secret in case.get("secrets", ()))
    if "at" in case:
        assert matching[0].removeprefix("error: ").startswith(str(tmp_path / case["at"])), matching[0]
    assert not out.exists()
    assert outcome.stdout == ""
