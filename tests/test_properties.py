"""Data-driven: each tests/cases/properties/*.yml names an inventory and phase and the exact properties
each listed host must get. KAFKACTL_UPDATE_CASES=1 rewrites the expected data (review the diff)."""

from __future__ import annotations

import base64
import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from kafkactl.components.properties import parse_properties
from kafkactl.components.topology import Topology
from kafkactl.desired import PROPERTIES, desired_state, resolve_phase
from kafkactl.facts import parse_facts
from kafkactl.inventory import read_inventory
from kafkactl.model import Component, Phase
from kafkactl.plan import make_plan
from kafkactl.render import write_rendered

from helpers import ROOT

CASES = sorted((Path(__file__).parent / "cases" / "properties").glob("*.yml"))  # escaping/ is a case of its own


def _inventory_path(case: dict, tmp_path: Path) -> Path:
    if "inventory" in case:
        return ROOT / case["inventory"]
    path = tmp_path / "inventory.yml"
    path.write_text(case["inventory_text"])
    return path


@pytest.mark.parametrize("case_file", CASES, ids=[c.stem for c in CASES])
def test_properties(case_file: Path, tmp_path: Path, secure_env) -> None:
    case = yaml.safe_load(case_file.read_text())
    inventory = read_inventory(_inventory_path(case, tmp_path)).inventory
    phase = resolve_phase(inventory, Phase(case["phase"]) if case.get("phase") else None)
    topology = Topology.of(inventory, phase)
    hosts = {h.name: h for h in inventory.hosts}
    actual = {
        host: {component: PROPERTIES[Component(component)](topology, hosts[host]).as_dict() for component in components}
        for host, components in case["expected"].items()
    }
    if os.environ.get("KAFKACTL_UPDATE_CASES"):
        case["expected"] = actual
        case_file.write_text(yaml.safe_dump(case, sort_keys=False, width=200))
    assert actual == case["expected"]


# Escaping: rendered files read back by their readers ---------------------------------------------------

ESCAPING = Path(__file__).parent / "cases" / "properties" / "escaping"


def _java_properties(text: str) -> dict[str, str]:
    """java.util.Properties.load, written independently of kafkactl's own parser (logical lines, separators,
    escapes); the file must be ISO-8859-1-safe, as load(InputStream) reads it."""
    text.encode("iso-8859-1")
    natural = re.split(r"\r\n|\r|\n", text)
    result: dict[str, str] = {}
    index = 0
    while index < len(natural):
        line = natural[index].lstrip(" \t\f")
        index += 1
        if not line or line[0] in "#!":
            continue
        while re.search(r"(?<!\\)(\\\\)*\\$", line) and index < len(natural):
            line = line[:-1] + natural[index].lstrip(" \t\f")
            index += 1
        match = re.match(r"((?:[^\\:= \t\f]|\\.)*)[ \t\f]*[:=]?[ \t\f]*(.*)$", line, re.DOTALL)
        assert match, line
        result[_java_unescape(match.group(1))] = _java_unescape(match.group(2))
    return result


def _java_unescape(text: str) -> str:
    def one(match: re.Match[str]) -> str:
        escaped = match.group(1)
        if escaped.startswith("u"):
            return chr(int(escaped[1:], 16))
        return {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}.get(escaped, escaped)

    joined = re.sub(r"\\(u[0-9a-fA-F]{4}|.)", one, text)
    return joined.encode("utf-16", "surrogatepass").decode("utf-16")


def _jaas_options(text: str) -> dict[str, str]:
    """name=value options of a JAAS text as StreamTokenizer reads a quoted value."""
    options = {}
    for name, quoted in re.findall(r'([\w$-]+)\s*=\s*"((?:[^"\\]|\\.)*)"', text):
        options[name] = re.sub(r"\\(.)", lambda m: {"n": "\n", "r": "\r", "t": "\t"}.get(m.group(1), m.group(1)), quoted)
    return options


def _systemd_environment(unit: str) -> dict[str, str]:
    """Environment= lines as systemd reads them: % specifiers, then quotes with C escapes."""
    values = {}
    for line in unit.splitlines():
        if line.startswith("Environment="):
            word = line.removeprefix("Environment=").replace("%%", "%")
            assert word.startswith('"') and word.endswith('"'), line
            assignment = re.sub(r"\\(.)", r"\1", word[1:-1])
            name, _, value = assignment.partition("=")
            values[name] = value
    return values


@pytest.fixture(scope="module")
def escaping_render(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("escaping")
    desired = desired_state(read_inventory(ESCAPING / "inventory.yml").inventory)
    write_rendered(desired, out)
    return out


def test_escaping_golden_files(escaping_render: Path) -> None:
    golden = ESCAPING / "rendered"
    rendered = sorted(p.relative_to(escaping_render) for p in escaping_render.rglob("*") if p.is_file())
    if os.environ.get("KAFKACTL_UPDATE_CASES"):
        for relative in rendered:
            (golden / relative).parent.mkdir(parents=True, exist_ok=True)
            (golden / relative).write_bytes((escaping_render / relative).read_bytes())
    assert rendered == sorted(p.relative_to(golden) for p in golden.rglob("*") if p.is_file())
    for relative in rendered:
        assert (escaping_render / relative).read_bytes() == (golden / relative).read_bytes(), relative


def test_escaped_values_read_back_as_written(escaping_render: Path) -> None:
    expected = yaml.safe_load((ESCAPING / "expected.yml").read_text(encoding="utf-8"))
    for file, values in expected["properties"].items():
        text = (escaping_render / file).read_text(encoding="utf-8")
        assert text.isascii()
        read = _java_properties(text)
        assert parse_properties(text) == read
        assert {key: read.get(key) for key in values} == values
    for file, keys in expected["jaas_properties"].items():
        read = _java_properties((escaping_render / file).read_text(encoding="utf-8"))
        for key, options in keys.items():
            assert _jaas_options(read[key]) == options
    for file, sections in expected["jaas_files"].items():
        text = (escaping_render / file).read_text(encoding="utf-8")
        for options in sections.values():
            assert _jaas_options(text) == options
    for file, variables in expected["environment"].items():
        environment = _systemd_environment((escaping_render / file).read_text(encoding="utf-8"))
        assert {name: environment.get(name) for name in variables} == variables


@pytest.mark.skipif(shutil.which("java") is None, reason="no Java on this machine")
def test_java_reads_back_what_was_written(escaping_render: Path) -> None:
    """The JDK's own readers: Properties.load(InputStream), Kafka's JaasConfig tokenizer, JAAS Configuration."""
    expected = yaml.safe_load((ESCAPING / "expected.yml").read_text(encoding="utf-8"))
    tool = str(ESCAPING / "ReadBack.java")

    def read(*args: str) -> dict[str, str]:
        done = subprocess.run(["java", tool, *args], capture_output=True, text=True, timeout=120, check=True)
        return {base64.b64decode(name).decode(): base64.b64decode(value).decode()
                for name, value in (line.split("\t") for line in done.stdout.splitlines())}

    for file, values in expected["properties"].items():
        read_back = read("properties", str(escaping_render / file))
        assert {key: read_back.get(key) for key in values} == values
    for file, keys in expected["jaas_properties"].items():
        read_back = read("properties", str(escaping_render / file))
        for key, options in keys.items():
            assert {option: read_back.get(f"{key}#{option}") for option in options} == options
    for file, sections in expected["jaas_files"].items():
        read_back = read("jaas", str(escaping_render / file), *sections)
        for section, options in sections.items():
            assert {option: read_back.get(f"{section}#{option}") for option in options} == options


# Modes and ownership: what the service account may read, and what it may not change --------------------


@pytest.mark.parametrize("inventory", ["inventories/zookeeper-cluster/inventory.yml", "inventories/kraft-cluster/inventory.yml"])
def test_configuration_is_root_owned_and_data_is_private(inventory: str) -> None:
    loaded = read_inventory(ROOT / inventory).inventory
    desired, cluster = desired_state(loaded), loaded.cluster
    service_owned = {cluster.kafka_log_dir, cluster.zookeeper_data_dir, cluster.kafka_controller_metadata_dir,
                     *cluster.kafka_broker_log_dirs}
    for state in desired.hosts:
        for directory in state.directories:
            assert directory.mode == "0750", directory
            expected_owner = "kafka" if directory.path in service_owned else "root"
            assert (directory.owner, directory.group) == (expected_owner, "kafka"), directory
        for managed in state.files:
            if managed.path.endswith(".service"):
                assert (managed.owner, managed.group, managed.mode) == ("root", "root", "0644")
                assert "\nUMask=0027\n" in managed.content
            elif managed.path.endswith(".sh"):  # run by systemd as root: the service account cannot read it
                assert (managed.owner, managed.group, managed.mode) == ("root", "root", "0700"), managed.path
            else:
                assert (managed.owner, managed.group, managed.mode) == ("root", "kafka", "0640"), managed.path


def test_directories_made_by_an_earlier_version_are_given_their_owner_and_mode() -> None:
    desired = desired_state(read_inventory(ROOT / "inventories/zookeeper-cluster/inventory.yml").inventory)
    state = desired.hosts[0]
    listing = "".join(f"dir\t{d.path}\tkafka:kafka 755\n" for d in state.directories)
    converged = "".join(f"dir\t{d.path}\t{d.owner}:{d.group} {d.mode.lstrip('0')}\n" for d in state.directories)

    before = make_plan(dataclasses.replace(desired, hosts=(state,)), {state.host.name: parse_facts(listing)})
    after = make_plan(dataclasses.replace(desired, hosts=(state,)), {state.host.name: parse_facts(converged)})

    assert set(before.hosts[0].directories) == {d.path for d in state.directories}
    assert after.hosts[0].directories == ()


def test_kafka_opts_of_the_service_environment_reaches_every_kafka_jvm() -> None:
    """cp-ansible adds JVM options through KAFKA_OPTS in <component>_service_environment_overrides: every unit that
    runs Kafka's jars passes it to java, as Kafka's own start scripts do."""
    for inventory in ("inventories/zookeeper-cluster/inventory.yml", "inventories/kraft-cluster/inventory.yml"):
        for state in desired_state(read_inventory(ROOT / inventory).inventory).hosts:
            for unit in (f for f in state.files if f.path.endswith(".service") and "schema-registry" not in f.path):
                exec_start = next(line for line in unit.content.splitlines() if line.startswith("ExecStart="))
                assert " $KAFKA_OPTS -cp " in exec_start, (unit.path, exec_start)


def test_an_adopted_layout_names_the_units_and_configuration_files(tmp_path: Path) -> None:
    """A hand-built cluster's layout: its unit names and configuration files, written with cp-ansible's
    <component>_service_name and kafkactl's <component>_config_file."""
    path = tmp_path / "layout.yml"
    path.write_text(
        "all:\n  vars:\n    zookeeper_service_name: zookeeper\n    kafka_broker_service_name: kafka\n"
        "    zookeeper_config_file: /opt/kafka/config/zookeeper.properties\n"
        "    kafka_broker_config_file: /opt/kafka/config/server.properties\n"
        "zookeeper:\n  hosts: {node1: }\nkafka_broker:\n  hosts: {node1: }\n")
    state = desired_state(read_inventory(path).inventory).hosts[0]
    assert [s.name for s in state.services] == ["zookeeper", "kafka"]
    assert [s.config for s in state.services] == ["/opt/kafka/config/zookeeper.properties", "/opt/kafka/config/server.properties"]
    units = {f.path: f.content for f in state.files if f.path.endswith(".service")}
    assert set(units) == {"/etc/systemd/system/zookeeper.service", "/etc/systemd/system/kafka.service"}
    assert " kafka.Kafka /opt/kafka/config/server.properties\n" in units["/etc/systemd/system/kafka.service"]
    config_dir = next(d for d in state.directories if d.path == "/opt/kafka/config")
    assert (config_dir.owner, config_dir.group, config_dir.mode) == ("root", "kafka", "0750")


def test_two_components_writing_one_file_are_refused(tmp_path: Path) -> None:
    from kafkactl.errors import KafkactlError

    path = tmp_path / "layout.yml"
    path.write_text("all:\n  vars: {kafka_broker_config_file: /etc/kafka/zookeeper.properties}\n"
                    "zookeeper:\n  hosts: {node1: }\nkafka_broker:\n  hosts: {node1: }\n")
    with pytest.raises(KafkactlError, match="host node1: two components would write /etc/kafka/zookeeper.properties"):
        desired_state(read_inventory(path).inventory)
