"""A canary for lab scenarios: an idempotent acks=all producer and a consumer running throughout,
then a full read of the topic proving that every acknowledged message is there exactly once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RATE_PER_SECOND = 100
MAX_SECONDS = 900  # bounded: the producer stops by itself


@dataclass(frozen=True)
class CanaryReport:
    produced: int
    acknowledged: int
    consumed_live: int
    missing: list[str]
    duplicated: list[str]

    def __str__(self) -> str:
        return (f"canary: produced {self.produced}, acknowledged {self.acknowledged}, consumed {self.consumed_live} live; "
                f"{len(self.missing)} acknowledged messages missing, {len(self.duplicated)} duplicated")


class Canary:
    def __init__(self, bootstrap: str) -> None:
        # A topic of its own: values restart at canary-0 with every canary.
        self.bootstrap, self.topic = bootstrap, f"kafkactl-canary-{time.time_ns()}"
        self.stopping = threading.Event()
        self.produced = 0
        self.acked: set[str] = set()
        self.consumed = 0
        self.errors: list[str] = []
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(self.topic, 6, 3, config={"min.insync.replicas": "2"})]).values():
            future.result(60)
        self.threads = [threading.Thread(target=self._produce, daemon=True), threading.Thread(target=self._consume, daemon=True)]

    def __enter__(self) -> Canary:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(180)

    def _delivered(self, error, message) -> None:
        if error is None:
            self.acked.add(message.value().decode())
        else:
            self.errors.append(str(error))

    def _produce(self) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                             "delivery.timeout.ms": 300000, "linger.ms": 5})
        deadline = time.monotonic() + MAX_SECONDS
        while not self.stopping.is_set() and time.monotonic() < deadline:
            producer.produce(self.topic, value=f"canary-{self.produced}".encode(), on_delivery=self._delivered)
            self.produced += 1
            producer.poll(0)
            time.sleep(1 / RATE_PER_SECOND)
        producer.flush(300)

    def _consume(self) -> None:
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": self.topic, "auto.offset.reset": "earliest"})
        consumer.subscribe([self.topic])
        while not self.stopping.is_set():
            message = consumer.poll(0.5)
            if message is not None and not message.error():
                self.consumed += 1
        consumer.close()

    def verify(self) -> CanaryReport:
        """Read the whole topic from the beginning: every acknowledged message, exactly once."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"verify-{time.time()}", "enable.auto.commit": False})
        metadata = consumer.list_topics(self.topic, timeout=30)
        partitions = [TopicPartition(self.topic, p, 0) for p in metadata.topics[self.topic].partitions]
        ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in partitions}
        consumer.assign(partitions)
        seen: Counter[str] = Counter()
        where: dict[str, list[str]] = {}
        positions = {p: 0 for p in ends}
        deadline = time.monotonic() + 120
        while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error():
                continue
            seen[message.value().decode()] += 1
            where.setdefault(message.value().decode(), []).append(f"{message.partition()}@{message.offset()}")
            positions[message.partition()] = message.offset() + 1
        consumer.close()
        return CanaryReport(
            produced=self.produced,
            acknowledged=len(self.acked),
            consumed_live=self.consumed,
            missing=sorted(self.acked - set(seen)),
            duplicated=sorted(f"{value} at {' and '.join(where[value])}" for value, count in seen.items() if count > 1),
        )
