"""The Prometheus JMX exporter agent, with cp-ansible's variables: the jar (uploaded or fetched, checked), one rules
file per component, and the agent on each JVM's command line at cp-ansible's port."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kafkactl.desired import binary_content, desired_state, digest_content
from kafkactl.inventory import read_inventory
from kafkactl.plan import FileFacts, HostFacts, make_plan
from kafkactl.resources import resource_dir

from helpers import run_cli

JAR = b"PK\x03\x04 the agent"
SHA256 = "7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1"
INVENTORY = """\
all:
  vars:
    jmxexporter_enabled: true
    jmxexporter_url_remote: false
    jmxexporter_jar_url: agent.jar
zookeeper:
  hosts: {zk1: }
kafka_broker:
  hosts: {kafka1: }
kafka_connect:
  hosts: {connect1: }
"""


def _inventory(tmp_path: Path, text: str = INVENTORY) -> Path:
    (tmp_path / "agent.jar").write_bytes(JAR)
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    return path


def _files(tmp_path: Path, text: str = INVENTORY) -> dict[str, dict]:
    desired = desired_state(read_inventory(_inventory(tmp_path, text)).inventory)
    return {state.host.name: {f.path: f for f in state.files} for state in desired.hosts}


@pytest.mark.parametrize(("host", "unit", "port", "rules"), [
    ("zk1", "kafka-zookeeper", 8079, "/opt/prometheus/zookeeper.yml"),
    ("kafka1", "kafka-broker", 8080, "/opt/prometheus/kafka.yml"),
    ("connect1", "kafka-connect", 8077, "/opt/prometheus/kafka_connect.yml"),
])
def test_every_jvm_runs_the_agent_at_cp_ansibles_port_with_its_components_rules(
        tmp_path: Path, host: str, unit: str, port: int, rules: str) -> None:
    files = _files(tmp_path)[host]
    service = files[f"/etc/systemd/system/{unit}.service"].content
    assert f"-javaagent:/opt/prometheus/jmx_prometheus_javaagent.jar={port}:{rules}" in service
    assert (files[rules].owner, files[rules].group, files[rules].mode) == ("root", "kafka", "0640")
    assert yaml.safe_load(files[rules].content)["rules"]
    jar = files["/opt/prometheus/jmx_prometheus_javaagent.jar"]
    assert (jar.data, jar.content, jar.owner, jar.group, jar.mode) == (JAR, binary_content(JAR), "root", "kafka", "0640")


def test_a_component_can_be_left_without_the_agent(tmp_path: Path) -> None:
    files = _files(tmp_path, INVENTORY.replace("    jmxexporter_jar_url: agent.jar\n",
                                               "    jmxexporter_jar_url: agent.jar\n    kafka_connect_jmxexporter_enabled: false\n"))
    assert "-javaagent" not in files["connect1"]["/etc/systemd/system/kafka-connect.service"].content
    assert not any("/opt/prometheus/" in path for path in files["connect1"])
    assert "/opt/prometheus/jmx_prometheus_javaagent.jar" in files["kafka1"]


def test_without_jmxexporter_enabled_nothing_changes(tmp_path: Path) -> None:
    files = _files(tmp_path, INVENTORY.replace("jmxexporter_enabled: true", "jmxexporter_enabled: false"))
    assert not any("/opt/prometheus/" in path or "-javaagent" in f.content for host in files.values() for path, f in host.items())


def test_a_fetched_jar_is_planned_by_its_digest_and_fetched_by_the_host(tmp_path: Path) -> None:
    url = "https://artifacts.example/jmx_prometheus_javaagent-1.0.1.jar"
    text = INVENTORY.replace("    jmxexporter_url_remote: false\n    jmxexporter_jar_url: agent.jar\n",
                             f"    jmxexporter_jar_url: {url}\n    jmxexporter_jar_sha256: {SHA256}\n")
    inventory = read_inventory(_inventory(tmp_path, text)).inventory
    assert inventory.jmx_exporter_jar is None
    desired = desired_state(inventory)
    state = next(s for s in desired.hosts if s.host.name == "kafka1")
    jar = next(f for f in state.files if f.path.endswith(".jar"))
    assert (jar.fetched_from, jar.content, jar.data) == (url, digest_content(SHA256), None)
    same = HostFacts(files={jar.path: FileFacts(digest_content(SHA256), "root:kafka", "0640", 0)})
    planned = {f.path: f.action for f in make_plan(desired, {"kafka1": same}).hosts[1].files}
    assert planned[jar.path] == "unchanged"

    shown = run_cli("plan", str(tmp_path / "inventory.yml"), "--offline")
    assert shown.exit_code == 2, shown.stderr
    assert f"create   /opt/prometheus/jmx_prometheus_javaagent.jar (root:kafka 0640, fetched from {url})" in shown.stdout


def test_a_changed_jar_restarts_the_jvms_that_run_it(tmp_path: Path) -> None:
    desired = desired_state(read_inventory(_inventory(tmp_path)).inventory)
    state = next(s for s in desired.hosts if s.host.name == "kafka1")
    facts = HostFacts(files={f.path: FileFacts(f.content, f"{f.owner}:{f.group}", f.mode, 0) for f in state.files},
                      active_services=frozenset({"kafka-broker"}))
    facts.files["/opt/prometheus/jmx_prometheus_javaagent.jar"] = FileFacts(binary_content(b"PK an older agent"), "root:kafka", "0640", 0)
    plan = next(p for p in make_plan(desired, {"kafka1": facts}).hosts if p.host == "kafka1")
    assert [f.path for f in plan.files if f.action == "update"] == ["/opt/prometheus/jmx_prometheus_javaagent.jar"]
    assert [(s.name, s.action) for s in plan.services] == [("kafka-broker", "restart")]


RULES = sorted((resource_dir("templates") / "jmx-exporter").glob("*.yml.j2"))


@pytest.mark.parametrize("path", RULES, ids=[p.name for p in RULES])
def test_each_rules_file_reads_only_its_own_mbeans_and_every_pattern_compiles(path: Path) -> None:
    rules = yaml.safe_load(path.read_text())
    assert rules["lowercaseOutputName"] and rules["includeObjectNames"]
    for rule in rules["rules"]:
        re.compile(rule["pattern"])
        assert rule["name"] and rule["type"] in ("GAUGE", "COUNTER")


def test_the_kafka_rules_name_the_figures_an_operator_watches() -> None:
    text = (resource_dir("templates") / "jmx-exporter" / "kafka.yml.j2").read_text()
    for figure in ("UnderReplicatedPartitions", "UnderMinIsrPartitionCount", "AtMinIsrPartitionCount", "OfflinePartitionsCount",
                   "ActiveControllerCount", "FencedBrokerCount", "ActiveBrokerCount", "ZkMigrationState", "MigratingZkBrokerCount"):
        assert figure in text, figure
    for pattern in ("RequestsPerSec", "TotalTimeMs", "NetworkProcessorAvgIdlePercent", "RequestHandlerAvgIdlePercent",
                    "current-state", "current-leader", "high-watermark", "last-applied-record-lag-ms"):
        assert pattern in text, pattern
