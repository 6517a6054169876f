"""The data a migration scenario puts into its cluster before migrating, and the check that all of it is still there.

Seeded from this machine with confluent-kafka, in ZooKeeper mode (molecule/shared/converge.yml):

- topics with configurations of their own (retention, compaction, size limits);
- thousands of messages whose keys and values follow from their number, produced with acks=all and
  idempotence; the partition and offset of each is recorded from its delivery report;
- a consumer group with committed offsets (half of each partition of one topic) and commit metadata;
- ACLs: a literal READ on a topic and on the group, a prefixed WRITE on topics (when the brokers run an authorizer);
- the cluster id.

Everything is recorded in `seed.json` in the scenario's ephemeral directory; `check` compares the live
cluster with it and names every difference (ACLs granted after the seed are not one). Both reach the cluster
as the scenario's clients do (migration.py's `Scenario.client`: PLAINTEXT, or SASL_SSL once they moved). Both are commands of this file (see `main`) and functions
the verify tests import.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ConfigResource,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from migration import Scenario

SEED_FILE = "seed.json"
TOPICS = {
    # name: partitions, topic configuration (beyond the broker defaults), messages
    "seed-orders": (6, {"retention.ms": "1209600000", "min.insync.replicas": "2", "compression.type": "lz4"}, 3000),
    "seed-customers": (3, {"cleanup.policy": "compact", "min.compaction.lag.ms": "86400000", "segment.bytes": "52428800"}, 1500),
    "seed-events": (3, {"retention.bytes": "268435456", "max.message.bytes": "2097152", "message.timestamp.type": "LogAppendTime"}, 1500),
}
GROUP = "seed-readers"
GROUP_TOPIC = "seed-orders"
GROUP_METADATA = "seeded before the migration"
ACLS = [
    # principal, resource type, name, pattern type, operation
    ("User:alice", "TOPIC", "seed-orders", "LITERAL", "READ"),
    ("User:alice", "GROUP", GROUP, "LITERAL", "READ"),
    ("User:bob", "TOPIC", "seed-", "PREFIXED", "WRITE"),
]
TIMEOUT = 60


def key_of(topic: str, number: int) -> str:
    return f"{topic}-{number:05d}"


def value_of(key: str) -> str:
    """The value that belongs to a key: its number and a digest of varying length (a compacted topic keeps every
    key: each is produced once)."""
    digest = hashlib.sha256(key.encode()).hexdigest()
    return json.dumps({"key": key, "digest": digest[: 8 + int(key[-5:]) % 57]}, sort_keys=True)


def _acl(principal: str, kind: str, name: str, pattern: str, operation: str) -> AclBinding:
    return AclBinding(ResourceType[kind], name, ResourcePatternType[pattern], principal, "*", AclOperation[operation],
                      AclPermissionType.ALLOW)


def _acl_tuple(binding: AclBinding) -> tuple[str, str, str, str, str, str, str]:
    return (binding.principal, binding.restype.name, binding.name, binding.resource_pattern_type.name,
            binding.operation.name, binding.permission_type.name, binding.host)


def _retry(call, what: str, deadline: float):
    """Run `call` until it succeeds: right after a broker or controller restarts, metadata can lag for a moment."""
    while True:
        try:
            return call()
        except (KafkaException, KeyError, ValueError) as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: {exc}") from exc
            time.sleep(1)


# Seed ----------------------------------------------------------------------------------------------


def _wait_for_topics(admin: AdminClient) -> None:
    deadline = time.monotonic() + TIMEOUT
    while True:
        topics = admin.list_topics(timeout=30).topics
        ready = all(
            name in topics and len(topics[name].partitions) == partitions
            and all(len(p.isrs) == 3 and p.leader >= 0 for p in topics[name].partitions.values())
            for name, (partitions, _, _) in TOPICS.items()
        )
        if ready:
            return
        seen = {name: {p: (m.leader, len(m.isrs)) for p, m in topics[name].partitions.items()} if name in topics else "absent"
                for name in TOPICS}
        assert time.monotonic() < deadline, (f"seeded topics with a leader and 3 in-sync replicas per partition: not within "
                                             f"{TIMEOUT} s; last seen (partition: (leader, in-sync replicas)): {seen}")
        time.sleep(0.5)


def _create_acls(admin: AdminClient) -> list[tuple[str, str, str, str, str]]:
    """ACLS, made when the brokers run an authorizer; none (and none recorded) when they do not."""
    try:
        for future in admin.create_acls([_acl(*acl) for acl in ACLS], request_timeout=60).values():
            future.result(timeout=90)
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.SECURITY_DISABLED:
            return []
        raise
    return ACLS


def seed(client: dict[str, str]) -> dict:
    """Create and fill everything as `client` (librdkafka settings); returns what `check` compares with."""
    admin = AdminClient(client)
    created = admin.create_topics(
        [NewTopic(name, num_partitions=partitions, replication_factor=3, config=config)
         for name, (partitions, config, _) in TOPICS.items()],
        operation_timeout=60, request_timeout=60,
    )
    for future in created.values():
        future.result(timeout=90)
    _wait_for_topics(admin)

    producer = Producer({**client, "acks": "all", "enable.idempotence": True, "linger.ms": 20,
                         "message.timeout.ms": 120_000})
    delivered: dict[str, dict[int, list[tuple[int, str]]]] = {name: {} for name in TOPICS}
    failures: list[str] = []

    def report(err, msg):
        if err is not None:
            failures.append(f"{msg.topic()} {msg.key()}: {err}")
        else:
            delivered[msg.topic()].setdefault(msg.partition(), []).append((msg.offset(), msg.key().decode()))

    for name, (_, _, count) in TOPICS.items():
        for number in range(count):
            key = key_of(name, number)
            while True:
                try:
                    producer.produce(name, key=key, value=value_of(key), on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
    assert producer.flush(120) == 0, "seed messages still in flight after 120 s"
    assert not failures, failures[:5]

    # The group's committed offsets: half of each partition of GROUP_TOPIC, read and committed by a member.
    offsets = {p: len(entries) // 2 for p, entries in delivered[GROUP_TOPIC].items()}
    consumer = Consumer({**client, "group.id": GROUP, "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(GROUP_TOPIC, p, 0) for p in offsets])
        consumer.commit(offsets=[TopicPartition(GROUP_TOPIC, p, o, metadata=GROUP_METADATA) for p, o in offsets.items()],
                        asynchronous=False)
    finally:
        consumer.close()

    acls = _create_acls(admin)
    cluster_id = admin.describe_cluster(request_timeout=30).result(timeout=60).cluster_id
    return {
        "cluster_id": cluster_id,
        "topics": {
            name: {
                "partitions": partitions,
                "config": config,
                "messages": {str(p): sorted(entries) for p, entries in delivered[name].items()},
            }
            for name, (partitions, config, _) in TOPICS.items()
        },
        "group": {"name": GROUP, "topic": GROUP_TOPIC, "metadata": GROUP_METADATA,
                  "offsets": {str(p): o for p, o in sorted(offsets.items())}},
        "acls": [list(_acl_tuple(_acl(*acl))) for acl in acls],
    }


def round_trip(client: dict[str, str], topic: str, count: int = 100) -> list[str]:
    """As `client`: create `topic` (one partition, three replicas), produce `count` messages "<topic> <n>" with
    acks=all, and read them back (within a minute); returns the values read, in order."""
    admin = AdminClient(client)  # kept: the future fails once its client is gone
    admin.create_topics([NewTopic(topic, 1, 3)])[topic].result(60)
    producer = Producer({**client, "acks": "all", "enable.idempotence": True})
    for n in range(count):
        producer.produce(topic, key=str(n), value=f"{topic} {n}")
    assert producer.flush(60) == 0, f"{topic}: messages still in flight after 60 s"
    consumer = Consumer({**client, "group.id": f"{topic}-readers", "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    read: list[str] = []
    deadline = time.monotonic() + 60
    while len(read) < count and time.monotonic() < deadline:
        message = consumer.poll(1)
        if message is not None and message.error() is None:
            read.append(message.value().decode())
    consumer.close()
    return read


# Check ---------------------------------------------------------------------------------------------


def _read_partition(consumer: Consumer, topic: str, partition: int, end: int, deadline: float) -> list[tuple[int, str, str]]:
    consumer.assign([TopicPartition(topic, partition, 0)])
    found: list[tuple[int, str, str]] = []
    position = 0
    while position < end and time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=1000, timeout=1.0):
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    raise KafkaException(msg.error())
                continue
            found.append((msg.offset(), msg.key().decode() if msg.key() else "", msg.value().decode() if msg.value() else ""))
            position = msg.offset() + 1
    return found


def check(client: dict[str, str], seeded: dict) -> list[str]:
    """Every difference between the live cluster and what was seeded, read as `client`; empty when everything is there."""
    problems: list[str] = []
    deadline = time.monotonic() + 180
    admin = AdminClient(client)

    cluster_id = _retry(lambda: admin.describe_cluster(request_timeout=30).result(timeout=60).cluster_id,
                        "describe cluster", deadline)
    if cluster_id != seeded["cluster_id"]:
        problems.append(f"cluster id {cluster_id}, seeded in {seeded['cluster_id']}")

    topics = _retry(lambda: admin.list_topics(timeout=30).topics, "list topics", deadline)
    consumer = Consumer({**client, "group.id": f"seed-check-{time.time_ns()}",
                         "enable.auto.commit": False, "enable.partition.eof": True, "auto.offset.reset": "earliest"})
    try:
        for name, wanted in seeded["topics"].items():
            if name not in topics:
                problems.append(f"topic {name} is gone")
                continue
            if len(topics[name].partitions) != wanted["partitions"]:
                problems.append(f"topic {name}: {len(topics[name].partitions)} partitions, seeded with {wanted['partitions']}")
            resource = ConfigResource(ConfigResource.Type.TOPIC, name)
            config = _retry(lambda r=resource: next(iter(admin.describe_configs([r]).values())).result(timeout=60),
                            f"describe configs of {name}", deadline)
            for key, value in wanted["config"].items():
                live = config.get(key)
                if live is None or live.value != value:
                    problems.append(f"topic {name}: {key}={live.value if live else '(unset)'}, seeded with {value}")
            for partition, entries in wanted["messages"].items():
                tp = TopicPartition(name, int(partition))
                low, high = _retry(lambda t=tp: consumer.get_watermark_offsets(t, timeout=30), f"offsets of {name}/{partition}",
                                   deadline)
                expected = [(offset, key, value_of(key)) for offset, key in entries]
                if (low, high) != (0, len(entries)):
                    problems.append(f"{name}/{partition}: offsets {low}..{high}, seeded 0..{len(entries)}")
                found = _read_partition(consumer, name, int(partition), high, deadline)
                if found != expected:
                    missing = [f"{o}:{k}" for o, k, _ in sorted(set(expected) - set(found))]
                    changed = [f"{o}:{k}" for o, k, _ in sorted(set(found) - set(expected))]
                    problems.append(f"{name}/{partition}: {len(found)} messages read, {len(entries)} seeded; "
                                    f"missing or different: {missing[:5]}; unexpected: {changed[:5]}")
    finally:
        consumer.close()

    group = seeded["group"]
    request = [ConsumerGroupTopicPartitions(group["name"], [TopicPartition(group["topic"], int(p)) for p in group["offsets"]])]
    committed = _retry(lambda: admin.list_consumer_group_offsets(request)[group["name"]].result(timeout=60),
                       f"offsets of group {group['name']}", deadline)
    live = {str(tp.partition): (tp.offset, tp.metadata) for tp in committed.topic_partitions}
    wanted = {p: (o, group["metadata"]) for p, o in group["offsets"].items()}
    if live != wanted:
        problems.append(f"group {group['name']}: committed {live}, seeded {wanted}")

    if not seeded["acls"]:
        return problems
    bindings = _retry(lambda: admin.describe_acls(AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY,
    ), request_timeout=30).result(timeout=60), "describe ACLs", deadline)
    live_acls = {_acl_tuple(b) for b in bindings}
    missing = sorted(tuple(acl) for acl in seeded["acls"] if tuple(acl) not in live_acls)
    if missing:
        problems.append(f"ACLs gone: {missing}; live: {sorted(live_acls)}")
    return problems


def summary(seeded: dict) -> str:
    messages = sum(len(e) for t in seeded["topics"].values() for e in t["messages"].values())
    return (f"{len(seeded['topics'])} topics, {messages} messages, group {seeded['group']['name']} with "
            f"{len(seeded['group']['offsets'])} committed offsets, {len(seeded['acls'])} ACLs, cluster id {seeded['cluster_id']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["seed", "check"])
    parser.add_argument("directory", type=Path, help="the scenario's ephemeral directory (seed.json lives there)")
    args = parser.parse_args(argv)
    client = Scenario(args.directory).client()
    path = args.directory / SEED_FILE
    if args.command == "seed":
        if path.exists():  # converge runs twice (idempotence): the second finds the seed in place
            print(f"unchanged: {summary(json.loads(path.read_text()))}")
            return 0
        seeded = seed(client)
        path.write_text(json.dumps(seeded, indent=1))
        print(f"seeded: {summary(seeded)}")
        return 0
    seeded = json.loads(path.read_text())
    problems = check(client, seeded)
    print(json.dumps({"ok": not problems, "problems": problems, "seeded": summary(seeded)}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
