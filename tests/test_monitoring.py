"""`kafkactl monitoring prometheus`: a scrape job per component group whose JVMs run the JMX exporter, node exporter on
every host, and kafkactl's alert rules beside it; Prometheus's promtool accepts what is written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from helpers import run_cli

INVENTORY = """\
all:
  vars:
    jmxexporter_enabled: true
    jmxexporter_jar_url: https://artifacts.example/jmx_prometheus_javaagent-1.0.1.jar
    jmxexporter_jar_sha256: 7d61f737fd661610ccc14aea79764faa1ea94a340cbc8f0029b3d2edea3d80c1
    kafka_connect_jmxexporter_enabled: false
zookeeper:
  hosts: {zk1: , zk2: , zk3: }
kafka_broker:
  hosts: {kafka1: , kafka2: , "fd00::5": }
kafka_connect:
  hosts: {connect1: }
"""


def _written(tmp_path: Path, *options: str, text: str = INVENTORY):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(text)
    return run_cli("monitoring", "prometheus", str(inventory), "--out", str(tmp_path / "prometheus"), *options)


def test_a_job_per_group_running_the_exporter_and_node_exporter_everywhere(tmp_path: Path, promtool: str) -> None:
    outcome = _written(tmp_path)
    assert outcome.exit_code == 0, outcome.stderr
    folder = tmp_path / "prometheus"
    assert outcome.stdout.splitlines() == [f"wrote {folder / 'prometheus.yml'}", f"wrote {folder / 'kafkactl-alerts.yml'}"]
    config = yaml.safe_load((folder / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    assert jobs == {
        "zookeeper": ["zk1:8079", "zk2:8079", "zk3:8079"],
        "kafka_broker": ["[fd00::5]:8080", "kafka1:8080", "kafka2:8080"],
        "node": ["connect1:9100", "[fd00::5]:9100", "kafka1:9100", "kafka2:9100", "zk1:9100", "zk2:9100", "zk3:9100"],
    }
    assert config["rule_files"] == ["kafkactl-alerts.yml"]
    checked = subprocess.run([promtool, "check", "config", str(folder / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 16 rules found" in checked.stdout + checked.stderr


def test_without_node_exporter_and_at_another_interval(tmp_path: Path) -> None:
    assert _written(tmp_path, "--no-node-exporter", "--interval", "5s").exit_code == 0
    config = yaml.safe_load((tmp_path / "prometheus" / "prometheus.yml").read_text())
    assert "node" not in {job["job_name"] for job in config["scrape_configs"]}
    assert config["global"] == {"scrape_interval": "5s", "evaluation_interval": "5s"}


def test_an_inventory_without_exporters_or_a_bad_interval_is_refused_writing_nothing(tmp_path: Path) -> None:
    off = _written(tmp_path, text=INVENTORY.replace("jmxexporter_enabled: true", "jmxexporter_enabled: false"))
    assert off.exit_code == 1 and "no component runs the JMX exporter: set jmxexporter_enabled: true" in off.stderr, off.stderr
    bad = _written(tmp_path, "--interval", "soon")
    assert bad.exit_code == 1 and "--interval: 'soon' is not a duration" in bad.stderr, bad.stderr
    assert not (tmp_path / "prometheus").exists()


def test_every_tls_port_is_probed_for_its_certificate_through_the_blackbox_exporter(tmp_path: Path, promtool: str) -> None:
    secured = INVENTORY.replace("  vars:\n", "  vars:\n    ssl_enabled: true\n    zookeeper_ssl_enabled: true\n", 1)
    outcome = _written(tmp_path, text=secured)
    assert outcome.exit_code == 0, outcome.stderr
    folder = tmp_path / "prometheus"
    config = yaml.safe_load((folder / "prometheus.yml").read_text())
    tls = next(job for job in config["scrape_configs"] if job["job_name"] == "tls")
    assert tls["static_configs"][0]["targets"] == [
        "[fd00::5]:9091", "[fd00::5]:9092", "kafka1:9091", "kafka1:9092", "kafka2:9091", "kafka2:9092", "zk1:2182", "zk2:2182", "zk3:2182"]
    assert tls["params"] == {"module": ["kafka_tls"]} and tls["relabel_configs"][-1]["replacement"] == "127.0.0.1:9115"
    module = yaml.safe_load((folder / "blackbox.yml").read_text())["modules"]["kafka_tls"]
    assert module["prober"] == "tcp" and module["tcp"]["tls"] is True
    checked = subprocess.run([promtool, "check", "config", str(folder / "prometheus.yml")], capture_output=True, text=True, timeout=60)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    (tmp_path / "plain").mkdir()
    plain = _written(tmp_path / "plain")
    assert plain.exit_code == 0 and not (tmp_path / "plain" / "prometheus" / "blackbox.yml").exists()
