"""Executor: runs a playbook's steps against the plan, host by host, halting on the first failure.

Only hosts whose plan shows changes are touched. Services start in component order; a change to a
running service restarts it one host at a time, behind the health gates its role names.
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from kafkactl import connectors, key_store_reload, metadata_version, packages, scram_users, tls_listeners, zookeeper_acls
from kafkactl import state_dir as private
from kafkactl.components.properties import parse_properties
from kafkactl.desired import DIGEST_PREFIX, DesiredState, HostState
from kafkactl.errors import KafkactlError
from kafkactl.facts import as_running, meta_properties_paths
from kafkactl.components.topology import Topology
from kafkactl.health import (
    GATES, GateContext, Observation, broker_safe_to_stop, controller_quorum, wait_for, zookeeper_get, zookeeper_mode,
)
from kafkactl.kafka_tools import QUIET_LOGGING, inter_broker_bootstrap
from kafkactl.journal import Entry, Journal
from kafkactl.listener_changes import live_properties
from kafkactl.model import MIGRATION_PHASES, SASL_MECHANISMS, SCRAM, ClusterVars, Component, Host, Inventory, Phase, host_port
from kafkactl.plan import HostFacts, HostPlan, Plan
from kafkactl.playbook import ALL, COMPONENTS, Playbook, Step
from kafkactl.remote import Command, all_of, cmd, sh
from kafkactl.report import Report
from kafkactl.roles import expression, role, service_name
from kafkactl.transport import Connection, Transport

CLUSTER_ID_FILE = "cluster-id"
RELOAD = "reload key stores"  # the plan's service action for a broker whose only change is its TLS stores


def service_account(user: str, group: str) -> tuple[Command, Command]:
    """The system group and the login-less system user the services run as, made when missing."""
    return (
        sh("getent group {group} >/dev/null || groupadd --system {group}", group=group),
        sh("id -u {user} >/dev/null 2>&1 || useradd --system --gid {group} --no-create-home "
           "--home-dir /nonexistent --shell /usr/sbin/nologin {user}", user=user, group=group),
    )


@dataclass(frozen=True)
class RunOptions:
    forks: int = 20
    gate_timeout: float = 300.0
    limit: frozenset[str] | None = None  # host names; None means every host
    batch_size: int = 1  # brokers restarted at once by the restart command
    backup_root: Path | None = None  # where `backup` steps keep the copies pulled from the hosts


@dataclass(frozen=True)
class ClusterHooks:
    """What migration steps need beyond single hosts: completion signals and ZooKeeper writes."""

    signals: dict[str, Callable[[], Observation]]
    delete_znode: Callable[[str], None]


@dataclass
class HostOutcome:
    files: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's Uuid, which like this one
    never starts with "-", as command lines would read it as an option)."""
    while (made := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return made


def storage_format_arguments(cluster_id: str, config: str, extra: list[str]) -> list[str]:
    """kafka-storage format's main class and arguments. `--cluster-id=ID`: a ZooKeeper cluster's id may start with "-"."""
    return ["kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "--config", config, *extra]


def storage_format_command(cluster: ClusterVars, argfile: str) -> Command:
    """kafka-storage format, run as the service user, its main class and arguments read from a Java @argfile:
    they can hold SCRAM passwords, which a command line would show in `ps` and in sudo's log."""
    return cmd("runuser", "-u", cluster.kafka_service_user, "--", cluster.java_executable, "-Xmx256m",
               *QUIET_LOGGING, "-cp", f"{cluster.kafka_home}/libs/*", f"@{argfile}")


def scram_bootstrap_arguments(cluster: ClusterVars) -> list[str]:
    """`--add-scram` for the brokers' own user, whose SCRAM credentials a KRaft cluster needs from its first start."""
    listeners = [*cluster.resolved_listeners.values(), *cluster.controller_listeners]
    mechanisms = sorted({SASL_MECHANISMS[sasl] for listener in listeners for sasl in listener.accepted if sasl in SCRAM})
    user = cluster.sasl_scram_users.get(cluster.kafka_broker_sasl_user)
    if not mechanisms or user is None:
        return []
    # Quoted: Kafka 3.5-3.8 split a value at '=' outside quotes (3.9 at the first one). ',', '"' and (before
    # 3.9) whitespace it cannot carry: validation refuses them.
    secret = user.password.get_secret_value()
    return [word for m in mechanisms for word in ("--add-scram", f'{m}=[name="{user.principal}",password="{secret}"]')]


def java_argfile(words: list[str]) -> bytes:
    """A Java launcher @argfile holding `words`: each one double-quoted, with the escapes the launcher reads."""
    escapes = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\f": "\\f"}
    return ("".join('"' + "".join(escapes.get(c, c) for c in word) + '"\n' for word in words)).encode("utf-8")


@contextmanager
def private_argfile(connection: Connection, cluster: ClusterVars, words: list[str]) -> Iterator[str]:
    """An @argfile only the service user can read (0600, its own) in a fresh directory root owns (0710, its group
    may only pass through), removed afterwards whatever happens."""
    directory = f"/run/kafkactl-{uuid.uuid4().hex}"
    try:
        connection.run(sh("mkdir -m 0710 {directory} && chgrp {group} {directory}", directory=directory, group=cluster.kafka_service_group))
        path = f"{directory}/arguments"
        connection.put(java_argfile(words), path, mode="0600", owner=cluster.kafka_service_user, group=cluster.kafka_service_group,
                       keep_previous=False)
        yield path
    finally:
        connection.run(cmd("rm", "-rf", "--", directory), check=False)


def cluster_ids_on_hosts(inventory: Inventory, desired: DesiredState, facts: dict[str, HostFacts]) -> dict[str, list[str]]:
    """cluster.id -> the meta.properties files (host:path) that hold it."""
    found: dict[str, list[str]] = {}
    for state in desired.hosts:
        for path in meta_properties_paths(state, inventory.cluster):
            current = facts.get(state.host.name, HostFacts()).files.get(path)
            cluster_id = parse_properties(current.content).get("cluster.id") if current else None
            if cluster_id:
                found.setdefault(cluster_id, []).append(f"{state.host.name}:{path}")
    return found


def kraft_cluster_id(inventory: Inventory, desired: DesiredState, facts: dict[str, HostFacts], state_dir: Path) -> str:
    """The cluster id fresh KRaft storage is formatted with: the hosts', the inventory's, or one made once and kept."""
    on_hosts = cluster_ids_on_hosts(inventory, desired, facts)
    if len(on_hosts) > 1:
        listing = "; ".join(f"{cid} on {', '.join(places)}" for cid, places in on_hosts.items())
        raise KafkactlError(f"cluster id mismatch between hosts: {listing}")
    configured = inventory.cluster.kafka_cluster_id
    existing = next(iter(on_hosts), None)
    if existing and configured and existing != configured:
        raise KafkactlError(f"kafka_cluster_id is {configured} but the hosts' meta.properties say {existing}")
    stored_file = private.prepare(state_dir) / CLUSTER_ID_FILE
    stored = stored_file.read_text().strip() if stored_file.exists() else None
    chosen = existing or configured or stored
    if chosen is None:  # made once: a second run that raced this one takes the id stored first
        return private.create_once(stored_file, (new_cluster_id() + "\n").encode()).decode().strip()
    if stored != chosen:
        private.write_private(stored_file, (chosen + "\n").encode())
    return chosen


class Executor:
    def __init__(
        self,
        inventory: Inventory,
        desired: DesiredState,
        plan: Plan,
        facts: dict[str, HostFacts],
        transport: Transport,
        report: Report,
        options: RunOptions,
        cluster_id: str | None = None,
        journal: Journal | None = None,
        hooks: ClusterHooks | None = None,
        scram_record: scram_users.Record | None = None,
    ) -> None:
        self.inventory = inventory
        self.cluster = inventory.cluster
        self.desired = desired
        self.states: dict[str, HostState] = {s.host.name: s for s in desired.hosts}
        self.plans: dict[str, HostPlan] = {p.host: p for p in plan.hosts}
        self.features = plan.features
        self.scram_users = plan.scram_users
        self.connectors = plan.connectors
        self.secures_znodes = plan.secures_znodes
        self.scram_record = scram_record
        self.facts = facts
        self.transport = transport
        self.report = report
        self.options = options
        self.cluster_id = cluster_id
        self.journal = journal
        self.hooks = hooks
        self.outcomes: dict[str, HostOutcome] = {}
        self._written: set[tuple[str, str]] = set()  # (host, path) of the files this run wrote
        self._owed_znodes: Entry | None = None  # the journal's entry of a ZkSecurityMigrator run the plan owes
        topology = Topology.of(inventory, desired.phase)
        members = {c: [s.host for s in desired.hosts if c in s.components] for c in Component}
        self.gates = GateContext(transport, self.cluster, members, topology.default_min_insync)

    # Selection ---------------------------------------------------------------------------------

    def _selected(self, name: str) -> bool:
        return self.options.limit is None or name in self.options.limit

    def _hosts(self, target: str) -> list[HostState]:
        return [
            s for s in self.desired.hosts
            if self._selected(s.host.name) and (target == ALL or Component(target) in s.components)
        ]

    def _service_action(self, name: str, component: Component) -> str:
        return next(s.action for s in self.plans[name].services if s.component == component)

    def _changed_files(self, name: str, component: Component) -> list[str]:
        return [f.path for f in self.plans[name].files if f.component == component and f.action != "unchanged"]

    # Steps -------------------------------------------------------------------------------------

    def run(self, playbook: Playbook, components: set[Component] | None = None) -> dict[str, HostOutcome]:
        securing = next((step for step in playbook.steps if step.name == "zookeeper_acls"), None)
        if securing and self.secures_znodes and self.journal:
            # owed from the start: a run stopped anywhere before the step ends it leaves it open, and the next plan on
            # this inventory runs it (journal.owed), whatever the hosts' files say by then
            self._owed_znodes = self.journal.begin(str(securing), ALL)
        try:
            for step in playbook.steps:
                if components is None or step.target not in COMPONENTS or Component(step.target) in components:
                    getattr(self, f"_{step.name}")(step)
        except BaseException:
            if self.journal:
                self.journal.finish("failed")
            raise
        if self.journal:
            self.journal.finish("done")
        return self.outcomes

    def _journaled(self, step: Step, host: str, work, entry: Entry | None = None) -> None:
        """Run one host's part of a step, recorded in the journal (in `entry` when it was begun earlier); a failure is
        recorded and stops the run."""
        entry = entry or (self.journal.begin(str(step), host) if self.journal else None)
        try:
            work(entry)
        except BaseException as exc:
            if entry:
                self.journal.end(entry, "failed", self.report.mask(str(exc)))
            raise
        if entry:
            self.journal.end(entry, "done")

    def _prepare(self, step: Step) -> None:
        hosts = [s for s in self._hosts(step.target) if s.components and self.plans[s.host.name].changed]
        if not hosts:
            return
        self.report.line(f"== {step}: {len(hosts)} hosts, up to {self.transport.forks} at a time", style="bold")
        failures = [
            (state, result)
            for state, result in self.transport.each(hosts, self._prepare_host)
            if isinstance(result, BaseException)
        ]
        if failures:
            raise KafkactlError(*(f"{step}: {result}" for _, result in failures))

    def _prepare_host(self, state: HostState) -> None:
        plan = self.plans[state.host.name]
        connection = self.transport.connection(state.host.name)
        commands = [*service_account(self.cluster.kafka_service_user, self.cluster.kafka_service_group)]
        for directory in state.directories:
            if directory.path in plan.directories:
                commands.append(cmd("install", "-d", "-m", directory.mode, "-o", directory.owner, "-g", directory.group, directory.path))
        connection.run(all_of(*commands))
        if plan.install:
            self._install_kafka(connection, plan.install)
        self.report.line(f"   {state.host.name}: prepared" + (f", installed {plan.install}" if plan.install else ""))

    def _install_kafka(self, connection: Connection, home: str) -> None:
        source = self.cluster.kafka_archive_source
        if not source:
            raise KafkactlError(f"host {connection.host.name}: {home} is missing and kafka_archive_source is not set")
        staging = f"/tmp/.kafkactl-kafka-{uuid.uuid4().hex}.tgz"
        expected = self.cluster.kafka_archive_sha256
        if re.match(r"^https?://", source):
            connection.run(sh("curl -fsSL --retry 3 -o {staging} {source} || wget -q -O {staging} {source}", staging=staging, source=source))
        else:
            local = Path(source).expanduser()
            digest = _sha256(local)
            if expected and digest != expected:
                raise KafkactlError(f"{local}: SHA-256 is {digest}, kafka_archive_sha256 says {expected}")
            expected = digest
            with connection.sftp() as sftp:
                sftp.put(str(local), staging)
        unpack = sh("mkdir -p {destination} && tar --no-same-owner -xzf {staging} -C {destination} && test -d {libs}",
                    destination=self.cluster.archive_destination_path, staging=staging, libs=f"{home}/libs")
        if expected:
            unpack = sh("printf '%s  %s\\n' {expected} {staging} | sha256sum -c --quiet - && {unpack}",
                        expected=expected, staging=staging, unpack=unpack)
        else:  # only with kafka_archive_allow_unverified: the model refuses a URL without a checksum otherwise
            self.report.warning(f"host {connection.host.name}: {source} is installed unverified (kafka_archive_allow_unverified)")
        connection.run(sh("{unpack}; status=$?; rm -f {staging}; exit $status", unpack=unpack, staging=staging))

    def _start(self, step: Step) -> None:
        component = Component(step.target)
        hosts = [s for s in self._hosts(step.target) if self._service_action(s.host.name, component) in ("install and start", "start")]
        if not hosts:
            return
        role = next(s for s in hosts[0].services if s.component == component).role
        self.report.line(f"== {step}: {', '.join(s.host.name for s in hosts)}", style="bold")
        if component == Component.KAFKA_BROKER and self._scram_users_wait_for_a_broker():
            self._journaled(step, ALL, lambda entry: self._scram_users_in_zookeeper(hosts[0]))
        if role.restart.start_together:
            for state in hosts:
                self._journaled(step, state.host.name, lambda entry, state=state: self._write_and_start(state, component))
            for state in hosts:
                self._await(state.host, role.restart.ready, "ready")
        else:
            for state in hosts:
                self._journaled(step, state.host.name, lambda entry, state=state: (
                    self._write_and_start(state, component), self._await(state.host, role.restart.ready, "ready")))

    def _scram_users_wait_for_a_broker(self) -> bool:
        """A new ZooKeeper-mode cluster with SCRAM users to make and no broker running to make them through."""
        if self.desired.phase != Phase.ZOOKEEPER or not any(change.action == "create" for change in self.scram_users):
            return False
        service = service_name(Component.KAFKA_BROKER, self.cluster)
        return not any(service in self.facts.get(h.name, HostFacts()).active_services for h in self.inventory.members(Component.KAFKA_BROKER))

    def _scram_users_in_zookeeper(self, first: HostState) -> None:
        """The declared SCRAM users written to ZooKeeper before the first broker starts, from that broker's host with
        its files (scram_users.bootstrap_in_zookeeper); the scram_users step then has nothing left to do."""
        self._write_files(first, Component.KAFKA_BROKER)
        broker = next(s for s in first.services if s.component == Component.KAFKA_BROKER)
        zookeeper_connect = Topology.of(self.inventory, self.desired.phase).zookeeper_connect
        made = scram_users.bootstrap_in_zookeeper(self.transport.connection(first.host.name), self.cluster, zookeeper_connect,
                                                  broker.config, broker.jaas)
        if self.scram_record is not None:
            for user in self.cluster.sasl_scram_users.values():
                for mechanism in scram_users.mechanisms(self.cluster):
                    self.scram_record.remember(user.principal, mechanism, user.password.get_secret_value())
        self.scram_users = ()
        self._outcome(first).services.append(f"SCRAM users {', '.join(made)} written to ZooKeeper")
        self.report.line(f"   {first.host.name}: SCRAM users {', '.join(made)} written to ZooKeeper, before the first broker starts")

    def _roll(self, step: Step) -> None:
        component = Component(step.target)
        hosts = []
        for state in self._hosts(step.target):
            action = self._service_action(state.host.name, component)
            if action in ("restart", RELOAD) or (action == "none" and self._changed_files(state.host.name, component)):
                hosts.append(state)
        # kafkactl's own client settings first, on every host of the roll: the gates read the cluster through hosts not
        # yet restarted too, and the listener the settings name runs on every broker already (plan refuses otherwise).
        for state in hosts:
            self._write_files(state, component, client_settings_only=True)
        self._one_at_a_time(step, component, hosts, lambda state: self._service_action(state.host.name, component) == "restart")

    def _restart(self, step: Step) -> None:
        """Restart every member of a component (the restart command), whether or not its files changed."""
        component = Component(step.target)
        hosts = [s for s in self._hosts(step.target) if not (self.journal and self.journal.done(str(step), s.host.name))]
        if component == Component.KAFKA_BROKER and self.options.batch_size > 1:
            self._in_batches(step, hosts)
        else:
            self._one_at_a_time(step, component, hosts, lambda state: True)

    def _in_batches(self, step: Step, hosts: list[HostState]) -> None:
        """Brokers restarted several at a time, only while every partition keeps min.insync.replicas."""
        if not hosts:
            return
        hosts = self._in_restart_order(Component.KAFKA_BROKER, hosts)
        size = self.options.batch_size
        batches = [hosts[i:i + size] for i in range(0, len(hosts), size)]
        self.report.line(f"== {step}: batches of up to {size}: " + " | ".join(", ".join(s.host.name for s in b) for b in batches), style="bold")
        for batch in batches:
            members = [s.host for s in batch]
            names = ", ".join(h.name for h in members)
            first = broker_safe_to_stop(self.gates.partitions(members[0]), members)
            too_large = [problem for problem in first.value if "would fall below" in problem]
            if too_large:  # waiting cannot fix this: the batch itself is too large
                raise KafkactlError(f"--batch-size {size}: stopping {names} together would take {'; '.join(too_large[:5])}; "
                                    "use a smaller batch. Nothing in this batch was stopped.")
            safe = wait_for(names, "batch_safe_to_stop", lambda: broker_safe_to_stop(self.gates.partitions(members[0]), members),
                            timeout=self.options.gate_timeout)
            self.report.line(f"   {names}: batch_safe_to_stop (before stop): {safe.summary}")
            entries = {}
            for state in batch:
                entry = self.journal.begin(str(step), state.host.name) if self.journal else None
                service = next(s for s in state.services if s.component == Component.KAFKA_BROKER)
                self._restart_service(state, service, entry)
                entries[state.host.name] = entry
            for state in batch:
                service = next(s for s in state.services if s.component == Component.KAFKA_BROKER)
                try:
                    self._await(state.host, service.role.restart.ready, "ready")
                except BaseException as exc:
                    if entries[state.host.name]:
                        self.journal.end(entries[state.host.name], "failed", self.report.mask(str(exc)))
                    raise
                if entries[state.host.name]:
                    self.journal.end(entries[state.host.name], "done")

    def _one_at_a_time(self, step: Step, component: Component, hosts: list[HostState], restarts) -> None:
        if not hosts:
            return
        hosts = self._in_restart_order(component, hosts)
        self.report.line(f"== {step}: one host at a time: {', '.join(s.host.name for s in hosts)}", style="bold")
        for state in hosts:
            self._journaled(step, state.host.name, lambda entry, state=state: self._restart_host(step, component, state, restarts(state), entry))

    def _restart_host(self, step: Step, component: Component, state: HostState, restart: bool, entry) -> None:
        service = next(s for s in state.services if s.component == component)
        semantics = service.role.restart
        if restart and self._restarted_by_resumed_run(str(step), state, service.name):
            # Restarted by the run being resumed: only its gates remain to be passed.
            self.report.line(f"   {state.host.name}: restarted by the run being resumed; re-checking its gates")
            self._await(state.host, semantics.ready, "ready")
            return
        if restart:
            self._before_stop(state.host, semantics)
        if step.name == "roll":  # a plain restart never changes configuration
            self._write_files(state, component)
            if not restart and self._service_action(state.host.name, component) == RELOAD:
                self._reload_key_stores(state, service)
        if not restart:
            return
        self._restart_service(state, service, entry)
        self._await(state.host, semantics.ready, "ready")

    def _reload_key_stores(self, state: HostState, service) -> None:
        """The broker's changed key and trust stores (or, when none changed, the key store its listeners do not
        present yet), reloaded by the running broker; then each listener must present the key store's certificate."""
        config = next(f for f in state.files if f.path == service.config)
        stores = [f for f in state.files if f.reloadable and f.component == service.component]
        changed = {f.path for f in stores if f.path in self._changed_files(state.host.name, service.component)}
        properties = parse_properties(config.content)
        settings = tls_listeners.reloaded_settings(properties, changed or {f.path for f in stores if f.presents_sha256})
        if not settings:
            self.report.line(f"   {state.host.name}: no listener of {service.name} reads {', '.join(sorted(changed))}; nothing to reload")
            return
        running = as_running(self.cluster, self.facts.get(state.host.name, HostFacts()), Component.KAFKA_BROKER)
        bootstrap = host_port(state.host.name, running.inter_broker_listener.port)
        connection = self.transport.connection(state.host.name)
        key_store_reload.reload(connection, running, state.host.kafka_id, bootstrap, settings)
        self._outcome(state).services.append(f"reloaded key stores of {service.name}")
        listeners = sorted({key.split(".")[2].upper() for key in settings})
        self.report.line(f"   {state.host.name}: {service.name} reloaded its key stores on {', '.join(listeners)} (no restart)")
        expected = next((f.presents_sha256 for f in stores if f.presents_sha256), None)
        ports = tls_listeners.listener_ports(properties, settings)
        if expected and ports:
            checked = key_store_reload.await_presented(connection, state.host.name, ports, expected)
            self.report.line(f"   {state.host.name}: ports {', '.join(map(str, ports))} "
                             + ("present the new certificate" if checked else "not checked: no python3 on the host"))

    def _restarted_by_resumed_run(self, step: str, state: HostState, service: str) -> bool:
        """The stopped run restarted this service, or was interrupted (Ctrl-C, lost connection) while asking
        for the restart and the service has started since: its start time is no longer the one seen before."""
        if self.journal is None:
            return False
        if self.journal.restarted_before(step, state.host.name):
            return True
        seen = self.journal.start_seen_before_restart(step, state.host.name)
        now = self.facts.get(state.host.name, HostFacts()).service_started.get(service)
        return seen is not None and now is not None and now != seen

    def _restart_service(self, state: HostState, service, entry) -> None:
        stopping = time.time()
        if entry:
            started = self.facts.get(state.host.name, HostFacts()).service_started.get(service.name)
            self.journal.mark_restart_requested(entry, started)
        self.transport.connection(state.host.name).run(sh("systemctl daemon-reload && systemctl restart {name}", name=service.name))
        self.gates.forget()
        if entry:
            self.journal.mark_restarted(entry, stopping)
        self._outcome(state).services.append(f"restarted {service.name}")
        self.report.line(f"   {state.host.name}: restarted {service.name}")

    def _in_restart_order(self, component: Component, hosts: list[HostState]) -> list[HostState]:
        """The role's order: the member that leads (ZooKeeper leader, active controller) goes last."""
        order = next(s for s in hosts[0].services if s.component == component).role.restart.order
        leader = None
        if order == "followers-then-leader":
            leader = next((s.host.name for s in hosts
                           if zookeeper_mode(self.transport.connection(s.host.name), self.cluster).value == "leader"), None)
        elif order == "followers-then-active":
            status = controller_quorum(self.transport.connection(hosts[0].host.name), self.cluster, hosts[0].host).value
            leader = next((s.host.name for s in hosts if str(s.host.node_id) == status.get("LeaderId")), None)
        elif component == Component.KAFKA_BROKER and self.desired.phase in (Phase.ZOOKEEPER, Phase.DUAL_WRITE):
            controller_id = self._zookeeper_controller(hosts)
            leader = next((s.host.name for s in hosts if s.host.broker_id == controller_id), None)
        if leader:
            self.report.line(f"   {leader} leads its {component.value.replace('_', ' ')}s: restarted last")
        return sorted(hosts, key=lambda s: s.host.name == leader)

    def _zookeeper_controller(self, brokers: list[HostState]) -> int | None:
        """The broker id in ZooKeeper's /controller: the active controller of a ZooKeeper-mode cluster. None when no
        broker reaches ZooKeeper now: KRaft brokers (a rollback from 2b) have a KRaft controller, and no settings for
        ZooKeeper to read it with."""
        reaching = live_properties(self.desired, self.facts, Component.KAFKA_BROKER)
        broker = next((b for b in brokers if "zookeeper.connect" in reaching.get(b.host.name, {})), None)
        if broker is None:
            return None
        service = next(s for s in broker.services if s.component == Component.KAFKA_BROKER)
        # Before the roll: over TLS or not as the broker reads ZooKeeper now, with the settings in its file; the
        # members and ports are the inventory's (a value in the host's file is never where kafkactl connects).
        running = as_running(self.cluster, self.facts.get(broker.host.name, HostFacts()), Component.KAFKA_BROKER)
        topology = Topology.of(self.inventory.model_copy(update={"cluster": running}), self.desired.phase)
        data = zookeeper_get(self.transport.connection(broker.host.name), running, topology.zookeeper_connect,
                             ["/controller"], service.config, service.jaas)["/controller"]
        match = re.search(r'"brokerid":\s*(\d+)', data or "")
        return int(match.group(1)) if match else None

    def _backup(self, step: Step) -> None:
        """Before the first change: every file the run changes, every meta.properties, ZooKeeper's data."""
        from kafkactl.backup import HostBackup, take_backup

        if self.journal is None or self.options.backup_root is None:
            raise KafkactlError(f"{step}: needs a run journal and a backup directory")
        if self.journal.done(str(step), ALL):
            self.report.line(f"== {step}: taken by the run being resumed", style="bold")
            return
        plan = {}
        for state in self.desired.hosts:
            facts = self.facts.get(state.host.name, HostFacts())
            files = [f.path for f in self.plans[state.host.name].files if f.action == "update"]
            files += [path for path in meta_properties_paths(state, self.cluster) if path in facts.files]
            directories = [self.cluster.zookeeper_data_dir] if state.host.has(Component.ZOOKEEPER) else []
            if files or directories:
                plan[state.host.name] = HostBackup(tuple(files), tuple(directories))
        self.report.line(f"== {step}: {len(plan)} hosts", style="bold")
        self._journaled(step, ALL, lambda entry: take_backup(
            self.transport, self.report, self.options.backup_root, self.journal.run_id, self.journal.command, plan))

    def _retire(self, step: Step) -> None:
        """Stop and disable a component's service for good; its state directories are moved aside, kept."""
        spec = role(Component(step.target))
        unit = service_name(Component(step.target), self.cluster)
        hosts = [h for h in self.inventory.members(Component(step.target)) if self._selected(h.name)]
        self.report.line(f"== {step}: {', '.join(h.name for h in hosts)}", style="bold")
        suffix = f".retired-{self.journal.run_id}" if self.journal else f".retired-{int(time.time())}"
        for host in hosts:
            if self.journal and self.journal.done(str(step), host.name):
                continue
            moves = [expression(d).render(cluster=self.cluster) for d in spec.state_directories]
            commands = [sh("systemctl disable --now --quiet {name} 2>/dev/null || systemctl stop {name}", name=unit)]
            commands += [sh("if [ -d {directory} ]; then mv {directory} {kept}; fi", directory=d, kept=d + suffix) for d in moves]

            def work(entry, host=host, commands=commands, moves=moves) -> None:
                self.transport.connection(host.name).run(all_of(*commands))
                self.gates.forget()
                kept = f"; {', '.join(moves)} kept as *{suffix}" if moves else ""
                self.report.line(f"   {host.name}: stopped and disabled {unit}{kept}")

            self._journaled(step, host.name, work)

    def _wait_for(self, step: Step) -> None:
        if self.hooks is None:
            raise KafkactlError(f"{step}: no live cluster to read the signal from")
        self.report.line(f"== {step}", style="bold")
        check = self.hooks.signals[step.target]
        self._journaled(step, ALL, lambda entry: self.report.line(
            f"   {step.target}: {wait_for('cluster', step.target, check, timeout=self.options.gate_timeout).summary}"))

    def _delete_znodes(self, step: Step) -> None:
        if self.hooks is None:
            raise KafkactlError(f"{step}: no live cluster to change")
        self.report.line(f"== {step}", style="bold")

        def work(entry) -> None:
            for path in step.target.split():
                self.hooks.delete_znode(path)
                self.report.line(f"   deleted {path} in ZooKeeper")

        self._journaled(step, ALL, work)

    def _metadata_version(self, step: Step) -> None:
        """The planned metadata.version move, through the first controller that answers, then read back."""
        change = next((f for f in self.features if f.feature == metadata_version.FEATURE), None)
        if change is None:
            return
        self.report.line(f"== {step}", style="bold")

        def work(entry) -> None:
            problems = []
            for state in self._hosts(step.target):
                controller = state.host
                connection = self.transport.connection(controller.name)
                result = metadata_version.raise_to(connection, self.cluster, controller, change.wanted)
                if result.code != 0:
                    problems.append(f"{controller.name}: {(result.stderr or result.stdout).strip()[-300:]}")
                    continue
                now = metadata_version.describe(connection, self.cluster, controller)
                if not metadata_version.is_reached(now, change.wanted):
                    raise KafkactlError(f"{step}: metadata.version is {now} after the feature tool raised it to {change.wanted}")
                self._outcome(state).services.append(f"metadata.version {change.live} -> {now}")
                self.report.line(f"   {controller.name}: metadata.version {change.live} -> {now} (feature tool; no restart)")
                return
            raise KafkactlError(f"{step}: no controller raised metadata.version to {change.wanted}: {'; '.join(problems)}")

        self._journaled(step, ALL, work)

    def _scram_users(self, step: Step) -> None:
        """The planned SCRAM credential changes, one user and mechanism per run, through the first broker that answers."""
        if not self.scram_users:
            return
        self.report.line(f"== {step}", style="bold")
        brokers = self._hosts(step.target)

        def work(entry) -> None:
            for planned in self.scram_users:
                problems = []
                for state in brokers:
                    # before the roll: the host's running release and listener (a broker started by this run runs the inventory's)
                    running = as_running(self.cluster, self.facts.get(state.host.name, HostFacts()), Component.KAFKA_BROKER)
                    bootstrap = inter_broker_bootstrap([s.host for s in brokers], running)
                    result = scram_users.change(self.transport.connection(state.host.name), running, bootstrap, planned)
                    if result.code == 0:
                        break
                    problems.append(f"{state.host.name}: {(result.stderr or result.stdout).strip()[-300:]}")
                else:
                    raise KafkactlError(f"{step}: SCRAM user {planned.user} ({planned.mechanism}) not {planned.action}d: {'; '.join(problems)}")
                if self.scram_record is not None:
                    password = None if planned.action == "delete" else scram_users.password_of(self.cluster, planned.user)
                    self.scram_record.remember(planned.user, planned.mechanism, password)
                self._outcome(state).services.append(f"SCRAM user {planned.user} ({planned.mechanism}) {planned.action}d")
                self.report.line(f"   {state.host.name}: SCRAM user {planned.user} ({planned.mechanism}) {planned.action}d")

        self._journaled(step, ALL, work)

    def _zookeeper_acls(self, step: Step) -> None:
        """The znodes that exist secured with Kafka's ZkSecurityMigrator, through the first broker that answers, once every
        broker logs in to ZooKeeper and sets ACLs on the znodes it creates (the plan's secures_znodes)."""
        if not self.secures_znodes:
            return
        self.report.line(f"== {step}", style="bold")
        zookeeper_connect = Topology.of(self.inventory, self.desired.phase).zookeeper_connect

        def work(entry) -> None:
            problems = []
            for state in self._hosts(step.target):
                broker = next(s for s in state.services if s.component == Component.KAFKA_BROKER)
                assert broker.jaas, "a broker that logs in to ZooKeeper has a JAAS file"
                result = zookeeper_acls.secure_znodes(self.transport.connection(state.host.name), self.cluster, zookeeper_connect,
                                                      broker.config, broker.jaas)
                if result.code == 0:
                    self._outcome(state).services.append("existing znodes secured")
                    self.report.line(f"   {state.host.name}: the existing znodes secured (ZkSecurityMigrator --zookeeper.acl secure)")
                    return
                problems.append(f"{state.host.name}: {(result.stderr or result.stdout).strip()[-300:]}")
            raise KafkactlError(f"{step}: the existing znodes not secured: {'; '.join(problems)}")

        self._journaled(step, ALL, work, self._owed_znodes)

    def _connectors(self, step: Step) -> None:
        """The planned connector changes through the first worker that answers; each created or changed one is then
        waited for until it and its tasks run."""
        if not self.connectors:
            return
        workers = self._hosts(step.target)
        if not workers:  # --limit leaves every worker out: the changes wait for an apply that includes one
            self.report.warning(f"{step}: no Connect worker is within --limit; {len(self.connectors)} connector change(s) "
                                "are left for an apply that includes one")
            return
        self.report.line(f"== {step}", style="bold")
        port = self.cluster.kafka_connect_rest_port

        def work(entry) -> None:
            for planned in self.connectors:
                problems = []
                for state in workers:
                    connection = self.transport.connection(state.host.name)
                    try:
                        connectors.change(connection, self.inventory, planned)
                        break
                    except KafkactlError as exc:
                        problems.append(str(exc))
                else:
                    raise KafkactlError(f"{step}: connector {planned.name} not {planned.action}d: {'; '.join(problems)}")
                outcome = f"connector {planned.name} {planned.action}d"
                if planned.action != "delete":
                    ran = wait_for(state.host.name, "connector_running", lambda: connectors.running(connection, port, planned.name),
                                   timeout=self.options.gate_timeout)
                    outcome += f": {ran.summary}"
                self._outcome(state).services.append(outcome)
                self.report.line(f"   {state.host.name}: {outcome}")

        self._journaled(step, ALL, work)

    def _packages(self, step: Step) -> None:
        """Prometheus and its exporters (packaged services), on every host whose plan changes one, in parallel."""
        hosts = [s for s in self._hosts(step.target)
                 if any(c.component is None and c.action != "none" for c in self.plans[s.host.name].services)]
        if not hosts:
            return
        self.report.line(f"== {step}: {len(hosts)} hosts, up to {self.transport.forks} at a time", style="bold")

        def work(state: HostState) -> tuple[list[str], list[str]]:
            return packages.converge(self.transport.connection(state.host.name), state, self.plans[state.host.name],
                                     self.options.gate_timeout)

        failures = []
        for state, result in self.transport.each(hosts, work):
            if isinstance(result, BaseException):
                failures.append(f"{step}: {result}")
                continue
            written, done = result
            self._outcome(state).files.extend(written)
            self._outcome(state).services.extend(done)
            for entry in [*(f"wrote {path}" for path in written), *done]:
                self.report.line(f"   {state.host.name}: {entry}")
        if failures:
            raise KafkactlError(*failures)

    # Pieces ------------------------------------------------------------------------------------

    def _outcome(self, state: HostState) -> HostOutcome:
        return self.outcomes.setdefault(state.host.name, HostOutcome())

    def _write_files(self, state: HostState, component: Component, client_settings_only: bool = False) -> None:
        changed = set(self._changed_files(state.host.name, component))
        connection = self.transport.connection(state.host.name)
        for managed in state.files:
            if managed.component != component or managed.path not in changed or (state.host.name, managed.path) in self._written:
                continue
            if not (client_settings_only and managed.restarts_service):
                self._written.add((state.host.name, managed.path))
                if managed.fetched_from:
                    connection.fetch(managed.fetched_from, managed.content.removeprefix(DIGEST_PREFIX).strip(), managed.path,
                                     mode=managed.mode, owner=managed.owner, group=managed.group)
                else:
                    connection.put(managed.payload, managed.path, mode=managed.mode, owner=managed.owner, group=managed.group)
                self._outcome(state).files.append(managed.path)
                self.report.line(f"   {state.host.name}: wrote {managed.path}")

    def _write_and_start(self, state: HostState, component: Component) -> None:
        self._write_files(state, component)
        service = next(s for s in state.services if s.component == component)
        connection = self.transport.connection(state.host.name)
        self._format_storage(connection, state, component)
        # restart, not start: a unit failing in a restart loop must pick up the files just written now.
        connection.run(sh("systemctl daemon-reload && systemctl enable --quiet {name} && systemctl restart {name}", name=service.name))
        self.gates.forget()
        self._outcome(state).services.append(f"started {service.name}")
        self.report.line(f"   {state.host.name}: started {service.name}")

    def _format_storage(self, connection: Connection, state: HostState, component: Component) -> None:
        """Fresh KRaft storage is formatted once, with the cluster's id. Controllers joining a migration take
        ZooKeeper's cluster id and the brokers' IBP as metadata.version; brokers are never formatted then."""
        phase = self.desired.phase
        migrating = phase in MIGRATION_PHASES
        formats = (component == Component.KAFKA_CONTROLLER and phase != Phase.ZOOKEEPER) or (
            component == Component.KAFKA_BROKER and phase == Phase.KRAFT)
        if not formats:
            return
        facts = self.facts.get(state.host.name, HostFacts())
        if any(path in facts.files for path in meta_properties_paths(state, self.cluster)):
            return
        if self.cluster_id is None:
            raise KafkactlError(f"host {state.host.name}: no cluster id to format KRaft storage with")
        config = next(s.config for s in state.services if s.component == component)
        release = self.cluster.inter_broker_protocol_version if migrating else metadata_version.wanted(self.cluster)
        extra = ["--release-version", release] if release else []
        if component == Component.KAFKA_CONTROLLER and not migrating:  # a migration brings the SCRAM users along
            extra += scram_bootstrap_arguments(self.cluster)
        with private_argfile(connection, self.cluster, storage_format_arguments(self.cluster_id, config, extra)) as argfile:
            connection.run(storage_format_command(self.cluster, argfile))
        shown = f", metadata.version {release}" if release else ""
        self.report.line(f"   {state.host.name}: formatted KRaft storage (cluster id {self.cluster_id}{shown})")

    def _before_stop(self, host: Host, semantics) -> None:
        """The before-stop gates. A member that fails them and is not serving itself is already out of
        service: restarting it cannot lower availability, so it is restarted without waiting."""
        first = [GATES[gate].check(self.gates, host) for gate in semantics.before_stop]
        if all(o.ok for o in first):
            for gate, observation in zip(semantics.before_stop, first):
                self.report.line(f"   {host.name}: {gate} (before stop): {observation.summary}")
            return
        serving = GATES[semantics.serving].check(self.gates, host)
        if not serving.ok:
            self.report.line(f"   {host.name}: not serving ({semantics.serving}: {serving.summary}); restarting it without before-stop gates")
            return
        self._await(host, semantics.before_stop, "before stop")

    def _await(self, host: Host, gates: list[str], moment: str) -> list[Observation]:
        observations = []
        for gate in gates:
            observation = wait_for(
                host.name, gate, lambda g=gate: GATES[g].check(self.gates, host), timeout=self.options.gate_timeout
            )
            self.report.line(f"   {host.name}: {gate} ({moment}): {observation.summary}")
            observations.append(observation)
        return observations


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
