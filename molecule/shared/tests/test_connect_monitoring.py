"""A monitoring scenario (KAFKACTL_MONITORING): connectors declared in the inventory move data through the
Connect workers, and the prometheus group's Prometheus sees every exporter and alerts on a stopped broker.

- Connectors: a FileStream source reads 10,000 lines into a topic and a sink writes them out again, line for
  line (the connectors' tasks run on either worker: the input is on both, the output is read from both);
  moving the sink to another file is planned as a config diff and applied through the REST API with no worker
  restarted; each apply after a change finds nothing to do.
- Prometheus (Debian's, installed by apply): every target up (each JVM's JMX exporter, node exporter on every
  host), the connectors and tasks running as the workers' exporters report them; with a broker stopped,
  KafkaUnderReplicatedPartitions and KafkaExporterDown fire and `kafkactl status --json` reports the same
  under-replicated partitions and its services running; both clear once the broker is back. A new scrape
  interval is taken with a reload, Prometheus not restarted.
- Consumer lag: each broker's reader (a timer, through node exporter) serves every group's lag; a group reset to
  the start of the connectors' topic lags by all of its lines, past the scenario's threshold, and
  KafkaConsumerGroupLagging is raised for it (pending: it fires after 10 minutes, as tests/cases/prometheus/ shows),
  then dropped once the group is moved to the end.

Scenarios without KAFKACTL_MONITORING skip this module.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from conftest import EPHEMERAL, INVENTORY, kafkactl
from helpers import eventually

pytestmark = pytest.mark.skipif(os.environ.get("KAFKACTL_MONITORING") != "true", reason="not a monitoring scenario")

FOLDER = "/var/lib/kafkactl-test"
LINES = 10_000
ALERTS = {"KafkaUnderReplicatedPartitions", "KafkaExporterDown"}
LAG_READER = "/usr/local/sbin/kafkactl-consumer-lag"


def _group(name: str) -> list[str]:
    return list(yaml.safe_load(INVENTORY.read_text())["all"]["children"][name]["hosts"])


def _variant(name: str, change: Callable[[dict], None]) -> str:
    """A copy of the scenario's inventory with `change(data)` applied."""
    data = yaml.safe_load(INVENTORY.read_text())
    change(data)
    path = EPHEMERAL / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return str(path)


def _started(connect, host: str, service: str) -> str:
    return connect(host).run(f"systemctl show -p ActiveEnterTimestampMonotonic --value {service}").stdout.strip()


def _prometheus(connect, path: str) -> dict:
    """An answer of the Prometheus API, read on the Prometheus host."""
    answered = connect(_group("prometheus")[0]).run(f"curl -fsSg 'http://127.0.0.1:9090/api/v1/{path}'")
    return json.loads(answered.stdout)["data"] if answered.rc == 0 else {}


def _firing(connect) -> set[str]:
    return {a["labels"]["alertname"] for a in _prometheus(connect, "alerts").get("alerts", []) if a["state"] == "firing"}


def test_connectors_move_every_line_and_change_without_restarting_a_worker(connect):
    workers = _group("kafka_connect")
    for worker in workers:
        made = connect(worker).run(f"install -d -o kafka -g kafka {FOLDER} && seq 1 {LINES} > {FOLDER}/in.txt")
        assert made.rc == 0, made.stderr
    source = {"name": "lines-in", "config": {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector", "file": f"{FOLDER}/in.txt",
        "topic": "connect-lines", "topic.creation.default.replication.factor": 3, "topic.creation.default.partitions": 1}}

    def sink(file: str) -> dict:
        return {"name": "lines-out", "config": {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                                                "topics": "connect-lines", "file": f"{FOLDER}/{file}", "tasks.max": 1}}

    def declared(name: str, *connectors: dict) -> str:
        return _variant(name, lambda d: d["all"]["vars"].update(kafka_connect_connectors=list(connectors)))

    def lines(file: str) -> list[str]:
        """What the sink wrote, on whichever worker runs its task."""
        return [line for worker in workers for line in connect(worker).run(f"cat {FOLDER}/{file} 2>/dev/null").stdout.splitlines()]

    started = {worker: _started(connect, worker, "kafka-connect") for worker in workers}
    first = declared("connectors.yml", source, sink("out.txt"))
    planned = kafkactl("plan", first, ok=(2,)).stdout
    for name in ("lines-in", "lines-out"):
        assert f"[cluster] connector {name}: create, through the Connect REST API; no worker restart" in planned
    applied = kafkactl("apply", first).stdout
    assert "connector lines-out created: connector lines-out: RUNNING with 1 task(s)" in applied, applied[-3000:]
    assert eventually(lambda: len(lines("out.txt")) >= LINES, 180, every=2), len(lines("out.txt"))
    assert lines("out.txt") == [str(n) for n in range(1, LINES + 1)]
    assert "Nothing to do" in kafkactl("apply", first).stdout

    def running(name: str) -> bool:
        found = _prometheus(connect, f"query?query=kafka_connect_task_status{{connector=%22{name}%22,status=%22running%22}}")
        return [r["value"][1] for r in found.get("result", [])] == ["1"]

    assert eventually(lambda: running("lines-in") and running("lines-out"), 60, every=2), "the workers' exporters do not report both running"

    moved = declared("connectors-moved.yml", source, sink("out2.txt"))
    planned = kafkactl("plan", moved, ok=(2,)).stdout
    assert f"~ file: {FOLDER}/out.txt -> {FOLDER}/out2.txt" in planned and "connector lines-in" not in planned, planned
    assert "connector lines-out updated" in kafkactl("apply", moved).stdout
    for worker in workers:
        assert connect(worker).run(f"seq {LINES + 1} {LINES + 10} >> {FOLDER}/in.txt").rc == 0
    assert eventually(lambda: lines("out2.txt") == [str(n) for n in range(LINES + 1, LINES + 11)], 120, every=2), lines("out2.txt")
    assert len(lines("out.txt")) == LINES
    assert "Nothing to do" in kafkactl("apply", moved).stdout
    assert {worker: _started(connect, worker, "kafka-connect") for worker in workers} == started, "a worker was restarted"


def test_every_groups_lag_reaches_prometheus_and_a_group_behind_is_alerted_on(cluster, connect):
    readers = _group("kafka_broker")
    group, threshold = "kafkactl-lag-check", yaml.safe_load(INVENTORY.read_text())["all"]["vars"]["consumer_lag_alert_threshold"]
    home = cluster[readers[0]].install
    bootstrap = re.search(r"--bootstrap-server '?([^' ]+)", cluster[readers[0]].files[LAG_READER].content.decode())[1]

    def lags(name: str) -> list[str]:
        """The group's lag as each reader serves it once it has read it again (as its timer does every minute) and
        Prometheus has scraped it (every 5 s here)."""
        with ThreadPoolExecutor(len(readers)) as pool:
            started = list(pool.map(lambda reader: connect(reader).run("systemctl start kafkactl-consumer-lag.service").rc, readers))
        assert started == [0] * len(readers)
        time.sleep(6)
        return sorted(r["value"][1] for r in _prometheus(connect, f"query?query=kafka_consumergroup_lag_sum{{consumergroup=%22{name}%22}}")
                      .get("result", []))

    def reset(to: str) -> None:
        moved = connect(readers[0]).run(
            f"java -Dlog4j.configuration=file:/dev/null -cp '{home}/libs/*' org.apache.kafka.tools.consumer.group.ConsumerGroupCommand "
            f"--bootstrap-server {bootstrap} --command-config /etc/kafka/kafkactl-admin.properties --reset-offsets "
            f"--group {group} --topic connect-lines --{to} --execute")
        assert moved.rc == 0, moved.stderr

    def raised() -> set[str]:
        return {a["state"] for a in _prometheus(connect, "alerts").get("alerts", [])
                if a["labels"]["alertname"] == "KafkaConsumerGroupLagging" and a["labels"].get("consumergroup") == group}

    def read_ok() -> list[str]:
        return sorted(r["value"][1] for r in _prometheus(connect, "query?query=kafka_consumergroup_lag_read_ok").get("result", []))

    assert eventually(lambda: read_ok() == ["1"] * len(readers), 90, every=3), read_ok()  # from the timer's own runs
    # the sink keeps up (its committed offsets move at Connect's offset flush, every minute)
    assert eventually(lambda: lags("connect-lines-out") == ["0"] * len(readers), 120, every=1), lags("connect-lines-out")
    reset("to-earliest")
    behind = str(LINES + 10)
    assert int(behind) > threshold
    assert eventually(lambda: lags(group) == [behind] * len(readers), 60, every=1), lags(group)
    assert eventually(lambda: raised() == {"pending"}, 60, every=3), raised()
    reset("to-latest")
    assert eventually(lambda: lags(group) == ["0"] * len(readers), 60, every=1), lags(group)
    assert eventually(lambda: raised() == set(), 60, every=3), raised()


def test_prometheus_sees_every_exporter_and_alerts_on_a_stopped_broker(connect):
    def targets() -> list[tuple[str, str]]:
        return sorted((t["labels"]["job"], t["health"]) for t in _prometheus(connect, "targets").get("activeTargets", []))

    groups = {group: len(_group(group)) for group in ("zookeeper", "kafka_broker", "kafka_connect", "prometheus")}
    expected = sorted([(group, "up") for group in ("zookeeper", "kafka_broker", "kafka_connect") for _ in range(groups[group])]
                      + [("node", "up")] * sum(groups.values()))
    assert eventually(lambda: targets() == expected, 90, every=2), targets()
    assert _firing(connect) == set()

    stopped = _group("kafka_broker")[-1]
    try:
        assert connect(stopped).run("systemctl stop kafka-broker").rc == 0
        assert eventually(lambda: ALERTS <= _firing(connect), 180, every=3), _firing(connect)
        status = json.loads(kafkactl("status", str(INVENTORY), "--json", ok=(0, 3)).stdout)
        assert status["partitions"]["under_replicated"], status["partitions"]
        down = {(s["host"], s["service"]) for s in status["services"] if not s["running"]}
        assert down == {(stopped, "kafka-broker")}, status["services"]
        assert {s["service"] for s in status["services"] if s["component"] == "monitoring"} == {
            "prometheus", "prometheus-node-exporter", "kafkactl-consumer-lag.timer"}
    finally:
        connect(stopped).run("systemctl start kafka-broker")
    assert eventually(lambda: not _firing(connect) & ALERTS, 240, every=3), _firing(connect)
    assert eventually(lambda: not json.loads(kafkactl("status", str(INVENTORY), "--json", ok=(0, 3)).stdout)
                       ["partitions"]["under_replicated"], 120, every=5)


def test_a_new_scrape_interval_is_taken_with_a_reload(connect):
    monitor = _group("prometheus")[0]
    started = _started(connect, monitor, "prometheus")
    slower = _variant("slower-scrapes.yml", lambda d: d["all"]["vars"].update(prometheus_scrape_interval="10s"))
    applied = kafkactl("apply", slower).stdout
    assert f"{monitor}: reloaded prometheus (GET /-/ready: HTTP/1" in applied and "installed" not in applied, applied[-3000:]
    assert _started(connect, monitor, "prometheus") == started, "Prometheus was restarted, not reloaded"
    assert "scrape_interval: 10s" in _prometheus(connect, "status/config")["yaml"]
    back = kafkactl("apply", str(INVENTORY)).stdout  # the inventory's interval again, for the verifiers after this one
    assert f"{monitor}: reloaded prometheus" in back and _started(connect, monitor, "prometheus") == started, back[-3000:]
