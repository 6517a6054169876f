"""The ZooKeeper-to-KRaft migration end to end on the lab, timed per phase, next to its floor measured in the same run.

    python bench/migration.py [--messages 200000] [--state-dir /tmp/kafkactl-bench-migration] [--down]

Uses a lab of its own (KAFKACTL_LAB_NAME=bench on 10.219.78.0/24, 3 ZooKeeper + 3 controllers +
3 brokers), converged in ZooKeeper mode and loaded with a replicated topic. After each phase, its
floor: the restarts the phase made, made again without kafkactl in the same order, on nodes in the
state the phase left them in: `systemctl restart` over SSH, then readiness polled every 100 ms from
this machine (a broker: a Kafka Admin client until every ISR is full, one preferred-leader election,
until every partition is led by its preferred replica; a controller: every controller's JMX exporter
until all agree on a leader and each is within 1,000 records of its log). What cannot be done twice
counts as it took in kafkactl's journal: the controllers' first start until their quorum is ready,
and the wait for them to copy the metadata out of ZooKeeper (dual-write). Target: each phase within
1.25x of its floor.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from rolling_restart import POLL_S, floor_restart, kafkactl, load_topic

TARGET_RATIO = 1.25
PHASES = ["dual-write", "kraft-brokers", "finalize"]
CONTROLLER_EXPORTER_PORT = 8079
VOTER_LAG_LIMIT = 1000
CONTROLLERS = ["controller1", "controller2", "controller3"]
BROKERS = ["kafka1", "kafka2", "kafka3"]


def restarts(journal: dict) -> list[tuple[str, str]]:
    """(component, host) of every restart the run made, in order."""
    return [(entry["step"].split()[-1], entry["host"]) for entry in journal["entries"] if entry["restarted_at"]]


def once_only(journal: dict) -> float:
    """What a phase cannot do twice: the controllers' first start (format included) until their quorum is ready,
    and the wait for the metadata to be copied out of ZooKeeper."""
    entries = journal["entries"]
    seconds = sum(e["ended"] - e["started"] for e in entries if e["step"] == "wait_for metadata_migrated")
    starts = [e for e in entries if e["step"].startswith("start ")]
    if starts:  # started together until their quorum is ready: the next step begins
        following = next((e["started"] for e in entries if e["started"] > starts[-1]["ended"] and e not in starts), None)
        seconds += (following or starts[-1]["ended"]) - starts[0]["started"]
    return seconds


def _quorum_caught_up() -> bool:
    views = {}
    for host in CONTROLLERS:
        url = (f"http://{host}:{CONTROLLER_EXPORTER_PORT}/metrics?name[]=kafka_server_raft_current_leader"
               "&name[]=kafka_server_raft_log_end_offset")
        try:
            text = urllib.request.urlopen(url, timeout=2).read().decode()
        except OSError:
            return False
        views[host] = {line.split()[0]: float(line.split()[1]) for line in text.splitlines() if line and not line.startswith("#")}
    leaders = {view.get("kafka_server_raft_current_leader", -1.0) for view in views.values()}
    if len(leaders) != 1 or -1.0 in leaders:
        return False
    ends = [view["kafka_server_raft_log_end_offset"] for view in views.values()]
    return max(ends) - min(ends) <= VOTER_LAG_LIMIT


def floor_controller_restart(state_dir: Path, host: str) -> None:
    subprocess.run(["ssh", "-F", str(state_dir / "ssh_config"), "-l", "root", host, "systemctl restart kafka-controller"],
                   check=True, capture_output=True)
    deadline = time.monotonic() + 300
    while not _quorum_caught_up():
        if time.monotonic() > deadline:
            sys.exit(f"the floor's restart of {host} did not become healthy in time")
        time.sleep(POLL_S)


def floor(state_dir: Path, restarted: list[tuple[str, str]]) -> float:
    """The phase's restarts again, without kafkactl."""
    started = time.monotonic()
    for component, host in restarted:
        if component == "kafka_controller":
            floor_controller_restart(state_dir, host)
        else:
            floor_restart(state_dir, [host], BROKERS)
    return time.monotonic() - started


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
    print(f"  {'phase':<14} {'kafkactl':>9} {'floor':>9} {'restarts':>9} {'once only':>10} {'ratio':>6}")
    totals = [0.0, 0.0]
    for phase in PHASES:
        confirm = ["--confirm-cluster-id", cluster_id] if phase == "finalize" else ["--yes"]
        started = time.monotonic()
        kafkactl("migrate", "kraft", str(migration), "--phase", phase, *confirm)
        total = time.monotonic() - started
        journal = json.loads(sorted((args.state_dir / ".kafkactl" / "runs").glob("*.json"))[-1].read_text())
        restarted = restarts(journal)
        measured, journaled = floor(args.state_dir, restarted), once_only(journal)
        phase_floor = measured + journaled
        totals[0] += total
        totals[1] += phase_floor
        verdict = "ok" if total <= TARGET_RATIO * phase_floor else "OVER TARGET"
        print(f"  {phase:<14} {total:8.1f}s {phase_floor:8.1f}s {measured:8.1f}s {journaled:9.1f}s {total / phase_floor:5.2f}x "
              f"({len(restarted)} restarts; target <= {TARGET_RATIO}x): {verdict}")
    print(f"  {'end to end':<14} {totals[0]:8.1f}s {totals[1]:8.1f}s {'':>9} {'':>10} {totals[0] / totals[1]:5.2f}x")
    if args.down:
        kafkactl("lab", "down", "--state-dir", str(args.state_dir))


if __name__ == "__main__":
    main()
