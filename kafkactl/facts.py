"""Facts: what a host has of what kafkactl manages, gathered in one SSH round trip per host."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from kafkactl.components.properties import parse_properties
from kafkactl.desired import DesiredState, HostState
from kafkactl.model import ClusterVars, Component, Host, Inventory
from kafkactl.plan import FileFacts, HostFacts
from kafkactl.remote import Command, cmd, seq, sh
from kafkactl.roles import config_path, role, service_name
from kafkactl.tls_listeners import listener_ports, presented, reloaded_settings

if TYPE_CHECKING:  # the transport imports the inventory, which imports what reads these facts
    from kafkactl.transport import Connection, Transport


# The Kafka version the process $pid runs, from the kafka_2.1x-<version>.jar in the libs/ of its command line.
_VERSION_OF_PID = sh(
    "[ \"${{pid:-0}}\" -gt 0 ] && libs=$(tr '\\0' '\\n' < /proc/$pid/cmdline | grep -m1 -o '^[^:]*/libs/') && "
    "ls \"$libs\" | sed -n 's/^kafka_2\\.1[0-9]-\\([0-9][0-9.]*[0-9]\\)\\.jar$/\\1/p' | head -n 1"
)


def running_version(service: str) -> Command:
    """The Kafka version a service runs: from the kafka_2.1x-<version>.jar in the libs/ of its running process."""
    return sh("pid=$(systemctl show -p MainPID --value {name} 2>/dev/null); {version}", name=service, version=_VERSION_OF_PID)


def service_fact(service: str) -> Command:
    """`service<TAB>name<TAB>state<TAB>started (epoch)<TAB>Kafka version`, from one `systemctl show` read by the shell
    itself: a few processes per service, on every host of every plan."""
    return sh(
        "systemctl show -p ActiveState -p ActiveEnterTimestamp -p MainPID {name} 2>/dev/null | {{ state=; since=; pid=0; "
        "while IFS== read -r key value; do case $key in ActiveState) state=$value;; ActiveEnterTimestamp) since=$value;; "
        "MainPID) pid=$value;; esac; done; "
        "[ \"$state\" = active ] && since=$(date -d \"$since\" +%s 2>/dev/null) || since=0; "
        "printf \"service\\t%s\\t%s\\t%s\\t%s\\n\" {name} \"$state\" \"$since\" \"$({version})\"; }}",
        name=service, version=_VERSION_OF_PID,
    )


def installed_packages(packages: list[str]) -> Command:
    """One `package<TAB>name` line per one of these Debian packages that is installed."""
    return sh("dpkg-query -W -f '${{db:Status-Status}}\\t${{Package}}\\n' {packages} 2>/dev/null | "
              "sed -n 's/^installed\t/package\t/p'", packages=packages)


def running_processes(main_classes: list[str]) -> Command:
    """One `process<TAB>main class<TAB>unit` line per Java process running one of these main classes."""
    which = cmd("grep", "-x", "-m1", "-F", *[word for c in main_classes for word in ("-e", c)])
    return sh(
        "for pid in $(pgrep -x java); do cls=$(tr '\\0' '\\n' < /proc/$pid/cmdline 2>/dev/null | {which}) && "
        "printf 'process\\t%s\\t%s\\n' \"$cls\" \"$(sed -n 's|.*/\\([^/]*\\)\\.service$|\\1|p' /proc/$pid/cgroup | head -n 1)\"; done",
        which=which,
    )


def meta_properties_paths(state: HostState, cluster: ClusterVars) -> list[str]:
    dirs: list[str] = []
    if Component.KAFKA_BROKER in state.host.components:
        dirs += cluster.kafka_broker_log_dirs
    if Component.KAFKA_CONTROLLER in state.host.components:
        dirs.append(cluster.kafka_controller_metadata_dir)
    return [f"{d}/meta.properties" for d in dirs]


def facts_script(state: HostState, cluster: ClusterVars) -> Command:
    """A POSIX shell script printing one `kind<TAB>...` line per fact."""
    files = [f.path for f in state.files if not f.binary] + meta_properties_paths(state, cluster)
    binary = [f.path for f in state.files if f.binary]
    lines = [
        sh('printf "os\\t%s\\n" "$(. /etc/os-release 2>/dev/null; echo "$PRETTY_NAME")"'),
        sh('printf "java\\t%s\\n" "$({java} -version 2>&1 | head -n 1)"', java=cluster.java_executable),
    ]
    if state.kafka_home:
        lines.append(sh('[ -d {libs} ] && printf "kafka_home\\t%s\\n" {home}', libs=f"{state.kafka_home}/libs", home=state.kafka_home))
    for directory in state.directories:
        lines.append(sh('[ -d {path} ] && stat --printf "dir\\t%n\\t%U:%G %a\\n" {path}', path=directory.path))
    lines += [service_fact(service.name) for service in (*state.services, *state.packages)]
    if packages := [p.role.package for p in state.packages if p.role.package is not None]:
        lines.append(installed_packages(packages))
    main_classes = sorted({role(c).main_class for c in state.components})
    if main_classes:
        lines.append(running_processes(main_classes))
    readers = [(path, sh("base64 -w0 < {path}", path=path)) for path in files]
    # Binary files are compared by digest (desired.binary_content): their bytes may be a private key.
    readers += [(path, sh('printf "binary sha256:%s\\n" "$(sha256sum < {path} | cut -d " " -f 1)" | base64 -w0', path=path))
                for path in binary]
    for path, reader in readers:
        lines.append(sh(
            'if [ -f {path} ]; then stat --printf "file\\t%n\\t%U:%G %a %Y\\tx\\t" {path}; {reader}; echo; fi',
            path=path, reader=reader,
        ))
    lines.append(cmd("true"))
    return seq(*lines)


def parse_facts(output: str) -> HostFacts:
    files: dict[str, FileFacts] = {}
    directories: set[str] = set()
    directory_owners: dict[str, str] = {}
    homes: set[str] = set()
    active: set[str] = set()
    started: dict[str, int] = {}
    versions: dict[str, str] = {}
    processes: set[tuple[str, str]] = set()
    packages: set[str] = set()
    os_name = java = ""
    for line in output.splitlines():
        kind, _, rest = line.partition("\t")
        fields = rest.split("\t")
        if kind == "os":
            os_name = rest
        elif kind == "java":
            java = rest
        elif kind == "kafka_home":
            homes.add(rest)
        elif kind == "dir":
            path, _, ownership_mode = rest.partition("\t")
            directories.add(path)
            if ownership_mode.count(" ") == 1:
                ownership, mode = ownership_mode.split(" ")
                directory_owners[path] = f"{ownership} {mode.zfill(4)}"
        elif kind == "service" and len(fields) == 4:
            name, state, since, version = fields
            if state == "active":
                active.add(name)
                started[name] = int(since) if since.isdigit() else 0
                if version:
                    versions[name] = version
        elif kind == "package":
            packages.add(rest)
        elif kind == "process" and len(fields) == 2:
            processes.add((fields[0], fields[1]))
        elif kind == "file" and len(fields) == 4:
            path, meta, _, encoded = fields
            ownership, mode, mtime = meta.split(" ")
            files[path] = FileFacts(
                content=base64.b64decode(encoded).decode("utf-8", "replace"),
                owner=ownership,
                mode=mode.zfill(4),
                mtime=int(mtime),
            )
    return HostFacts(
        files=files,
        directories=frozenset(directories),
        directory_owners=directory_owners,
        kafka_homes=frozenset(homes),
        active_services=frozenset(active),
        service_started=started,
        service_versions=versions,
        processes=frozenset(processes),
        packages=frozenset(packages),
        os=os_name,
        java=java,
    )


def gather(connection: Connection, state: HostState, cluster: ClusterVars) -> HostFacts:
    facts = parse_facts(connection.run(facts_script(state, cluster), timeout=120).stdout)
    ports = _reloadable_tls_ports(state, facts, cluster)
    if not ports:
        return facts
    return dataclasses.replace(facts, presented_certificates=presented(connection, state.host.name, ports))


def _reloadable_tls_ports(state: HostState, facts: HostFacts, cluster: ClusterVars) -> list[int]:
    """A running broker's TLS ports that present the key store kafkactl ships (read as its live configuration says)."""
    keystore = next((f for f in state.files if f.presents_sha256), None)
    service = service_name(Component.KAFKA_BROKER, cluster)
    live = facts.files.get(config_path(Component.KAFKA_BROKER, cluster))
    if keystore is None or service not in facts.active_services or live is None:
        return []
    properties = parse_properties(live.content)
    return listener_ports(properties, reloaded_settings(properties, {keystore.path}))


def gather_all(transport: Transport, desired: DesiredState, cluster: ClusterVars) -> dict[str, HostFacts]:
    """Facts from every host in parallel; any host that cannot answer stops the run before a change."""
    results = transport.read_each(desired.hosts, lambda state: gather(transport.connection(state.host.name), state, cluster))
    return {state.host.name: result for state, result in results}


def running_members(inventory: Inventory, facts: Mapping[str, HostFacts], component: Component) -> list[Host]:
    """The component's hosts whose service the facts found running, in inventory order."""
    service = service_name(component, inventory.cluster)
    return [h for h in inventory.members(component) if service in facts.get(h.name, HostFacts()).active_services]


def as_running(cluster: ClusterVars, facts: HostFacts, component: Component) -> ClusterVars:
    """The cluster as the host's running service sees it, for a read or a change made before the roll that brings the
    inventory's settings: Kafka's tools of the release it runs, and the inter-broker listener its configuration
    names (the client settings kafkactl's tools use on the host, written with that configuration, are for it), and
    whether it reaches ZooKeeper over TLS."""
    update: dict[str, object] = {}
    if version := facts.service_versions.get(service_name(component, cluster)):
        update["kafka_version"] = version
    live = _live_properties(cluster, facts, component)
    key = next((key for key, listener in cluster.all_broker_listeners.items() if listener.name == live.get("inter.broker.listener.name")), None)
    if key is not None:
        update["kafka_broker_inter_broker_listener_name"] = key
    if "zookeeper.connect" in live:
        update["zookeeper_ssl_enabled"] = live.get("zookeeper.ssl.client.enable", "false").strip().lower() == "true"
    return cluster.model_copy(update=update) if update else cluster


def _live_properties(cluster: ClusterVars, facts: HostFacts, component: Component) -> dict[str, str]:
    live = facts.files.get(config_path(component, cluster))
    return parse_properties(live.content) if live else {}


def running_other_than(facts: Mapping[str, HostFacts], version: str) -> list[str]:
    """`host (service version)` for every running service on another Kafka version than `version`."""
    return sorted({f"{name} ({service} {v})" for name, f in facts.items() for service, v in f.service_versions.items() if v != version})
