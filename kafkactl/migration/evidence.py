"""Evidence of the migration's state, read from the live cluster over SSH with Kafka's own tools.

ZooKeeper's /controller, /migration, /cluster/id; each controller's ZkMigrationState (JMX on the
controller's loopback address) and its log; each node's configuration, running version and
meta.properties; the brokers' partitions. No agent (Jolokia or other) is needed on the hosts.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from kafkactl.components.properties import parse_properties
from kafkactl.desired import DesiredState, HostState, Service
from kafkactl.exporter import ZK_MIGRATION, exporter_metrics
from kafkactl.facts import gather_all, meta_properties_paths
from kafkactl.health import (
    Observation, broker_registered, checked_zookeeper_connect, kafka_tool, partitions, local_jmx, zookeeper_command,
    zookeeper_get,
)
from kafkactl.kafka_tools import admin_config
from kafkactl.components.topology import Topology
from kafkactl.migration.state import COMPLETED_LOG_LINE, Evidence, Node, ZooKeeperView, MIGRATION, POST_MIGRATION
from kafkactl.model import Component, Host, Inventory, Phase, host_port
from kafkactl.plan import HostFacts
from kafkactl.remote import sh
from kafkactl.tool_output import (
    Unreadable, read_jmx_values, read_metadata_version, read_znode_children, read_znode_int, read_znode_json,
)
from kafkactl.transport import Connection, Transport, TransportError

CONTROLLER_METRICS = tuple(ZK_MIGRATION)  # kafka.controller:type=KafkaController,name=...


@dataclass(frozen=True)
class ZooKeeperReader:
    """A node that can reach ZooKeeper with the cluster's own client settings."""

    host: str
    config: str | None
    jaas: str | None
    connect: str  # as read: from the host's own configuration file when `config` is set

    def checked_connect(self) -> str:
        """`connect`, refused (naming host and file) unless it is host:port[,host:port][/chroot]: the service
        account can write the file it was read from, so it never reaches a command unchecked."""
        try:
            return checked_zookeeper_connect(self.connect)
        except ValueError as exc:
            raise TransportError(f"host {self.host}: {self.config or 'the inventory'}: {exc}; not used") from None


class LiveCluster:
    """Reads evidence from the hosts of a migration inventory; every read is a method, so gates can poll one."""

    def __init__(self, inventory: Inventory, desired: DesiredState, facts: dict[str, HostFacts], transport: Transport) -> None:
        self.inventory = inventory
        self.cluster = inventory.cluster
        self.desired = desired
        self.facts = facts
        self.transport = transport
        self.topology = Topology.of(inventory, Phase.DUAL_WRITE)

    # Nodes ------------------------------------------------------------------------------------

    def _service(self, state: HostState, component: Component) -> Service | None:
        return next((s for s in state.services if s.component == component), None)

    def nodes(self) -> list[Node]:
        found = []
        for state in self.desired.hosts:
            facts = self.facts.get(state.host.name, HostFacts())
            for component, role, node_id in ((Component.KAFKA_CONTROLLER, "controller", state.host.node_id),
                                             (Component.KAFKA_BROKER, "broker", state.host.broker_id)):
                service = self._service(state, component)
                if service is None:
                    continue
                live = facts.files.get(service.config)
                running = service.name in facts.active_services
                started = facts.service_started.get(service.name, 0)
                metas = {path: facts.files[path].content for path in meta_properties_paths(state, self.cluster) if path in facts.files}
                ids = {path: parse_properties(text).get("cluster.id", "(none)") for path, text in metas.items()}
                found.append(Node(
                    host=state.host.name, role=role, node_id=node_id,
                    config=parse_properties(live.content) if live else None,
                    running=running,
                    config_pending=bool(running and live and live.mtime > started),
                    cluster_ids=ids,
                    version=facts.service_versions.get(service.name),
                ))
        return found

    def controller_details(self, node: Node) -> Node:
        """A running controller's ZkMigrationState and whether it logged the completed migration."""
        if node.role != "controller" or not node.running:
            return node
        if node.version and int(node.version.split(".")[0]) >= 4:
            return node  # Kafka 4 has no ZooKeeper migration, and no ZkMigrationState to read
        connection = self.transport.connection(node.host)
        values = self._migration_metrics(connection)
        log = f"{self.cluster.kafka_log_dir}/{self._controller_service()}.log"
        logged = connection.run(sh("grep -qiF {line} {log}*", line=COMPLETED_LOG_LINE, log=log), check=False).code == 0
        return Node(**{**node.__dict__, "zk_migration_state": values.get("ZkMigrationState"),
                       "migrating_zk_brokers": values.get("MigratingZkBrokerCount"), "completed_migration_logged": logged})

    def _migration_metrics(self, connection: Connection) -> dict[str, int]:
        """CONTROLLER_METRICS from the controller's JMX exporter when it serves them, else from JmxTool (a JVM)."""
        exporter = self.cluster.jmx_exporter(Component.KAFKA_CONTROLLER)
        read = exporter_metrics(connection, exporter.port, ZK_MIGRATION.values()) if exporter else None
        if read is not None and set(ZK_MIGRATION.values()) <= read.keys():
            return {metric: int(read[name]) for metric, name in ZK_MIGRATION.items()}
        names = [f"kafka.controller:type=KafkaController,name={m}" for m in CONTROLLER_METRICS]
        jmx_tool = local_jmx(self.cluster, self.cluster.kafka_controller_jmx_port, self._controller_service(), names, "Value")
        return read_jmx_values(connection.run(jmx_tool, check=False, timeout=120), CONTROLLER_METRICS)

    def _controller_service(self) -> str:
        return next(s.name for h in self.desired.hosts for s in h.services if s.component == Component.KAFKA_CONTROLLER)

    # ZooKeeper --------------------------------------------------------------------------------

    def zookeeper_reader(self, nodes: list[Node]) -> ZooKeeperReader | None:
        """A broker (then a controller) whose live configuration reaches ZooKeeper; else a ZooKeeper host, when
        reaching ZooKeeper needs no client settings."""
        states = {s.host.name: s for s in self.desired.hosts}
        for role in ("broker", "controller"):
            for node in nodes:
                if node.role == role and node.config and "zookeeper.connect" in node.config:
                    component = Component.KAFKA_BROKER if role == "broker" else Component.KAFKA_CONTROLLER
                    service = self._service(states[node.host], component)
                    jaas = service.jaas if service and service.jaas in self.facts[node.host].files else None
                    return ZooKeeperReader(node.host, service.config, jaas, node.config["zookeeper.connect"])
        plain = not self.cluster.zookeeper_ssl_enabled and self.cluster.zookeeper_sasl_protocol == "none"
        zookeepers = self.inventory.members(Component.ZOOKEEPER)
        if plain and zookeepers:
            return ZooKeeperReader(zookeepers[0].name, None, None, self.topology.zookeeper_connect)
        return None

    def zookeeper(self, reader: ZooKeeperReader | None) -> ZooKeeperView:
        if reader is None:
            return ZooKeeperView(error="no node is configured to reach ZooKeeper")
        paths = ["/controller", "/migration", "/cluster/id", "/controller_epoch", "ls /brokers/ids"]
        try:
            found = zookeeper_get(self.transport.connection(reader.host), self.cluster, reader.checked_connect(), paths,
                                  reader.config, reader.jaas)
        except TransportError as exc:
            return ZooKeeperView(error=str(exc))
        try:
            return zookeeper_view(found)
        except Unreadable as exc:
            return ZooKeeperView(error=str(exc))

    def delete_znode(self, path: str) -> None:
        reader = self.zookeeper_reader(self.nodes())
        if reader is None:
            raise TransportError(f"no node is configured to reach ZooKeeper; cannot delete {path}")
        answer = zookeeper_command(self.transport.connection(reader.host), self.cluster, reader.checked_connect(), [f"delete {path}"],
                                   reader.config, reader.jaas)[0]
        if answer and not answer.startswith("Node does not exist"):
            raise TransportError(f"host {reader.host}: deleting {path} in ZooKeeper failed: {answer}")

    # Brokers and controllers, cluster-wide ---------------------------------------------------------

    def metadata_version(self, controllers: list[Node]) -> str | None:
        running = [n for n in controllers if n.running]
        if not running:
            return None
        result = kafka_tool(self.transport.connection(running[0].host), self.cluster, "org.apache.kafka.tools.FeatureCommand",
                            ["--bootstrap-controller", host_port(running[0].host, self.cluster.quorum_listener.port),
                             "--command-config", admin_config(self.cluster), "describe"])
        return read_metadata_version(result)

    def _running_brokers(self, brokers: list[Node]) -> list[Host]:
        running = [n for n in brokers if n.running]
        hosts = {h.name: h for h in self.inventory.hosts}
        return [hosts[n.host] for n in running]

    def partition_state(self, brokers: list[Node]):
        running = self._running_brokers(brokers)
        if not running:
            return None
        return partitions(self.transport.connection(running[0].name), self.cluster, running, self.topology.default_min_insync)

    def registered_brokers(self, brokers: list[Node]) -> tuple[int, ...] | None:
        running = self._running_brokers(brokers)
        if not running:
            return None
        unread = []
        for host in running:  # a broker a roll has just restarted may not serve yet: any other one can tell
            observation = broker_registered(self.transport.connection(host.name), self.cluster, host)
            if observation.value is not None:
                return tuple(observation.value)
            unread.append(observation.summary)
        raise Unreadable("; ".join(unread))  # no broker's answer could be read: no evidence either way

    def evidence(self) -> Evidence:
        nodes = self.nodes()
        with ThreadPoolExecutor(max_workers=8) as pool:
            details = [pool.submit(self.controller_details, n) for n in nodes]
            zookeeper = pool.submit(self.zookeeper, self.zookeeper_reader(nodes))
            brokers = [n for n in nodes if n.role == "broker"]
            partition_state = pool.submit(self.partition_state, brokers)
            registered = pool.submit(self.registered_brokers, brokers)
            version = pool.submit(self.metadata_version, [n for n in nodes if n.role == "controller"])
            return Evidence(zookeeper.result(), tuple(d.result() for d in details), partition_state.result(),
                            registered.result(), version.result())

    # Completion signals, for the playbooks' `await` steps ----------------------------------------------

    def signals(self) -> dict[str, Callable[[], Observation]]:
        return {
            "metadata_migrated": self._metadata_migrated,
            "migration_finalized": self._migration_finalized,
            "zookeeper_controller_elected": self._zookeeper_controller_elected,
        }

    def refresh(self) -> None:
        """Facts again: a signal polled during a run must not judge by what the hosts held before it."""
        self.facts = gather_all(self.transport, self.desired, self.cluster)

    def _controller_states(self) -> dict[str, int | str]:
        """Each running controller's ZkMigrationState, or why it could not be read."""
        self.refresh()
        controllers = [n for n in self.nodes() if n.role == "controller" and n.running]
        read = self.transport.each(controllers, self.controller_details)
        return {node.host: str(found) if isinstance(found, BaseException) else found.zk_migration_state for node, found in read}

    def _metadata_migrated(self) -> Observation:
        """The controllers report MIGRATION, a KRaft controller holds /controller, and /migration names it: JMX alone
        can say MIGRATION for controllers stuck after a restart with stale metadata."""
        states = self._controller_states()
        zk = self.zookeeper(self.zookeeper_reader(self.nodes()))
        controller_ids = {h.node_id for h in self.inventory.members(Component.KAFKA_CONTROLLER)}
        holder = (zk.controller or {}).get("brokerid")
        recorded = (zk.migration or {}).get("kraft_controller_id", -1)
        ok = MIGRATION in states.values() and zk.kraft_controller_epoch is not None and holder in controller_ids and recorded != -1
        return Observation(ok, states, f"ZkMigrationState {_listing(states)}; /controller held by {holder} "
                           f"(kraftControllerEpoch {zk.kraft_controller_epoch}); /migration kraft_controller_id {recorded}")

    def _migration_finalized(self) -> Observation:
        states = self._controller_states()
        ok = bool(states) and set(states.values()) == {POST_MIGRATION}
        return Observation(ok, states, f"ZkMigrationState {_listing(states)}")

    def _zookeeper_controller_elected(self) -> Observation:
        self.refresh()
        zk = self.zookeeper(self.zookeeper_reader(self.nodes()))
        broker_ids = {h.broker_id for h in self.inventory.members(Component.KAFKA_BROKER)}
        controller = (zk.controller or {}).get("brokerid")
        ok = zk.kraft_controller_epoch is None and controller in broker_ids
        return Observation(ok, controller, f"/controller: {zk.controller or zk.error or 'absent'}")


def zookeeper_view(found: dict[str, str | None]) -> ZooKeeperView:
    """The znodes the migration reads, each as ZooKeeper holds it; Unreadable for data that is not what Kafka writes."""
    children = read_znode_children("/brokers/ids", found["ls /brokers/ids"])
    if children is not None and not all(child.isdigit() for child in children):
        raise Unreadable(f"could not read /brokers/ids from ZooKeeper: {found['ls /brokers/ids']}")
    cluster = read_znode_json("/cluster/id", found["/cluster/id"])
    if cluster is not None and not isinstance(cluster.get("id"), str):
        raise Unreadable(f"could not read /cluster/id from ZooKeeper: {found['/cluster/id']}")
    return ZooKeeperView(
        read=True,
        controller=read_znode_json("/controller", found["/controller"]),
        migration=read_znode_json("/migration", found["/migration"]),
        cluster_id=cluster["id"] if cluster else None,
        controller_epoch=read_znode_int("/controller_epoch", found["/controller_epoch"]),
        broker_ids=tuple(int(child) for child in children) if children is not None else None,
    )


def _listing(states: dict[str, int | str]) -> str:
    return ", ".join(f"{host} {value}" for host, value in states.items()) or "(no controller running)"
