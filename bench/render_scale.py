"""Render and offline-plan a 1,000-broker inventory as whole processes: median wall time and peak memory.

    python bench/render_scale.py [--brokers 1000] [--runs 5]

Target on a 2-core machine: at most 1 s and 300 MB each for 1,000 brokers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 1.0
TARGET_MB = 300


def write_inventory(path: Path, brokers: int) -> None:
    lines = ["all:", "  vars:", "    kafka_version: 3.9.2", "  children:", "    zookeeper:", "      hosts:"]
    lines += [f"        zk{i}.bench.example:" for i in range(1, 4)]
    lines += ["    kafka_broker:", "      hosts:"]
    lines += [f"        kafka{i}.bench.example:" for i in range(1, brokers + 1)]
    path.write_text("\n".join(lines) + "\n")


def measure(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak resident MB of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 2):
        sys.exit(f"{' '.join(command)} failed with exit code {code}: {process.stderr.read().decode()}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--brokers", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    # The interpreter itself, not a version manager's shim script in front of the console script.
    kafkactl = [sys.executable, "-m", "kafkactl"]
    with tempfile.TemporaryDirectory() as work:
        inventory = Path(work) / "inventory.yml"
        write_inventory(inventory, args.brokers)
        commands = {
            "render": [*kafkactl, "render", str(inventory), "--out", str(Path(work) / "out")],
            "plan --offline": [*kafkactl, "plan", str(inventory), "--offline"],
        }
        print(f"{args.brokers} brokers + 3 ZooKeeper, median of {args.runs} runs (target: <= {TARGET_SECONDS} s, <= {TARGET_MB} MB)")
        for name, command in commands.items():
            results = [measure(command) for _ in range(args.runs)]
            wall = statistics.median(r[0] for r in results)
            peak = max(r[1] for r in results)
            verdict = "ok" if wall <= TARGET_SECONDS and peak <= TARGET_MB else "OVER TARGET"
            print(f"  {name:<15} wall {wall:6.3f} s   peak RSS {peak:6.1f} MB   {verdict}")


if __name__ == "__main__":
    main()
