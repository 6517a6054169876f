"""Migration state and pre-flight checks, from data files: evidence in, state and refusals out.

Each case in cases/migration_checks.yml starts from the evidence of a settled state (the nodes'
configurations are the real renders of that state's phase) and changes what the case is about.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from helpers import ROOT
from kafkactl.components.kafka_broker import broker_properties
from kafkactl.components.topology import Topology
from kafkactl.desired import desired_state
from kafkactl.health import Partition
from kafkactl.inventory import read_inventory
from kafkactl.components.properties import parse_properties
from kafkactl.migration.preflight import preflight, same_level
from kafkactl.migration.runner import state_key
from kafkactl.migration.state import PHASE_OF_STATE, Evidence, Node, State, ZooKeeperView, classify
from kafkactl.model import Component, Phase

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "migration_checks.yml").read_text())
CLUSTER_ID = "UUQcOVlzT2-fkPn-D-JIbg"
ZK_STATE = {State.ZOOKEEPER: None, State.DUAL_WRITE: 1, State.KRAFT_BROKERS: 1, State.KRAFT: 3}


def _inventory(tmp_path: Path, extra_vars: dict, host_vars: dict):
    base = yaml.safe_load((ROOT / "inventories/kraft-migration/inventory.yml").read_text())
    base["all"]["vars"].update(extra_vars)
    for group in base["all"]["children"].values():
        for name in group["hosts"]:
            group["hosts"][name] = host_vars.get(name)
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(base))
    return read_inventory(path).inventory


def _evidence(inventory, state: State, case: dict) -> Evidence:
    desired = desired_state(inventory, PHASE_OF_STATE[state])
    nodes = []
    for host_state in desired_state(inventory, Phase.DUAL_WRITE).hosts:
        host = host_state.host
        for component, role_name, node_id in ((Component.KAFKA_CONTROLLER, "controller", host.node_id),
                                              (Component.KAFKA_BROKER, "broker", host.broker_id)):
            if not host.has(component):
                continue
            rendered = next((s for s in desired.hosts if s.host.name == host.name), None)
            service = next((s for s in rendered.services if s.component == component), None) if rendered else None
            config = next((f.content for f in rendered.files if service and f.path == service.config), None) if rendered else None
            fields = dict(
                host=host.name, role=role_name, node_id=node_id,
                config=parse_properties(config) if config else None, running=config is not None,
                cluster_ids={"/var/lib/kafka/data/meta.properties": CLUSTER_ID} if role_name == "broker" or config else {},
                version=inventory.cluster.kafka_version if config else None,
                zk_migration_state=ZK_STATE[state] if role_name == "controller" and config else None,
            )
            change = case.get("nodes", {}).get(host.name, {})
            if "config" in change:
                fields["config"] = {**(fields["config"] or {}), **change.pop("config")}
            nodes.append(Node(**{**fields, **change}))
    zookeeper = {
        "read": True, "cluster_id": CLUSTER_ID, "controller_epoch": 3, "broker_ids": (1, 2, 3),
        "controller": {"brokerid": 1} if state == State.ZOOKEEPER else {"brokerid": 9991, "kraftControllerEpoch": 3},
        "migration": None if state == State.ZOOKEEPER else {"kraft_controller_epoch": 3},
        **case.get("zookeeper", {}),
    }
    partitions = [Partition(p["topic"], p["partition"], p.get("leader", 1), tuple(p["replicas"]), tuple(p["isr"]), 2)
                  for p in case.get("partitions", [{"topic": "orders", "partition": 0, "replicas": [1, 2, 3], "isr": [1, 2, 3]}])]
    if "partitions_error" in case:
        partitions = case["partitions_error"]
    return Evidence(ZooKeeperView(**zookeeper), tuple(nodes), partitions, tuple(case.get("registered", [1, 2, 3])),
                    case.get("metadata_version", None if state == State.ZOOKEEPER else "3.9-IV0"))


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_migration_case(case: dict, tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, case.get("vars", {}), case.get("hosts", {}))
    evidence = _evidence(inventory, State(str(case["from"])), case)
    status = classify(evidence)
    assert state_key(status) == str(case["state"]), status.label
    if "phase" not in case:
        return
    phase = Phase(case["phase"]) if case["phase"] != "rollback" else Phase.ZOOKEEPER
    topology = Topology.of(inventory, Phase.KRAFT_BROKERS)
    kraft_brokers = {h.name: broker_properties(topology, h).as_dict() for h in topology.brokers}
    findings = preflight(inventory, evidence, status, phase, kraft_brokers)
    assert sorted({f.check for f in findings if f.level == "error"}) == sorted(case.get("errors", [])), findings
    assert sorted({f.check for f in findings if f.level == "warning"}) == sorted(case.get("warnings", [])), findings


def test_every_check_has_a_case() -> None:
    checks = {check for case in CASES for check in case.get("errors", []) + case.get("warnings", [])}
    source = (ROOT / "kafkactl/migration/preflight.py").read_text()
    defined = set(re.findall(r'_error\("([a-z-]+)"', source)) | set(re.findall(r'Finding\([^,]+, "([a-z-]+)"', source))
    assert defined <= checks, f"checks without a case: {sorted(defined - checks)}"


@pytest.mark.parametrize("ibp, metadata_version, same", [
    ("3.9", "3.9-IV0", True), ("3.7", "3.7-IV4", True), ("3.7-IV2", "3.7-IV4", False), ("3.8", "3.9-IV0", False),
])
def test_ibp_matches_metadata_version(ibp: str, metadata_version: str, same: bool) -> None:
    assert same_level(ibp, metadata_version) is same
