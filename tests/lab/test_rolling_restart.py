"""A ZooKeeper-mode cluster built without kafkactl (tests/lab/handbuilt_cluster.sh: its own paths, unit
names and ids) is adopted, then rolled, with a canary producing and consuming throughout: adoption keeps
every id and loses nothing; a full restart loses nothing; a broker killed mid-roll halts kafkactl and
--resume completes; an SSH connection cut mid-apply gives a clear error, leaves no half-written file and
--resume completes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from canary import LEADERS_MOVED, Canary
from labkit import Lab, bring_up, ssh_cut, take_down, wait_until

# Longest gap between canary acknowledgements each test accepts: a roll moves partition leaders one
# broker at a time (seconds); a SIGKILLed broker is noticed only when its ZooKeeper session expires
# (18 s) and its leaders are elected elsewhere.
ROLL_MAX_GAP_S = 30
KILL_MAX_GAP_S = 60
# Why the kill test accepts client-side duplicates: a batch the killed leader had replicated but not
# acknowledged is retried by the producer to the new leader, whose idempotence state may not know it.
KILLED_BROKER = "a broker SIGKILLed while the producer had batches in flight to it"

HANDBUILT = Path(__file__).with_name("handbuilt_cluster.sh")
# The hand-built cluster's layout, as an operator writes it into the inventory to adopt the cluster.
LAYOUT = {
    "archive_destination_path": "/opt",
    "kafka_config_dir": "/etc/streaming",
    "zookeeper_config_file": "/etc/streaming/zk.properties",
    "kafka_broker_config_file": "/etc/streaming/broker.properties",
    "zookeeper_service_name": "zookeeper",
    "kafka_broker_service_name": "kafka",
    "zookeeper_data_dir": "/data/zookeeper",
    "kafka_broker_log_dirs": ["/data/kafka"],
    "kafka_log_dir": "/var/log/streaming",
    "kafka_broker_listeners": {"broker": {"name": "PLAINTEXT", "port": 9091}},
}
BROKER_CONFIG = LAYOUT["kafka_broker_config_file"]
# The property the script adds that kafkactl does not write: kept by the adopting inventory.
KEPT = {"kafka_broker_custom_properties": {"log.cleaner.threads": 2}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    made = bring_up(tmp_path_factory, "--layout", "zookeeper")
    built = subprocess.run(["bash", str(HANDBUILT), str(made.state_dir), " ".join(made.hosts("zookeeper")),
                            " ".join(made.hosts("kafka_broker"))], capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout + built.stderr
    yield made
    take_down(made)


def _adopting(lab: Lab, name: str, *changes) -> Path:
    """The lab inventory with the hand-built layout, and `changes(data)` applied."""
    def change(data: dict) -> None:
        data["all"]["vars"].update(LAYOUT)
        for each in changes:
            each(data)
    return lab.variant(name, change)


def _adopted(lab: Lab) -> Path:
    return _adopting(lab, "adopted.yml", lambda d: d["all"]["vars"].update(KEPT))


def _broker_ids(lab: Lab) -> dict[str, str]:
    return {broker: lab.ssh(broker, f"sed -n 's/^broker.id=//p' {BROKER_CONFIG}").stdout.strip() for broker in lab.hosts("kafka_broker")}


def test_a_cluster_kafkactl_did_not_build_is_refused_until_the_inventory_names_its_layout(lab: Lab) -> None:
    refused = lab.kafkactl("apply", str(lab.inventory))
    assert refused.exit_code == 1, refused.stdout[-3000:]
    for broker in lab.hosts("kafka_broker"):
        assert (f"error: host {broker}: kafka.Kafka runs as kafka.service, a unit the inventory does not name; "
                "to adopt it write kafka_broker_service_name: kafka") in refused.stderr, refused.stderr
    for zookeeper in lab.hosts("zookeeper"):
        assert f"error: host {zookeeper}: org.apache.zookeeper.server.quorum.QuorumPeerMain runs as zookeeper.service" in refused.stderr
    assert "error: No host was changed." in refused.stderr
    untouched = lab.ssh(lab.hosts("kafka_broker")[0], "ls /etc/kafka /etc/systemd/system/kafka-broker.service /opt/kafka")
    assert untouched.returncode != 0 and untouched.stdout == "", untouched.stdout


def test_an_id_the_inventory_would_change_is_refused_before_any_change(lab: Lab) -> None:
    first = lab.hosts("kafka_broker")[0]
    live = _broker_ids(lab)[first]
    assert live != "1", "the hand-built cluster's first broker must not have cp-ansible's default id"

    def renumber(data: dict) -> None:
        hosts = data["all"]["children"]["kafka_broker"]["hosts"]
        hosts[first] = {**(hosts[first] or {}), "broker_id": 1}

    refused = lab.kafkactl("apply", str(_adopting(lab, "renumbered.yml", renumber)))
    assert refused.exit_code == 1, refused.stdout[-3000:]
    assert f"error: host {first}: broker_id is 1 in the inventory: " in refused.stderr, refused.stderr
    assert f"but the host has {live} ({first}:/data/kafka/meta.properties)" in refused.stderr
    assert "error: No host was changed." in refused.stderr
    assert lab.ssh(first, f"grep -c . {BROKER_CONFIG}").stdout.strip() == "11"  # the script's file, as it wrote it


def test_the_first_plan_shows_every_difference_and_keeps_every_id(lab: Lab) -> None:
    plan = lab.kafkactl("plan", str(_adopting(lab, "layout-only.yml")))
    assert plan.exit_code == 2, plan.stderr + plan.stdout[-3000:]  # 2: changes to make
    for broker, broker_id in _broker_ids(lab).items():
        assert f"id       broker_id {broker_id} (live: {broker}:/data/kafka/meta.properties)" in plan.stdout
    for zookeeper in lab.hosts("zookeeper"):
        myid = lab.ssh(zookeeper, "cat /data/zookeeper/myid").stdout.strip()
        assert f"id       zookeeper_id {myid} (live: {zookeeper}:/data/zookeeper/myid)" in plan.stdout
    assert plan.stdout.count("      - log.cleaner.threads=2  (to keep it: kafka_broker_custom_properties: "
                             '{"log.cleaner.threads": "2"})') == 3
    assert plan.stdout.count(f"  update   {BROKER_CONFIG} ") == 3
    assert "restart  kafka (ready when:" in plan.stdout and "restart  zookeeper (ready when:" in plan.stdout
    assert "install" not in plan.stdout  # the cluster's own Kafka, /opt/kafka_2.13-<version>, is kept


def test_apply_adopts_it_losing_nothing_and_a_second_apply_changes_nothing(lab: Lab) -> None:
    ids = _broker_ids(lab)
    adopted = _adopted(lab)
    with Canary(lab.bootstrap()) as canary:
        outcome = lab.kafkactl("apply", str(adopted))
        canary.settle()
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    assert "Applied: 6 hosts changed." in outcome.stdout
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    assert _broker_ids(lab) == ids
    for broker in lab.hosts("kafka_broker"):
        assert lab.ssh(broker, f"systemctl is-active kafka && grep -x log.cleaner.threads=2 {BROKER_CONFIG}").returncode == 0

    again = lab.kafkactl("apply", str(adopted))
    assert again.exit_code == 0 and "Nothing to do: all 6 hosts match the inventory." in again.stdout, again.stdout[-3000:]
    status = lab.kafkactl("migrate", "kraft", str(adopted), "--status")
    assert status.exit_code == 0, status.stderr
    assert "Migration: state 1: ZooKeeper mode" in status.stdout
    assert f"ZooKeeper /brokers/ids: {', '.join(sorted(ids.values()))}" in status.stdout
    for broker, broker_id in ids.items():
        assert f"{broker}: broker {broker_id}: zookeeper, Kafka " in status.stdout


def _kafkactl(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "kafkactl", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _latest_journal(lab: Lab) -> dict | None:
    runs = sorted((lab.state_dir / ".kafkactl" / "runs").glob("*.json"))
    return json.loads(runs[-1].read_text()) if runs else None


def _wait_for_entry(lab: Lab, started_after: float, awaited: str, matches, timeout: float = 600) -> dict:
    def entries() -> list[dict]:
        journal = _latest_journal(lab)
        return journal["entries"] if journal and journal["started"] >= started_after else []

    found = wait_until("the run's journal", awaited, entries, lambda seen: any(matches(e) for e in seen), timeout, interval=0.5)
    return next(e for e in found if matches(e))


def _started_at(lab: Lab, host: str, service: str = "kafka") -> str:
    return lab.ssh(host, f"systemctl show -p ActiveEnterTimestampMonotonic --value {service}").stdout.strip()


def test_full_rolling_restart_loses_nothing(lab: Lab) -> None:
    with Canary(lab.bootstrap()) as canary:
        outcome = lab.kafkactl("restart", str(_adopted(lab)))
        canary.settle()
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    assert "Restart plan: one host at a time" in outcome.stdout
    assert "leads its zookeepers: restarted last" in outcome.stdout
    assert "leads its kafka brokers: restarted last" in outcome.stdout
    assert outcome.stdout.count("restarted zookeeper") == 6  # the log line and the summary, per host
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)


def test_broker_killed_mid_roll_halts_and_resume_completes(lab: Lab) -> None:
    with Canary(lab.bootstrap()) as canary:
        started = time.time()
        run = _kafkactl("restart", str(_adopted(lab)), "--component", "broker", "--gate-timeout", "40")
        # The victim is the broker restarted last (the active controller): whenever the kill lands, the
        # run must stop in a gate before the broker between them is touched.
        victim = _active_controller(lab)
        first = _wait_for_entry(lab, started, "a broker restarted",
                                lambda e: e["step"] == "restart kafka_broker" and e["restarted"])
        bystander = next(b for b in lab.hosts("kafka_broker") if b not in (victim, first["host"]))
        before = _started_at(lab, bystander)
        # SIGKILL, then keep it down (a machine that stays dead) until the test brings it back.
        killed = lab.ssh(victim, "systemctl kill -s KILL kafka && systemctl stop kafka")
        assert killed.returncode == 0, killed.stderr
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 1, stdout[-3000:]
        # A gate meets the dead broker: its partitions stay under-replicated (the first broker's ready gate, or the
        # next one's before-stop gate), or, when the kill lands just after that, their preferred leader cannot be
        # elected (the first broker's last ready gate).
        assert "not met after 40 s" in stderr, stderr
        assert "under-replicated" in stderr or "preferred leaders not elected" in stderr, stderr
        assert _started_at(lab, bystander) == before, "a second broker was stopped"

        assert lab.ssh(victim, "systemctl start kafka").returncode == 0
        resumed = lab.kafkactl("restart", str(_adopted(lab)), "--component", "broker", "--resume")
        assert resumed.exit_code == 0, resumed.stderr + resumed.stdout[-3000:]
        assert f"{first['host']}: restarted by the run being resumed; re-checking its gates" in resumed.stdout
        assert f"{first['host']}: restarted kafka" not in resumed.stdout
        canary.settle()
    again = lab.kafkactl("restart", str(_adopted(lab)), "--component", "broker", "--resume")
    assert again.exit_code == 1 and "finished; there is nothing to resume" in again.stderr
    runs = lab.kafkactl("runs", str(_adopted(lab)))
    assert "restart  failed" in runs.stdout and "restart  done" in runs.stdout
    canary.check(KILL_MAX_GAP_S, duplicates_allowed_because=KILLED_BROKER)


def test_ssh_cut_mid_apply_leaves_no_half_written_file_and_resume_completes(lab: Lab) -> None:
    changed = _adopting(lab, "cut.yml", lambda d: d["all"]["children"]["kafka_broker"]["vars"].update(
        kafka_broker_custom_properties={**KEPT["kafka_broker_custom_properties"], "log.retention.hours": 48}))
    with Canary(lab.bootstrap()) as canary:
        started = time.time()
        run = _kafkactl("apply", str(changed), "--gate-timeout", "30")
        second = _wait_for_entry(lab, started, "the roll reaching its second broker",
                                 lambda e: e["step"] == "roll kafka_broker" and e["status"] == "running"
                                 and len(_broker_entries(lab)) >= 2)
        with ssh_cut(lab.address(second["host"])):
            stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 1, stdout[-3000:]
        assert f"host {second['host']}:" in stderr and ("cannot reach" in stderr or "connection lost" in stderr), stderr
        for broker in lab.hosts("kafka_broker"):
            content = lab.ssh(broker, f"cat {BROKER_CONFIG}").stdout
            assert content.rstrip().endswith(("log.cleaner.threads=2", "log.retention.hours=48")), content[-300:]
        resumed = lab.kafkactl("apply", str(changed), "--resume")
        assert resumed.exit_code == 0, resumed.stderr + resumed.stdout[-3000:]
        assert lab.kafkactl("plan", str(changed)).exit_code == 0
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)


def _active_controller(lab: Lab) -> str:
    """The broker whose id ZooKeeper's /controller names."""
    brokers = lab.hosts("kafka_broker")
    libs = f"{LAYOUT['archive_destination_path']}/kafka_2.13-{lab.inventory_vars()['kafka_version']}/libs/*"
    java = f"java -Dlog4j.configuration=file:/dev/null -cp '{libs}'"
    zookeeper = f"{lab.hosts('zookeeper')[0]}:2181"
    data = lab.ssh(brokers[0], f"{java} org.apache.zookeeper.ZooKeeperMain -server {zookeeper} get /controller").stdout
    controller = json.loads(next(line for line in data.splitlines() if line.startswith("{")))["brokerid"]
    return next(broker for broker, broker_id in _broker_ids(lab).items() if broker_id == str(controller))


def _broker_entries(lab: Lab) -> list[dict]:
    journal = _latest_journal(lab) or {"entries": []}
    return [e for e in journal["entries"] if e["step"] == "roll kafka_broker"]
