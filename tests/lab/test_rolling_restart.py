"""Rolling restarts on a ZooKeeper-mode lab cluster with a canary producing and consuming throughout:
a full restart loses nothing; a broker killed mid-roll halts kafkactl and --resume completes; an SSH
connection cut mid-apply gives a clear error, leaves no half-written file and --resume completes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from canary import Canary
from labkit import Lab, bring_up, take_down

BOOTSTRAP = "kafka1:9091,kafka2:9091,kafka3:9091"


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


def _wait_for_entry(lab: Lab, started_after: float, matches, timeout: float = 600) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        journal = _latest_journal(lab)
        if journal and journal["started"] >= started_after:
            for entry in journal["entries"]:
                if matches(entry):
                    return entry
        time.sleep(0.5)
    raise AssertionError("the run never reached the awaited step")


def _started_at(lab: Lab, host: str, service: str = "kafka-broker") -> str:
    return lab.ssh(host, f"systemctl show -p ActiveEnterTimestampMonotonic --value {service}").stdout.strip()


def test_full_rolling_restart_loses_nothing(lab: Lab) -> None:
    with Canary(BOOTSTRAP) as canary:
        time.sleep(5)
        outcome = lab.kafkactl("restart", str(lab.inventory))
        time.sleep(5)
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    assert "Restart plan: one host at a time" in outcome.stdout
    assert "leads its zookeepers: restarted last" in outcome.stdout
    assert "leads its kafka brokers: restarted last" in outcome.stdout
    assert outcome.stdout.count("restarted kafka-zookeeper") == 6  # the log line and the summary, per host
    report = canary.verify()
    print(report)
    assert report.acknowledged > 500 and report.missing == [] and report.duplicated == []


def test_broker_killed_mid_roll_halts_and_resume_completes(lab: Lab) -> None:
    with Canary(BOOTSTRAP) as canary:
        started = time.time()
        run = _kafkactl("restart", str(lab.inventory), "--component", "broker", "--gate-timeout", "40")
        # The victim is the broker restarted last (the active controller): whenever the kill lands, the
        # run must stop in a gate before the broker between them is touched.
        victim = _active_controller(lab)
        first = _wait_for_entry(lab, started, lambda e: e["step"] == "restart kafka_broker" and e["restarted"])
        bystander = next(b for b in ("kafka1", "kafka2", "kafka3") if b not in (victim, first["host"]))
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
        time.sleep(5)
    again = lab.kafkactl("restart", str(lab.inventory), "--component", "broker", "--resume")
    assert again.exit_code == 1 and "finished; there is nothing to resume" in again.stderr
    runs = lab.kafkactl("runs", str(lab.inventory))
    assert "restart  failed" in runs.stdout and "restart  done" in runs.stdout
    report = canary.verify()
    print(report)
    assert report.acknowledged > 500 and report.missing == [] and report.duplicated == []


def test_ssh_cut_mid_apply_leaves_no_half_written_file_and_resume_completes(lab: Lab) -> None:
    changed = lab.variant("cut.yml", lambda d: d["all"]["children"]["kafka_broker"]["vars"].update(
        kafka_broker_custom_properties={"log.retention.hours": 48}))
    address = {h: a for h, a in _addresses(lab).items()}
    with Canary(BOOTSTRAP) as canary:
        started = time.time()
        run = _kafkactl("apply", str(changed), "--gate-timeout", "30")
        second = _wait_for_entry(lab, started, lambda e: e["step"] == "roll kafka_broker" and e["status"] == "running"
                                 and len(_broker_entries(lab)) >= 2)
        cut = ["iptables", "-I", "OUTPUT", "-d", address[second["host"]], "-p", "tcp", "--dport", "22", "-j", "REJECT",
               "--reject-with", "tcp-reset"]
        subprocess.run(cut, check=True)
        try:
            stdout, stderr = run.communicate(timeout=600)
        finally:
            subprocess.run(["iptables", "-D", *cut[2:]], check=True)
        assert run.returncode == 1, stdout[-3000:]
        assert f"host {second['host']}:" in stderr and ("cannot reach" in stderr or "connection lost" in stderr), stderr
        for broker in ("kafka1", "kafka2", "kafka3"):
            content = lab.ssh(broker, "cat /etc/kafka/server.properties").stdout
            assert content.rstrip().endswith(("transaction.state.log.min.isr=2", "log.retention.hours=48")), content[-300:]
        resumed = lab.kafkactl("apply", str(changed), "--resume")
        assert resumed.exit_code == 0, resumed.stderr + resumed.stdout[-3000:]
        assert lab.kafkactl("plan", str(changed)).exit_code == 0
        time.sleep(5)
    report = canary.verify()
    print(report)
    assert report.acknowledged > 300 and report.missing == [] and report.duplicated == []


def _active_controller(lab: Lab) -> str:
    java = "java -Dlog4j.configuration=file:/dev/null -cp '/opt/kafka/kafka_2.13-3.9.2/libs/*'"
    data = lab.ssh("kafka1", f"{java} org.apache.zookeeper.ZooKeeperMain -server zk1:2181 get /controller").stdout
    return f"kafka{json.loads(next(l for l in data.splitlines() if l.startswith('{')))['brokerid']}"


def _broker_entries(lab: Lab) -> list[dict]:
    journal = _latest_journal(lab) or {"entries": []}
    return [e for e in journal["entries"] if e["step"] == "roll kafka_broker"]


def _addresses(lab: Lab) -> dict[str, str]:
    import yaml
    data = yaml.safe_load(Path(lab.inventory).read_text())
    return {name: host["ansible_host"] for group in data["all"]["children"].values() for name, host in group["hosts"].items()}
