"""Data-driven: each tests/cases/properties/*.yml names an inventory and phase and the exact properties
each listed host must get. KAFKACTL_UPDATE_CASES=1 rewrites the expected data (review the diff)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from kafkactl.components.topology import Topology
from kafkactl.desired import PROPERTIES, resolve_phase
from kafkactl.inventory import read_inventory
from kafkactl.model import Component, Phase

from helpers import ROOT

CASES = sorted((Path(__file__).parent / "cases" / "properties").glob("*.yml"))


def _inventory_path(case: dict, tmp_path: Path) -> Path:
    if "inventory" in case:
        return ROOT / case["inventory"]
    path = tmp_path / "inventory.yml"
    path.write_text(case["inventory_text"])
    return path


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_properties(case_file: Path, tmp_path: Path, secure_env) -> None:
    case = yaml.safe_load(case_file.read_text())
    inventory = read_inventory(_inventory_path(case, tmp_path)).inventory
    phase = resolve_phase(inventory, Phase(case["phase"]) if case.get("phase") else None)
    topology = Topology.of(inventory, phase)
    hosts = {h.name: h for h in inventory.hosts}
    actual = {
        host: {component: PROPERTIES[Component(component)](topology, hosts[host]).as_dict() for component in components}
        for host, components in case["expected"].items()
    }
    if os.environ.get("KAFKACTL_UPDATE_CASES"):
        case["expected"] = actual
        case_file.write_text(yaml.safe_dump(case, sort_keys=False, width=200))
    assert actual == case["expected"]
