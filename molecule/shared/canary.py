"""The canary: one contract for every lab test (tests/lab/canary.py runs it in-process) and every Molecule
scenario (this file run as a process of its own, so side_effect can start it and verify stop it).

While the cluster is being changed, a producer sends `canary-N` at 100 messages a second to a topic of
the canary's own (6 partitions, replication factor 3, min.insync.replicas=2; production starts once every
broker knows it) and a consumer in a group reads along. When the test stops it, production ends, every
message still in flight is awaited, and the whole topic is read back up to its end offsets. The report
counts:

- lost: acknowledged (a delivery report without error) but not read back, each with the partition@offset
  its acknowledgement named and what the read-back found there, and the producer's idempotence events
  (librdkafka's `eos` debug log: producer ids, sequence resets, drains) for those partitions;
- duplicated: read back more than once (each with its partition@offset places);
- produce errors: delivery reports with an error (messages the producer gave up on);
- unavailable: the longest gap between acknowledgements, from the start until production stopped (a
  cluster that stops acknowledging at the end counts up to the stop);
- stopped by: "test" when the test stopped it, otherwise its own time limit (`max_seconds`);
- read back complete: every partition read up to its end offset within the read's time limit.

The verdict (`verdict()`) is strict: 0 lost, 0 duplicated, 0 produce errors, stopped by the test, the read
back complete, and the longest gap at most the limit the test or scenario states for what it does. A test
whose fault can write a message twice on the client's side (a broker SIGKILLed: the producer never learns
that a batch it retries was written) may allow duplicates, naming that fault; they are reported either way.

The producer is configured against duplicates: idempotent, acks=all, at most 5 requests in flight (the
idempotent producer keeps their order), and a delivery timeout (message.timeout.ms) of 10 minutes, longer
than any health gate (kafkactl's --gate-timeout defaults to 300 s): a message that times out makes the
idempotent producer bump its epoch, after which a retried batch can be written twice. Even so,
librdkafka's idempotent producer sporadically writes a batch twice across a partition leader change
(librdkafka issue 4953, open in 2.16), which every roll makes: a test or scenario that moves leaders
allows duplicates for that reason (LEADERS_MOVED); lost messages are never allowed.

As a process of its own:

    python3 canary.py start DIR BOOTSTRAP      # returns once it produces; the process keeps running
    python3 canary.py checkpoint DIR NAME      # the report so far: every message acknowledged so far read back?
    python3 canary.py move DIR SETTINGS        # its clients reconnect with these settings (a JSON file)
    python3 canary.py stop DIR                 # stop producing, read the whole topic, write the report
    python3 canary.py kill DIR                 # cleanup: end a canary a failed run left running

It talks through files in DIR/canary: `NAME.request` asks, `NAME.json` is the answer (`stop.json` the
final report).

A client that moves (say from PLAINTEXT onto SASL_SSL, or onto a new CA's trust) is `move`: the producer
awaits what it has in flight, then a new one with the new settings (librdkafka's, `bootstrap.servers`
among them) goes on producing to the same topic; the consumer and the read-back use them too. The count
of acknowledgements, and so the verdict, runs across the move. The process also stops by itself when DIR/canary disappears (molecule destroy prunes it)
or after --max-seconds (which the verdict then fails).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RATE_PER_SECOND = 100
PARTITIONS = 6
POLL_S = 0.5
DELIVERY_TIMEOUT_MS = 600_000
FLUSH_AT_STOP_S = 120
READ_BACK_S = 180
TOPIC_TIMEOUT_S = 120
# Right after a roll a broker's metadata can still name the previous controller, and a restarted broker
# may not be registered again yet: topic creation is retried on these until TOPIC_TIMEOUT_S.
SETTLING = {KafkaError.NOT_CONTROLLER, KafkaError.INVALID_REPLICATION_FACTOR, KafkaError.REQUEST_TIMED_OUT,
            KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError.BROKER_NOT_AVAILABLE}
MAX_SECONDS = 3600  # past the longest scenario's side_effect and verify
STOPPED_BY_TEST = "test"
EVENTS_KEPT = 5000


class _EventLog(logging.Logger):
    """librdkafka's debug log kept in memory, each line stamped with its seconds since the canary started."""

    def __init__(self, lines: deque[str], started: float) -> None:
        super().__init__("canary-producer", logging.DEBUG)
        self.lines, self.started = lines, started

    def handle(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{time.monotonic() - self.started:7.2f} {record.getMessage()}")


class Canary:
    def __init__(self, bootstrap: str, max_seconds: float = MAX_SECONDS) -> None:
        self.bootstrap = bootstrap
        self.settings: dict[str, str] = {"bootstrap.servers": bootstrap}  # every client's; `move` replaces them
        self.moving = threading.Event()
        self.moves = 0
        self.topic = f"kafkactl-canary-{time.time_ns()}"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.produced = 0
        self.acked: dict[str, str] = {}  # value -> the partition@offset its acknowledgement named
        self.produce_errors: Counter[str] = Counter()
        self.client_errors: Counter[str] = Counter()
        self.events: deque[str] = deque(maxlen=EVENTS_KEPT)  # the producer's idempotence log, for a loss
        self.consumed = 0
        self.fatal = 0
        self._create_topic()
        self._await_topic_on_every_broker()
        self.started = time.monotonic()
        self.deadline = self.started + max_seconds
        self.max_seconds = max_seconds
        self.last_ack = self.started
        self.longest_gap = (0.0, 0.0)  # seconds, and when it ended (seconds after the start)
        self.production_stopped: float | None = None
        self.in_flight_at_stop: int | None = None
        self.stopped_by: str | None = None
        self.threads = [threading.Thread(target=self._produce, daemon=True), threading.Thread(target=self._consume, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _create_topic(self, timeout: float = TOPIC_TIMEOUT_S) -> None:
        """Create the canary's topic, retrying while the cluster settles after a roll (SETTLING)."""
        deadline = time.monotonic() + timeout
        while True:
            admin = AdminClient({"bootstrap.servers": self.bootstrap})  # fresh metadata on each try
            future = admin.create_topics([NewTopic(self.topic, PARTITIONS, 3, config={"min.insync.replicas": "2"})])[self.topic]
            try:
                future.result(60)
                return
            except KafkaException as exc:
                error = exc.args[0]
                if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:  # an earlier try went through
                    return
                if not (error.retriable() or error.code() in SETTLING) or time.monotonic() > deadline:
                    raise RuntimeError(f"{self.bootstrap}: creating the canary topic {self.topic}: not within {timeout:.0f} s; "
                                       f"last error: {error.str()}") from exc
            time.sleep(1)

    def _await_topic_on_every_broker(self, timeout: float = TOPIC_TIMEOUT_S) -> None:
        """Produce only once every broker reports the new topic with a leader for each partition: brokers learn of a
        topic one after the other, and a producer whose first metadata comes from one that has not yet starts in a
        window librdkafka has had idempotence bugs in (issue 3712: sequence numbers reset, messages lost). The
        canary measures the change under test, not its own topic's creation."""
        deadline = time.monotonic() + timeout
        for broker in self.bootstrap.split(","):
            while True:
                # One client per broker, bootstrapped from it alone: its metadata is that broker's.
                try:
                    topic = AdminClient({"bootstrap.servers": broker}).list_topics(self.topic, timeout=10).topics.get(self.topic)
                except KafkaException:  # not answering yet: asked again until the deadline
                    topic = None
                if topic and topic.error is None and len(topic.partitions) == PARTITIONS and all(
                        p.leader >= 0 for p in topic.partitions.values()):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{broker}: the canary topic {self.topic} not known with a leader for each of its "
                                       f"{PARTITIONS} partitions within {timeout:.0f} s of its creation")
                time.sleep(0.2)

    def _note_gap(self, until: float) -> None:
        if until - self.last_ack > self.longest_gap[0]:
            self.longest_gap = (until - self.last_ack, until - self.started)

    def _delivered(self, error, message) -> None:
        if error is not None:
            self.produce_errors[error.str()] += 1
            return
        now = time.monotonic()
        with self.lock:
            if self.production_stopped is None:
                self._note_gap(now)
                self.last_ack = now
            self.acked[message.value().decode()] = f"{message.partition()}@{message.offset()}"

    def _producer(self, fatal: threading.Event) -> Producer:
        def on_error(error: KafkaError) -> None:
            self.client_errors[error.str()] += 1
            if error.fatal():
                fatal.set()

        return Producer({**self.settings, "acks": "all", "enable.idempotence": True,
                         "max.in.flight.requests.per.connection": 5, "message.timeout.ms": DELIVERY_TIMEOUT_MS,
                         "linger.ms": 5, "error_cb": on_error, "debug": "eos", "logger": _EventLog(self.events, self.started)})

    def _produce(self) -> None:
        fatal = threading.Event()
        producer = self._producer(fatal)
        while not self.stopping.is_set() and time.monotonic() < self.deadline:
            if fatal.is_set() or self.moving.is_set():
                # an idempotent producer that hit a fatal error produces nothing more; a moved client reconnects
                self.fatal += fatal.is_set()
                producer.flush(FLUSH_AT_STOP_S)
                fatal.clear()
                producer = self._producer(fatal)
                self.moving.clear()
            try:
                producer.produce(self.topic, value=f"canary-{self.produced}".encode(), on_delivery=self._delivered)
                self.produced += 1
            except BufferError:
                pass
            producer.poll(0)
            time.sleep(1 / RATE_PER_SECOND)
        with self.lock:
            self.production_stopped = time.monotonic()
            self._note_gap(self.production_stopped)
        self.in_flight_at_stop = producer.flush(FLUSH_AT_STOP_S)

    def _consume(self) -> None:
        while not self.stopping.is_set() and self.production_stopped is None:
            settings = self.settings
            consumer = Consumer({**settings, "group.id": self.topic, "auto.offset.reset": "earliest"})
            consumer.subscribe([self.topic])
            while not self.stopping.is_set() and self.production_stopped is None and self.settings is settings:
                message = consumer.poll(0.5)
                if message is not None and not message.error():
                    self.consumed += 1
            consumer.close()

    def move(self, settings: dict[str, str]) -> dict:
        """Reconnect the producer and the consumer with `settings`; returns once the new producer exists."""
        self.settings = dict(settings)
        self.moving.set()
        deadline = time.monotonic() + FLUSH_AT_STOP_S + 30
        while self.moving.is_set() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.moves += 1
        return {"moved": not self.moving.is_set(), "to": self.settings["bootstrap.servers"], "moves": self.moves}

    def read(self, acked: dict[str, str]) -> dict:
        """Read the topic up to its end offsets now: every message of `acked` (acknowledged before) must be there."""
        consumer = Consumer({**self.settings, "group.id": f"verify-{time.time_ns()}",
                             "enable.auto.commit": False})
        try:
            metadata = consumer.list_topics(self.topic, timeout=30)
            partitions = [TopicPartition(self.topic, p, 0) for p in metadata.topics[self.topic].partitions]
            ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in partitions}
            consumer.assign(partitions)
            seen: Counter[str] = Counter()
            where: dict[str, list[str]] = {}
            positions = dict.fromkeys(ends, 0)
            deadline = time.monotonic() + READ_BACK_S
            while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
                message = consumer.poll(1.0)
                if message is None or message.error() or message.offset() >= ends[message.partition()]:
                    if message is not None and not message.error():
                        positions[message.partition()] = message.offset() + 1
                    continue
                value = message.value().decode()
                seen[value] += 1
                where.setdefault(value, []).append(f"{message.partition()}@{message.offset()}")
                positions[message.partition()] = message.offset() + 1
        finally:
            consumer.close()
        at = {place: value for value, places in where.items() for place in places}
        lost = sorted(acked.keys() - seen.keys(), key=lambda v: int(v.split("-")[1]))
        lost_where = [f"{v} acknowledged at {acked[v]}, read there: {at.get(acked[v], 'nothing')}" for v in lost[:20]]
        duplicated = sorted(f"{v} at {' and '.join(where[v])}" for v, count in seen.items() if count > 1)
        unread = {p: f"{positions[p]} of {ends[p]}" for p in ends if positions[p] < ends[p]}
        partitions = {acked[v].split("@")[0] for v in lost}
        events = [line for line in list(self.events) if any(f"[{p}]" in line for p in partitions)][-100:]
        return {"topic": self.topic, "acknowledged": len(acked), "read": sum(seen.values()),
                "read_complete": not unread, "unread": unread,
                "lost": len(lost), "lost_first": lost[:20], "lost_where": lost_where, "lost_partitions_events": events,
                "duplicated": len(duplicated), "duplicated_first": duplicated[:20]}

    def report(self, acked: dict[str, str]) -> dict:
        with self.lock:
            now = time.monotonic()
            gap = self.longest_gap if self.production_stopped is not None else max(
                self.longest_gap, (now - self.last_ack, now - self.started))
        return {**self.read(acked), "produced": self.produced, "consumed_live": self.consumed,
                "produce_errors": sum(self.produce_errors.values()), "produce_errors_first": dict(self.produce_errors.most_common(10)),
                "longest_gap_s": round(gap[0], 1), "longest_gap_ended_s": round(gap[1], 1),
                "stopped_by": self.stopped_by, "fatal_producer_errors": self.fatal, "moves": self.moves,
                "client_errors": dict(self.client_errors.most_common(10)), "seconds": round(time.monotonic() - self.started)}

    def checkpoint(self) -> dict:
        with self.lock:
            acked = dict(self.acked)
        return self.report(acked)

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def stop(self) -> dict:
        """Stop producing (unless the time limit did), await what is in flight, read the whole topic back."""
        self.stopped_by = f"its time limit ({self.max_seconds:.0f} s)" if self.expired() else STOPPED_BY_TEST
        self.stopping.set()
        for thread in self.threads:
            thread.join(FLUSH_AT_STOP_S + 60)
        return {**self.report(dict(self.acked)), "in_flight_at_stop": self.in_flight_at_stop}


# The reason a test that rolls brokers gives for the duplicates it allows (module docstring).
LEADERS_MOVED = ("partition leaders moved while the producer had batches in flight (librdkafka's idempotent producer "
                 "can write a batch twice across a leader change: librdkafka issue 4953)")


def verdict(report: dict, max_gap_s: float, duplicates_allowed_because: str | None = None, final: bool = True) -> list[str]:
    """What breaks the contract (the module's docstring) in `report`; empty when it holds.

    `max_gap_s`: the longest gap between acknowledgements the test or scenario accepts for what it does.
    `duplicates_allowed_because`: the fault that explains client-side duplicates, in a test that injects one.
    `final=False` judges a checkpoint of a canary still running (not stopped yet).
    """
    problems = []
    if report["acknowledged"] == 0:
        problems.append("no message was acknowledged")
    if report["lost"]:
        problems.append(f"{report['lost']} acknowledged messages lost, first {report['lost_where'][:5]}")
    if report["duplicated"] and not duplicates_allowed_because:
        problems.append(f"{report['duplicated']} messages duplicated, first {report['duplicated_first'][:5]}")
    if report["produce_errors"]:
        problems.append(f"{report['produce_errors']} produce errors: {report['produce_errors_first']}")
    if not report["read_complete"]:
        problems.append(f"read back incomplete within {READ_BACK_S} s: {report['unread']}")
    if report["longest_gap_s"] > max_gap_s:
        problems.append(f"unavailable {report['longest_gap_s']} s (longest gap between acknowledgements, "
                        f"ending {report['longest_gap_ended_s']} s after the start), limit {max_gap_s} s")
    if final and report["stopped_by"] != STOPPED_BY_TEST:
        problems.append(f"stopped by {report['stopped_by']}, not by the test")
    if final and report.get("in_flight_at_stop"):
        problems.append(f"{report['in_flight_at_stop']} messages neither acknowledged nor failed {FLUSH_AT_STOP_S} s after the stop")
    return problems


def summary(report: dict, duplicates_allowed_because: str | None = None) -> str:
    """One line for the test's output, duplicates included whether allowed or not."""
    allowed = f" (allowed: {duplicates_allowed_because})" if report["duplicated"] and duplicates_allowed_because else ""
    return (f"canary {report['topic']}: produced {report['produced']}, acknowledged {report['acknowledged']}, "
            f"read back {report['read']}; lost {report['lost']}, duplicated {report['duplicated']}{allowed} "
            f"{report['duplicated_first'][:5]}, produce errors {report['produce_errors']}, "
            f"longest gap {report['longest_gap_s']} s, stopped by {report['stopped_by']}, {report['seconds']} s")


def _write(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def run(folder: Path, bootstrap: str, max_seconds: float) -> int:
    canary = Canary(bootstrap, max_seconds)
    _write(folder / "started.json", {"topic": canary.topic, "pid": os.getpid()})
    while folder.is_dir():
        for request in sorted(folder.glob("*.request")):
            if request.stem.startswith("move-"):  # its content: the settings to move to
                _write(folder / f"{request.stem}.json", canary.move(json.loads(request.read_text())))
                request.unlink()
            elif request.stem != "stop":
                _write(folder / f"{request.stem}.json", canary.checkpoint())
                request.unlink()
        if (folder / "stop.request").exists() or canary.expired():
            report = canary.stop()
            if folder.is_dir():
                _write(folder / "stop.json", report)
            return 0
        time.sleep(POLL_S)
    canary.stopping.set()  # the scenario is gone
    return 0


def _wait_for(path: Path, process_alive, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if not process_alive():
            raise SystemExit(f"the canary process is gone without writing {path}; see {path.parent / 'canary.log'}")
        if time.monotonic() > deadline:
            raise SystemExit(f"no {path} within {timeout:.0f} s (the canary process still runs); see {path.parent / 'canary.log'}")
        time.sleep(0.2)
    return json.loads(path.read_text())


def _pid_alive(folder: Path):
    def alive() -> bool:
        try:
            pid = json.loads((folder / "started.json").read_text())["pid"]
            os.kill(pid, 0)
            # An exited process nobody has reaped yet (a zombie) is gone too.
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
        except (FileNotFoundError, ProcessLookupError, KeyError, IndexError):
            return False
    return alive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("start", "run"):
        command = sub.add_parser(name)
        command.add_argument("directory", type=Path)
        command.add_argument("bootstrap")
        command.add_argument("--max-seconds", type=float, default=MAX_SECONDS)
    checkpoint = sub.add_parser("checkpoint")
    checkpoint.add_argument("directory", type=Path)
    checkpoint.add_argument("name")
    move = sub.add_parser("move", help="the clients reconnect with the settings in this JSON file")
    move.add_argument("directory", type=Path)
    move.add_argument("settings", type=Path)
    stop = sub.add_parser("stop")
    stop.add_argument("directory", type=Path)
    kill = sub.add_parser("kill", help="cleanup: end a canary a failed run left running, without a report")
    kill.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    folder = args.directory / "canary"

    if args.command == "run":
        return run(folder, args.bootstrap, args.max_seconds)
    if args.command == "start":
        if _pid_alive(folder)():
            print(json.dumps({"running": json.loads((folder / "started.json").read_text())}))
            return 0
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        with (folder / "canary.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, os.path.abspath(__file__), "run", str(args.directory), args.bootstrap,
                 "--max-seconds", str(args.max_seconds)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            )
        started = _wait_for(folder / "started.json", lambda: process.poll() is None, 120)
        print(json.dumps({"started": started}))
        return 0
    if args.command == "checkpoint":
        (folder / f"{args.name}.request").touch()
        report = _wait_for(folder / f"{args.name}.json", _pid_alive(folder), 300)
        print(json.dumps(report))
        return 1 if report["lost"] else 0
    if args.command == "move":
        request = folder / f"move-{time.time_ns()}.request"
        tmp = request.with_suffix(".tmp")
        tmp.write_text(args.settings.read_text())
        tmp.replace(request)
        moved = _wait_for(request.with_suffix(".json"), _pid_alive(folder), FLUSH_AT_STOP_S + 60)
        print(json.dumps(moved))
        return 0 if moved["moved"] else 1
    if args.command == "kill":
        if not _pid_alive(folder)():
            print("no canary running")
            return 0
        pid = json.loads((folder / "started.json").read_text())["pid"]
        os.killpg(pid, signal.SIGTERM)
        print(f"ended canary process {pid}")
        return 0
    # stop
    if (folder / "stop.json").exists():
        print((folder / "stop.json").read_text())
        return 0
    alive = _pid_alive(folder)
    if not alive():
        raise SystemExit(f"no canary runs in {folder}")
    (folder / "stop.request").touch()
    report = _wait_for(folder / "stop.json", alive, 600)
    deadline = time.monotonic() + 60  # and the process ends: nothing of the canary outlives verify
    while alive() and time.monotonic() < deadline:
        time.sleep(0.2)
    print(json.dumps(report))
    if alive():
        print(f"the canary process still runs 60 s after writing its report; see {folder / 'canary.log'}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
