"""Light lab hosts: their inventory, and the layer that leaves each host as a converged apply would."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
import yaml

from helpers import run_cli
from kafkactl.desired import desired_state
from kafkactl.inventory import read_inventory
from kafkactl.lab import LabError
from kafkactl.lab.inventory import write_inventory
from kafkactl.lab.light import STAND_IN_JAVA, _layer, light_hosts, light_inventory
from kafkactl.plan import FileFacts, HostFacts, make_plan


def test_three_controllers_then_brokers_and_no_fewer_than_four() -> None:
    assert light_hosts(5) == {"kafka_controller": ["light1", "light2", "light3"], "kafka_broker": ["light4", "light5"]}
    with pytest.raises(LabError, match="at least 4 hosts"):
        light_hosts(3)


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    groups = light_hosts(5)
    names = [name for hosts in groups.values() for name in hosts]
    archive, jar = tmp_path / "kafka.tgz", tmp_path / "agent.jar"
    archive.write_bytes(b"archive")
    jar.write_bytes(b"jar")
    made = light_inventory(groups, addresses={n: f"10.219.78.{11 + i}" for i, n in enumerate(names)},
                           ssh_key=tmp_path / "id_ed25519", known_hosts=tmp_path / "known_hosts", archive=archive,
                           sha256="0" * 64, version="3.9.2", jump_hosts={}, exporter_jar=jar, exporter_sha256="1" * 64)
    return write_inventory(tmp_path / "inventory.yml", made, "light")


def test_the_inventory_starts_the_stand_in_for_java_and_no_exporter(inventory: Path) -> None:
    variables = yaml.safe_load(inventory.read_text())["all"]["vars"]
    assert variables["java_executable"] == STAND_IN_JAVA
    assert variables["jmxexporter_enabled"] is False and "jmxexporter_jar_url" not in variables
    units = [f for state in desired_state(read_inventory(inventory).inventory).hosts for f in state.files if f.path.endswith(".service")]
    assert len(units) == 5 and all(f"ExecStart={STAND_IN_JAVA} " in unit.content for unit in units)


def test_the_layer_holds_what_the_plan_compares_so_a_plan_against_it_has_nothing_to_do(inventory: Path) -> None:
    desired = desired_state(read_inventory(inventory).inventory)
    facts = {}
    for state in desired.hosts:
        with tarfile.open(fileobj=io.BytesIO(_layer(state))) as tar:
            entries = {"/" + entry.name: entry for entry in tar.getmembers()}
            files = {path: FileFacts(content=tar.extractfile(entry).read().decode(), owner=f"{entry.uname}:{entry.gname}",
                                     mode=f"{entry.mode:04o}", mtime=entry.mtime)
                     for path, entry in entries.items() if entry.isfile()}
        directories = {path: f"{entry.uname}:{entry.gname} {entry.mode:04o}" for path, entry in entries.items() if entry.isdir()}
        assert entries[STAND_IN_JAVA].mode == 0o755
        facts[state.host.name] = HostFacts(files=files, directories=frozenset(directories), directory_owners=directories,
                                           kafka_homes=frozenset({state.kafka_home}),
                                           active_services=frozenset(s.name for s in state.services))
    assert not make_plan(desired, facts).changed


def test_light_hosts_come_alone_and_at_least_four(tmp_path: Path) -> None:
    combined = run_cli("lab", "up", "--light", "10", "--connect", "--state-dir", str(tmp_path))
    assert combined.exit_code != 0 and "--light: light hosts come alone" in combined.stderr
    too_few = run_cli("lab", "up", "--light", "3", "--state-dir", str(tmp_path))
    assert too_few.exit_code != 0 and "at least 4 hosts" in too_few.stderr
    assert not (tmp_path / "lab.json").exists()
