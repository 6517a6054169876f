"""Ansible inventory semantics: precedence, group_vars/host_vars, merged custom properties, stable ids."""

from __future__ import annotations

from pathlib import Path

import yaml

from kafkactl.inventory import read_inventory
from kafkactl.inventory.loader import expand_host_range
from kafkactl.model import Component


def _write(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_precedence_and_side_files(tmp_path: Path) -> None:
    inventory = _write(tmp_path / "inventory.yml", """
all:
  vars:
    kafka_num_partitions: 1
    kafka_broker_custom_properties: {a: all, b: all, c: all}
  children:
    zookeeper:
      hosts: {zk1: }
    kafka_broker:
      vars:
        kafka_broker_custom_properties: {b: group}
      children:
        rack_a:
          vars:
            kafka_broker_rack: a
          hosts:
            kafka1:
              kafka_broker_custom_properties: {c: host}
            kafka2:
""")
    _write(tmp_path / "group_vars" / "all.yml", {"kafka_num_partitions": 12})
    _write(tmp_path / "group_vars" / "rack_a.yml", {"kafka_broker_custom_properties": {"d": "group_vars"}})
    _write(tmp_path / "host_vars" / "kafka2" / "main.yml", {"kafka_broker_rack": "b", "ansible_host": "10.0.0.2"})
    loaded = read_inventory(inventory)
    hosts = {h.name: h for h in loaded.inventory.hosts}
    assert loaded.inventory.cluster.kafka_num_partitions == 12
    assert hosts["kafka1"].custom_properties[Component.KAFKA_BROKER] == {"a": "all", "b": "group", "c": "host", "d": "group_vars"}
    assert hosts["kafka2"].custom_properties[Component.KAFKA_BROKER] == {"a": "all", "b": "group", "c": "all", "d": "group_vars"}
    assert (hosts["kafka1"].rack, hosts["kafka2"].rack) == ("a", "b")
    assert hosts["kafka2"].address == "10.0.0.2"
    assert hosts["kafka1"].address == "kafka1"


def test_ids_are_cp_ansibles_when_unset(tmp_path: Path) -> None:
    """As cp-ansible numbers them: index in the group (Ansible's order: own hosts, then child groups') + 1,
    controllers 9991 + index; an explicit id wins; plan can say where each came from."""
    inventory = _write(tmp_path / "hosts.yml", """
zookeeper:
  hosts: {zk-c: , zk-a: , zk-b: }
kafka_controller:
  hosts: {ctl-b: , ctl-a: , ctl-c: }
kafka_broker:
  hosts:
    kafka-z:
  children:
    kafka_broker_rack1:
      hosts: {kafka-b: , kafka-a: {broker_id: 40}}
    kafka_broker_rack2:
      hosts: {kafka-c: }
""")
    hosts = {h.name: h for h in read_inventory(inventory).inventory.hosts}
    assert {n: hosts[n].zookeeper_id for n in ("zk-c", "zk-a", "zk-b")} == {"zk-c": 1, "zk-a": 2, "zk-b": 3}
    assert {n: hosts[n].node_id for n in ("ctl-b", "ctl-a", "ctl-c")} == {"ctl-b": 9991, "ctl-a": 9992, "ctl-c": 9993}
    assert {n: hosts[n].broker_id for n in ("kafka-z", "kafka-b", "kafka-a", "kafka-c")} == {
        "kafka-z": 1, "kafka-b": 2, "kafka-a": 40, "kafka-c": 4}
    assert hosts["kafka-c"].id_sources == {"broker_id": "cp-ansible's default: 1 + its index 3 in kafka_broker"}
    assert hosts["kafka-a"].id_sources["broker_id"] == f"inventory: {inventory}:11"
    assert hosts["ctl-a"].id_sources == {"node_id": "cp-ansible's default: 9991 + its index 1 in kafka_controller"}


def test_cp_ansible_inventory_loads_with_warnings(tmp_path: Path) -> None:
    """A cp-ansible inventory loads as it is; variables kafkactl does not support are named with why, typos get a hint."""
    inventory = _write(tmp_path / "hosts.yml", """
all:
  vars:
    ansible_connection: ssh
    ansible_user: ec2-user
    ansible_become: true
    ansible_ssh_private_key_file: /home/ec2-user/guest.pem
    confluent_package_version: 7.6.9
    jolokia_enabled: false
    ssl_enabled: false
    kafka_verison: 3.9.2
zookeeper:
  hosts:
    ip-172-31-34-246.us-west-2.compute.internal:
      zookeeper_id: 1
kafka_broker:
  hosts:
    ip-172-31-34-247.us-west-2.compute.internal:
      broker_id: 1
      kafka_broker_custom_properties:
        broker.rack: us-west-2a
""")
    loaded = read_inventory(inventory)
    messages = [w.message for w in loaded.warnings]
    assert ("confluent_package_version: not supported by kafkactl: kafkactl installs the Apache Kafka archive (kafka_version, "
            "kafka_archive_source), not Confluent Platform packages or archives; it is ignored") in messages
    assert any(m.startswith("kafka_verison: unknown variable") and "did you mean 'kafka_version'?" in m for m in messages)
    broker = next(h for h in loaded.inventory.hosts if h.has(Component.KAFKA_BROKER))
    assert (broker.ssh_user, broker.become, broker.ssh_private_key_file) == ("ec2-user", True, "/home/ec2-user/guest.pem")
    assert all(str(w.origin).startswith(str(inventory)) for w in loaded.warnings)


def test_proxy_jump_from_ssh_common_args(tmp_path: Path) -> None:
    inventory = _write(tmp_path / "inventory.yml", """
zookeeper:
  hosts:
    zk1:
      ansible_ssh_common_args: "-o ProxyJump=bastion.example.com -o ServerAliveInterval=30"
kafka_broker:
  hosts: {kafka1: }
""")
    hosts = {h.name: h for h in read_inventory(inventory).inventory.hosts}
    assert hosts["zk1"].ssh_proxy_jump == ("bastion.example.com",)
    assert hosts["zk1"].ssh_server_alive_interval == 30
    assert hosts["kafka1"].ssh_proxy_jump == ()


def test_even_ensemble_is_a_warning(tmp_path: Path) -> None:
    inventory = _write(tmp_path / "inventory.yml", "zookeeper:\n  hosts:\n    zk[1:4]:\nkafka_broker:\n  hosts: {kafka1: }\n")
    loaded = read_inventory(inventory)
    assert [w.message for w in loaded.warnings] == ["zookeeper has 4 hosts: an even count tolerates no more failures than 3"]
    allowed = _write(tmp_path / "two.yml", "all:\n  vars: {kafkactl_allow_quorum_of_two: true}\n"
                                           "zookeeper:\n  hosts: {zk1: , zk2: }\nkafka_broker:\n  hosts: {kafka1: }\n")
    assert [w.message for w in read_inventory(allowed).warnings] == [
        "zookeeper has 2 hosts: an even count tolerates no more failures than 1"]


def test_a_secret_in_a_service_environment_is_a_warning_that_never_shows_it(tmp_path: Path) -> None:
    overrides = {"KAFKA_OPTS": "-Djavax.net.ssl.trustStorePassword=Zq9Jvm -Dmode=fast", "VAULT_SECRET": "Zq9Vault", "TZ": "UTC"}
    inventory = _write(tmp_path / "inventory.yml", {"zookeeper": {"hosts": {"zk1": None}}, "kafka_broker": {
        "hosts": {"kafka1": {"kafka_broker_service_environment_overrides": overrides}}}})
    warnings = [w.message for w in read_inventory(inventory).warnings]
    assert warnings == [
        f"host kafka1: kafka_broker_service_environment_overrides: {name} holds a secret, which every local user can read "
        "(systemctl show, and ps for a -D option); keep it in a properties or JAAS file" for name in ("KAFKA_OPTS", "VAULT_SECRET")]


def test_host_ranges_expand_as_ansible_expands_them(tmp_path: Path) -> None:
    inventory = _write(tmp_path / "hosts.yml", """
zookeeper:
  hosts:
    zk[1:3].example.com:
kafka_broker:
  hosts:
    kfk[01:05:2].example.com:
      kafka_broker_custom_properties: {broker.rack: r1}
""")
    hosts = {h.name: h for h in read_inventory(inventory).inventory.hosts}
    assert sorted(hosts) == ["kfk01.example.com", "kfk03.example.com", "kfk05.example.com",
                             "zk1.example.com", "zk2.example.com", "zk3.example.com"]
    assert all(hosts[f"kfk0{n}.example.com"].custom_properties for n in (1, 3, 5))
    assert expand_host_range("zk-[a:c]-[8:10]") == ["zk-a-8", "zk-a-9", "zk-a-10", "zk-b-8", "zk-b-9", "zk-b-10",
                                                     "zk-c-8", "zk-c-9", "zk-c-10"]


def test_templates_that_refer_to_templates_resolve_as_ansible_resolves_them(tmp_path: Path, monkeypatch) -> None:
    """Several levels deep, in any order; a lookup's text is data (never rendered again) and stays a secret."""
    monkeypatch.setenv("KAFKACTL_TEST_SECRET", "s3cret-{{ deployment_path }}")
    inventory = _write(tmp_path / "hosts.yml", """
all:
  vars:
    kafka_broker_log_dirs: ["{{ data_path }}/one", "{{ data_path }}/two"]
    data_path: "{{ deployment_path }}/data"
    deployment_path: "{{ root }}/kafka"
    root: /srv
    sasl_scram_users:
      client: {principal: client, password: "{{ client_password }}"}
    client_password: "{{ lookup('env', 'KAFKACTL_TEST_SECRET') }}"
zookeeper:
  hosts: {zk1: }
kafka_broker:
  hosts: {kafka1: }
""")
    loaded = read_inventory(inventory).inventory
    assert loaded.cluster.kafka_broker_log_dirs == ["/srv/kafka/data/one", "/srv/kafka/data/two"]
    password = loaded.cluster.sasl_scram_users["client"].password.get_secret_value()
    assert password == "s3cret-{{ deployment_path }}"
    assert password in loaded.secret_values


def test_a_min_insync_replicas_the_cluster_size_lowers_is_said(tmp_path: Path) -> None:
    inventory = _write(tmp_path / "hosts.yml", """
all:
  vars: {kafka_min_insync_replicas: 3}
zookeeper:
  hosts: {zk1: }
kafka_broker:
  hosts: {kafka1: , kafka2: , kafka3: }
""")
    warnings = [str(w) for w in read_inventory(inventory).warnings]
    assert f"{inventory}:3: kafka_min_insync_replicas: 3 is rendered as min.insync.replicas=2: new topics get replication " \
           "factor 3 (3 brokers), and acks=all producers must go on while one broker is down" in warnings


def test_cp_ansibles_default_sasl_user_when_the_inventory_names_none(tmp_path: Path) -> None:
    """cp-ansible's samples set sasl_protocol and no users: its cluster logs in as admin with cp-ansible's password."""
    inventory = _write(tmp_path / "hosts.yml", """
all:
  vars: {sasl_protocol: SCRAM}
zookeeper:
  hosts: {zk1: }
kafka_broker:
  hosts: {kafka1: }
""")
    loaded = read_inventory(inventory)
    admin = loaded.inventory.cluster.sasl_scram_users["admin"]
    assert (admin.principal, admin.password.get_secret_value()) == ("admin", "admin-secret")
    (warning,) = [str(w) for w in loaded.warnings]
    assert warning.startswith(f"{inventory}:3: sasl_scram_users: no entry admin: cp-ansible's default user admin is used")
    assert "admin-secret" not in warning
    assert "admin-secret" in loaded.inventory.secret_values  # masked wherever it is a whole value


def test_hosts_of_cp_ansible_components_kafkactl_does_not_manage_are_named(tmp_path: Path) -> None:
    inventory = _write(tmp_path / "hosts.yml", """
zookeeper:
  hosts: {zk1: }
kafka_broker:
  hosts: {kafka1: }
ksql:
  hosts: {ksql1: }
control_center:
  hosts: {kafka1: }
""")
    messages = [w.message for w in read_inventory(inventory).warnings]
    assert "host ksql1: kafkactl does not manage ksql (ksqlDB); it is ignored" in messages
    assert "host kafka1: kafkactl does not manage control_center (Control Center); only its other components are" in messages
