"""The ZooKeeper-to-KRaft migration end to end on the lab, timed per phase, next to the restart time
each phase cannot avoid; kafkactl's overhead (the rest) should stay at most 30% of the total.

    python bench/migration.py [--messages 200000] [--state-dir /tmp/kafkactl-bench-migration] [--down]

Uses a lab of its own (KAFKACTL_LAB_NAME=bench on 10.219.78.0/24, 3 ZooKeeper + 3 controllers +
3 brokers), converged in ZooKeeper mode and loaded with a replicated topic. Unavoidable, from each
phase's journal: every restart from the moment it was issued until its ready gates passed, the
controllers' first start until their quorum is ready, and the wait for the controllers to copy the
metadata out of ZooKeeper. Everything else (reading the live state, pre-flight checks, backups,
installing Kafka on the controllers, the plan, before-stop gates) counts as kafkactl's overhead.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from rolling_restart import kafkactl, load_topic

TARGET_OVERHEAD = 0.30
PHASES = ["dual-write", "kraft-brokers", "finalize"]


def unavoidable(journal: dict) -> float:
    seconds = 0.0
    entries = journal["entries"]
    for entry in entries:
        if entry["restarted_at"]:  # a restart: from the stop to its last ready gate
            seconds += entry["ended"] - entry["restarted_at"]
        elif entry["step"] == "wait_for metadata_migrated":  # the controllers copying the metadata
            seconds += entry["ended"] - entry["started"]
    starts = [e for e in entries if e["step"].startswith("start ")]
    if starts:  # controllers started together (format included) until their quorum is ready: the next step begins
        following = next((e["started"] for e in entries if e["started"] > starts[-1]["ended"] and e not in starts), None)
        seconds += (following or starts[-1]["ended"]) - starts[0]["started"]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--state-dir", type=Path, default=Path("/tmp/kafkactl-bench-migration"))
    parser.add_argument("--down", action="store_true", help="remove the bench lab at the end")
    args = parser.parse_args()
    migration = args.state_dir / "migration.yml"

    kafkactl("lab", "down", "--state-dir", str(args.state_dir))  # a migration only goes one way: start afresh
    kafkactl("lab", "up", "--controllers", "--state-dir", str(args.state_dir))
    kafkactl("apply", str(args.state_dir / "inventory.yml"))
    load_topic(args.state_dir, args.messages)
    cluster_id = next(line.split()[-1] for line in kafkactl("migrate", "kraft", str(migration), "--status").stdout.splitlines()
                      if "/cluster/id" in line)

    print(f"Migration of 3 brokers, 3 controllers ({args.messages} messages of 512 B in a 12-partition topic, RF 3)")
    print(f"  {'phase':<14} {'total':>8} {'restarts':>9} {'overhead':>9}")
    totals = [0.0, 0.0]
    for phase in PHASES:
        confirm = ["--confirm-cluster-id", cluster_id] if phase == "finalize" else ["--yes"]
        started = time.monotonic()
        kafkactl("migrate", "kraft", str(migration), "--phase", phase, *confirm)
        total = time.monotonic() - started
        runs = sorted((args.state_dir / ".kafkactl" / "runs").glob("*.json"))
        needed = unavoidable(json.loads(runs[-1].read_text()))
        totals[0] += total
        totals[1] += needed
        print(f"  {phase:<14} {total:7.1f}s {needed:8.1f}s {total - needed:8.1f}s ({(total - needed) / total:.0%})")
    share = (totals[0] - totals[1]) / totals[0]
    verdict = "ok" if share <= TARGET_OVERHEAD else "OVER TARGET"
    print(f"  {'end to end':<14} {totals[0]:7.1f}s {totals[1]:8.1f}s {totals[0] - totals[1]:8.1f}s ({share:.0%}; "
          f"target <= {TARGET_OVERHEAD:.0%}): {verdict}")
    if args.down:
        kafkactl("lab", "down", "--state-dir", str(args.state_dir))


if __name__ == "__main__":
    main()
