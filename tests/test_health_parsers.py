"""Health readers on Kafka's and ZooKeeper's tool output: what the tools printed on real hosts
(tests/cases/tool_output/), and garbled, empty and error variants of it. A reader that cannot read its
tool's output fails, and says so."""

from __future__ import annotations

import dataclasses

import pytest

from kafkactl.health import (
    GateContext, broker_registered, broker_safe_to_stop, controller_quorum, controller_voters_caught_up, elect_preferred_leaders,
    connect_ready, http_ready, listener_connections, partitions, under_replicated, zookeeper_get, zookeeper_mode,
)
from kafkactl.inventory import read_inventory
from kafkactl.model import Component
from kafkactl.tool_output import Unreadable, read_consumer_lag, read_partitions, read_zookeeper_answers
from kafkactl.transport import CommandResult

from helpers import ROOT
from tool_output import ScriptedConnection, captured

INVENTORY = read_inventory(ROOT / "inventories/zookeeper-cluster/inventory.yml").inventory
CLUSTER = INVENTORY.cluster
BROKERS = INVENTORY.members(Component.KAFKA_BROKER)
LOG4J = "log4j:WARN No appenders could be found for logger (org.apache.kafka.clients.admin.AdminClientConfig).\n"


def _connection(result: CommandResult) -> ScriptedConnection:
    return ScriptedConnection(result, BROKERS[0])


def _ok(stdout: str, stderr: str = "") -> CommandResult:
    return CommandResult(0, stdout, stderr)


def _lines_without(result: CommandResult, dropped: int) -> CommandResult:
    return dataclasses.replace(result, stdout="".join(result.stdout.splitlines(keepends=True)[:-dropped]))


# kafka-topics --describe -------------------------------------------------------------------------


def test_a_topic_tool_answer_that_cannot_be_read_does_not_make_a_broker_safe_to_stop() -> None:
    garbled = _ok("Picked up JAVA_TOOL_OPTIONS: -Dfile.encoding=UTF8\nTopic orders is being rebalanced\n")
    state = partitions(_connection(garbled), CLUSTER, BROKERS, 2)
    observation = broker_safe_to_stop(state, BROKERS[0])
    assert not observation.ok
    assert observation.summary.startswith("could not read the partition list from kafka-topics: ")


def test_topics_of_a_cluster_in_sync() -> None:
    state = partitions(_connection(captured("topics-describe-in-sync")), CLUSTER, BROKERS, 1)
    assert isinstance(state, list)
    by_topic = {p.topic for p in state}
    assert len([p for p in state if p.topic == "__consumer_offsets"]) == 50
    assert {"connect-cluster-configs", "connect-cluster-offsets", "connect-cluster-status"} <= by_topic
    assert all(p.min_isr == 2 and len(p.replicas) == 3 and set(p.isr) == set(p.replicas) and p.leader in p.replicas
               for p in state)
    assert broker_safe_to_stop(state, BROKERS[0]).ok and under_replicated(state).ok
    assert not broker_safe_to_stop(state, BROKERS[:2]).ok, "two of three replicas down breaks min.insync.replicas=2"


def test_topics_with_a_broker_stopped() -> None:
    state = partitions(_connection(captured("topics-describe-broker-down")), CLUSTER, BROKERS, 1)
    assert isinstance(state, list)
    single = next(p for p in state if p.topic == "parsers-single")
    assert (single.leader, single.replicas, single.isr) == (-1, (3,), (3,)), "ZooKeeper mode keeps the last ISR of an offline partition"
    lagging = [p for p in state if 3 in p.replicas and 3 not in p.isr]
    assert len(lagging) > 50
    observation = broker_safe_to_stop(state, BROKERS[0])
    assert not observation.ok
    assert "parsers-single-0 offline" in observation.value
    assert "kafkactl-canary-1796122014017136312-0 under-replicated (ISR [2, 1] of [2, 1, 3])" in observation.value
    assert "kafkactl-canary-1796122014017136312-0 would fall below min.insync.replicas=2 (ISR [2, 1])" in observation.value
    assert not under_replicated(state).ok


def test_a_partition_being_reassigned_keeps_its_replicas() -> None:
    header = "Topic: orders\tTopicId: xNErN4mWQo6kQ5PlSgh9Ag\tPartitionCount: 1\tReplicationFactor: 3\tConfigs: min.insync.replicas=2\n"
    moving = ("\tTopic: orders\tPartition: 0\tLeader: 1\tReplicas: 1,2,3,4\tIsr: 1,2,3\tAdding Replicas: 4\t"
              "Removing Replicas: 3\tElr: N/A\tLastKnownElr: N/A\n")
    [partition] = read_partitions(_ok(header + moving), 1)
    assert (partition.replicas, partition.isr, partition.min_isr) == ((1, 2, 3, 4), (1, 2, 3), 2)


def test_topic_tool_error_names_the_tool_and_its_message() -> None:
    state = partitions(_connection(captured("topics-describe-no-broker")), CLUSTER, BROKERS, 2)
    assert state == ("could not read the partition list from kafka-topics: exit code 1: "
                     "Error while executing topic command : Timed out waiting for a node assignment. Call: listTopics")
    assert not broker_safe_to_stop(state, BROKERS[0]).ok and not under_replicated(state).ok


@pytest.mark.parametrize("variant, detail", [
    (lambda r: _lines_without(r, 1), "topic connect-cluster-offsets has 25 partitions, the table lists 24"),
    (lambda r: _ok(r.stdout.replace("Replicas: 3,1,2", "Replicas: 3,x,2", 1)), "'x' is not a number"),
    (lambda r: _ok(r.stdout.replace("Leader: 3", "Leader: ?", 1)), "'?' is not a number"),
    (lambda r: _ok(r.stdout.split("\n", 1)[1]), "a partition of connect-cluster-configs before its topic line"),
    (lambda r: _ok(r.stdout + "WARN [AdminClient clientId=adminclient-1] Connection to node 2 could not be established\n"),
     "unexpected line: WARN [AdminClient"),
    (lambda r: _ok("", "Exception in thread \"main\" java.lang.OutOfMemoryError: Java heap space\n"),
     "Exception in thread \"main\" java.lang.OutOfMemoryError"),
    (lambda r: CommandResult(137, "", ""), "exit code 137: no output"),
    (lambda r: _ok("\x00\x1b[2J\ufffd\ufffd\n"), "unexpected line"),
], ids=["partial table", "garbled replicas", "garbled leader", "header missing", "log line in the table", "empty, error on stderr",
        "killed", "binary"])
def test_topic_tables_that_cannot_be_read(variant, detail: str) -> None:
    result = variant(captured("topics-describe-in-sync"))
    with pytest.raises(Unreadable, match="could not read the partition list from kafka-topics: ") as raised:
        read_partitions(result, 2)
    assert detail in str(raised.value)
    assert not broker_safe_to_stop(partitions(_connection(result), CLUSTER, BROKERS, 2), BROKERS[0]).ok


def test_an_empty_answer_is_a_cluster_without_topics_only_on_a_clean_exit() -> None:
    assert read_partitions(_ok("", LOG4J), 2) == []
    observation = broker_safe_to_stop([], BROKERS[0])
    assert observation.ok and observation.summary == "kafka-topics lists no partition"


class _Transport:
    def __init__(self, *results: CommandResult) -> None:
        self.results = list(results)

    def connection(self, name: str) -> ScriptedConnection:
        return _connection(self.results.pop(0))


def test_an_empty_partition_list_after_a_read_that_listed_partitions_is_no_evidence() -> None:
    now = [0.0]
    context = GateContext(_Transport(captured("topics-describe-in-sync"), _ok("", LOG4J)), CLUSTER,
                          {Component.KAFKA_BROKER: BROKERS}, 2, clock=lambda: now[0])
    assert broker_safe_to_stop(context.partitions(BROKERS[0]), BROKERS[0]).ok
    context.forget()
    later = broker_safe_to_stop(context.partitions(BROKERS[1]), BROKERS[1])
    assert not later.ok
    assert later.summary.startswith("could not read the partition list from kafka-topics: it lists no partition, ")


# ZooKeeper's srvr ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name, mode", [("zookeeper-srvr-leader", "leader"), ("zookeeper-srvr-follower", "follower")])
def test_zookeeper_modes(name: str, mode: str) -> None:
    observation = zookeeper_mode(_connection(captured(name)), CLUSTER)
    assert observation.ok and observation.value == mode and observation.summary == f"mode: {mode}"


@pytest.mark.parametrize("result, summary", [
    (captured("zookeeper-srvr-refused"), "could not read ZooKeeper's srvr answer: exit code 1: bash: connect: Connection refused"),
    (_ok("srvr is not executed because it is not in the whitelist.\n"),
     "could not read ZooKeeper's srvr answer: srvr is not executed because it is not in the whitelist."),
    (_ok(""), "could not read ZooKeeper's srvr answer: no output"),
    (_ok("Mode: leader\n"), "could not read ZooKeeper's srvr answer: Mode: leader"),
    (captured("zookeeper-srvr-not-serving"), "mode: not serving"),
], ids=["refused", "not whitelisted", "empty", "garbled", "not serving"])
def test_zookeeper_members_that_do_not_answer_srvr_are_not_serving(result: CommandResult, summary: str) -> None:
    observation = zookeeper_mode(_connection(result), CLUSTER)
    assert not observation.ok and observation.value == "not serving" and observation.summary == summary


# kafka-broker-api-versions -----------------------------------------------------------------------


def test_registered_brokers() -> None:
    up = broker_registered(_connection(captured("broker-api-versions-all-up")), CLUSTER, BROKERS[0])
    assert up.ok and up.value == [1, 2, 3]
    down = broker_registered(_connection(captured("broker-api-versions-broker-down")), CLUSTER, BROKERS[2])
    assert not down.ok and down.value == [1, 2]


@pytest.mark.parametrize("result", [
    _ok(""),
    _ok("kafka1:9091 (id: one rack: null) -> (\n"),
    CommandResult(1, "", "Exception in thread \"main\" org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node\n"),
    _lines_without(captured("broker-api-versions-all-up"), 10**6),
], ids=["empty", "garbled", "error", "nothing at all"])
def test_a_broker_list_that_cannot_be_read_is_no_registration(result: CommandResult) -> None:
    observation = broker_registered(_connection(result), CLUSTER, BROKERS[0])
    assert not observation.ok and observation.value is None
    assert observation.summary.startswith("could not read the broker list from kafka-broker-api-versions: ")


# kafka-leader-election ---------------------------------------------------------------------------


def test_preferred_leaders() -> None:
    assert elect_preferred_leaders(_connection(captured("leader-election-nothing-to-do")), CLUSTER, BROKERS).ok
    down = elect_preferred_leaders(_connection(captured("leader-election-preferred-down")), CLUSTER, BROKERS)
    assert not down.ok
    assert down.summary.startswith("28 preferred leaders not elected: Error completing leader election (PREFERRED) for partition: ")


def test_an_election_that_failed_for_some_partitions_fails_even_if_others_needed_none() -> None:
    failed = captured("leader-election-preferred-down")
    mixed = dataclasses.replace(failed, stdout="Valid replica already elected for partitions orders-0\n" + failed.stdout)
    assert not elect_preferred_leaders(_connection(mixed), CLUSTER, BROKERS).ok


def test_an_election_that_failed_fails_even_if_the_tool_exited_0() -> None:
    failed = captured("leader-election-preferred-down")
    assert not elect_preferred_leaders(_connection(dataclasses.replace(failed, code=0)), CLUSTER, BROKERS).ok


@pytest.mark.parametrize("result", [
    CommandResult(1, "Timeout waiting for election results\n", ""),
    _ok("Picked-up leaders: 3\n"),
    CommandResult(1, "", ""),
], ids=["error", "garbled", "empty failure"])
def test_an_election_answer_that_cannot_be_read_fails(result: CommandResult) -> None:
    observation = elect_preferred_leaders(_connection(result), CLUSTER, BROKERS)
    assert not observation.ok and observation.summary.startswith("could not read the answer of kafka-leader-election: ")


# HTTP status line (Connect REST) -----------------------------------------------------------------


def test_connect_rest() -> None:
    up = http_ready(_connection(captured("connect-rest-up")), BROKERS[0], 8083)
    assert up.ok and up.value == "HTTP/1.1 200 OK" and up.summary == "GET /: HTTP/1.1 200 OK"
    assert not http_ready(_connection(_ok("HTTP/1.1 503 Service Unavailable\n")), BROKERS[0], 8083).ok


def test_a_connect_worker_is_ready_once_its_health_says_so_and_an_older_one_once_it_answers() -> None:
    """Which of the two the worker running answers to follows from the version its GET / names, not the inventory's."""
    def worker(answers: dict[str, str]) -> ScriptedConnection:
        return ScriptedConnection(lambda command: _ok(next(line for path, line in answers.items() if f" {path} >&3" in command)))

    def root(version: str) -> str:
        return f'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{{"version":"{version}","commit":"abc","kafka_cluster_id":"x"}}'

    assert connect_ready(worker({"/health": "HTTP/1.1 200 OK\n"}), BROKERS[0], 8083).summary == "GET /health: HTTP/1.1 200 OK"
    starting = connect_ready(worker({"/health": "HTTP/1.1 503 Service Unavailable\n", "/": root("3.9.2")}), BROKERS[0], 8083)
    assert not starting.ok and starting.summary == "GET /health: HTTP/1.1 503 Service Unavailable"
    # 3.9 and later: 404 for a moment before the REST resources are registered, while GET / may already answer
    registering = connect_ready(worker({"/health": "HTTP/1.1 404 Not Found\n", "/": root("4.1.1")}), BROKERS[0], 8083)
    assert not registering.ok and registering.summary == "GET /health: HTTP/1.1 404 Not Found"
    older = connect_ready(worker({"/health": "HTTP/1.1 404 Not Found\n", "/": root("3.8.1")}), BROKERS[0], 8083)
    assert older.ok and older.summary == "GET /: Kafka Connect 3.8.1, which has no GET /health"
    # a GET / without a version it can read proves nothing: the 404 stands
    unreadable = connect_ready(worker({"/health": "HTTP/1.1 404 Not Found\n", "/": "HTTP/1.1 200 OK\r\n\r\n{}"}), BROKERS[0], 8083)
    assert not unreadable.ok and unreadable.summary == "GET /health: HTTP/1.1 404 Not Found"


@pytest.mark.parametrize("result, detail", [
    (captured("connect-rest-refused"), "exit code 1: bash: connect: Connection refused"),
    (_ok(""), "no output"),
    (_ok("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\n"), "SSH-2.0-OpenSSH_9.2p1"),
    (_ok("200 OK\n"), "200 OK"),
], ids=["refused", "empty", "another protocol", "garbled"])
def test_a_rest_answer_that_cannot_be_read_fails(result: CommandResult, detail: str) -> None:
    observation = http_ready(_connection(result), BROKERS[0], 8083)
    assert not observation.ok and observation.summary.startswith(f"could not read an HTTP status line: {detail}")


# kafka-metadata-quorum describe --status | --replication -----------------------------------------


def test_quorum_status() -> None:
    observation = controller_quorum(_connection(captured("metadata-quorum-status")), CLUSTER, BROKERS[0])
    assert observation.ok and observation.value["LeaderId"] == "9992"
    assert observation.summary == "leader 9992, high watermark 563"


@pytest.mark.parametrize("result, summary", [
    (_ok("ClusterId: x\nLeaderId: -1\nLeaderEpoch: 0\nHighWatermark: -1\n"), "no leader (LeaderId -1)"),
    (captured("metadata-quorum-refused"), "could not read the quorum status from kafka-metadata-quorum: exit code 1: "),
    (_ok(""), "could not read the quorum status from kafka-metadata-quorum: no LeaderId, LeaderEpoch, HighWatermark in the answer"),
    (_ok("LeaderId: 9992\nLeaderEpoch: 1\nHighWatermark: lots\n"), "could not read the quorum status from kafka-metadata-quorum: 'lots'"),
    (_ok("LeaderId: 9992\nLeaderEpoch: 1\n<html>\n"), "could not read the quorum status from kafka-metadata-quorum: unexpected line: <html>"),
], ids=["no leader", "error", "empty", "garbled number", "garbled line"])
def test_quorum_status_without_a_leader_or_unreadable(result: CommandResult, summary: str) -> None:
    observation = controller_quorum(_connection(result), CLUSTER, BROKERS[0])
    assert not observation.ok and observation.summary.startswith(summary)


def test_voter_lags() -> None:
    observation = controller_voters_caught_up(_connection(captured("metadata-quorum-replication")), CLUSTER, BROKERS[0])
    assert observation.ok and observation.value == {"9992": 0, "9991": 0, "9993": 0}, "observers are not voters"
    assert observation.summary == "9992 lag 0, 9991 lag 0, 9993 lag 0"
    behind = captured("metadata-quorum-replication")
    lines = behind.stdout.splitlines(keepends=True)
    follower = next(i for i, line in enumerate(lines) if line.rstrip().endswith("Follower"))
    columns = lines[follower].split()
    columns[3] = "5000"
    lines[follower] = "  ".join(columns) + "\n"
    lagging = controller_voters_caught_up(_connection(_ok("".join(lines))), CLUSTER, BROKERS[0])
    assert not lagging.ok and f"{columns[0]} lag 5000" in lagging.summary


@pytest.mark.parametrize("variant, detail", [
    (lambda r: _ok(r.stdout.splitlines()[0] + "\n"), "the table lists no voter"),
    (lambda r: _ok(r.stdout.replace("Follower", "Folower", 1)), "unexpected line"),
    (lambda r: _ok("\n".join(r.stdout.splitlines()[1:]) + "\n"), "exit"),
    (lambda r: _ok(""), "no output"),
    (lambda r: captured("metadata-quorum-refused"), "exit code 1"),
], ids=["header only", "garbled status", "no header", "empty", "error"])
def test_voter_lags_that_cannot_be_read(variant, detail: str) -> None:
    observation = controller_voters_caught_up(_connection(variant(captured("metadata-quorum-replication"))), CLUSTER, BROKERS[0])
    assert not observation.ok and observation.summary.startswith("could not read the voters' lag from kafka-metadata-quorum: ")
    assert detail in observation.summary or detail == "exit"


# ZooKeeper's shell -------------------------------------------------------------------------------

PATHS = ["/controller", "/migration", "/cluster/id", "/controller_epoch", "ls /brokers/ids"]
MARKER = "/kafkactl-end-of-commands"


def test_zookeeper_shell_answers_in_zookeeper_mode() -> None:
    found = zookeeper_get(_connection(captured("zookeeper-shell-zookeeper-mode")), CLUSTER, "zk1:2181", PATHS, None, None)
    assert found == {
        "/controller": '{"version":2,"brokerid":1,"timestamp":"1796122139911","kraftControllerEpoch":-1}',
        "/migration": None,
        "/cluster/id": '{"version":"1","id":"T0vz_c8UQ7mc8xguN0-24g"}',
        "/controller_epoch": "1",
        "ls /brokers/ids": "[1, 2, 3]",
    }


def test_zookeeper_delete_prints_nothing_unless_the_znode_is_absent() -> None:
    assert read_zookeeper_answers(f"Welcome to ZooKeeper!\nNode does not exist: {MARKER}\n", ["delete /migration"], MARKER) == [""]
    absent = f"Node does not exist: /migration\nNode does not exist: {MARKER}\n"
    assert read_zookeeper_answers(absent, ["delete /migration"], MARKER) == ["Node does not exist: /migration"]


@pytest.mark.parametrize("variant, message", [
    (lambda out: out.replace(f"Node does not exist: {MARKER}\n", ""), "it did not answer every command ([1, 2, 3])"),
    (lambda out: "", "it did not answer every command (no answer)"),
    (lambda out: out.replace("1\n[1, 2, 3]\n", "[1, 2, 3]\n"), "no answer in its place for 'ls /brokers/ids' (output ended)"),
    (lambda out: out.replace("\n1\n[1, 2, 3]\n", "\n1\nException in thread \"main\" java.lang.IllegalStateException\n[1, 2, 3]\n"),
     "unexpected line: [1, 2, 3]"),
    (lambda out: out.replace("Node does not exist: /migration", "Node does not exist: /controller"),
     "no answer in its place for 'get /migration' (Node does not exist: /controller)"),
    (lambda out: out.replace("[1, 2, 3]", "KeeperErrorCode = NoAuth for /brokers/ids"), "ZooKeeper: KeeperErrorCode = NoAuth"),
], ids=["no end marker", "empty", "an answer missing", "an extra line", "answer out of place", "ZooKeeper error"])
def test_zookeeper_shell_output_that_cannot_be_read(variant, message: str) -> None:
    result = captured("zookeeper-shell-zookeeper-mode")
    broken = dataclasses.replace(result, stdout=variant(result.stdout))
    with pytest.raises(Unreadable, match="host kafka1.example.com: ZooKeeper at zk1:2181 .*: ") as raised:
        zookeeper_get(_connection(broken), CLUSTER, "zk1:2181", PATHS, None, None)
    assert message in str(raised.value)


def test_zookeeper_shell_answers_in_dual_write() -> None:
    found = zookeeper_get(_connection(captured("zookeeper-shell-dual-write")), CLUSTER, "zk1:2181", PATHS, None, None)
    assert found["/controller"] == '{"version":2,"brokerid":9992,"timestamp":"1796122725388","kraftControllerEpoch":14}'
    assert found["/migration"].startswith('{"version":0,"kraft_metadata_offset":594,"kraft_controller_id":9992')
    assert found["/controller_epoch"] == "3"


def test_a_zookeeper_without_quorum_is_named() -> None:
    with pytest.raises(Unreadable) as raised:
        zookeeper_get(_connection(captured("zookeeper-shell-no-quorum")), CLUSTER, "zk1:2181", PATHS, None, None)
    assert str(raised.value) == ("host kafka1.example.com: ZooKeeper at zk1:2181 (session timeout 15 s): could not read ZooKeeper's "
                                 "shell: it did not answer every command (Exception in thread \"main\" java.io.IOException: "
                                 "org.apache.zookeeper.KeeperException$ConnectionLossException: KeeperErrorCode = ConnectionLoss)")


def test_connections_per_listener_are_summed_over_network_threads() -> None:
    seen = listener_connections(_connection(captured("jmx-listener-connections")), CLUSTER, "kafka-broker")
    assert seen.ok and seen.value == {"BROKER": 2, "INTERNAL": 3} and seen.summary == "BROKER: 2, INTERNAL: 3"


@pytest.mark.parametrize("result, detail", [
    (captured("jmx-refused"), "exit code 1: Could not connect to JMX url"),
    (_ok("time=1796354257195\n"), "time="),
    (_ok("kafka.server:type=socket-server-metrics,listener=BROKER,networkProcessor=3:connection-count=NaN\n"), "NaN"),
], ids=["refused", "no metric", "garbled count"])
def test_connections_that_cannot_be_read_are_no_reading(result: CommandResult, detail: str) -> None:
    seen = listener_connections(_connection(result), CLUSTER, "kafka-broker")
    assert not seen.ok and seen.value is None
    assert "could not read connection-count of socket-server-metrics from JmxTool" in seen.summary and detail in seen.summary


def test_consumer_lag_is_summed_per_group_from_each_groups_table() -> None:
    assert read_consumer_lag(captured("consumer-groups-describe-4")) == {
        "kafkactl-canary-1796368570843601702": 0, "kafkactl-canary-1796368656761633069": 43 + 29 + 37 + 38 + 42 + 38}
    no_offsets = CommandResult(0, "\nGROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID\n"
                                  "fresh orders 0 - 12 - c1 /10.0.0.1 c1\n", "")
    assert read_consumer_lag(no_offsets) == {"fresh": None}
    assert read_consumer_lag(CommandResult(0, "", "")) == {}
    with pytest.raises(Unreadable, match="could not read the consumer groups from kafka-consumer-groups: unexpected line"):
        read_consumer_lag(CommandResult(0, "Error: Executing consumer group command failed due to Timed out\n", ""))
    with pytest.raises(Unreadable, match="consumer groups"):
        read_consumer_lag(CommandResult(1, "", "org.apache.kafka.common.errors.TimeoutException: Timed out"))
