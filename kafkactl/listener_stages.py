"""`kafkactl migrate listeners --phase`: the inventory one step of Kafka's staged listener change applies.

The operator's inventory holds the target; the brokers' files hold where they are. Each phase is the target with
what the brokers still need from where they are (a pure function of the two, no I/O):

- add: the target's listeners beside the running ones; inter-broker traffic, the authorizer and super.users as
  they run;
- authorizer: the same, with the authorizer on; super.users names every principal a broker presents, ANONYMOUS
  on a PLAINTEXT listener they still replicate over included;
- inter-broker: inter-broker traffic on the target's listener; the old listeners and the principals the brokers
  not yet rolled still present (super.users) kept;
- remove: the target: the old listeners go, and ZooKeeper's plaintext port closes to the network when the
  target has Kafka reach ZooKeeper over TLS.

In KRaft mode a new controller listener moves in the same phases (Kafka's three rolls): add has the controllers serve
it beside the old one, inter-broker has every node reach the controllers through it, remove drops the old one.

Each is refused unless the nodes' files show the step before it done.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from kafkactl.desired import DesiredState
from kafkactl.errors import KafkactlError
from kafkactl.listener_changes import (
    controller_listener_move, enabled_mechanisms, inter_broker_listener, live_properties, protocols, reaches_controllers_through,
    zookeeper_logins, zookeeper_plain_port_open, zookeeper_sasl_required,
)
from kafkactl.model import SASL_MECHANISMS, Component, Inventory, Listener
from kafkactl.plan import HostFacts

PHASES = ("add", "authorizer", "inter-broker", "remove")
PROTOCOL_OF_MECHANISM = {mechanism: protocol for protocol, mechanism in SASL_MECHANISMS.items()}


@dataclass(frozen=True)
class Running:
    """What the phases read from the hosts' files."""

    brokers: Mapping[str, dict[str, str]]  # host -> its server.properties
    controllers: Mapping[str, dict[str, str]] = field(default_factory=dict)  # host -> its controller.properties
    zookeepers: Mapping[str, dict[str, str]] = field(default_factory=dict)  # host -> its zookeeper.properties
    zookeeper_logins: frozenset[str] = frozenset()  # the brokers and controllers that log in to ZooKeeper (SASL)

    @classmethod
    def read(cls, desired: DesiredState, facts: Mapping[str, HostFacts]) -> Running:
        return cls(live_properties(desired, facts, Component.KAFKA_BROKER), live_properties(desired, facts, Component.KAFKA_CONTROLLER),
                   live_properties(desired, facts, Component.ZOOKEEPER), frozenset(zookeeper_logins(desired, facts)))

    @property
    def zookeeper_plain_port_open(self) -> bool:
        """A ZooKeeper member serves its plaintext port to the network."""
        return any(zookeeper_plain_port_open(props) for props in self.zookeepers.values())


def staged_inventory(target: Inventory, running: Running, phase: str) -> Inventory:
    """The inventory `phase` applies: `target` with what the running nodes still need."""
    brokers = running.brokers
    if phase not in PHASES:
        raise KafkactlError(f"--phase: {phase!r} is not one of {', '.join(PHASES)}")
    if not brokers:
        raise KafkactlError(f"{target.path}: no broker has a server.properties yet; run kafkactl apply first")
    cluster = target.cluster
    wanted = {listener.name: key for key, listener in cluster.resolved_listeners.items()}
    target_inter_broker = cluster.inter_broker_listener.name
    authorizer = cluster.kafka_authorizer_enabled
    _refuse_out_of_order(target, brokers, phase, set(wanted), target_inter_broker, authorizer)
    moving_controller_listener = _controller_listener_stage(target, running, phase)
    moving_zookeeper_sasl = _zookeeper_sasl_stage(target, running, phase)
    if phase == "remove":
        return target

    kept = _kept_listeners(target, brokers, set(wanted))
    keys = {**wanted, **{listener.name: key for key, listener in kept.items()}}
    listeners = {**cluster.all_broker_listeners, **kept}
    running_order = [name for props in brokers.values() for name in _ports(props)]
    ordered = sorted(keys, key=lambda name: running_order.index(name) if name in running_order else len(running_order))
    inter_broker = target_inter_broker
    if phase in ("add", "authorizer"):
        inter_broker = _one_value(target, brokers, "inter-broker listener", inter_broker_listener)
    live_super_users = [user for props in brokers.values() for user in props.get("super.users", "").split(";") if user.strip()]
    update = {
        # the order they run in, new ones last: a phase done renders the same file again
        "kafka_broker_listeners": {keys[name]: listeners[keys[name]] for name in ordered},
        "kafka_broker_custom_listeners": {},
        "kafka_broker_inter_broker_listener_name": keys[inter_broker],
        "kafka_super_users": list(dict.fromkeys([*cluster.kafka_super_users, *live_super_users])),
    }
    if running.zookeeper_plain_port_open:  # clients other than the brokers may still use it until `remove`
        update["zookeeper_client_port_loopback_only"] = False
    if phase == "add":
        update["kafka_authorizer_enabled"] = any("authorizer.class.name" in props for props in brokers.values())
    return target.model_copy(update={"cluster": cluster.model_copy(update={**update, **moving_controller_listener, **moving_zookeeper_sasl})})


def _zookeeper_sasl_stage(target: Inventory, running: Running, phase: str) -> dict:
    """ZooKeeper DIGEST in Kafka's staged way: add has ZooKeeper accept SASL beside clients that do not log in, and the
    brokers log in; inter-broker has them set ACLs on the znodes they create (and ZkSecurityMigrator secures those
    that exist); remove has ZooKeeper require SASL."""
    cluster = target.cluster
    if cluster.zookeeper_sasl_protocol != "digest" or not running.zookeepers:
        return {}
    where = f"migrate listeners --phase {phase}"
    required = any(zookeeper_sasl_required(props) for props in running.zookeepers.values())
    setting_acls = all(props.get("zookeeper.set.acl") == "true" for props in running.brokers.values())
    if required and setting_acls:
        return {}
    if phase in ("add", "authorizer"):
        return {"zookeeper_sasl_required": required, "zookeeper_set_acl": setting_acls}
    if without := sorted(host for host, props in running.zookeepers.items() if "authProvider.sasl" not in props):
        raise KafkactlError(f"{where}: ZooKeeper on {', '.join(without)} does not accept SASL yet; run --phase add first. "
                            "No host was changed.")
    if anonymous := sorted(set(running.brokers) - running.zookeeper_logins):
        raise KafkactlError(f"{where}: {', '.join(anonymous)} do not log in to ZooKeeper yet; run --phase add first. "
                            "No host was changed.")
    if phase == "remove" and not setting_acls:
        raise KafkactlError(f"{where}: not every broker sets ZooKeeper ACLs yet; run --phase inter-broker first. "
                            "No host was changed.")
    return {"zookeeper_sasl_required": required, "zookeeper_set_acl": True}


def _controller_listener_stage(target: Inventory, running: Running, phase: str) -> dict:
    """The controller listener's part of `phase`, as Kafka moves it in KRaft in three rolls: add serves the new one
    beside the old one on the controllers, which nodes still reach them through; inter-broker puts the new one first
    everywhere (controller.listener.names, the port in controller.quorum.voters); remove drops the old one."""
    where = f"migrate listeners --phase {phase}"
    new = target.cluster.controller_listener.name
    move = controller_listener_move(new, running.controllers, running.brokers)
    if move is None:
        return {}
    if len(move.old) > 1:
        raise KafkactlError(f"{where}: the controllers serve {', '.join(move.old)} besides {new}: kafkactl moves the controller "
                            "listener from one to another; finish the move that left them first. No host was changed.")
    old = move.old[0]
    host, props = next((host, props) for host, props in sorted(running.controllers.items()) if old in protocols(props))
    previous = _listener(host, old, _ports(props)[old], props, "sasl.mechanism.controller.protocol")
    if previous.port == target.cluster.kafka_controller_port:
        raise KafkactlError(f"{target.path}: kafka_controller_port {previous.port} is the port of {old}, the controller "
                            f"listener the controllers run; give {new} a port of its own. No host was changed.")
    if phase == "add":
        return {"kafka_controller_previous_listener": previous, "kafka_controller_previous_listener_first": not move.moved}
    if move.without:
        raise KafkactlError(f"{where}: {', '.join(move.without)} do not serve the controller listener {new} yet; run --phase add "
                            "first. No host was changed.")
    if phase == "remove":
        if move.on_old:
            raise KafkactlError(f"{where}: {', '.join(move.on_old)} still reach the controllers through {old}; run --phase "
                                "inter-broker first. No host was changed.")
        return {}
    return {"kafka_controller_previous_listener": previous,
            "kafka_controller_previous_listener_first": phase == "authorizer" and not move.moved}


def _refuse_out_of_order(target: Inventory, brokers: Mapping[str, dict[str, str]], phase: str, wanted: set[str],
                         inter_broker: str, authorizer: bool) -> None:
    where = f"migrate listeners --phase {phase}"
    if phase == "authorizer" and not authorizer:
        raise KafkactlError(f"{where}: {target.path} does not switch the authorizer on (kafka_authorizer_enabled); "
                            "No host was changed.")
    if phase == "add":
        return
    missing = {host: sorted(wanted - protocols(props).keys()) for host, props in brokers.items()}
    if without := sorted(host for host, names in missing.items() if names):
        names = sorted({name for host in without for name in missing[host]})
        raise KafkactlError(f"{where}: {', '.join(without)} do not run {', '.join(names)} yet; run --phase add first. "
                            "No host was changed.")
    if phase == "authorizer":
        return
    if authorizer and (off := sorted(host for host, props in brokers.items() if "authorizer.class.name" not in props)):
        raise KafkactlError(f"{where}: the authorizer is not on on {', '.join(off)}; run --phase authorizer first. "
                            "No host was changed.")
    if phase == "remove" and (moving := sorted(h for h, props in brokers.items() if inter_broker_listener(props) != inter_broker)):
        raise KafkactlError(f"{where}: {', '.join(moving)} still replicate over another listener than {inter_broker}; "
                            "run --phase inter-broker first. No host was changed.")


def _one_value(target: Inventory, brokers: Mapping[str, dict[str, str]], what: str, read) -> str:
    values = {host: read(props) for host, props in brokers.items()}
    if len(set(values.values())) > 1:
        shown = ", ".join(f"{host} {value}" for host, value in sorted(values.items()))
        raise KafkactlError(f"{target.path}: the brokers do not agree on the {what} ({shown}); finish the phase that "
                            "was moving it first (--resume). No host was changed.")
    return next(iter(values.values()))


def _kept_listeners(target: Inventory, brokers: Mapping[str, dict[str, str]], wanted: set[str]) -> dict[str, Listener]:
    """The listeners the brokers run that the target drops, in the inventory's shape, keyed by their lower-case name."""
    controllers = {name for props in brokers.values() for name in props.get("controller.listener.names", "").split(",")}
    ports = {listener.port: listener.name for listener in target.cluster.resolved_listeners.values()}
    kept: dict[str, Listener] = {}
    for host, props in sorted(brokers.items()):
        try:
            running = _ports(props)
        except ValueError:
            raise KafkactlError(f"host {host}: server.properties: listeners={props.get('listeners')} cannot be read "
                                "(NAME://HOST:PORT, ...)") from None
        for name, port in running.items():
            if name in wanted or name in controllers or name.lower() in kept:
                continue
            if port in ports:
                raise KafkactlError(f"host {host}: listener {name} runs on port {port}, which the inventory gives to "
                                    f"{ports[port]}; give {ports[port]} a free port, move clients, then drop {name}")
            kept[_free_key(name.lower(), target)] = _listener(host, name, port, props, "sasl.mechanism.inter.broker.protocol")
    return kept


def _free_key(key: str, target: Inventory) -> str:
    taken = target.cluster.all_broker_listeners
    return key if key not in taken else next(f"{key}_{n}" for n in range(2, 100) if f"{key}_{n}" not in taken)


def _ports(props: dict[str, str]) -> dict[str, int]:
    found = {}
    for item in props.get("listeners", "").split(","):
        if "://" in item:
            name, address = item.split("://", 1)
            found[name.strip()] = int(address.rsplit(":", 1)[1])
    return found


def _listener(host: str, name: str, port: int, props: dict[str, str], own_mechanism: str) -> Listener:
    """A running listener as the inventory would declare it; `own_mechanism`: the key naming the mechanism nodes log in
    with when this listener is the one they talk to each other through."""
    protocol = protocols(props)[name]
    ssl = protocol.endswith("SSL")
    sasl = "none"
    if protocol.startswith("SASL"):
        own_listener = reaches_controllers_through(props) if own_mechanism.endswith("controller.protocol") \
            else inter_broker_listener(props)
        own = props.get(own_mechanism) if own_listener == name else None
        mechanisms = sorted(enabled_mechanisms(props, name), key=lambda mechanism: (mechanism != own, mechanism))
        unknown = [m for m in mechanisms if m not in PROTOCOL_OF_MECHANISM]
        if unknown:
            raise KafkactlError(f"host {host}: listener {name} accepts {', '.join(unknown)}, which kafkactl does not "
                                "configure; keep it in the inventory's listeners until it goes")
        sasl = ",".join(PROTOCOL_OF_MECHANISM[m] for m in mechanisms)
    client_auth = props.get(f"listener.name.{name.lower()}.ssl.client.auth") or props.get("ssl.client.auth") or "none"
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or client_auth not in ("none", "requested", "required"):
        raise KafkactlError(f"host {host}: listener {name} (port {port}) cannot be kept until --phase remove: kafkactl "
                            "declares listeners named with letters, digits and _ and ssl.client.auth none, requested "
                            "or required")
    return Listener(name=name, port=port, ssl_enabled=ssl, sasl_protocol=sasl,
                    ssl_client_authentication=client_auth if ssl else None)
