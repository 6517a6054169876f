"""The hosts form one working cluster: a quorum, every broker registered, and 10,000 messages that
go through it with acks=all and come back intact, produced and consumed from this machine."""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from conftest import EPHEMERAL, properties
from migration import CLIENTS

MESSAGES = 10_000
PARTITIONS = 3


def _server_properties(host) -> dict[str, str]:
    for f in host.files.values():
        props = properties(f.content.decode()) if f.path.endswith(".properties") else {}
        if "process.roles" in props or "broker.id" in props or "node.id" in props:
            return props
    raise AssertionError(f"{host.name}: no Kafka server properties among {list(host.files)}")


def _client_endpoint(host) -> str:
    """The advertised PLAINTEXT endpoint of a broker that is not its inter-broker listener."""
    props = _server_properties(host)
    protocols = dict(item.split(":", 1) for item in props.get("listener.security.protocol.map", "").split(",") if item)
    inter = props.get("inter.broker.listener.name")
    advertised = props.get("advertised.listeners") or props["listeners"]
    endpoints = [spec.split("://", 1) for spec in advertised.split(",") if spec]
    for listener, endpoint in endpoints:
        if listener != inter and protocols.get(listener, listener) == "PLAINTEXT":
            return endpoint
    return endpoints[0][1]


@pytest.fixture(scope="session")
def brokers(cluster):
    return [h for h in cluster.values() if "kafka_broker" in h.groups]


@pytest.fixture(scope="session")
def client(brokers) -> dict[str, str]:
    """librdkafka settings of a client: the brokers' PLAINTEXT endpoints, or the scenario's clients' once a listener
    migration moved them onto SASL_SSL (migration.py)."""
    moved = EPHEMERAL / CLIENTS
    return json.loads(moved.read_text()) if moved.exists() else {"bootstrap.servers": ",".join(_client_endpoint(h) for h in brokers)}


def test_zookeeper_ensemble_has_one_leader(cluster, connect):
    members = [h for h in cluster.values() if "zookeeper" in h.groups]
    if not members:
        pytest.skip("no zookeeper group in this scenario")
    wanted = ["follower"] * (len(members) - 1) + ["leader"]
    # A member that is between elections (a busy machine can make a follower miss syncLimit) closes
    # the connection without an answer; it has to be back in the ensemble within the minute.
    deadline = time.monotonic() + 60
    while True:
        modes = {}
        for h in members:
            config = next(f for f in h.files.values() if f.path.endswith("zookeeper.properties"))
            port = properties(config.content.decode())["clientPort"]
            answer = connect(h.name).run(f"echo srvr | nc -w 5 localhost {port}")
            match = re.search(r"^Mode: (\w+)", answer.stdout, re.MULTILINE)
            modes[h.name] = match.group(1) if match else f"no mode in {answer.stdout!r} {answer.stderr!r}"
        if sorted(modes.values()) == wanted or time.monotonic() > deadline:
            break
        time.sleep(2)
    journals = {
        name: connect(name).run("journalctl -u kafka-zookeeper -n 40 --no-pager").stdout
        for name, mode in modes.items() if mode not in ("leader", "follower")
    }
    assert sorted(modes.values()) == wanted, (modes, journals)


def _quorum(connect, controller, *describe: str) -> str:
    """`kafka-metadata-quorum describe ...` run on a controller against its own controller listener, with the client
    settings the host holds for it (its TLS key store when the listener wants a client certificate)."""
    _, port = controller.listeners[0]
    home = controller.install
    return connect(controller.name).check_output(
        f"java -Dlog4j.configuration=file:{home}/config/tools-log4j.properties -cp '{home}/libs/*' "
        f"org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller {controller.name}:{port} "
        "--command-config /etc/kafka/kafkactl-admin.properties describe " + " ".join(describe)
    )


def test_kraft_quorum_has_a_leader_and_every_voter(cluster, connect):
    """A leader among the voters; the voters are the controllers numbered as cp-ansible numbers them
    (9991 + position in the kafka_controller group), read from the quorum, not from kafkactl; every
    voter caught up with the leader within the minute."""
    controllers = [h for h in cluster.values() if "kafka_controller" in h.groups]
    if not controllers:
        pytest.skip("no kafka_controller group in this scenario")
    out = _quorum(connect, controllers[0], "--status")
    status = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    voters = status["CurrentVoters"]
    ids = {int(i) for i in re.findall(r'"id":\s*(\d+)', voters) or re.findall(r"\d+", voters)}
    assert ids == {9991 + position for position in range(len(controllers))}, out
    assert int(status["LeaderId"]) in ids, out
    deadline = time.monotonic() + 60
    while True:
        rows = [line.split() for line in _quorum(connect, controllers[0], "--replication").splitlines() if line.strip()]
        # the table's header may follow the tool's own log lines (Kafka 4 logs through log4j2)
        start = next((i for i, row in enumerate(rows) if {"NodeId", "Lag", "Status"} <= set(row)), None)
        assert start is not None, f"no table in the answer: {rows}"
        header = rows[start]
        lag = {int(row[header.index("NodeId")]): int(row[header.index("Lag")])
               for row in rows[start + 1:] if len(row) == len(header) and row[header.index("Status")] in ("Leader", "Follower")}
        if set(lag) == ids and max(lag.values()) <= 10 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert set(lag) == ids and max(lag.values()) <= 10, f"voters and their lag: {lag}"


def test_every_broker_registered(brokers, client):
    admin = AdminClient(client)
    deadline = time.monotonic() + 60
    while True:
        registered = admin.list_topics(timeout=30).brokers
        if len(registered) == len(brokers):
            break
        assert time.monotonic() < deadline, f"brokers registered: {sorted(registered)}; expected {len(brokers)}"
        time.sleep(1)
    assert {b.host for b in registered.values()} == {_client_endpoint(h).rpartition(":")[0] for h in brokers}
    # cp-ansible's numbering, read from the cluster: position in the kafka_broker group + 1
    assert sorted(registered) == list(range(1, len(brokers) + 1)), sorted(registered)


def test_round_trip_of_10000_messages_with_acks_all(brokers, client):
    topic = f"molecule-roundtrip-{uuid.uuid4().hex[:12]}"
    admin = AdminClient(client)
    created = admin.create_topics(
        [NewTopic(topic, num_partitions=PARTITIONS, replication_factor=3, config={"min.insync.replicas": "2"})],
        operation_timeout=60, request_timeout=60,
    )
    created[topic].result(timeout=90)

    # A new topic reaches every broker's metadata a moment after CreateTopics returns (KRaft: when
    # the broker has replayed the record); until then a broker answers UNKNOWN_TOPIC_OR_PART.
    deadline = time.monotonic() + 60
    while True:
        partitions = admin.list_topics(topic, timeout=30).topics[topic].partitions
        if len(partitions) == PARTITIONS and all(len(p.replicas) == 3 and len(p.isrs) == 3 for p in partitions.values()):
            break
        assert time.monotonic() < deadline, {p: (m.replicas, m.isrs) for p, m in partitions.items()}
        time.sleep(0.5)
    while True:
        described = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
        try:
            config = next(iter(described.values())).result(timeout=60)
            break
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART or time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    assert config["min.insync.replicas"].value == "2"

    producer = Producer({
        **client,
        "acks": "all",
        "enable.idempotence": True,
        "linger.ms": 5,
        "message.timeout.ms": 120_000,
    })
    delivered: dict[int, list[tuple[int, int]]] = {}
    failures: list[str] = []

    def report(err, msg):
        if err is not None:
            failures.append(str(err))
        else:
            delivered.setdefault(msg.partition(), []).append((msg.offset(), int(msg.key())))

    expected = {}
    for i in range(MESSAGES):
        key, value = f"{i:05d}", json.dumps({"seq": i, "topic": topic, "pad": "x" * (i % 97)})
        expected[key] = value
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    assert producer.flush(120) == 0, "messages still in flight after 120 s"
    assert not failures, failures[:5]
    assert sum(len(v) for v in delivered.values()) == MESSAGES

    consumer = Consumer({
        **client,
        "group.id": f"{topic}-reader",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    received: dict[str, str] = {}
    order: dict[int, list[int]] = {}
    try:
        consumer.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        deadline = time.monotonic() + 120
        while len(received) < MESSAGES and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=1000, timeout=1.0):
                if msg.error():
                    assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                    continue
                key = msg.key().decode()
                assert key not in received, f"duplicate message {key}"
                received[key] = msg.value().decode()
                order.setdefault(msg.partition(), []).append(int(key))
    finally:
        consumer.close()

    assert len(received) == MESSAGES, f"consumed {len(received)} of {MESSAGES}"
    assert received == expected
    # Within each partition the messages come back in the order they were produced.
    for partition, keys in order.items():
        produced = [key for _, key in sorted(delivered[partition])]
        assert keys == produced, f"partition {partition}: order differs"
    admin.delete_topics([topic], operation_timeout=60)[topic].result(timeout=90)
