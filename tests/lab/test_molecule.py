"""The Molecule scenarios under molecule/: `molecule test -s SCENARIO` must pass and leave nothing behind.

Each scenario creates its hosts through podman's Docker-compatible API (molecule's docker driver),
converges them with `kafkactl apply`, checks idempotence, verifies them with testinfra over SSH and a
10,000-message round trip, and destroys them. kraft-migration also seeds data, migrates the cluster
from ZooKeeper to KRaft with `kafkactl migrate kraft` (rolling back from state 2b, through 2a, on
the way) while a canary runs, and verifies the data and the canary; the listener-migration scenarios
do the same with `kafkactl migrate listeners` (molecule/shared/README.md).
This module prepares the machine (podman, the lab image, the Kafka archive: molecule/shared/lab_env.py)
and serves the API while it runs.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ["connect-monitoring", "kraft-migration", "listener-migration-kraft", "listener-migration-zk"]
TIMEOUT_S = 2700

# pytest-timeout: past the scenario's own limit and the destroy after it (the default is for lab tests).
pytestmark = [pytest.mark.lab, pytest.mark.timeout(TIMEOUT_S + 900)]


def _lab_env():
    spec = importlib.util.spec_from_file_location("molecule_lab_env", ROOT / "molecule" / "shared" / "lab_env.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def molecule_env():
    """Variables for `molecule`: DOCKER_HOST on a podman API service, KAFKACTL_LAB_IMAGE."""
    modules = ("molecule", "molecule_plugins", "ansible_collections", "testinfra", "confluent_kafka")
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: pip install -e '.[test]' installs molecule, "
                    "molecule-plugins[docker], ansible, pytest-testinfra and confluent-kafka")
    lab_env = _lab_env()
    variables = lab_env.prepare()
    service = lab_env.start_api_service()
    try:
        yield {**os.environ, **variables, "COLUMNS": "160", "ANSIBLE_FORCE_COLOR": "0", "NO_COLOR": "1", "PY_COLORS": "0"}
    finally:
        lab_env.stop_api_service(service)


def _leftovers(scenario: str) -> list[str]:
    """Containers, networks and /etc/hosts lines of the scenario that are still there."""
    config = yaml.safe_load((ROOT / "molecule" / scenario / "molecule.yml").read_text())
    names = [p["name"] for p in config["platforms"]]
    networks = sorted({n["name"] for p in config["platforms"] for n in p.get("networks", [])})
    found = []
    containers = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True,
                                check=True, timeout=60).stdout.split()
    found += [f"container {c}" for c in containers if c in names]
    for network in networks:
        if subprocess.run(["podman", "network", "exists", network], check=False, timeout=60).returncode == 0:
            found.append(f"network {network}")
    hosts = Path("/etc/hosts").read_text()
    found += [f"/etc/hosts: {line}" for line in hosts.splitlines()
              if f"kafkactl-molecule-{scenario}" in line or any(line.split()[1:2] == [n] for n in names)]
    # A migration scenario's canary (molecule/shared/canary.py) runs with the scenario's ephemeral directory.
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"canary.py") for a in args) and any(a.endswith(f".{scenario}".encode()) for a in args):
            found.append(f"canary process {cmdline.parent.name}")
    return found


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_molecule_scenario(scenario: str, molecule_env: dict[str, str], tmp_path: Path):
    log = tmp_path / f"molecule-{scenario}.log"
    started = time.monotonic()
    molecule = [sys.executable, "-m", "molecule"]
    with log.open("w") as out:
        try:
            result = subprocess.run(
                [*molecule, "test", "-s", scenario],
                cwd=ROOT, env=molecule_env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                timeout=TIMEOUT_S, check=False,
            )
        except subprocess.TimeoutExpired:
            subprocess.run([*molecule, "destroy", "-s", scenario], cwd=ROOT, env=molecule_env, stdin=subprocess.DEVNULL,
                           stdout=out, stderr=subprocess.STDOUT, timeout=600, check=False)
            pytest.fail(f"molecule test -s {scenario} took longer than {TIMEOUT_S} s; log {log}")
    elapsed = time.monotonic() - started
    lines = log.read_text(errors="replace").splitlines()
    # The first errors lead: a long tail can be cut short where it is shown.
    first_errors = [line[:300] for line in lines if line.startswith(("[ERROR]", "fatal:", "CRITICAL"))][:5]
    summary = "\n".join([*first_errors, "[...]", *lines[-150:]])
    assert result.returncode == 0, f"molecule test -s {scenario} failed (exit {result.returncode}) after {elapsed:.0f} s; log {log}:\n{summary}"
    assert _leftovers(scenario) == [], f"molecule destroy left these behind: {_leftovers(scenario)}"
    print(f"molecule test -s {scenario}: {elapsed / 60:.1f} min")
