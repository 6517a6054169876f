"""Migration evidence readers on what the tools printed on real hosts (tests/cases/tool_output/), and garbled,
empty and error variants: evidence that cannot be read is named as such, never taken for "absent" or "none"."""

from __future__ import annotations

import dataclasses

import pytest

from kafkactl.desired import desired_state
from kafkactl.inventory import read_inventory
from kafkactl.migration.evidence import LiveCluster, ZooKeeperReader, zookeeper_view
from kafkactl.migration.state import Node, State, classify
from kafkactl.model import Phase
from kafkactl.tool_output import Unreadable, read_jmx_values, read_metadata_version
from kafkactl.transport import CommandResult, Transport

from helpers import ROOT
from test_plan_facts import _converged
from tool_output import ScriptedConnection, captured

INVENTORY = read_inventory(ROOT / "inventories/kraft-migration/inventory.yml").inventory
HOSTS = {h.name: h for h in INVENTORY.hosts}
METRICS = ("ZkMigrationState", "MigratingZkBrokerCount")
BROKER = next(name for name, host in HOSTS.items() if host.broker_id is not None)
STATE_1 = {
    "/controller": '{"version":2,"brokerid":1,"timestamp":"1796122139911","kraftControllerEpoch":-1}',
    "/migration": None,
    "/cluster/id": '{"version":"1","id":"T0vz_c8UQ7mc8xguN0-24g"}',
    "/controller_epoch": "1",
    "ls /brokers/ids": "[1, 2, 3]",
}


class _Transport:
    """Every host answers through one scripted connection."""

    def __init__(self, answer) -> None:
        self.connections: dict[str, ScriptedConnection] = {}
        self.answer = answer

    def connection(self, name: str) -> ScriptedConnection:
        return self.connections.setdefault(name, ScriptedConnection(self.answer, HOSTS[name]))

    forks = 1
    each = Transport.each  # the real one: a failure is the item's result


def _live(answer) -> LiveCluster:
    return LiveCluster(INVENTORY, desired_state(INVENTORY, Phase.DUAL_WRITE), {}, _Transport(answer))  # type: ignore[arg-type]


def _controller() -> Node:
    host = next(h for h in INVENTORY.hosts if h.node_id is not None and h.broker_id is None)
    return Node(host=host.name, role="controller", node_id=host.node_id, config={"process.roles": "controller"}, running=True)


# JmxTool: ZkMigrationState --------------------------------------------------------------------------


def test_controller_metrics_from_jmx() -> None:
    assert read_jmx_values(captured("jmx-zk-migration-state"), METRICS) == {"ZkMigrationState": 1, "MigratingZkBrokerCount": 3}

    def answer(command: str) -> CommandResult:
        return captured("jmx-zk-migration-state") if "JmxTool" in command else CommandResult(0, "", "")

    node = _live(answer).controller_details(_controller())
    assert (node.zk_migration_state, node.migrating_zk_brokers, node.completed_migration_logged) == (1, 3, True)


def _with_exporters(answer) -> LiveCluster:
    """The cluster as evidence reads it when the controllers run the JMX exporter."""
    inventory = INVENTORY.model_copy(update={"cluster": INVENTORY.cluster.model_copy(update={"jmxexporter_enabled": True})})
    return LiveCluster(inventory, desired_state(INVENTORY, Phase.DUAL_WRITE), {}, _Transport(answer))  # type: ignore[arg-type]


@pytest.mark.parametrize("exporter, tool_runs", [
    (CommandResult(0, "HTTP/1.1 200 OK\r\n\r\nkafka_controller_kafkacontroller_zkmigrationstate 1.0\n"
                      "kafka_controller_kafkacontroller_migratingzkbrokercount 3.0\n", ""), 0),
    (CommandResult(1, "", "bash: connect: Connection refused\n"), 1),
    (CommandResult(0, "HTTP/1.1 200 OK\r\n\r\nkafka_controller_kafkacontroller_zkmigrationstate 1.0\n", ""), 1),
], ids=["served", "refused", "one metric missing"])
def test_controller_metrics_from_its_exporter_else_from_jmx(exporter: CommandResult, tool_runs: int) -> None:
    def answer(command: str) -> CommandResult:
        if "/dev/tcp/127.0.0.1/" in command:
            return exporter
        return captured("jmx-zk-migration-state") if "JmxTool" in command else CommandResult(0, "", "")

    live = _with_exporters(answer)
    node = live.controller_details(_controller())
    assert (node.zk_migration_state, node.migrating_zk_brokers) == (1, 3)
    commands = live.transport.connections[node.host].commands
    assert sum("JmxTool" in str(command) for command in commands) == tool_runs


def test_a_kafka_4_controller_has_no_migration_metrics_to_read() -> None:
    live = _live(lambda command: pytest.fail(f"ran {command}"))
    node = Node(**{**_controller().__dict__, "version": "4.1.1"})
    assert live.controller_details(node) == node


@pytest.mark.parametrize("result, detail", [
    (captured("jmx-refused"), "exit code 1: Could not connect to JMX url: service:jmx:rmi:///jndi/rmi://127.0.0.1:7199/jmxrmi."),
    (CommandResult(0, "", ""), "no output"),
    (CommandResult(0, "time=1796122782212\nkafka.controller:type=KafkaController,name=ZkMigrationState:Value=1\n", ""), "time="),
    (CommandResult(0, "kafka.controller:type=KafkaController,name=ZkMigrationState:Value=one\n", ""), "kafka.controller"),
], ids=["refused", "empty", "one metric missing", "garbled value"])
def test_controller_metrics_that_cannot_be_read_are_named(result: CommandResult, detail: str) -> None:
    with pytest.raises(Unreadable, match=r"could not read (ZkMigrationState, )?MigratingZkBrokerCount|ZkMigrationState") as raised:
        read_jmx_values(result, METRICS)
    assert str(raised.value).endswith(detail) or detail in str(raised.value)
    with pytest.raises(Unreadable):
        _live(lambda command: result).controller_details(_controller())


# kafka-features describe ----------------------------------------------------------------------------


def test_metadata_version() -> None:
    assert read_metadata_version(captured("features-describe")) == "3.9-IV0"


@pytest.mark.parametrize("result", [
    CommandResult(1, "", "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment. Call: describeFeatures\n"),
    CommandResult(0, "", ""),
    CommandResult(0, "Feature: kraft.version\tSupportedMinVersion: 0\tSupportedMaxVersion: 1\tFinalizedVersionLevel: 0\tEpoch: 360\n", ""),
], ids=["error", "empty", "metadata.version missing"])
def test_a_metadata_version_that_cannot_be_read_is_named(result: CommandResult) -> None:
    with pytest.raises(Unreadable, match="could not read metadata.version from kafka-features: "):
        read_metadata_version(result)


# ZooKeeper znodes -----------------------------------------------------------------------------------


def test_zookeeper_view_in_state_1_and_in_dual_write() -> None:
    view = zookeeper_view(STATE_1)
    assert (view.read, view.controller["brokerid"], view.migration, view.cluster_id, view.controller_epoch, view.broker_ids) == (
        True, 1, None, "T0vz_c8UQ7mc8xguN0-24g", 1, (1, 2, 3))
    assert view.kraft_controller_epoch is None

    reader = ZooKeeperReader(BROKER, None, None, "zk1:2181")
    dual_write = _live(lambda command: captured("zookeeper-shell-dual-write")).zookeeper(reader)
    assert dual_write.error == "" and dual_write.kraft_controller_epoch == 14 and dual_write.controller["brokerid"] == 9992
    assert dual_write.migration["kraft_controller_id"] == 9992 and dual_write.controller_epoch == 3


@pytest.mark.parametrize("path, data, message", [
    ("/controller", '{"version":2,"brokerid":1', "could not read /controller from ZooKeeper: {\"version\":2,\"brokerid\":1"),
    ("/controller", "null", "could not read /controller from ZooKeeper: null"),
    ("/migration", "", "could not read /migration from ZooKeeper: "),
    ("/cluster/id", '{"version":"1"}', "could not read /cluster/id from ZooKeeper: {\"version\":\"1\"}"),
    ("/controller_epoch", "one", "could not read /controller_epoch from ZooKeeper: one"),
    ("ls /brokers/ids", "1, 2, 3", "could not read the children of /brokers/ids from ZooKeeper: 1, 2, 3"),
    ("ls /brokers/ids", "[1, two]", "could not read /brokers/ids from ZooKeeper: [1, two]"),
], ids=["truncated json", "no data", "empty", "no id", "epoch", "children", "child"])
def test_znodes_that_cannot_be_read_are_not_taken_for_absent(path: str, data: str, message: str) -> None:
    with pytest.raises(Unreadable) as raised:
        zookeeper_view({**STATE_1, path: data})
    assert str(raised.value) == message


def test_a_zookeeper_that_cannot_be_read_is_a_view_with_its_error() -> None:
    reader = ZooKeeperReader(BROKER, None, None, "zk1:2181")
    garbled = captured("zookeeper-shell-dual-write")
    garbled = dataclasses.replace(garbled, stdout=garbled.stdout.replace('"kraftControllerEpoch":14}', '"kraftControll'))
    view = _live(lambda command: garbled).zookeeper(reader)
    assert not view.read and view.error.startswith("could not read /controller from ZooKeeper: ")
    no_quorum = _live(lambda command: captured("zookeeper-shell-no-quorum")).zookeeper(reader)
    assert not no_quorum.read and "KeeperErrorCode = ConnectionLoss" in no_quorum.error


# Brokers, cluster-wide ------------------------------------------------------------------------------


def _brokers() -> list[Node]:
    return [Node(host=h.name, role="broker", node_id=h.broker_id, config={}, running=True)
            for h in INVENTORY.hosts if h.broker_id is not None]


def test_registered_brokers_and_partitions_from_captured_output() -> None:
    assert _live(lambda command: captured("broker-api-versions-all-up")).registered_brokers(_brokers()) == (1, 2, 3)
    state = _live(lambda command: captured("topics-describe-broker-down")).partition_state(_brokers())
    assert isinstance(state, list) and any(p.leader == -1 for p in state)


def test_registered_brokers_are_read_from_another_broker_while_the_first_one_starts() -> None:
    starting = CommandResult(1, "", "Exception in thread \"main\" java.lang.RuntimeException: Request METADATA failed on brokers\n")
    first = next(b.host for b in _brokers())
    answers = _live(lambda command: starting if f"{first}:" in command else captured("broker-api-versions-all-up"))
    assert answers.registered_brokers(_brokers()) == (1, 2, 3)


def test_broker_evidence_that_cannot_be_read_is_named() -> None:
    error = CommandResult(1, "", "Exception in thread \"main\" org.apache.kafka.common.errors.TimeoutException: Timed out\n")
    with pytest.raises(Unreadable, match="could not read the broker list from kafka-broker-api-versions: exit code 1: Exception"):
        _live(lambda command: error).registered_brokers(_brokers())
    state = _live(lambda command: captured("topics-describe-no-broker")).partition_state(_brokers())
    assert isinstance(state, str) and state.startswith("could not read the partition list from kafka-topics: exit code 1: ")


# The whole evidence of a cluster in dual-write, read through every tool ---------------------------------

TOOL_CAPTURES = (("JmxTool", "jmx-zk-migration-state"), ("ZooKeeperMain", "zookeeper-shell-dual-write"),
                 ("TopicCommand", "topics-describe-in-sync"), ("BrokerApiVersionsCommand", "broker-api-versions-all-up"),
                 ("FeatureCommand", "features-describe"))


def _dual_write_cluster(answer=None) -> LiveCluster:
    desired = desired_state(INVENTORY, Phase.DUAL_WRITE)

    def tools(command: str) -> CommandResult:
        # anything else asked is the grep of a controller's log: no completed-migration line in it
        return next((captured(name) for marker, name in TOOL_CAPTURES if marker in command), CommandResult(1, "", ""))

    return LiveCluster(INVENTORY, desired, _converged(desired), _Transport(answer or tools))  # type: ignore[arg-type]


def test_evidence_of_a_cluster_in_dual_write() -> None:
    evidence = _dual_write_cluster().evidence()
    assert classify(evidence).state == State.DUAL_WRITE
    assert evidence.metadata_version == "3.9-IV0" and evidence.registered_brokers == (1, 2, 3)
    assert {n.zk_migration_state for n in evidence.of_role("controller")} == {1}
    assert evidence.zookeeper.kraft_controller_epoch == 14 and len(evidence.partitions) == 82


def test_a_topic_without_its_own_min_isr_keeps_the_brokers() -> None:
    """kafka-topics shows only a topic's own settings: one without min.insync.replicas has the brokers' (2 here)."""
    described = captured("topics-describe-in-sync")
    own_setting_dropped = dataclasses.replace(described, stdout=described.stdout.replace(
        "PartitionCount: 1\tReplicationFactor: 3\tConfigs: min.insync.replicas=2\n", "PartitionCount: 1\tReplicationFactor: 3\tConfigs: \n", 1))
    assert own_setting_dropped.stdout != described.stdout
    live = _dual_write_cluster()
    original = live.transport.answer
    live.transport.answer = lambda command: own_setting_dropped if "TopicCommand" in command else original(command)
    canary = [p for p in live.evidence().partitions if p.topic.startswith("kafkactl-canary-")]
    assert [p.min_isr for p in canary] == [2]


def test_evidence_names_a_controller_metric_it_cannot_read() -> None:
    refused = captured("jmx-refused")
    live = _dual_write_cluster()
    original = live.transport.answer
    live.transport.answer = lambda command: refused if "JmxTool" in command else original(command)
    with pytest.raises(Unreadable, match="could not read ZkMigrationState, MigratingZkBrokerCount from JmxTool: exit code 1: "
                                         "Could not connect to JMX url"):
        live.evidence()


@pytest.mark.parametrize("printed, failure", [
    ("", None),
    ("Node does not exist: /migration\n", None),
    ("Node not empty: /migration\n", "unexpected line: Node not empty: /migration"),
], ids=["deleted", "already absent", "refused"])
def test_deleting_a_znode(printed: str, failure: str | None) -> None:
    answer = CommandResult(1, f"Welcome to ZooKeeper!\n{printed}Node does not exist: /kafkactl-end-of-commands\n", "")
    live = _dual_write_cluster(lambda command: answer)
    if failure is None:
        live.delete_znode("/migration")
    else:
        with pytest.raises(Unreadable, match=failure):
            live.delete_znode("/migration")
    assert any("ZooKeeperMain" in str(c) for connection in live.transport.connections.values() for c in connection.commands)


# Completion signals the migration playbooks wait for ----------------------------------------------------


def _signals(**captures: str) -> dict:
    """The signals of the dual-write cluster, each tool answering with a capture (or a variant of one)."""
    tools = _dual_write_cluster().transport.answer

    def answer(command: str) -> CommandResult:
        for marker, name in (("JmxTool", "jmx"), ("ZooKeeperMain", "zookeeper")):
            if marker in command and name in captures:
                return captures[name]
        return tools(command)

    live = _dual_write_cluster(answer)
    live.refresh = lambda: None  # the facts the cluster was read with stand for the hosts
    return live.signals()


def _jmx_state(value: int) -> CommandResult:
    jmx = captured("jmx-zk-migration-state")
    return dataclasses.replace(jmx, stdout=jmx.stdout.replace("ZkMigrationState:Value=1", f"ZkMigrationState:Value={value}"))


def test_metadata_migrated_in_dual_write() -> None:
    observation = _signals()["metadata_migrated"]()
    assert observation.ok
    assert observation.summary.endswith("/controller held by 9992 (kraftControllerEpoch 14); /migration kraft_controller_id 9992")


def test_metadata_not_migrated_while_a_broker_holds_the_controller_znode() -> None:
    observation = _signals(zookeeper=captured("zookeeper-shell-zookeeper-mode"))["metadata_migrated"]()
    assert not observation.ok and "/controller held by 1 (kraftControllerEpoch None)" in observation.summary


def test_a_controller_metric_that_cannot_be_read_is_named_in_the_signal() -> None:
    observation = _signals(jmx=captured("jmx-refused"))["metadata_migrated"]()
    assert not observation.ok
    assert ("controller1.example.com could not read ZkMigrationState, MigratingZkBrokerCount from JmxTool: exit code 1: "
            "Could not connect to JMX url") in observation.summary


def test_migration_finalized_only_when_every_controller_reports_post_migration() -> None:
    assert not _signals()["migration_finalized"]().ok
    finalized = _signals(jmx=_jmx_state(3))["migration_finalized"]()
    assert finalized.ok and finalized.summary.startswith("ZkMigrationState controller1.example.com 3")


def test_a_zookeeper_mode_controller_is_elected_after_a_rollback() -> None:
    assert not _signals()["zookeeper_controller_elected"]().ok
    elected = _signals(zookeeper=captured("zookeeper-shell-zookeeper-mode"))["zookeeper_controller_elected"]()
    assert elected.ok and elected.value == 1


def test_brokers_in_zookeeper_mode_without_controllers_are_state_1() -> None:
    """A ZooKeeper-mode inventory has no controllers: its cluster is in state 1 when every broker uses ZooKeeper."""
    from kafkactl.migration.state import Evidence, ZooKeeperView

    brokers = tuple(Node(f"kafka{i}", "broker", i, {"zookeeper.connect": "zk1:2181"}, True) for i in (1, 2, 3))
    assert classify(Evidence(ZooKeeperView(), brokers)).state == State.ZOOKEEPER
