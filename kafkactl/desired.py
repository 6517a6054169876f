"""Desired state: for each host, the exact files, directories and services it should have.

A pure function of the validated inventory and the phase; it reads role data and templates but
never a host. The plan stage compares this with facts gathered from the hosts.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

import jinja2
from cryptography.hazmat.primitives.serialization import Encoding

from kafkactl.components.kafka_broker import broker_properties
from kafkactl.components.kafka_connect import connect_properties
from kafkactl.components.kafka_controller import controller_properties
from kafkactl.components.principals import certificate_in
from kafkactl.components.properties import Properties, escape_key, escape_value, format_value, parse_properties, protocol_map
from kafkactl.components.schema_registry import schema_registry_properties
from kafkactl.components.security import client_security, zookeeper_client_jaas
from kafkactl.components.topology import Topology
from kafkactl.components.zookeeper import zookeeper_properties, zookeeper_server_jaas
from kafkactl.errors import KafkactlError
from kafkactl.kafka_tools import describe_consumer_groups
from kafkactl.model import COMPONENTS, MIGRATION_PHASES, ClusterVars, Component, Host, Inventory, Phase
from kafkactl.monitoring import BLACKBOX_CONFIG, prometheus_files
from kafkactl.remote import quote
from kafkactl.resources import resource_dir
from kafkactl.roles import PackageRole, Role, expression, package_role, role

PROPERTIES: dict[Component, Callable[[Topology, Host], Properties]] = {
    Component.ZOOKEEPER: zookeeper_properties,
    Component.KAFKA_CONTROLLER: controller_properties,
    Component.KAFKA_BROKER: broker_properties,
    Component.KAFKA_CONNECT: connect_properties,
    Component.SCHEMA_REGISTRY: schema_registry_properties,
}
# Components that run from the Kafka archive's jars (Schema Registry comes from Confluent).
RUNS_KAFKA_JARS = {Component.ZOOKEEPER, Component.KAFKA_CONTROLLER, Component.KAFKA_BROKER, Component.KAFKA_CONNECT}
JVM_OPTIONS = ("-server", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20", "-Djava.awt.headless=true")


JMX_USER = "kafkactl"  # the one JMX user, read-only
TEXTFILE_DIRECTORY = "/var/lib/prometheus/node-exporter"  # where Debian's node exporter reads *.prom files
CONSUMER_LAG_READERS = 3  # the first brokers, each reading every group's lag (roles/consumer_lag/role.yml)
CONSUMER_LAG_INTERVAL_S = 60


@dataclass(frozen=True)
class JmxSecrets:
    """Where a service's JMX password lives on its host: made by jmx-password.sh.j2 before every start."""

    service: str
    directory: str = "/run/kafkactl-jmx"

    @property
    def password(self) -> str:
        """The JVM's copy: `user password`, owned by the service account, 0600."""
        return f"{self.directory}/{self.service}.password"

    @property
    def client(self) -> str:
        """Root's copy: JmxTool's --jmx-auth-prop as argument-file lines, 0600."""
        return f"{self.directory}/{self.service}.client"


def local_jmx_options(port: str, access_file: str, secrets: JmxSecrets) -> list[str]:
    """Remote JMX bound to the loopback address, for one read-only user: no other machine can reach it and
    no local user can run code through it."""
    return [
        "-Dcom.sun.management.jmxremote", f"-Dcom.sun.management.jmxremote.port={port}",
        f"-Dcom.sun.management.jmxremote.rmi.port={port}", "-Dcom.sun.management.jmxremote.host=127.0.0.1",
        "-Djava.rmi.server.hostname=127.0.0.1", "-Dcom.sun.management.jmxremote.authenticate=true",
        f"-Dcom.sun.management.jmxremote.password.file={secrets.password}",
        f"-Dcom.sun.management.jmxremote.access.file={access_file}", "-Dcom.sun.management.jmxremote.ssl=false",
    ]


@dataclass(frozen=True)
class ManagedFile:
    path: str
    content: str  # a binary file's: binary_content(data), what plans compare and show
    mode: str
    owner: str
    group: str
    component: Component | None  # None: a packaged service's file (PackagedService)
    restarts_service: bool = True
    data: bytes | None = field(default=None, repr=False)  # a binary file's bytes (a key store): never shown
    fetched_from: str | None = None  # a binary file the host fetches from this URL (content: its expected digest)
    reloadable: bool = False  # a TLS store a running broker takes without a restart (plan: "reload key stores")
    presents_sha256: str | None = None  # a reloadable key store: SHA-256 of the certificate its listeners present

    @property
    def binary(self) -> bool:
        return self.data is not None or self.fetched_from is not None

    @property
    def payload(self) -> bytes:
        return self.content.encode("utf-8") if self.data is None else self.data


def binary_content(data: bytes) -> str:
    """How a binary file is compared and shown: by its digest (its bytes may be a private key)."""
    return digest_content(hashlib.sha256(data).hexdigest())


DIGEST_PREFIX = "binary sha256:"


def digest_content(sha256: str) -> str:
    return f"{DIGEST_PREFIX}{sha256}\n"


@dataclass(frozen=True)
class Directory:
    path: str
    owner: str
    group: str
    mode: str


@dataclass(frozen=True)
class Service:
    name: str
    component: Component
    role: Role
    config: str  # its main properties file
    jaas: str | None = None  # its JAAS file, when it has one


@dataclass(frozen=True)
class PackagedService:
    """A service from a Debian package (roles/<name>/role.yml); its files are among the host's, with no component."""

    role: PackageRole
    files: tuple[str, ...]  # their paths

    @property
    def name(self) -> str:
        return self.role.service


@dataclass(frozen=True)
class HostState:
    host: Host
    components: tuple[Component, ...]
    kafka_home: str | None
    directories: tuple[Directory, ...]
    files: tuple[ManagedFile, ...]
    services: tuple[Service, ...]
    packages: tuple[PackagedService, ...] = ()  # in the order they are installed


@dataclass(frozen=True)
class DesiredState:
    phase: Phase
    hosts: tuple[HostState, ...]  # in the order hosts are first touched


def resolve_phase(inventory: Inventory, requested: Phase | None) -> Phase:
    natural = inventory.natural_phase
    if requested is None:
        if natural is None:
            raise KafkactlError(
                f"{inventory.path}: the inventory has both zookeeper and kafka_controller groups (a ZooKeeper-to-KRaft "
                f"migration); choose --phase {' | '.join(p.value for p in MIGRATION_PHASES)}"
            )
        return natural
    if requested in MIGRATION_PHASES and natural is not None:
        raise KafkactlError(
            f"{inventory.path}: --phase {requested.value} needs both a zookeeper and a kafka_controller group "
            "(the ZooKeeper-mode inventory plus its controllers)"
        )
    return requested


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(resource_dir("templates")),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["java_key"] = escape_key
    env.filters["java_value"] = escape_value
    env.filters["systemd_quote"] = systemd_quote
    env.filters["sh_quote"] = quote
    return env


def systemd_quote(assignment: str) -> str:
    """One Environment= assignment quoted as systemd unquotes it: no % specifier expands, quotes stay literal."""
    escaped = assignment.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    return f'"{escaped}"'


def _jaas(topology: Topology, component: Component) -> str | None:
    if component == Component.ZOOKEEPER:
        return zookeeper_server_jaas(topology)
    uses_zookeeper = (component == Component.KAFKA_BROKER and topology.brokers_use_zookeeper) or (
        component == Component.KAFKA_CONTROLLER and topology.controllers_migrating
    )
    return zookeeper_client_jaas(topology.cluster) if uses_zookeeper else None


def _admin_properties(topology: Topology, component: Component) -> dict[str, str]:
    """How kafkactl's own tools reach this node: the controller listener or the inter-broker one."""
    cluster = topology.cluster
    listener = cluster.quorum_listener if component == Component.KAFKA_CONTROLLER else cluster.inter_broker_listener
    return {key: format_value(value) for key, value in client_security(cluster, listener).items()}


def _component_state(
    topology: Topology, host: Host, component: Component, memo: dict[tuple[Component, str], str]
) -> tuple[list[Directory], list[ManagedFile], Service]:
    cluster = topology.cluster
    spec = role(component)
    user = {"root": "root", "service": cluster.kafka_service_user}
    group = {"root": "root", "service": cluster.kafka_service_group}
    context = {"cluster": cluster, "host": host, "component": component.value}

    def value(text: str) -> str:
        """A role.yml value; one that does not mention the host is the same for every host of the render."""
        if "host" in text:
            return expression(text).render(context)
        key = (component, text)
        if key not in memo:
            memo[key] = expression(text).render(context)
        return memo[key]

    context["service"] = service = value(spec.service)
    context["config"] = value(spec.config)
    jaas = _jaas(topology, component)
    logging = "log4j2" if cluster.kafka_major >= 4 else "log4j"  # Kafka 4 logs through log4j2, Kafka 3 through log4j
    exporter = cluster.jmx_exporter(component)
    included = {None, logging, "jaas" if jaas else None, "local_jmx" if spec.local_jmx_port else None, "jmx_exporter" if exporter else None}
    chosen = [f for f in spec.files if f.when in included]
    paths = {f.template: value(f.path) for f in chosen}

    jvm_options = list(JVM_OPTIONS)
    if "log4j.properties.j2" in paths:
        jvm_options += [f"-Dlog4j.configuration=file:{paths['log4j.properties.j2']}", f"-Dkafka.logs.dir={cluster.kafka_log_dir}"]
    if "log4j2.properties.j2" in paths:
        jvm_options += [f"-Dlog4j2.configurationFile={paths['log4j2.properties.j2']}", f"-Dkafka.logs.dir={cluster.kafka_log_dir}"]
    jmx_secrets = JmxSecrets(service)
    if spec.local_jmx_port:
        jvm_options += local_jmx_options(value(spec.local_jmx_port), paths["jmx.access.j2"], jmx_secrets)
    if "jaas.conf.j2" in paths:
        jvm_options.append(f"-Djava.security.auth.login.config={paths['jaas.conf.j2']}")
    if exporter:
        jvm_options.append(f"-javaagent:{cluster.jmxexporter_jar_path}={exporter.port}:{exporter.rules}")
    context.update(
        role=spec,
        properties=PROPERTIES[component](topology, host),
        admin_properties=_admin_properties(topology, component),
        jaas=jaas,
        heap=host.heap.get(component, spec.heap),
        environment=host.environment.get(component, {}),
        jvm_options=jvm_options,
        jmx_user=JMX_USER,
        jmx_secrets=jmx_secrets,
        jmx_password_script=paths.get("jmx-password.sh.j2"),
    )
    context["exec_start"] = value(spec.exec_start)

    env = _templates()
    files = [
        ManagedFile(
            path=paths[f.template],
            content=env.get_template(f.template).render(context),
            mode=f.mode,
            owner=user[f.owner],
            group=group[f.group],
            component=component,
            restarts_service=f.restart,
        )
        for f in chosen
    ]
    directories = [
        Directory(path, user[d.owner], group[d.group], d.mode)
        for d in spec.directories
        for path in value(d.path).splitlines()
        if path
    ]
    return directories, files, Service(service, component, spec, context["config"], paths.get("jaas.conf.j2"))


def _exporter_jar(inventory: Inventory, components: tuple[Component, ...]) -> tuple[list[Directory], list[ManagedFile]]:
    """The JMX exporter agent jar, on a host whose JVMs run it: uploaded from this machine, or fetched by the host
    from jmxexporter_jar_url and checked against jmxexporter_jar_sha256. A new jar restarts those JVMs."""
    cluster = inventory.cluster
    users = [c for c in components if cluster.jmx_exporter(c)]
    if not users:
        return [], []
    path, data, group = cluster.jmxexporter_jar_path, inventory.jmx_exporter_jar, cluster.kafka_service_group
    if data is not None:
        jar = ManagedFile(path, binary_content(data), "0640", "root", group, users[0], data=data)
    else:
        assert cluster.jmxexporter_jar_sha256 is not None  # the model requires it for a fetched jar
        jar = ManagedFile(path, digest_content(cluster.jmxexporter_jar_sha256), "0640", "root", group, users[0],
                          fetched_from=cluster.jmxexporter_jar_url)
    # like the configuration: root-owned, readable by the services' group, not writable by it
    folders = {posixpath.dirname(path)} | {posixpath.dirname(cluster.jmx_exporter(c).rules) for c in users}
    return [Directory(folder, "root", group, "0750") for folder in sorted(folders)], [jar]


def consumer_lag_reader(inventory: Inventory, directory: str = TEXTFILE_DIRECTORY) -> dict[str, str]:
    """The consumer lag reader's script and units (roles/consumer_lag/), the same on each broker that runs it; it
    writes into `directory`, node exporter's textfile directory."""
    cluster = inventory.cluster
    context = {"directory": directory, "threshold": cluster.consumer_lag_alert_threshold, "interval_s": CONSUMER_LAG_INTERVAL_S,
               "describe": describe_consumer_groups(cluster, inventory.members(Component.KAFKA_BROKER)).text}
    return {name: _templates().get_template(f"consumer-lag/{name}.j2").render(context)
            for name in ("kafkactl-consumer-lag", "kafkactl-consumer-lag.service", "kafkactl-consumer-lag.timer")}


def _packaged_services(inventory: Inventory, host: Host, contents: dict[str, str]) -> tuple[list[ManagedFile], list[PackagedService]]:
    """With a prometheus group: node exporter on every host, the consumer lag reader beside it on the first brokers,
    and on the group's hosts the blackbox exporter (when the cluster has TLS ports) and Prometheus, each with its
    files from `contents` (monitoring.prometheus_files, consumer_lag_reader)."""
    if not inventory.prometheus_hosts:
        return [], []
    names = ["node_exporter"] if inventory.cluster.node_exporter_enabled else []
    if names and host in inventory.members(Component.KAFKA_BROKER)[:CONSUMER_LAG_READERS]:
        names.append("consumer_lag")
    if host.prometheus:
        names += ["blackbox_exporter"] if BLACKBOX_CONFIG in contents else []
        names.append("prometheus")
    files: list[ManagedFile] = []
    services = []
    for name in names:
        spec = package_role(name)
        files += [ManagedFile(f.path, contents[f.content], f.mode, "root", "root", None, restarts_service=False) for f in spec.files]
        services.append(PackagedService(spec, tuple(f.path for f in spec.files)))
    return files, services


def _rendered_components(topology: Topology, host: Host) -> tuple[Component, ...]:
    return tuple(c for c in host.components if c != Component.KAFKA_CONTROLLER or topology.runs_controllers)


def _copied_stores(cluster: ClusterVars, host: Host, files: list[ManagedFile]) -> tuple[list[Directory], list[ManagedFile]]:
    """The host's key and trust store from the control machine, for the first component whose files name each;
    readable by the services' group, like their configuration, and not writable by it. A broker reloads them, unless
    it reaches the controllers over TLS."""
    assert host.copied_stores is not None
    keystore, truststore = host.copied_stores.keystore.get_secret_value(), host.copied_stores.truststore.get_secret_value()
    made: list[ManagedFile] = []
    for path, data in ((cluster.ssl_keystore_filepath, keystore), (cluster.ssl_truststore_filepath, truststore)):
        user = next((f for f in files if path in f.content and f.data is None), None)
        if user is not None:
            reloadable = user.component == Component.KAFKA_BROKER and not _reaches_controllers_over_tls(user.content)
            presents = _presented_sha256(cluster, data) if reloadable and path == cluster.ssl_keystore_filepath else None
            made.append(ManagedFile(path, binary_content(data), "0640", "root", cluster.kafka_service_group, user.component, data=data,
                                    reloadable=reloadable, presents_sha256=presents))
    directories = {posixpath.dirname(f.path) for f in made}
    return [Directory(d, "root", cluster.kafka_service_group, "0750") for d in sorted(directories)], made


def _reaches_controllers_over_tls(broker_properties: str) -> bool:
    """The broker is a TLS client of the KRaft controllers (KRaft mode, or a migration's brokers). Kafka builds the TLS
    context of those connections when the broker starts; a listener's reload does not reach it, so a broker that kept
    running on a reload would verify the controllers with its old trust store (a CA rotation cuts it off) and present
    its old certificate to them: new stores take a restart."""
    props = parse_properties(broker_properties)
    mapping = protocol_map(props)
    names = [name.strip() for name in props.get("controller.listener.names", "").split(",") if name.strip()]
    return any(mapping.get(name, name) in ("SSL", "SASL_SSL") for name in names)


def _presented_sha256(cluster: ClusterVars, keystore: bytes) -> str | None:
    """SHA-256 of the certificate TLS listeners present from this key store (None for JKS, which only Java reads)."""
    password = cluster.ssl_keystore_store_password
    leaf = certificate_in(keystore, cluster.store_type, password.get_secret_value() if password else None)
    return hashlib.sha256(leaf.public_bytes(Encoding.DER)).hexdigest() if leaf else None


def _order_key(host: Host, components: tuple[Component, ...]) -> tuple[int, int, str]:
    first = COMPONENTS.index(components[0]) if components else len(COMPONENTS)
    ids = {
        Component.ZOOKEEPER: host.zookeeper_id,
        Component.KAFKA_CONTROLLER: host.node_id,
        Component.KAFKA_BROKER: host.broker_id,
    }
    return first, (ids.get(components[0]) if components else None) or 0, host.name


def desired_state(inventory: Inventory, phase: Phase | None = None) -> DesiredState:
    topology = Topology.of(inventory, resolve_phase(inventory, phase))
    states: list[HostState] = []
    memo: dict[tuple[Component, str], str] = {}
    cluster = inventory.cluster
    monitoring = {**prometheus_files(inventory, cluster.node_exporter_enabled, cluster.prometheus_scrape_interval,
                                     written_by="kafkactl apply"),
                  **consumer_lag_reader(inventory)} if inventory.prometheus_hosts else {}
    for host in inventory.hosts:
        components = _rendered_components(topology, host)
        directories: dict[str, Directory] = {}
        files: list[ManagedFile] = []
        services: list[Service] = []
        for component in components:
            component_dirs, component_files, service = _component_state(topology, host, component, memo)
            directories.update({d.path: d for d in component_dirs})
            for managed in component_files:
                if any(f.path == managed.path for f in files):
                    raise KafkactlError(f"host {host.name}: two components would write {managed.path}; "
                                        "give each its own <component>_config_file")
            files += component_files
            services.append(service)
        if host.copied_stores:
            store_dirs, store_files = _copied_stores(inventory.cluster, host, files)
            directories.update({d.path: d for d in store_dirs})
            files += store_files
        jar_dirs, jar_files = _exporter_jar(inventory, components)
        directories.update({d.path: d for d in jar_dirs})
        files += jar_files
        package_files, packages = _packaged_services(inventory, host, monitoring)
        files += package_files
        states.append(
            HostState(
                host=host,
                components=components,
                kafka_home=inventory.cluster.kafka_home if RUNS_KAFKA_JARS & set(components) else None,
                directories=tuple(directories.values()),
                files=tuple(files),
                services=tuple(services),
                packages=tuple(packages),
            )
        )
    states.sort(key=lambda s: _order_key(s.host, s.components))
    return DesiredState(topology.phase, tuple(states))
