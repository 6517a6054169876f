"""The migration's state, read from evidence: a pure function, so every case is a data file in the tests.

States are the ones operators think in (docs/migration.md): 1 ZooKeeper, 2a dual-write with
ZooKeeper-mode brokers, 2b dual-write with KRaft brokers, 3 KRaft-only. A cluster whose nodes do not
all agree on one of them is "between" two, which only the migration itself may continue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from kafkactl.health import Partition
from kafkactl.model import Phase

# kafka.controller:type=KafkaController,name=ZkMigrationState
ZK_MIGRATION_STATES = {0: "NONE", 1: "MIGRATION", 2: "PRE_MIGRATION", 3: "POST_MIGRATION", 4: "ZK"}
MIGRATION, PRE_MIGRATION, POST_MIGRATION = 1, 2, 3
COMPLETED_LOG_LINE = "Completed migration of metadata from ZooKeeper to KRaft"


class State(StrEnum):
    ZOOKEEPER = "1"
    DUAL_WRITE = "2a"
    KRAFT_BROKERS = "2b"
    KRAFT = "3"


STATE_NAMES = {
    State.ZOOKEEPER: "ZooKeeper mode",
    State.DUAL_WRITE: "dual-write, brokers in ZooKeeper mode with the migration flag",
    State.KRAFT_BROKERS: "dual-write, brokers in KRaft mode",
    State.KRAFT: "KRaft only (migration finalized)",
}
# The render that matches each settled state: what `plan` and `apply` compare the hosts with.
PHASE_OF_STATE = {
    State.ZOOKEEPER: Phase.ZOOKEEPER,
    State.DUAL_WRITE: Phase.DUAL_WRITE,
    State.KRAFT_BROKERS: Phase.KRAFT_BROKERS,
    State.KRAFT: Phase.FINALIZE,
}
ORDER = list(State)


@dataclass(frozen=True)
class Node:
    """One broker or controller as found on its host."""

    host: str
    role: str  # "broker" | "controller"
    node_id: int
    config: dict[str, str] | None  # the live properties file; None when absent
    running: bool
    config_pending: bool = False  # the file is newer than the running service
    cluster_ids: dict[str, str] = field(default_factory=dict)  # meta.properties path -> cluster.id
    version: str | None = None  # the Kafka version the service runs
    zk_migration_state: int | None = None  # controllers, from JMX
    migrating_zk_brokers: int | None = None  # controllers: ZooKeeper-mode brokers still taking part (JMX)
    completed_migration_logged: bool = False  # controllers

    @property
    def mode(self) -> str:
        """absent | zookeeper | migrating | kraft: what the node's configuration makes it."""
        if not self.config:
            return "absent"
        if self.config.get("zookeeper.metadata.migration.enable", "").lower() == "true":
            return "migrating"
        if "zookeeper.connect" in self.config and self.role == "broker":
            return "zookeeper"
        return "kraft"

    @property
    def effective_mode(self) -> str:
        """The mode the node runs in; "absent" for a controller that is not running."""
        return "absent" if self.role == "controller" and not self.running else self.mode


@dataclass(frozen=True)
class ZooKeeperView:
    read: bool = False
    controller: dict | None = None  # /controller
    migration: dict | None = None  # /migration
    cluster_id: str | None = None  # /cluster/id
    controller_epoch: int | None = None  # /controller_epoch
    broker_ids: tuple[int, ...] | None = None  # /brokers/ids
    error: str = ""

    @property
    def kraft_controller_epoch(self) -> int | None:
        """The KRaft controller epoch when a KRaft controller holds /controller (ZooKeeper-mode brokers write -1)."""
        value = (self.controller or {}).get("kraftControllerEpoch")
        return int(value) if value is not None and int(value) >= 0 else None


@dataclass(frozen=True)
class Evidence:
    zookeeper: ZooKeeperView
    nodes: tuple[Node, ...]
    partitions: list[Partition] | str | None = None  # None: not read; str: the tool's error
    registered_brokers: tuple[int, ...] | None = None
    metadata_version: str | None = None  # the controllers' finalized metadata.version

    def of_role(self, role: str) -> list[Node]:
        return [n for n in self.nodes if n.role == role]

    @property
    def cluster_id(self) -> str | None:
        """ZooKeeper's /cluster/id, else the one the nodes' meta.properties name (pre-flight makes sure they agree)."""
        found = [self.zookeeper.cluster_id] + [cid for n in self.nodes for cid in n.cluster_ids.values()]
        return next((cid for cid in found if cid), None)


@dataclass(frozen=True)
class Status:
    state: State | None  # None: between two states
    between: tuple[State, State] | None
    description: str
    evidence: list[str]

    @property
    def label(self) -> str:
        if self.state:
            return f"state {self.state.value}: {STATE_NAMES[self.state]}"
        low, high = self.between or (State.ZOOKEEPER, State.KRAFT)
        return f"between state {low.value} and state {high.value}: {self.description}"


def _count(nodes: list[Node], mode: str) -> int:
    return sum(1 for n in nodes if n.effective_mode == mode)


def classify(evidence: Evidence) -> Status:
    brokers, controllers = evidence.of_role("broker"), evidence.of_role("controller")
    broker_modes = {n.effective_mode for n in brokers}
    controller_modes = {n.effective_mode for n in controllers} or {"absent"}  # an inventory without controllers
    pending = [n.host for n in evidence.nodes if n.config_pending and (n.running or n.role == "broker")]
    lines = describe(evidence)

    settled = {
        (frozenset({"absent"}), frozenset({"zookeeper"})): State.ZOOKEEPER,
        (frozenset({"migrating"}), frozenset({"migrating"})): State.DUAL_WRITE,
        (frozenset({"migrating"}), frozenset({"kraft"})): State.KRAFT_BROKERS,
        (frozenset({"kraft"}), frozenset({"kraft"})): State.KRAFT,
    }
    state = settled.get((frozenset(controller_modes), frozenset(broker_modes)))
    if state and not pending:
        return Status(state, None, STATE_NAMES[state], lines)
    if state:  # every file says `state`, but some service still runs what it had before
        previous = ORDER[max(0, ORDER.index(state) - 1)]
        return Status(None, (previous, state), f"configuration changed but not yet restarted on {', '.join(pending)}", lines)

    def tally(nodes: list[Node], role: str) -> str:
        counts: dict[str, int] = {}
        for node in nodes:
            counts[node.effective_mode] = counts.get(node.effective_mode, 0) + 1
        return f"{role}s " + ", ".join(f"{count} {mode}" for mode, count in sorted(counts.items()))

    description = f"{tally(controllers, 'controller')}; {tally(brokers, 'broker')}"
    if controller_modes <= {"absent", "migrating"} and broker_modes <= {"zookeeper", "migrating"}:
        between = (State.ZOOKEEPER, State.DUAL_WRITE)
    elif controller_modes == {"migrating"} and broker_modes <= {"migrating", "kraft"}:
        between = (State.DUAL_WRITE, State.KRAFT_BROKERS)
    elif controller_modes <= {"migrating", "kraft"} and broker_modes == {"kraft"}:
        between = (State.KRAFT_BROKERS, State.KRAFT)
    else:
        between = None
        description += " (no migration step leads here; check the hosts before any change)"
    return Status(None, between, description, lines)


def describe(evidence: Evidence) -> list[str]:
    """The evidence, one line per fact, as `migrate kraft --status` prints it."""
    zk = evidence.zookeeper
    lines = []
    if zk.read:
        controller = zk.controller
        if controller is None:
            lines.append("ZooKeeper /controller: absent (no active controller)")
        elif zk.kraft_controller_epoch is not None:
            lines.append(f"ZooKeeper /controller: KRaft controller {controller.get('brokerid')} "
                         f"(kraftControllerEpoch {zk.kraft_controller_epoch})")
        else:
            lines.append(f"ZooKeeper /controller: ZooKeeper-mode broker {controller.get('brokerid')}")
        lines.append(f"ZooKeeper /migration: {'present' if zk.migration is not None else 'absent'}"
                     + (f" (kraft_controller_epoch {zk.migration.get('kraft_controller_epoch')})" if zk.migration else ""))
        lines.append(f"ZooKeeper /cluster/id: {zk.cluster_id or 'absent'}")
        lines.append(f"ZooKeeper /controller_epoch: {zk.controller_epoch if zk.controller_epoch is not None else 'absent'}")
        if zk.broker_ids is not None:
            lines.append(f"ZooKeeper /brokers/ids: {', '.join(map(str, zk.broker_ids)) or 'none'}")
    else:
        lines.append(f"ZooKeeper: not read ({zk.error or 'no node is configured for it'})")
    for node in evidence.nodes:
        parts = [f"{node.role} {node.node_id}: {node.effective_mode}"]
        if node.role == "controller" and node.zk_migration_state is not None:
            name = ZK_MIGRATION_STATES.get(node.zk_migration_state, "unknown")
            parts.append(f"ZkMigrationState {node.zk_migration_state} ({name})")
        if node.migrating_zk_brokers:
            parts.append(f"{node.migrating_zk_brokers} ZooKeeper-mode brokers migrating")
        if node.completed_migration_logged:
            parts.append("logged 'Completed migration of metadata'")
        if not node.running and node.config:
            parts.append("NOT RUNNING")
        if node.config_pending:
            parts.append("configuration newer than the running service")
        if node.version:
            parts.append(f"Kafka {node.version}")
        ids = sorted(set(node.cluster_ids.values()))
        parts.append(f"cluster id {', '.join(ids) if ids else '(no meta.properties)'}")
        lines.append(f"{node.host}: " + ", ".join(parts))
    if evidence.metadata_version:
        lines.append(f"controllers' metadata.version: {evidence.metadata_version}")
    return lines
