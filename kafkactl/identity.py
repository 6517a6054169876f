"""Identity from the live hosts: a node keeps the id it already has, and the layout that makes it what it is.

An id the inventory does not set is cp-ansible's default (kafkactl/inventory/validate.py) until a host
says otherwise: ZooKeeper's myid, `broker.id` / `node.id` in every meta.properties of a broker's log
directories, a controller's `node.id`. Then the live id wins. An explicit id that differs from the
live one, two live ids on one host, or two hosts with one id stop the run before any change, naming
both sides: kafkactl never renumbers a live node.

Where its data lives (log.dirs), the ports it listens on and the account that owns its data are part of
what a node is too: a running node whose log.dirs or listener ports the inventory would change only by
kafkactl's defaults (the inventory does not write the variable) is refused, naming the variable to write,
and so are data directories another account owns (cp-ansible's cp-kafka) than the one the services would
run as, and a running Kafka or ZooKeeper process of another systemd unit than the inventory names (a
hand-built cluster's `kafka.service`): kafkactl would start a second one beside it.

The files belong to the Kafka service account, as they do to Kafka, which reads its own identity from
them. What they hold is data: a whole number in the id's range, or a refusal.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from kafkactl.components.properties import parse_properties
from kafkactl.desired import DesiredState, HostState
from kafkactl.errors import KafkactlError
from kafkactl.model import ID_FROM_INVENTORY, ID_KEYS, KAFKA_ID_MAX, ClusterVars, Component, Host, Inventory
from kafkactl.plan import HostFacts
from kafkactl.remote import Command, cmd, seq, sh
from kafkactl.roles import role, service_name
from kafkactl.transport import Transport

ZOOKEEPER_IDS = range(1, 256)
KAFKA_IDS = range(0, KAFKA_ID_MAX + 1)


@dataclass(frozen=True)
class LiveId:
    key: str  # the inventory variable: zookeeper_id, broker_id or node_id
    value: int
    where: str  # host:path


def id_files(host: Host, cluster: ClusterVars) -> dict[str, list[str]]:
    """The inventory id variable -> the files on the host that hold that id once the node has run."""
    files: dict[str, list[str]] = {}
    if host.has(Component.ZOOKEEPER):
        files["zookeeper_id"] = [f"{cluster.zookeeper_data_dir}/myid"]
    if host.has(Component.KAFKA_BROKER):
        files["broker_id"] = [f"{d}/meta.properties" for d in cluster.kafka_broker_log_dirs]
    if host.has(Component.KAFKA_CONTROLLER):
        files["node_id"] = [f"{cluster.kafka_controller_metadata_dir}/meta.properties"]
    return files


def read_script(host: Host, cluster: ClusterVars) -> Command:
    """Prints `path<TAB>base64 content` for each id file that exists."""
    paths = [path for paths in id_files(host, cluster).values() for path in paths]
    lines = [sh('if [ -f {path} ]; then printf "%s\\t" {path}; base64 -w0 < {path}; echo; fi', path=path) for path in paths]
    return seq(*lines, cmd("true"))


def parse_live_ids(host: Host, cluster: ClusterVars, output: str) -> list[LiveId]:
    """The ids the files hold; a file that holds no readable id is a refusal, never a guess."""
    contents = {}
    for line in output.splitlines():
        path, _, encoded = line.partition("\t")
        contents[path] = base64.b64decode(encoded).decode("utf-8", "replace")
    found: list[LiveId] = []
    for key, paths in id_files(host, cluster).items():
        for path in (p for p in paths if p in contents):
            where = f"{host.name}:{path}"
            if key == "zookeeper_id":
                text, valid = contents[path].strip(), ZOOKEEPER_IDS
            else:
                props = parse_properties(contents[path])
                ids = {props[k].strip() for k in ("node.id", "broker.id") if k in props}
                if len(ids) > 1:
                    raise KafkactlError(f"{where}: broker.id and node.id differ ({', '.join(sorted(ids))})")
                text, valid = (ids.pop() if ids else ""), KAFKA_IDS
            if not (text.isascii() and text.isdigit() and int(text) in valid):
                raise KafkactlError(f"{where}: holds no valid id ({text[:40]!r}); kafkactl takes a node's id from it")
            found.append(LiveId(key, int(text), where))
    return found


def read_live_ids(transport: Transport, inventory: Inventory) -> dict[str, list[LiveId]]:
    """Every host's live ids, in parallel; a host that cannot answer stops the run before a change."""
    cluster = inventory.cluster

    def read(host: Host) -> list[LiveId]:
        output = transport.connection(host.name).run(read_script(host, cluster), timeout=60).stdout
        return parse_live_ids(host, cluster, output)

    return {host.name: ids for host, ids in transport.read_each(inventory.hosts, read)}


def adopt(inventory: Inventory, live: dict[str, list[LiveId]]) -> Inventory:
    """The inventory with every unset id taken from its host; refuses what would renumber a node."""
    problems: list[str] = []
    hosts = []
    for host in inventory.hosts:
        changes: dict[str, object] = {}
        sources = dict(host.id_sources)
        for key in ID_KEYS:
            seen = [i for i in live.get(host.name, []) if i.key == key]
            values = {i.value for i in seen}
            if not seen:
                continue
            if len(values) > 1:
                problems.append(f"host {host.name}: the files that hold its {key} disagree: "
                                + ", ".join(f"{i.value} in {i.where}" for i in seen))
                continue
            value, where = seen[0].value, ", ".join(i.where for i in seen)
            if sources.get(key, "").startswith(ID_FROM_INVENTORY) and getattr(host, key) != value:
                problems.append(f"host {host.name}: {key} is {getattr(host, key)} in the {sources[key]} but the host has "
                                f"{value} ({where}); kafkactl never renumbers a live node: write {key}: {value}, or "
                                "leave it unset to keep the live id")
                continue
            changes[key] = value
            sources[key] = f"live: {where}"
        hosts.append(host.model_copy(update={**changes, "id_sources": sources}) if changes else host)
    if not problems:
        problems = _collisions(hosts)
    if problems:
        raise KafkactlError(*problems, "No host was changed.")
    return inventory.model_copy(update={"hosts": tuple(hosts)})


def _collisions(hosts: list[Host]) -> list[str]:
    problems: list[str] = []
    spaces: dict[str, dict[int, tuple[Host, str]]] = {"zookeeper_id": {}, "kafka": {}}
    for host in hosts:
        for key in ID_KEYS:
            value = getattr(host, key)
            if value is None or (key == "node_id" and not host.has(Component.KAFKA_CONTROLLER)):
                continue
            space = spaces["zookeeper_id" if key == "zookeeper_id" else "kafka"]
            if value in space:
                other, other_key = space[value]
                problems.append(f"host {host.name}: {key} {value} ({host.id_sources.get(key)}) is also host {other.name}'s "
                                f"{other_key} ({other.id_sources.get(other_key)}); set the new host's id in the inventory")
            else:
                space[value] = (host, key)
    return problems


# Per component: a property that places a node, and the inventory variables that set it.
LAYOUT = {
    Component.KAFKA_BROKER: {"log.dirs": ("kafka_broker_log_dirs",),
                             "listeners": ("kafka_broker_listeners", "kafka_broker_custom_listeners")},
    Component.KAFKA_CONTROLLER: {"log.dirs": ("kafka_controller_metadata_dir",), "listeners": ("kafka_controller_port",)},
}


def layout_refusals(inventory: Inventory, desired: DesiredState, facts: dict[str, HostFacts]) -> list[str]:
    """Running nodes whose data directories or listener ports would change by a default the inventory does not write,
    and data directories of another account than the services'."""
    written = inventory.cluster.model_fields_set
    problems: list[str] = []
    for state in desired.hosts:
        host_facts = facts.get(state.host.name, HostFacts())
        for managed in state.files:
            placing = LAYOUT.get(managed.component)
            current = host_facts.files.get(managed.path)
            if placing is None or current is None or not managed.path.endswith(".properties"):
                continue
            live, wanted = parse_properties(current.content), parse_properties(managed.content)
            for key, variables in placing.items():
                if key not in live or key not in wanted or any(v in written for v in variables):
                    continue
                have, want = _placement(key, live[key]), _placement(key, wanted[key])
                if have != want:
                    problems.append(f"host {state.host.name}: {managed.path}: {key} is {live[key]} on the host; kafkactl's "
                                    f"default would make it {wanted[key]}. Write {' or '.join(variables)} in the inventory "
                                    "to keep the host's (or to change it on purpose)")
        problems += _foreign_owners(inventory, state, host_facts)
        problems += _foreign_units(inventory.cluster, state, host_facts)
    return problems


def _foreign_units(cluster: ClusterVars, state: HostState, host_facts: HostFacts) -> list[str]:
    """A process of one of the host's components that runs under a unit the inventory does not name."""
    ours = {service_name(c, cluster) for c in state.host.components}
    problems = []
    for main_class, unit in sorted(host_facts.processes):
        if unit in ours:
            continue
        variables = [f"{c.value}_service_name" for c in state.components if role(c).main_class == main_class]
        if not variables:
            continue
        if not unit:
            problems.append(f"host {state.host.name}: a {main_class} process runs outside systemd; stop it (or run it as a "
                            "systemd unit and name that unit in the inventory) before kafkactl takes the host over")
            continue
        problems.append(f"host {state.host.name}: {main_class} runs as {unit}.service, a unit the inventory does not name; "
                        f"to adopt it write {' or '.join(f'{v}: {unit}' for v in variables)} (and the configuration file it "
                        "reads as <component>_config_file), or stop it")
    return problems


def _foreign_owners(inventory: Inventory, state: HostState, host_facts: HostFacts) -> list[str]:
    """Data another account owns (cp-ansible's cp-kafka, say): the services would run as one that cannot use it.
    A directory root owns is taken over; one of another user is someone's data, never re-owned behind their back."""
    cluster = inventory.cluster
    problems = []
    for directory in state.directories:
        found = host_facts.directory_owners.get(directory.path)
        if directory.owner != cluster.kafka_service_user or not found:
            continue
        owner, _, group = found.split()[0].partition(":")
        if owner not in ("root", cluster.kafka_service_user):
            problems.append(f"host {state.host.name}: {directory.path} belongs to {owner}:{group}, but the services would run "
                            f"as {cluster.kafka_service_user}:{cluster.kafka_service_group}; write kafka_service_user: "
                            f"{owner} and kafka_service_group: {group} to keep the account that owns the data")
    return problems


def _placement(key: str, value: str) -> frozenset[str]:
    """What matters of the value: the directories, or the listeners' ports."""
    items = [item.strip() for item in value.split(",") if item.strip()]
    return frozenset(item.rsplit(":", 1)[-1] for item in items) if key == "listeners" else frozenset(items)
