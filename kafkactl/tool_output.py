"""Readers of what Kafka's and ZooKeeper's tools print, strict: an answer that is not what the tool prints
when it worked is `Unreadable`, named with the tool and the first line it printed, never an empty reading.

A gate that read nothing must not pass: an empty partition list is read only from a tool that exited 0 and
printed nothing at all. tests/test_health_parsers.py and tests/test_evidence_parsers.py hold the output
the tools printed on real hosts (tests/cases/tool_output/) with garbled, empty and error variants.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from kafkactl.transport import CommandResult, TransportError

# What a JVM or its logging prints besides a tool's answer.
LOG_NOISE = ("log4j:", "SLF4J:", "Picked up JAVA_TOOL_OPTIONS", "Picked up _JAVA_OPTIONS", "OpenJDK 64-Bit Server VM warning",
             "Trying to connect to JMX url")


class Unreadable(TransportError):
    """A tool answered something that is not its answer: the observation fails, like a host that could not be asked."""


def first_line(result: CommandResult) -> str:
    """The first line a tool printed that is not logging noise, with its exit code when that was not 0."""
    lines = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines()
             if line.strip() and not line.startswith(LOG_NOISE)]
    line = lines[0] if lines else "no output"
    return line if result.code == 0 else f"exit code {result.code}: {line}"


def unreadable(what: str, result: CommandResult, detail: str | None = None) -> Unreadable:
    return Unreadable(f"could not read {what}: {detail or first_line(result)}")


def _answer_lines(result: CommandResult) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.strip()]


def _quiet_stderr(result: CommandResult) -> bool:
    return not any(line.strip() and not line.startswith(LOG_NOISE) for line in result.stderr.splitlines())


def _int(text: str, what: str, result: CommandResult, line: str) -> int:
    if not re.fullmatch(r"-?\d+", text):
        raise unreadable(what, result, f"{text!r} is not a number in: {line.strip()}")
    return int(text)


# kafka-topics --describe -----------------------------------------------------------------------

TOPICS = "the partition list from kafka-topics"


@dataclass(frozen=True)
class Partition:
    topic: str
    partition: int
    leader: int  # -1: offline
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    min_isr: int

    def __str__(self) -> str:
        return f"{self.topic}-{self.partition}"


def _ids(text: str, result: CommandResult, line: str) -> tuple[int, ...]:
    return tuple(_int(i, TOPICS, result, line) for i in text.split(",")) if text else ()


def read_partitions(result: CommandResult, default_min_isr: int) -> list[Partition]:
    """Every partition of `kafka-topics --describe`: one header line per topic, then as many partition lines as
    the header's PartitionCount. Anything else, a short table or an error is Unreadable."""
    if result.code != 0 or (not result.stdout.strip() and not _quiet_stderr(result)):
        raise unreadable(TOPICS, result)
    counts: dict[str, int] = {}
    min_isr: dict[str, int] = {}
    found: list[Partition] = []
    for line in _answer_lines(result):
        # Tab-separated "Key: value" cells; a key may have two words ("Adding Replicas" during a reassignment).
        cells = [re.fullmatch(r"(\w+(?: \w+)?): ?(.*)", cell.strip()) for cell in line.strip().split("\t")]
        fields = {cell.group(1): cell.group(2).strip() for cell in cells if cell}
        topic = fields.get("Topic", "") if all(cells) else ""
        if topic and {"PartitionCount", "ReplicationFactor"} <= fields.keys():
            counts[topic] = _int(fields["PartitionCount"], TOPICS, result, line)
            configs = dict(item.split("=", 1) for item in fields.get("Configs", "").split(",") if "=" in item)
            min_isr[topic] = _int(configs.get("min.insync.replicas", str(default_min_isr)), TOPICS, result, line)
        elif topic and {"Partition", "Leader", "Replicas", "Isr"} <= fields.keys():
            if topic not in counts:
                raise unreadable(TOPICS, result, f"a partition of {topic} before its topic line: {line.strip()}")
            replicas = _ids(fields["Replicas"], result, line)
            if not replicas:
                raise unreadable(TOPICS, result, f"no replicas in: {line.strip()}")
            leader = -1 if fields["Leader"] == "none" else _int(fields["Leader"], TOPICS, result, line)
            found.append(Partition(topic, _int(fields["Partition"], TOPICS, result, line), leader, replicas,
                                   _ids(fields["Isr"], result, line), min_isr[topic]))
        else:
            raise unreadable(TOPICS, result, f"unexpected line: {line.strip()}")
    for topic, count in counts.items():
        listed = sum(1 for p in found if p.topic == topic)
        if listed != count:
            raise unreadable(TOPICS, result, f"topic {topic} has {count} partitions, the table lists {listed}")
    return found


# ZooKeeper's srvr four-letter word -------------------------------------------------------------

NOT_SERVING = "not serving"


def read_zookeeper_mode(result: CommandResult) -> str:
    """The member's role from its `srvr` answer: leader, follower, standalone; NOT_SERVING when it says so."""
    if "This ZooKeeper instance is not currently serving requests" in result.stdout:
        return NOT_SERVING
    match = re.search(r"^Zookeeper version: .*^Mode: (\w+)$", result.stdout, re.M | re.S)
    if result.code != 0 or match is None:
        raise unreadable("ZooKeeper's srvr answer", result)
    return match.group(1)


# kafka-metadata-quorum describe --status | --replication ---------------------------------------

QUORUM_STATUS = "the quorum status from kafka-metadata-quorum"
QUORUM_REPLICATION = "the voters' lag from kafka-metadata-quorum"


def read_quorum_status(result: CommandResult) -> dict[str, str]:
    """`describe --status`: one "Key: value" line each, LeaderId, LeaderEpoch and HighWatermark among them."""
    if result.code != 0:
        raise unreadable(QUORUM_STATUS, result)
    status = {}
    for line in _answer_lines(result):
        match = re.fullmatch(r"(\w+):\s*(.*)", line.strip())
        if match is None:
            raise unreadable(QUORUM_STATUS, result, f"unexpected line: {line.strip()}")
        status[match.group(1)] = match.group(2).strip()
    missing = [key for key in ("LeaderId", "LeaderEpoch", "HighWatermark") if key not in status]
    if missing:
        raise unreadable(QUORUM_STATUS, result, f"no {', '.join(missing)} in the answer")
    for key in ("LeaderId", "HighWatermark"):
        _int(status[key], QUORUM_STATUS, result, f"{key}: {status[key]}")
    return status


def read_voter_lags(result: CommandResult) -> dict[str, int]:
    """`describe --replication`: each voter's lag behind the leader, by node id, from the columns the header names."""
    if result.code != 0:
        raise unreadable(QUORUM_REPLICATION, result)
    lines = _answer_lines(result)
    header = lines[0].split() if lines else []
    if not {"NodeId", "Lag", "Status"} <= set(header):
        raise unreadable(QUORUM_REPLICATION, result)
    lags: dict[str, int] = {}
    for line in lines[1:]:
        row = dict(zip(header, line.split()))
        if len(line.split()) != len(header) or row["Status"] not in ("Leader", "Follower", "Observer"):
            raise unreadable(QUORUM_REPLICATION, result, f"unexpected line: {line.strip()}")
        if row["Status"] != "Observer":
            lags[row["NodeId"]] = _int(row["Lag"], QUORUM_REPLICATION, result, line)
    if not lags:
        raise unreadable(QUORUM_REPLICATION, result, "the table lists no voter")
    return lags


# kafka-broker-api-versions ---------------------------------------------------------------------

BROKERS = "the broker list from kafka-broker-api-versions"


def read_registered_brokers(result: CommandResult) -> list[int]:
    """The ids of the brokers the cluster's metadata lists: one "host:port (id: N rack: R) -> (" line each."""
    ids = sorted({int(i) for i in re.findall(r"^\S+ \(id: (\d+) rack: [^)]*\) -> \($", result.stdout, re.M)})
    if result.code != 0 or not ids:
        raise unreadable(BROKERS, result)
    return ids


# kafka-leader-election ---------------------------------------------------------------------------

ELECTION = "the answer of kafka-leader-election"
ELECTION_FAILED = "Error completing leader election"


def read_leader_election(result: CommandResult) -> list[str]:
    """The partitions whose preferred leader could not be elected ([] when every election succeeded or was not
    needed); the tool exits 1 and prints one line per such partition."""
    lines = [line.strip() for line in _answer_lines(result)]
    failed = [line for line in lines if line.startswith(ELECTION_FAILED)]
    if failed:  # whatever else it printed and however it exited
        return failed
    unexpected = [line for line in lines if not line.startswith(("Successfully completed leader election",
                                                                 "Valid replica already elected for partitions"))]
    if result.code != 0 or unexpected:
        raise unreadable(ELECTION, result, f"unexpected line: {unexpected[0]}" if result.code == 0 else None)
    return []


# HTTP status line (Connect, Schema Registry) -----------------------------------------------------


def read_http_status(result: CommandResult) -> int:
    """The status code of an HTTP answer's first line."""
    match = re.match(r"HTTP/\d(?:\.\d)? (\d{3})\b", result.stdout.strip())
    if match is None:
        raise unreadable("an HTTP status line", result)
    return int(match.group(1))


def read_connect_version(result: CommandResult) -> str:
    """The version a Connect worker's GET / answers with (`{"version": ..., "commit": ..., "kafka_cluster_id": ...}`)."""
    if read_http_status(result) != 200:
        raise unreadable("a Connect worker's version", result)
    body = result.stdout.split("\r\n\r\n", 1)[-1] if "\r\n\r\n" in result.stdout else result.stdout.split("\n\n", 1)[-1]
    try:
        version = json.loads(body)["version"]
    except (ValueError, KeyError, TypeError):
        raise unreadable("a Connect worker's version", result, "no version in the answer") from None
    if not isinstance(version, str) or not re.match(r"\d+\.\d+", version):
        raise unreadable("a Connect worker's version", result, f"version {version!r}")
    return version


# ZooKeeper's shell -------------------------------------------------------------------------------

# What ZooKeeper's shell prints besides the answers; the answers come one line per command, in order.
ZOOKEEPER_SHELL_NOISE = ("Connecting to ", "Welcome to ZooKeeper!", "JLine support is", "WATCHER::", "WatchedEvent ", *LOG_NOISE)
ZOOKEEPER = "ZooKeeper's shell"
NO_NODE = "Node does not exist: "


def read_zookeeper_answers(stdout: str, commands: list[str], marker: str) -> list[str]:
    """One answer per command from the shell's output, which ends with the answer for `get marker` (a znode
    that does not exist); "" for a delete that succeeded. A missing, extra or misplaced line is Unreadable."""
    answers = [line for line in stdout.splitlines() if line.strip() and not line.startswith(ZOOKEEPER_SHELL_NOISE)]
    if not answers or answers[-1] != f"{NO_NODE}{marker}":
        failure = next((line for line in answers if "Exception" in line), answers[-1] if answers else "no answer")
        raise Unreadable(f"could not read {ZOOKEEPER}: it did not answer every command ({failure})")
    errors = [line for line in answers if "KeeperErrorCode" in line]
    if errors:
        raise Unreadable(f"ZooKeeper: {errors[0]}")
    aligned, queue = [], answers[:-1]
    for command in commands:
        path = command.split()[-1]
        if command.startswith("delete ") and not (queue and queue[0] == f"{NO_NODE}{path}"):
            aligned.append("")
            continue
        if not queue or (queue[0].startswith(NO_NODE) and queue[0] != f"{NO_NODE}{path}"):
            raise Unreadable(f"could not read {ZOOKEEPER}: no answer in its place for '{command}' "
                             f"({queue[0] if queue else 'output ended'})")
        aligned.append(queue.pop(0))
    if queue:
        raise Unreadable(f"could not read {ZOOKEEPER}: unexpected line: {queue[0]}")
    return aligned


def read_znode_json(path: str, data: str | None) -> dict | None:
    """A znode holding a JSON object (/controller, /migration, /cluster/id); None when it does not exist."""
    if data is None:
        return None
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        raise Unreadable(f"could not read {path} from ZooKeeper: {data[:200]}")
    return value


def read_znode_int(path: str, data: str | None) -> int | None:
    if data is None:
        return None
    if not re.fullmatch(r"-?\d+", data.strip()):
        raise Unreadable(f"could not read {path} from ZooKeeper: {data[:200]}")
    return int(data)


def read_znode_children(path: str, data: str | None) -> tuple[str, ...] | None:
    """`ls` output: "[a, b]"."""
    if data is None:
        return None
    match = re.fullmatch(r"\[(.*)\]", data.strip())
    if match is None:
        raise Unreadable(f"could not read the children of {path} from ZooKeeper: {data[:200]}")
    return tuple(child for child in match.group(1).split(", ") if child)


# JmxTool and kafka-features ----------------------------------------------------------------------


def read_jmx_values(result: CommandResult, names: tuple[str, ...]) -> dict[str, int]:
    """Each named metric's Value from `JmxTool --one-time true --report-format properties`."""
    values = {m: int(v) for m, v in re.findall(r"name=(\w+):Value=(-?\d+)", result.stdout)}
    missing = [name for name in names if name not in values]
    if result.code != 0 or missing:
        raise unreadable(f"{', '.join(missing or names)} from JmxTool", result)
    return values


_CONNECTION_COUNT = re.compile(r"listener=(?P<listener>[^,:]+),networkProcessor=\d+:connection-count=(?P<count>\d+)(?:\.0)?$", re.M)


def read_listener_connections(result: CommandResult) -> dict[str, int]:
    """Open connections per listener from JmxTool's socket-server-metrics (one line per network thread)."""
    found = _CONNECTION_COUNT.findall(result.stdout)
    if result.code != 0 or not found:
        raise unreadable("connection-count of socket-server-metrics from JmxTool", result)
    counts: dict[str, int] = {}
    for listener, count in found:
        counts[listener] = counts.get(listener, 0) + int(count)
    return dict(sorted(counts.items()))


def read_metadata_version(result: CommandResult) -> str:
    """The finalized metadata.version from `kafka-features describe`."""
    match = re.search(r"^Feature: metadata\.version\s.*?FinalizedVersionLevel: (\S+)", result.stdout, re.M)
    if result.code != 0 or match is None:
        raise unreadable("metadata.version from kafka-features", result)
    return match.group(1)


# kafka-consumer-groups ----------------------------------------------------------------------------

CONSUMER_GROUPS = "the consumer groups from kafka-consumer-groups"
_GROUP_HEADER = ("GROUP", "TOPIC", "PARTITION", "CURRENT-OFFSET", "LOG-END-OFFSET", "LAG")


def read_consumer_lag(result: CommandResult) -> dict[str, int | None]:
    """Each consumer group's lag, summed over its partitions, from `kafka-consumer-groups --describe --all-groups`
    (None for a group with no committed offset yet); a table Kafka prints per group, each with its header."""
    if result.code != 0:
        raise unreadable(CONSUMER_GROUPS, result)
    lags: dict[str, int | None] = {}
    columns: list[str] | None = None
    for line in _answer_lines(result):
        words = line.split()
        if tuple(words[:len(_GROUP_HEADER)]) == _GROUP_HEADER:
            columns = words
            continue
        if columns is None or len(words) < len(_GROUP_HEADER):
            raise unreadable(CONSUMER_GROUPS, result, f"unexpected line {line.strip()[:120]!r}")
        group, lag = words[0], words[columns.index("LAG")]
        known = lags.get(group)
        lags[group] = known if lag == "-" else (known or 0) + _int(lag, CONSUMER_GROUPS, result, line)
    return lags


# kafka-configs ------------------------------------------------------------------------------------

_SCRAM_USER = re.compile(r"^SCRAM credential configs for user-principal '(?P<user>.*)' are (?P<mechanisms>.*)$")


def read_scram_users(result: CommandResult) -> dict[str, frozenset[str]]:
    """Each user's SCRAM mechanisms from `kafka-configs --describe --entity-type users` (passwords are never shown)."""
    if result.code != 0:
        raise unreadable("SCRAM users from kafka-configs", result)
    users = {}
    for line in result.stdout.splitlines():
        found = _SCRAM_USER.match(line.strip())
        if found:
            users[found["user"]] = frozenset(m.split("=")[0].strip() for m in found["mechanisms"].split(",") if m.strip().startswith("SCRAM-"))
    return users
