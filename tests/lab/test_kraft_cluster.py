"""A KRaft cluster (3 controllers, 3 brokers) applied from nothing, idempotent, restarted with the
active controller last while a canary produces and consumes, and seen by `kafkactl status`. Its upgrade onto
Kafka 4 is the Molecule scenario `upgrade`'s."""

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
from labkit import BROKER_PORT, Lab, bring_up, take_down, wait_until

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


SECURE_PORT = 9095
SCRAM_USERS = {"admin": {"principal": "admin", "password": "admin-secret"}, "alice": {"principal": "alice", "password": "alice-secret"}}


def test_brokers_onto_sasl_ssl_with_the_authorizer_on_in_phases_with_no_lost_message(lab: Lab) -> None:
    """KRaft mode: `migrate listeners --phase` from the lab's PLAINTEXT brokers (BROKER between them, INTERNAL) to SECURE
    (SASL_SSL, SCRAM-SHA-512) between them with StandardAuthorizer on, BROKER removed; the controller listener stays
    PLAINTEXT, so the brokers stay ANONYMOUS to the controllers and ANONYMOUS stays a super user. The SCRAM users are
    made through a running broker before the roll that needs them. A canary produces and consumes on INTERNAL
    throughout. At the target a phase has nothing left to do; over SECURE the admin user gets in, a wrong password
    does not, and a user without ACLs cannot create a topic."""
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient, NewTopic

    stores = lab.stores_from_kafkactl_ca()
    target = lab.variant("listeners-target.yml", lambda data: data["all"]["vars"].update(
        stores, sasl_scram_users=SCRAM_USERS, kafka_authorizer_enabled=True, kafka_broker_inter_broker_listener_name="secure",
        kafka_broker_listeners={"internal": {"name": "INTERNAL", "port": 9092},
                                "secure": {"name": "SECURE", "port": SECURE_PORT, "ssl_enabled": True, "sasl_protocol": "scram"}}))
    brokers = lab.hosts("kafka_broker")

    def status() -> dict:
        seen = lab.kafkactl("migrate", "listeners", str(target), "--status", "--json")
        assert seen.exit_code == 0, seen.stderr
        return json.loads(seen.stdout)

    def phase(name: str) -> str:
        ran = lab.kafkactl("migrate", "listeners", str(target), "--phase", name, "--yes")
        assert ran.exit_code == 0, ran.stderr + ran.stdout[-3000:]
        return ran.stdout

    assert status()["next_phase"] == "add"
    early = lab.kafkactl("migrate", "listeners", str(target), "--phase", "inter-broker", "--yes")
    assert early.exit_code == 1 and "run --phase add first. No host was changed." in early.stderr, early.stderr
    with Canary(lab.bootstrap().replace(f":{BROKER_PORT}", ":9092")) as canary:
        for name in ("add", "authorizer", "inter-broker", "remove"):
            ran = phase(name)
            if name == "inter-broker":  # the controllers' super.users is the same set: nothing of theirs changes
                for controller in lab.hosts("kafka_controller"):
                    assert re.search(rf"\] {re.escape(controller)} \(.*\): no changes$", ran, re.MULTILINE), ran
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    assert status()["next_step"] == "at the target"
    assert "Nothing to do" in phase("remove") and "Nothing to do" in lab.kafkactl("apply", str(target)).stdout
    for host in brokers:
        props = lab.ssh(host, "grep -E '^(listeners|inter.broker.listener.name|super.users)=' /etc/kafka/server.properties").stdout
        assert f"listeners=INTERNAL://{host}:9092,SECURE://{host}:{SECURE_PORT}" in props, props
        assert "inter.broker.listener.name=SECURE" in props and "super.users=User:ANONYMOUS;User:admin" in props, props

    ca = lab.state_dir / ".kafkactl" / "pki" / "ca.crt"

    def admin(user: str, password: str) -> AdminClient:
        # log_level 0: the refused logins are expected, not worth a line each
        return AdminClient({"bootstrap.servers": ",".join(f"{b}:{SECURE_PORT}" for b in brokers), "security.protocol": "SASL_SSL",
                            "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user, "sasl.password": password,
                            "ssl.ca.location": str(ca), "socket.timeout.ms": 10000, "log_level": 0})

    assert len(admin("admin", SCRAM_USERS["admin"]["password"]).list_topics(timeout=20).brokers) == len(brokers)
    with pytest.raises(KafkaException):
        admin("admin", "wrong-password").list_topics(timeout=10)
    alice = admin("alice", SCRAM_USERS["alice"]["password"])  # kept: a future outlives no client
    created = alice.create_topics([NewTopic("alice-not-granted", 1, 1)])
    with pytest.raises(KafkaException, match="AUTHORIZATION_FAILED"):
        created["alice-not-granted"].result(timeout=20)


CONTROLLER_SSL_PORT = 9096


def test_the_controller_listener_moves_to_sasl_ssl_in_three_rolls_with_no_lost_message(lab: Lab) -> None:
    """KRaft mode, the brokers on SECURE (the test above): the controller listener from CONTROLLER (PLAINTEXT, 9093) to
    CONTROLLER_SSL (SASL_SSL, PLAIN, 9096) in Kafka's three rolls: add serves it beside the old one (only the
    controllers roll), inter-broker moves every node's controller connections and controller.quorum.voters to it,
    logging in as admin, remove closes 9093 and, as no node reaches another as ANONYMOUS any more, takes ANONYMOUS out
    of super.users everywhere. A canary produces and consumes on INTERNAL (PLAINTEXT: ANONYMOUS) throughout, with ACLs
    of its own. At the end nothing listens on 9093, and the quorum is read over TLS, logged in."""
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient, ResourcePatternType,
                                       ResourceType)

    brokers, controllers = lab.hosts("kafka_broker"), lab.hosts("kafka_controller")
    target = lab.variant("controller-listener-target.yml", lambda data: data["all"]["vars"].update(
        lab.stores_from_kafkactl_ca(), sasl_scram_users=SCRAM_USERS, kafka_authorizer_enabled=True,
        kafka_broker_inter_broker_listener_name="secure",
        kafka_broker_listeners={"internal": {"name": "INTERNAL", "port": 9092},
                                "secure": {"name": "SECURE", "port": SECURE_PORT, "ssl_enabled": True, "sasl_protocol": "scram"}},
        kafka_controller_listener_name="CONTROLLER_SSL", kafka_controller_port=CONTROLLER_SSL_PORT,
        kafka_controller_ssl_enabled=True, kafka_controller_sasl_protocol="plain"))

    def phase(name: str) -> str:
        ran = lab.kafkactl("migrate", "listeners", str(target), "--phase", name, "--yes")
        assert ran.exit_code == 0, ran.stderr + ran.stdout[-3000:]
        return ran.stdout

    def unchanged(output: str, hosts: list[str]) -> bool:
        return all(re.search(rf"\] {re.escape(host)} \(.*\): no changes$", output, re.MULTILINE) for host in hosts)

    status = json.loads(lab.kafkactl("migrate", "listeners", str(target), "--status", "--json").stdout)
    assert status["next_step"] == "add controller listener CONTROLLER_SSL beside CONTROLLER on the controllers", status
    # the canary's topics and groups, and its read-back's groups, for ANONYMOUS once it is no super user
    admin = AdminClient({"bootstrap.servers": ",".join(f"{b}:{SECURE_PORT}" for b in brokers), "security.protocol": "SASL_SSL",
                         "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "admin", "sasl.password": SCRAM_USERS["admin"]["password"],
                         "ssl.ca.location": str(lab.state_dir / ".kafkactl" / "pki" / "ca.crt")})
    grants = [AclBinding(kind, prefix, ResourcePatternType.PREFIXED, "User:ANONYMOUS", "*", AclOperation.ALL, AclPermissionType.ALLOW)
              for kind in (ResourceType.TOPIC, ResourceType.GROUP) for prefix in ("kafkactl-canary-", "verify-")]
    for granted in admin.create_acls(grants).values():
        granted.result(timeout=30)
    with Canary(lab.bootstrap().replace(f":{BROKER_PORT}", ":9092")) as canary:
        assert unchanged(phase("add"), brokers)
        phase("inter-broker")
        phase("remove")
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    assert "Nothing to do" in lab.kafkactl("apply", str(target)).stdout
    voters = ",".join(f"{9991 + n}@{host}:{CONTROLLER_SSL_PORT}" for n, host in enumerate(controllers))
    for host in controllers:
        props = lab.ssh(host, "grep -E '^(listeners|controller[.].*|listener[.]security[.]protocol[.]map)=' /etc/kafka/controller.properties").stdout
        assert f"listeners=CONTROLLER_SSL://{host}:{CONTROLLER_SSL_PORT}\n" in props, props
        assert "controller.listener.names=CONTROLLER_SSL\n" in props and f"controller.quorum.voters={voters}\n" in props, props
        assert "listener.security.protocol.map=CONTROLLER_SSL:SASL_SSL\n" in props, props
        assert lab.ssh(host, "grep ^super.users= /etc/kafka/controller.properties").stdout == "super.users=User:admin\n"
        closed = lab.ssh(host, f"bash -c 'exec 3<>/dev/tcp/{host}/9093' && echo open || echo closed").stdout
        assert closed.strip().endswith("closed"), closed
    for host in brokers:
        props = lab.ssh(host, "grep -E '^(controller[.].*|super[.]users)=' /etc/kafka/server.properties").stdout
        assert "controller.listener.names=CONTROLLER_SSL\n" in props and f"controller.quorum.voters={voters}\n" in props, props
        assert "super.users=User:admin\n" in props, props
    seen = json.loads(lab.kafkactl("status", str(target), "--json").stdout)
    assert seen["quorum_leader"] in range(9991, 9994) and max(seen["metadata_lag"].values()) <= 1000, seen
