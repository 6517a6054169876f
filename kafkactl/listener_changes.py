"""Listener changes one rolling restart cannot make without an outage, refused before any host is touched.

A roll restarts one broker at a time, so for a while some brokers run the old listeners and some the new.
Kafka's way to secure a running cluster ("Incorporating Security Features in a Running Cluster") is
therefore a sequence of rolls, each safe on its own: add the new listener beside the old one; move
clients; move inter-broker traffic onto it; remove the old one. What breaks when done in one roll:

- a listener that keeps its name but changes its security protocol: every client and broker on it is
  refused by the brokers already rolled;
- inter-broker traffic moved to a listener the running brokers do not have yet: the first broker rolled
  looks for it on the others and cannot replicate;
- the listener brokers replicate over removed: the brokers not yet rolled still use it;
- the controller listener renamed: brokers and controllers lose the quorum until all are rolled;
- brokers (or controllers) logging in with a SASL mechanism the running ones do not accept yet: accept
  both first (cp-ansible's `sasl_protocol: plain,scram`), then switch;
- ZooKeeper made to require SASL, or brokers made to set ACLs on the znodes they create, while a running
  broker does not log in to ZooKeeper yet: it loses ZooKeeper, or cannot change what the others created.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from kafkactl.components.properties import parse_properties, protocol_map
from kafkactl.desired import DesiredState, HostState, Service
from kafkactl.model import Component
from kafkactl.plan import HostFacts

STEPS = "kafkactl migrate listeners INVENTORY --phase add, then (clients moved) --phase authorizer when it is switched " \
        "on, --phase inter-broker, --phase remove: one roll each (docs/operations.md, \"Securing a running cluster\")"


def protocols(properties: dict[str, str]) -> dict[str, str]:
    """Listener name -> security protocol, as Kafka reads them (a name that is a protocol maps to itself by default)."""
    mapping = protocol_map(properties)
    names = [item.split("://", 1)[0] for item in properties.get("listeners", "").split(",") if "://" in item]
    return {name: mapping.get(name, name) for name in names}


def inter_broker_listener(properties: dict[str, str]) -> str:
    return properties.get("inter.broker.listener.name") or properties.get("security.inter.broker.protocol", "PLAINTEXT")


def enabled_mechanisms(properties: dict[str, str], listener: str) -> set[str]:
    """The SASL mechanisms a listener accepts, as Kafka reads them (GSSAPI when nothing says)."""
    value = properties.get(f"listener.name.{listener.lower()}.sasl.enabled.mechanisms") or properties.get("sasl.enabled.mechanisms", "GSSAPI")
    return {item.strip() for item in value.split(",") if item.strip()}


def _new_login(where: str, live: dict[str, str], wanted: dict[str, str], listener: str, key: str) -> list[str]:
    """A login mechanism (`key`) the live listener does not accept yet."""
    mechanism = wanted.get(key, "GSSAPI")
    if not protocols(live).get(listener, "").startswith("SASL") or not protocols(wanted).get(listener, "").startswith("SASL"):
        return []
    if mechanism == live.get(key, "GSSAPI") or mechanism in enabled_mechanisms(live, listener):
        return []
    return [f"{where}: {key} would become {mechanism}, which listener {listener} of the running nodes does not accept "
            f"({', '.join(sorted(enabled_mechanisms(live, listener)))}); let it accept both first (sasl_protocol: "
            "<old>,<new>) in one apply, switch in the next"]


def configurations(desired: DesiredState, facts: Mapping[str, HostFacts],
                   components: tuple[Component, ...]) -> Iterator[tuple[HostState, Service, dict[str, str], dict[str, str]]]:
    """Each member of `components` whose host holds its configuration file: the file as the host holds it and as rendered."""
    for state in desired.hosts:
        for service in state.services:
            live = facts.get(state.host.name, HostFacts()).files.get(service.config)
            if service.component in components and live is not None:
                wanted = next(f for f in state.files if f.path == service.config)
                yield state, service, parse_properties(live.content), parse_properties(wanted.content)


def live_properties(desired: DesiredState, facts: Mapping[str, HostFacts], component: Component) -> dict[str, dict[str, str]]:
    """Each member's configuration file of `component` as its host holds it (members with none yet left out)."""
    found = {}
    for state in desired.hosts:
        for service in state.services:
            live = facts.get(state.host.name, HostFacts()).files.get(service.config)
            if service.component == component and live is not None:
                found[state.host.name] = parse_properties(live.content)
    return found


def zookeeper_plain_port_open(properties: dict[str, str]) -> bool:
    return "clientPort" in properties and properties.get("clientPortAddress") != "127.0.0.1"


def zookeeper_plain_ports_closing(desired: DesiredState, facts: Mapping[str, HostFacts]) -> dict[str, dict[str, str]]:
    """The ZooKeeper members whose plaintext port is open to the network and would close, with their live file."""
    wanted = {s.host.name: parse_properties(f.content) for s in desired.hosts for svc in s.services for f in s.files
              if svc.component == Component.ZOOKEEPER and f.path == svc.config}
    return {host: props for host, props in live_properties(desired, facts, Component.ZOOKEEPER).items()
            if zookeeper_plain_port_open(props) and not zookeeper_plain_port_open(wanted.get(host, props))}


def _zookeeper_plain_port_closing(desired: DesiredState, facts: dict[str, HostFacts]) -> list[str]:
    """ZooKeeper's plaintext port closed to the network while a running node still connects through it."""
    nodes = {**live_properties(desired, facts, Component.KAFKA_CONTROLLER), **live_properties(desired, facts, Component.KAFKA_BROKER)}
    problems = []
    for host, props in zookeeper_plain_ports_closing(desired, facts).items():
        port = props["clientPort"]
        users = sorted(node for node, node_props in nodes.items()
                       if any(address.rsplit(":", 1)[-1].split("/")[0] == port
                              for address in node_props.get("zookeeper.connect", "").split(",")))
        if users:
            problems.append(f"host {host}: ZooKeeper's plaintext port {port} would close to the network while "
                            f"{', '.join(users)} still connect to it; kafkactl migrate listeners INVENTORY --phase add "
                            "moves them to the TLS port, --phase remove then closes it")
    return problems


def reaches_controllers_through(properties: dict[str, str]) -> str:
    """The controller listener a node connects to the controllers through: the first of controller.listener.names."""
    return properties.get("controller.listener.names", "").split(",")[0]


def zookeeper_sasl_required(properties: dict[str, str]) -> bool:
    return properties.get("sessionRequireClientSASLAuth", "").strip().lower() == "true"


_JAAS_CLIENT = re.compile(r"^\s*Client\s*\{", re.MULTILINE)


def zookeeper_logins(desired: DesiredState, facts: Mapping[str, HostFacts]) -> set[str]:
    """The running brokers and controllers that log in to ZooKeeper: their JAAS file, as the host holds it, has a
    Client section."""
    found = set()
    for state in desired.hosts:
        for service in state.services:
            live = facts.get(state.host.name, HostFacts()).files.get(service.jaas) if service.jaas else None
            if service.component in (Component.KAFKA_BROKER, Component.KAFKA_CONTROLLER) and live and _JAAS_CLIENT.search(live.content):
                found.add(state.host.name)
    return found


def start_setting_zookeeper_acls(desired: DesiredState, facts: Mapping[str, HostFacts]) -> list[str]:
    """The brokers with a configuration on their host that this roll has set ACLs on the znodes they create: the znodes
    that exist then need Kafka's ZkSecurityMigrator (the zookeeper_acls step)."""
    return [state.host.name for state, _, live, wanted in configurations(desired, facts, (Component.KAFKA_BROKER,))
            if wanted.get("zookeeper.set.acl") == "true" and live.get("zookeeper.set.acl") != "true"]


def _zookeeper_sasl_changes(desired: DesiredState, facts: dict[str, HostFacts]) -> list[str]:
    """ZooKeeper made to require SASL, or a broker made to set ACLs, while a running broker does not log in yet."""
    nodes = {**live_properties(desired, facts, Component.KAFKA_CONTROLLER), **live_properties(desired, facts, Component.KAFKA_BROKER)}
    anonymous = sorted(host for host, props in nodes.items() if "zookeeper.connect" in props and host not in zookeeper_logins(desired, facts))
    if not anonymous:
        return []
    problems = []
    for state, service, live, wanted in configurations(desired, facts, (Component.ZOOKEEPER, Component.KAFKA_BROKER)):
        where = f"host {state.host.name}: {service.config}"
        if service.component == Component.ZOOKEEPER and zookeeper_sasl_required(wanted) and not zookeeper_sasl_required(live):
            problems.append(f"{where}: ZooKeeper would require SASL while {', '.join(anonymous)} do not log in to it "
                            f"yet; {STEPS}")
        if wanted.get("zookeeper.set.acl") == "true" and live.get("zookeeper.set.acl") != "true":
            problems.append(f"{where}: the broker would set ACLs on the znodes it creates while {', '.join(anonymous)} "
                            f"do not log in to ZooKeeper yet and could not change them; {STEPS}")
    return problems


def unsafe_listener_changes(desired: DesiredState, facts: dict[str, HostFacts]) -> list[str]:
    problems: list[str] = _zookeeper_plain_port_closing(desired, facts) + _zookeeper_sasl_changes(desired, facts)
    controllers = live_properties(desired, facts, Component.KAFKA_CONTROLLER)
    served = set.intersection(*(set(protocols(props)) for props in controllers.values())) if controllers else set()
    reaching = {reaches_controllers_through(props) for props in [*controllers.values(),
                *live_properties(desired, facts, Component.KAFKA_BROKER).values()]} - {""}
    for state, service, live, wanted in configurations(desired, facts, (Component.KAFKA_BROKER, Component.KAFKA_CONTROLLER)):
        where = f"host {state.host.name}: {service.config}"
        have, want = protocols(live), protocols(wanted)
        for name in sorted(have.keys() & want.keys()):
            if have[name] != want[name]:
                problems.append(f"{where}: listener {name} would change from {have[name]} to {want[name]} in one roll, "
                                f"cutting off every client and broker on it; give {want[name]} a listener of its own: {STEPS}")
        if service.component == Component.KAFKA_BROKER:
            old, new = inter_broker_listener(live), inter_broker_listener(wanted)
            if old != new and new not in have:
                problems.append(f"{where}: inter-broker traffic would move to {new}, a listener the running brokers do "
                                f"not have yet; {STEPS}")
            if old in have and old not in want and old != new:
                problems.append(f"{where}: listener {old} would be removed while the brokers not yet rolled replicate "
                                f"over it; move inter-broker traffic off it in one apply, remove it in the next")
        if service.component == Component.KAFKA_BROKER and inter_broker_listener(live) == inter_broker_listener(wanted):
            problems += _new_login(where, live, wanted, inter_broker_listener(wanted), "sasl.mechanism.inter.broker.protocol")
        if service.component == Component.KAFKA_CONTROLLER and (controller := wanted.get("controller.listener.names", "").split(",")[0]):
            problems += _new_login(where, live, wanted, controller, "sasl.mechanism.controller.protocol")
        old_controller, new_controller = reaches_controllers_through(live), reaches_controllers_through(wanted)
        if old_controller and new_controller and old_controller != new_controller and new_controller not in served:
            problems.append(f"{where}: the controller listener would change from {old_controller} to {new_controller} in "
                            f"one roll, splitting the quorum: not every running controller serves {new_controller} yet; "
                            f"{STEPS}")
        if service.component == Component.KAFKA_CONTROLLER and (closing := sorted((have.keys() - want.keys()) & reaching)):
            problems.append(f"{where}: controller listener {', '.join(closing)} would close while nodes still reach the "
                            f"controllers through it; move them first: {STEPS}")
        problems += _authorization_changes(where, live, wanted)
    return problems


def _authorization_changes(where: str, live: dict[str, str], wanted: dict[str, str]) -> list[str]:
    """The authorizer is switched on or off in an apply of its own; while inter-broker traffic moves, the nodes not yet
    rolled still present their old principal, so super.users keeps it until the old listener goes."""
    moving = inter_broker_listener(live) != inter_broker_listener(wanted) or \
        reaches_controllers_through(live) != reaches_controllers_through(wanted)
    listeners_change = moving or protocols(live) != protocols(wanted)
    if "authorizer.class.name" in wanted and "authorizer.class.name" not in live and listeners_change:
        return [f"{where}: the authorizer would be switched on in the same roll as a listener change; switch it on "
                "(kafka_authorizer_enabled) in an apply of its own: kafkactl migrate listeners INVENTORY --phase authorizer"]
    if "authorizer.class.name" in live and "authorizer.class.name" not in wanted and listeners_change:
        # The nodes not yet rolled still authorize; the rolled ones reach them through the changed listeners.
        return [f"{where}: the authorizer would be switched off in the same roll as a listener change, while the nodes "
                "not yet rolled still authorize what reaches them through it; switch it off (kafka_authorizer_enabled: "
                "false) in an apply of its own, before or after the listener change"]
    dropped = [user for user in _users(live) if user not in _users(wanted)]
    if "super.users" in wanted and "super.users" in live and moving and dropped:
        return [f"{where}: super.users would drop {', '.join(dropped)} while traffic moves to another listener, but the nodes "
                f"not yet rolled still present it and would be refused; add {', '.join(repr(u) for u in dropped)} to "
                "kafka_super_users for this apply, remove it in the apply that removes the old listener (kafkactl migrate "
                "listeners INVENTORY --phase inter-broker keeps it)"]
    return []


def _users(properties: dict[str, str]) -> list[str]:
    return [user.strip() for user in properties.get("super.users", "").split(";") if user.strip()]


@dataclass(frozen=True)
class BrokerListeners:
    """One broker's listeners as it runs them and as the inventory wants them, and the connections open on each
    (None when they could not be read)."""

    host: str
    live: dict[str, str]  # listener name -> security protocol
    live_inter_broker: str
    wanted: dict[str, str]
    wanted_inter_broker: str
    connections: dict[str, int] | None = None
    live_authorizer: bool = False
    wanted_authorizer: bool = False
    live_zookeeper_tls: bool = False  # connects to ZooKeeper's TLS port
    wanted_zookeeper_tls: bool = False

    @property
    def removed(self) -> list[str]:
        return sorted(self.live.keys() - self.wanted.keys())

    @property
    def step(self) -> str:
        """The next step of Kafka's sequence this broker needs."""
        if not self.live:
            return "not running yet"
        changed = sorted(name for name in self.live.keys() & self.wanted.keys() if self.live[name] != self.wanted[name])
        added = sorted(self.wanted.keys() - self.live.keys())
        if changed:
            return f"refused: {', '.join(changed)} would change protocol in place; give the new protocol a listener of its own"
        if added:
            return f"add {', '.join(f'{n} ({self.wanted[n]})' for n in added)}"
        if self.wanted_zookeeper_tls and not self.live_zookeeper_tls:
            return "add the connection to ZooKeeper's TLS port"
        if self.wanted_authorizer and not self.live_authorizer:
            return "switch the authorizer on"
        if self.live_inter_broker != self.wanted_inter_broker:
            return f"move inter-broker traffic from {self.live_inter_broker} to {self.wanted_inter_broker}"
        if self.removed:
            return _removal(self.removed, [self])
        return "at the target"


STEP_ORDER = ("refused", "add", "switch", "move", "remove", "not running", "at the target")
# The `migrate listeners --phase` that takes each step.
PHASE_OF_STEP = {"add": "add", "switch": "authorizer", "move": "inter-broker", "remove": "remove"}


def phase_of(step: str) -> str | None:
    return next((phase for start, phase in PHASE_OF_STEP.items() if step.startswith(start)), None)


def _removal(names: list[str], brokers: list[BrokerListeners]) -> str:
    """The last step, with what the brokers say about the clients still on the listeners it removes."""
    step = f"remove {', '.join(names)}"
    if any(b.connections is None for b in brokers if b.live):
        return f"{step} once no client uses it (connections per listener could not be read on every broker)"
    still = {name: sum(b.connections.get(name, 0) for b in brokers if b.connections is not None) for name in names}
    if not any(still.values()):
        return f"{step}: no connection open on it"
    return f"{step} once no client uses it: " + ", ".join(f"{name} has {count} open connections" for name, count in still.items() if count)


def broker_listeners(desired: DesiredState, facts: dict[str, HostFacts],
                     connections: Mapping[str, dict[str, int] | None] | None = None) -> list[BrokerListeners]:
    found = []
    for state in desired.hosts:
        for service in state.services:
            if service.component != Component.KAFKA_BROKER:
                continue
            live_file = facts.get(state.host.name, HostFacts()).files.get(service.config)
            live = parse_properties(live_file.content) if live_file else {}
            wanted = parse_properties(next(f for f in state.files if f.path == service.config).content)
            found.append(BrokerListeners(state.host.name, protocols(live), inter_broker_listener(live) if live else "",
                                         protocols(wanted), inter_broker_listener(wanted), (connections or {}).get(state.host.name),
                                         "authorizer.class.name" in live, "authorizer.class.name" in wanted,
                                         _zookeeper_tls(live), _zookeeper_tls(wanted)))
    return found


def _zookeeper_tls(properties: dict[str, str]) -> bool:
    return properties.get("zookeeper.ssl.client.enable") == "true"


@dataclass(frozen=True)
class ControllerListenerMove:
    """Where the controllers' listener is in Kafka's three rolls from the one they serve to the inventory's."""

    wanted: str
    old: tuple[str, ...]  # what the controllers serve besides it
    without: tuple[str, ...]  # controllers that do not serve it yet
    on_old: tuple[str, ...]  # nodes that still reach the controllers through an old one
    moved: bool  # a node reaches them through the wanted one: the roll that moves the nodes has begun

    @property
    def step(self) -> str:
        if self.without:
            return f"add controller listener {self.wanted} beside {', '.join(self.old)} on the controllers"
        if self.on_old:
            return f"move the nodes' controller connections from {', '.join(self.old)} to {self.wanted} ({', '.join(self.on_old)})"
        return f"remove controller listener {', '.join(self.old)}"


def controller_listener_move(wanted: str, controllers: Mapping[str, dict[str, str]],
                             brokers: Mapping[str, dict[str, str]]) -> ControllerListenerMove | None:
    """The move from the running nodes' files (host -> properties) to `wanted`; None when the listener is not moving."""
    old = sorted({name for props in controllers.values() for name in protocols(props)} - {wanted})
    if not wanted or not old:
        return None
    reaching = {host: reaches_controllers_through(props) for host, props in {**brokers, **controllers}.items()}
    return ControllerListenerMove(wanted, tuple(old),
                                  tuple(sorted(host for host, props in controllers.items() if wanted not in protocols(props))),
                                  tuple(sorted(host for host, name in reaching.items() if name in old)),
                                  wanted in reaching.values())


def controller_listener_step(desired: DesiredState, facts: Mapping[str, HostFacts]) -> str | None:
    """Where the controllers' listener is in Kafka's three rolls towards the inventory's; None when it is not moving."""
    wanted = next((reaches_controllers_through(parse_properties(f.content)) for s in desired.hosts for svc in s.services
                   for f in s.files if svc.component == Component.KAFKA_CONTROLLER and f.path == svc.config), "")
    move = controller_listener_move(wanted, live_properties(desired, facts, Component.KAFKA_CONTROLLER),
                                    live_properties(desired, facts, Component.KAFKA_BROKER))
    return move.step if move else None


def next_step(brokers: list[BrokerListeners], zookeeper_closing: Sequence[str] = (), controllers: str | None = None) -> str:
    """The cluster's next step: the earliest any broker (or the controllers' listener, `controllers`) needs, since each
    step is one roll of every node; the removal of a listener counts the connections open on it across every broker.
    `zookeeper_closing`: the ZooKeeper members whose plaintext port the last step closes."""
    steps = sorted([*(b.step for b in brokers), *([controllers] if controllers else [])],
                   key=lambda step: next(i for i, start in enumerate(STEP_ORDER) if step.startswith(start)))
    if not steps:
        return "no brokers"
    closing = f"ZooKeeper's plaintext port on {', '.join(zookeeper_closing)}" if zookeeper_closing else ""
    if steps[0].startswith("remove"):
        removed = sorted({name for b in brokers for name in b.removed})
        parts = [_removal(removed, brokers)] if removed else []
        parts += [controllers] if controllers and controllers.startswith("remove") else []
        return "; ".join(parts) + (f"; close {closing}" if closing else "")
    if steps[0] == "at the target" and closing:
        return f"remove {closing}"
    return steps[0]
