"""What moving onto another Kafka version requires, checked against the hosts before any is touched (kafkactl/upgrade.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kafkactl.components.properties import parse_properties
from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.inventory import read_inventory
from kafkactl.model import Phase
from kafkactl.plan import HostFacts, Plan
from kafkactl.report import Report
from kafkactl.upgrade import REMOVED_PROPERTIES, java_major, removed_in, upgrade_refusals, version_roll, versions_line

from helpers import ROOT

KRAFT = ROOT / "inventories/kraft-cluster/inventory.yml"
JAVA_17 = 'openjdk version "17.0.15" 2025-04-15'


def _kraft(tmp_path: Path, version: str) -> object:
    path = tmp_path / "inventory.yml"
    path.write_text(KRAFT.read_text().replace("kafka_version: 3.9.2", f"kafka_version: {version}"))
    return read_inventory(path).inventory


def _facts(inventory, java: str = JAVA_17, running: str | None = None) -> dict[str, HostFacts]:
    return {h.name: HostFacts(java=java, service_versions={"kafka": running} if running else {}) for h in inventory.hosts}


@pytest.mark.parametrize("line, major", [
    (JAVA_17, 17), ('openjdk version "21" 2023-09-19', 21), ('java version "1.8.0_402"', 8),
    ('openjdk version "11.0.22" 2024-01-16', 11), ("", None), ("bash: /usr/bin/java: No such file or directory", None),
])
def test_java_major(line: str, major: int | None) -> None:
    assert java_major(line) == major


@pytest.mark.parametrize("version, name, release", [
    ("4.0.1", "log.message.format.version", "4.0"), ("4.1.1", "log.message.format.version", "4.0"),
    ("4.0.1", "zookeeper.ssl.client.enable", "4.0"), ("4.0.1", "password.encoder.secret", "4.0"),
    ("4.0.1", "group.coordinator.new.enable", None), ("4.2.0", "group.coordinator.new.enable", "4.1"),
    ("3.9.2", "log.message.format.version", None), ("4.2.0", "num.partitions", None),
])
def test_removed_in(version: str, name: str, release: str | None) -> None:
    assert removed_in(version, name) == release


@pytest.mark.parametrize("version", ["4.0.1", "4.1.1"])
def test_kraft_nodes_on_kafka_4_are_rendered_with_no_removed_property(tmp_path: Path, version: str) -> None:
    inventory = _kraft(tmp_path, version)
    rendered = {name for state in desired_state(inventory).hosts for f in state.files
                if f.path.endswith((".properties",)) and "log4j" not in f.path for name in parse_properties(f.content)}
    assert rendered and not [name for name in rendered if removed_in(version, name)]
    assert all(removed_in("4.2.0", name) for names in REMOVED_PROPERTIES.values() for name in names)


@pytest.mark.parametrize("version, logging", [("3.9.2", "log4j"), ("4.1.1", "log4j2")])
def test_kafka_4_logs_through_log4j2_to_the_same_rolling_files(tmp_path: Path, version: str, logging: str) -> None:
    """Apache's Kafka 4 archive logs through log4j2, which ignores -Dlog4j.configuration: each service gets a log4j2
    file and the option log4j2 reads, with the rolling file Kafka 3's log4j file names."""
    inventory = _kraft(tmp_path, version)
    for state in desired_state(inventory).hosts:
        for service in state.services:
            logs = [f for f in state.files if f.component == service.component and "log4j" in f.path]
            assert [f.path.rsplit("-", 1)[-1] for f in logs] == [f"{logging}.properties"], [f.path for f in logs]
            unit = next(f.content for f in state.files if f.path.endswith(".service") and f.component == service.component)
            option = "-Dlog4j2.configurationFile=" if logging == "log4j2" else "-Dlog4j.configuration=file:"
            assert f"{option}{logs[0].path}" in unit
            if logging == "log4j2":
                settings = parse_properties(logs[0].content)
                assert settings["appender.file.fileName"] == f"/var/log/kafka/{service.name}.log"
                assert (settings["appender.file.policies.size.size"], settings["appender.file.strategy.max"]) == ("100MB", "10")


def test_kafka_4_on_hosts_as_they_should_be_is_not_refused(tmp_path: Path) -> None:
    inventory = _kraft(tmp_path, "4.1.1")
    assert upgrade_refusals(inventory, desired_state(inventory), _facts(inventory, running="3.9.2")) == []


def test_kafka_4_needs_java_17_on_brokers_controllers_and_connect(tmp_path: Path) -> None:
    inventory = _kraft(tmp_path, "4.1.1")
    facts = _facts(inventory)
    facts["broker2.example.com"] = HostFacts(java='openjdk version "11.0.22" 2024-01-16')
    facts["connect1.example.com"] = HostFacts(java='java version "1.8.0_402"')
    refusals = upgrade_refusals(inventory, desired_state(inventory), facts)
    assert [r.split(":")[0] for r in refusals] == ["host broker2.example.com", "host connect1.example.com"]
    assert "needs Java 17 or later" in refusals[0] and "'openjdk version \"11.0.22\" 2024-01-16'" in refusals[0]
    # Java 11 is enough for Kafka 3.9: nothing refused there.
    older = _kraft(tmp_path, "3.9.2")
    assert upgrade_refusals(older, desired_state(older), facts) == []


def test_kafka_4_starts_from_3_3(tmp_path: Path) -> None:
    inventory = _kraft(tmp_path, "4.0.1")
    [refusal] = upgrade_refusals(inventory, desired_state(inventory), _facts(inventory, running="3.2.3"))
    assert refusal.startswith("kafka_version 4.0.1: Kafka 4 upgrades start from 3.3 or later")
    assert "broker1.example.com (kafka 3.2.3)" in refusal and refusal.endswith("roll onto 3.9 first")


def test_no_version_change_while_between_migration_states() -> None:
    inventory = read_inventory(ROOT / "inventories/kraft-migration/inventory.yml").inventory
    for phase in (Phase.DUAL_WRITE, Phase.KRAFT_BROKERS):
        desired = desired_state(inventory, phase)
        running = _facts(inventory, running="3.8.1")
        [refusal] = upgrade_refusals(inventory, desired, running)
        assert f"between migration states ({phase})" in refusal and "one change at a time" in refusal
        assert upgrade_refusals(inventory, desired, _facts(inventory, running=inventory.cluster.kafka_version)) == []


def test_status_line_names_running_versions_and_an_upgrade_in_progress(tmp_path: Path) -> None:
    inventory = _kraft(tmp_path, "4.1.1")
    facts = {h.name: HostFacts(service_versions={"kafka": "4.1.1"}) for h in inventory.hosts[:2]}
    facts[inventory.hosts[2].name] = HostFacts(service_versions={"kafka": "3.9.2"})
    names = [h.name for h in inventory.hosts]
    assert versions_line(inventory, facts) == (f"Kafka versions: 3.9.2 on {names[2]}; 4.1.1 on {', '.join(sorted(names[:2]))}: "
                                               "upgrade in progress (kafka_version 4.1.1)")
    assert versions_line(inventory, {names[0]: HostFacts(service_versions={"kafka": "3.9.2"})}) == (
        f"Kafka versions: 3.9.2 on {names[0]} (kafka_version 4.1.1: not rolled yet)")
    assert versions_line(inventory, {names[0]: HostFacts(service_versions={"kafka": "4.1.1"})}) == f"Kafka versions: 4.1.1 on {names[0]}"
    assert versions_line(inventory, {}) == "Kafka versions: no Kafka service running"


def _plan_text(inventory, facts) -> tuple[str, dict]:
    """The plan's text and its JSON document, for a plan that holds only the version roll."""
    desired = desired_state(inventory)
    plan = Plan(desired.phase, offline=False, hosts=(), version_roll=version_roll(inventory, desired, facts))
    text, document = io.StringIO(), io.StringIO()
    Report(Environment(stdout=text, stderr=io.StringIO(), stdin=io.StringIO(), variables={})).plan(plan, show_diff=False)
    Report(Environment(stdout=document, stderr=io.StringIO(), stdin=io.StringIO(), variables={})).plan_json(plan)
    return text.getvalue(), json.loads(document.getvalue())


def test_the_plan_says_a_version_roll_keeps_the_protocol_and_can_be_undone_until_it_moves(tmp_path: Path) -> None:
    inventory = _kraft(tmp_path, "4.1.1")
    text, document = _plan_text(inventory, _facts(inventory, running="3.9.2"))
    assert (f"[cluster] Kafka 3.9.2 -> 4.1.1 on {len(inventory.hosts)} hosts: 4.1.1 installed beside the running release, "
            "then a roll onto it in the order below; metadata.version stays where the cluster has it (kafka_metadata_version "
            "moves it later, with Kafka's feature tool, no restart). Reversible until the protocol moves: kafka_version 3.9.2 "
            "rolls back the same way.") in " ".join(text.split())
    roll = document["version_roll"]
    assert (roll["running"], roll["wanted"], roll["back"], roll["protocol"]) == (["3.9.2"], "4.1.1", False, "metadata.version")
    assert roll["hosts"] == sorted(h.name for h in inventory.hosts)


def test_the_plan_names_a_roll_back_and_the_protocol_a_zookeeper_mode_roll_keeps(tmp_path: Path) -> None:
    back = _kraft(tmp_path, "3.9.2")
    text, document = _plan_text(back, _facts(back, running="4.1.1"))
    assert "Kafka 4.1.1 -> 3.9.2 on" in text and "a roll back onto 3.9.2, in the order below, possible while the protocol has not moved" in " ".join(text.split())
    assert document["version_roll"]["back"] is True
    zookeeper = read_inventory(ROOT / "inventories/zookeeper-cluster/inventory.yml").inventory
    pinned = zookeeper.model_copy(update={"cluster": zookeeper.cluster.model_copy(update={"kafka_inter_broker_protocol_version": "3.8"})})
    text, document = _plan_text(pinned, _facts(pinned, running="3.8.1"))
    assert document["version_roll"]["protocol"] == "inter.broker.protocol.version 3.8"
    assert "kafka_inter_broker_protocol_version moves it later, in a roll of its own" in " ".join(text.split())


def test_no_version_roll_when_every_running_service_is_on_kafka_version(tmp_path: Path) -> None:
    inventory = _kraft(tmp_path, "3.9.2")
    for facts in (_facts(inventory, running="3.9.2"), _facts(inventory), {}):
        assert version_roll(inventory, desired_state(inventory), facts) is None
    text, document = _plan_text(inventory, _facts(inventory, running="3.9.2"))
    assert "[cluster] Kafka" not in text and document["version_roll"] is None


def test_removed_properties_are_what_kafkas_own_configuration_lists_say() -> None:
    """Each name 3.9.2 knows and a later release does not is refused from that release on, and nothing else is."""
    names = {version: set((ROOT / "tests/cases/kafka_config_names" / f"{version}.txt").read_text().split())
             for version in ("3.9.2", "4.0.1", "4.1.1", "4.2.0")}
    releases = ["3.9.2", "4.0.1", "4.1.1", "4.2.0"]
    for before, after in zip(releases, releases[1:]):
        for name in sorted(names["3.9.2"]):
            gone_by_now = name not in names[after]
            assert (removed_in(after, name) is not None) == gone_by_now, (after, name)
            if gone_by_now and name in names[before]:
                assert removed_in(after, name) == after.rsplit(".", 1)[0], (after, name)
    assert removed_in("4.2.0", "group.share.max.groups") == "4.1"
