"""Identity from the live hosts: a live id wins over cp-ansible's default; nothing renumbers a live node."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from kafkactl.errors import KafkactlError
from kafkactl.identity import LiveId, adopt, parse_live_ids, read_script
from kafkactl.inventory import read_inventory

INVENTORY = """
zookeeper:
  hosts: {zk-a: , zk-b: , zk-c: }
kafka_controller:
  hosts: {ctl-a: , ctl-b: , ctl-c: }
kafka_broker:
  hosts: {kafka-a: , kafka-b: {broker_id: 7}, kafka-c: }
"""


@pytest.fixture
def inventory(tmp_path: Path):
    path = tmp_path / "hosts.yml"
    path.write_text(INVENTORY)
    return read_inventory(path).inventory


def _host(inventory, name):
    return next(h for h in inventory.hosts if h.name == name)


def _output(files: dict[str, str]) -> str:
    return "".join(f"{path}\t{base64.b64encode(text.encode()).decode()}\n" for path, text in files.items())


def test_the_files_read_are_the_id_files_of_each_component(inventory) -> None:
    script = read_script(_host(inventory, "kafka-a"), inventory.cluster).text
    assert "/var/lib/kafka/data/meta.properties" in script and "myid" not in script
    assert "/var/lib/zookeeper/myid" in read_script(_host(inventory, "zk-a"), inventory.cluster).text


def test_live_ids_are_read_from_myid_and_meta_properties(inventory) -> None:
    zk = parse_live_ids(_host(inventory, "zk-a"), inventory.cluster, _output({"/var/lib/zookeeper/myid": "3\n"}))
    assert zk == [LiveId("zookeeper_id", 3, "zk-a:/var/lib/zookeeper/myid")]
    broker = parse_live_ids(_host(inventory, "kafka-a"), inventory.cluster, _output(
        {"/var/lib/kafka/data/meta.properties": "version=0\nbroker.id=12\ncluster.id=AbC\n"}))
    assert broker == [LiveId("broker_id", 12, "kafka-a:/var/lib/kafka/data/meta.properties")]
    controller = parse_live_ids(_host(inventory, "ctl-a"), inventory.cluster, _output(
        {"/var/lib/kafka/metadata/meta.properties": "version=1\nnode.id=3000\ncluster.id=AbC\n"}))
    assert controller == [LiveId("node_id", 3000, "ctl-a:/var/lib/kafka/metadata/meta.properties")]
    assert parse_live_ids(_host(inventory, "kafka-a"), inventory.cluster, "") == []


@pytest.mark.parametrize("content", ["version=0\ncluster.id=x\n", "broker.id=-1\n", "broker.id=1; rm -rf /\n",
                                     "broker.id=1\nnode.id=2\n", "broker.id=٣\n"])
def test_a_file_without_a_valid_id_is_refused(inventory, content: str) -> None:
    with pytest.raises(KafkactlError, match="kafka-a:/var/lib/kafka/data/meta.properties"):
        parse_live_ids(_host(inventory, "kafka-a"), inventory.cluster, _output({"/var/lib/kafka/data/meta.properties": content}))


def test_a_live_id_wins_over_the_default_and_plan_says_where_it_came_from(inventory) -> None:
    where = "kafka-a:/var/lib/kafka/data/meta.properties"
    adopted = adopt(inventory, {"kafka-a": [LiveId("broker_id", 5, where)], "zk-a": [LiveId("zookeeper_id", 1, "zk-a:/m")]})
    assert _host(adopted, "kafka-a").broker_id == 5
    assert _host(adopted, "kafka-a").id_sources == {"broker_id": f"live: {where}"}
    assert _host(adopted, "zk-a").id_sources == {"zookeeper_id": "live: zk-a:/m"}
    assert _host(adopted, "kafka-c").broker_id == 3 and _host(adopted, "kafka-c").id_sources["broker_id"].startswith("cp-ansible")
    assert adopt(inventory, {}) == inventory


def test_an_explicit_id_that_differs_from_the_live_one_is_refused_naming_both(inventory) -> None:
    with pytest.raises(KafkactlError) as refused:
        adopt(inventory, {"kafka-b": [LiveId("broker_id", 2, "kafka-b:/var/lib/kafka/data/meta.properties")]})
    text = str(refused.value)
    assert "host kafka-b: broker_id is 7 in the inventory: " in text and "hosts.yml:7" in text
    assert "but the host has 2 (kafka-b:/var/lib/kafka/data/meta.properties)" in text
    assert "never renumbers a live node" in text and "No host was changed." in text


def test_a_live_id_that_collides_with_another_hosts_id_is_refused(inventory) -> None:
    """kafka-c's live id is kafka-a's default: the new host must get an id of its own."""
    with pytest.raises(KafkactlError, match=r"host kafka-c: broker_id 1 \(live: kafka-c:/d\) is also host kafka-a's broker_id "
                                            r"\(cp-ansible's default"):
        adopt(inventory, {"kafka-c": [LiveId("broker_id", 1, "kafka-c:/d")]})


def test_log_dirs_that_disagree_are_refused(inventory) -> None:
    with pytest.raises(KafkactlError, match="host kafka-a: the files that hold its broker_id disagree: 1 in kafka-a:/a, 2 in kafka-a:/b"):
        adopt(inventory, {"kafka-a": [LiveId("broker_id", 1, "kafka-a:/a"), LiveId("broker_id", 2, "kafka-a:/b")]})


def test_a_running_nodes_data_directories_and_ports_are_not_changed_by_a_default(tmp_path: Path) -> None:
    from kafkactl.desired import desired_state
    from kafkactl.identity import layout_refusals
    from kafkactl.plan import FileFacts, HostFacts

    def refusals(extra_vars: str) -> list[str]:
        path = tmp_path / "layout.yml"
        path.write_text(f"all:\n  vars: {{{extra_vars}}}\nzookeeper:\n  hosts: {{zk1: }}\nkafka_broker:\n  hosts: {{kafka1: }}\n")
        inventory = read_inventory(path).inventory
        desired = desired_state(inventory)
        broker = next(s for s in desired.hosts if s.host.name == "kafka1")
        rendered = next(f for f in broker.files if f.path == "/etc/kafka/server.properties")
        on_host = (rendered.content.replace("log.dirs=/var/lib/kafka/data", "log.dirs=/data/kafka")
                   .replace("INTERNAL://kafka1:9092", "INTERNAL://kafka1:19092"))
        facts = {"kafka1": HostFacts(files={rendered.path: FileFacts(on_host, "root:kafka", "0640", 0)})}
        return layout_refusals(inventory, desired, facts)

    found = refusals("")
    assert len(found) == 2
    assert found[0].startswith("host kafka1: /etc/kafka/server.properties: log.dirs is /data/kafka on the host; kafkactl's "
                               "default would make it /var/lib/kafka/data. Write kafka_broker_log_dirs in the inventory")
    assert "listeners is INTERNAL://kafka1:19092,BROKER://kafka1:9091 on the host" in found[1]
    assert "kafka_broker_listeners or kafka_broker_custom_listeners" in found[1]
    written = refusals("kafka_broker_log_dirs: [/var/lib/kafka/data], kafka_broker_custom_listeners: {internal: {port: 9092}}")
    assert written == []


def test_data_another_account_owns_is_refused_and_roots_is_taken_over(tmp_path: Path) -> None:
    from kafkactl.desired import desired_state
    from kafkactl.identity import layout_refusals
    from kafkactl.plan import HostFacts

    path = tmp_path / "owners.yml"
    path.write_text("zookeeper:\n  hosts: {zk1: }\nkafka_broker:\n  hosts: {kafka1: }\n")
    inventory = read_inventory(path).inventory
    desired = desired_state(inventory)

    def refusals(owner: str) -> list[str]:
        facts = {"kafka1": HostFacts(directory_owners={"/var/lib/kafka/data": f"{owner} 0750", "/etc/kafka": "root:root 0755"})}
        return layout_refusals(inventory, desired, facts)

    assert refusals("cp-kafka:confluent") == [
        "host kafka1: /var/lib/kafka/data belongs to cp-kafka:confluent, but the services would run as kafka:kafka; write "
        "kafka_service_user: cp-kafka and kafka_service_group: confluent to keep the account that owns the data"]
    assert refusals("root:root") == [] and refusals("kafka:kafka") == []


def test_a_kafka_process_of_a_unit_the_inventory_does_not_name_is_refused(tmp_path: Path) -> None:
    from kafkactl.desired import desired_state
    from kafkactl.identity import layout_refusals
    from kafkactl.plan import HostFacts

    def refusals(extra_vars: str, *processes: tuple[str, str]) -> list[str]:
        path = tmp_path / "units.yml"
        path.write_text(f"all:\n  vars: {{{extra_vars}}}\nzookeeper:\n  hosts: {{zk1: }}\nkafka_broker:\n  hosts: {{kafka1: }}\n")
        inventory = read_inventory(path).inventory
        return layout_refusals(inventory, desired_state(inventory), {"kafka1": HostFacts(processes=frozenset(processes))})

    assert refusals("", ("kafka.Kafka", "kafka")) == [
        "host kafka1: kafka.Kafka runs as kafka.service, a unit the inventory does not name; to adopt it write "
        "kafka_broker_service_name: kafka (and the configuration file it reads as <component>_config_file), or stop it"]
    assert refusals("", ("kafka.Kafka", "")) == [
        "host kafka1: a kafka.Kafka process runs outside systemd; stop it (or run it as a systemd unit and name that unit "
        "in the inventory) before kafkactl takes the host over"]
    assert refusals("kafka_broker_service_name: kafka", ("kafka.Kafka", "kafka")) == []
    assert refusals("", ("kafka.Kafka", "kafka-broker")) == []
    # A ZooKeeper server on a host that runs only a broker is not the inventory's business.
    assert refusals("", ("org.apache.zookeeper.server.quorum.QuorumPeerMain", "zookeeper")) == []
