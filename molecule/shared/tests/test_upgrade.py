"""An upgrade scenario's outcome (steps `upgrade` and `metadata-version`, molecule/shared/migration.py).

The plan showed the roll onto the new binaries, controllers first, one node at a time, with metadata.version
kept and the step reversible until it moves; a version and a
protocol change in one apply were refused; after the roll every node runs the new version with
metadata.version where it was; the next apply raised it with the feature tool and restarted nothing; the
apply after that found nothing to do; the cluster id is the seeded one; every JVM's Prometheus exporter serves
kafkactl's rules on the new version. The data and the canary are test_whole_run.py's. Scenarios without upgrade steps skip this module.
"""

from __future__ import annotations

import json
import os
import re

import pytest
from conftest import EPHEMERAL, STEPS
from migration import UPGRADES, Scenario

pytestmark = pytest.mark.skipif(not any(s in UPGRADES for s in STEPS), reason="not an upgrade scenario")

SCENARIO = Scenario(EPHEMERAL)
TARGET = os.environ.get("KAFKACTL_UPGRADE_TO", "")
RAISED = re.compile(r"metadata\.version (\S+) -> (\S+) \(feature tool; no restart\)")


def _step(name: str) -> dict:
    (record,) = SCENARIO.recorded(name)
    return record


def _status(outcome: dict) -> dict:
    assert outcome["exit"] == 0, outcome["stdout"][-3000:] + outcome["stderr"]
    return json.loads(outcome["stdout"])


def _nodes() -> list[str]:
    groups = SCENARIO.groups()
    return groups["kafka_controller"] + groups["kafka_broker"]


def test_plan_shows_the_roll_onto_the_new_binaries_controllers_first():
    plan = _step("upgrade")["plan"]
    assert plan["exit"] == 2, plan["stdout"][-3000:] + plan["stderr"]
    assert plan["stdout"].count(f"install  /opt/kafka/kafka_2.13-{TARGET}") == len(_nodes()), plan["stdout"]
    assert f"in this order: {' -> '.join(_nodes())}" in plan["stdout"], plan["stdout"]
    said = " ".join(plan["stdout"].split())
    assert f"-> {TARGET} on {len(_nodes())} hosts:" in said and "metadata.version stays where the cluster has it" in said, said
    assert "Reversible until the protocol moves" in said, said


def test_a_version_and_a_protocol_change_in_one_apply_are_refused():
    both = _step("upgrade")["both_at_once"]
    assert both["exit"] == 1, both["stdout"][-3000:]
    assert f"still run another Kafka version than {TARGET}: one change at a time" in both["stderr"], both["stderr"]


def test_every_node_runs_the_new_version_with_metadata_version_kept():
    record = _step("upgrade")
    assert record["apply"]["exit"] == 0, record["apply"]["stderr"]
    found = _status(record["status"])
    assert found["healthy"], found["problems"]
    assert {(s["host"], s["running"], s["version"]) for s in found["services"]} == {(h, True, TARGET) for h in _nodes()}
    (raised,) = RAISED.findall(_step("metadata-version")["apply"]["stdout"])
    assert found["metadata_version"] == raised[0], found


def test_metadata_version_raised_without_a_restart_then_nothing_to_do():
    record = _step("metadata-version")
    applied, again = record["apply"], record["again"]
    assert applied["exit"] == 0 and again["exit"] == 0, applied["stderr"] + again["stderr"]
    (raised,) = RAISED.findall(applied["stdout"])
    assert raised[0] != raised[1] and raised[1].startswith(os.environ["KAFKACTL_UPGRADE_METADATA_VERSION"] + "-"), raised
    assert "restarted" not in applied["stdout"], applied["stdout"]
    assert f"Nothing to do: all {len(_nodes())} hosts match the inventory." in again["stdout"], again["stdout"]
    found = _status(record["status"])
    assert found["healthy"] and found["metadata_version"] == raised[1], found


def test_cluster_id_is_the_seeded_one():
    found = _status(_step("metadata-version")["status"])
    assert found["cluster_id"] == SCENARIO.seeded["cluster_id"], found


def _served(connect, host: str, port: int, name: str) -> float:
    """The sum of the samples of `name` the JMX exporter on `host` serves at `port`, read on the host."""
    text = connect(host).check_output(f"curl -fsS http://127.0.0.1:{port}/metrics")
    values = [float(line.split()[-1]) for line in text.splitlines()
              if not line.startswith("#") and line.split("{")[0].split()[0] == name]
    assert values, f"{host}:{port} serves no {name}"
    return sum(values)


def test_every_jvm_serves_the_exporters_rules_on_the_new_version(connect):
    """cp-ansible's ports (controllers 8079, brokers 8080): one active controller, three brokers, none fenced, no
    partition offline or under-replicated."""
    groups = SCENARIO.groups()
    active = {host: _served(connect, host, 8079, "kafka_controller_kafkacontroller_activecontrollercount")
              for host in groups["kafka_controller"]}
    assert sum(active.values()) == 1, active
    leader = next(host for host, count in active.items() if count == 1)
    assert [_served(connect, leader, 8079, f"kafka_controller_kafkacontroller_{name}")
            for name in ("activebrokercount", "fencedbrokercount", "offlinepartitionscount")] == [len(groups["kafka_broker"]), 0, 0]
    for host in groups["kafka_broker"]:
        assert _served(connect, host, 8080, "kafka_server_replicamanager_underreplicatedpartitions") == 0, host
