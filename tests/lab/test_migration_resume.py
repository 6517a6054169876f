"""A ZooKeeper-mode cluster built on Kafka 3.8.1 rolls onto 3.9.2 with its inter-broker protocol pinned, then
raises the protocol; then the migration starts on it. A migration phase interrupted mid-roll on real hosts: the
cluster is between states, `apply` refuses to touch it (first for the killed run's lock, then for the state), the
ZooKeeper-mode inventory is refused too, and `migrate kraft --phase dual-write --resume` finishes the phase without
taking its backup again. (The full migration, a rollback, data and canary checks are the Molecule scenario
kraft-migration.)"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from canary import LEADERS_MOVED, Canary
from kafkactl.lab import KAFKA_VERSION
from kafkactl.lab.kafka_dist import ensure_kafka_archive
from labkit import Lab, bring_up, take_down, wait_until

pytestmark = pytest.mark.lab


# The release the cluster is first built on, a minor release before the lab's own.
FIRST_RELEASE = "3.8.1"
# Longest gap between canary acknowledgements a roll of the brokers may cause (leaders move one broker at a time).
ROLL_MAX_GAP_S = 30


def _on_first_release(lab: Lab, name: str = "kafka-3.8.yml", **more) -> Path:
    archive, _ = ensure_kafka_archive(FIRST_RELEASE)
    return lab.variant(name, lambda data: data["all"]["vars"].update(
        kafka_version=FIRST_RELEASE, kafka_archive_source=str(archive.path), kafka_archive_sha256=archive.sha256, **more))


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    made = bring_up(tmp_path_factory, "--layout", "zookeeper", "--controllers")
    outcome = made.kafkactl("apply", str(_on_first_release(made)))
    assert outcome.exit_code == 0, outcome.stderr
    yield made
    take_down(made)


def _protocol(lab: Lab) -> set[str]:
    return {lab.ssh(b, "grep ^inter.broker.protocol.version= /etc/kafka/server.properties").stdout.strip() for b in lab.hosts("kafka_broker")}


def test_zookeeper_mode_rolls_onto_3_9_with_the_protocol_pinned_then_raises_it(lab: Lab) -> None:
    """kafka_version 3.8.1 -> 3.9.2 (the lab's inventory): every JVM rolls onto the new binaries with
    inter.broker.protocol.version kept at 3.8, the plan back onto 3.8.1 a roll back; writing 3.9 then rolls the brokers
    onto it, after which the way back is refused; a canary loses nothing."""
    seen = lab.kafkactl("status", str(_on_first_release(lab)), "--json")
    assert seen.exit_code == 0, seen.stderr + seen.stdout
    assert {s["version"] for s in json.loads(seen.stdout)["services"]} == {FIRST_RELEASE}, seen.stdout
    with Canary(lab.bootstrap()) as canary:
        upgraded = lab.kafkactl("apply", str(lab.inventory))
        assert upgraded.exit_code == 0, upgraded.stderr + upgraded.stdout[-3000:]
        assert _protocol(lab) == {"inter.broker.protocol.version=3.8"}
        status = json.loads(lab.kafkactl("status", str(lab.inventory), "--json").stdout)
        assert {s["version"] for s in status["services"]} == {KAFKA_VERSION}, status["services"]
        back = lab.kafkactl("plan", str(_on_first_release(lab, "kafka-3.8-again.yml")))  # still reversible: the protocol stayed
        assert back.exit_code == 2 and back.stdout.count("restart  kafka-broker") == 3, back.stderr + back.stdout[-2000:]
        said = " ".join(back.stdout.split())
        assert f"a roll back onto {FIRST_RELEASE}" in said and "inter.broker.protocol.version 3.8 stays" in said, said[-2000:]
        raised = lab.variant("protocol-3.9.yml", lambda data: data["all"]["vars"].update(kafka_inter_broker_protocol_version="3.9"))
        plan = lab.kafkactl("plan", str(raised))
        assert plan.exit_code == 2 and "~ inter.broker.protocol.version: 3.8 -> 3.9" in plan.stdout, plan.stdout[-3000:]
        moved = lab.kafkactl("apply", str(raised))
        assert moved.exit_code == 0, moved.stderr + moved.stdout[-3000:]
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    assert _protocol(lab) == {"inter.broker.protocol.version=3.9"}
    too_late = lab.kafkactl("plan", str(_on_first_release(lab, "kafka-3.8-again.yml")))  # the protocol moved: no way back
    assert too_late.exit_code == 1 and f"the brokers speak inter.broker.protocol.version 3.9, which Kafka {FIRST_RELEASE} cannot" \
        in too_late.stderr, too_late.stderr
    again = lab.kafkactl("apply", str(lab.inventory))
    assert again.exit_code == 0 and "Nothing to do" in again.stdout, again.stdout[-2000:]


def _journals(lab: Lab) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((lab.state_dir / ".kafkactl" / "runs").glob("*.json"))]


def test_interrupted_phase_blocks_apply_and_resumes(lab: Lab) -> None:
    migration = str(lab.state_dir / "migration.yml")
    process = subprocess.Popen([sys.executable, "-m", "kafkactl", "migrate", "kraft", migration, "--phase", "dual-write", "--yes"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []

    def read_output() -> None:
        for line in process.stdout:
            seen.append(line)

    threading.Thread(target=read_output, daemon=True).start()
    try:  # stop kafkactl right after the first broker restarted with the migration flag
        wait_until("kafkactl migrate kraft --phase dual-write", "its output naming a restarted broker",
                   lambda: "".join(seen)[-2000:], lambda output: "restarted kafka-broker" in output, 600, interval=0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)

    status = lab.kafkactl("migrate", "kraft", migration, "--status")
    assert "between state 1 and state 2a" in status.stdout, status.stdout
    # The killed run left its lock on the hosts: every changing run is refused, naming it ...
    locked = lab.kafkactl("apply", migration)
    assert locked.exit_code == 1 and "a stale lock of `kafkactl migrate kraft --phase dual-write`" in locked.stderr, locked.stderr
    # ... and past the lock, apply still refuses a cluster between states.
    refused = lab.kafkactl("apply", migration, "--break-lock")
    assert refused.exit_code == 1 and "refuses to change a cluster between states" in refused.stderr, refused.stderr
    zookeeper_inventory = lab.kafkactl("plan", str(lab.inventory))
    assert zookeeper_inventory.exit_code == 1 and "take part in a ZooKeeper-to-KRaft migration" in zookeeper_inventory.stderr

    # The killed run's last restart may leave partitions catching up, which the resumed phase's pre-flight refuses
    # ("wait until they are back in sync"): wait as it says, reading the brokers' exporters.
    under_replicated = "kafka_server_replicamanager_underreplicatedpartitions"
    wait_until("the brokers", "every partition in sync",  # an exporter that does not answer yet is an observation too
               lambda: sum(lab.scrape(b, 8080).value(under_replicated) for b in lab.hosts("kafka_broker")), lambda n: n == 0, 300, interval=2)
    resumed = lab.kafkactl("migrate", "kraft", migration, "--phase", "dual-write", "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.stderr + resumed.stdout[-3000:]
    assert "backup all: taken by the run being resumed" in resumed.stdout
    assert "Migration: now state 2a" in resumed.stdout
    first, last = _journals(lab)[-2:]
    assert last["resumes"] == first["run_id"] and last["status"] == "done"
    again = lab.kafkactl("migrate", "kraft", migration, "--phase", "dual-write", "--yes")
    assert again.exit_code == 0 and "Already in state 2a" in again.stdout, again.stdout[-2000:]
    plan = lab.kafkactl("plan", migration)
    assert plan.exit_code == 0 and "Nothing to do" in plan.stdout, plan.stdout[-2000:]


def test_backups_of_the_phase_verify(lab: Lab) -> None:
    migration = str(lab.state_dir / "migration.yml")
    listing = lab.kafkactl("backup", "list", migration)
    assert listing.exit_code == 0 and "migrate-dual-write" in listing.stdout, listing.stdout
    verified = lab.kafkactl("backup", "verify", migration, "--on-hosts")
    assert verified.exit_code == 0, verified.stderr
    assert Path(lab.state_dir / ".kafkactl" / "backups").is_dir()


# As the kraft-migration scenario accepts: its phases move the brokers between ZooKeeper and KRaft.
MIGRATION_MAX_GAP_S = 120


def test_the_cluster_that_began_on_3_8_migrates_on_to_kraft(lab: Lab) -> None:
    """The rest of the migration with the existing phases, on the cluster that began on 3.8.1: the brokers onto KRaft,
    then finalize (the cluster id typed); a canary loses nothing."""
    migration = str(lab.state_dir / "migration.yml")
    meta = lab.ssh(lab.hosts("kafka_broker")[0], "cat /var/lib/kafka/data/meta.properties").stdout
    cluster_id = re.search(r"^cluster\.id=(\S+)$", meta, re.M).group(1)
    with Canary(lab.bootstrap()) as canary:
        brokers = lab.kafkactl("migrate", "kraft", migration, "--phase", "kraft-brokers", "--yes")
        assert brokers.exit_code == 0 and "Migration: now state 2b" in brokers.stdout, brokers.stderr + brokers.stdout[-3000:]
        final = lab.kafkactl("migrate", "kraft", migration, "--phase", "finalize", "--confirm-cluster-id", cluster_id)
        assert final.exit_code == 0 and "Migration: now state 3" in final.stdout, final.stderr + final.stdout[-3000:]
        canary.settle()
    canary.check(MIGRATION_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    status = json.loads(lab.kafkactl("status", migration, "--json").stdout)
    assert {s["version"] for s in status["services"]} == {KAFKA_VERSION}, status["services"]
