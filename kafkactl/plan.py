"""Plan: the desired state compared with facts from the hosts, as per-host changes in apply order.

The comparison is pure. Offline, every host is taken as empty, which shows what a first apply does.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from kafkactl.components.properties import parse_properties
from kafkactl.desired import DesiredState, Directory, HostState, PackagedService, Service
from kafkactl.model import Component, Phase, version_key

FileAction = Literal["create", "update", "unchanged"]
ServiceAction = Literal["install and start", "start", "restart", "reload key stores", "reload", "none"]


@dataclass(frozen=True)
class FileFacts:
    content: str
    owner: str  # user:group
    mode: str  # octal, four digits
    mtime: int


@dataclass(frozen=True)
class HostFacts:
    """What a host has of what kafkactl manages; a file or service missing here is absent."""

    files: dict[str, FileFacts] = field(default_factory=dict)
    directories: frozenset[str] = frozenset()
    directory_owners: dict[str, str] = field(default_factory=dict)  # path -> "user:group mode" (four digits), where read
    kafka_homes: frozenset[str] = frozenset()
    active_services: frozenset[str] = frozenset()
    service_started: dict[str, int] = field(default_factory=dict)  # epoch seconds
    service_versions: dict[str, str] = field(default_factory=dict)  # the Kafka version each running service uses
    processes: frozenset[tuple[str, str]] = frozenset()  # (main class, systemd unit or "") of each running Kafka JVM
    presented_certificates: dict[int, str] = field(default_factory=dict)  # a broker's TLS port -> SHA-256 of what it presents
    packages: frozenset[str] = frozenset()  # the Debian packages of its packaged services that are installed
    os: str = ""
    java: str = ""


EMPTY_HOST = HostFacts()


@dataclass(frozen=True)
class PropertyChange:
    """One property of a .properties file kafkactl would add (old None), change, or drop (new None)."""

    key: str
    old: str | None
    new: str | None


@dataclass(frozen=True)
class FileChange:
    path: str
    action: FileAction
    component: Component | None  # None: a packaged service's file
    mode: str
    owner: str
    diff: str
    lines: int
    properties: tuple[PropertyChange, ...] = ()  # an update of a .properties file, property by property
    binary_size: int | None = None  # a binary file's size in bytes (shown instead of its lines)
    fetched_from: str | None = None  # a binary file the host fetches

    @property
    def size(self) -> str:
        if self.fetched_from:
            return f"fetched from {self.fetched_from}"
        return f"{self.binary_size} bytes" if self.binary_size is not None else f"{self.lines} lines"


@dataclass(frozen=True)
class ServiceChange:
    name: str
    component: Component | None  # None: a packaged service (desired.PackagedService)
    action: ServiceAction
    ready: str


@dataclass(frozen=True)
class NodeId:
    variable: str  # zookeeper_id, broker_id or node_id
    value: int
    source: str  # the inventory (file:line), cp-ansible's default, or the live host (host:path)


@dataclass(frozen=True)
class HostPlan:
    host: str
    address: str
    components: tuple[Component, ...]
    install: str | None
    directories: tuple[str, ...]
    files: tuple[FileChange, ...]
    services: tuple[ServiceChange, ...]
    system: str = ""  # what the host runs, from its facts: OS and Java
    ids: tuple[NodeId, ...] = ()
    prometheus: bool = False  # in the prometheus group

    @property
    def changed(self) -> bool:
        return bool(
            self.install
            or self.directories
            or any(f.action != "unchanged" for f in self.files)
            or any(s.action != "none" for s in self.services)
        )


@dataclass(frozen=True)
class FeatureChange:
    """A cluster-wide feature level moved with Kafka's feature tool after every host is rolled (no restart)."""

    feature: str  # metadata.version
    live: str
    wanted: str


@dataclass(frozen=True)
class VersionRoll:
    """Running services moved onto kafka_version by the roll, with the protocol kept where the cluster has it: the
    step can be undone by the same roll back until the protocol moves, in a later change of its own."""

    running: tuple[str, ...]  # the other releases running now
    wanted: str
    hosts: tuple[str, ...]
    protocol: str  # what stays: "metadata.version" (KRaft) or "inter.broker.protocol.version 3.8" (ZooKeeper mode)
    moved_by: str  # how it moves later: the inventory key and the way

    @property
    def back(self) -> bool:
        """Every running release is newer than the wanted one: a roll back."""
        return all(version_key(v) > version_key(self.wanted) for v in self.running)


@dataclass(frozen=True)
class ScramUserChange:
    """A SCRAM credential made, replaced or deleted through a running broker (no restart), or, for a new ZooKeeper-mode
    cluster, in ZooKeeper before its first broker starts; never its password."""

    user: str
    mechanism: str  # SCRAM-SHA-256 or SCRAM-SHA-512
    action: Literal["create", "update", "delete"]
    way: str = "through a running broker"


@dataclass(frozen=True)
class ConnectorChange:
    """A connector created, reconfigured or deleted through the Connect REST API (no worker restart)."""

    name: str
    action: Literal["create", "update", "delete"]
    settings: tuple[PropertyChange, ...] = ()  # its config, as before and after


@dataclass(frozen=True)
class Plan:
    phase: Phase
    offline: bool
    hosts: tuple[HostPlan, ...]
    features: tuple[FeatureChange, ...] = ()
    scram_users: tuple[ScramUserChange, ...] = ()
    connectors: tuple[ConnectorChange, ...] = ()
    version_roll: VersionRoll | None = None
    secures_znodes: bool = False  # Kafka's ZkSecurityMigrator runs once the brokers roll (they start setting ACLs)

    @property
    def changed_hosts(self) -> list[HostPlan]:
        return [h for h in self.hosts if h.changed]

    @property
    def changed(self) -> bool:
        return bool(self.changed_hosts or self.features or self.scram_users or self.connectors or self.secures_znodes)


def _diff(host: str, path: str, old: str | None, new: str) -> str:
    before = (old or "").splitlines(keepends=True)
    after = new.splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, f"{host}:{path}" if old is not None else "/dev/null", f"{host}:{path}")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _property_changes(old: str, new: str) -> tuple[PropertyChange, ...]:
    """What a host's file has that the rendered one would add, change or drop, in the rendered file's order."""
    return setting_changes(parse_properties(old), parse_properties(new))


def setting_changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[PropertyChange, ...]:
    """The settings `after` adds or changes, in its order, then those it drops."""
    changes = [PropertyChange(key, before.get(key), value) for key, value in after.items() if before.get(key) != value]
    return tuple(changes + [PropertyChange(key, value, None) for key, value in before.items() if key not in after])


def _host_plan(state: HostState, facts: HostFacts) -> HostPlan:
    name = state.host.name
    files = []
    for managed in state.files:
        current = facts.files.get(managed.path)
        owner = f"{managed.owner}:{managed.group}"
        if current is None:
            action: FileAction = "create"
        elif (current.content, current.owner, current.mode) != (managed.content, owner, managed.mode):
            action = "update"
        else:
            action = "unchanged"
        files.append(
            FileChange(
                path=managed.path,
                action=action,
                component=managed.component,
                mode=managed.mode,
                owner=owner,
                diff="" if action == "unchanged" else _diff(name, managed.path, current and current.content, managed.content),
                lines=0 if managed.binary else managed.content.count("\n"),
                properties=_property_changes(current.content, managed.content)
                if action == "update" and managed.path.endswith(".properties") else (),
                binary_size=None if managed.data is None else len(managed.data),
                fetched_from=managed.fetched_from,
            )
        )
    restarting = {f.path for f in state.files if f.restarts_service and not f.reloadable}
    reloadable = {f.path for f in state.files if f.reloadable}
    changed_components = {f.component for f in files if f.action != "unchanged" and f.path in restarting}
    reloading_components = {f.component for f in files if f.action == "update" and f.path in reloadable}
    services = []
    for service in state.services:
        unit_exists = any(f.component == service.component and f.path.endswith(".service") and f.action != "create" for f in files)
        if not unit_exists:
            action: ServiceAction = "install and start"
        elif service.name not in facts.active_services:
            action = "start"
        elif service.component in changed_components or _changed_since_start(state, facts, service):
            action = "restart"
        elif service.component in reloading_components or _presents_another_certificate(state, facts, service):
            action = "reload key stores"
        else:
            action = "none"
        services.append(ServiceChange(service.name, service.component, action, ", ".join(service.role.restart.ready)))
    changed_paths = {f.path for f in files if f.action != "unchanged"}
    services += [ServiceChange(packaged.name, None, _packaged_action(packaged, facts, changed_paths), str(packaged.role.ready or "started"))
                 for packaged in state.packages]
    install = state.kafka_home if state.kafka_home and state.kafka_home not in facts.kafka_homes else None
    return HostPlan(
        host=name,
        address=state.host.address,
        components=state.components,
        install=install,
        directories=tuple(d.path for d in state.directories if _directory_differs(d, facts)),
        files=tuple(files),
        services=tuple(services),
        system="; ".join(part for part in (facts.os, facts.java) if part),
        ids=tuple(NodeId(key, getattr(state.host, key), source) for key, source in state.host.id_sources.items()),
        prometheus=state.host.prometheus,
    )


def _packaged_action(packaged: PackagedService, facts: HostFacts, changed_paths: set[str]) -> ServiceAction:
    """Installed from its package when missing; started when stopped; reloaded (no restart) when a file changes."""
    if packaged.role.package is not None and packaged.role.package not in facts.packages:
        return "install and start"
    if packaged.name not in facts.active_services:
        return "start"
    return "reload" if changed_paths & set(packaged.files) else "none"


def _presents_another_certificate(state: HostState, facts: HostFacts, service: Service) -> bool:
    """A running broker whose TLS listeners present another certificate than its key store holds, which is unchanged
    (a run stopped between writing the store and the broker's reload)."""
    wanted = next((f.presents_sha256 for f in state.files if f.component == service.component and f.presents_sha256), None)
    read = [value for value in facts.presented_certificates.values() if len(value) == 64]
    return wanted is not None and any(value != wanted for value in read)


def _directory_differs(directory: Directory, facts: HostFacts) -> bool:
    """Missing, or not owned as wanted: a directory made by an earlier version (kafka:kafka 0755) is corrected."""
    if directory.path not in facts.directories:
        return True
    found = facts.directory_owners.get(directory.path)
    return found is not None and found != f"{directory.owner}:{directory.group} {directory.mode}"


def _changed_since_start(state: HostState, facts: HostFacts, service: Service) -> bool:
    """A file written after the service started (an earlier run stopped before restarting it); not a key store a broker
    reloaded since."""
    started = facts.service_started.get(service.name, 0)
    return started > 0 and any(
        f.component == service.component and f.restarts_service and not f.reloadable and f.path in facts.files and facts.files[f.path].mtime > started
        for f in state.files
    )


def make_plan(desired: DesiredState, facts: dict[str, HostFacts] | None = None,
              features: tuple[FeatureChange, ...] = (), scram_users: tuple[ScramUserChange, ...] = (),
              connectors: tuple[ConnectorChange, ...] = (), version_roll: VersionRoll | None = None,
              secures_znodes: bool = False) -> Plan:
    """Compare; without facts every host is taken as empty (the offline plan)."""
    return Plan(
        phase=desired.phase,
        offline=facts is None,
        hosts=tuple(_host_plan(state, (facts or {}).get(state.host.name, EMPTY_HOST)) for state in desired.hosts),
        features=features,
        scram_users=scram_users,
        connectors=connectors,
        version_roll=version_roll,
        secures_znodes=secures_znodes,
    )
