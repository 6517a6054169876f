"""From a raw Ansible-style inventory to the validated model, or a list of one-line errors.

Every error names the file (and line), the host and the key where there is one. Warnings are
returned beside the model; they never stop a run.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from kafkactl.components.principals import parse_rules
from kafkactl.components.topology import capped_replication, min_insync
from kafkactl.errors import InventoryError
from kafkactl.inventory.connection import CONNECTION_VARIABLES, SUPPORTED_VARIABLES, ansible_boolean, connection_fields
from kafkactl.inventory.loader import RawHost, RawInventory, SecretText
from kafkactl.inventory.overrides import refuse_custom_properties, set_by_kafkactl, take_broker_log_dirs
from kafkactl.inventory.key_stores import (COPY, CUSTOM_CERTS, ON_HOSTS, READ_HERE, names_key_material, operator_ca, read_key_material,
                                          take_sources)
from kafkactl.inventory.yamlfile import Origin
from kafkactl.masking import mask_named_values, names_secret
from kafkactl.model import (COMPONENTS, CONTROL_CHARACTERS, ID_FROM_INVENTORY, ID_KEYS, KAFKA_ID_MAX, SCRAM, ClusterVars,
                            Component, Host, Inventory)
from kafkactl.upgrade import unknown_to

# node.id of a controller without one in the inventory or on its host, as cp-ansible gives it: this offset
# plus its index in kafka_controller, far from the brokers' index + 1.
CONTROLLER_ID_OFFSET = 9991
ZOOKEEPER_ID_RANGE = range(1, 256)

RACK_KEY = "kafka_broker_rack"
PER_COMPONENT_HOST_KEYS = {
    "custom_properties": "{component}_custom_properties",
    "heap": "{component}_heap",
    "environment": "{component}_service_environment_overrides",
}
HOST_KEYS = {
    *SUPPORTED_VARIABLES,
    *ID_KEYS,
    RACK_KEY,
    *(pattern.format(component=c.value) for pattern in PER_COMPONENT_HOST_KEYS.values() for c in COMPONENTS),
}
HEAP_PATTERN = re.compile(r"^\d+[kmgKMG]$")
ENVIRONMENT_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Warning_:
    origin: Origin
    message: str

    def __str__(self) -> str:
        return f"{self.origin}: {self.message}"


@dataclass(frozen=True)
class Loaded:
    inventory: Inventory
    warnings: list[Warning_]


@cache
def cp_ansible_variables() -> frozenset[str]:
    listing = Path(__file__).with_name("cp_ansible_variables.txt")
    names = (line.split("\t", 1)[0].strip() for line in listing.read_text(encoding="utf-8").splitlines())
    return frozenset(n for n in names if n and not n.startswith("#"))


@cache
def cp_ansible_unsupported() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Why kafkactl does not read a cp-ansible variable: (pattern, reason) rules, the first match wins."""
    rules = yaml.safe_load(Path(__file__).with_name("cp_ansible_unsupported.yml").read_text(encoding="utf-8"))
    return tuple((re.compile(rule["match"]), rule["why"]) for rule in rules)


def unsupported_reason(name: str) -> str | None:
    return next((why for pattern, why in cp_ansible_unsupported() if pattern.fullmatch(name)), None)


# cp-ansible's component groups that kafkactl does not manage, and what runs there.
UNMANAGED_CP_ANSIBLE_GROUPS = {
    "ksql": "ksqlDB", "kafka_rest": "the REST Proxy", "control_center": "Control Center",
    "control_center_next_gen": "Control Center", "kafka_connect_replicator": "Replicator",
}


# The group whose hosts run the cluster's Prometheus (kafkactl/monitoring.py), installed from Debian's package.
PROMETHEUS_GROUP = "prometheus"
MANAGED_GROUPS = {*(c.value for c in COMPONENTS), PROMETHEUS_GROUP}


def known_variables() -> list[str]:
    return sorted({*ClusterVars.model_fields, *HOST_KEYS, *READ_HERE})


class _Problems:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[Warning_] = []

    def error(self, origin: Origin | str, message: str) -> None:
        # One problem, one line: a control character an inventory smuggled into a name is shown escaped.
        self.errors.append(CONTROL_CHARACTERS.sub(lambda m: repr(m.group())[1:-1], f"{origin}: {message}"))

    def warn(self, origin: Origin, message: str) -> None:
        self.warnings.append(Warning_(origin, message))

    def raise_if_any(self) -> None:
        if self.errors:
            raise InventoryError(*self.errors, warnings=tuple(str(w) for w in self.warnings))


def validate(raw: RawInventory) -> Loaded:
    problems = _Problems()
    _check_group_names(raw, problems)
    problems.raise_if_any()
    members = {h: raw.hosts[h] for h in sorted(raw.hosts) if raw.hosts[h].groups & MANAGED_GROUPS}
    for name, host in raw.hosts.items():
        unmanaged = sorted(host.groups & UNMANAGED_CP_ANSIBLE_GROUPS.keys())
        if unmanaged:
            what = ", ".join(f"{group} ({UNMANAGED_CP_ANSIBLE_GROUPS[group]})" for group in unmanaged)
            problems.warn(host.origin, f"host {name}: kafkactl does not manage {what}; "
                                       + ("it is ignored" if name not in members else "only its other components are"))
        elif name not in members:
            problems.warn(host.origin, f"host {name} is in no component group ({', '.join(COMPONENTS)}) nor in "
                                       f"{PROMETHEUS_GROUP}; it is ignored")
    if not any(raw.hosts[h].groups & set(COMPONENTS) for h in members):
        raise InventoryError(f"{raw.path}: no host is in a component group ({', '.join(COMPONENTS)})")

    _refuse_certificates_on_hosts(members, problems)
    key_material = take_sources(members)
    cluster_values, cluster_origins = _collect_cluster_vars(members, problems)
    copied_stores = read_key_material(key_material, members, raw.path.parent, cluster_values, cluster_origins, problems.error)
    _cp_ansible_default_user(cluster_values, cluster_origins, problems, raw.path)
    brokers = [members[name] for name in raw.members(Component.KAFKA_BROKER.value) if name in members]
    take_broker_log_dirs(brokers, cluster_values, cluster_origins, problems.error)
    cluster = _build_cluster(raw, cluster_values, cluster_origins, problems)
    positions = {component: {name: index for index, name in enumerate(raw.members(component.value))} for component in COMPONENTS}
    hosts = [_build_host(host, {c: order[host.name] for c, order in positions.items() if host.name in order}, problems)
             for host in members.values()]
    hosts = [h.model_copy(update={"copied_stores": copied_stores[h.name]}) if h and h.name in copied_stores else h for h in hosts]
    problems.raise_if_any()
    built = [h for h in hosts if h]
    refuse_custom_properties(built, members, set_by_kafkactl, problems.error)
    refuse_custom_properties(built, members, unknown_to(cluster.kafka_version), problems.error)
    _check_ids(hosts, members, problems)
    _check_topology(raw, cluster, hosts, problems)
    _check_min_insync(cluster, hosts, cluster_origins, problems)
    _check_principal_mapping_rules(cluster, cluster_origins, raw, problems)
    _check_scram_bootstrap(raw, cluster, hosts, cluster_origins, problems)
    _check_ports(cluster, hosts, members, problems)
    exporter_jar = _uploaded_exporter_jar(cluster, cluster_origins, raw.path.parent, problems)
    problems.raise_if_any()
    inventory = Inventory(
        path=str(raw.path),
        cluster=cluster,
        hosts=tuple(h for h in hosts if h is not None),
        # cluster_values too: cp-ansible's default password, filled in there, is a secret like any looked-up one.
        secret_values=tuple(sorted(s for s in _secret_texts([*(h.vars for h in members.values()), cluster_values]) if s)),
        key_stores_by_kafkactl=cluster.serves_tls and not any(map(names_key_material, members.values()))
        and not {"ssl_keystore_store_password", "ssl_keystore_filepath"} & cluster.model_fields_set,
        operator_ca=operator_ca(members, raw.path.parent),
        jmx_exporter_jar=exporter_jar,
    )
    return Loaded(inventory, problems.warnings)


def _uploaded_exporter_jar(cluster: ClusterVars, origins: dict[str, Origin], base: Path, problems: _Problems) -> bytes | None:
    """The JMX exporter agent jar read from this machine (jmxexporter_url_remote: false), once, to upload to the hosts."""
    if cluster.jmxexporter_url_remote or not cluster.jmxexporter_jar_url or not any(map(cluster.jmx_exporter, COMPONENTS)):
        return None
    path = base / Path(cluster.jmxexporter_jar_url).expanduser()
    origin = origins.get("jmxexporter_jar_url", Origin(str(base)))
    try:
        data = path.read_bytes()
    except OSError as exc:
        problems.error(origin, f"jmxexporter_jar_url: cannot read {path}: {exc.strerror}")
        return None
    digest, expected = hashlib.sha256(data).hexdigest(), cluster.jmxexporter_jar_sha256
    if expected and digest != expected:
        problems.error(origin, f"jmxexporter_jar_url: {path} has SHA-256 {digest}, jmxexporter_jar_sha256 says {expected}")
    elif not data.startswith(b"PK"):
        problems.error(origin, f"jmxexporter_jar_url: {path} is not a jar")
    else:
        return data
    return None


def _check_group_names(raw: RawInventory, problems: _Problems) -> None:
    grouped = {child for managed in MANAGED_GROUPS for child in _descendants(raw, managed)}
    for name, group in raw.groups.items():
        if name in MANAGED_GROUPS or name == "all" or name in grouped:  # a child group (per rack, say) of a component group
            continue
        close = difflib.get_close_matches(name, sorted(MANAGED_GROUPS), n=1, cutoff=0.75)
        if close:
            problems.error(
                group.origin,
                f"group {name!r} is not a component group; did you mean {close[0]!r}? "
                f"(component groups: {', '.join(COMPONENTS)}; and {PROMETHEUS_GROUP})",
            )


def _descendants(raw: RawInventory, name: str) -> set[str]:
    found: set[str] = set()
    for child in raw.groups[name].children if name in raw.groups else ():
        found |= {child} | _descendants(raw, child)
    return found


def _refuse_certificates_on_hosts(members: dict[str, RawHost], problems: _Problems) -> None:
    """cp-ansible builds stores on the hosts from PEM files there; kafkactl makes them on this machine only."""
    on_hosts = ON_HOSTS[CUSTOM_CERTS]
    building = [raw for raw in members.values()
                if ansible_boolean(raw.vars.get(CUSTOM_CERTS, False)) and ansible_boolean(raw.vars.get(on_hosts, False))]
    if building:
        problems.error(building[0].origins[on_hosts], f"{on_hosts}: kafkactl makes stores of custom certificates on this "
                       f"machine only: set {on_hosts}: false and name the files here, or put stores on the hosts "
                       f"({COPY}: true, {ON_HOSTS[COPY]}: true)")


def _collect_cluster_vars(members: dict[str, RawHost], problems: _Problems) -> tuple[dict[str, Any], dict[str, Origin]]:
    """One value per cluster-level key: the same wherever it is set, or an error naming both places."""
    values: dict[str, Any] = {}
    origins: dict[str, Origin] = {}
    first_host: dict[str, str] = {}
    serialized: dict[int, str] = {}
    known = set(ClusterVars.model_fields)
    reported: set[str] = set()
    for host in members.values():
        for key, value in host.vars.items():
            if key in HOST_KEYS or key in READ_HERE or key.startswith("ansible_"):
                continue
            if key not in known:
                if key not in reported:
                    reported.add(key)
                    problems.warn(host.origins[key], _unknown_variable_message(key))
                continue
            if key not in values:
                values[key], origins[key], first_host[key] = value, host.origins[key], host.name
                continue
            if value is values[key]:
                continue
            ours = serialized.setdefault(id(value), json.dumps(value, sort_keys=True, default=str))
            theirs = serialized.setdefault(id(values[key]), json.dumps(values[key], sort_keys=True, default=str))
            if ours != theirs and key not in reported:
                reported.add(key)
                problems.error(
                    host.origins[key],
                    f"host {host.name}: {key} is a cluster-wide setting but differs from host {first_host[key]} "
                    f"(set at {origins[key]}); set it once, under all.vars",
                )
    return values, origins


def _unknown_variable_message(key: str) -> str:
    why = unsupported_reason(key)  # also a name of the same family cp-ansible has no default for (zookeeper_kerberos_principal)
    if why or key in cp_ansible_variables():  # a name cp-ansible defines is no typo: no hint
        return f"{key}: not supported by kafkactl: {why or 'a cp-ansible variable kafkactl does not read'}; it is ignored"
    close = difflib.get_close_matches(key, known_variables(), n=1, cutoff=0.8)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{key}: unknown variable; it is ignored{hint}"


# cp-ansible's _sasl_scram_users and _sasl_plain_users: users with published passwords, there when an inventory
# names none. A cluster cp-ansible built logs in with them.
CP_ANSIBLE_DEFAULT_USERS = ("admin", "client")


def _cp_ansible_default_user(values: dict[str, Any], origins: dict[str, Origin], problems: _Problems, path: Path) -> None:
    """The brokers' SASL user from cp-ansible's defaults when the inventory uses SASL but does not define it, as
    cp-ansible does; said loudly, since its password is public."""
    user = values.get("kafka_broker_sasl_user", "admin")
    listeners = [*(values.get("kafka_broker_listeners") or {}).values(), *(values.get("kafka_broker_custom_listeners") or {}).values()]
    protocols = {part.strip().lower() for p in [values.get("sasl_protocol"), values.get("kafka_controller_sasl_protocol"),
                                                *(entry.get("sasl_protocol") for entry in listeners if isinstance(entry, dict))]
                 if p for part in str(p).split(",")}
    if user not in CP_ANSIBLE_DEFAULT_USERS or not protocols & {"plain", "scram", "scram256"}:
        return
    plain_users = values.get("sasl_plain_users") or {}
    field = "sasl_plain_users" if plain_users and "plain" in protocols else "sasl_scram_users"
    users = values.get(field) or {}
    if not isinstance(users, dict) or user in users:
        return
    values[field] = {**users, user: {"principal": user, "password": SecretText(f"{user}-secret")}}
    problems.warn(origins.get(field) or origins.get("sasl_protocol") or Origin(str(path)),
                  f"{field}: no entry {user}: cp-ansible's default user {user} is used, with the password cp-ansible "
                  "publishes for it (a cluster cp-ansible built logs in with it); give it a password of your own")


def _build_cluster(raw: RawInventory, values: dict[str, Any], origins: dict[str, Origin], problems: _Problems) -> ClusterVars:
    try:
        return ClusterVars.model_validate(values)
    except ValidationError as exc:
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            message = err["msg"].removeprefix("Value error, ")
            if loc:
                where = origins.get(loc[0], Origin(str(raw.path)))
                problems.error(where, f"{'.'.join(loc)}: {message}{_got(err)}")
            else:
                # A check across several variables: point at the first of them the inventory sets.
                mentioned = [key for key in origins if re.search(rf"\b{key}\b", message)]
                problems.error(origins[mentioned[0]] if mentioned else Origin(str(raw.path)), message)
        problems.raise_if_any()
        raise AssertionError("unreachable")


def _got(err: dict[str, Any]) -> str:
    """The offending value, unless it is (or may hold) a secret: a password, a user entry, a lookup."""
    if err["type"] in ("missing", "value_error") or isinstance(err.get("input"), dict):
        return ""
    shown = err["input"]
    if isinstance(shown, SecretText) or any(names_secret(str(part)) or str(part).endswith("_users") for part in err["loc"]):
        return ""
    return f" (got {shown!r})"


def _id_value(host: RawHost, key: str, problems: _Problems) -> int | None:
    value = host.vars.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and re.fullmatch(r"\s*[0-9]+\s*", value):
            return int(value)
        problems.error(host.origins[key], f"host {host.name}: {key}: must be a whole number, got {value!r}")
        return None
    if value < 0:
        problems.error(host.origins[key], f"host {host.name}: {key}: must not be negative, got {value}")
        return None
    return value


def _check_kafka_id(raw: RawHost, key: str, value: int | None, problems: _Problems) -> None:
    if value is not None and value > KAFKA_ID_MAX:
        problems.error(raw.origins.get(key, raw.origin),
                       f"host {raw.name}: {key}: must be at most {KAFKA_ID_MAX} (Kafka ids are 32-bit), got {value}")


def _default_id(component: Component, position: int) -> tuple[int, str]:
    """cp-ansible's id for the host at `position` (0-based) of a component group, and how to say where it came from."""
    offset = CONTROLLER_ID_OFFSET if component is Component.KAFKA_CONTROLLER else 1
    return offset + position, f"cp-ansible's default: {offset} + its index {position} in {component.value}"


def _build_host(raw: RawHost, positions: dict[Component, int], problems: _Problems) -> Host | None:
    components = tuple(c for c in COMPONENTS if c.value in raw.groups)
    fields: dict[str, Any] = {"name": raw.name, "address": raw.name, "components": components,
                              "prometheus": PROMETHEUS_GROUP in raw.groups}
    fields.update(connection_fields(
        raw.vars,
        error=lambda key, message: problems.error(raw.origins.get(key, raw.origin), f"host {raw.name}: {message}"),
        warn=lambda key, message: problems.warn(raw.origins.get(key, raw.origin), f"host {raw.name}: {message}"),
    ))
    if RACK_KEY in raw.vars:
        fields["rack"] = str(raw.vars[RACK_KEY])
        if CONTROL_CHARACTERS.search(fields["rack"]):
            problems.error(raw.origins[RACK_KEY], f"host {raw.name}: {RACK_KEY}: must not contain control characters")
            del fields["rack"]

    zookeeper_id = _id_value(raw, "zookeeper_id", problems)
    broker_id = _id_value(raw, "broker_id", problems)
    node_id = _id_value(raw, "node_id", problems)
    sources: dict[str, str] = {}

    def chosen(key: str, explicit: int | None, component: Component) -> int:
        if explicit is not None:
            sources[key] = f"{ID_FROM_INVENTORY}: {raw.origins.get(key, raw.origin)}"
            return explicit
        value, sources[key] = _default_id(component, positions[component])
        return value

    if Component.ZOOKEEPER in components:
        fields["zookeeper_id"] = chosen("zookeeper_id", zookeeper_id, Component.ZOOKEEPER)
        if fields["zookeeper_id"] not in ZOOKEEPER_ID_RANGE:
            where = raw.origins.get("zookeeper_id", raw.origin)
            problems.error(where, f"host {raw.name}: zookeeper_id: must be between 1 and 255, got {fields['zookeeper_id']}")
    if Component.KAFKA_BROKER in components:
        if broker_id is not None and node_id is not None and broker_id != node_id:
            problems.error(raw.origins["node_id"], f"host {raw.name}: broker_id {broker_id} and node_id {node_id} differ; a broker has one id")
        key = "node_id" if broker_id is None and node_id is not None else "broker_id"
        fields["broker_id"] = chosen(key, broker_id if broker_id is not None else node_id, Component.KAFKA_BROKER)
        sources.setdefault("broker_id", sources.pop(key))
        _check_kafka_id(raw, key, fields["broker_id"], problems)
    if Component.KAFKA_CONTROLLER in components:
        fields["node_id"] = chosen("node_id", node_id, Component.KAFKA_CONTROLLER)
        _check_kafka_id(raw, "node_id", fields["node_id"], problems)
    fields["id_sources"] = sources

    for field, pattern in PER_COMPONENT_HOST_KEYS.items():
        per_component: dict[Component, Any] = {}
        for component in components:
            key = pattern.format(component=component.value)
            if key in raw.vars:
                per_component[component] = _host_setting(raw, key, field, problems)
        fields[field] = per_component
    try:
        return Host.model_validate(fields)
    except ValidationError as exc:
        for err in exc.errors():
            field = str(err["loc"][0])
            key = next((k for k, f in CONNECTION_VARIABLES.items() if f == field and k in raw.vars), field)
            where = raw.origins.get(key, raw.origin)
            problems.error(where, f"host {raw.name}: {key}: {err['msg']}{_got(err)}")
        return None


def _host_setting(raw: RawHost, key: str, field: str, problems: _Problems) -> Any:
    value = raw.vars[key]
    where = raw.origins[key]
    if field == "heap":
        if not (isinstance(value, str) and HEAP_PATTERN.fullmatch(value)):
            problems.error(where, f"host {raw.name}: {key}: expected a size such as 512m or 2g, got {value!r}")
        return str(value)
    if not isinstance(value, dict):
        problems.error(where, f"host {raw.name}: {key}: expected a mapping of names to values, got {type(value).__name__}")
        return {}
    flat: dict[str, str] = {}
    for name, item in value.items():
        if isinstance(item, (dict, list)):
            problems.error(
                where, f"host {raw.name}: {key}: {name}: expected a single value, got a nested {type(item).__name__}"
            )
        elif item is None:
            problems.error(where, f"host {raw.name}: {key}: {name}: has no value")
        elif field == "environment" and not ENVIRONMENT_NAME.fullmatch(str(name)):
            problems.error(where, f"host {raw.name}: {key}: {str(name)!r} is not an environment variable name")
        elif field == "environment" and CONTROL_CHARACTERS.search(str(item)):
            # The value may be a secret (a -D...password=... option): never echoed.
            problems.error(where, f"host {raw.name}: {key}: {name}: the value must not contain control characters")
        elif not str(name).strip():
            problems.error(where, f"host {raw.name}: {key}: a property name must not be empty")
        else:
            flat[str(name)] = ("true" if item else "false") if isinstance(item, bool) else str(item)
            if field == "environment" and (names_secret(str(name)) or mask_named_values(flat[str(name)]) != flat[str(name)]):
                problems.warn(where, f"host {raw.name}: {key}: {name} holds a secret, which every local user can read "
                                     "(systemctl show, and ps for a -D option); keep it in a properties or JAAS file")
    return flat


def _check_ids(hosts: list[Host], members: dict[str, RawHost], problems: _Problems) -> None:
    def where(host: Host, key: str) -> Origin:
        raw = members[host.name]
        return raw.origins.get(key, raw.origin)

    zookeeper_ids: dict[int, Host] = {}
    for host in hosts:
        if host.zookeeper_id is None:
            continue
        if host.zookeeper_id in zookeeper_ids:
            other = zookeeper_ids[host.zookeeper_id]
            problems.error(where(host, "zookeeper_id"), f"host {host.name}: zookeeper_id {host.zookeeper_id} is also host {other.name}'s")
        zookeeper_ids.setdefault(host.zookeeper_id, host)
    kafka_ids: dict[int, Host] = {}
    for host in hosts:
        if not (host.has(Component.KAFKA_BROKER) or host.has(Component.KAFKA_CONTROLLER)):
            continue
        key = "node_id" if host.has(Component.KAFKA_CONTROLLER) else "broker_id"
        if host.kafka_id in kafka_ids:
            other = kafka_ids[host.kafka_id]
            problems.error(
                where(host, key),
                f"host {host.name}: {key} {host.kafka_id} is also host {other.name}'s "
                "(broker and controller ids share one id space)",
            )
        kafka_ids.setdefault(host.kafka_id, host)


def _check_min_insync(cluster: ClusterVars, hosts: list[Host], origins: dict[str, Origin], problems: _Problems) -> None:
    """A min.insync.replicas the inventory sets but the cluster's size lowers is said, not done silently."""
    key = "kafka_min_insync_replicas"
    brokers = sum(1 for h in hosts if h.has(Component.KAFKA_BROKER))
    if key not in origins or not brokers:
        return
    replication = capped_replication(cluster.kafka_default_replication_factor, brokers)
    rendered = min_insync(cluster.kafka_min_insync_replicas, replication)
    if rendered != cluster.kafka_min_insync_replicas:
        problems.warn(origins[key], f"{key}: {cluster.kafka_min_insync_replicas} is rendered as min.insync.replicas={rendered}: "
                                    f"new topics get replication factor {replication} ({brokers} brokers), and acks=all "
                                    "producers must go on while one broker is down")


def _check_principal_mapping_rules(cluster: ClusterVars, origins: dict[str, Origin], raw: RawInventory, problems: _Problems) -> None:
    """Rules Kafka would refuse at start, refused before any host is touched."""
    try:
        parse_rules(cluster.principal_mapping_rules)
    except ValueError as exc:
        problems.error(origins.get("principal_mapping_rules", Origin(str(raw.path))), f"principal_mapping_rules: {exc}")


def _check_topology(raw: RawInventory, cluster: ClusterVars, hosts: list[Host], problems: _Problems) -> None:
    by_component = defaultdict(list)
    for host in hosts:
        for component in host.components:
            by_component[component].append(host)
    groups = raw.groups
    for host in hosts:
        if host.has(Component.KAFKA_CONTROLLER) and host.has(Component.KAFKA_BROKER):
            problems.error(
                raw.hosts[host.name].origin,
                f"host {host.name} is in both kafka_controller and kafka_broker: combined mode is not supported",
            )
    brokers = by_component[Component.KAFKA_BROKER]
    if brokers and not (by_component[Component.ZOOKEEPER] or by_component[Component.KAFKA_CONTROLLER]):
        problems.error(groups[Component.KAFKA_BROKER].origin, "kafka_broker has hosts but there is no zookeeper or kafka_controller group to coordinate them")
    external = cluster.external_kafka
    for dependent in (Component.KAFKA_CONNECT, Component.SCHEMA_REGISTRY):
        if by_component[dependent] and not brokers and not external:
            problems.error(groups[dependent].origin, f"{dependent} has hosts but the kafka_broker group has none "
                                                     "(set external_kafka_bootstrap_servers or ccloud_kafka_* for a cluster outside the inventory)")
    if external and brokers:
        what = "ccloud_kafka_enabled" if cluster.ccloud_kafka_enabled else "external_kafka_bootstrap_servers"
        problems.error(groups[Component.KAFKA_BROKER].origin, f"{what}: Connect and Schema Registry would use an external "
                       "Kafka cluster while the inventory has its own kafka_broker hosts; remove one of them")
    if by_component[Component.ZOOKEEPER] and cluster.kafka_major >= 4:
        problems.error(groups[Component.ZOOKEEPER].origin, f"kafka_version {cluster.kafka_version} has no ZooKeeper mode: migrate to KRaft on 3.9 first")
    for component in (Component.ZOOKEEPER, Component.KAFKA_CONTROLLER):
        count = len(by_component[component])
        if count == 2 and not cluster.kafkactl_allow_quorum_of_two:
            problems.error(groups[component].origin,
                           f"{component} has 2 hosts: a quorum of 2 stops when either host does, so it tolerates no failure at "
                           "all; use 3 (or 1 for a test cluster), or set kafkactl_allow_quorum_of_two: true")
        elif count and count % 2 == 0:
            problems.warn(
                groups[component].origin,
                f"{component} has {count} hosts: an even count tolerates no more failures than {count - 1}",
            )


def _check_scram_bootstrap(raw: RawInventory, cluster: ClusterVars, hosts: list[Host], origins: dict[str, Origin],
                           problems: _Problems) -> None:
    """KRaft controllers are formatted with the brokers' own SCRAM credential (`kafka-storage format
    --add-scram`), whose syntax cannot carry ',' or '"', nor whitespace before Kafka 3.9."""
    user = cluster.sasl_scram_users.get(cluster.kafka_broker_sasl_user)
    if user is None or not any(h.has(Component.KAFKA_CONTROLLER) for h in hosts) or \
            not any(listener.sasl in SCRAM for listener in cluster.resolved_listeners.values()):
        return
    text = user.principal + user.password.get_secret_value()
    unfit = sorted({"whitespace" if c.isspace() else repr(c) for c in text if c in ',"' or c.isspace()})
    if unfit:
        problems.error(origins.get("sasl_scram_users", Origin(str(raw.path))),
                       f"sasl_scram_users.{cluster.kafka_broker_sasl_user}: its principal or password holds {' and '.join(unfit)}, "
                       "which `kafka-storage format --add-scram` cannot carry (KRaft controllers are formatted with it)")


def _ports(cluster: ClusterVars, host: Host) -> list[tuple[int, str]]:
    ports: list[tuple[int, str]] = []
    if host.has(Component.ZOOKEEPER):
        ports += [(cluster.zookeeper_client_port, "zookeeper_client_port"), (cluster.zookeeper_peer_port, "zookeeper_peer_port"),
                  (cluster.zookeeper_leader_port, "zookeeper_leader_port")]
        if cluster.zookeeper_ssl_enabled:
            ports.append((cluster.zookeeper_secure_client_port, "zookeeper_secure_client_port"))
    if host.has(Component.KAFKA_CONTROLLER):
        ports += [(cluster.kafka_controller_port, "kafka_controller_port"), (cluster.kafka_controller_jmx_port, "kafka_controller_jmx_port")]
    if host.has(Component.KAFKA_BROKER):
        ports += [(listener.port, f"kafka_broker_listeners.{key}") for key, listener in cluster.all_broker_listeners.items()]
        ports.append((cluster.kafka_broker_jmx_port, "kafka_broker_jmx_port"))
    if host.has(Component.KAFKA_CONNECT):
        ports.append((cluster.kafka_connect_rest_port, "kafka_connect_rest_port"))
    if host.has(Component.SCHEMA_REGISTRY):
        ports.append((cluster.schema_registry_listener_port, "schema_registry_listener_port"))
    ports += [(exporter.port, f"{component}_jmxexporter_port")
              for component in host.components if (exporter := cluster.jmx_exporter(component))]
    return ports


def _check_ports(cluster: ClusterVars, hosts: list[Host], members: dict[str, RawHost], problems: _Problems) -> None:
    for host in hosts:
        seen: dict[int, str] = {}
        for port, key in _ports(cluster, host):
            if port in seen:
                problems.error(members[host.name].origin, f"host {host.name}: port {port} is used by both {seen[port]} and {key}")
            seen.setdefault(port, key)


def _secret_texts(variables: list[dict[str, Any]]) -> set[str]:
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, SecretText):
            found.add(str(value))
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for values in variables:
        walk(values)
    return found
