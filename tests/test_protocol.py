"""The inter-broker protocol stays where the live brokers have it until the inventory moves it, and a version
change and a protocol move are never one apply (kafkactl/protocol.py)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from kafkactl import identity, protocol
from kafkactl.cli.common import live_inventory
from kafkactl.components.properties import parse_properties
from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.inventory import read_inventory
from kafkactl.model import Component, Host
from kafkactl.protocol import LiveProtocol, parse, pin_protocol, protocol_refusals, read_live_protocols, read_script
from kafkactl.report import Report

from helpers import ROOT

INVENTORY = read_inventory(ROOT / "inventories/zookeeper-cluster/inventory.yml").inventory
BROKERS = [h.name for h in INVENTORY.members(Component.KAFKA_BROKER)]
HOST = Host(name="kafka1.example.com", address="10.0.0.1", broker_id=1, components=(Component.KAFKA_BROKER,))


def _with(tmp_path: Path, extra: str) -> object:
    path = tmp_path / "inventory.yml"
    path.write_text(f"all:\n  vars:\n{extra}zookeeper:\n  hosts: {{zk1: }}\nkafka_broker:\n  hosts: {{kafka1: , kafka2: }}\n")
    return read_inventory(path).inventory


def _rendered_protocol(inventory) -> set[str]:
    return {parse_properties(f.content)["inter.broker.protocol.version"]
            for s in desired_state(inventory).hosts for f in s.files if f.path.endswith("server.properties")}


def test_the_script_reads_the_brokers_config_and_running_version() -> None:
    assert "systemctl show -p MainPID --value kafka-broker" in read_script(INVENTORY).text


@pytest.mark.parametrize("config, expected", [
    ("broker.id=1\ninter.broker.protocol.version=3.7\n", LiveProtocol("3.7", None)),
    ("broker.id=1\n", LiveProtocol(None, None)),
    (None, LiveProtocol(None, None)),
])
def test_the_script_run_by_a_shell(tmp_path: Path, config: str | None, expected: LiveProtocol) -> None:
    """Run for real against a config file in tmp_path (no broker service runs here: no running version)."""
    if config is not None:
        (tmp_path / "server.properties").write_text(config)
    inventory = _with(tmp_path, f"    kafka_config_dir: {tmp_path}\n")
    output = subprocess.run(["sh", "-c", read_script(inventory).text], capture_output=True, text=True, check=True).stdout
    assert parse(HOST, output) == expected


@pytest.mark.parametrize("output, expected", [
    ("3.8\n3.8.1\n", LiveProtocol("3.8", "3.8.1")),
    ("3.8-IV1\n\n", LiveProtocol("3.8-IV1", None)),
    ("\n3.9.2\n", LiveProtocol(None, "3.9.2")),
    ("", LiveProtocol(None, None)),
])
def test_what_a_broker_answers(output: str, expected: LiveProtocol) -> None:
    assert parse(HOST, output) == expected


@pytest.mark.parametrize("output, error", [
    ("3.8;id\n3.8.1\n", "host kafka1.example.com: inter.broker.protocol.version '3.8;id' in its server.properties is not a protocol"),
    ("3.8\n$(id)\n", "host kafka1.example.com: the running Kafka version '$(id)' is not a version"),
])
def test_a_planted_value_is_refused(output: str, error: str) -> None:
    with pytest.raises(KafkactlError, match=error.replace("(", r"\(").replace(")", r"\)").replace("$", r"\$")):
        parse(HOST, output)


def test_an_upgrade_keeps_the_protocol_the_brokers_speak(tmp_path: Path) -> None:
    inventory = _with(tmp_path, "    kafka_version: 3.9.2\n")
    assert _rendered_protocol(inventory) == {"3.9"}
    pinned, kept = pin_protocol(inventory, {"kafka1": LiveProtocol(None, "3.8.1"), "kafka2": LiveProtocol("3.8", "3.8.1")})
    assert _rendered_protocol(pinned) == {"3.8"}
    assert kept == ("inter.broker.protocol.version stays 3.8, as the brokers have it (not 3.9, from kafka_version); "
                    "write kafka_inter_broker_protocol_version to move it")


def test_brokers_that_disagree_keep_the_lowest(tmp_path: Path) -> None:
    pinned, _ = pin_protocol(_with(tmp_path, ""), {"kafka1": LiveProtocol("3.8", "3.9.2"), "kafka2": LiveProtocol("3.10", "3.9.2")})
    assert pinned.cluster.inter_broker_protocol_version == "3.8"


def test_nothing_to_keep(tmp_path: Path) -> None:
    inventory = _with(tmp_path, "")
    for live in ({}, {"kafka1": LiveProtocol(None, None)}, {"kafka1": LiveProtocol("3.9", "3.9.2")}):
        assert pin_protocol(inventory, live) == (inventory, None)


def test_the_protocol_moves_once_every_broker_runs_the_new_version(tmp_path: Path) -> None:
    inventory = _with(tmp_path, "    kafka_inter_broker_protocol_version: '3.9'\n")
    live = {"kafka1": LiveProtocol("3.8", "3.9.2"), "kafka2": LiveProtocol("3.8", "3.9.2")}
    assert pin_protocol(inventory, live) == (inventory, None)
    assert protocol_refusals(inventory, live) == []
    assert _rendered_protocol(inventory) == {"3.9"}


def test_a_version_change_and_a_protocol_move_in_one_apply_are_refused(tmp_path: Path) -> None:
    inventory = _with(tmp_path, "    kafka_inter_broker_protocol_version: '3.9'\n")
    live = {"kafka1": LiveProtocol("3.8", "3.9.2"), "kafka2": LiveProtocol("3.8", "3.8.1")}
    assert protocol_refusals(inventory, live) == [
        "kafka_inter_broker_protocol_version 3.9 moves the protocol from 3.8 while kafka2 still runs another Kafka version "
        "than 3.9.2: one change at a time. Roll onto 3.9.2 with kafka_inter_broker_protocol_version: \"3.8\" first, then move "
        "the protocol"]


def test_binaries_roll_back_only_until_the_protocol_moves(tmp_path: Path) -> None:
    inventory = _with(tmp_path, "    kafka_version: 3.8.1\n")
    assert protocol_refusals(inventory, {"kafka1": LiveProtocol("3.8", "3.9.2"), "kafka2": LiveProtocol("3.8", "3.8.1")}) == []
    for moved in (LiveProtocol("3.9", "3.9.2"), LiveProtocol(None, "3.9.2")):  # written, or Kafka's default: its release
        assert protocol_refusals(inventory, {"kafka1": moved, "kafka2": moved}) == [
            "kafka_version 3.8.1: the brokers speak inter.broker.protocol.version 3.9, which Kafka 3.8.1 cannot: binaries "
            "roll back only until the protocol moves, and it does not move back"]


def test_kraft_brokers_have_no_inter_broker_protocol_to_read() -> None:
    class Untouchable:
        def read_each(self, *_):
            raise AssertionError("nothing is read for a KRaft inventory")

    kraft = read_inventory(ROOT / "inventories/kraft-cluster/inventory.yml").inventory
    assert read_live_protocols(Untouchable(), kraft) == {}  # type: ignore[arg-type]


def test_a_roll_back_past_the_protocol_is_refused_by_apply_and_reported_by_status(tmp_path: Path, monkeypatch) -> None:
    inventory = _with(tmp_path, "    kafka_version: 3.8.1\n")
    monkeypatch.setattr(identity, "read_live_ids", lambda transport, inv: {})
    monkeypatch.setattr(protocol, "read_live_protocols", lambda transport, inv: dict.fromkeys(BROKERS[:2], LiveProtocol("3.9", "3.9.2")))
    stderr = io.StringIO()
    report = Report(Environment(stdout=io.StringIO(), stderr=stderr, stdin=io.StringIO(), variables={}))
    with pytest.raises(KafkactlError, match="binaries roll back only until the protocol moves"):
        live_inventory(report, inventory, transport=None)  # type: ignore[arg-type]
    assert live_inventory(report, inventory, transport=None, reading_only=True)  # type: ignore[arg-type]
    assert "warning: kafka_version 3.8.1: the brokers speak inter.broker.protocol.version 3.9" in stderr.getvalue()
