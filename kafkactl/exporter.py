"""Readings from a JVM's Prometheus JMX exporter: what a health gate can ask without starting one of Kafka's tools.

GET /metrics?name[]=... is sent from the host itself over the SSH connection already open (bash's /dev/tcp: no
process beyond the shell), and answers in milliseconds where a tool's JVM takes a second or more. The exporter reads
the MBeans at each request, so a reading is as fresh as a tool's. A reading that cannot be had (a node down, a node
the roll has not reached yet that runs no exporter or other rules) is None: the gate then asks Kafka's tool.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from kafkactl.remote import Command, sh, shell
from kafkactl.tool_output import Unreadable, read_http_status, unreadable
from kafkactl.transport import CommandResult, Connection, TransportError

# Names as templates/jmx-exporter/kafka.yml.j2 exports them.
BROKER_STATE = "kafka_server_kafkaserver_brokerstate"
UNDER_REPLICATED = "kafka_server_replicamanager_underreplicatedpartitions"
UNDER_MIN_ISR = "kafka_server_replicamanager_underminisrpartitioncount"
AT_MIN_ISR = "kafka_server_replicamanager_atminisrpartitioncount"
ACTIVE_CONTROLLER = "kafka_controller_kafkacontroller_activecontrollercount"
OFFLINE_PARTITIONS = "kafka_controller_kafkacontroller_offlinepartitionscount"
RAFT_LEADER = "kafka_server_raft_current_leader"  # -1 while this node knows no leader
RAFT_LOG_END = "kafka_server_raft_log_end_offset"
PARTITION_HEALTH = (UNDER_REPLICATED, UNDER_MIN_ISR, AT_MIN_ISR)  # each broker counts the partitions it leads
CONTROLLER_HEALTH = (ACTIVE_CONTROLLER, OFFLINE_PARTITIONS)  # the active controller counts for the cluster
QUORUM = (RAFT_LEADER, RAFT_LOG_END)  # each node's view of the metadata quorum
ZK_MIGRATION = {"ZkMigrationState": "kafka_controller_kafkacontroller_zkmigrationstate",  # a controller's, by MBean name
                "MigratingZkBrokerCount": "kafka_controller_kafkacontroller_migratingzkbrokercount"}

_SAMPLE = re.compile(r"(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+(?P<value>\S+)(?:\s+-?\d+)?")


def metrics_command(port: int, names: Iterable[str]) -> Command:
    """GET the named metrics from the exporter on this host's loopback, the whole answer."""
    path = "/metrics?" + "&".join(f"name[]={name}" for name in names)
    return shell(sh("exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET %s HTTP/1.0\\r\\n\\r\\n' {path} >&3 && cat <&3",
                    port=port, path=path), "bash")


def read_metrics(result: CommandResult, names: Iterable[str]) -> dict[str, float]:
    """The named metrics of an exporter's answer, each summed over its labels; a name it does not export is absent."""
    if result.code != 0 or read_http_status(result) != 200:
        raise unreadable("the JMX exporter's metrics", result)
    wanted = set(names)
    found: dict[str, float] = {}
    for line in result.stdout.partition("\r\n\r\n")[2].splitlines():
        match = _SAMPLE.fullmatch(line.strip())
        if line.startswith("#") or match is None or match["name"] not in wanted:
            continue
        try:
            value = float(match["value"])
        except ValueError:
            raise unreadable("the JMX exporter's metrics", result, f"{match['value']!r} is not a number in: {line.strip()}") from None
        if math.isnan(value):
            raise unreadable("the JMX exporter's metrics", result, f"no value in: {line.strip()}")
        found[match["name"]] = found.get(match["name"], 0.0) + value
    return found


def exporter_metrics(connection: Connection, port: int, names: Iterable[str]) -> dict[str, float] | None:
    """The named metrics this host's exporter serves, or None when it cannot be read (the caller falls back)."""
    names = list(names)
    try:
        return read_metrics(connection.run(metrics_command(port, names), check=False, timeout=15), names)
    except (Unreadable, TransportError):
        return None
