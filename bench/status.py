"""`kafkactl status` on the lab, next to the same figures read by hand with Kafka's own command line tools.

    python bench/status.py [--layout kraft|zookeeper] [--runs 5] [--state-dir /tmp/kafkactl-bench-lab] [--down]

Uses a lab of its own (KAFKACTL_LAB_NAME=bench on 10.219.78.0/24), converged with kafkactl apply. The hand-made
reading is what an operator types for the same screen, one SSH command after the other: `systemctl is-active` on
every host, then on one broker `kafka-topics --describe --under-replicated-partitions` and
`--unavailable-partitions` and `kafka-consumer-groups --describe --all-groups`, and (KRaft) `kafka-metadata-quorum describe --status` and `--replication` on one
controller, or (ZooKeeper mode) `srvr` on every ZooKeeper member. The figures are medians of --runs runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

LAB_ENV = {**os.environ, "KAFKACTL_LAB_NAME": "bench", "KAFKACTL_LAB_SUBNET": "10.219.78.0/24"}
KAFKACTL = [sys.executable, "-m", "kafkactl"]
JAVA = "java -Xmx192m -Dlog4j.configuration=file:/dev/null -cp '/opt/kafka/kafka_2.13-3.9.2/libs/*'"
UNITS = {"zookeeper": "kafka-zookeeper", "kafka_controller": "kafka-controller", "kafka_broker": "kafka-broker"}


def kafkactl(*args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([*KAFKACTL, *args], env=LAB_ENV, capture_output=True, text=True)
    if result.returncode not in (0, 2):
        sys.exit(f"kafkactl {' '.join(args)} failed:\n{result.stderr}{result.stdout[-2000:]}")
    return result


def by_hand(state_dir: Path, groups: dict[str, list[str]]) -> None:
    """The same figures with Kafka's and ZooKeeper's own tools, one SSH command at a time."""
    def ssh(host: str, command: str) -> None:
        subprocess.run(["ssh", "-F", str(state_dir / "ssh_config"), "-l", "root", host, command], check=True,
                       capture_output=True, timeout=120)

    for group, hosts in groups.items():
        for host in hosts:
            ssh(host, f"systemctl is-active {UNITS[group]}")
    broker = groups["kafka_broker"][0]
    for option in ("--under-replicated-partitions", "--unavailable-partitions"):
        ssh(broker, f"{JAVA} org.apache.kafka.tools.TopicCommand --bootstrap-server {broker}:9091 --describe {option}")
    ssh(broker, f"{JAVA} org.apache.kafka.tools.consumer.group.ConsumerGroupCommand --bootstrap-server {broker}:9091 "
                "--describe --all-groups")
    if "kafka_controller" in groups:
        controller = groups["kafka_controller"][0]
        for what in ("--status", "--replication"):
            ssh(controller, f"{JAVA} org.apache.kafka.tools.MetadataQuorumCommand --bootstrap-controller {controller}:9093 "
                            f"describe {what}")
    for member in groups.get("zookeeper", []):
        ssh(member, "exec 3<>/dev/tcp/127.0.0.1/2181 && printf srvr >&3 && cat <&3")


def timed(work) -> float:
    started = time.monotonic()
    work()
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layout", choices=("kraft", "zookeeper"), default="kraft")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/kafkactl-bench-lab"))
    parser.add_argument("--down", action="store_true", help="remove the bench lab at the end")
    args = parser.parse_args()
    inventory = args.state_dir / "inventory.yml"

    kafkactl("lab", "up", "--layout", args.layout, "--state-dir", str(args.state_dir))
    for _ in range(3):
        if "Nothing to do" in kafkactl("apply", str(inventory)).stdout:
            break
    children = yaml.safe_load(inventory.read_text())["all"]["children"]
    groups = {group: list(children[group]["hosts"]) for group in UNITS if group in children}

    ours = [timed(lambda: kafkactl("status", str(inventory), "--json")) for _ in range(args.runs)]
    theirs = [timed(lambda: by_hand(args.state_dir, groups)) for _ in range(args.runs)]
    hosts = sum(len(h) for h in groups.values())
    print(f"kafkactl status on the {args.layout} lab ({hosts} hosts), median of {args.runs} runs")
    print(f"  {'kafkactl status --json':<46} {statistics.median(ours):6.1f}s  (also: versions, roles, key stores)")
    print(f"  {'Kafka tools by hand, one SSH command at a time':<46} {statistics.median(theirs):6.1f}s")
    if args.down:
        kafkactl("lab", "down", "--state-dir", str(args.state_dir))


if __name__ == "__main__":
    main()
