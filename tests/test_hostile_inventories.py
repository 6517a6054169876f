"""Hostile input (tests/cases/hostile_inventories.yml): every case is refused with one clear line per problem,
or rendered and planned offline with no secret in any output while host and group names stay readable."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from kafkactl.components.properties import escape_value
from kafkactl.components.security import jaas_quote
from kafkactl.desired import systemd_quote

from helpers import run_cli

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "hostile_inventories.yml").read_text(encoding="utf-8"))
REFUSED = [c for c in CASES if "error" in c]
ACCEPTED = [c for c in CASES if "error" not in c]


def _write(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return tmp_path / "inventory.yml"


def _leaks(secret: str) -> set[str]:
    """Every way a secret could show: as it is, as any writer escapes it, and any piece of it a mask cut short."""
    forms = {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        escape_value(secret),
        jaas_quote(secret)[1:-1],
        systemd_quote(secret)[1:-1],
        *re.split(r"[\s\"'\\]+", secret),
    }
    return {form for form in forms if len(form) >= 4}


def _assert_no_secret(case: dict, printed: str) -> None:
    for secret in case.get("secrets", []):
        for form in _leaks(secret):
            assert form not in printed, f"{form!r} (from a secret) was printed"


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30
    assert len(REFUSED) >= 20 and len(ACCEPTED) >= 8


@pytest.mark.parametrize("case", REFUSED, ids=[c["name"] for c in REFUSED])
@pytest.mark.parametrize("command", ["validate", "render", "plan"])
def test_refused(case: dict, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value)
    inventory = _write(tmp_path, case["files"])
    out = tmp_path / "out"
    args = {"plan": ["plan", str(inventory), "--offline"], "render": ["render", str(inventory), "--out", str(out)],
            "validate": ["validate", str(inventory)]}[command]
    outcome = run_cli(*args)

    assert outcome.exit_code == 1, outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout
    assert outcome.stdout == ""
    lines = outcome.stderr.splitlines()
    assert lines and all(line.startswith(("error: ", "warning: ")) for line in lines), outcome.stderr
    errors = [line for line in lines if line.startswith("error: ")]
    assert any(case["error"] in line for line in errors), f"expected {case['error']!r} in {errors}"
    assert not out.exists()
    assert not (tmp_path.parent / "escape").exists()
    _assert_no_secret(case, outcome.stderr)


def _accepted_outputs(case: dict, tmp_path: Path) -> dict[str, str]:
    inventory = str(_write(tmp_path, case["files"]))
    out = tmp_path / "out"
    outputs = {}
    for name, args, code in [
        ("validate", ["validate", inventory], 0),
        ("render", ["render", inventory, "--out", str(out)], 0),
        ("plan", ["plan", inventory, "--offline"], 2),
        ("plan --diff", ["plan", inventory, "--offline", "--diff"], 2),
        ("plan --json", ["plan", inventory, "--offline", "--json"], 2),
    ]:
        outcome = run_cli(*args)
        assert outcome.exit_code == code, f"{name}: {outcome.stderr}"
        assert "Traceback" not in outcome.stderr + outcome.stdout
        outputs[name] = outcome.stdout + outcome.stderr
    json.loads(outputs["plan --json"])
    rendered = [p for p in out.rglob("*") if p.is_file()]
    assert rendered and all(out in p.resolve().parents for p in rendered)
    return outputs


@pytest.mark.parametrize("case", ACCEPTED, ids=[c["name"] for c in ACCEPTED])
def test_accepted_without_printing_a_secret(case: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in case.get("env", {}).items():
        monkeypatch.setenv(name, value)
    outputs = _accepted_outputs(case, tmp_path)
    for name, printed in outputs.items():
        _assert_no_secret(case, printed)
    for text in case.get("readable", []):
        assert text in outputs["plan --diff"], f"{text!r} missing from the plan"
        in_json = text.removeprefix("(").replace(" 0640", "")  # JSON has owner and mode apart
        assert in_json in outputs["plan --json"] or json.dumps(in_json)[1:-1] in outputs["plan --json"]
    for text in case.get("masked", []):
        assert text in outputs["plan --diff"], f"{text!r} missing from the plan's diff"
