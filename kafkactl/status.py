"""`kafkactl status`: what an operator looks at before and after every command, read from the live cluster with the
readers the health gates and the migration evidence use (the metadata quorum from the controllers' JMX exporters
when every one serves it, else Kafka's and ZooKeeper's own tools, over SSH), the cluster-wide reads at once.

Per service: running or not, the Kafka version it runs, its role (ZooKeeper leader or follower, the metadata
quorum's leader, the ZooKeeper-mode brokers' controller). For the cluster: the mode or migration state, partitions
under-replicated, under min ISR and offline, each node's lag behind the metadata quorum's leader, each consumer
group's lag, key store expiry.
"""

from __future__ import annotations

import datetime
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from kafkactl.facts import as_running, running_members
from kafkactl.components.topology import Topology
from kafkactl.health import GATES, GateContext, consumer_lag, zookeeper_mode
from kafkactl.migration.runner import read_live
from kafkactl.migration.state import classify
from kafkactl.model import Component, Inventory, Phase
from kafkactl.pki import store_status
from kafkactl.plan import HostFacts
from kafkactl.roles import service_name
from kafkactl.transport import Transport, TransportError

MODES = {Phase.ZOOKEEPER: "ZooKeeper mode", Phase.KRAFT: "KRaft mode"}
SHOWN_GROUPS = 10  # the consumer groups with the largest lag on the screen; --json has every group
ROLES = {Component.ZOOKEEPER: "zookeeper", Component.KAFKA_CONTROLLER: "controller", Component.KAFKA_BROKER: "broker",
         Component.KAFKA_CONNECT: "connect", Component.SCHEMA_REGISTRY: "schema registry"}


@dataclass(frozen=True)
class ServiceStatus:
    host: str
    service: str
    component: str
    running: bool
    version: str | None = None  # the Kafka release whose jars the running service was started from
    role: str = ""  # what it is to the others, when it is something more than a member


@dataclass(frozen=True)
class PartitionCounts:
    total: int
    under_replicated: list[str] = field(default_factory=list)
    under_min_isr: list[str] = field(default_factory=list)
    offline: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ClusterStatus:
    mode: str  # ZooKeeper mode, KRaft mode, or the migration's state
    cluster_id: str | None
    metadata_version: str | None
    services: list[ServiceStatus]
    partitions: PartitionCounts | str | None  # str: why they could not be read; None: no broker runs
    quorum_leader: int | None = None
    metadata_lag: dict[str, int] | None = None
    certificates: list[dict] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    consumer_lag: dict[str, int | None] | str | None = None  # str: why it could not be read; None: no broker runs

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict:
        document = asdict(self)
        document["healthy"] = self.healthy
        return document


def read_status(inventory: Inventory, transport: Transport, now: datetime.datetime) -> ClusterStatus:
    cluster = inventory.cluster
    live, _, _ = read_live(inventory, transport, full=False)  # the hosts' facts
    # The cluster-wide reads at once: each waits on the hosts (a tool's JVM starting, or an exporter).
    with ThreadPoolExecutor(max_workers=3) as pool:
        evidence_read = pool.submit(live.evidence)
        quorum_read = pool.submit(_quorum, inventory, transport, live.facts)
        lag_read = pool.submit(_consumer_lag, inventory, transport, live.facts)
        evidence, (quorum_leader, metadata_lag, problems), consumer_lag = evidence_read.result(), quorum_read.result(), lag_read.result()
    found = classify(evidence)
    services: list[ServiceStatus] = []
    controller = (evidence.zookeeper.controller or {}).get("brokerid")
    nodes = {(n.host, n.role): n for n in evidence.nodes}
    for host in inventory.hosts:
        facts = live.facts.get(host.name)
        for component in host.components:
            name = service_name(component, cluster)
            running = bool(facts and name in facts.active_services)
            role = ""
            if component == Component.ZOOKEEPER and running:
                mode = zookeeper_mode(transport.connection(host.name), cluster)
                role = mode.value if mode.ok else mode.summary
            elif component == Component.KAFKA_CONTROLLER and quorum_leader == host.node_id:
                role = "quorum leader"
            elif component == Component.KAFKA_BROKER and controller is not None and controller == host.broker_id:
                role = "controller (ZooKeeper mode)"
            node = nodes.get((host.name, ROLES[component]))
            version = node.version if node else (facts.service_versions.get(name) if facts else None)
            services.append(ServiceStatus(host.name, name, ROLES[component], running, version, role))
            if not running:
                problems.append(f"{host.name}: {name} is not running")
        for packaged in next((s.packages for s in live.desired.hosts if s.host.name == host.name), ()):
            running = bool(facts and packaged.name in facts.active_services)
            services.append(ServiceStatus(host.name, packaged.name, "monitoring", running))
            if not running:
                problems.append(f"{host.name}: {packaged.name} is not running")
    partitions = _partitions(evidence.partitions, problems)
    certificates = store_status(live.desired, live.facts, cluster, now)
    problems += [f"{row['host']}: key store {row['status']}" for row in certificates if row["status"].startswith("expires")]
    migrating = inventory.natural_phase is None  # an inventory with both ZooKeeper and controllers
    if migrating and found.state is None:
        problems.append(f"the migration is {found.label}")
    mode = found.label if migrating else MODES[inventory.natural_phase]
    return ClusterStatus(mode, evidence.cluster_id, evidence.metadata_version, services, partitions, quorum_leader,
                         metadata_lag, certificates, problems, consumer_lag)


def _consumer_lag(inventory: Inventory, transport: Transport, facts: dict[str, HostFacts]) -> dict[str, int | None] | str | None:
    """Each consumer group's lag, asked of the first running broker; why not, when it does not answer."""
    running = running_members(inventory, facts, Component.KAFKA_BROKER)
    if not running:
        return None
    tools = as_running(inventory.cluster, facts[running[0].name], Component.KAFKA_BROKER)
    try:
        return consumer_lag(transport.connection(running[0].name), tools, inventory.members(Component.KAFKA_BROKER))
    except TransportError as exc:
        return str(exc)


def _quorum(inventory: Inventory, transport: Transport, facts: dict[str, HostFacts]) -> tuple[int | None, dict[str, int] | None, list[str]]:
    """The metadata quorum's leader and each voter's lag, as the health gates read them (the controllers' exporters,
    else Kafka's tool on the first running controller), and what is wrong with the quorum."""
    running = running_members(inventory, facts, Component.KAFKA_CONTROLLER)
    if not running:
        return None, None, []
    gates = GateContext(transport, inventory.cluster, {c: inventory.members(c) for c in Component},
                        Topology.of(inventory, inventory.natural_phase or Phase.DUAL_WRITE).default_min_insync)
    leader = GATES["controller_quorum_has_leader"].check(gates, running[0])
    if not leader.ok:
        return None, None, [f"metadata quorum: {leader.summary}"]
    lag = GATES["controller_voters_caught_up"].check(gates, running[0])
    return int(leader.value["LeaderId"]), lag.value or None, [] if lag.ok else [f"metadata quorum: {lag.summary}"]


def _partitions(read, problems: list[str]) -> PartitionCounts | str | None:
    if read is None or isinstance(read, str):
        if read:
            problems.append(f"partitions: {read}")
        return read
    counts = PartitionCounts(
        total=len(read),
        under_replicated=[str(p) for p in read if len(p.isr) < len(p.replicas)],
        under_min_isr=[str(p) for p in read if len(p.isr) < p.min_isr and len(p.replicas) > 1],
        offline=[str(p) for p in read if p.leader < 0])
    for label, names in (("under-replicated", counts.under_replicated), ("under min ISR", counts.under_min_isr),
                         ("offline", counts.offline)):
        if names:
            problems.append(f"{len(names)} partitions {label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}")
    return counts


def lines(status: ClusterStatus) -> list[str]:
    """The status as a screen of text."""
    shown = [f"Cluster: {status.mode}; cluster id {status.cluster_id or 'unknown'}"
             + (f"; metadata.version {status.metadata_version}" if status.metadata_version else "")]
    partitions = status.partitions
    if isinstance(partitions, PartitionCounts):
        shown.append(f"Partitions: {partitions.total}; under-replicated {len(partitions.under_replicated)}, under min ISR "
                     f"{len(partitions.under_min_isr)}, offline {len(partitions.offline)}")
    elif partitions:
        shown.append(f"Partitions: not read: {partitions}")
    if status.quorum_leader is not None:
        lags = ", ".join(f"{node} {lag}" for node, lag in (status.metadata_lag or {}).items())
        shown.append(f"Metadata quorum: leader {status.quorum_leader}" + (f"; lag behind the leader {lags}" if lags else ""))
    if isinstance(status.consumer_lag, dict) and status.consumer_lag:
        largest = sorted(status.consumer_lag.items(), key=lambda item: (-(item[1] or 0), item[0]))
        more = f" ... and {len(largest) - SHOWN_GROUPS} more groups" if len(largest) > SHOWN_GROUPS else ""
        shown.append("Consumer lag: " + ", ".join(f"{group} {'-' if lag is None else lag}" for group, lag in largest[:SHOWN_GROUPS]) + more)
    elif isinstance(status.consumer_lag, str):
        shown.append(f"Consumer lag: not read: {status.consumer_lag}")
    shown.append("")
    shown.append(f"{'host':<16} {'service':<18} {'state':<8} {'version':<8} role")
    for service in status.services:
        shown.append(f"{service.host:<16} {service.service:<18} {'running' if service.running else 'stopped':<8} "
                     f"{service.version or '-':<8} {service.role}".rstrip())
    if status.certificates:
        shown.append("")
        shown += [f"Key store {row['host']}: expires {row['expires'] or 'unknown'}: {row['status']}" for row in status.certificates]
    shown.append("")
    shown += [f"Problem: {problem}" for problem in status.problems] or ["Healthy: every service runs, every partition in sync."]
    return shown
