"""The CLI in-process: exit codes, JSON, masking, default inventory, phases, rendered files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from kafkactl.cli import variables_markdown

from helpers import ROOT, SECURE_ENV, run_cli

ZOOKEEPER_CLUSTER = str(ROOT / "inventories/zookeeper-cluster/inventory.yml")
MIGRATION = str(ROOT / "inventories/kraft-migration/inventory.yml")
SECURE = str(ROOT / "inventories/secure-cluster/inventory.yml")


def test_offline_plan_lists_every_host_in_order() -> None:
    outcome = run_cli("plan", ZOOKEEPER_CLUSTER, "--offline")
    assert outcome.exit_code == 2, outcome.stderr
    order = "zk1.example.com -> zk2.example.com -> zk3.example.com -> kafka1.example.com -> kafka2.example.com"
    assert order in outcome.stdout
    assert "install and start kafka-broker" in outcome.stdout
    assert "create   /etc/kafka/server.properties" in outcome.stdout


def test_offline_plan_json() -> None:
    outcome = run_cli("plan", ZOOKEEPER_CLUSTER, "--offline", "--json")
    assert outcome.exit_code == 2
    plan = json.loads(outcome.stdout)
    assert plan["phase"] == "zookeeper" and plan["offline"] is True
    assert [h["host"] for h in plan["hosts"]] == [
        "zk1.example.com", "zk2.example.com", "zk3.example.com",
        "kafka1.example.com", "kafka2.example.com", "kafka3.example.com",
        "connect1.example.com", "connect2.example.com", "schema1.example.com",
    ]
    broker = plan["hosts"][3]
    assert {f["path"]: f["action"] for f in broker["files"]}["/etc/kafka/server.properties"] == "create"
    assert broker["services"] == [
        {"name": "kafka-broker", "component": "kafka_broker", "action": "install and start",
         "ready": "broker_registered, no_under_replicated_partitions, preferred_leaders_elected"}
    ]


@pytest.mark.parametrize("args", [["plan", "--offline", "--diff"], ["plan", "--offline", "--json"], ["render", "--out", "OUT"]])
def test_secrets_never_printed(args: list[str], tmp_path: Path, secure_env) -> None:
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    outcome = run_cli(args[0], SECURE, *args[1:])
    assert outcome.exit_code in (0, 2), outcome.stderr
    printed = outcome.stdout + outcome.stderr
    for secret in SECURE_ENV.values():
        assert secret not in printed
    if "--diff" in args:
        assert 'password="********"' in printed and "ssl.keystore.password=********" in printed


def test_rendered_files_hold_secrets_and_are_private(tmp_path: Path, secure_env) -> None:
    out = tmp_path / "out"
    outcome = run_cli("render", SECURE, "--out", str(out))
    assert outcome.exit_code == 0, outcome.stderr
    server = out / "kafka1.example.com/etc/kafka/server.properties"
    assert f"ssl.keystore.password={SECURE_ENV['KAFKA_KEYSTORE_PASSWORD']}" in server.read_text()
    assert stat.S_IMODE(server.stat().st_mode) == 0o640
    unit = out / "kafka1.example.com/etc/systemd/system/kafka-broker.service"
    assert stat.S_IMODE(unit.stat().st_mode) == 0o644


def test_render_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert run_cli("render", ZOOKEEPER_CLUSTER, "--out", str(tmp_path / name)).exit_code == 0
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == 38  # 3 ZooKeeper x 4, 3 brokers x 6, 2 Connect x 3, 1 Schema Registry x 2
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files_a)


def test_inventory_from_environment_variable_then_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    outcome = run_cli("validate", variables={"KAFKACTL_INVENTORY": MIGRATION})
    assert outcome.exit_code == 0 and "kraft-migration/inventory.yml: valid" in outcome.stdout
    monkeypatch.chdir(tmp_path)
    (tmp_path / "inventory.yml").write_text(Path(ZOOKEEPER_CLUSTER).read_text())
    outcome = run_cli("validate")
    assert outcome.exit_code == 0 and outcome.stdout.startswith("inventory.yml: valid")
    os.remove(tmp_path / "inventory.yml")
    outcome = run_cli("validate")
    assert outcome.exit_code == 1 and outcome.stderr == ("error: inventory.yml: no such file (the inventory: give it as the "
                                                         "first argument, or set $KAFKACTL_INVENTORY)\n")


def test_migration_inventory_needs_a_phase(tmp_path: Path) -> None:
    outcome = run_cli("render", MIGRATION, "--out", str(tmp_path / "out"))
    assert outcome.exit_code == 1
    assert "choose --phase dual-write | kraft-brokers | finalize" in outcome.stderr
    assert not (tmp_path / "out").exists()
    outcome = run_cli("render", MIGRATION, "--out", str(tmp_path / "out"), "--phase", "dual-write")
    assert outcome.exit_code == 0
    controller = (tmp_path / "out/controller1.example.com/etc/kafka/controller.properties").read_text()
    assert "zookeeper.metadata.migration.enable=true" in controller


def test_phase_needs_a_migration_inventory(tmp_path: Path) -> None:
    outcome = run_cli("plan", ZOOKEEPER_CLUSTER, "--offline", "--phase", "finalize")
    assert outcome.exit_code == 1
    assert "--phase finalize needs both a zookeeper and a kafka_controller group" in outcome.stderr


def test_unknown_phase_is_refused() -> None:
    outcome = run_cli("plan", MIGRATION, "--offline", "--phase", "kraft-only")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: Invalid value for '--phase': 'kraft-only' is not one of")
    assert outcome.stderr.count("\n") == 1


def test_vars_matches_the_documentation() -> None:
    outcome = run_cli("vars")
    assert outcome.exit_code == 0
    assert outcome.stdout == variables_markdown() == (ROOT / "docs/variables.md").read_text()


def test_warnings_do_not_fail_the_command(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  vars:\n    jolokia_enabled: true\nzookeeper:\n  hosts: {zk1: }\nkafka_broker:\n  hosts: {kafka1: }\n")
    outcome = run_cli("validate", str(inventory))
    assert outcome.exit_code == 0
    assert outcome.stderr == (
        f"warning: {inventory}:3: jolokia_enabled: not supported by kafkactl: kafkactl does not install Jolokia: "
        "it reads what it needs with Kafka's own tools over SSH; it is ignored\n"
    )


def test_the_inventory_can_be_given_with_dash_i_as_to_ansible_playbook() -> None:
    by_flag = run_cli("plan", "-i", ZOOKEEPER_CLUSTER, "--offline")
    assert (by_flag.exit_code, by_flag.stdout) == (2, run_cli("plan", ZOOKEEPER_CLUSTER, "--offline").stdout)
    assert run_cli("validate", "--inventory", ZOOKEEPER_CLUSTER, ZOOKEEPER_CLUSTER).exit_code == 0
    both = run_cli("validate", "-i", ZOOKEEPER_CLUSTER, str(ROOT / "inventories/kraft-cluster/inventory.yml"))
    assert both.exit_code == 1 and "two inventories:" in both.stderr and "Traceback" not in both.stderr


def _command_paths(group, prefix=()):
    for name, command in group.commands.items():
        yield (*prefix, name)
        if hasattr(command, "commands"):
            yield from _command_paths(command, (*prefix, name))


def test_every_help_shows_flags_as_flags_and_whole_option_names(monkeypatch) -> None:
    import typer.main

    from kafkactl.cli import app

    monkeypatch.setenv("COLUMNS", "80")  # the help formatter's width: a narrow terminal
    root = typer.main.get_command(app)
    for path in [(), *_command_paths(root)]:
        outcome = run_cli(*path, "--help")
        assert outcome.exit_code == 0, path
        assert "<bool>" not in outcome.stdout and "…" not in outcome.stdout, (path, outcome.stdout)
        options = [line.split()[0] for line in outcome.stdout.splitlines() if line.startswith("  --")]
        assert all(len(option) > 3 for option in options), path


def test_with_json_on_stdout_every_other_line_goes_to_stderr() -> None:
    """`plan --json` on a migration inventory says which phase's state the hosts are in: on stderr, not in the JSON."""
    import io

    from kafkactl.environment import Environment
    from kafkactl.report import Report

    out, err = io.StringIO(), io.StringIO()
    report = Report(Environment(stdout=out, stderr=err, stdin=io.StringIO(), variables={}), data_on_stdout=True)
    report.line("Migration inventory; the hosts are in the dual-write phase's state")
    report.json({"phase": "dual-write"})
    assert json.loads(out.getvalue()) == {"phase": "dual-write"}
    assert err.getvalue() == "Migration inventory; the hosts are in the dual-write phase's state\n"
