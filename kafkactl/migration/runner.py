"""`kafkactl migrate kraft`: read the live state, check, plan, confirm, back up, run the phase's playbooks.

A phase is one or two playbooks (playbooks/migrate-*.yml) run by the same executor as `apply`, with
a render of the same inventory for that phase: the operator never edits configuration between phases.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from kafkactl.components.kafka_broker import broker_properties
from kafkactl.components.topology import Topology
from kafkactl.desired import DesiredState, desired_state
from kafkactl.errors import KafkactlError
from kafkactl.executor import ClusterHooks, Executor, RunOptions
from kafkactl.facts import gather_all
from kafkactl.journal import Journal, resumable
from kafkactl.listener_changes import configurations
from kafkactl.migration.evidence import LiveCluster
from kafkactl.migration.preflight import preflight
from kafkactl.migration.state import PHASE_OF_STATE, Evidence, State, Status, ZooKeeperView, classify
from kafkactl.model import Component, Inventory, Phase
from kafkactl.plan import FileFacts, HostFacts, make_plan
from kafkactl.playbook import Playbook, load_playbook
from kafkactl.report import Exit, Report
from kafkactl.transport import Transport

PHASE_PLAYBOOKS = {
    "dual-write": ("migrate-dual-write",),
    "kraft-brokers": ("migrate-kraft-brokers",),
    "finalize": ("migrate-finalize",),
    "rollback": ("migrate-rollback",),
    "stop-zookeeper": ("migrate-stop-zookeeper",),
}
ROLLBACK_FROM_KRAFT_BROKERS = ("migrate-rollback-brokers", "migrate-rollback")
PHASE_NAMES = tuple(PHASE_PLAYBOOKS)


def state_key(status: Status) -> str:
    """How playbooks name a state in `from:`: "2a", or "2a-2b" between two."""
    if status.state:
        return status.state.value
    low, high = status.between or (None, None)
    return f"{low.value}-{high.value}" if low and high else "unknown"


def read_live(inventory: Inventory, transport: Transport, *, full: bool = True) -> tuple[LiveCluster, Evidence, Status]:
    """Facts from every host, then the evidence (without the slower cluster-wide reads when not full)."""
    # A migration inventory: every file any phase manages; a ZooKeeper-mode or KRaft one: its own.
    union = desired_state(inventory, inventory.natural_phase or Phase.DUAL_WRITE)
    live = LiveCluster(inventory, union, gather_all(transport, union, inventory.cluster), transport)
    evidence = live.evidence() if full else Evidence(ZooKeeperView(error="not read"), tuple(live.nodes()))
    return live, evidence, classify(evidence)


def settled_phase(inventory: Inventory, transport: Transport) -> Phase:
    """The render `plan` and `apply` use for a migration inventory: the one matching the live state."""
    _, _, status = read_live(inventory, transport, full=False)
    if status.state is None:
        raise KafkactlError(
            f"{inventory.path}: the migration is {status.label}; apply refuses to change a cluster between states. "
            "Continue with `kafkactl migrate kraft --phase <phase> --resume` or roll back with `--phase rollback`"
        )
    return PHASE_OF_STATE[status.state]


def mode_mismatch(inventory: Inventory, facts: dict[str, HostFacts], desired: DesiredState) -> str | None:
    """Why an inventory without the other mode's group must not touch these hosts, if it must not.

    A KRaft inventory (no zookeeper group) must not meet brokers still using ZooKeeper; a ZooKeeper
    inventory (no kafka_controller group) must not meet brokers that joined a migration: applying it would
    silently undo the migration."""
    using: list[str] = []
    for state, _, config, _ in configurations(desired, facts, (Component.KAFKA_BROKER, Component.KAFKA_CONTROLLER)):
        migrating = "zookeeper.metadata.migration.enable" in config or config.get("process.roles") == "broker"
        if desired.phase == Phase.KRAFT and "zookeeper.connect" in config:
            using.append(state.host.name)
        elif desired.phase == Phase.ZOOKEEPER and migrating:
            using.append(state.host.name)
    if not using:
        return None
    if desired.phase == Phase.KRAFT:
        return (f"{inventory.path}: no zookeeper group, but {', '.join(using)} still run with ZooKeeper; the zookeeper "
                "group may be dropped only once the migration is finalized (state 3). No host was changed.")
    return (f"{inventory.path}: no kafka_controller group, but {', '.join(using)} take part in a ZooKeeper-to-KRaft "
            "migration; use the migration inventory (with its kafka_controller group). No host was changed.")


def facts_after(facts: dict[str, HostFacts], desired: DesiredState) -> dict[str, HostFacts]:
    """What the hosts will hold once `desired` is applied: for planning a second playbook before the first runs."""
    after = {}
    for state in desired.hosts:
        current = facts.get(state.host.name, HostFacts())
        files = dict(current.files)
        for managed in state.files:
            files[managed.path] = FileFacts(managed.content, f"{managed.owner}:{managed.group}", managed.mode, 0)
        after[state.host.name] = replace(current, files=files)
    return after


@dataclass
class MigrationRun:
    """One `migrate kraft --phase` invocation."""

    inventory: Inventory
    inventory_path: Path
    transport: Transport
    report: Report
    state_dir: Path
    gate_timeout: float

    def playbooks(self, phase: str, status: Status) -> list[Playbook]:
        names = PHASE_PLAYBOOKS[phase]
        if phase == "rollback" and state_key(status) in ("2b", "2a-2b"):
            names = ROLLBACK_FROM_KRAFT_BROKERS
        return [load_playbook(name) for name in names]

    def check_transition(self, phase: str, status: Status, playbooks: list[Playbook]) -> bool:
        """False when the cluster is already where the phase leads; refuses a transition the state does not allow."""
        key = state_key(status)
        if key in playbooks[0].from_states:
            return True
        if status.state and status.state.value == playbooks[-1].to_state:
            self.report.line(f"Already in {status.label}: nothing to do")
            return False
        allowed = " or ".join(playbooks[0].from_states)
        raise KafkactlError(f"--phase {phase}: the cluster is in {status.label}; this phase starts from state {allowed}. "
                            "No host was changed.")

    def kraft_broker_properties(self) -> dict[str, dict[str, str]]:
        topology = Topology.of(self.inventory, Phase.KRAFT_BROKERS)
        return {h.name: broker_properties(topology, h).as_dict() for h in topology.brokers}

    def run(self, phase: str, *, assume_yes: bool, confirm_cluster_id: str | None, resume: bool) -> None:
        report = self.report
        live, evidence, status = read_live(self.inventory, self.transport)
        report.line(f"Migration: {status.label}")
        for line in status.evidence:
            report.line(f"  {line}")
        playbooks = self.playbooks(phase, status)
        if not self.check_transition(phase, status, playbooks):
            return
        towards = Phase.ZOOKEEPER if phase == "rollback" else Phase(playbooks[-1].phase)
        findings = preflight(self.inventory, evidence, status, towards, self.kraft_broker_properties())
        for finding in findings:
            if finding.level == "warning":
                report.warning(str(finding))
        errors = [f"pre-flight {f}" for f in findings if f.level == "error"]
        if errors:
            raise KafkactlError(*errors, "No host was changed.")
        cluster_id = evidence.cluster_id
        report.line(f"Pre-flight checks passed; cluster id {cluster_id} agrees everywhere")

        previous = resumable(self.state_dir, playbooks[0].name, self.inventory_path) if resume else None
        desired = [desired_state(self.inventory, Phase(p.phase)) for p in playbooks]
        plans = [make_plan(desired[0], live.facts)]
        if len(playbooks) == 2:
            plans.append(make_plan(desired[1], facts_after(live.facts, desired[0])))
        for playbook, plan in zip(playbooks, plans):
            report.line("")
            report.line(f"Playbook {playbook.name}: state {state_key(status)} -> {playbook.to_state}, steps: "
                        + ", ".join(str(s) for s in playbook.steps), style="bold")
            report.plan(plan, show_diff=True)
        self.confirm(phase, cluster_id, assume_yes, confirm_cluster_id)
        report.exit_code = Exit.OK

        for index, playbook in enumerate(playbooks):
            if index:
                live, evidence, status = read_live(self.inventory, self.transport, full=False)
                plans[index] = make_plan(desired[index], live.facts)
                previous = None
            journal = Journal.start(self.state_dir, playbook.name, self.inventory_path, resumes=previous)
            report.line("")
            report.line(f"Run {journal.run_id}: {playbook.name} (journal: {journal.path})", style="bold")
            options = RunOptions(gate_timeout=self.gate_timeout, backup_root=self.state_dir / "backups")
            hooks = ClusterHooks(live.signals(), live.delete_znode)
            executor = Executor(self.inventory, desired[index], plans[index], live.facts, self.transport, report, options,
                                cluster_id, journal, hooks)
            report.summary(executor.run(playbook), done=playbook.name)
        _, _, final = read_live(self.inventory, self.transport, full=False)
        report.line(f"Migration: now {final.label}")
        if phase == "finalize" and final.state == State.KRAFT:
            report.line("ZooKeeper is no longer used by this cluster. Once nothing else uses it: "
                        f"kafkactl migrate kraft {self.inventory_path} --phase stop-zookeeper, then drop the zookeeper group.")
        if phase == "stop-zookeeper":
            report.line("ZooKeeper is stopped. Drop the zookeeper group from the inventory now: applying the inventory "
                        "as it is would start ZooKeeper again.")

    def confirm(self, phase: str, cluster_id: str | None, assume_yes: bool, confirm_cluster_id: str | None) -> None:
        report = self.report
        if phase == "finalize":
            report.line("")
            report.line("FINALIZE IS THE ONE-WAY DOOR. After it the controllers stop writing metadata to ZooKeeper and "
                        "there is no way back to ZooKeeper mode: no rollback, no restore.", style="bold red")
            if confirm_cluster_id is not None:
                if confirm_cluster_id != cluster_id:
                    raise KafkactlError(f"--confirm-cluster-id {confirm_cluster_id} is not this cluster's id. No host was changed.")
                return
            answer = self._ask(f"Type the cluster id ({cluster_id}) to finalize: ")
            if answer != cluster_id:
                raise KafkactlError("the cluster id was not typed; not finalized. No host was changed.")
            return
        if assume_yes:
            return
        if not report.confirmed(f"Run --phase {phase} as planned above? Type yes to go on: "):
            raise KafkactlError("not confirmed. No host was changed.")

    def _ask(self, prompt: str) -> str:
        self.report.env.stdout.write(prompt)
        self.report.env.stdout.flush()
        return self.report.env.stdin.readline().strip()
