"""Hostile input (tests/cases/hostile_inventories.yml): every case is refused with one clear line per problem,
or rendered and planned offline with no secret in any output while host and group names stay readable."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
import yaml

from kafkactl.components.properties import escape_value
from kafkactl.components.security import jaas_quote
from kafkactl.desired import desired_state, systemd_quote
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.inventory import read_inventory
from kafkactl.masking import Masker
from kafkactl.render import write_rendered
from kafkactl.report import Report

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
        if name == "plan --json":
            json.loads(outcome.stdout)  # warnings go to stderr
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


# Masking by position, on what hosts may already hold -------------------------------------------------

OLD_SECRET = 'Zq9Old"p\\ä ss'  # a raw quote, a backslash, a space: as files written without escaping hold it


def test_diffs_against_unescaped_host_files_show_no_secret_piece() -> None:
    masker = Masker()
    diffs = {
        "/etc/kafka/server.properties": [
            f"ssl.keystore.password={OLD_SECRET}",
            f'listener.name.broker.plain.sasl.jaas.config=M required username="admin" password="{OLD_SECRET}" user_bob="{OLD_SECRET}";',
            "ssl.key.password=first\\",
            f"    {OLD_SECRET}",
        ],
        "/etc/kafka/zookeeper-jaas.conf": ["Server {", "  M required", f'  user_kafka="{OLD_SECRET}";', "};"],
        "/etc/systemd/system/kafka-broker.service": [
            f"Environment=KAFKA_OPTS=-Dssl.trustStorePassword={OLD_SECRET}",
            f'Environment="VAULT_SECRET={OLD_SECRET}" "OTHER=-Dx.password={OLD_SECRET}"',
        ],
    }
    for path, lines in diffs.items():
        diff = f"--- h:{path}\n+++ h:{path}\n@@ -1,{len(lines)} +0,0 @@\n" + "".join(f"-{line}\n" for line in lines)
        masked = masker.diff(path, diff)
        assert masked.count("\n") == diff.count("\n")
        _assert_no_secret({"secrets": [OLD_SECRET]}, masked)
        assert "********" in masked


def test_free_text_masks_values_by_name_and_leaves_words_alone() -> None:
    masker = Masker(["kafka"])
    text = "host kafka1.kafka.example.com: owner kafka:kafka, command failed: tool --add-scram SCRAM-SHA-512=[name=kafka,password=kafka]"
    assert masker(text) == text.replace("password=kafka]", "password=********]")


def test_json_is_masked_as_data_before_it_is_serialised() -> None:
    stdout = io.StringIO()
    report = Report(Environment(stdout=stdout, stderr=io.StringIO(), stdin=io.StringIO(), variables={}), Masker(["Zq9Lookup"]))
    secret = 'Zq9Jsön"\\x'
    report.json({
        "files": [{"path": "/etc/kafka/server.properties", "diff": f"+++ h\n+ssl.truststore.password={secret}\n+x.token=Zq9Lookup\n"}],
        "ssl_keystore_password": secret,
        "note": f'-Dx.password={secret} user_admin="{secret}"',
        "host": "kafka1",
    })
    document = json.loads(stdout.getvalue())
    _assert_no_secret({"secrets": [secret, "Zq9Lookup"]}, stdout.getvalue())
    assert document["host"] == "kafka1"
    assert document["files"][0]["diff"] == "+++ h\n+ssl.truststore.password=********\n+x.token=********\n"


def test_render_checks_containment_itself(tmp_path: Path) -> None:
    """Should a name ever get past validation, the writer still refuses to leave DIR."""
    desired = desired_state(read_inventory(_write(tmp_path / "inventory", {"inventory.yml": "zookeeper:\n  hosts: {zk1: }\n"})).inventory)
    state = desired.hosts[0]
    escaping = dataclasses.replace(state, host=state.host.model_construct(**{**dict(state.host), "name": "../../escape"}))
    with pytest.raises(KafkactlError, match="would be written outside"):
        write_rendered(dataclasses.replace(desired, hosts=(escaping,)), tmp_path / "a" / "out")
    assert not (tmp_path / "escape").exists() and not (tmp_path / "a" / "out").exists()
