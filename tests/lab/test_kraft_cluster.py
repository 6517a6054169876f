"""A KRaft cluster (3 controllers, 3 brokers) applied from nothing, idempotent, and restarted with
the active controller last while a canary produces and consumes."""

from __future__ import annotations

import time

import pytest

from canary import Canary
from labkit import Lab, bring_up, take_down

BOOTSTRAP = "kafka1:9091,kafka2:9091,kafka3:9091"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    made = bring_up(tmp_path_factory, "--layout", "kraft")
    yield made
    take_down(made)


def test_kraft_cluster_is_formatted_once_with_one_cluster_id(lab: Lab) -> None:
    outcome = lab.kafkactl("apply", str(lab.inventory))
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    cluster_id = (lab.state_dir / ".kafkactl" / "cluster-id").read_text().strip()
    assert outcome.stdout.count(f"formatted KRaft storage (cluster id {cluster_id})") == 6
    for host, directory in [("controller1", "/var/lib/kafka/metadata"), ("kafka2", "/var/lib/kafka/data")]:
        meta = lab.ssh(host, f"cat {directory}/meta.properties").stdout
        assert f"cluster.id={cluster_id}" in meta
    again = lab.kafkactl("apply", str(lab.inventory))
    assert again.exit_code == 0 and "Nothing to do: all 6 hosts match the inventory." in again.stdout
    assert "formatted" not in again.stdout


def test_rolling_restart_of_controllers_and_brokers_loses_nothing(lab: Lab) -> None:
    with Canary(BOOTSTRAP) as canary:
        time.sleep(5)
        outcome = lab.kafkactl("restart", str(lab.inventory))
        time.sleep(5)
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    assert "leads its kafka controllers: restarted last" in outcome.stdout
    assert outcome.stdout.count("controller_voters_caught_up (ready)") == 3
    report = canary.verify()
    print(report)
    assert report.acknowledged > 500 and report.missing == [] and report.duplicated == []
