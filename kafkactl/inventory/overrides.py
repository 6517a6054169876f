"""`<component>_custom_properties` that would set what kafkactl derives from its own variables.

A node's identity, where it keeps its data, its listeners and its part in the quorum and the migration
are computed from variables that kafkactl also acts on: it makes the data directories, reads the ids
back from them, probes the ports and gates on the quorum. Written as a custom property, such a value
would leave the rendered file saying one thing and kafkactl checking another, so each is refused
with the variable that sets it. The one exception is cp-ansible's usual way of placing broker data,
`log.dirs` in kafka_broker_custom_properties: the same for every broker, it is taken as
kafka_broker_log_dirs, so the directories are made and read where the brokers keep their data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kafkactl.inventory.loader import RawHost
from kafkactl.inventory.yamlfile import Origin
from kafkactl.model import Component, Host

PHASE = "the inventory's groups and `kafkactl migrate kraft`"
# Per component: property -> the variable (or what) sets it. A key ending in "." stands for every property it begins.
SET_BY: dict[Component, dict[str, str]] = {
    Component.ZOOKEEPER: {
        "dataDir": "zookeeper_data_dir", "clientPort": "zookeeper_client_port",
        "secureClientPort": "zookeeper_secure_client_port", "server.": "zookeeper_id and the zookeeper group",
    },
    Component.KAFKA_BROKER: {
        "broker.id": "broker_id", "node.id": "broker_id", "log.dir": "kafka_broker_log_dirs",
        "listeners": "kafka_broker_listeners", "advertised.listeners": "kafka_broker_listeners",
        "listener.security.protocol.map": "kafka_broker_listeners",
        "inter.broker.listener.name": "kafka_broker_inter_broker_listener_name",
        "process.roles": PHASE, "controller.quorum.voters": PHASE, "controller.listener.names": PHASE,
        "zookeeper.connect": PHASE, "zookeeper.metadata.migration.enable": PHASE,
    },
    Component.KAFKA_CONTROLLER: {
        "node.id": "node_id", "log.dirs": "kafka_controller_metadata_dir", "log.dir": "kafka_controller_metadata_dir",
        "metadata.log.dir": "kafka_controller_metadata_dir", "listeners": "kafka_controller_port",
        "listener.security.protocol.map": "kafka_controller_port", "controller.listener.names": PHASE,
        "process.roles": PHASE, "controller.quorum.voters": PHASE, "zookeeper.connect": PHASE,
        "zookeeper.metadata.migration.enable": PHASE,
    },
}
BROKER_CUSTOM = "kafka_broker_custom_properties"


def _set_by(component: Component, name: str) -> str | None:
    managed = SET_BY.get(component, {})
    return managed.get(name) or next((v for k, v in managed.items() if k.endswith(".") and name.startswith(k)), None)


def take_broker_log_dirs(brokers: list[RawHost], values: dict[str, Any], origins: dict[str, Origin],
                         error: Callable[[Origin, str], None]) -> None:
    """A log.dirs custom property the same on every broker becomes kafka_broker_log_dirs."""
    given = {raw.name: raw for raw in brokers if "log.dirs" in (raw.vars.get(BROKER_CUSTOM) or {})}
    if not given:
        return
    first = next(iter(given.values()))
    where = first.origins[BROKER_CUSTOM]
    text = str(first.vars[BROKER_CUSTOM]["log.dirs"])
    differing = sorted(name for name, raw in given.items() if str(raw.vars[BROKER_CUSTOM]["log.dirs"]) != text)
    missing = sorted(raw.name for raw in brokers if raw.name not in given)
    if differing or missing:
        error(where, f"{BROKER_CUSTOM}: log.dirs {text!r} is not the same on every broker "
                     f"({', '.join(differing + missing)} differ); kafkactl places every broker's data with one list, "
                     "kafka_broker_log_dirs")
        return
    directories = [part.strip() for part in text.split(",") if part.strip()]
    if "kafka_broker_log_dirs" in values and values["kafka_broker_log_dirs"] != directories:
        error(where, f"{BROKER_CUSTOM}: log.dirs {text!r} contradicts kafka_broker_log_dirs "
                     f"({origins['kafka_broker_log_dirs']}); keep one of them")
        return
    values["kafka_broker_log_dirs"] = directories
    origins["kafka_broker_log_dirs"] = where


def set_by_kafkactl(component: Component, name: str) -> str | None:
    """Why a custom property is refused when kafkactl derives it from a variable, else None."""
    variable = _set_by(component, name)
    return f"is set by kafkactl from {variable}; set that instead" if variable else None


def refuse_custom_properties(hosts: list[Host], members: dict[str, RawHost], why: Callable[[Component, str], str | None],
                             error: Callable[[Origin, str], None]) -> None:
    """One error per place a custom property is refused (`why` says why), naming the hosts it reaches."""
    reached: dict[tuple[str, str, str], tuple[Origin, list[str], str]] = {}
    for host in hosts:
        for component, properties in host.custom_properties.items():
            key = f"{component.value}_custom_properties"
            for name in properties:
                reason = why(component, name)
                if reason:
                    where = members[host.name].origins[key]
                    reached.setdefault((str(where), key, name), (where, [], reason))[1].append(host.name)
    for (_, key, name), (where, names, reason) in reached.items():
        error(where, f"{key}: {name} {reason} (host{'s' if len(names) > 1 else ''} {', '.join(names)})")
