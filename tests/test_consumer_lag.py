"""The consumer lag reader (roles/consumer_lag/): on the first three brokers of an inventory with a prometheus group and
node exporter, a timer runs kafkactl's script, which reads every group with Kafka's tool and writes the lag per group
and topic for node exporter's textfile collector. The script is run here by a shell, as the host runs it, with a
stand-in for java that answers what Kafka 4 printed on the lab."""

from __future__ import annotations

import os
import re
from pathlib import Path
import subprocess

import pytest

from kafkactl import kafka_tools
from kafkactl.desired import consumer_lag_reader, desired_state
from kafkactl.inventory import read_inventory
from kafkactl.tool_output import read_consumer_lag
from kafkactl.transport import CommandResult

from test_packaged_services import INVENTORY, _answer, _inventory, _run

CASES = Path(__file__).parent / "cases" / "tool_output"
LAG = "kafkactl-consumer-lag.timer"
SCRIPT = "/usr/local/sbin/kafkactl-consumer-lag"
ESCAPED_GROUP = """
GROUP           TOPIC           PARTITION  CURRENT-OFFSET  LOG-END-OFFSET  LAG             CONSUMER-ID     HOST            CLIENT-ID
say"hi\\there   orders          0          10              20010           20000           -               -               -
say"hi\\there   orders          1          -               300             -               -               -               -

Consumer group 'idle' has no active members.
"""


def test_the_first_three_brokers_read_and_only_beside_node_exporter(tmp_path: Path) -> None:
    text = INVENTORY.replace('  hosts: {kafka1: , kafka2: , "fd00::5": }', '  hosts: {kafka1: , kafka2: , "fd00::5": , kafka4: }')
    readers = {s.host.name: [p.name for p in s.packages] for s in desired_state(_inventory(tmp_path, text)).hosts
               if any(p.name == LAG for p in s.packages)}
    assert readers == {name: ["prometheus-node-exporter", LAG] for name in ("kafka1", "kafka2", "fd00::5")}
    kafka1 = next(s for s in desired_state(_inventory(tmp_path, text)).hosts if s.host.name == "kafka1")
    files = {f.path: f for f in kafka1.files if f.component is None}
    assert {path: (f.owner, f.group, f.mode) for path, f in files.items()} == {
        SCRIPT: ("root", "root", "0700"),
        "/etc/systemd/system/kafkactl-consumer-lag.service": ("root", "root", "0644"),
        "/etc/systemd/system/kafkactl-consumer-lag.timer": ("root", "root", "0644"),
    }
    assert "OnUnitInactiveSec=60\n" in files["/etc/systemd/system/kafkactl-consumer-lag.timer"].content
    # the whole cluster is asked, with kafkactl's client settings: a reader whose own broker is down still reads
    assert "--bootstrap-server '[fd00::5]:9091,kafka1:9091,kafka2:9091,kafka4:9091' --command-config " \
           "/etc/kafka/kafkactl-admin.properties --describe --all-groups" in files[SCRIPT].content
    alone = text.replace("    prometheus_scrape_interval: 5s\n", "    node_exporter_enabled: false\n")
    assert not any(p.name == LAG for s in desired_state(_inventory(tmp_path, alone)).hosts for p in s.packages)


def test_a_first_apply_writes_checks_and_starts_the_timer(tmp_path: Path) -> None:
    transport, _ = _run(_inventory(tmp_path), None, _answer)
    kafka1 = ["apt-get" if "apt-get" in tool else tool for host, tool in transport.sent if host == "kafka1"]
    assert kafka1 == [
        "apt-get",
        "systemctl enable --quiet prometheus-node-exporter && systemctl start prometheus-node-exporter", "http",
        f"put {SCRIPT}", "put /etc/systemd/system/kafkactl-consumer-lag.service", "put /etc/systemd/system/kafkactl-consumer-lag.timer",
        f"sh -n {SCRIPT}", "systemctl daemon-reload",
        f"systemctl enable --quiet {LAG} && systemctl reload-or-restart {LAG}",
    ]


@pytest.fixture
def reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Run the reader's script as the timer does, into a textfile directory under tmp_path; java answers `stdout`."""
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text('#!/bin/sh\ncat "$KAFKA_ANSWER"\nexit "${KAFKA_STATUS:-0}"\n')
    java.chmod(0o755)
    monkeypatch.setattr(kafka_tools, "TOOL_CLASS_DATA", str(tmp_path / "class-data"))
    path = tmp_path / "inventory.yml"
    path.write_text(INVENTORY.replace("all:\n  vars:\n", f"all:\n  vars:\n    java_executable: {java}\n"
                                                         "    consumer_lag_alert_threshold: 5000\n"))
    directory = tmp_path / "node-exporter"
    directory.mkdir(mode=0o755)
    script = tmp_path / "kafkactl-consumer-lag"
    script.write_text(consumer_lag_reader(read_inventory(path).inventory, str(directory))["kafkactl-consumer-lag"])

    def run(stdout: str, status: int = 0) -> tuple[subprocess.CompletedProcess, str | None]:
        answer = tmp_path / "answer"
        answer.write_text(stdout)
        ran = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "KAFKA_ANSWER": str(answer), "KAFKA_STATUS": str(status)})
        written = directory / "kafka_consumer_lag.prom"
        assert sorted(p.name for p in directory.iterdir()) in ([], [written.name])  # nothing else left behind
        return ran, written.read_text() if written.exists() else None

    run.directory = directory  # type: ignore[attr-defined]
    return run


def _samples(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))


def test_the_lag_per_group_and_topic_is_what_kafkactls_own_reader_sums(reader) -> None:
    stdout = (CASES / "consumer-groups-describe-4" / "stdout").read_text()
    ran, written = reader(stdout)
    assert ran.returncode == 0, ran.stderr
    samples = _samples(written)
    lags = {re.search(r'consumergroup="([^"]+)"', name)[1]: int(value) for name, value in samples.items()
            if name.startswith("kafka_consumergroup_lag_sum{")}
    expected = read_consumer_lag(CommandResult(0, stdout, ""))
    assert lags == {group: lag for group, lag in expected.items() if lag is not None} and sum(lags.values()) > 0
    assert samples["kafka_consumergroup_lag_read_ok"] == "1"
    assert samples["kafka_consumergroup_lag_alert_threshold"] == "5000"


def test_label_values_are_escaped_and_partitions_without_an_offset_have_no_lag(reader) -> None:
    ran, written = reader(ESCAPED_GROUP)
    assert ran.returncode == 0, ran.stderr
    assert 'kafka_consumergroup_lag_sum{consumergroup="say\\"hi\\\\there",topic="orders"} 20000\n' in written


def test_a_failed_read_says_so_and_serves_no_old_lag(reader) -> None:
    reader(ESCAPED_GROUP)
    ran, written = reader("Error: Executing consumer group command failed due to Timed out waiting for a node\n", status=1)
    assert ran.returncode == 0  # the timer goes on; the metric and the journal say it failed
    samples = _samples(written)
    assert samples["kafka_consumergroup_lag_read_ok"] == "0"
    assert not any(name.startswith("kafka_consumergroup_lag_sum") for name in samples)


def test_a_directory_someone_else_can_write_or_a_link_in_its_place_is_not_written(reader, tmp_path: Path) -> None:
    directory: Path = reader.directory
    directory.chmod(0o777)
    ran, written = reader(ESCAPED_GROUP)
    assert ran.returncode == 1 and written is None
    assert "is not a directory of root's alone: nothing written" in ran.stderr
    directory.chmod(0o755)
    elsewhere = tmp_path / "elsewhere"
    directory.rename(elsewhere)
    directory.symlink_to(elsewhere)
    ran = subprocess.run(["sh", str(tmp_path / "kafkactl-consumer-lag")], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "KAFKA_ANSWER": os.devnull})
    assert ran.returncode == 1 and not list(elsewhere.iterdir())
