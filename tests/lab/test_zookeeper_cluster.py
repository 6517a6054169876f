"""A ZooKeeper-mode cluster (3 ZooKeeper, 3 brokers, a Connect worker reached through a jump host)
applied over SSH: convergence, idempotence, rolling changes, failures, host keys, sudo."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from canary import LEADERS_MOVED, Canary
from kafkactl.lab import KAFKA_VERSION

from labkit import BROKER_PORT, Lab, bring_up, ssh_cut, take_down

# A Kafka tool run on a lab host, from the host's Kafka jars.
JAVA = f"java -Xmx128m -Dlog4j.configuration=file:/dev/null -cp '/opt/kafka/kafka_2.13-{KAFKA_VERSION}/libs/*'"
# Longest gap between canary acknowledgements a roll of the brokers may cause (leaders move one broker at a time).
ROLL_MAX_GAP_S = 30
# The SASL_SSL listener the last test adds to the lab's brokers.
EXTERNAL_PORT = 9094
# The mTLS listener it adds beside it.
REPL_PORT = 9095


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    made = bring_up(tmp_path_factory, "--layout", "zookeeper", "--connect", "--jump-only", "connect1")
    yield made
    take_down(made)


def _broker_props(change):
    def apply_change(data: dict) -> None:
        change(data["all"]["children"]["kafka_broker"]["vars"])
    return apply_change


def test_connect_host_is_reachable_only_through_its_jump_host(lab: Lab) -> None:
    (connect,) = lab.hosts("kafka_connect")
    connect_vars = yaml.safe_load(lab.inventory.read_text())["all"]["children"]["kafka_connect"]["hosts"][connect]
    assert f"-o ProxyJump={lab.recorded['hosts'][connect]['jump_via']}" in connect_vars["ansible_ssh_common_args"]
    through_jump = lab.ssh(connect, "true")  # the lab's ssh_config holds the same ProxyJump
    address = lab.address(connect)
    refused = subprocess.run(
        ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", "-o", f"UserKnownHostsFile={lab.state_dir}/known_hosts",
         "-i", str(lab.state_dir / "id_ed25519"), f"root@{address}", "true"],
        capture_output=True, text=True, timeout=60,
    )
    assert through_jump.returncode == 0 and refused.returncode != 0


def test_first_apply_converges_every_host(lab: Lab) -> None:
    outcome = lab.kafkactl("apply", str(lab.inventory))
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    assert "Applied: 7 hosts changed." in outcome.stdout
    for broker in lab.hosts("kafka_broker"):
        assert f"{broker}: broker_registered (ready)" in outcome.stdout
    (connect,) = lab.hosts("kafka_connect")
    assert f"{connect}: connect_rest_answers (ready): GET /health: HTTP/1.1 200 OK" in outcome.stdout
    for host in (lab.hosts("zookeeper")[0], lab.hosts("kafka_broker")[0], connect):
        state = lab.ssh(host, "systemctl is-active kafka-zookeeper kafka-broker kafka-connect; systemctl is-system-running")
        assert "active" in state.stdout.split()


def test_second_apply_changes_nothing(lab: Lab) -> None:
    outcome = lab.kafkactl("apply", str(lab.inventory))
    assert outcome.exit_code == 0
    assert "Nothing to do: all 7 hosts match the inventory." in outcome.stdout
    assert "wrote" not in outcome.stdout and "restarted" not in outcome.stdout
    plan = lab.kafkactl("plan", str(lab.inventory), "--json")
    assert plan.exit_code == 0 and '"changed_hosts": []' in plan.stdout


def test_status_names_the_zookeeper_leader_and_the_brokers_controller(lab: Lab) -> None:
    outcome = lab.kafkactl("status", str(lab.inventory))
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout
    assert outcome.stdout.startswith("Cluster: ZooKeeper mode; cluster id ")
    assert "Healthy: every service runs, every partition in sync." in outcome.stdout
    rows = re.findall(r"^(\S+) +(kafka-zookeeper|kafka-broker|kafka-connect) +running +\S+ *(.*)$", outcome.stdout, re.M)
    assert len(rows) == 7, outcome.stdout
    assert sorted(role for _, service, role in rows if service == "kafka-zookeeper") == ["follower", "follower", "leader"]
    assert [role for _, service, role in rows if service == "kafka-broker"].count("controller (ZooKeeper mode)") == 1
    # The JMX exporters (the lab's inventory turns them on, at cp-ansible's ports) say the same.
    (zookeeper_leader,) = [host for host, service, role in rows if service == "kafka-zookeeper" and role == "leader"]
    (controller,) = [host for host, service, role in rows if service == "kafka-broker" and role.startswith("controller")]
    for host in lab.hosts("zookeeper"):
        metrics = lab.scrape(host, 8079)
        assert metrics.value("zookeeper_quorum_member", state="leading" if host == zookeeper_leader else "following") == 1, host
        assert metrics.value("zookeeper_quorum_size") == 3
    for host in lab.hosts("kafka_broker"):
        metrics = lab.scrape(host, 8080)
        assert metrics.value("kafka_controller_kafkacontroller_activecontrollercount") == (host == controller), host
        assert metrics.value("kafka_server_replicamanager_underreplicatedpartitions") == 0


def _reversed_hosts(data: dict) -> None:
    for group in ("zookeeper", "kafka_broker"):
        hosts = data["all"]["children"][group]["hosts"]
        data["all"]["children"][group]["hosts"] = dict(reversed(list(hosts.items())))


def test_live_ids_win_and_an_id_change_is_refused(lab: Lab) -> None:
    """Hosts listed in the other order would get other default ids (cp-ansible's: index + 1): the ids the
    hosts have win, so nothing changes. An inventory id that is not the host's own stops the run untouched."""
    first_zk, first = lab.hosts("zookeeper")[0], lab.hosts("kafka_broker")[0]
    reordered = lab.kafkactl("plan", str(lab.variant("reordered.yml", _reversed_hosts)))
    assert reordered.exit_code == 0 and "Nothing to do:" in reordered.stdout, reordered.stderr + reordered.stdout[-3000:]
    assert f"id       broker_id 1 (live: {first}:/var/lib/kafka/data/meta.properties)" in reordered.stdout
    assert f"id       zookeeper_id 1 (live: {first_zk}:/var/lib/zookeeper/myid)" in reordered.stdout

    def renumber(data: dict) -> None:
        hosts = data["all"]["children"]["kafka_broker"]["hosts"]
        hosts[first] = {**(hosts[first] or {}), "broker_id": 5}

    refused = lab.kafkactl("apply", str(lab.variant("renumbered.yml", renumber)))
    assert refused.exit_code == 1, refused.stdout[-3000:]
    assert f"error: host {first}: broker_id is 5 in the inventory: " in refused.stderr, refused.stderr
    assert f"but the host has 1 ({first}:/var/lib/kafka/data/meta.properties)" in refused.stderr
    assert "error: No host was changed." in refused.stderr
    assert lab.ssh(first, "grep -x broker.id=1 /etc/kafka/server.properties").returncode == 0


def test_changed_property_rolls_brokers_one_at_a_time(lab: Lab) -> None:
    changed = lab.variant("retention.yml", _broker_props(lambda v: v.update(kafka_broker_custom_properties={"log.retention.hours": 72})))
    brokers = lab.hosts("kafka_broker")
    plan = lab.kafkactl("plan", str(changed), "--diff")
    assert plan.exit_code == 2
    assert "+log.retention.hours=72" in plan.stdout
    assert f"3 of 7 hosts to change, in this order: {' -> '.join(brokers)}" in plan.stdout

    with Canary(lab.bootstrap()) as canary:
        outcome = lab.kafkactl("apply", str(changed))
        canary.settle()
    assert outcome.exit_code == 0, outcome.stderr
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    # One broker at a time: its before-stop gate, its restart, its ready gate, then the next broker;
    # the active controller (named in the output) last.
    events = re.findall(r"^\s+(kafka\d): (broker_safe_to_stop \(before stop\)|restarted kafka-broker|no_under_replicated_partitions \(ready\))",
                        outcome.stdout.split("\nSummary")[0], re.M)
    order = [host for host, event in events[::3]]
    assert sorted(order) == sorted(brokers)
    assert events == [(host, event) for host in order for event in (
        "broker_safe_to_stop (before stop)", "restarted kafka-broker", "no_under_replicated_partitions (ready)")]
    assert f"{order[-1]} leads its kafka brokers: restarted last" in outcome.stdout
    previous = "/var/lib/kafkactl/previous/etc/kafka/server.properties"  # kept where only root can write
    kept = lab.ssh(brokers[1], f"grep -c log.retention.hours {previous} /etc/kafka/server.properties; stat -c %a:%U /var/lib/kafkactl")
    assert kept.stdout.split() == [f"{previous}:0", "/etc/kafka/server.properties:1", "700:root"]
    assert lab.kafkactl("apply", str(changed)).stdout.rstrip().endswith("match the inventory.")


def test_failed_restart_halts_and_names_the_host(lab: Lab) -> None:
    broken = lab.variant("broken.yml", _broker_props(lambda v: v.update(kafka_broker_custom_properties={"num.network.threads": "0"})))
    first, second = lab.hosts("kafka_broker")[:2]
    outcome = lab.kafkactl("apply", str(broken), "--gate-timeout", "25")
    assert outcome.exit_code == 1
    assert f"error: host {first}: gate 'broker_registered' not met after 25 s" in outcome.stderr
    assert f"{second}: restarted" not in outcome.stdout
    untouched = lab.ssh(second, "grep -c num.network.threads /etc/kafka/server.properties")
    assert untouched.stdout.strip() == "0"
    # Back to the inventory: the broken broker is repaired, the others only get what changed.
    repaired = lab.kafkactl("apply", str(lab.inventory))
    assert repaired.exit_code == 0, repaired.stderr
    assert f"{first}: broker_registered (ready)" in repaired.stdout


def test_unreachable_host_is_named_before_any_change(lab: Lab) -> None:
    """One broker's SSH refuses this machine (as a host dropped off the network does): the apply names it and stops
    while gathering facts, before any host changes."""
    first, *_, last = lab.hosts("kafka_broker")
    changed = lab.variant("unreachable.yml", _broker_props(lambda v: v.update(kafka_broker_custom_properties={"log.retention.hours": 24})))
    with ssh_cut(lab.address(last)):
        outcome = lab.kafkactl("apply", str(changed))
    assert outcome.exit_code == 1
    assert re.search(rf"error: host {last}: (cannot reach|.*did not answer|SSH to)", outcome.stderr), outcome.stderr
    assert "error: No host was changed." in outcome.stderr
    assert lab.ssh(first, "grep -c 'log.retention.hours=24' /etc/kafka/server.properties").stdout.strip() == "0"
    assert "Nothing to do" in lab.kafkactl("apply", str(lab.inventory)).stdout


def test_unknown_and_changed_host_keys_are_refused(lab: Lab, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    unknown = lab.variant("unknown-keys.yml", lambda d: d["all"]["vars"].update(
        ansible_ssh_common_args=f"-o UserKnownHostsFile={empty}"))
    zookeeper, broker = lab.hosts("zookeeper")[0], lab.hosts("kafka_broker")[0]
    outcome = lab.kafkactl("plan", str(unknown))
    assert outcome.exit_code == 1
    assert f"error: host {zookeeper}: {lab.address(zookeeper)}:22 is not in {empty}; refusing an unknown host key" in outcome.stderr

    # The ZooKeeper host listed with a broker's keys: as if it had been replaced by another machine.
    forged = tmp_path / "forged_known_hosts"
    real = [line.split() for line in (lab.state_dir / "known_hosts").read_text().splitlines() if line.strip()]
    broker_keys = {kind: key for names, kind, key in real if broker in names.split(",")}
    forged.write_text("".join(
        f"{names} {kind} {broker_keys[kind] if zookeeper in names.split(',') else key}\n" for names, kind, key in real
    ))
    changed = lab.variant("changed-keys.yml", lambda d: d["all"]["vars"].update(
        ansible_ssh_common_args=f"-o UserKnownHostsFile={forged}"))
    outcome = lab.kafkactl("plan", str(changed))
    assert outcome.exit_code == 1
    assert f"error: host {zookeeper}: the host key of {lab.address(zookeeper)}:22 CHANGED" in outcome.stderr

    accepting = lab.kafkactl("plan", str(unknown), "--accept-new-host-keys")
    assert accepting.exit_code in (0, 2), accepting.stderr
    assert "accepted new host key" in accepting.stderr
    assert len(empty.read_text().splitlines()) >= 6


def test_non_root_user_with_sudo(lab: Lab) -> None:
    as_deploy = lab.variant("deploy.yml", lambda d: d["all"]["vars"].update(ansible_user="deploy", ansible_become=True))
    outcome = lab.kafkactl("plan", str(as_deploy))
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-2000:]
    changed = lab.variant("deploy-change.yml", lambda d: (
        d["all"]["vars"].update(ansible_user="deploy", ansible_become=True),
        d["all"]["children"]["zookeeper"]["vars"].update(zookeeper_custom_properties={"maxSessionTimeout": 60000}),
    ))
    outcome = lab.kafkactl("apply", str(changed))
    assert outcome.exit_code == 0, outcome.stderr
    assert f"{lab.hosts('zookeeper')[-1]}: restarted kafka-zookeeper" in outcome.stdout
    owner = lab.ssh(lab.hosts("zookeeper")[0], "stat -c '%U:%G %a' /etc/kafka/zookeeper.properties")
    assert owner.stdout.strip() == "root:kafka 640"  # configuration: readable by the service, never writable by it
    assert lab.kafkactl("apply", str(as_deploy)).exit_code == 0  # back to the lab inventory's settings


def test_limit_changes_only_the_named_hosts(lab: Lab) -> None:
    changed = lab.variant("limited.yml", _broker_props(lambda v: v.update(kafka_broker_custom_properties={"log.retention.hours": 96})))
    first, second, third = lab.hosts("kafka_broker")
    outcome = lab.kafkactl("apply", str(changed), "--limit", second)
    assert outcome.exit_code == 0, outcome.stderr
    assert f"{second}: restarted kafka-broker" in outcome.stdout
    assert f"{first}: restarted" not in outcome.stdout and f"{third}: restarted" not in outcome.stdout
    plan = lab.kafkactl("plan", str(changed), "--json")
    assert plan.exit_code == 2 and f'"changed_hosts": [\n    "{first}",\n    "{third}"\n  ]' in plan.stdout
    assert lab.kafkactl("apply", str(lab.inventory)).exit_code == 0


USERS = {"admin": {"principal": "admin", "password": "admin-secret"}, "connect": {"principal": "connect", "password": "connect-secret"}}
# A password Kafka's properties reader must take exactly: a backslash, '=', a space and non-ASCII.
SCRAM_USERS = {"admin": USERS["admin"], "connect": {"principal": "connect", "password": "c\\onn=ect sécret"}}


def _secured(lab: Lab) -> Path:
    """The lab's brokers with two more listeners: EXTERNAL (SASL_SSL, PLAIN and SCRAM-SHA-512) for clients and
    REPL (TLS with client certificates)."""
    stores = lab.stores_from_kafkactl_ca()

    def added(data: dict) -> None:
        data["all"]["vars"].update(stores, sasl_plain_users=USERS, sasl_scram_users=SCRAM_USERS, kafka_broker_custom_listeners={
            "external": {"name": "EXTERNAL", "port": EXTERNAL_PORT, "ssl_enabled": True, "sasl_protocol": "plain,scram"},
            "repl": {"name": "REPL", "port": REPL_PORT, "ssl_enabled": True, "ssl_mutual_auth_enabled": True}})

    return lab.variant("sasl-ssl-listener.yml", added)


def test_connect_against_a_cluster_outside_its_inventory_over_sasl_ssl(lab: Lab) -> None:
    """The lab's brokers get a SASL_SSL listener that accepts PLAIN and SCRAM-SHA-512 (key stores from `kafkactl
    certs create`, copied by apply), and an mTLS one; the SCRAM users are made through a running broker before the
    roll that adds the listeners. An inventory with only the Connect worker names the brokers as an external cluster
    over that listener, as cp-ansible's ccloud samples name Confluent Cloud, and logs in with SCRAM: the worker
    starts, serves, and creates its own storage topics there; a second apply changes nothing. Then cp-ansible's own
    ccloud_kafka_* variables move it onto PLAIN with an API key and secret, as it would reach Confluent Cloud."""
    brokers = lab.hosts("kafka_broker")
    stores = lab.stores_from_kafkactl_ca()
    secured = _secured(lab)
    before = lab.kafkactl("migrate", "listeners", str(secured), "--status")
    assert before.exit_code == 0, before.stderr
    assert "Listeners: next step: add EXTERNAL (SASL_SSL), REPL (SSL)" in before.stdout, before.stdout
    plan = lab.kafkactl("plan", str(secured))
    for user in SCRAM_USERS:
        assert f"[cluster] SCRAM user {user} (SCRAM-SHA-512): create, through a running broker; no restart" in plan.stdout, plan.stdout
    assert "sécret" not in plan.stdout + plan.stderr
    rolled = lab.kafkactl("apply", str(secured))
    assert rolled.exit_code == 0, rolled.stderr + rolled.stdout[-3000:]
    made = rolled.stdout.index("SCRAM user connect (SCRAM-SHA-512) created")
    assert made < rolled.stdout.index("== roll kafka_broker"), "the users must exist before the roll that adds the listener"
    assert "Nothing to do" in lab.kafkactl("apply", str(secured)).stdout
    for broker in brokers:
        assert f"{broker}: wrote /etc/kafka/ssl/kafka.keystore.p12" in rolled.stdout
        owner = lab.ssh(broker, "stat -c '%U:%G %a' /etc/kafka/ssl/kafka.keystore.p12 /etc/kafka/ssl/kafka.truststore.p12")
        assert owner.stdout.split("\n")[:2] == ["root:kafka 640"] * 2, owner.stdout

    after = lab.kafkactl("migrate", "listeners", str(secured), "--status", "--json")
    assert after.exit_code == 0 and json.loads(after.stdout)["next_step"] == "at the target", after.stdout
    certificates = lab.kafkactl("certs", "status", str(secured), "--json")
    assert certificates.exit_code == 0, certificates.stderr
    assert {(row["host"], row["status"]) for row in json.loads(certificates.stdout)} == {(b, "ok") for b in brokers}

    def only_connect(data: dict) -> None:
        data["all"]["vars"].update(
            stores, external_kafka_bootstrap_servers=",".join(f"{b}:{EXTERNAL_PORT}" for b in brokers),
            external_kafka_security_protocol="SASL_SSL", external_kafka_sasl_mechanism="SCRAM-SHA-512",
            external_kafka_sasl_user="connect", external_kafka_sasl_password=SCRAM_USERS["connect"]["password"],
            kafka_connect_group_id="connect-external")
        data["all"]["children"] = {"kafka_connect": data["all"]["children"]["kafka_connect"]}

    external = lab.variant("external.yml", only_connect)
    (connect,) = lab.hosts("kafka_connect")
    outcome = lab.kafkactl("apply", str(external))
    assert outcome.exit_code == 0, outcome.stderr + outcome.stdout[-3000:]
    assert f"{connect}: wrote /etc/kafka/ssl/kafka.truststore.p12" in outcome.stdout
    assert f"{connect}: connect_rest_answers (ready): GET /health: HTTP/1.1 200 OK" in outcome.stdout
    worker = lab.ssh(connect, "grep -E '^(security.protocol|sasl.mechanism|ssl.truststore.location)=' "
                              "/etc/kafka/connect-distributed.properties").stdout.split()
    assert {"security.protocol=SASL_SSL", "sasl.mechanism=SCRAM-SHA-512", "ssl.truststore.location=/etc/kafka/ssl/kafka.truststore.p12"} <= set(worker)
    topics = lab.ssh(brokers[0], f"{JAVA} "
                                 f"org.apache.kafka.tools.TopicCommand --bootstrap-server {brokers[0]}:{BROKER_PORT} --list").stdout
    assert {"connect-external-configs", "connect-external-offsets", "connect-external-status"} <= set(topics.split()), topics
    again = lab.kafkactl("apply", str(external))
    assert again.exit_code == 0 and "Nothing to do: all 1 hosts match the inventory." in again.stdout, again.stdout
    # The worker is a client of EXTERNAL now: the brokers count its connections there, as removing EXTERNAL would need to know.
    status = lab.kafkactl("migrate", "listeners", str(secured), "--status", "--json")
    assert status.exit_code == 0, status.stderr
    counted = [broker["connections"] for broker in json.loads(status.stdout)["brokers"]]
    assert all(c is not None and {"EXTERNAL", "INTERNAL", "BROKER"} <= c.keys() for c in counted), counted
    assert sum(c["EXTERNAL"] for c in counted) > 0, counted

    # cp-ansible's ccloud_* variables, as its samples name Confluent Cloud: SASL_SSL, PLAIN, an API key and secret.
    def as_confluent_cloud(data: dict) -> None:
        only_connect(data)
        settings = data["all"]["vars"]
        for key in [k for k in settings if k.startswith("external_kafka_")]:
            del settings[key]
        settings.update(ccloud_kafka_enabled=True, ccloud_kafka_bootstrap_servers=",".join(f"{b}:{EXTERNAL_PORT}" for b in brokers),
                        ccloud_kafka_key="connect", ccloud_kafka_secret=USERS["connect"]["password"])

    ccloud = lab.variant("ccloud.yml", as_confluent_cloud)
    switched = lab.kafkactl("apply", str(ccloud))
    assert switched.exit_code == 0, switched.stderr + switched.stdout[-3000:]
    assert f"{connect}: connect_rest_answers (ready): GET /health: HTTP/1.1 200 OK" in switched.stdout
    assert USERS["connect"]["password"] not in switched.stdout + switched.stderr
    worker = lab.ssh(connect, "grep -E '^(security.protocol|sasl.mechanism)=' /etc/kafka/connect-distributed.properties").stdout.split()
    assert worker == ["security.protocol=SASL_SSL", "sasl.mechanism=PLAIN"], worker
    assert "Nothing to do" in lab.kafkactl("apply", str(ccloud)).stdout
