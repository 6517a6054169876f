"""A canary that outlives molecule's steps: a process of its own producing and consuming until it is told to stop.

Like tests/lab/canary.py (an idempotent acks=all producer at 100 messages a second to a topic of its own
with 6 partitions, replication factor 3 and min.insync.replicas=2, and a consumer in a group), but run
as a separate process, so that side_effect can start it before the migration and verify can stop it:

    python3 canary.py start DIR BOOTSTRAP      # returns once it produces; the process keeps running
    python3 canary.py checkpoint DIR NAME      # every message acknowledged so far is in the topic?
    python3 canary.py stop DIR                 # stop producing, read the whole topic, write the report
    python3 canary.py kill DIR                 # cleanup: end a canary a failed run left running

It talks through files in DIR/canary: `NAME.request` asks, `NAME.json` is the answer (`stop.json` the
final report). The report counts the acknowledged messages missing from the topic (none may be) and
those found twice. The process also stops by itself when DIR/canary disappears (molecule destroy prunes
it) or after --max-seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

RATE_PER_SECOND = 100
POLL_S = 0.5


class Canary:
    def __init__(self, bootstrap: str, folder: Path) -> None:
        self.bootstrap, self.folder = bootstrap, folder
        self.topic = f"kafkactl-canary-{time.time_ns()}"
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.produced = 0
        self.acked: set[str] = set()
        self.consumed = 0
        self.errors: Counter[str] = Counter()
        self.fatal = 0
        self.started = time.time()
        admin = AdminClient({"bootstrap.servers": bootstrap})
        for future in admin.create_topics([NewTopic(self.topic, 6, 3, config={"min.insync.replicas": "2"})]).values():
            future.result(60)
        self.threads = [threading.Thread(target=self._produce, daemon=True), threading.Thread(target=self._consume, daemon=True)]
        for thread in self.threads:
            thread.start()

    def _delivered(self, error, message) -> None:
        if error is None:
            with self.lock:
                self.acked.add(message.value().decode())
        else:
            self.errors[f"delivery: {error.str()}"] += 1

    def _producer(self, fatal: threading.Event) -> Producer:
        def on_error(error: KafkaError) -> None:
            self.errors[f"client: {error.str()}"] += 1
            if error.fatal():
                fatal.set()

        return Producer({"bootstrap.servers": self.bootstrap, "acks": "all", "enable.idempotence": True,
                         "delivery.timeout.ms": 300000, "linger.ms": 5, "error_cb": on_error})

    def _produce(self) -> None:
        fatal = threading.Event()
        producer = self._producer(fatal)
        while not self.stopping.is_set():
            if fatal.is_set():  # an idempotent producer that hit a fatal error produces nothing more: start another
                self.fatal += 1
                producer.flush(30)
                fatal.clear()
                producer = self._producer(fatal)
            try:
                producer.produce(self.topic, value=f"canary-{self.produced}".encode(), on_delivery=self._delivered)
                self.produced += 1
            except BufferError:
                pass
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

    def read(self, acked: set[str]) -> dict:
        """Read the topic up to its end offsets now: every message of `acked` (acknowledged before) must be there."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"verify-{time.time_ns()}",
                             "enable.auto.commit": False})
        try:
            metadata = consumer.list_topics(self.topic, timeout=30)
            partitions = [TopicPartition(self.topic, p, 0) for p in metadata.topics[self.topic].partitions]
            ends = {tp.partition: consumer.get_watermark_offsets(tp, timeout=30)[1] for tp in partitions}
            consumer.assign(partitions)
            seen: Counter[str] = Counter()
            where: dict[str, list[str]] = {}
            positions = dict.fromkeys(ends, 0)
            deadline = time.monotonic() + 180
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
        missing = sorted(acked - set(seen), key=lambda v: int(v.split("-")[1]))
        duplicated = sorted(f"{v} at {' and '.join(where[v])}" for v, count in seen.items() if count > 1)
        return {"topic": self.topic, "acknowledged": len(acked), "read": sum(seen.values()), "missing": len(missing),
                "missing_first": missing[:20], "duplicated": len(duplicated), "duplicated_first": duplicated[:20]}

    def report(self, acked: set[str]) -> dict:
        return {**self.read(acked), "produced": self.produced, "consumed_live": self.consumed, "fatal_producer_errors": self.fatal,
                "errors": dict(self.errors.most_common(10)), "seconds": round(time.time() - self.started)}

    def checkpoint(self) -> dict:
        with self.lock:
            acked = set(self.acked)
        return self.report(acked)

    def stop(self) -> dict:
        self.stopping.set()
        for thread in self.threads:
            thread.join(360)
        return self.report(set(self.acked))


def _write(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(path)


def run(folder: Path, bootstrap: str, max_seconds: float) -> int:
    canary = Canary(bootstrap, folder)
    _write(folder / "started.json", {"topic": canary.topic, "pid": os.getpid()})
    deadline = time.monotonic() + max_seconds
    while folder.is_dir():
        requests = sorted(folder.glob("*.request"))
        for request in requests:
            name = request.stem
            if name == "stop":
                continue
            _write(folder / f"{name}.json", canary.checkpoint())
            request.unlink()
        if (folder / "stop.request").exists() or time.monotonic() > deadline:
            report = canary.stop()
            report["stopped_by"] = "request" if (folder / "stop.request").exists() else f"--max-seconds {max_seconds:.0f}"
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
            raise SystemExit(f"no {path} within {timeout:.0f} s; see {path.parent / 'canary.log'}")
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
        command.add_argument("--max-seconds", type=float, default=1800)
    checkpoint = sub.add_parser("checkpoint")
    checkpoint.add_argument("directory", type=Path)
    checkpoint.add_argument("name")
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
        return 1 if report["missing"] else 0
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
