"""A KRaft cluster (3 controllers, 3 brokers) applied from nothing, idempotent, restarted with the
active controller last while a canary produces and consumes, and seen by `kafkactl status`. Its listener migration
and its upgrade onto Kafka 4 are the Molecule scenario `listener-migration-kraft`'s."""

from __future__ import annotations

import json
import re

import pytest

from canary import LEADERS_MOVED, Canary
from kafkactl.desired import JmxSecrets
from kafkactl.kafka_tools import java_tool, tool_with_secret_args
from kafkactl.inventory import read_inventory
from kafkactl.lab.kafka_dist import KAFKA_VERSION
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
    from confluent_kafka.admin import AdminClient, ConfigResource

    # A broker's request metrics exist from its first request of a kind: each answers one first (DescribeConfigs of
    # a broker goes to that broker; one broker per call).
    client = AdminClient({"bootstrap.servers": lab.bootstrap()})
    for position in range(len(lab.hosts("kafka_broker"))):
        for answer in client.describe_configs([ConfigResource("broker", str(position + 1))]).values():
            answer.result(timeout=30)
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


def test_status_shows_the_cluster_as_it_runs_and_names_a_stopped_broker(lab: Lab) -> None:
    """Every service running the lab's Kafka, one quorum leader, metadata.version, partitions in sync (exit code 0); a
    broker stopped is named, with the partitions it leaves under-replicated (exit code 3)."""
    inventory = lab.inventory
    nodes = lab.hosts("kafka_controller") + lab.hosts("kafka_broker")
    seen = lab.kafkactl("status", str(inventory), "--json")
    assert seen.exit_code == 0, seen.stderr + seen.stdout
    found = json.loads(seen.stdout)
    assert found["healthy"] and found["mode"] == "KRaft mode" and found["metadata_version"] == "3.9-IV0", found
    assert {(s["host"], s["running"], s["version"]) for s in found["services"]} == {(host, True, KAFKA_VERSION) for host in nodes}
    assert [s["role"] for s in found["services"]].count("quorum leader") == 1
    assert found["partitions"]["total"] > 0 and found["partitions"]["under_replicated"] == [], found["partitions"]
    assert {"9991", "9992", "9993"} <= set(found["metadata_lag"]), found["metadata_lag"]
    # the canaries' consumer groups, with the offsets they committed
    canaries = {group: lag for group, lag in found["consumer_lag"].items() if group.startswith("kafkactl-canary-")}
    assert canaries and all(isinstance(lag, int) and lag >= 0 for lag in canaries.values()), found["consumer_lag"]
    assert "Consumer lag: kafkactl-canary-" in lab.kafkactl("status", str(inventory)).stdout

    stopped = lab.hosts("kafka_broker")[-1]
    lab.ssh(stopped, "systemctl stop kafka-broker")
    try:
        down = lab.kafkactl("status", str(inventory))
        assert down.exit_code == 3, down.stderr + down.stdout
        assert f"Problem: {stopped}: kafka-broker is not running" in down.stdout
        assert re.search(r"^Problem: \d+ partitions under-replicated: ", down.stdout, re.M), down.stdout
        assert re.search(rf"^{stopped}\s+kafka-broker\s+stopped", down.stdout, re.M), down.stdout
        # the exporters of the brokers left say so too
        assert sum(lab.scrape(host, 8080).value("kafka_server_replicamanager_underreplicatedpartitions")
                   for host in lab.hosts("kafka_broker")[:-1]) > 0
    finally:
        lab.ssh(stopped, "systemctl start kafka-broker")
    wait_until(stopped, "kafkactl status healthy again", lambda: lab.kafkactl("status", str(inventory)).exit_code, lambda code: code == 0,
               180, interval=5)
    assert all(lab.scrape(host, 8080).value("kafka_server_replicamanager_underreplicatedpartitions") == 0 for host in lab.hosts("kafka_broker"))
