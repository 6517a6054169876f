"""A KRaft cluster's metadata.version moves only when the inventory writes it, never down, and never in the
same apply as a version change (kafkactl/metadata_version.py); the plan shows the move as a cluster change."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kafkactl.environment import Environment
from kafkactl.errors import InventoryError
from kafkactl.inventory import read_inventory
from kafkactl.metadata_version import (
    is_below, is_reached, level, live_level, oldest_read_by, planned_change, refusals, release_refusals, wanted,
)
from kafkactl.model import Phase
from kafkactl.plan import FeatureChange, HostFacts, Plan
from kafkactl.report import Exit, Report

from helpers import ROOT

KRAFT = ROOT / "inventories/kraft-cluster/inventory.yml"


def _inventory(tmp_path: Path, extra: str):
    path = tmp_path / "inventory.yml"
    path.write_text(KRAFT.read_text().replace("    kafka_version: 3.9.2\n", extra))
    return read_inventory(path).inventory


@pytest.mark.parametrize("version, parsed", [("3.9-IV0", (3, 9, 0)), ("4.1", (4, 1, None)), ("3.3-IV3", (3, 3, 3))])
def test_level(version: str, parsed: tuple) -> None:
    assert level(version) == parsed


@pytest.mark.parametrize("live, target, reached, below", [
    ("3.9-IV0", "3.9", True, False), ("3.9-IV0", "3.9-IV0", True, False), ("3.9-IV0", "4.1", False, False),
    ("4.1-IV1", "3.9", False, True), ("4.1-IV1", "4.1-IV0", False, True), ("4.1-IV0", "4.1-IV1", False, False),
])
def test_reached_and_below(live: str, target: str, reached: bool, below: bool) -> None:
    assert (is_reached(live, target), is_below(target, live)) == (reached, below)


def test_only_a_written_level_is_wanted(tmp_path: Path) -> None:
    assert wanted(_inventory(tmp_path, "    kafka_version: 4.1.1\n").cluster) is None
    assert wanted(_inventory(tmp_path, "    kafka_version: 4.1.1\n    kafka_metadata_version: '4.1'\n").cluster) == "4.1"


def test_a_level_newer_than_the_release_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="kafka_metadata_version 4.1 is newer than kafka_version 3.9.2 supports"):
        _inventory(tmp_path, "    kafka_version: 3.9.2\n    kafka_metadata_version: '4.1'\n")


def test_never_down_and_never_with_a_version_change(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path, "    kafka_version: 4.1.1\n    kafka_metadata_version: '4.1'\n")
    on_4 = {h.name: HostFacts(service_versions={"kafka-broker": "4.1.1"}) for h in inventory.hosts}
    assert refusals(FeatureChange("metadata.version", "3.9-IV0", "4.1"), inventory, on_4) == []
    assert refusals(None, inventory, on_4) == []
    [down] = refusals(FeatureChange("metadata.version", "4.1-IV1", "3.9"), inventory, on_4)
    assert down.startswith("kafka_metadata_version 3.9 is below the cluster's metadata.version 4.1-IV1: metadata.version is never lowered")
    mixed = {**on_4, "broker3.example.com": HostFacts(service_versions={"kafka-broker": "3.9.2"})}
    [both] = refusals(FeatureChange("metadata.version", "3.9-IV0", "4.1"), inventory, mixed)
    assert "while broker3.example.com (kafka-broker 3.9.2) still run another Kafka version than 4.1.1: one change at a time" in both


def test_the_level_is_read_only_when_the_inventory_moves_it_or_binaries_roll_back(tmp_path: Path) -> None:
    class Untouchable:
        def connection(self, _):
            raise AssertionError("no tool is run when the plan does not need the level")

    inventory = _inventory(tmp_path, "    kafka_version: 4.1.1\n")
    running = {h.name: HostFacts(active_services=frozenset({"kafka-controller"}), service_versions={"kafka": "4.1.0"})
               for h in inventory.hosts}
    assert live_level(Untouchable(), inventory, Phase.KRAFT, running) is None  # same release, nothing asked
    assert planned_change(inventory, None) is None
    back = _inventory(tmp_path, "    kafka_version: 3.9.2\n")
    newer = {name: HostFacts(active_services=f.active_services, service_versions={"kafka": "4.1.1"}) for name, f in running.items()}
    with pytest.raises(AssertionError, match="no tool is run"):
        live_level(Untouchable(), back, Phase.KRAFT, newer)
    older = {name: HostFacts(active_services=f.active_services, service_versions={"kafka": "3.9.2"}) for name, f in running.items()}
    with pytest.raises(AssertionError, match="no tool is run"):  # onto Kafka 4: the level must be one it reads
        live_level(Untouchable(), inventory, Phase.KRAFT, older)


def test_binaries_roll_back_only_until_the_level_moves(tmp_path: Path) -> None:
    back = _inventory(tmp_path, "    kafka_version: 3.9.2\n")
    assert release_refusals(None, back) == [] and release_refusals("3.9-IV0", back) == []
    [refusal] = release_refusals("4.1-IV1", back)
    assert refusal.startswith("kafka_version 3.9.2: the cluster's metadata.version is 4.1-IV1, which Kafka 3.9.2 cannot read")
    assert refusal.endswith("keep kafka_version at 4.1 or later")
    moved = _inventory(tmp_path, "    kafka_version: 4.1.1\n    kafka_metadata_version: '4.1'\n")
    assert planned_change(moved, "3.9-IV0") == FeatureChange("metadata.version", "3.9-IV0", "4.1")
    assert planned_change(moved, "4.1-IV1") is None


def test_kafka_4_reads_metadata_version_3_3_iv3_and_later(tmp_path: Path) -> None:
    """MetadataVersion.MINIMUM_VERSION of kafka-server-common 4.0.1, 4.1.1 and 4.2.0 (measured)."""
    assert [oldest_read_by(v) for v in ("3.9.2", "4.0.1", "4.1.1", "4.2.0")] == [None, "3.3-IV3", "3.3-IV3", "3.3-IV3"]
    onto_4 = _inventory(tmp_path, "    kafka_version: 4.1.1\n")
    for readable in ("3.3-IV3", "3.9-IV0", "4.1-IV1"):
        assert release_refusals(readable, onto_4) == []
    [refusal] = release_refusals("3.3-IV2", onto_4)
    assert refusal == ("kafka_version 4.1.1: the cluster's metadata.version is 3.3-IV2, older than 3.3-IV3, the oldest Kafka 4.1.1 "
                       "reads; raise it first on the release the cluster runs (kafka_metadata_version: \"3.3-IV3\" or later), then roll")
    assert release_refusals("3.2-IV0", _inventory(tmp_path, "    kafka_version: 3.9.2\n")) == []


def test_a_feature_move_alone_is_a_pending_change_in_the_plan_and_its_json() -> None:
    plan = Plan(Phase.KRAFT, offline=False, hosts=(), features=(FeatureChange("metadata.version", "3.9-IV0", "4.1"),))
    for show in ("text", "json"):
        out = io.StringIO()
        report = Report(Environment(stdout=out, stderr=io.StringIO(), stdin=io.StringIO(), variables={}))
        report.plan(plan, show_diff=False) if show == "text" else report.plan_json(plan)
        assert report.exit_code == Exit.CHANGES_PENDING
        if show == "text":
            assert "[cluster] metadata.version 3.9-IV0 -> 4.1: with Kafka's feature tool once every host is rolled" in out.getvalue()
            assert "Nothing to do" not in out.getvalue()
        else:
            assert json.loads(out.getvalue())["features"] == [{"feature": "metadata.version", "live": "3.9-IV0", "wanted": "4.1"}]
