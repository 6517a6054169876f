"""Health signals read on the hosts themselves, with Kafka's own tools, over the SSH connection.

Each check returns what it observed; `wait_for` polls a check about every second until it passes or its
timeout runs out, then names the host, the gate and the last observation. No fixed sleeps. Checks fail
closed: a tool's answer that cannot be read (kafkactl/tool_output.py) is a failed observation naming
the tool and what it printed, never an empty reading that passes.
"""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from kafkactl.desired import JmxSecrets
from kafkactl.errors import KafkactlError
from kafkactl.exporter import (
    ACTIVE_CONTROLLER, BROKER_STATE, CONTROLLER_HEALTH, OFFLINE_PARTITIONS, PARTITION_HEALTH, QUORUM, RAFT_LEADER, RAFT_LOG_END,
    UNDER_REPLICATED, exporter_metrics,
)
from kafkactl.kafka_tools import admin_config, describe_consumer_groups, java_tool, tool_with_secret_args
from kafkactl.model import ClusterVars, Component, Host, host_port
from kafkactl.remote import Command, Word, sh, shell
from kafkactl.tool_output import (
    NOT_SERVING, TOPICS, Partition, Unreadable, read_connect_version, read_consumer_lag, read_http_status, read_leader_election,
    read_listener_connections, read_partitions, read_quorum_status,
    read_registered_brokers, read_voter_lags, read_zookeeper_answers, read_zookeeper_mode,
)
from kafkactl.transport import CommandResult, Connection, Transport, TransportError

T = TypeVar("T")
VOTER_LAG_LIMIT = 1000  # metadata records a voter may trail the leader by and count as caught up
PARTITIONS_FRESH_SECONDS = 5.0
SOCKET_SERVER_METRICS = "kafka.server:type=socket-server-metrics,listener=*,networkProcessor=*"


class GateError(KafkactlError):
    """A health gate did not pass in time; nothing further was restarted."""


@dataclass(frozen=True)
class Observation(Generic[T]):
    ok: bool
    value: T
    summary: str


# Between two checks, a wait as long as the check took, within these bounds: a check that starts one of Kafka's
# tools (a second or so) is repeated about every second, one read from an exporter (milliseconds) every tenth of a
# second, so a node is found ready soon after it is, and polling never costs the host more than half its time.
MIN_POLL_INTERVAL_S = 0.1
MAX_POLL_INTERVAL_S = 1.0


def wait_for(
    host: str,
    gate: str,
    check: Callable[[], Observation],
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Observation:
    deadline = clock() + timeout
    last: Observation | None = None
    while True:
        started = clock()
        try:
            last = check()
        except TransportError as exc:
            last = Observation(False, None, str(exc))
        if last.ok:
            return last
        if clock() >= deadline:
            raise GateError(f"host {host}: gate '{gate}' not met after {timeout:.0f} s: {last.summary}")
        delay = min(max(clock() - started, MIN_POLL_INTERVAL_S), MAX_POLL_INTERVAL_S)
        sleep(min(delay, max(0.0, deadline - clock())))


def kafka_tool(connection: Connection, cluster: ClusterVars, main_class: str, args: list[Word]):
    """Run one of Kafka's command line tools on the host."""
    return connection.run(java_tool(cluster, main_class, args, heap="192m"), check=False, timeout=120)


def local_jmx(cluster: ClusterVars, port: int, service: str, object_names: list[str], attribute: str) -> Command:
    """Kafka's JmxTool, once, against a service's loopback-only JMX as its read-only user (root's copy of the password,
    made on the host at every start, see jmx-password.sh.j2)."""
    names = [word for name in object_names for word in ("--object-name", name)]
    return tool_with_secret_args(
        cluster, "org.apache.kafka.tools.JmxTool",
        ["--one-time", "true", "--jmx-url", f"service:jmx:rmi:///jndi/rmi://127.0.0.1:{port}/jmxrmi", *names,
         "--attributes", attribute, "--report-format", "properties"],
        JmxSecrets(service).client)


def listener_connections(connection: Connection, cluster: ClusterVars, service: str) -> Observation[dict[str, int] | None]:
    """A broker's open connections per listener (socket-server-metrics, summed over its network threads)."""
    result = connection.run(local_jmx(cluster, cluster.kafka_broker_jmx_port, service, [SOCKET_SERVER_METRICS], "connection-count"),
                            check=False, timeout=120)
    try:
        counts = read_listener_connections(result)
    except Unreadable as exc:
        return Observation(False, None, str(exc))
    return Observation(True, counts, ", ".join(f"{name}: {count}" for name, count in counts.items()))


def _bash(script: Command) -> Command:
    """/dev/tcp is bash's: run the probe in bash whatever the login shell (sudo uses sh)."""
    return shell(script, "bash")


def consumer_lag(connection: Connection, cluster: ClusterVars, brokers: Iterable[Host]) -> dict[str, int | None]:
    """Each consumer group's lag, summed over its partitions (None: no committed offset yet)."""
    return read_consumer_lag(connection.run(describe_consumer_groups(cluster, brokers), check=False, timeout=120))


# ZooKeeper -----------------------------------------------------------------------------------


def zookeeper_mode(connection: Connection, cluster: ClusterVars) -> Observation[str]:
    """The member's role from the `srvr` four-letter word: leader, follower or standalone."""
    result = connection.run(
        _bash(sh("exec 3<>/dev/tcp/127.0.0.1/{port} && printf srvr >&3 && cat <&3", port=cluster.zookeeper_client_port)),
        check=False,
        timeout=15,
    )
    try:
        mode = read_zookeeper_mode(result)
    except Unreadable as exc:
        return Observation(False, NOT_SERVING, str(exc))
    return Observation(mode in ("leader", "follower", "standalone"), mode, f"mode: {mode}")


# KRaft controllers ---------------------------------------------------------------------------


def _describe_quorum(connection: Connection, cluster: ClusterVars, host: Host, what: str):
    """kafka-metadata-quorum describe (--status or --replication), asked of this controller."""
    return kafka_tool(connection, cluster, "org.apache.kafka.tools.MetadataQuorumCommand",
                      ["--bootstrap-controller", host_port(host.name, cluster.quorum_listener.port), "--command-config",
                       admin_config(cluster), "describe", what])


def controller_quorum(connection: Connection, cluster: ClusterVars, host: Host) -> Observation[dict[str, str]]:
    """`describe --status` of the metadata quorum, asked of this controller."""
    result = _describe_quorum(connection, cluster, host, "--status")
    try:
        status = read_quorum_status(result)
    except Unreadable as exc:
        return Observation(False, {}, str(exc))
    leader = int(status["LeaderId"])
    summary = f"leader {leader}, high watermark {status['HighWatermark']}" if leader >= 0 else f"no leader (LeaderId {leader})"
    return Observation(leader >= 0, status, summary)


# Brokers -------------------------------------------------------------------------------------


def broker_api_versions_tool(cluster: ClusterVars) -> str:
    """kafka-broker-api-versions' main class: Kafka 4.0 moved it from the core jar to the tools jar."""
    return "org.apache.kafka.tools.BrokerApiVersionsCommand" if cluster.kafka_major >= 4 else "kafka.admin.BrokerApiVersionsCommand"


def broker_registered(connection: Connection, cluster: ClusterVars, host: Host) -> Observation[list[int]]:
    """The broker answers on its inter-broker listener and its metadata lists itself."""
    listener = cluster.inter_broker_listener
    result = kafka_tool(
        connection, cluster, broker_api_versions_tool(cluster),
        ["--bootstrap-server", host_port(host.name, listener.port), "--command-config", admin_config(cluster)],
    )
    try:
        ids = read_registered_brokers(result)
    except Unreadable as exc:
        return Observation(False, None, str(exc))
    return Observation(host.broker_id in ids, ids, f"registered brokers seen from {host.name}: {ids}")


def partitions(connection: Connection, cluster: ClusterVars, brokers: list[Host], default_min_isr: int) -> list[Partition] | str:
    """Every partition with leader, replicas and ISR (TopicCommand --describe), or the tool's error."""
    listener = cluster.inter_broker_listener
    bootstrap = ",".join(host_port(b.name, listener.port) for b in brokers)
    result = kafka_tool(connection, cluster, "org.apache.kafka.tools.TopicCommand",
                        ["--bootstrap-server", bootstrap, "--command-config", admin_config(cluster), "--describe"])
    try:
        return read_partitions(result, default_min_isr)
    except Unreadable as exc:
        return str(exc)


def under_replicated(state: list[Partition] | str) -> Observation[list[str]]:
    if isinstance(state, str):
        return Observation(False, [], state)
    names = [str(p) for p in state if len(p.isr) < len(p.replicas)]
    return Observation(not names, names, f"under-replicated: {', '.join(names[:10])}" if names else "none under-replicated")


def broker_safe_to_stop(state: list[Partition] | str, hosts: Host | list[Host]) -> Observation[list[str]]:
    """No under-replicated or offline partition, and none that would drop below min.insync.replicas
    without these brokers."""
    if isinstance(state, str):
        return Observation(False, [], state)
    stopping = {h.broker_id for h in (hosts if isinstance(hosts, list) else [hosts])}
    problems = [f"{p} under-replicated (ISR {list(p.isr)} of {list(p.replicas)})" for p in state if len(p.isr) < len(p.replicas)]
    problems += [f"{p} offline" for p in state if p.leader < 0]
    problems += [f"{p} would fall below min.insync.replicas={p.min_isr} (ISR {list(p.isr)})"
                 for p in state if stopping & set(p.isr) and len(set(p.isr) - stopping) < p.min_isr and len(p.replicas) > 1]
    summary = "; ".join(problems[:8]) + (f" (+{len(problems) - 8} more)" if len(problems) > 8 else "")
    ids = ", ".join(str(i) for i in sorted(stopping))
    kept = f"{len(state)} partitions in sync, min ISR kept without broker {ids}" if state else "kafka-topics lists no partition"
    return Observation(not problems, problems, summary or kept)


def elect_preferred_leaders(connection: Connection, cluster: ClusterVars, brokers: list[Host]) -> Observation[str]:
    """Give leadership back to preferred replicas after a restart moved it."""
    listener = cluster.inter_broker_listener
    bootstrap = ",".join(host_port(b.name, listener.port) for b in brokers)
    result = kafka_tool(connection, cluster, "org.apache.kafka.tools.LeaderElectionCommand",
                        ["--bootstrap-server", bootstrap, "--admin.config", admin_config(cluster),
                         "--election-type", "PREFERRED", "--all-topic-partitions"])
    try:
        failed = read_leader_election(result)
    except Unreadable as exc:
        return Observation(False, result.stdout, str(exc))
    summary = f"{len(failed)} preferred leaders not elected: {failed[0]}" if failed else "preferred leaders restored"
    return Observation(not failed, result.stdout, summary)


def controller_voters_caught_up(connection: Connection, cluster: ClusterVars, host: Host) -> Observation[dict[str, int]]:
    """Every voter of the metadata quorum within VOTER_LAG_LIMIT records of the leader."""
    result = _describe_quorum(connection, cluster, host, "--replication")
    try:
        lags = read_voter_lags(result)
    except Unreadable as exc:
        return Observation(False, {}, str(exc))
    return Observation(max(lags.values()) <= VOTER_LAG_LIMIT, lags, ", ".join(f"{node} lag {lag}" for node, lag in lags.items()))


ZOOKEEPER_TIMEOUT_MS = 15000
_DNS_NAME = re.compile(r"(?=.{1,253}$)[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(\.[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?")
_ZOOKEEPER_SERVER = re.compile(r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^:\[\]]+):(?P<port>\d{1,5})")
_CHROOT_NODE = re.compile(r"[A-Za-z0-9_.:@+=~-]+")


def checked_zookeeper_connect(value: str) -> str:
    """A ZooKeeper connect string, host:port[,host:port...][/chroot], as it was given; ValueError naming the
    part that is not one. The value may come from a file the service account can write: it stays data."""
    servers, slash, chroot = value.partition("/")
    problem = None
    for server in servers.split(","):
        match = _ZOOKEEPER_SERVER.fullmatch(server)
        if match is None or not 0 < int(match["port"]) < 65536:
            problem = f"{server!r} is not host:port"
        elif match["host"].startswith("["):
            try:
                ipaddress.IPv6Address(match["host"][1:-1])
            except ValueError:
                problem = f"{match['host']!r} is not an IPv6 address"
        elif not _DNS_NAME.fullmatch(match["host"]):
            problem = f"{match['host']!r} is not a host name or IP address"
        if problem:
            break
    nodes = chroot.split("/") if slash else []
    if problem is None and slash and not all(_CHROOT_NODE.fullmatch(n) and n not in (".", "..") for n in nodes):
        problem = f"chroot {'/' + chroot!r} is not a ZooKeeper path"
    if problem:
        raise ValueError(f"zookeeper.connect {value!r}: {problem} (expected host:port[,host:port][/chroot])")
    return value


def zookeeper_command(connection: Connection, cluster: ClusterVars, zookeeper_connect: str, commands: list[str],
                      config: str | None, jaas: str | None) -> list[str]:
    """ZooKeeper shell commands, run in one session of ZooKeeper's own client from the host's Kafka jars and
    settings; one output line per command ("" for a command that prints nothing, such as delete)."""
    try:
        server = checked_zookeeper_connect(zookeeper_connect)
    except ValueError as exc:
        raise TransportError(f"host {connection.host.name}: {exc}; not used") from None
    tls = cluster.zookeeper_ssl_enabled
    main_class = "org.apache.zookeeper.ZooKeeperMainWithTlsSupportForKafka" if tls else "org.apache.zookeeper.ZooKeeperMain"
    options = ["-zk-tls-config-file", config] if tls and config else []
    jvm = [f"-Djava.security.auth.login.config={jaas}"] if jaas else []
    # Commands on stdin share one JVM, run only once the session is up; stderr is merged in order so that
    # "Node does not exist" stays in its command's place.
    shell_client = java_tool(cluster, main_class, [*options, "-server", server, "-waitforconnection", "-timeout", ZOOKEEPER_TIMEOUT_MS],
                             heap="128m", jvm=jvm)
    command = sh("{shell_client} 2>&1", shell_client=shell_client)
    marker = "/kafkactl-end-of-commands"  # absent: its answer closes the output whatever came before
    result = connection.run(command, check=False, timeout=120, stdin="".join(f"{c}\n" for c in [*commands, f"get {marker}"]).encode())
    try:
        return read_zookeeper_answers(result.stdout, commands, marker)
    except Unreadable as exc:
        raise Unreadable(f"host {connection.host.name}: ZooKeeper at {zookeeper_connect} (session timeout "
                         f"{ZOOKEEPER_TIMEOUT_MS // 1000} s): {exc}") from None


def zookeeper_get(connection: Connection, cluster: ClusterVars, zookeeper_connect: str, paths: list[str], config: str | None,
                  jaas: str | None) -> dict[str, str | None]:
    """Znodes' data ("ls /path" for children as "[a, b]"); None for a znode that does not exist."""
    commands = [p if p.startswith("ls ") else f"get {p}" for p in paths]
    answers = zookeeper_command(connection, cluster, zookeeper_connect, commands, config, jaas)
    return {path: None if answer.startswith("Node does not exist") else answer for path, answer in zip(paths, answers)}


# Connect and Schema Registry -----------------------------------------------------------------


def _http_get(connection: Connection, host: Host, port: int, path: str, lines: int) -> CommandResult:
    """GET `path` of a service on `host`, from the host itself; the first `lines` lines of the answer."""
    return connection.run(
        _bash(sh("exec 3<>/dev/tcp/{host}/{port} && printf 'GET %s HTTP/1.0\\r\\n\\r\\n' {path} >&3 && head -n {lines} <&3",
                 host=host.name, port=port, path=path, lines=lines)),
        check=False,
        timeout=15,
    )


def http_ready(connection: Connection, host: Host, port: int, path: str = "/") -> Observation[str]:
    """200 to GET `path`; the status line as the summary."""
    result = _http_get(connection, host, port, path, 1)
    try:
        code = read_http_status(result)
    except Unreadable as exc:
        return Observation(False, "", str(exc))
    status = result.stdout.strip()
    return Observation(code == 200, status, f"GET {path}: {status}")


def connect_ready(connection: Connection, host: Host, port: int) -> Observation[str]:
    """A Connect worker that has finished starting: 200 to GET /health (Kafka 3.9+; 503 while it starts, and 404 for a
    moment before its REST resources are registered), or, from a worker older than 3.9 (the version its GET / names),
    which answers 404 there, 200 to GET /. The running worker's version, not the inventory's: a roll onto a new
    version meets both."""
    health = http_ready(connection, host, port, "/health")
    if health.value.split()[1:2] != ["404"]:
        return health
    try:
        version = read_connect_version(_http_get(connection, host, port, "/", 100))
    except Unreadable:
        return health
    if tuple(int(part) for part in re.findall(r"\d+", version)[:2]) >= (3, 9):
        return health
    return Observation(True, f"Kafka Connect {version}", f"GET /: Kafka Connect {version}, which has no GET /health")


# Gates: the names roles/<component>/role.yml uses for its restart semantics ------------------


@dataclass(frozen=True)
class GateContext:
    transport: Transport
    cluster: ClusterVars
    members: dict[Component, list[Host]]
    default_min_isr: int
    clock: Callable[[], float] = time.monotonic
    _partitions: list = field(default_factory=list)  # [(when, partitions)]: the last cluster-wide read
    _most_listed: list = field(default_factory=list)  # [count]: the most partitions a read in this run listed

    def partitions(self, host: Host) -> list[Partition] | str:
        """Partition state, read through `host`; a read younger than PARTITIONS_FRESH_SECONDS is reused, so the
        ready gates of one broker and the before-stop gates of the next cost one tool run, not two."""
        if self._partitions and self.clock() - self._partitions[0][0] < PARTITIONS_FRESH_SECONDS:
            return self._partitions[0][1]
        state = partitions(self.transport.connection(host.name), self.cluster, self.members[Component.KAFKA_BROKER],
                           self.default_min_isr)
        if state == [] and self._most_listed and self._most_listed[0]:
            # A cluster does not lose every topic between two gates: an empty list now is no evidence.
            state = f"could not read {TOPICS}: it lists no partition, {self._most_listed[0]} were listed earlier in this run"
        self._partitions[:] = [(self.clock(), state)] if not isinstance(state, str) else []
        if not isinstance(state, str):
            self._most_listed[:] = [max([len(state), *self._most_listed])]
        return state

    def forget(self) -> None:
        """Something was restarted: no earlier read may stand for the cluster's state any more."""
        self._partitions.clear()

    def exporter_reading(self, component: Component, host: Host, names: tuple[str, ...]) -> dict[str, float] | None:
        """`names` as this member's JMX exporter serves them (those it exports), or None when it cannot be read."""
        exporter = self.cluster.jmx_exporter(component)
        if exporter is None:
            return None
        return exporter_metrics(self.transport.connection(host.name), exporter.port, names)

    def exporter_readings(self, components: tuple[Component, ...],
                          names: tuple[str, ...]) -> list[tuple[Component, Host, dict[str, float] | None]]:
        """`names` from the exporter of every member of `components`, read from all of them at once."""
        members = [(component, host) for component in components for host in self.members.get(component, [])]
        read = self.transport.each(members, lambda member: self.exporter_reading(*member, names))
        return [(component, host, None if isinstance(reading, BaseException) else reading) for (component, host), reading in read]

    def brokers_partition_health(self) -> dict[str, float] | None:
        """Under-replicated, under- and at-min-ISR partitions summed over every broker's exporter (each counts the
        partitions it leads), and the offline partitions the active controller counts; None unless every broker
        and controller answered and exactly one of them is the active controller."""
        totals = dict.fromkeys(PARTITION_HEALTH, 0.0)
        active: list[dict[str, float]] = []
        for component, _, reading in self.exporter_readings((Component.KAFKA_BROKER, Component.KAFKA_CONTROLLER),
                                                            (*PARTITION_HEALTH, *CONTROLLER_HEALTH)):
            if reading is None or component == Component.KAFKA_BROKER and not set(PARTITION_HEALTH) <= reading.keys():
                return None
            totals = {name: total + reading.get(name, 0.0) for name, total in totals.items()}
            active += [reading] if reading.get(ACTIVE_CONTROLLER) == 1 else []
        if len(active) != 1 or OFFLINE_PARTITIONS not in active[0]:
            return None
        return {**totals, OFFLINE_PARTITIONS: active[0][OFFLINE_PARTITIONS]}

    def quorum_views(self) -> dict[int, dict[str, float]] | None:
        """Each controller's leader and metadata log end offset by its node id, or None unless every one answered."""
        views = {}
        for _, host, reading in self.exporter_readings((Component.KAFKA_CONTROLLER,), QUORUM):
            if reading is None or host.node_id is None or not set(QUORUM) <= reading.keys():
                return None
            views[host.node_id] = reading
        return views or None


def _ensemble(ctx: GateContext, host: Host) -> Observation[dict[str, str]]:
    observed = {m.name: zookeeper_mode(ctx.transport.connection(m.name), ctx.cluster) for m in ctx.members[Component.ZOOKEEPER]}
    modes = {name: observation.value for name, observation in observed.items()}
    leaders = [name for name, mode in modes.items() if mode == "leader"]
    ok = len(leaders) == 1 and all(mode in ("leader", "follower") for mode in modes.values()) or modes == {host.name: "standalone"}
    return Observation(ok, modes, ", ".join(f"{n} {o.value if o.ok else o.summary}" for n, o in observed.items()))


@dataclass(frozen=True)
class Gate:
    check: Callable[[GateContext, Host], Observation]


# Gates that read the JMX exporters when every node they need serves one (milliseconds), and ask Kafka's tool
# otherwise (a roll that adds the exporter, a node down): the same facts either way, never a reading that passes
# because nothing was read.

BROKER_STATES = {0: "NOT_RUNNING", 1: "STARTING", 2: "RECOVERY", 3: "RUNNING", 6: "PENDING_CONTROLLED_SHUTDOWN",
                 7: "SHUTTING_DOWN"}
RUNNING = 3  # registered and serving; in KRaft, also unfenced by the controller


def _broker_registered(ctx: GateContext, host: Host) -> Observation:
    reading = ctx.exporter_reading(Component.KAFKA_BROKER, host, (BROKER_STATE,))
    if reading is None or BROKER_STATE not in reading:
        return broker_registered(ctx.transport.connection(host.name), ctx.cluster, host)
    state = int(reading[BROKER_STATE])
    return Observation(state == RUNNING, [host.broker_id] if state == RUNNING else [],
                       f"broker state {BROKER_STATES.get(state, state)} (its JMX exporter)")


def _no_under_replicated(ctx: GateContext, host: Host) -> Observation:
    health = ctx.brokers_partition_health()
    if health is None:
        return under_replicated(ctx.partitions(host))
    count = int(health[UNDER_REPLICATED])
    return Observation(count == 0, [f"{count} partitions"] if count else [],
                       f"under-replicated: {count} partitions (the brokers' JMX exporters)" if count
                       else "none under-replicated (the brokers' JMX exporters)")


def _controller_quorum_has_leader(ctx: GateContext, host: Host) -> Observation:
    reading = ctx.exporter_reading(Component.KAFKA_CONTROLLER, host, QUORUM)
    if reading is None or RAFT_LEADER not in reading:
        return controller_quorum(ctx.transport.connection(host.name), ctx.cluster, host)
    leader = int(reading[RAFT_LEADER])
    return Observation(leader >= 0, {"LeaderId": str(leader)},
                       f"leader {leader} (its JMX exporter)" if leader >= 0 else "no leader (its JMX exporter)")


def _controller_voters_caught_up(ctx: GateContext, host: Host) -> Observation:
    """Every voter's metadata log within VOTER_LAG_LIMIT records of the leader's, each read from its own exporter.
    Voters that do not agree on a leader are not caught up; a leader that is none of them sends the gate to the tool."""
    views = ctx.quorum_views()
    if views is None:
        return controller_voters_caught_up(ctx.transport.connection(host.name), ctx.cluster, host)
    leaders = {node: int(view[RAFT_LEADER]) for node, view in views.items()}
    if len(set(leaders.values())) != 1 or -1 in leaders.values():
        return Observation(False, {}, "the controllers do not agree on a leader yet: "
                                      + ", ".join(f"{node} sees {leader}" for node, leader in leaders.items()))
    leader = next(iter(leaders.values()))
    if leader not in views:
        return controller_voters_caught_up(ctx.transport.connection(host.name), ctx.cluster, host)
    lags = {str(node): max(0, int(views[leader][RAFT_LOG_END] - view[RAFT_LOG_END])) for node, view in views.items()}
    return Observation(max(lags.values()) <= VOTER_LAG_LIMIT, lags,
                       ", ".join(f"{node} lag {lag}" for node, lag in lags.items()) + " (the controllers' JMX exporters)")


def _broker_safe_to_stop(ctx: GateContext, host: Host) -> Observation:
    """Safe by the exporters when no partition is under-replicated, offline or at min.insync.replicas: stopping one
    broker then leaves every partition at or above it. Otherwise the partition list says which partitions hold it."""
    health = ctx.brokers_partition_health()
    if health is None or any(health.values()):
        return broker_safe_to_stop(ctx.partitions(host), host)
    return Observation(True, [], f"every partition in sync and above min.insync.replicas without broker {host.broker_id} "
                                 "(the brokers' JMX exporters)")


GATES: dict[str, Gate] = {
    "zookeeper_serving": Gate(lambda ctx, h: zookeeper_mode(ctx.transport.connection(h.name), ctx.cluster)),
    "zookeeper_ensemble_serving": Gate(_ensemble),
    "controller_quorum_has_leader": Gate(_controller_quorum_has_leader),
    "broker_registered": Gate(_broker_registered),
    "no_under_replicated_partitions": Gate(_no_under_replicated),
    "broker_safe_to_stop": Gate(_broker_safe_to_stop),
    "preferred_leaders_elected": Gate(
        lambda ctx, h: elect_preferred_leaders(ctx.transport.connection(h.name), ctx.cluster, ctx.members[Component.KAFKA_BROKER])
    ),
    "controller_voters_caught_up": Gate(_controller_voters_caught_up),
    "connect_rest_answers": Gate(lambda ctx, h: connect_ready(ctx.transport.connection(h.name), h, ctx.cluster.kafka_connect_rest_port)),
    "schema_registry_rest_answers": Gate(
        lambda ctx, h: http_ready(ctx.transport.connection(h.name), h, ctx.cluster.schema_registry_listener_port)
    ),
}
