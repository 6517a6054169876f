"""The health and evidence readers on what Kafka 4's tools print (tests/cases/tool_output/*-4, captured from
Kafka 4.1.1 in the lab): the columns and fields 4.x adds (directory ids, ELR, fenced brokers) read as 3.9's do."""

from __future__ import annotations

from kafkactl.health import (
    broker_api_versions_tool, broker_registered, controller_quorum, controller_voters_caught_up, elect_preferred_leaders,
    partitions, under_replicated,
)
from kafkactl.inventory import read_inventory
from kafkactl.model import Component
from kafkactl.tool_output import read_metadata_version

from helpers import ROOT
from tool_output import ScriptedConnection, captured

INVENTORY = read_inventory(ROOT / "inventories/kraft-cluster/inventory.yml").inventory
CLUSTER = INVENTORY.cluster.model_copy(update={"kafka_version": "4.1.1"})
BROKER = INVENTORY.members(Component.KAFKA_BROKER)[0]
CONTROLLER = INVENTORY.members(Component.KAFKA_CONTROLLER)[0]


def test_kafka_4_runs_broker_api_versions_from_the_tools_jar() -> None:
    assert broker_api_versions_tool(CLUSTER) == "org.apache.kafka.tools.BrokerApiVersionsCommand"
    assert broker_api_versions_tool(INVENTORY.cluster) == "kafka.admin.BrokerApiVersionsCommand"
    connection = ScriptedConnection(captured("broker-api-versions-all-up-4"), BROKER)
    observation = broker_registered(connection, CLUSTER, BROKER)
    assert observation.ok and observation.value == [1]
    assert " org.apache.kafka.tools.BrokerApiVersionsCommand --bootstrap-server " in connection.commands[0].text


def test_topics_with_elr_columns() -> None:
    state = partitions(ScriptedConnection(captured("topics-describe-in-sync-4"), BROKER), CLUSTER, [BROKER], 1)
    assert [(p.topic, p.partition, p.leader, p.replicas, p.isr) for p in state] == [
        ("canary", n, 1, (1,), (1,)) for n in range(3)]
    assert under_replicated(state).ok


def test_quorum_status_and_voter_lags_with_directory_ids() -> None:
    status = controller_quorum(ScriptedConnection(captured("metadata-quorum-status-4"), CONTROLLER), CLUSTER, CONTROLLER)
    assert status.ok and status.summary == "leader 9991, high watermark 48"
    lags = controller_voters_caught_up(ScriptedConnection(captured("metadata-quorum-replication-4"), CONTROLLER), CLUSTER, CONTROLLER)
    assert lags.ok and lags.value == {"9991": 0}, "the observer (broker 1) is no voter"


def test_preferred_leader_election_with_nothing_to_do() -> None:
    assert elect_preferred_leaders(ScriptedConnection(captured("leader-election-nothing-to-do-4"), BROKER), CLUSTER, [BROKER]).ok


def test_finalized_metadata_version() -> None:
    assert read_metadata_version(captured("features-describe-4")) == "4.1-IV1"
