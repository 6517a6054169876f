"""Rolling restarts on a ZooKeeper-mode lab cluster with a canary producing and consuming throughout:
a full restart loses nothing; a broker killed mid-roll halts kafkactl and --resume completes; an SSH
connection cut mid-apply gives a clear error, leaves no half-written file and --resume completes."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from canary import LEADERS_MOVED, Canary
from labkit import Lab, bring_up, take_down, wait_until

# Longest gap between canary acknowledgements each test accepts: a roll moves partition leaders one
# broker at a time (seconds); a SIGKILLed broker is noticed only when its ZooKeeper session expires
# (18 s) and its leaders are elected elsewhere.
ROLL_MAX_GAP_S = 30
KILL_MAX_GAP_S = 60
# Why the kill test accepts client-side duplicates: a batch the killed leader had replicated but not
# acknowledged is retried by the producer to the new leader, whose idempotence state may not know it.
KILLED_BROKER = "a broker SIGKILLed while the producer had batches in flight to it"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    made = bring_up(tmp_path_factory, "--layout", "zookeeper")
    outcome = made.kafkactl("apply", str(made.inventory))
    assert outcome.exit_code == 0, outcome.stderr
    yield made
    take_down(made)


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


def _started_at(lab: Lab, host: str, service: str = "kafka-broker") -> str:
    return lab.ssh(host, f"systemctl show -p ActiveEnterTimestampMonotonic --value {service}").stdout.strip()


def test_full_rolling_restart_loses_nothing(lab: Lab) -> None:
    with Canary(lab.bootstrap()) as canary:
        outcome = lab.kafkactl("restart", str(lab.inventory))
        canary.settle()
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    assert "Restart plan: one host at a time" in outcome.stdout
    assert "leads its zookeepers: restarted last" in outcome.stdout
    assert "leads its kafka brokers: restarted last" in outcome.stdout
    assert outcome.stdout.count("restarted kafka-zookeeper") == 6  # the log line and the summary, per host
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)


def test_broker_killed_mid_roll_halts_and_resume_completes(lab: Lab) -> None:
    with Canary(lab.bootstrap()) as canary:
        started = time.time()
        run = _kafkactl("restart", str(lab.inventory), "--component", "broker", "--gate-timeout", "40")
        # The victim is the broker restarted last (the active controller): whenever the kill lands, the
        # run must stop in a gate before the broker between them is touched.
        victim = _active_controller(lab)
        first = _wait_for_entry(lab, started, "a broker restarted",
                                lambda e: e["step"] == "restart kafka_broker" and e["restarted"])
        bystander = next(b for b in lab.hosts("kafka_broker") if b not in (victim, first["host"]))
        before = _started_at(lab, bystander)
        # SIGKILL, then keep it down (a machine that stays dead) until the test brings it back.
        killed = lab.ssh(victim, "systemctl kill -s KILL kafka-broker && systemctl stop kafka-broker")
        assert killed.returncode == 0, killed.stderr
        stdout, stderr = run.communicate(timeout=600)
        assert run.returncode == 1, stdout[-3000:]
        assert "not met after 40 s" in stderr and "under-replicated" in stderr, stderr
        assert _started_at(lab, bystander) == before, "a second broker was stopped"

        assert lab.ssh(victim, "systemctl start kafka-broker").returncode == 0
        resumed = lab.kafkactl("restart", str(lab.inventory), "--component", "broker", "--resume")
        assert resumed.exit_code == 0, resumed.stderr + resumed.stdout[-3000:]
        assert f"{first['host']}: restarted by the run being resumed; re-checking its gates" in resumed.stdout
        assert f"{first['host']}: restarted kafka-broker" not in resumed.stdout
        canary.settle()
    again = lab.kafkactl("restart", str(lab.inventory), "--component", "broker", "--resume")
    assert again.exit_code == 1 and "finished; there is nothing to resume" in again.stderr
    runs = lab.kafkactl("runs", str(lab.inventory))
    assert "restart  failed" in runs.stdout and "restart  done" in runs.stdout
    canary.check(KILL_MAX_GAP_S, duplicates_allowed_because=KILLED_BROKER)


def test_ssh_cut_mid_apply_leaves_no_half_written_file_and_resume_completes(lab: Lab) -> None:
    changed = lab.variant("cut.yml", lambda d: d["all"]["children"]["kafka_broker"]["vars"].update(
        kafka_broker_custom_properties={"log.retention.hours": 48}))
    with Canary(lab.bootstrap()) as canary:
        started = time.time()
        run = _kafkactl("apply", str(changed), "--gate-timeout", "30")
        second = _wait_for_entry(lab, started, "the roll reaching its second broker",
                                 lambda e: e["step"] == "roll kafka_broker" and e["status"] == "running"
                                 and len(_broker_entries(lab)) >= 2)
        cut = ["iptables", "-I", "OUTPUT", "-d", lab.address(second["host"]), "-p", "tcp", "--dport", "22", "-j", "REJECT",
               "--reject-with", "tcp-reset"]
        subprocess.run(cut, check=True)
        try:
            stdout, stderr = run.communicate(timeout=600)
        finally:
            subprocess.run(["iptables", "-D", *cut[2:]], check=True)
        assert run.returncode == 1, stdout[-3000:]
        assert f"host {second['host']}:" in stderr and ("cannot reach" in stderr or "connection lost" in stderr), stderr
        for broker in lab.hosts("kafka_broker"):
            content = lab.ssh(broker, "cat /etc/kafka/server.properties").stdout
            assert content.rstrip().endswith(("transaction.state.log.min.isr=2", "log.retention.hours=48")), content[-300:]
        resumed = lab.kafkactl("apply", str(changed), "--resume")
        assert resumed.exit_code == 0, resumed.stderr + resumed.stdout[-3000:]
        assert lab.kafkactl("plan", str(changed)).exit_code == 0
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)


def _active_controller(lab: Lab) -> str:
    """The broker whose id ZooKeeper's /controller names."""
    brokers = lab.hosts("kafka_broker")
    libs = f"/opt/kafka/kafka_2.13-{lab.inventory_vars()['kafka_version']}/libs/*"
    java = f"java -Dlog4j.configuration=file:/dev/null -cp '{libs}'"
    zookeeper = f"{lab.hosts('zookeeper')[0]}:2181"
    data = lab.ssh(brokers[0], f"{java} org.apache.zookeeper.ZooKeeperMain -server {zookeeper} get /controller").stdout
    controller = json.loads(next(line for line in data.splitlines() if line.startswith("{")))["brokerid"]
    ids = {broker: lab.ssh(broker, "sed -n 's/^broker.id=//p' /etc/kafka/server.properties").stdout.strip() for broker in brokers}
    return next(broker for broker, broker_id in ids.items() if broker_id == str(controller))


def _broker_entries(lab: Lab) -> list[dict]:
    journal = _latest_journal(lab) or {"entries": []}
    return [e for e in journal["entries"] if e["step"] == "roll kafka_broker"]
