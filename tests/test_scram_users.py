"""SCRAM users declared in the inventory are made, updated and (when asked) deleted through a running broker,
with passwords on the tool's stdin only (kafkactl/scram_users.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkactl.inventory import read_inventory
from kafkactl.plan import FileFacts, HostFacts, ScramUserChange
from kafkactl.scram_users import Record, change, mechanisms, planned_changes, refusals
from kafkactl.tool_output import Unreadable, read_scram_users
from kafkactl.transport import CommandResult

from helpers import ROOT
from tool_output import ScriptedConnection, captured

KRAFT = ROOT / "inventories/kraft-cluster/inventory.yml"
BROKERS = ("broker1.example.com", "broker2.example.com", "broker3.example.com")


def _inventory(tmp_path: Path, extra: str):
    path = tmp_path / "inventory.yml"
    path.write_text(KRAFT.read_text().replace("    kafka_version: 3.9.2\n", "    kafka_version: 3.9.2\n" + extra))
    return read_inventory(path).inventory


USERS = """    sasl_scram_users:
      admin: {principal: admin, password: admin-secret}
      client: {principal: client, password: "cl\\\\ient=é"}
"""


class _Transport:
    def __init__(self, result: CommandResult) -> None:
        self.connections: dict[str, ScriptedConnection] = {}
        self.result = result

    def connection(self, name: str) -> ScriptedConnection:
        return self.connections.setdefault(name, ScriptedConnection(self.result))


def _running(inventory) -> dict[str, HostFacts]:
    return {name: HostFacts(active_services=frozenset({"kafka-broker"}), service_versions={"kafka-broker": "3.9.2"}) for name in BROKERS}


def test_the_users_kafka_configs_lists() -> None:
    assert read_scram_users(captured("configs-describe-users")) == {
        "client": frozenset({"SCRAM-SHA-256", "SCRAM-SHA-512"}), "alice": frozenset({"SCRAM-SHA-512"}),
        "admin": frozenset({"SCRAM-SHA-512"})}
    assert read_scram_users(CommandResult(0, "", "")) == {}
    with pytest.raises(Unreadable, match="SCRAM users from kafka-configs"):
        read_scram_users(CommandResult(1, "", "org.apache.kafka.common.errors.TimeoutException"))


def test_mechanisms_follow_the_listeners(tmp_path: Path) -> None:
    assert mechanisms(_inventory(tmp_path, "").cluster) == ["SCRAM-SHA-512"]
    both = _inventory(tmp_path, "    sasl_protocol: scram256\n" + USERS.replace("admin-secret", "x"))
    assert mechanisms(both.cluster) == ["SCRAM-SHA-256"]


def test_a_password_kafka_configs_cannot_carry_is_refused(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, USERS.replace("admin-secret", "\"admin,secret\""))
    assert refusals(inventory.cluster) == ["sasl_scram_users: admin: the password holds ',', which kafka-configs cannot carry "
                                           "into a SCRAM credential; choose another"]


def test_plan_creates_missing_updates_unrecorded_and_keeps_recorded(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, USERS)
    record = Record(tmp_path / "state")
    transport = _Transport(captured("configs-describe-users"))
    planned = planned_changes(transport, inventory, _running(inventory), record)
    # client and admin exist with SCRAM-SHA-512, but kafkactl never set their passwords: set once.
    assert planned == (ScramUserChange("admin", "SCRAM-SHA-512", "update"), ScramUserChange("client", "SCRAM-SHA-512", "update"))
    record.remember("admin", "SCRAM-SHA-512", "admin-secret")
    record.remember("client", "SCRAM-SHA-512", "cl\\ient=é")
    assert planned_changes(transport, inventory, _running(inventory), Record(tmp_path / "state")) == ()
    assert (tmp_path / "state" / "scram-users.json").stat().st_mode & 0o777 == 0o600
    assert "admin-secret" not in (tmp_path / "state" / "scram-users.json").read_text()
    deleting = _inventory(tmp_path, USERS + "    kafkactl_delete_unlisted_scram_users: true\n")
    assert planned_changes(transport, deleting, _running(deleting), Record(tmp_path / "state")) == (
        ScramUserChange("alice", "SCRAM-SHA-512", "delete"),)


def test_with_no_broker_running_every_user_is_created(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, USERS)
    transport = _Transport(CommandResult(1, "", "must not be asked"))
    assert planned_changes(transport, inventory, {}, Record(tmp_path)) == (
        ScramUserChange("admin", "SCRAM-SHA-512", "create"), ScramUserChange("client", "SCRAM-SHA-512", "create"))
    assert transport.connections == {}
    zookeeper_mode = tmp_path / "zookeeper-mode.yml"
    zookeeper_mode.write_text((ROOT / "inventories/zookeeper-cluster/inventory.yml").read_text().replace("  vars:\n", "  vars:\n" + USERS, 1))
    planned = planned_changes(transport, read_inventory(zookeeper_mode).inventory, {}, Record(tmp_path))
    assert {change.way for change in planned} == {"in ZooKeeper before the first broker starts"}


def test_a_password_goes_on_stdin_as_a_properties_value_never_on_the_command_line(tmp_path: Path) -> None:
    cluster = _inventory(tmp_path, USERS).cluster
    sent = {}

    class Connection(ScriptedConnection):
        def run(self, command, **options):
            sent.update(options)
            return super().run(command, **options)

    connection = Connection(CommandResult(0, "Completed updating config for user client.", ""))
    change(connection, cluster, "b1:9091", ScramUserChange("client", "SCRAM-SHA-512", "create"))
    command = connection.commands[0].text
    assert "--add-config-file /dev/stdin" in command and "--entity-name client" in command and "cl" + "\\" not in command
    assert sent["stdin"] == b"SCRAM-SHA-512=password=cl\\\\ient=\\u00e9\n"
    change(connection, cluster, "b1:9091", ScramUserChange("alice", "SCRAM-SHA-256", "delete"))
    assert "--delete-config SCRAM-SHA-256" in connection.commands[1].text


def test_before_the_roll_the_users_are_read_on_the_listener_the_brokers_run(tmp_path: Path) -> None:
    """The inventory moves inter-broker traffic to SECURE; the running brokers, and kafkactl's client settings on
    them, are still on BROKER: the read goes to BROKER's port with the tools of the release they run."""
    moved = _inventory(tmp_path, USERS + "    kafka_broker_custom_listeners: {secure: {name: SECURE, port: 9095}}\n"
                                         "    kafka_broker_inter_broker_listener_name: secure\n")
    assert moved.cluster.inter_broker_listener.name == "SECURE"  # worked out, as rendering the plan does, before the read
    running = _running(moved)
    for name in BROKERS:
        config = "listeners=INTERNAL://x:9092,BROKER://x:9091,SECURE://x:9095\ninter.broker.listener.name=BROKER\n"
        running[name] = HostFacts(active_services=running[name].active_services, service_versions={"kafka-broker": "3.8.1"},
                                  files={"/etc/kafka/server.properties": FileFacts(config, "root:kafka", "0640", 0)})
    transport = _Transport(captured("configs-describe-users"))
    planned_changes(transport, moved, running, Record(tmp_path / "state"))
    (asked,) = transport.connections.values()
    assert "--bootstrap-server broker1.example.com:9091,broker2.example.com:9091,broker3.example.com:9091" in str(asked.commands[0])
    assert "/kafka_2.13-3.8.1/libs/" in str(asked.commands[0])


def test_the_running_listener_wins_even_once_the_inventorys_was_worked_out(tmp_path: Path) -> None:
    """A copy of the cluster with another inter-broker listener resolves that one, not one cached before the copy."""
    cluster = _inventory(tmp_path, "    kafka_broker_inter_broker_listener_name: internal\n").cluster
    assert cluster.inter_broker_listener.name == "INTERNAL"
    assert cluster.model_copy(update={"kafka_broker_inter_broker_listener_name": "broker"}).inter_broker_listener.name == "BROKER"
