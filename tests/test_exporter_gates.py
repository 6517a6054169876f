"""Broker gates read from the JMX exporters when every node they need serves one, and from Kafka's tools otherwise:
never a gate that passes because nothing could be read."""

from __future__ import annotations

import pytest

from kafkactl.exporter import (
    ACTIVE_CONTROLLER, AT_MIN_ISR, BROKER_STATE, OFFLINE_PARTITIONS, RAFT_LEADER, RAFT_LOG_END, UNDER_MIN_ISR, UNDER_REPLICATED,
    read_metrics,
)
from kafkactl.health import GATES, GateContext
from kafkactl.inventory import read_inventory
from kafkactl.model import Component
from kafkactl.plan import HostFacts
from kafkactl.status import _quorum
from kafkactl.tool_output import Unreadable
from kafkactl.transport import CommandResult

from helpers import ROOT
from tool_output import ScriptedConnection, captured

INVENTORY = read_inventory(ROOT / "inventories/kraft-cluster/inventory.yml").inventory
CLUSTER = INVENTORY.cluster
MEMBERS = {component: INVENTORY.members(component) for component in (Component.KAFKA_CONTROLLER, Component.KAFKA_BROKER)}
BROKERS = MEMBERS[Component.KAFKA_BROKER]
B1, B2, B3 = (host.name for host in BROKERS)
CONTROLLERS = [host.name for host in MEMBERS[Component.KAFKA_CONTROLLER]]
REFUSED = CommandResult(1, "", "bash: connect: Connection refused\nbash: line 1: /dev/tcp/127.0.0.1/8080: Connection refused\n")


def exporter_answer(**metrics: float) -> CommandResult:
    """An answer as jmx_prometheus_javaagent 1.0.1 gives it: headers, then HELP, TYPE and one sample per metric."""
    lines = [f"# HELP {name} Attribute exposed for management\n# TYPE {name} gauge\n{name} {value}\n" for name, value in metrics.items()]
    return CommandResult(0, "HTTP/1.1 200 OK\r\nContent-type: text/plain; version=0.0.4; charset=utf-8\r\n\r\n" + "".join(lines), "")


IN_SYNC = {UNDER_REPLICATED: 0.0, UNDER_MIN_ISR: 0.0, AT_MIN_ISR: 0.0}


class Cluster:
    """Each host answers exporter requests with its own scripted answer and anything else (a tool) with `tool`."""

    def __init__(self, exporters: dict[str, CommandResult], tool: CommandResult = captured("topics-describe-in-sync-4")) -> None:
        self.exporters, self.tool = exporters, tool
        self.connections: dict[str, ScriptedConnection] = {}

    def connection(self, name: str) -> ScriptedConnection:
        answer = lambda command: self.exporters.get(name, REFUSED) if "/dev/tcp/127.0.0.1/" in command else self.tool
        return self.connections.setdefault(name, ScriptedConnection(answer))

    def each(self, items, work):
        return [(item, work(item)) for item in items]

    def tools_started(self) -> int:
        return sum("-cp " in str(command) for connection in self.connections.values() for command in connection.commands)


def healthy(changes: dict[str, dict[str, float]] | None = None) -> dict[str, CommandResult]:
    """Every controller and broker answering, the first controller the active one; `changes` by host."""
    leader = MEMBERS[Component.KAFKA_CONTROLLER][0].node_id
    readings = {host.name: {ACTIVE_CONTROLLER: 0.0, OFFLINE_PARTITIONS: 0.0, RAFT_LEADER: leader, RAFT_LOG_END: 5000.0}
                for host in MEMBERS[Component.KAFKA_CONTROLLER]}
    readings[CONTROLLERS[0]][ACTIVE_CONTROLLER] = 1.0
    readings |= {host.name: {**IN_SYNC, BROKER_STATE: 3.0} for host in BROKERS}
    for name, change in (changes or {}).items():
        readings[name] = {**readings[name], **change}
    return {name: exporter_answer(**reading) for name, reading in readings.items()}


def gate(name: str, cluster: Cluster, host=BROKERS[0]):
    return GATES[name].check(GateContext(cluster, CLUSTER, MEMBERS, 2), host)


def test_metrics_are_summed_over_their_labels_and_other_names_ignored() -> None:
    answer = CommandResult(0, "HTTP/1.1 200 OK\r\n\r\n# TYPE x gauge\n"
                              'kafka_server_socket_server_connection_count{listener="A",network_processor="0"} 2.0\n'
                              'kafka_server_socket_server_connection_count{listener="B",network_processor="1"} 3.0\n'
                              "kafka_server_replicamanager_leadercount 7.0\n", "")
    assert read_metrics(answer, ["kafka_server_socket_server_connection_count", UNDER_REPLICATED]) == {
        "kafka_server_socket_server_connection_count": 5.0}


@pytest.mark.parametrize("answer", [
    REFUSED,
    CommandResult(0, "HTTP/1.1 404 Not Found\r\n\r\n", ""),
    CommandResult(0, "garbage", ""),
    CommandResult(0, f"HTTP/1.1 200 OK\r\n\r\n{UNDER_REPLICATED} many\n", ""),
    CommandResult(0, f"HTTP/1.1 200 OK\r\n\r\n{UNDER_REPLICATED} NaN\n", ""),
], ids=["refused", "not found", "garbled", "not a number", "no value"])
def test_an_answer_that_is_not_the_exporters_is_unreadable(answer: CommandResult) -> None:
    with pytest.raises(Unreadable):
        read_metrics(answer, [UNDER_REPLICATED])


def test_a_running_broker_is_registered_by_its_exporter_without_a_tool() -> None:
    cluster = Cluster(healthy())
    observation = gate("broker_registered", cluster)
    assert observation.ok and observation.summary == "broker state RUNNING (its JMX exporter)"
    assert cluster.tools_started() == 0
    starting = gate("broker_registered", Cluster(healthy({B1: {BROKER_STATE: 1.0}})))
    assert not starting.ok and starting.summary == "broker state STARTING (its JMX exporter)"


@pytest.mark.parametrize("exporter", [REFUSED, exporter_answer(**IN_SYNC)], ids=["no exporter", "no broker state"])
def test_a_broker_whose_exporter_cannot_say_is_asked_with_the_tool(exporter: CommandResult) -> None:
    cluster = Cluster({**healthy(), B1: exporter}, tool=captured("broker-api-versions-all-up-4"))
    observation = gate("broker_registered", cluster)
    assert observation.ok and observation.summary.startswith(f"registered brokers seen from {B1}")
    assert cluster.tools_started() == 1


def test_under_replicated_partitions_are_summed_over_the_brokers() -> None:
    cluster = Cluster(healthy({B2: {UNDER_REPLICATED: 4.0}, B3: {UNDER_REPLICATED: 2.0}}))
    observation = gate("no_under_replicated_partitions", cluster)
    assert not observation.ok and observation.summary == "under-replicated: 6 partitions (the brokers' JMX exporters)"
    assert gate("no_under_replicated_partitions", Cluster(healthy())).ok
    assert cluster.tools_started() == 0


@pytest.mark.parametrize("exporters", [
    {**healthy(), B3: REFUSED},
    {**healthy(), CONTROLLERS[1]: REFUSED},
    healthy({CONTROLLERS[0]: {ACTIVE_CONTROLLER: 0.0}}),
    healthy({CONTROLLERS[1]: {ACTIVE_CONTROLLER: 1.0}}),
], ids=["a broker does not answer", "a controller does not answer", "no active controller", "two active controllers"])
def test_partition_health_not_read_from_every_node_is_asked_with_the_tool(exporters: dict[str, CommandResult]) -> None:
    for name in ("no_under_replicated_partitions", "broker_safe_to_stop"):
        cluster = Cluster(exporters, tool=captured("topics-describe-broker-down"))
        observation = gate(name, cluster)
        assert not observation.ok and "under-replicated" in observation.summary and "exporters" not in observation.summary
        assert cluster.tools_started() == 1


def test_a_broker_is_safe_to_stop_by_the_exporters_only_when_no_partition_is_at_its_minimum() -> None:
    cluster = Cluster(healthy())
    observation = gate("broker_safe_to_stop", cluster)
    assert observation.ok and observation.summary == (
        "every partition in sync and above min.insync.replicas without broker 1 (the brokers' JMX exporters)")
    assert cluster.tools_started() == 0
    for changes in ({B2: {AT_MIN_ISR: 1.0}}, {B2: {UNDER_MIN_ISR: 1.0}}, {CONTROLLERS[0]: {OFFLINE_PARTITIONS: 1.0}}):
        cluster = Cluster(healthy(changes))
        assert gate("broker_safe_to_stop", cluster).summary.endswith("min ISR kept without broker 1")  # the tool decides
        assert cluster.tools_started() == 1


def test_the_quorum_gates_read_each_controllers_view_of_the_leader_and_its_log() -> None:
    controller = MEMBERS[Component.KAFKA_CONTROLLER][1]
    ids = [host.node_id for host in MEMBERS[Component.KAFKA_CONTROLLER]]
    cluster = Cluster(healthy({CONTROLLERS[1]: {RAFT_LOG_END: 4100.0}, CONTROLLERS[2]: {RAFT_LOG_END: 3900.0}}))
    assert gate("controller_quorum_has_leader", cluster, controller).summary == f"leader {ids[0]} (its JMX exporter)"
    caught_up = gate("controller_voters_caught_up", cluster, controller)
    assert not caught_up.ok and caught_up.value == {str(ids[0]): 0, str(ids[1]): 900, str(ids[2]): 1100}
    assert caught_up.summary.endswith(f"{ids[2]} lag 1100 (the controllers' JMX exporters)")
    assert cluster.tools_started() == 0
    electing = gate("controller_voters_caught_up", Cluster(healthy({CONTROLLERS[2]: {RAFT_LEADER: -1.0}})), controller)
    assert not electing.ok and electing.summary.startswith("the controllers do not agree on a leader yet: ")
    no_leader = gate("controller_quorum_has_leader", Cluster(healthy({CONTROLLERS[1]: {RAFT_LEADER: -1.0}})), controller)
    assert not no_leader.ok and no_leader.summary == "no leader (its JMX exporter)"


@pytest.mark.parametrize("exporters", [
    {**healthy(), CONTROLLERS[2]: REFUSED},
    healthy({name: {RAFT_LEADER: 42.0} for name in CONTROLLERS}),
], ids=["a controller does not answer", "the leader is none of them"])
def test_voters_not_read_from_every_controller_are_asked_with_the_tool(exporters: dict[str, CommandResult]) -> None:
    cluster = Cluster(exporters, tool=captured("metadata-quorum-replication-4"))
    assert gate("controller_voters_caught_up", cluster, MEMBERS[Component.KAFKA_CONTROLLER][0]).ok
    assert cluster.tools_started() == 1


def test_status_reads_the_metadata_quorum_as_the_gates_do_from_the_exporters() -> None:
    ids = [host.node_id for host in MEMBERS[Component.KAFKA_CONTROLLER]]
    cluster = Cluster(healthy({CONTROLLERS[2]: {RAFT_LOG_END: 4100.0}}))
    running = {name: HostFacts(active_services=frozenset({"kafka-controller"})) for name in CONTROLLERS}
    assert _quorum(INVENTORY, cluster, running) == (ids[0], {str(ids[0]): 0, str(ids[1]): 0, str(ids[2]): 900}, [])
    assert cluster.tools_started() == 0
    assert _quorum(INVENTORY, cluster, {}) == (None, None, [])  # no controller runs: nothing to ask
