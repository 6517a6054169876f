"""The prometheus group: Prometheus (with kafkactl's scrape jobs and alert rules) on its hosts and node exporter on
every host, from Debian's packages; planned from the hosts' facts, installed once, reloaded when a file changes."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.executor import Executor, RunOptions
from kafkactl.facts import parse_facts
from kafkactl.inventory import read_inventory
from kafkactl.packages import apt_install
from kafkactl.plan import FileFacts, HostFacts, make_plan
from kafkactl.playbook import Playbook, Step
from kafkactl.report import Report
from kafkactl.transport import CommandResult

from helpers import run_cli
from test_monitoring import INVENTORY as MONITORED
from test_executor import RecordingTransport

INVENTORY = MONITORED.replace("    kafka_connect_jmxexporter_enabled: false\n", "    prometheus_scrape_interval: 5s\n") + """\
prometheus:
  hosts: {monitor1: }
"""
NODE_EXPORTER, PROMETHEUS, BLACKBOX = "prometheus-node-exporter", "prometheus", "prometheus-blackbox-exporter"


def _inventory(tmp_path: Path, text: str = INVENTORY):
    path = tmp_path / "inventory.yml"
    path.write_text(text)
    return read_inventory(path).inventory


def _converged(desired, stopped: frozenset[str] = frozenset()) -> dict[str, HostFacts]:
    """Every host as apply leaves it: its files written, packages installed, services running (but `stopped`)."""
    facts = {}
    for state in desired.hosts:
        files = {f.path: FileFacts(f.content, f"{f.owner}:{f.group}", f.mode, 0) for f in state.files}
        services = {s.name for s in (*state.services, *state.packages)} - stopped
        facts[state.host.name] = HostFacts(files=files, directories=frozenset(d.path for d in state.directories),
                                           kafka_homes=frozenset({state.kafka_home} if state.kafka_home else ()),
                                           active_services=frozenset(services), packages=frozenset(p.role.package for p in state.packages))
    return facts


def test_node_exporter_runs_everywhere_and_prometheus_on_its_group_with_the_scrape_jobs(tmp_path: Path) -> None:
    desired = desired_state(_inventory(tmp_path))
    packages = {s.host.name: [p.role.package for p in s.packages] for s in desired.hosts}
    assert packages == {**{name: [NODE_EXPORTER] for name in ("zk1", "zk2", "zk3", "connect1")},
                        **{name: [NODE_EXPORTER, None] for name in ("kafka1", "kafka2", "fd00::5")},  # and the lag reader
                        "monitor1": [NODE_EXPORTER, PROMETHEUS]}
    monitor = next(s for s in desired.hosts if s.host.name == "monitor1")
    assert monitor.components == () and monitor.services == () and monitor.kafka_home is None
    files = {f.path: f for f in monitor.files}
    assert sorted(files) == ["/etc/prometheus/kafkactl-alerts.yml", "/etc/prometheus/prometheus.yml"]
    assert {(f.owner, f.group, f.mode, f.component) for f in files.values()} == {("root", "root", "0644", None)}
    config = yaml.safe_load(files["/etc/prometheus/prometheus.yml"].content)
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {"zookeeper": ["zk1:8079", "zk2:8079", "zk3:8079"], "kafka_broker": ["[fd00::5]:8080", "kafka1:8080", "kafka2:8080"],
                    "kafka_connect": ["connect1:8077"],
                    "node": ["connect1:9100", "[fd00::5]:9100", "kafka1:9100", "kafka2:9100", "monitor1:9100", "zk1:9100", "zk2:9100", "zk3:9100"]}
    assert config["global"]["scrape_interval"] == "5s" and config["rule_files"] == ["kafkactl-alerts.yml"]


def test_tls_ports_bring_the_blackbox_exporter_and_node_exporter_can_be_left_out(tmp_path: Path) -> None:
    text = INVENTORY.replace("    prometheus_scrape_interval: 5s\n", "    ssl_enabled: true\n    node_exporter_enabled: false\n")
    desired = desired_state(_inventory(tmp_path, text))
    packages = {s.host.name: [p.role.package for p in s.packages] for s in desired.hosts}
    assert {name: found for name, found in packages.items() if found} == {"monitor1": [BLACKBOX, PROMETHEUS]}
    monitor = next(s for s in desired.hosts if s.host.name == "monitor1")
    assert "/etc/prometheus/blackbox.yml" in {f.path for f in monitor.files}


def test_no_prometheus_group_no_packages(tmp_path: Path) -> None:
    text = INVENTORY.replace("prometheus:\n  hosts: {monitor1: }\n", "")
    assert all(not s.packages for s in desired_state(_inventory(tmp_path, text)).hosts)


def test_plan_installs_then_starts_reloads_or_leaves_alone(tmp_path: Path) -> None:
    desired = desired_state(_inventory(tmp_path))

    def actions(facts: dict[str, HostFacts] | None) -> dict[str, dict[str, str]]:
        plan = make_plan(desired, facts)
        return {h.host: {s.name: s.action for s in h.services if s.component is None} for h in plan.hosts}

    assert actions(None)["monitor1"] == {NODE_EXPORTER: "install and start", PROMETHEUS: "install and start"}
    converged = _converged(desired)
    assert not make_plan(desired, converged).changed
    assert set(actions(converged)["zk1"].values()) == {"none"}
    stopped = _converged(desired, stopped=frozenset({NODE_EXPORTER}))
    assert actions(stopped)["kafka1"] == {NODE_EXPORTER: "start", "kafkactl-consumer-lag.timer": "none"}
    rules = "/etc/prometheus/kafkactl-alerts.yml"
    edited = dict(converged, monitor1=dataclasses.replace(
        converged["monitor1"], files={**converged["monitor1"].files, rules: FileFacts("groups: []\n", "root:root", "0644", 0)}))
    assert actions(edited)["monitor1"] == {NODE_EXPORTER: "none", PROMETHEUS: "reload"}
    plan = make_plan(desired, edited)
    assert [h.host for h in plan.changed_hosts] == ["monitor1"]
    assert not any(s.action == "restart" for h in plan.hosts for s in h.services)


def test_installed_packages_are_read_from_dpkg() -> None:
    facts = parse_facts(f"package\t{NODE_EXPORTER}\nservice\t{NODE_EXPORTER}\tactive\t1700000000\t\n")
    assert facts.packages == {NODE_EXPORTER} and NODE_EXPORTER in facts.active_services


def test_the_apt_command_asks_nothing_keeps_kafkactls_files_and_refreshes_stale_lists() -> None:
    apt = ("env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Dpkg::Options::=--force-confdef "
           "-o Dpkg::Options::=--force-confold")
    install = f"{apt} install --no-install-recommends prometheus-node-exporter prometheus"
    assert apt_install([NODE_EXPORTER, PROMETHEUS]).text == f"{install} || {{ {apt} update && {install}; }}"


def _run(inventory, facts, answer) -> tuple[RecordingTransport, Report]:
    desired = desired_state(inventory)
    transport = RecordingTransport(answer, inventory)
    report = Report(Environment(variables={}))
    executor = Executor(inventory, desired, make_plan(desired, facts), facts or {}, transport, report,  # type: ignore[arg-type]
                        RunOptions(gate_timeout=1))
    executor.run(Playbook("site", (Step("packages", "all"),)))
    return transport, report


def _answer(host: str, tool: str) -> CommandResult:
    return CommandResult(0, "HTTP/1.0 200 OK\n", "") if tool == "http" else CommandResult(0, "", "")


def test_a_first_apply_installs_writes_checks_reloads_and_waits_for_each(tmp_path: Path) -> None:
    transport, _ = _run(_inventory(tmp_path), None, _answer)
    monitor = ["apt-get" if "apt-get" in tool else tool for host, tool in transport.sent if host == "monitor1"]
    assert monitor == [
        "apt-get",
        "systemctl enable --quiet prometheus-node-exporter && systemctl start prometheus-node-exporter", "http",
        "put /etc/prometheus/prometheus.yml", "put /etc/prometheus/kafkactl-alerts.yml",
        "promtool check config /etc/prometheus/prometheus.yml",
        "systemctl enable --quiet prometheus && systemctl reload-or-restart prometheus", "http",
    ]
    assert sum(1 for host, tool in transport.sent if "apt-get" in tool) == 8  # one per host


def test_a_converged_host_is_left_alone_and_a_refused_config_is_not_taken(tmp_path: Path) -> None:
    inventory = _inventory(tmp_path)
    converged = _converged(desired_state(inventory))
    transport, _ = _run(inventory, converged, _answer)
    assert transport.sent == []
    rules = "/etc/prometheus/kafkactl-alerts.yml"
    edited = dict(converged, monitor1=dataclasses.replace(
        converged["monitor1"], files={**converged["monitor1"].files, rules: FileFacts("groups: []\n", "root:root", "0644", 0)}))

    def refusing(host: str, tool: str) -> CommandResult:
        return CommandResult(1, "", "FAILED: parsing YAML file") if tool.startswith("promtool") else _answer(host, tool)

    with pytest.raises(KafkactlError, match="host monitor1: promtool check config .* refused what was written \\(FAILED: parsing YAML "
                                            "file\\); prometheus still runs its previous configuration"):
        _run(inventory, edited, refusing)


def test_a_host_only_in_the_prometheus_group_is_planned_and_a_near_miss_is_named(tmp_path: Path) -> None:
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    outcome = run_cli("plan", str(tmp_path / "inventory.yml"), "--offline")
    assert outcome.exit_code == 2, outcome.stderr
    assert "warning" not in outcome.stderr
    assert "  install and start prometheus (ready when: GET :9090/-/ready)" in outcome.stdout
    (tmp_path / "inventory.yml").write_text(INVENTORY.replace("prometheus:\n", "prometeus:\n"))
    outcome = run_cli("plan", str(tmp_path / "inventory.yml"), "--offline")
    assert outcome.exit_code == 1
    assert "group 'prometeus' is not a component group; did you mean 'prometheus'?" in outcome.stderr
