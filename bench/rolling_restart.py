"""A rolling restart of 3 brokers on the lab: total time, each broker's time from stop to healthy,
and kafkactl's own overhead (the total minus those), which should stay at most 10% of the total.

    python bench/rolling_restart.py [--messages 200000] [--state-dir /tmp/kafkactl-bench-lab] [--down]

Uses a lab of its own (KAFKACTL_LAB_NAME=bench on 10.219.78.0/24), converged with kafkactl apply and
loaded with a replicated topic, so that every broker has replicas to catch up on after its restart.
The times per broker come from the run's journal: from the restart command to the last ready gate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

TARGET_OVERHEAD = 0.10
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/kafkactl-bench-lab"))
    parser.add_argument("--down", action="store_true", help="remove the bench lab at the end")
    args = parser.parse_args()
    inventory = args.state_dir / "inventory.yml"

    kafkactl("lab", "up", "--state-dir", str(args.state_dir))
    for _ in range(3):
        if "Nothing to do" in kafkactl("apply", str(inventory)).stdout:
            break
    load_topic(args.state_dir, args.messages)

    started = time.monotonic()
    result = kafkactl("restart", str(inventory), "--component", "broker", check=False)
    total = time.monotonic() - started
    if result.returncode != 0:
        sys.exit(f"restart failed:\n{result.stderr}")
    runs = sorted((args.state_dir / ".kafkactl" / "runs").glob("*.json"))
    journal = json.loads(runs[-1].read_text())
    per_broker = {e["host"]: e["ended"] - e["restarted_at"] for e in journal["entries"] if e["restarted_at"]}
    overhead = total - sum(per_broker.values())

    print(f"Rolling restart of {len(per_broker)} brokers ({args.messages} messages of 512 B in a 12-partition topic, RF 3)")
    for host, seconds in per_broker.items():
        print(f"  {host:<8} stop -> healthy {seconds:6.1f} s")
    print(f"  total              {total:6.1f} s")
    share = overhead / total
    verdict = "ok" if share <= TARGET_OVERHEAD else "OVER TARGET"
    print(f"  kafkactl overhead  {overhead:6.1f} s = {share:.0%} of the total (target <= {TARGET_OVERHEAD:.0%}): {verdict}")
    if args.down:
        kafkactl("lab", "down", "--state-dir", str(args.state_dir))


if __name__ == "__main__":
    main()
