"""What the scenario's hosts should have, and testinfra hosts reached over SSH.

The expected state comes from kafkactl itself, offline: `kafkactl plan --offline --json` (files with
mode and owner, directories, services, install directory) and `kafkactl render` (file contents) for
the inventory molecule/shared/prepare.yml wrote into the scenario's ephemeral directory (for a
migration scenario: the migration inventory with `--phase` of the state its steps end in). The hosts
are testinfra's ssh backend through the ssh_config written there: root, the scenario's client key,
StrictHostKeyChecking=yes against the known_hosts made from the keys read out of each container.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import testinfra
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # molecule/shared: migration.py, kafka_data.py
sys.path.insert(1, str(Path(__file__).resolve().parents[3] / "tests"))  # the project's tests: helpers.py

from migration import final_render, is_migration
from kafkactl.components.properties import parse_properties as properties

EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "."))
SSH_CONFIG = EPHEMERAL / "ssh_config"
# A scenario with steps (KAFKACTL_SCENARIO_STEPS) is verified after its last step: a migration with the
# migration inventory rendered for the phase it ended in (with the ZooKeeper-mode inventory after a
# rollback), an upgrade with the inventory of its last step.
STEPS = os.environ.get("KAFKACTL_SCENARIO_STEPS", "").split()
MIGRATION = is_migration(STEPS)
_INVENTORY_NAME, PHASE = final_render(STEPS)
INVENTORY = EPHEMERAL / _INVENTORY_NAME
ZOOKEEPER_INVENTORY = EPHEMERAL / "inventory.yml"
# Longest gap between canary acknowledgements (molecule/shared/canary.py) each scenario with steps accepts:
# a migration's phases roll brokers and controllers one at a time and move the brokers between ZooKeeper
# and KRaft; an upgrade rolls each node once, as each phase of a listener migration does.
CANARY_MAX_GAP_S = {"kraft-migration": 120, "upgrade": 60, "listener-migration-zk": 60, "listener-migration-kraft": 60}


@dataclass(frozen=True)
class ExpectedFile:
    path: str
    mode: int
    owner: str
    group: str
    content: bytes


@dataclass
class ExpectedHost:
    name: str
    address: str
    groups: list[str]
    install: str | None = None
    directories: list[str] = field(default_factory=list)
    files: dict[str, ExpectedFile] = field(default_factory=dict)
    services: list[str] = field(default_factory=list)
    listeners: list[tuple[str, int]] = field(default_factory=list)
    """(address or "" for every address, port) the host's JVMs listen on."""


def kafkactl(*args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "kafkactl", *args], capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode in ok, f"kafkactl {' '.join(args)}: exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _listeners(host: ExpectedHost, addresses: dict[str, str]) -> list[tuple[str, int]]:
    """Ports from the rendered configuration: Kafka `listeners`, ZooKeeper client and election ports."""
    found: list[tuple[str, int]] = []
    for file in host.files.values():
        if not file.path.endswith(".properties"):
            continue
        props = properties(file.content.decode())
        for spec in filter(None, props.get("listeners", "").split(",")):
            bind, _, port = spec.split("://", 1)[1].rpartition(":")
            found.append((addresses.get(bind, bind if bind not in ("", "0.0.0.0") else ""), int(port)))
        if "clientPort" in props:
            found.append((props.get("clientPortAddress", ""), int(props["clientPort"])))
            myid = host.files.get(f"{props['dataDir']}/myid")
            if myid is not None:
                server = props[f"server.{myid.content.decode().strip()}"].split(";")[0]
                peer, _, election = server.split(":")[:3]
                all_ips = props.get("quorumListenOnAllIPs") == "true"
                found.append(("" if all_ips else addresses.get(peer, peer), int(election)))
    return found


@functools.cache
def expected() -> dict[str, ExpectedHost]:
    inventory = yaml.safe_load(INVENTORY.read_text())
    hosts: dict[str, ExpectedHost] = {}
    for group, body in inventory["all"]["children"].items():
        for name, hostvars in (body.get("hosts") or {}).items():
            hosts.setdefault(name, ExpectedHost(name, hostvars["ansible_host"], [])).groups.append(group)
    addresses = {name: h.address for name, h in hosts.items()}
    phase = ["--phase", PHASE] if PHASE else []
    plan = json.loads(kafkactl("plan", str(INVENTORY), "--offline", "--json", *phase, ok=(0, 2)).stdout)
    with tempfile.TemporaryDirectory() as out:
        kafkactl("render", str(INVENTORY), "--out", out, *phase)
        for entry in plan["hosts"]:
            host = hosts[entry["host"]]
            host.install = entry.get("install")
            host.directories = list(entry["directories"])
            host.services = [s["name"] for s in entry["services"]]
            for f in entry["files"]:
                owner, _, group = f["owner"].partition(":")
                content = (Path(out) / host.name / f["path"].lstrip("/")).read_bytes()
                host.files[f["path"]] = ExpectedFile(f["path"], int(f["mode"], 8), owner, group or owner, content)
    for host in hosts.values():
        host.listeners = _listeners(host, addresses)
    return hosts


@functools.cache
def _testinfra_host(name: str):
    # ControlPersist keeps one SSH connection per host for the whole run (and 10 s after).
    return testinfra.get_host(f"ssh://{name}", ssh_config=str(SSH_CONFIG), controlpersist=10)


@pytest.fixture
def node(name: str):
    """The testinfra host of the test's `name` parameter."""
    return _testinfra_host(name)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize by host (`name`), and by each host's files, directories, services and ports."""
    wanted = set(metafunc.fixturenames)
    if "name" not in wanted:
        return
    hosts = expected()
    names = list(hosts)
    per_host = {
        "expected_file": lambda h: [(f, f.path) for f in h.files.values()],
        "directory": lambda h: [(d, d) for d in h.directories],
        "service": lambda h: [(s, s) for s in h.services],
        "listener": lambda h: [(lst, f"{lst[0] or '*'}:{lst[1]}") for lst in h.listeners],
    }
    for key, items in per_host.items():
        if key in wanted:
            params = [(n, item) for n in names for item, _ in items(hosts[n])]
            ids = [f"{n}:{label}" for n in names for _, label in items(hosts[n])]
            if not params:  # pytest would skip the test quietly: no host to check is a failure of the scenario
                raise AssertionError(f"{metafunc.function.__name__}: the plan gives no {key} on any host of {INVENTORY}")
            metafunc.parametrize(("name", key), params, ids=ids)
            return
    metafunc.parametrize("name", names)


@pytest.fixture(scope="session")
def cluster() -> dict[str, ExpectedHost]:
    """Every host of the inventory with what it should have."""
    return expected()


@pytest.fixture(scope="session")
def connect():
    """testinfra host by inventory name."""
    return _testinfra_host
