"""Every host has what `kafkactl apply` promised: files, directories, Kafka, services, ports."""

from __future__ import annotations

import time

import yaml

from conftest import EPHEMERAL, INVENTORY, ZOOKEEPER_INVENTORY, kafkactl
from host_state import taken


def test_file_content_owner_and_mode(node, expected_file):
    f = node.file(expected_file.path)
    assert f.is_file
    assert f.content == expected_file.content, f"{expected_file.path} differs from `kafkactl render`"
    assert (f.user, f.group) == (expected_file.owner, expected_file.group)
    assert f.mode == expected_file.mode, f"{expected_file.path}: mode {f.mode:o}, wanted {expected_file.mode:o}"


def test_directory_exists(node, directory):
    assert node.file(directory).is_directory


def test_kafka_installed(node, name, cluster):
    home = cluster[name].install
    if cluster[name].groups == ["prometheus"]:  # a Prometheus host runs no JVM of the cluster's
        assert home is None and not node.file("/opt/kafka").exists
        return
    assert home, f"{name}: the plan names no Kafka install directory"
    version = home.rsplit("-", 1)[1]
    assert node.file(f"{home}/libs/kafka_2.13-{version}.jar").is_file


def test_service_active_and_enabled(node, service):
    unit = node.service(service)
    assert unit.is_running, node.run(f"systemctl status --no-pager {service}").stdout
    assert unit.is_enabled


def test_kafka_opts_from_the_inventory_reach_every_broker_jvm(cluster, connect):
    """KAFKA_OPTS in kafka_broker_service_environment_overrides (cp-ansible's way to add a JVM option) is on
    the running broker's command line."""
    brokers = [name for name, host in cluster.items() if "kafka-broker" in host.services]
    assert brokers
    for name in brokers:
        command_line = connect(name).run("tr '\\0' ' ' < /proc/$(systemctl show -p MainPID --value kafka-broker)/cmdline").stdout
        assert " -Dkafkactl.scenario=" in command_line, f"{name}: {command_line}"


def _listening(node) -> set[tuple[str, int]]:
    found = set()
    for spec in node.socket.get_listening_sockets():
        if spec.startswith("tcp://"):
            address, _, port = spec[len("tcp://"):].rpartition(":")
            found.add((address.removeprefix("::ffff:"), int(port)))
    return found


def test_port_listening(node, listener):
    address, port = listener
    deadline = time.monotonic() + 30
    while True:
        sockets = _listening(node)
        accepted = {("0.0.0.0", port), ("::", port)} if not address else {(address, port), ("0.0.0.0", port), ("::", port)}
        if sockets & accepted:
            return
        assert time.monotonic() < deadline, f"nothing listens on {address or '*'}:{port}; listening: {sorted(sockets)}"
        time.sleep(1)


def test_plan_finds_nothing_to_change():
    """The live plan (facts read over SSH from every host) agrees that the cluster is converged."""
    result = kafkactl("plan", str(INVENTORY), ok=(0, 2))
    assert result.returncode == 0, result.stdout
    assert "Nothing to do:" in result.stdout


def test_second_converge_changed_nothing_on_the_hosts():
    """Idempotence judged on the hosts: after the second `kafkactl apply` every configuration file, unit,
    myid and meta.properties has the checksum it had after the first, every service the same main PID and
    start time, and ZooKeeper the same znodes (molecule/shared/host_state.py)."""
    states = taken(EPHEMERAL)
    assert len(states) >= 2, f"{len(states)} host state(s) recorded; converge and idempotence each record one"
    first, second = states[0], states[1]
    # converge applies inventory.yml (a migration scenario's controllers are not in it yet)
    children = yaml.safe_load(ZOOKEEPER_INVENTORY.read_text())["all"]["children"].values()
    converged = {host for group in children for host in (group.get("hosts") or {})}
    empty = sorted(host for host in converged if not (first.get(host, {}).get("files") and first[host].get("services")))
    assert converged and not empty, f"nothing recorded for {empty or 'any host'}: {first}"
    ensemble = (yaml.safe_load(ZOOKEEPER_INVENTORY.read_text())["all"]["children"].get("zookeeper") or {}).get("hosts") or {}
    unread = sorted(host for host in ensemble if "znode cZxid" not in " ".join(first[host].get("znodes", [])))
    assert not unread, f"no znode read on {unread}: {[first[host].get('znodes') for host in unread]}"
    changed = {host: {key: sorted(set(second[host][key]) ^ set(state[key])) for key in state if second[host][key] != state[key]}
               for host, state in first.items() if second.get(host) != state}
    assert not changed, f"the second converge changed hosts: {changed}"
