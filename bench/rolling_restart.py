"""A rolling restart of 3 brokers on the lab by kafkactl, next to the floor measured in the same run.

    python bench/rolling_restart.py [--messages 200000] [--state-dir /tmp/kafkactl-bench-lab] [--down]

Uses a lab of its own (KAFKACTL_LAB_NAME=bench on 10.219.78.0/24), converged with kafkactl apply and
loaded with a replicated topic, so that every broker has replicas to catch up on after its restart.
The floor is the same restarts without kafkactl, in the order kafkactl chose: `systemctl restart`
over SSH, then a Kafka Admin client on this machine polls every 100 ms until every partition's ISR is
full, asks once for preferred leaders and polls until every partition is led by its preferred replica.
Target: kafkactl within 1.1x of the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import ElectionType, KafkaException
from confluent_kafka.admin import AdminClient

TARGET_RATIO = 1.1
POLL_S = 0.1
BROKER_PORT = 9091
LAB_ENV = {**os.environ, "KAFKACTL_LAB_NAME": "bench", "KAFKACTL_LAB_SUBNET": "10.219.78.0/24"}
KAFKACTL = [sys.executable, "-m", "kafkactl"]


def kafkactl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*KAFKACTL, *args], env=LAB_ENV, capture_output=True, text=True)
    if check and result.returncode not in (0, 2):
        sys.exit(f"kafkactl {' '.join(args)} failed:\n{result.stderr}{result.stdout[-2000:]}")
    return result


def load_topic(state_dir: Path, messages: int) -> None:
    """A replicated topic written with Kafka's own producer tool on a broker host."""
    ssh = ["ssh", "-F", str(state_dir / "ssh_config"), "-l", "root", "kafka1"]
    classpath = "'/opt/kafka/kafka_2.13-3.9.2/libs/*'"
    java = f"java -Xmx256m -Dlog4j.configuration=file:/dev/null -cp {classpath}"
    subprocess.run([*ssh, f"{java} org.apache.kafka.tools.TopicCommand --bootstrap-server kafka1:9091 --create "
                    "--if-not-exists --topic bench --partitions 12 --replication-factor 3 --config min.insync.replicas=2"],
                   check=True, capture_output=True)
    subprocess.run([*ssh, f"{java} org.apache.kafka.tools.ProducerPerformance --topic bench --num-records {messages} "
                    "--record-size 512 --throughput -1 --producer-props bootstrap.servers=kafka1:9091 acks=all"],
                   check=True, capture_output=True)


def _partitions(admin: AdminClient) -> list:
    return [p for topic in admin.list_topics(timeout=10).topics.values() for p in topic.partitions.values()]


def _poll(done: Callable[[], bool], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if done():
                return
        except KafkaException:
            pass  # a broker going away mid-request: ask again
        if time.monotonic() > deadline:
            sys.exit("the floor's restart did not become healthy in time")
        time.sleep(POLL_S)


def floor_restart(state_dir: Path, hosts: list[str], brokers: list[str] | None = None) -> dict[str, float]:
    """Each broker restarted with systemctl, readiness read with an Admin client (bootstrapped from `brokers`, else
    from `hosts`) every 100 ms."""
    # log_level 0: the brokers going away one after the other is expected, not worth a line each
    admin = AdminClient({"bootstrap.servers": ",".join(f"{h}:{BROKER_PORT}" for h in brokers or hosts), "log_level": 0})
    seconds = {}
    for host in hosts:
        started = time.monotonic()
        subprocess.run(["ssh", "-F", str(state_dir / "ssh_config"), "-l", "root", host, "systemctl restart kafka-broker"],
                       check=True, capture_output=True)
        _poll(lambda: all(sorted(p.isrs) == sorted(p.replicas) for p in _partitions(admin)))
        try:
            admin.elect_leaders(ElectionType.PREFERRED, None).result()
        except KafkaException:
            pass  # nothing to elect
        _poll(lambda: all(p.leader == p.replicas[0] for p in _partitions(admin)))
        seconds[host] = time.monotonic() - started
    return seconds


def loaded_lab(description: str, state_dir: Path) -> argparse.Namespace:
    """The bench's arguments; its lab (3 ZooKeeper, 3 brokers) up, converged and loaded with a replicated topic."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--state-dir", type=Path, default=state_dir)
    parser.add_argument("--down", action="store_true", help="remove the bench lab at the end")
    args = parser.parse_args()
    kafkactl("lab", "up", "--state-dir", str(args.state_dir))
    for _ in range(3):
        if "Nothing to do" in kafkactl("apply", str(args.state_dir / "inventory.yml")).stdout:
            break
    load_topic(args.state_dir, args.messages)
    return args


def main() -> None:
    args = loaded_lab(__doc__.splitlines()[0], Path("/tmp/kafkactl-bench-lab"))
    inventory = args.state_dir / "inventory.yml"

    started = time.monotonic()
    result = kafkactl("restart", str(inventory), "--component", "broker", check=False)
    total = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"restart failed:\n{result.stderr}")
    runs = sorted((args.state_dir / ".kafkactl" / "runs").glob("*.json"))
    journal = json.loads(runs[-1].read_text())
    per_broker = {e["host"]: e["ended"] - e["restarted_at"] for e in journal["entries"] if e["restarted_at"]}

    started = time.monotonic()
    floor = floor_restart(args.state_dir, list(per_broker))
    floor_total = time.monotonic() - started

    print(f"Rolling restart of {len(per_broker)} brokers ({args.messages} messages of 512 B in a 12-partition topic, RF 3)")
    print(f"  {'':<10} {'kafkactl':>9} {'floor':>9}")
    for host, seconds in per_broker.items():
        print(f"  {host:<10} {seconds:8.1f}s {floor[host]:8.1f}s   (kafkactl: from its restart command to its last ready gate)")
    ratio = total / floor_total
    verdict = "ok" if ratio <= TARGET_RATIO else "OVER TARGET"
    print(f"  {'total':<10} {total:8.1f}s {floor_total:8.1f}s   kafkactl / floor = {ratio:.2f}x (target <= {TARGET_RATIO}x): {verdict}")
    if args.down:
        kafkactl("lab", "down", "--state-dir", str(args.state_dir))


if __name__ == "__main__":
    main()
