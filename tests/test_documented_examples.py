"""Every kafkactl command shown in README.md and docs/: those that need no host run here as documented; each
one that needs hosts is listed with the test that runs it for real (checked to exist and to pass the command's
words), or reported, as a skip naming it, as exercised by no test at all."""

from __future__ import annotations

import ast
import re
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from helpers import ROOT, run_cli

NEEDS_HOSTS = {"apply", "lab", "migrate", "restart", "runs", "backup", "status"}


def _examples() -> list[tuple[str, str]]:
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in re.findall(r"```(?:bash|console|sh)\n(.*?)```", doc.read_text(), re.S):
            for line in block.splitlines():
                for part in line.removeprefix("$ ").split("&&"):
                    part = re.sub(r"\s+#.*$", "", part).strip()
                    if part.startswith("kafkactl "):
                        found.append((doc.name, part))
    return found


EXAMPLES = _examples()


def _offline(command: list[str]) -> bool:
    if command[0] in NEEDS_HOSTS:
        return False
    return command[0] != "plan" or "--offline" in command


@dataclass(frozen=True)
class RunForReal:
    """Where an example that needs hosts runs: `path::function`, which passes each of `words` as a literal;
    for a migration phase run by the Molecule scenarios, one scenario whose steps include it."""

    where: str
    words: tuple[str, ...]
    scenario: str | None = None
    step_prefix: str = ""
    """The scenario's step of a phase is this prefix and the phase's name."""


KRAFT_CHECKS = "tests/lab/test_kraft_cluster.py::test_restart_check_restarts_nothing_and_lab_status_sees_every_host"
MIGRATION_PHASE = RunForReal("molecule/shared/migration.py::phase", ("migrate", "kraft", "--phase"))
EXERCISED = {
    "kafkactl lab up": RunForReal("tests/lab/labkit.py::bring_up", ("lab", "up")),
    "kafkactl lab up --layout kraft": RunForReal("tests/lab/test_kraft_cluster.py::lab", ("--layout", "kraft")),
    "kafkactl lab up --controllers": RunForReal("tests/lab/test_migration_resume.py::lab", ("--controllers",)),
    "kafkactl lab down": RunForReal("tests/lab/labkit.py::take_down", ("lab", "down")),
    "kafkactl apply .lab/inventory.yml": RunForReal("tests/lab/test_zookeeper_cluster.py::test_first_apply_converges_every_host",
                                                    ("apply",)),
    "kafkactl migrate kraft .lab/migration.yml --status": RunForReal(
        "tests/lab/test_migration_resume.py::test_interrupted_phase_blocks_apply_and_resumes", ("migrate", "kraft", "--status")),
    "kafkactl migrate kraft .lab/migration.yml --phase dual-write": RunForReal(
        "tests/lab/test_migration_resume.py::test_interrupted_phase_blocks_apply_and_resumes",
        ("migrate", "kraft", "--phase", "dual-write")),
    "kafkactl migrate kraft .lab/migration.yml --phase kraft-brokers": RunForReal(MIGRATION_PHASE.where, MIGRATION_PHASE.words,
                                                                                   "kraft-migration"),
    "kafkactl migrate kraft .lab/migration.yml --phase finalize": RunForReal(MIGRATION_PHASE.where, MIGRATION_PHASE.words,
                                                                              "kraft-migration"),
    "kafkactl migrate kraft .lab/migration.yml --phase rollback": RunForReal(MIGRATION_PHASE.where, MIGRATION_PHASE.words,
                                                                              "kraft-migration"),
    "kafkactl restart .lab/inventory.yml --component broker": RunForReal(
        "tests/lab/test_rolling_restart.py::test_broker_killed_mid_roll_halts_and_resume_completes", ("restart", "--component", "broker")),
    "kafkactl restart .lab/inventory.yml --resume": RunForReal(
        "tests/lab/test_rolling_restart.py::test_broker_killed_mid_roll_halts_and_resume_completes", ("restart", "--resume")),
    "kafkactl runs .lab/inventory.yml": RunForReal(
        "tests/lab/test_rolling_restart.py::test_broker_killed_mid_roll_halts_and_resume_completes", ("runs",)),
    "kafkactl lab status": RunForReal(KRAFT_CHECKS, ("lab", "status")),
    "kafkactl status .lab/inventory.yml": RunForReal(
        "tests/lab/test_zookeeper_cluster.py::test_status_names_the_zookeeper_leader_and_the_brokers_controller", ("status",)),
    "kafkactl restart .lab/inventory.yml --check": RunForReal(KRAFT_CHECKS, ("restart", "--check")),
    "kafkactl backup list .lab/migration.yml": RunForReal(
        "tests/lab/test_migration_resume.py::test_backups_of_the_phase_verify", ("backup", "list")),
    # run there with --on-hosts, which checks the local copies as this example does, and the hosts' copies too
    "kafkactl backup verify .lab/migration.yml": RunForReal(
        "tests/lab/test_migration_resume.py::test_backups_of_the_phase_verify", ("backup", "verify")),
}
LISTENER_PHASE = RunForReal("molecule/shared/migration.py::listener_phase", ("migrate", "listeners", "--phase"),
                            "listener-migration-zk", step_prefix="listeners-")
EXERCISED.update({
    f"kafkactl migrate listeners inventories/secure-cluster/inventory.yml --phase {phase}": LISTENER_PHASE
    for phase in ("add", "authorizer", "inter-broker", "remove")})
EXERCISED["kafkactl migrate listeners inventories/secure-cluster/inventory.yml --status"] = RunForReal(
    LISTENER_PHASE.where, ("migrate", "listeners", "--status"))
# Examples that need hosts and that no test runs: reported as skips naming them, on every run.
NOT_EXERCISED = {
    "kafkactl migrate kraft .lab/migration.yml --phase stop-zookeeper",
    "kafkactl backup verify .lab/migration.yml --run RUN_ID --on-hosts",
    "kafkactl backup restore .lab/migration.yml --run RUN_ID [--limit HOSTS] [--yes]",
    "kafkactl restart .lab/migration.yml",
}


def test_docs_have_examples() -> None:
    assert len(EXAMPLES) >= 2


def test_every_example_that_needs_hosts_is_listed_once() -> None:
    needing_hosts = {command for _, command in EXAMPLES if not _offline(shlex.split(command)[1:])}
    assert not EXERCISED.keys() & NOT_EXERCISED
    assert needing_hosts == EXERCISED.keys() | NOT_EXERCISED


def _function_source(where: str) -> str:
    path, name = where.split("::")
    source = (ROOT / path).read_text()
    found = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.FunctionDef) and node.name == name]
    assert len(found) == 1, f"{where}: no such function"
    return ast.get_source_segment(source, found[0]) or ""


@pytest.mark.parametrize("command", sorted(EXERCISED))
def test_the_test_named_for_an_example_runs_it(command: str) -> None:
    exercise = EXERCISED[command]
    source = _function_source(exercise.where)
    missing = [word for word in exercise.words if f'"{word}"' not in source]
    assert not missing, f"{exercise.where} does not pass {missing}"
    if exercise.scenario:
        scenario = yaml.safe_load((ROOT / "molecule" / exercise.scenario / "molecule.yml").read_text())
        steps = scenario["ansible"]["env"]["KAFKACTL_SCENARIO_STEPS"].split()
        assert exercise.step_prefix + command.split("--phase ")[1] in steps, f"scenario {exercise.scenario} does not run it"


@pytest.mark.parametrize("doc,command", EXAMPLES, ids=[f"{d}:{c}" for d, c in EXAMPLES])
def test_documented_example(doc: str, command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    args = shlex.split(command)[1:]
    if command in NOT_EXERCISED:
        pytest.skip(f"NOT EXERCISED by any test: {command}")
    if not _offline(args):
        exercise = EXERCISED[command]
        pytest.skip(f"needs hosts: run by {exercise.where}" + (f" in Molecule scenario {exercise.scenario}" if exercise.scenario else ""))
    shutil.copytree(ROOT / "inventories", tmp_path / "inventories")
    monkeypatch.chdir(tmp_path)
    outcome = run_cli(*args)
    assert outcome.exit_code in (0, 2), outcome.stderr
    assert "error" not in outcome.stderr
