"""A migration phase interrupted mid-roll on real hosts: the cluster is between states, `apply` refuses to
touch it (first for the killed run's lock, then for the state), the ZooKeeper-mode inventory is refused
too, and `migrate kraft --phase dual-write --resume` finishes the phase without taking its backup again.
(The full migration, both rollbacks, data and canary checks are the Molecule scenario kraft-migration.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from labkit import Lab, bring_up, take_down, wait_until

pytestmark = pytest.mark.lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    made = bring_up(tmp_path_factory, "--layout", "zookeeper", "--controllers")
    outcome = made.kafkactl("apply", str(made.inventory))
    assert outcome.exit_code == 0, outcome.stderr
    yield made
    take_down(made)


def _journals(lab: Lab) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((lab.state_dir / ".kafkactl" / "runs").glob("*.json"))]


def test_interrupted_phase_blocks_apply_and_resumes(lab: Lab) -> None:
    migration = str(lab.state_dir / "migration.yml")
    process = subprocess.Popen([sys.executable, "-m", "kafkactl", "migrate", "kraft", migration, "--phase", "dual-write", "--yes"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    seen: list[str] = []

    def read_output() -> None:
        for line in process.stdout:
            seen.append(line)

    threading.Thread(target=read_output, daemon=True).start()
    try:  # stop kafkactl right after the first broker restarted with the migration flag
        wait_until("kafkactl migrate kraft --phase dual-write", "its output naming a restarted broker",
                   lambda: "".join(seen)[-2000:], lambda output: "restarted kafka-broker" in output, 600, interval=0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)

    status = lab.kafkactl("migrate", "kraft", migration, "--status")
    assert "between state 1 and state 2a" in status.stdout, status.stdout
    # The killed run left its lock on the hosts: every changing run is refused, naming it ...
    locked = lab.kafkactl("apply", migration)
    assert locked.exit_code == 1 and "a stale lock of `kafkactl migrate kraft --phase dual-write`" in locked.stderr, locked.stderr
    # ... and past the lock, apply still refuses a cluster between states.
    refused = lab.kafkactl("apply", migration, "--break-lock")
    assert refused.exit_code == 1 and "refuses to change a cluster between states" in refused.stderr, refused.stderr
    zookeeper_inventory = lab.kafkactl("plan", str(lab.inventory))
    assert zookeeper_inventory.exit_code == 1 and "take part in a ZooKeeper-to-KRaft migration" in zookeeper_inventory.stderr

    resumed = lab.kafkactl("migrate", "kraft", migration, "--phase", "dual-write", "--yes", "--resume")
    assert resumed.exit_code == 0, resumed.stderr + resumed.stdout[-3000:]
    assert "backup all: taken by the run being resumed" in resumed.stdout
    assert "Migration: now state 2a" in resumed.stdout
    first, last = _journals(lab)[-2:]
    assert last["resumes"] == first["run_id"] and last["status"] == "done"
    again = lab.kafkactl("migrate", "kraft", migration, "--phase", "dual-write", "--yes")
    assert again.exit_code == 0 and "Already in state 2a" in again.stdout, again.stdout[-2000:]
    plan = lab.kafkactl("plan", migration)
    assert plan.exit_code == 0 and "Nothing to do" in plan.stdout, plan.stdout[-2000:]


def test_backups_of_the_phase_verify(lab: Lab) -> None:
    migration = str(lab.state_dir / "migration.yml")
    listing = lab.kafkactl("backup", "list", migration)
    assert listing.exit_code == 0 and "migrate-dual-write" in listing.stdout, listing.stdout
    verified = lab.kafkactl("backup", "verify", migration, "--on-hosts")
    assert verified.exit_code == 0, verified.stderr
    assert Path(lab.state_dir / ".kafkactl" / "backups").is_dir()
