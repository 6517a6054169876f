"""A KRaft cluster (3 controllers, 3 brokers) applied from nothing, idempotent, restarted with the
active controller last while a canary produces and consumes, then upgraded onto Kafka 4: the binaries
rolled with metadata.version kept, then metadata.version raised with no restart."""

from __future__ import annotations

import json
import re

import pytest

from canary import LEADERS_MOVED, Canary
from kafkactl.desired import JmxSecrets
from kafkactl.health import java_tool, tool_with_secret_args
from kafkactl.inventory import read_inventory
from kafkactl.lab.kafka_dist import ensure_kafka_archive
from kafkactl.metadata_version import FEATURE_TOOL
from kafkactl.remote import shell
from labkit import Lab, bring_up, take_down, wait_until

# Longest gap between canary acknowledgements a roll of controllers and brokers may cause: each broker
# hands its partition leaders over before it stops; a controller failover takes the quorum seconds.
ROLL_MAX_GAP_S = 30


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
    for host, directory in [(lab.hosts("kafka_controller")[0], "/var/lib/kafka/metadata"), (lab.hosts("kafka_broker")[1], "/var/lib/kafka/data")]:
        meta = lab.ssh(host, f"cat {directory}/meta.properties").stdout
        assert f"cluster.id={cluster_id}" in meta
    again = lab.kafkactl("apply", str(lab.inventory))
    assert again.exit_code == 0 and "Nothing to do: all 6 hosts match the inventory." in again.stdout
    assert "formatted" not in again.stdout


def test_every_jvm_serves_prometheus_metrics_through_its_exporter(lab: Lab) -> None:
    """The lab's inventory turns on jmxexporter_enabled: the agent jar uploaded from this machine, kafkactl's rules, and
    cp-ansible's ports (controllers 8079, brokers 8080). What they serve is the cluster as it is: one active controller
    and one quorum leader, three brokers registered and none fenced, no partition offline or under-replicated."""
    controllers = {host: lab.scrape(host, 8079) for host in lab.hosts("kafka_controller")}
    brokers = {host: lab.scrape(host, 8080) for host in lab.hosts("kafka_broker")}
    active = [m for m in controllers.values() if m.value("kafka_controller_kafkacontroller_activecontrollercount") == 1]
    assert len(active) == 1 and sum(m.value("kafka_controller_kafkacontroller_activecontrollercount") for m in controllers.values()) == 1
    (leader,) = active
    assert leader.value("kafka_server_raft_current_state", state="leader") == 1
    assert sorted(labels["state"] for m in controllers.values() for labels, _ in m["kafka_server_raft_current_state"]) == \
        ["follower", "follower", "leader"]
    assert (leader.value("kafka_controller_kafkacontroller_activebrokercount"),
            leader.value("kafka_controller_kafkacontroller_fencedbrokercount"),
            leader.value("kafka_controller_kafkacontroller_offlinepartitionscount")) == (3, 0, 0)
    assert all(m.value("kafka_server_raft_high_watermark") > 0 for m in controllers.values())
    for host, metrics in brokers.items():
        assert (metrics.value("kafka_server_replicamanager_underreplicatedpartitions"),
                metrics.value("kafka_server_replicamanager_underminisrpartitioncount")) == (0, 0), host
        for name in ("kafka_server_broker_metadata_last_applied_record_lag_ms", "kafka_network_requestmetrics_requests_total",
                     "kafka_network_requestmetrics_totaltimems", "kafka_network_socketserver_networkprocessoravgidlepercent",
                     "kafka_server_kafkarequesthandlerpool_requesthandleravgidlepercent", "kafka_server_socket_server_connection_count"):
            assert name in metrics, f"{host}: {name} not served"
    again = lab.kafkactl("plan", str(lab.inventory))
    assert again.exit_code == 0 and "Nothing to do" in again.stdout, again.stdout


def test_controller_jmx_answers_kafkactl_and_refuses_other_local_users(lab: Lab) -> None:
    """kafkactl reads a metric with the password made on the host; a local user without it gets nothing, and
    neither the JVM's nor any process's command line holds the password."""
    cluster = read_inventory(lab.inventory).inventory.cluster
    url = f"service:jmx:rmi:///jndi/rmi://127.0.0.1:{cluster.kafka_controller_jmx_port}/jmxrmi"
    read = ["--one-time", "true", "--jmx-url", url, "--object-name", "java.lang:type=Runtime", "--attributes", "Uptime",
            "--report-format", "properties"]
    secrets = JmxSecrets("kafka-controller")
    host = lab.hosts("kafka_controller")[0]
    as_kafkactl = lab.ssh(host, tool_with_secret_args(cluster, "org.apache.kafka.tools.JmxTool", read, secrets.client).text)
    assert re.search(r"^java\.lang:type=Runtime:Uptime=\d+$", as_kafkactl.stdout, re.M), as_kafkactl.stdout + as_kafkactl.stderr
    anonymous = java_tool(cluster, "org.apache.kafka.tools.JmxTool", read, heap="128m")
    as_nobody = lab.ssh(host, shell(anonymous).text.join(("runuser -u nobody -- ", " 2>&1")))
    assert "Uptime=" not in as_nobody.stdout and "Authentication failed" in as_nobody.stdout, as_nobody.stdout[-2000:]
    password = lab.ssh(host, f"sed -n 's/^kafkactl=//p' {secrets.client}").stdout.strip()
    assert len(password) == 48
    # Java replaces the clear password in its copy by a salted hash when it starts
    assert password not in lab.ssh(host, f"cat {secrets.password}").stdout
    in_command_lines = f"sed -n 's/^kafkactl=//p' {secrets.client} | grep -lF -f - /proc/[0-9]*/cmdline; true"
    assert lab.ssh(host, in_command_lines).stdout == ""
    modes = lab.ssh(host, f"stat -c '%U %a %n' {secrets.directory} {secrets.password} {secrets.client}").stdout.split("\n")
    assert modes[:3] == [f"root 711 {secrets.directory}", f"kafka 600 {secrets.password}", f"root 600 {secrets.client}"]


def test_rolling_restart_of_controllers_and_brokers_loses_nothing(lab: Lab) -> None:
    with Canary(lab.bootstrap()) as canary:
        outcome = lab.kafkactl("restart", str(lab.inventory))
        canary.settle()
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    assert "leads its kafka controllers: restarted last" in outcome.stdout
    assert outcome.stdout.count("controller_voters_caught_up (ready)") == 3
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)


def test_restart_check_restarts_nothing_and_lab_status_sees_every_host(lab: Lab) -> None:
    """Two documented examples: `restart --check` only shows the restart plan; `lab status` finds every host up."""
    units = {host: unit for group, unit in (("kafka_controller", "kafka-controller"), ("kafka_broker", "kafka-broker"))
             for host in lab.hosts(group)}

    def started() -> dict[str, str]:
        return {host: lab.ssh(host, f"systemctl show -p ExecMainStartTimestampMonotonic --value {unit}").stdout
                for host, unit in units.items()}

    before = started()
    check = lab.kafkactl("restart", str(lab.inventory), "--check")
    assert check.exit_code == 0, check.stderr
    assert "kafka_controller: " in check.stdout and "(order: followers-then-active)" in check.stdout
    assert "before stop: broker_safe_to_stop" in check.stdout
    assert started() == before, "restart --check restarted a service"
    status = lab.kafkactl("lab", "status", "--state-dir", str(lab.state_dir))
    assert status.exit_code == 0, status.stderr
    for host in units:
        assert re.search(rf"^\s*{host}\s.*container running\s+systemd running\s+sshd up", status.stdout, re.M), status.stdout


def test_upgrade_onto_kafka_4_keeps_metadata_version_until_the_inventory_raises_it(lab: Lab) -> None:
    archive, _ = ensure_kafka_archive("4.1.1")

    def kafka4(metadata_version: str | None = None):
        def change(data: dict) -> None:
            data["all"]["vars"].update(kafka_version="4.1.1", kafka_archive_source=str(archive.path),
                                       kafka_archive_sha256=archive.sha256)
            if metadata_version:
                data["all"]["vars"]["kafka_metadata_version"] = metadata_version
        return lab.variant(f"kafka4-{metadata_version or 'kept'}.yml", change)

    controller = lab.hosts("kafka_controller")[0]
    describe = java_tool(read_inventory(kafka4()).inventory.cluster, FEATURE_TOOL,
                         ["--bootstrap-controller", f"{controller}:9093", "describe"], heap="128m")

    def live_metadata_version() -> str:
        answer = lab.ssh(controller, shell(describe).text).stdout
        return re.search(r"Feature: metadata\.version\s.*FinalizedVersionLevel: (\S+)", answer).group(1)

    both = lab.kafkactl("plan", str(kafka4("4.1")))
    assert both.exit_code == 1 and "still run another Kafka version than 4.1.1: one change at a time" in both.stderr, both.stderr
    plan = lab.kafkactl("plan", str(kafka4()))
    assert plan.exit_code == 2, plan.stderr
    assert plan.stdout.count("install  /opt/kafka/kafka_2.13-4.1.1") == 6
    assert "in this order: controller1 -> controller2 -> controller3 -> kafka1 -> kafka2 -> kafka3" in plan.stdout
    with Canary(lab.bootstrap()) as canary:
        rolled = lab.kafkactl("apply", str(kafka4()))
        canary.settle()
    assert rolled.exit_code == 0, rolled.stderr + rolled.stdout[-3000:]
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    assert live_metadata_version() == "3.9-IV0"
    status = lab.kafkactl("migrate", "kraft", str(kafka4()), "--status")
    assert status.exit_code == 0, status.stderr
    assert f"Kafka versions: 4.1.1 on {', '.join(sorted(lab.hosts('kafka_controller') + lab.hosts('kafka_broker')))}\n" in status.stdout
    for host in lab.hosts("kafka_controller") + lab.hosts("kafka_broker"):
        assert "/opt/kafka/kafka_2.13-4.1.1/libs/" in lab.ssh(host, "tr '\\0' ' ' < /proc/$(pgrep -x java)/cmdline").stdout
        # Kafka 4 logs through log4j2: its rolling file, in the same place as Kafka 3's
        assert lab.ssh(host, "grep -l 'Kafka version: 4.1.1' /var/log/kafka/*.log").stdout.strip(), f"{host}: no log file from 4.1.1"

    lowered = lab.kafkactl("plan", str(kafka4("3.8")))
    assert lowered.exit_code == 1 and "metadata.version is never lowered" in lowered.stderr, lowered.stderr
    raised = lab.kafkactl("apply", str(kafka4("4.1")))
    assert raised.exit_code == 0, raised.stderr + raised.stdout[-3000:]
    assert "metadata.version 3.9-IV0 -> 4.1-IV1 (feature tool; no restart)" in raised.stdout
    assert "restarted" not in raised.stdout
    assert live_metadata_version() == "4.1-IV1"
    again = lab.kafkactl("apply", str(kafka4("4.1")))
    assert again.exit_code == 0 and "Nothing to do: all 6 hosts match the inventory." in again.stdout, again.stdout


def test_status_shows_the_cluster_as_it_runs_and_names_a_stopped_broker(lab: Lab) -> None:
    """After the upgrade: every service running Kafka 4.1.1, one quorum leader, metadata.version raised, partitions in
    sync (exit code 0); a broker stopped is named, with the partitions it leaves under-replicated (exit code 3)."""
    upgraded = lab.state_dir / "kafka4-4.1.yml"  # the inventory the upgrade test left the cluster on
    nodes = lab.hosts("kafka_controller") + lab.hosts("kafka_broker")
    seen = lab.kafkactl("status", str(upgraded), "--json")
    assert seen.exit_code == 0, seen.stderr + seen.stdout
    found = json.loads(seen.stdout)
    assert found["healthy"] and found["mode"] == "KRaft mode" and found["metadata_version"] == "4.1-IV1", found
    assert {(s["host"], s["running"], s["version"]) for s in found["services"]} == {(host, True, "4.1.1") for host in nodes}
    assert [s["role"] for s in found["services"]].count("quorum leader") == 1
    assert found["partitions"]["total"] > 0 and found["partitions"]["under_replicated"] == [], found["partitions"]
    assert {"9991", "9992", "9993"} <= set(found["metadata_lag"]), found["metadata_lag"]
    # the canaries' consumer groups, with the offsets they committed
    canaries = {group: lag for group, lag in found["consumer_lag"].items() if group.startswith("kafkactl-canary-")}
    assert canaries and all(isinstance(lag, int) and lag >= 0 for lag in canaries.values()), found["consumer_lag"]
    assert "Consumer lag: kafkactl-canary-" in lab.kafkactl("status", str(upgraded)).stdout

    stopped = lab.hosts("kafka_broker")[-1]
    lab.ssh(stopped, "systemctl stop kafka-broker")
    try:
        down = lab.kafkactl("status", str(upgraded))
        assert down.exit_code == 3, down.stderr + down.stdout
        assert f"Problem: {stopped}: kafka-broker is not running" in down.stdout
        assert re.search(r"^Problem: \d+ partitions under-replicated: ", down.stdout, re.M), down.stdout
        assert re.search(rf"^{stopped}\s+kafka-broker\s+stopped", down.stdout, re.M), down.stdout
        # the exporters of the brokers left say so too
        assert sum(lab.scrape(host, 8080).value("kafka_server_replicamanager_underreplicatedpartitions")
                   for host in lab.hosts("kafka_broker")[:-1]) > 0
    finally:
        lab.ssh(stopped, "systemctl start kafka-broker")
    wait_until(stopped, "kafkactl status healthy again", lambda: lab.kafkactl("status", str(upgraded)).exit_code, lambda code: code == 0,
               180, interval=5)
    assert all(lab.scrape(host, 8080).value("kafka_server_replicamanager_underreplicatedpartitions") == 0 for host in lab.hosts("kafka_broker"))
