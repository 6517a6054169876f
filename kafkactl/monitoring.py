"""Prometheus for a cluster: the scrape configuration of every exporter the inventory runs, and kafkactl's alert rules.

A pure function of the validated inventory, like the desired state: `kafkactl monitoring prometheus` writes it for a
Prometheus the operator runs. Targets are the inventory's host names, as Kafka's clients reach the hosts.
"""

from __future__ import annotations

from typing import Any

import yaml

from kafkactl.model import COMPONENTS, Inventory
from kafkactl.resources import resource_dir

ALERT_RULES = "kafkactl-alerts.yml"
NODE_EXPORTER_PORT = 9100  # prometheus-node-exporter's default


def alert_rules() -> str:
    """kafkactl's alert rules (roles/prometheus/alerts.yml), over the metrics its exporter rules serve."""
    return (resource_dir("roles") / "prometheus" / "alerts.yml").read_text(encoding="utf-8")


def _target(name: str, port: int) -> str:
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def scrape_config(inventory: Inventory, node_exporter: bool = True, interval: str = "15s") -> dict[str, Any]:
    """prometheus.yml: one job per component group whose JVMs run the JMX exporter (named after the group, as the
    alert rules expect), and `node` for node exporter on every host."""
    cluster = inventory.cluster
    jobs = []
    for component in COMPONENTS:
        exporter = cluster.jmx_exporter(component)
        members = inventory.members(component)
        if exporter and members:
            jobs.append({"job_name": component.value,
                         "static_configs": [{"targets": [_target(h.name, exporter.port) for h in members]}]})
    if node_exporter:
        jobs.append({"job_name": "node", "static_configs": [{"targets": [_target(h.name, NODE_EXPORTER_PORT) for h in inventory.hosts]}]})
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [ALERT_RULES], "scrape_configs": jobs}


def prometheus_files(inventory: Inventory, node_exporter: bool = True, interval: str = "15s") -> dict[str, str]:
    """File name -> content: prometheus.yml and the alert rules it names, side by side."""
    config = scrape_config(inventory, node_exporter, interval)
    header = f"# Prometheus for the cluster in {inventory.path}: written by `kafkactl monitoring prometheus`.\n"
    return {"prometheus.yml": header + yaml.safe_dump(config, sort_keys=False), ALERT_RULES: alert_rules()}
