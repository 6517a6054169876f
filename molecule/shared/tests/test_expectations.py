"""What the hosts must hold, written here from cp-ansible's rules and defaults, not taken from kafkactl.

The other verifiers compare the hosts with `kafkactl render`; these read the scenario's inventory
file and the hosts alone. An inventory without ids or ports, as a cp-ansible user's is, must give:
ZooKeeper myid and brokers' ids = position in their group + 1, controllers' node.id = 9991 +
position; ZooKeeper on 2181 (quorum 2888, election 3888) with its data in /var/lib/zookeeper, which
brokers reach there, or on 2182 with zookeeper_ssl_enabled; brokers' listeners BROKER on 9091 and INTERNAL
on 9092 unless the inventory names and numbers its own; controllers on 9093 unless kafka_controller_port.
"""

from __future__ import annotations

import time

import pytest
import yaml

from conftest import INVENTORY, MIGRATION

CONFIG = "/etc/kafka"
ZOOKEEPER_DATA = "/var/lib/zookeeper"
ZOOKEEPER_CLIENT, ZOOKEEPER_QUORUM, ZOOKEEPER_ELECTION = 2181, 2888, 3888
ZOOKEEPER_TLS_CLIENT = 2182
BROKER_LISTENERS = {"BROKER": 9091, "INTERNAL": 9092}
CONTROLLER_PORT, FIRST_CONTROLLER_ID = 9093, 9991


def _settings() -> dict:
    return yaml.safe_load(INVENTORY.read_text())["all"].get("vars") or {}


def _broker_listeners() -> dict[str, int]:
    """cp-ansible's listeners, or those the inventory gives with a name and a port of their own."""
    given = (_settings().get("kafka_broker_listeners") or {}).values()
    return {body["name"]: body["port"] for body in given if body and {"name", "port"} <= body.keys()} or BROKER_LISTENERS


def _controller_port() -> int:
    return int(_settings().get("kafka_controller_port", CONTROLLER_PORT))


def _group(name: str) -> list[tuple[str, str]]:
    """(host, address) of the inventory group, in the file's order: positions are ids."""
    hosts = yaml.safe_load(INVENTORY.read_text())["all"]["children"].get(name, {}).get("hosts") or {}
    return [(host, (values or {}).get("ansible_host", host)) for host, values in hosts.items()]


def _members(connect, group: str, config: str) -> list[tuple[int, str, str, dict[str, str]]]:
    """(position, host, address, its config file's properties) of each member; the test is skipped without any."""
    members = _group(group)
    if not members:
        pytest.skip(f"no {group} group in this scenario")
    return [(position, host, address, _props(connect, host, f"{CONFIG}/{config}")) for position, (host, address) in enumerate(members)]


def _props(connect, host: str, path: str) -> dict[str, str]:
    """key=value lines of a host's file (ids, ports and host names need no unescaping)."""
    lines = connect(host).file(path).content_string.splitlines()
    return dict(line.split("=", 1) for line in map(str.strip, lines) if "=" in line and not line.startswith(("#", "!")))


def _listeners(value: str) -> dict[str, tuple[str, int]]:
    """NAME -> (host, port) of a Kafka listeners value."""
    found = {}
    for spec in filter(None, value.split(",")):
        name, _, endpoint = spec.partition("://")
        address, _, port = endpoint.rpartition(":")
        found[name] = (address, int(port))
    return found


def _each_one_of(values: list[str], choices: list[set[str]]) -> bool:
    """values[i] is one of choices[i] (a host by its name or its address), for every i."""
    return len(values) == len(choices) and all(value in choice for value, choice in zip(values, choices))


def _ports_listening(connect, host: str, ports: set[int]) -> set[int]:
    """Those of `ports` nothing listens on within 30 s."""
    deadline = time.monotonic() + 30
    while True:
        listening = {int(spec.rpartition(":")[2]) for spec in connect(host).socket.get_listening_sockets() if spec.startswith("tcp")}
        if ports <= listening or time.monotonic() > deadline:
            return ports - listening
        time.sleep(1)


def test_zookeeper_ids_ports_and_data_follow_cp_ansible(connect):
    members = _members(connect, "zookeeper", "zookeeper.properties")
    wrong = []
    for position, host, _, props in members:
        myid = connect(host).file(f"{ZOOKEEPER_DATA}/myid").content_string.strip()
        if myid != str(position + 1):
            wrong.append(f"{host}: myid {myid}, wanted {position + 1}")
        if (props.get("clientPort"), props.get("dataDir")) != (str(ZOOKEEPER_CLIENT), ZOOKEEPER_DATA):
            wrong.append(f"{host}: clientPort {props.get('clientPort')}, dataDir {props.get('dataDir')}")
        servers = [props.get(f"server.{peer}", "") for peer in range(1, len(members) + 1)]
        wanted = [{f"{at}:{ZOOKEEPER_QUORUM}:{ZOOKEEPER_ELECTION}" for at in (name, address)} for _, name, address, _ in members]
        if not _each_one_of(servers, wanted):
            wrong.append(f"{host}: server.N {servers}, wanted member N on {ZOOKEEPER_QUORUM}:{ZOOKEEPER_ELECTION}")
        if not MIGRATION:  # a migration scenario may end with ZooKeeper stopped
            silent = _ports_listening(connect, host, {ZOOKEEPER_CLIENT})
            wrong += [f"{host}: nothing listens on {port}" for port in sorted(silent)]
    assert not wrong, wrong


def test_broker_ids_and_listeners_follow_cp_ansible(connect):
    brokers, controllers, zookeepers = _group("kafka_broker"), _group("kafka_controller"), _group("zookeeper")
    assert brokers, f"{INVENTORY}: no kafka_broker group"
    listeners = _broker_listeners()
    zookeeper_port = ZOOKEEPER_TLS_CLIENT if _settings().get("zookeeper_ssl_enabled") else ZOOKEEPER_CLIENT
    wrong = []
    for position, (host, _) in enumerate(brokers):
        props = _props(connect, host, f"{CONFIG}/server.properties")
        given = props.get("node.id", props.get("broker.id"))
        if given != str(position + 1):
            wrong.append(f"{host}: id {given}, wanted {position + 1}")
        ports = {name: port for name, (_, port) in _listeners(props.get("listeners", "")).items()}
        if {name: ports.get(name) for name in listeners} != listeners:
            wrong.append(f"{host}: listeners {props.get('listeners')}, wanted {listeners}")
        if controllers:
            voters = props.get("controller.quorum.voters", "")
            wanted = [{f"{FIRST_CONTROLLER_ID + j}@{at}:{_controller_port()}" for at in where} for j, where in enumerate(controllers)]
            if not _each_one_of(voters.split(","), wanted):
                wrong.append(f"{host}: controller.quorum.voters {voters}, wanted ids from {FIRST_CONTROLLER_ID} on {_controller_port()}")
        else:
            servers = props.get("zookeeper.connect", "").split("/")[0].split(",")
            if not _each_one_of(servers, [{f"{at}:{zookeeper_port}" for at in where} for where in zookeepers]):
                wrong.append(f"{host}: zookeeper.connect {props.get('zookeeper.connect')}, wanted every member on {zookeeper_port}")
        silent = _ports_listening(connect, host, set(listeners.values()))
        wrong += [f"{host}: nothing listens on {port}" for port in sorted(silent)]
    assert not wrong, wrong


def test_controller_ids_and_port_follow_cp_ansible(connect):
    wrong = []
    for position, host, _, props in _members(connect, "kafka_controller", "controller.properties"):
        if (props.get("node.id"), props.get("process.roles")) != (str(FIRST_CONTROLLER_ID + position), "controller"):
            wrong.append(f"{host}: node.id {props.get('node.id')}, process.roles {props.get('process.roles')}, "
                         f"wanted {FIRST_CONTROLLER_ID + position}, controller")
        ports = [port for _, port in _listeners(props.get("listeners", "")).values()]
        if ports != [_controller_port()]:
            wrong.append(f"{host}: listeners {props.get('listeners')}, wanted one on {_controller_port()}")
        silent = _ports_listening(connect, host, {_controller_port()})
        wrong += [f"{host}: nothing listens on {port}" for port in sorted(silent)]
    assert not wrong, wrong
