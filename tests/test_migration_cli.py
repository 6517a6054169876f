"""The migrate command's own rules, without hosts: arguments, playbooks, transitions, the live-phase refusal."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers import ROOT, run_cli
from kafkactl import cli, identity
from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.inventory import read_inventory
from kafkactl.migration import runner
from kafkactl.migration.runner import PHASE_PLAYBOOKS, ROLLBACK_FROM_KRAFT_BROKERS, MigrationRun, facts_after, settled_phase
from kafkactl.migration.state import PHASE_OF_STATE, Evidence, State, Status, ZooKeeperView
from kafkactl.model import Phase
from kafkactl.playbook import load_playbook
from kafkactl.report import Report
from kafkactl.transport import Transport

MIGRATION = ROOT / "inventories/kraft-migration/inventory.yml"
ZOOKEEPER = ROOT / "inventories/zookeeper-cluster/inventory.yml"


@pytest.mark.parametrize("args, message", [
    (["--status", "--phase", "dual-write"], "give either --status or --phase"),
    ([], "give either --status or --phase"),
    (["--phase", "kraft"], "--phase: 'kraft' is not one of dual-write, kraft-brokers, finalize, rollback, stop-zookeeper"),
])
def test_arguments_are_checked_before_anything_connects(args: list[str], message: str) -> None:
    outcome = run_cli("migrate", "kraft", str(MIGRATION), *args)
    assert outcome.exit_code == 1 and message in outcome.stderr and "Traceback" not in outcome.stderr


def test_a_zookeeper_inventory_is_not_a_migration_inventory() -> None:
    """--status reads any inventory's cluster (state 1 for a ZooKeeper-mode one); a phase needs the controllers."""
    outcome = run_cli("migrate", "kraft", str(ZOOKEEPER), "--phase", "dual-write")
    assert outcome.exit_code == 1
    assert "a migration inventory has both a zookeeper and a kafka_controller group" in outcome.stderr


@pytest.mark.parametrize("name", sorted({n for names in PHASE_PLAYBOOKS.values() for n in names} | set(ROLLBACK_FROM_KRAFT_BROKERS)))
def test_each_migration_playbook_renders_for_the_state_it_leads_to(name: str) -> None:
    playbook = load_playbook(name)
    assert Phase(playbook.phase) == PHASE_OF_STATE[State(playbook.to_state)]
    assert playbook.steps[0].name == "backup", "a phase backs up before its first change"
    assert playbook.to_state not in playbook.from_states or name == "migrate-stop-zookeeper"


def _status(state: State | None, between: tuple[State, State] | None = None) -> Status:
    return Status(state, between, "", [])


def _run() -> tuple[MigrationRun, io.StringIO]:
    out = io.StringIO()
    report = Report(Environment(stdout=out, stderr=io.StringIO(), stdin=io.StringIO(), variables={}))
    inventory = read_inventory(MIGRATION).inventory
    return MigrationRun(inventory, MIGRATION, None, report, Path("/nonexistent"), 300.0), out  # type: ignore[arg-type]


@pytest.mark.parametrize("phase, state, between, outcome", [
    ("dual-write", State.ZOOKEEPER, None, "go"),
    ("dual-write", None, (State.ZOOKEEPER, State.DUAL_WRITE), "go"),
    ("dual-write", State.DUAL_WRITE, None, "nothing"),
    ("dual-write", State.KRAFT_BROKERS, None, "refused"),
    ("kraft-brokers", State.ZOOKEEPER, None, "refused"),
    ("kraft-brokers", State.DUAL_WRITE, None, "go"),
    ("finalize", State.DUAL_WRITE, None, "refused"),
    ("finalize", State.KRAFT_BROKERS, None, "go"),
    ("finalize", State.KRAFT, None, "nothing"),
    ("rollback", State.DUAL_WRITE, None, "go"),
    ("rollback", State.KRAFT_BROKERS, None, "go"),
    ("rollback", State.KRAFT, None, "refused"),
    ("rollback", State.ZOOKEEPER, None, "nothing"),
    ("stop-zookeeper", State.KRAFT, None, "go"),
    ("stop-zookeeper", State.KRAFT_BROKERS, None, "refused"),
])
def test_transitions(phase: str, state: State | None, between, outcome: str) -> None:
    run, out = _run()
    status = _status(state, between)
    playbooks = run.playbooks(phase, status)
    if outcome == "refused":
        with pytest.raises(KafkactlError, match="this phase starts from state .* No host was changed"):
            run.check_transition(phase, status, playbooks)
        return
    assert run.check_transition(phase, status, playbooks) is (outcome == "go")
    if outcome == "nothing":
        assert "nothing to do" in out.getvalue()


def test_rollback_from_2b_returns_the_brokers_first() -> None:
    run, _ = _run()
    names = [p.name for p in run.playbooks("rollback", _status(State.KRAFT_BROKERS))]
    assert names == ["migrate-rollback-brokers", "migrate-rollback"]


def _hosts_untouched(monkeypatch: pytest.MonkeyPatch, status: Status, evidence: Evidence | None = None) -> None:
    """The live state the hosts would show, and no host reachable: the lock every changing run takes on the hosts
    is left out, and any connection fails the test."""
    live = SimpleNamespace(facts={}, signals=lambda: {}, delete_znode=lambda path: None)
    monkeypatch.setattr(runner, "read_live", lambda *args, **kwargs: (live, evidence or Evidence(ZooKeeperView(), ()), status))
    for commands in (cli.session, cli.migrate):  # the two modules whose commands take the lock
        monkeypatch.setattr(commands, "run_lock", lambda *args, **kwargs: contextlib.nullcontext())
    monkeypatch.setattr(identity, "read_live_ids", lambda transport, inventory: {})  # hosts that have not run yet
    monkeypatch.setattr(Transport, "connection", lambda self, name: pytest.fail(f"connected to {name}"))


def test_apply_refuses_a_cluster_between_states(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    between = Status(None, (State.DUAL_WRITE, State.KRAFT_BROKERS), "brokers 1 kraft, 2 migrating", [])
    _hosts_untouched(monkeypatch, between)
    outcome = run_cli("apply", str(MIGRATION), variables={"KAFKACTL_STATE_DIR": str(tmp_path)})
    assert outcome.exit_code == 1, outcome.stdout
    assert re.search(r"between state 2a and state 2b.*refuses to change a cluster between states", outcome.stderr, re.S), outcome.stderr
    assert not (tmp_path / "runs").exists(), "no run was started"


def test_a_settled_migration_inventory_is_rendered_for_its_state(monkeypatch: pytest.MonkeyPatch) -> None:
    inventory = read_inventory(MIGRATION).inventory
    settled = Status(State.KRAFT, None, "", [])
    monkeypatch.setattr(runner, "read_live", lambda *args, **kwargs: (None, Evidence(ZooKeeperView(), ()), settled))
    assert settled_phase(inventory, None) == Phase.FINALIZE  # type: ignore[arg-type]


def test_second_playbook_is_planned_against_what_the_first_leaves() -> None:
    inventory = read_inventory(MIGRATION).inventory
    first = desired_state(inventory, Phase.DUAL_WRITE)
    after = facts_after({}, first)
    broker = next(s for s in first.hosts if s.host.name == "kafka1.example.com")
    assert after["kafka1.example.com"].files["/etc/kafka/server.properties"].content == broker.files[0].content


def test_a_cluster_id_starting_with_a_dash_is_not_read_as_an_option() -> None:
    from kafkactl.executor import new_cluster_id, storage_format_arguments

    arguments = storage_format_arguments("-sa-KocjQCWANrZuTbAryQ", "/etc/kafka/controller.properties", [])
    assert "--cluster-id=-sa-KocjQCWANrZuTbAryQ" in arguments
    assert not any(new_cluster_id().startswith("-") for _ in range(500))


DASHED = "-sa-KocjQCWANrZuTbAryQ"  # a ZooKeeper cluster id may start with "-"


@pytest.mark.parametrize("given, stdin", [(["--confirm-cluster-id", DASHED], ""), ([], DASHED + "\n")], ids=["option", "typed"])
def test_finalize_accepts_a_cluster_id_starting_with_a_dash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, given, stdin) -> None:
    in_2b = Status(State.KRAFT_BROKERS, None, "", [])
    _hosts_untouched(monkeypatch, in_2b, Evidence(ZooKeeperView(read=True, cluster_id=DASHED), ()))
    monkeypatch.setattr(runner, "preflight", lambda *args: [])
    executors = []

    class RecordedExecutor:
        def __init__(self, *args) -> None:
            executors.append(args)

        def run(self, playbook):
            return {}

    monkeypatch.setattr(runner, "Executor", RecordedExecutor)
    outcome = run_cli("migrate", "kraft", str(MIGRATION), "--phase", "finalize", *given, stdin=stdin,
                      variables={"KAFKACTL_STATE_DIR": str(tmp_path)})
    assert outcome.exit_code == 0, outcome.stderr
    assert "FINALIZE IS THE ONE-WAY DOOR" in outcome.stdout
    assert [args[7] for args in executors] == [DASHED], "the confirmed id is the one the finalize playbook runs with"


def test_finalize_refuses_a_cluster_id_that_is_not_the_clusters(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _hosts_untouched(monkeypatch, Status(State.KRAFT_BROKERS, None, "", []), Evidence(ZooKeeperView(read=True, cluster_id=DASHED), ()))
    monkeypatch.setattr(runner, "preflight", lambda *args: [])
    outcome = run_cli("migrate", "kraft", str(MIGRATION), "--phase", "finalize", "--confirm-cluster-id", "-sa-Other",
                      variables={"KAFKACTL_STATE_DIR": str(tmp_path)})
    assert outcome.exit_code == 1
    assert "--confirm-cluster-id -sa-Other is not this cluster's id. No host was changed." in outcome.stderr


def test_status_as_json_for_scripts(monkeypatch: pytest.MonkeyPatch) -> None:
    _hosts_untouched(monkeypatch, Status(None, (State.DUAL_WRITE, State.KRAFT_BROKERS), "brokers 1 kraft, 2 migrating",
                                         ["kafka1.example.com: broker 1: kraft"]))
    outcome = run_cli("migrate", "kraft", str(MIGRATION), "--status", "--json")
    assert outcome.exit_code == 0, outcome.stderr
    assert json.loads(outcome.stdout) == {"state": None, "between": ["2a", "2b"], "evidence": ["kafka1.example.com: broker 1: kraft"],
                                          "label": "between state 2a and state 2b: brokers 1 kraft, 2 migrating", "versions": {}}
    refused = run_cli("migrate", "kraft", str(MIGRATION), "--phase", "dual-write", "--json")
    assert refused.exit_code == 1 and refused.stderr == "error: migrate kraft: --json goes with --status\n"
