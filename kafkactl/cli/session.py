"""What the commands that change a cluster share: a connected, locked session with the live inventory, the live
plan with every refusal, and the checks made before any host changes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kafkactl.cli.common import (
    group_hosts, inventory_path, limited_to, live_inventory, live_phase, loaded_inventory, open_transport, run_lock,
    state_dir_of,
)
from kafkactl.desired import DesiredState, desired_state
from kafkactl.errors import KafkactlError
from kafkactl.facts import gather_all
from kafkactl.model import Inventory
from kafkactl.plan import HostFacts, Plan, make_plan
from kafkactl.report import Report

if TYPE_CHECKING:
    from kafkactl.journal import Journal
    from kafkactl.transport import Transport

# The inventory a command applies, from the operator's, its desired state and the facts read for it.
Stage = Callable[[Inventory, DesiredState, dict[str, HostFacts]], Inventory]


def live_plan(report: Report, transport: Transport, desired: DesiredState, inventory: Inventory,
              cluster_changes: bool = True) -> tuple[dict[str, HostFacts], Plan]:
    """Facts, refusals and the plan; `cluster_changes`: also read what metadata.version and the SCRAM users need
    (one of Kafka's tools each) and the connectors need, which a plain restart does not."""
    from kafkactl.components.principals import unnamed_nodes
    from kafkactl.components.topology import Topology
    from kafkactl.identity import layout_refusals
    from kafkactl.listener_changes import start_setting_zookeeper_acls, unsafe_listener_changes

    from kafkactl import connectors, metadata_version, scram_users
    from kafkactl.migration.runner import mode_mismatch
    from kafkactl.upgrade import upgrade_refusals, version_roll

    facts = gather_all(transport, desired, inventory.cluster)
    for notice in transport.notices:
        report.warning(notice)
    if inventory.natural_phase is not None and (problem := mode_mismatch(inventory, facts, desired)):
        raise KafkactlError(problem)
    refusals = layout_refusals(inventory, desired, facts) + unsafe_listener_changes(desired, facts)
    refusals += upgrade_refusals(inventory, desired, facts) + scram_users.refusals(inventory.cluster)
    refusals += unnamed_nodes(Topology.of(inventory, desired.phase))
    if refusals:
        raise KafkactlError(*refusals, "No host was changed.")
    roll = version_roll(inventory, desired, facts)
    securing = bool(start_setting_zookeeper_acls(desired, facts)) or znodes_owed(report, inventory, desired)
    if not cluster_changes:
        return facts, make_plan(desired, facts, version_roll=roll, secures_znodes=securing)
    live_level = metadata_version.live_level(transport, inventory, desired.phase, facts)
    feature = metadata_version.planned_change(inventory, live_level)
    if refusals := metadata_version.refusals(feature, inventory, facts) + metadata_version.release_refusals(live_level, inventory):
        raise KafkactlError(*refusals, "No host was changed.")
    users = scram_users.planned_changes(transport, inventory, facts, scram_users.Record(state_dir_of(report.env, Path(inventory.path))))
    return facts, make_plan(desired, facts, (feature,) if feature else (), users,
                            connectors.planned_changes(transport, inventory, facts), roll, securing)



def znodes_owed(report: Report, inventory: Inventory, desired: DesiredState) -> bool:
    """A run whose brokers started setting ACLs stopped before ZkSecurityMigrator secured the znodes that exist (their
    files say nothing of it any more): owed while the brokers still set ACLs."""
    from kafkactl.components.topology import Topology
    from kafkactl.journal import owed

    if not (inventory.cluster.sets_zookeeper_acls and Topology.of(inventory, desired.phase).brokers_use_zookeeper):
        return False
    return owed(state_dir_of(report.env, Path(inventory.path)), Path(inventory.path), "zookeeper_acls kafka_broker")


@dataclass
class Session:
    """What a command that connects works with: the inventory, its desired state, SSH, its journal."""

    report: Report
    path: Path
    command: str
    inventory: Inventory
    desired: DesiredState
    limit: frozenset[str] | None
    state_dir: Path
    previous: Journal | None
    transport: Transport

    def journal(self) -> Journal:
        from kafkactl.journal import Journal

        journal = Journal.start(self.state_dir, self.command, self.path, resumes=self.previous)
        resuming = f", resuming {self.previous.run_id}" if self.previous else ""
        self.report.line("")
        self.report.line(f"Run {journal.run_id}{resuming} (journal: {journal.path})")
        return journal


@contextmanager
def session(report: Report, inventory: Path | None, command: str, limit: str | None, resume: bool, forks: int,
            accept_new: bool, insecure: bool, *, lock: bool, break_lock: bool, stage: Stage | None = None) -> Iterator[Session]:
    """Connected, locked, with the live ids and the desired state; `stage` turns the inventory into the one this
    command applies (a listener migration's step) once the hosts' files are known."""
    from kafkactl.journal import resumable

    path = inventory_path(report.env, inventory)
    inv = loaded_inventory(report, path).inventory
    limited = limited_to(inv, limit, group_hosts(path))
    state_dir = state_dir_of(report.env, path)
    transport = open_transport(report, inv, forks, accept_new, insecure)
    try:
        with run_lock(report, state_dir, transport, command, lock, break_lock, resume):
            previous = resumable(state_dir, command, path) if resume else None
            inv = live_inventory(report, inv, transport)
            phase = live_phase(report, inv, transport)
            desired = desired_state(inv, phase)
            if stage is not None:
                inv = stage(inv, desired, gather_all(transport, desired, inv.cluster))
                desired = desired_state(inv, phase)
            yield Session(report, path, command, inv, desired, limited, state_dir, previous, transport)
    finally:
        transport.close()


def preflight(inventory: Inventory, desired: DesiredState, facts: dict[str, HostFacts], plan: Plan) -> None:
    """What would fail halfway is refused before any host changes: no Java, no archive to install."""
    without_java = [s.host.name for s in desired.hosts if s.kafka_home and "version" not in facts[s.host.name].java]
    if without_java:
        raise KafkactlError(
            f"no Java at {inventory.cluster.java_executable} (java_executable) on {', '.join(without_java)}; "
            "install Java 17 there first. No host was changed."
        )
    needing = [h.host for h in plan.hosts if h.install]
    source = inventory.cluster.kafka_archive_source
    if not needing:
        return
    if not source:
        raise KafkactlError(f"kafka_archive_source is not set and Kafka is not installed on {', '.join(needing)}")
    if not source.startswith(("http://", "https://")) and not Path(source).expanduser().is_file():
        raise KafkactlError(f"kafka_archive_source: {source}: no such file on this machine")
