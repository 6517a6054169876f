"""A ZooKeeper-mode cluster (3 ZooKeeper, 3 brokers, a Connect worker reached through a jump host)
applied over SSH: convergence, idempotence, rolling changes, failures, host keys, sudo."""

from __future__ import annotations

import json
import re
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from canary import LEADERS_MOVED, Canary
from kafkactl.components.properties import escape_value
from kafkactl.components.security import SCRAM_MODULE, jaas_quote
from kafkactl.lab import KAFKA_VERSION

from labkit import BROKER_PORT, Lab, bring_up, ssh_cut, take_down

# A Kafka tool run on a lab host, from the host's Kafka jars.
JAVA = f"java -Xmx128m -Dlog4j.configuration=file:/dev/null -cp '/opt/kafka/kafka_2.13-{KAFKA_VERSION}/libs/*'"
# Longest gap between canary acknowledgements a roll of the brokers may cause (leaders move one broker at a time).
ROLL_MAX_GAP_S = 30
# The SASL_SSL listener the last test adds to the lab's brokers.
EXTERNAL_PORT = 9094
# The mTLS listener the brokers move their own traffic onto.
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


def _secured(lab: Lab, name: str = "sasl-ssl-listener.yml", **more) -> Path:
    """The lab's brokers with two more listeners: EXTERNAL (SASL_SSL, PLAIN and SCRAM-SHA-512) for clients and
    REPL (TLS with client certificates) for the brokers to move onto; `more` sets further cluster variables."""
    stores = lab.stores_from_kafkactl_ca()

    def added(data: dict) -> None:
        data["all"]["vars"].update(stores, sasl_plain_users=USERS, sasl_scram_users=SCRAM_USERS, kafka_broker_custom_listeners={
            "external": {"name": "EXTERNAL", "port": EXTERNAL_PORT, "ssl_enabled": True, "sasl_protocol": "plain,scram"},
            "repl": {"name": "REPL", "port": REPL_PORT, "ssl_enabled": True, "ssl_mutual_auth_enabled": True}}, **more)

    return lab.variant(name, added)


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


def _acl_tool(lab: Lab, broker: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Kafka's kafka-acls on a broker, as kafkactl's own checks log in there (a super user)."""
    return lab.ssh(broker, f"{JAVA} "
                           f"kafka.admin.AclCommand --bootstrap-server {broker}:{REPL_PORT} "
                           "--command-config /etc/kafka/kafkactl-admin.properties " + " ".join(args))


# Where test_acls_on_and_brokers_onto_mutual_tls_with_no_lost_message leaves the brokers (with the authorizer on).
TARGET = {"kafka_broker_inter_broker_listener_name": "repl", "kafka_broker_listeners": {"internal": {"name": "INTERNAL", "port": 9092}}}


def _brokers_only(lab: Lab, name: str, **more) -> Path:
    """_secured without the Connect worker: it is another cluster's client once the brokers are secured."""
    path = _secured(lab, name, **more)
    data = yaml.safe_load(path.read_text())
    del data["all"]["children"]["kafka_connect"]
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_acls_on_and_brokers_onto_mutual_tls_in_phases_with_no_lost_message(lab: Lab) -> None:
    """`migrate listeners --phase` towards the target (INTERNAL, EXTERNAL SASL_SSL, REPL mTLS between brokers, ACLs
    on), from the brokers as the last test left them (BROKER PLAINTEXT inter-broker, EXTERNAL and REPL added):
    `remove` is refused out of turn; `add` finds the listeners there; `authorizer` switches ACLs on with super.users naming
    ANONYMOUS, which the PLAINTEXT brokers are to each other, and who they are on EXTERNAL and REPL; `inter-broker`
    moves their traffic onto REPL, ANONYMOUS kept while the rolled brokers serve the ones not yet rolled (by hand,
    plan refuses to drop it, naming it); `remove` drops BROKER and ANONYMOUS. A canary produces throughout: on BROKER
    until it goes, then on INTERNAL with ACLs of its own. Each phase backs up what it changes and is journaled;
    a phase done has nothing left to do. The Connect worker is left out: it is another cluster's client now."""
    brokers = lab.hosts("kafka_broker")
    certificates = ";".join(f"User:CN={b}" for b in brokers)

    def super_users() -> str:
        return lab.ssh(brokers[0], "grep ^super.users= /etc/kafka/server.properties").stdout.strip().removeprefix("super.users=")

    def phase(name: str):
        ran = lab.kafkactl("migrate", "listeners", str(target), "--phase", name, "--yes")
        assert ran.exit_code == 0, ran.stderr + ran.stdout[-3000:]
        return ran

    target = _brokers_only(lab, "target.yml", kafka_authorizer_enabled=True, **TARGET)
    early = lab.kafkactl("migrate", "listeners", str(target), "--phase", "remove", "--yes")
    assert early.exit_code == 1 and "the authorizer is not on on" in early.stderr and "run --phase authorizer first" in early.stderr, early.stderr
    phase("add")  # the listeners are there; brokers that run them in another order roll once
    with Canary(lab.bootstrap()) as canary:
        authorized = phase("authorizer")
        assert super_users() == f"User:ANONYMOUS;{certificates};User:admin"
        by_hand = _brokers_only(lab, "repl-refused.yml", kafka_authorizer_enabled=True, kafka_broker_inter_broker_listener_name="repl")
        refused = lab.kafkactl("plan", str(by_hand))
        assert refused.exit_code == 1 and "super.users would drop User:ANONYMOUS while traffic moves" in refused.stderr, refused.stderr
        phase("inter-broker")
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    assert "== backup" in authorized.stdout and "verified" in authorized.stdout, authorized.stdout
    assert lab.ssh(brokers[0], "grep ^inter.broker.listener.name= /etc/kafka/server.properties").stdout.strip() == \
        "inter.broker.listener.name=REPL"
    assert super_users() == f"User:ANONYMOUS;{certificates};User:admin"

    for prefix in ("kafkactl-canary-", "verify-"):  # the canary's topics and groups, and its read-back's groups
        granted = _acl_tool(lab, brokers[0], "--add --allow-principal User:ANONYMOUS --operation All --topic", prefix,
                            "--group", prefix, "--resource-pattern-type prefixed")
        assert granted.returncode == 0, granted.stdout + granted.stderr

    with Canary(_internal(lab)) as canary:
        phase("remove")
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    assert super_users() == f"{certificates};User:admin"
    assert "Nothing to do" in phase("remove").stdout
    runs = json.loads(lab.kafkactl("runs", str(target), "--json").stdout)
    assert [run["command"] for run in runs[:3]] == [f"migrate listeners --phase {p}" for p in ("remove", "inter-broker", "authorizer")], runs
    status = lab.kafkactl("migrate", "listeners", str(target), "--status", "--json")
    assert json.loads(status.stdout)["next_step"] == "at the target", status.stdout
    # ANONYMOUS is no one special now: its ACLs let it at the canary's topics, nowhere else.
    denied = lab.ssh(brokers[0], f"{JAVA} "
                                 f"org.apache.kafka.tools.TopicCommand --bootstrap-server {brokers[0]}:9092 --create --topic not-granted")
    assert denied.returncode != 0 and "Authorization failed" in denied.stdout + denied.stderr, denied.stdout + denied.stderr
    _only_the_right_clients_get_in(lab, brokers[0])
    assert "Nothing to do" in lab.kafkactl("apply", str(target)).stdout


def _internal(lab: Lab) -> str:
    """The brokers' INTERNAL listener (PLAINTEXT, 9092), where the canary produces once BROKER is gone."""
    return lab.bootstrap().replace(f":{BROKER_PORT}", ":9092")


def _applied_under_a_canary(lab: Lab, inventory: Path, bootstrap: str):
    """`kafkactl apply` while a canary produces through `bootstrap`: it succeeds, the canary loses nothing."""
    with Canary(bootstrap) as canary:
        applied = lab.kafkactl("apply", str(inventory))
        assert applied.exit_code == 0, applied.stderr + applied.stdout[-3000:]
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    return applied


def _only_the_right_clients_get_in(lab: Lab, broker: str) -> None:
    """At the target, clients of EXTERNAL (SASL_SSL) and REPL (mTLS) are refused without credentials, with a wrong
    SCRAM password, or with a certificate from another CA; a SCRAM user gets only as far as its ACLs, which then
    let it create a topic, produce and consume."""
    pki = lab.state_dir / ".kafkactl" / "pki"
    trusted = {"ssl.truststore.location": "/etc/kafka/ssl/kafka.truststore.p12", "ssl.truststore.type": "PKCS12",
               "ssl.truststore.password": (pki / "truststore.password").read_text().strip(),
               "default.api.timeout.ms": "10000", "request.timeout.ms": "5000"}

    def scram(password: str) -> dict[str, str]:
        return {**trusted, "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
                "sasl.jaas.config": f"{SCRAM_MODULE} required username=\"connect\" password={jaas_quote(password)};"}

    connect = scram(SCRAM_USERS["connect"]["password"])
    intruder = "/tmp/kafkactl-test-intruder.p12"  # a self-signed client certificate: a CA the brokers do not trust
    made = lab.ssh(broker, f"rm -f {intruder} && keytool -genkeypair -alias intruder -keyalg RSA -keysize 2048 -dname CN=intruder "
                           f"-validity 2 -storetype PKCS12 -keystore {intruder} -storepass intruder-pass -keypass intruder-pass")
    assert made.returncode == 0, made.stderr
    refusals = {
        "no credentials": (EXTERNAL_PORT, {**trusted, "security.protocol": "SSL"}, "Timed out"),
        "a wrong password": (EXTERNAL_PORT, scram("not-the-password"), "invalid credentials"),
        "another CA": (REPL_PORT, {**trusted, "security.protocol": "SSL", "ssl.keystore.location": intruder,
                                    "ssl.keystore.type": "PKCS12", "ssl.keystore.password": "intruder-pass"},
                       # TLS 1.3: the client learns of the refusal after its side of the handshake is done
                       "Failed to process post-handshake messages"),
        "no ACL": (EXTERNAL_PORT, connect, "Authorization failed"),
    }
    for why, (port, settings, reason) in refusals.items():
        refused = _as_client(lab, broker, port, settings, "org.apache.kafka.tools.TopicCommand --create --topic granted-topic {config}")
        assert refused.returncode != 0 and reason in refused.stdout + refused.stderr, (why, refused.stdout + refused.stderr)

    granted = _acl_tool(lab, broker, "--add --allow-principal User:connect --operation All --topic granted- --group granted-",
                        "--resource-pattern-type prefixed")
    assert granted.returncode == 0, granted.stdout + granted.stderr
    steps = ["org.apache.kafka.tools.TopicCommand --create --topic granted-topic --replication-factor 3 {config}",
             "org.apache.kafka.tools.ProducerPerformance --topic granted-topic --num-records 10 --record-size 16 --throughput -1 "
             "--producer-props bootstrap.servers={bootstrap} acks=all --producer.config {file}",
             "org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server {bootstrap} --topic granted-topic --group granted-readers "
             "--from-beginning --max-messages 10 --timeout-ms 30000 --consumer.config {file}"]
    for step in steps:
        ran = _as_client(lab, broker, EXTERNAL_PORT, connect, step)
        assert ran.returncode == 0, (step, ran.stdout + ran.stderr)
    assert "Processed a total of 10 messages" in ran.stdout + ran.stderr, ran.stdout + ran.stderr


def _as_client(lab: Lab, broker: str, port: int, settings: dict[str, str], tool: str) -> subprocess.CompletedProcess[str]:
    """A Kafka tool on `broker` as a client with these settings; in `tool`, {config} is `--bootstrap-server ...
    --command-config FILE`, {bootstrap} the address and {file} the settings file."""
    file = "/tmp/kafkactl-test-client.properties"
    lines = "".join(f"{key}={escape_value(value)}\n" for key, value in settings.items())
    bootstrap = f"{broker}:{port}"
    command = tool.format(config=f"--bootstrap-server {bootstrap} --command-config {file}", bootstrap=bootstrap, file=file)
    return lab.ssh(broker, f"cat > {file} <<'END'\n{lines}END\n"
                           f"{JAVA} "
                           f"{command}")


def _zookeeper_secured(lab: Lab) -> Path:
    """The secured cluster with ZooKeeper over TLS and the brokers logging in to it (SASL DIGEST)."""
    return _brokers_only(lab, "zookeeper-secured.yml", kafka_authorizer_enabled=True, zookeeper_ssl_enabled=True,
                         zookeeper_sasl_protocol="digest",
                         zookeeper_digest_users={"kafka_broker": {"principal": "kafka", "password": "zk-Sécret-9"}}, **TARGET)


def test_brokers_move_to_zookeepers_tls_port_and_log_in_then_it_refuses_anyone_else_with_no_lost_message(lab: Lab) -> None:
    """zookeeper_ssl_enabled and zookeeper_sasl_protocol digest on the secured cluster: one apply is refused, as it would
    close ZooKeeper's plain port to the network under the brokers still on it and require a login they do not give.
    `--phase add` rolls ZooKeeper with the TLS port beside the plain one and accepting SASL, then each broker onto the
    TLS port, logging in; `--phase inter-broker` has the brokers set ACLs and secures the znodes that exist;
    `--phase remove` rolls ZooKeeper alone, requiring a login, its plain port on 127.0.0.1 only. The canary loses
    nothing; at the end every broker's ZooKeeper session is on the TLS port, none reaches the plain one, a client that
    does not log in reads nothing, the brokers' znodes are the broker user's to change, and a second apply changes
    nothing."""
    zookeepers, brokers = lab.hosts("zookeeper"), lab.hosts("kafka_broker")
    secured = _zookeeper_secured(lab)
    refused = lab.kafkactl("plan", str(secured))
    assert refused.exit_code == 1 and "ZooKeeper's plaintext port 2181 would close to the network while" in refused.stderr, refused.stderr
    assert "ZooKeeper would require SASL while" in refused.stderr, refused.stderr

    def phase(name: str):
        ran = lab.kafkactl("migrate", "listeners", str(secured), "--phase", name, "--yes")
        assert ran.exit_code == 0, name + ran.stderr + ran.stdout[-3000:]
        return ran

    with Canary(_internal(lab)) as canary:
        ran = {name: phase(name) for name in ("add", "inter-broker", "remove")}
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    added, removed = ran["add"], ran["remove"]
    assert added.stdout.index("== roll zookeeper") < added.stdout.index("== roll kafka_broker"), added.stdout
    assert "restart" in removed.stdout.split("== roll zookeeper")[1].split("== roll kafka_broker")[0], removed.stdout
    assert "the existing znodes secured (ZkSecurityMigrator --zookeeper.acl secure)" in ran["inter-broker"].stdout, ran["inter-broker"].stdout
    assert "zk-Sécret-9" not in "".join(r.stdout + r.stderr for r in ran.values())
    for broker in brokers:
        assert lab.ssh(broker, "grep -c '^zookeeper.connect=.*:2182' /etc/kafka/server.properties").stdout.strip() == "1"

    def sessions(port: int) -> set[str]:
        """The peers with a connection open to this ZooKeeper port, on any member."""
        found = set()
        for member in zookeepers:
            listed = lab.ssh(member, f"ss -Htn state established '( sport = :{port} )'").stdout
            found |= {line.split()[-1].rsplit(":", 1)[0].strip("[]").removeprefix("::ffff:") for line in listed.splitlines() if line.strip()}
        return found

    addresses = {lab.address(broker) for broker in brokers}
    assert addresses <= sessions(2182), sessions(2182)
    assert not addresses & sessions(2181), sessions(2181)
    for member in zookeepers:
        listed = lab.ssh(member, "ss -Htln '( sport = :2181 )'").stdout.split()
        listening = [a.replace("[::ffff:", "").replace("]", "") for a in listed if a.endswith(":2181")]  # Java binds IPv6 sockets
        assert listening == ["127.0.0.1:2181"], listed
        reached = lab.ssh(brokers[0], f"timeout 5 bash -c 'exec 3<>/dev/tcp/{member}/2181'")
        assert reached.returncode != 0, f"{member}:2181 answers over the network"

    def zookeeper_shell(command: str, logged_in: bool) -> str:
        login = "-Djava.security.auth.login.config=/etc/kafka/broker-jaas.conf " if logged_in else ""
        return lab.ssh(brokers[0], f"{JAVA} {login}org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka -zk-tls-config-file "
                                   f"/etc/kafka/server.properties -server {zookeepers[0]}:2182 {command} 2>&1").stdout

    assert re.search(r"\[1, 2, 3\]", zookeeper_shell("ls /brokers/ids", logged_in=True))
    assert not re.search(r"\[1, 2, 3\]", zookeeper_shell("ls /brokers/ids", logged_in=False))
    acl = zookeeper_shell("getAcl /brokers/ids", logged_in=True)
    assert "'sasl,'kafka" in acl and "'world,'anyone\n: cdrwa" not in acl, acl
    assert "Nothing to do" in lab.kafkactl("apply", str(secured)).stdout


def _served(broker: str, port: int, trusting: Path | None = None) -> bytes:
    """The certificate the listener presents (TLS 1.3: the client has it before a client certificate is asked for);
    `trusting`: only if a CA in that file signed it (else ssl.SSLCertVerificationError)."""
    context = ssl.create_default_context(cafile=str(trusting) if trusting else None)
    context.check_hostname = False
    if trusting is None:
        context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((broker, port), timeout=10) as sock, context.wrap_socket(sock, server_hostname=broker) as tls:
        return tls.getpeercert(binary_form=True)


def test_renewed_broker_certificates_are_taken_with_no_restart_and_no_lost_message(lab: Lab) -> None:
    """`certs renew` for the brokers, then apply: each running broker reloads its new key store on every TLS listener
    (EXTERNAL, REPL) and serves the new certificate, no broker restarts, the canary loses nothing, and a second
    apply changes nothing."""
    brokers = lab.hosts("kafka_broker")
    secured = _zookeeper_secured(lab)
    pki = lab.state_dir / ".kafkactl" / "pki"

    def main_pids() -> dict[str, str]:
        return {b: lab.ssh(b, "systemctl show -p MainPID --value kafka-broker").stdout.strip() for b in brokers}

    def issued(broker: str) -> bytes:
        return x509.load_pem_x509_certificate((pki / f"{broker}.crt").read_bytes()).public_bytes(serialization.Encoding.DER)

    before = main_pids()
    old = {broker: issued(broker) for broker in brokers}
    assert all(_served(broker, EXTERNAL_PORT) == old[broker] for broker in brokers)
    renewed = lab.kafkactl("certs", "renew", str(secured), *(f"--host={b}" for b in brokers))
    assert renewed.exit_code == 0, renewed.stderr
    planned = lab.kafkactl("plan", str(secured))
    assert planned.exit_code == 2 and planned.stdout.count("reload key stores") == len(brokers), planned.stdout
    assert "restart " not in planned.stdout, planned.stdout
    applied = _applied_under_a_canary(lab, secured, _internal(lab))
    assert applied.stdout.count("reloaded its key stores on EXTERNAL, REPL (no restart)") == len(brokers), applied.stdout
    assert applied.stdout.count(f"ports {EXTERNAL_PORT}, {REPL_PORT} present the new certificate") == len(brokers), applied.stdout
    assert main_pids() == before
    for broker in brokers:
        assert issued(broker) != old[broker]
        assert _served(broker, EXTERNAL_PORT) == _served(broker, REPL_PORT) == issued(broker), broker
        broker_id = lab.ssh(broker, "grep ^broker.id= /etc/kafka/server.properties").stdout.strip().removeprefix("broker.id=")
        dynamic = lab.ssh(broker, f"{JAVA} kafka.admin.ConfigCommand --bootstrap-server {broker}:{REPL_PORT} --command-config "
                                  f"/etc/kafka/kafkactl-admin.properties --describe --entity-type brokers --entity-name {broker_id}")
        assert dynamic.returncode == 0 and "ssl.keystore.location" not in dynamic.stdout, dynamic.stdout + dynamic.stderr  # the file rules
    assert "Nothing to do" in lab.kafkactl("apply", str(secured)).stdout


def test_the_ca_is_rotated_with_an_overlap_and_no_lost_message(lab: Lab, tmp_path: Path) -> None:
    """`certs rotate-ca` in its three steps, an apply after each, while a canary produces on INTERNAL and the brokers
    replicate over REPL (mTLS) and reach ZooKeeper over TLS: the trust stores take the new CA beside the old, every
    host then presents a certificate of the new CA, then the old CA is trusted no more. No acknowledged message is
    lost; at the end each TLS listener presents a certificate only the new CA verifies, and a second apply changes
    nothing."""
    brokers = lab.hosts("kafka_broker")
    secured = _zookeeper_secured(lab)
    pki = lab.state_dir / ".kafkactl" / "pki"
    old_ca = tmp_path / "old-ca.crt"
    shutil.copy(pki / "ca.crt", old_ca)
    with Canary(_internal(lab)) as canary:
        for step in ("trust-new-ca", "sign-with-new-ca", "drop-old-ca"):
            rotated = lab.kafkactl("certs", "rotate-ca", str(secured), "--step", step)
            assert rotated.exit_code == 0, rotated.stderr
            applied = lab.kafkactl("apply", str(secured))
            assert applied.exit_code == 0, step + applied.stderr + applied.stdout[-3000:]
        canary.settle()
    canary.check(ROLL_MAX_GAP_S, duplicates_allowed_because=LEADERS_MOVED)
    for broker in brokers:
        for port in (EXTERNAL_PORT, REPL_PORT):
            assert _served(broker, port, trusting=pki / "ca.crt")
            with pytest.raises(ssl.SSLCertVerificationError):
                _served(broker, port, trusting=old_ca)
    assert "Nothing to do" in lab.kafkactl("apply", str(secured)).stdout
