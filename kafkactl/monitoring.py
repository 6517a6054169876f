"""Prometheus for a cluster: the scrape configuration of every exporter the inventory runs, and kafkactl's alert rules.

A pure function of the validated inventory, like the desired state: `kafkactl apply` ships it to the hosts of the
prometheus group (Debian's Prometheus, roles/prometheus/), and `kafkactl monitoring prometheus` writes it for a
Prometheus the operator runs. Targets are the inventory's host names, as Kafka's clients reach the hosts. Certificate
expiry is read by the blackbox exporter next to Prometheus, which opens a TLS connection to every TLS port of the
cluster (`tls` job); it reads the certificate each presents and does not verify it, since that is all it is there for.
"""

from __future__ import annotations

from typing import Any

import yaml

from kafkactl.model import COMPONENTS, Component, Inventory
from kafkactl.resources import resource_dir

ALERT_RULES = "kafkactl-alerts.yml"
BLACKBOX_CONFIG = "blackbox.yml"
NODE_EXPORTER_PORT = 9100  # prometheus-node-exporter's default
BLACKBOX_EXPORTER = "127.0.0.1:9115"  # prometheus-blackbox-exporter's default, on the Prometheus host
TLS_MODULE = "kafka_tls"


def alert_rules() -> str:
    """kafkactl's alert rules (roles/prometheus/alerts.yml), over the metrics its exporter rules serve."""
    return (resource_dir("roles") / "prometheus" / "alerts.yml").read_text(encoding="utf-8")


def _target(name: str, port: int) -> str:
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


def tls_endpoints(inventory: Inventory) -> list[str]:
    """Every TLS port of the cluster, as host:port: the brokers' TLS listeners, the controllers' when it has TLS, and
    ZooKeeper's secure client port when Kafka reaches ZooKeeper over TLS."""
    cluster = inventory.cluster
    ports = {Component.KAFKA_BROKER: sorted({l.port for l in cluster.resolved_listeners.values() if l.ssl}),
             Component.KAFKA_CONTROLLER: sorted({l.port for l in cluster.controller_listeners if l.ssl}),
             Component.ZOOKEEPER: [cluster.zookeeper_secure_client_port] if cluster.zookeeper_ssl_enabled else []}
    return [_target(host.name, port) for component, each in ports.items() for host in inventory.members(component) for port in each]


def blackbox_config() -> dict[str, Any]:
    """blackbox.yml: the module the `tls` job probes with (a TLS handshake that reads the certificate, not verifying it)."""
    return {"modules": {TLS_MODULE: {"prober": "tcp", "timeout": "5s",
                                     "tcp": {"tls": True, "tls_config": {"insecure_skip_verify": True}}}}}


def scrape_config(inventory: Inventory, node_exporter: bool = True, interval: str = "15s") -> dict[str, Any]:
    """prometheus.yml: one job per component group whose JVMs run the JMX exporter (named after the group, as the
    alert rules expect), `node` for node exporter on every host, and `tls` for the certificates of the TLS ports."""
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
    if endpoints := tls_endpoints(inventory):
        jobs.append({"job_name": "tls", "metrics_path": "/probe", "params": {"module": [TLS_MODULE]},
                     "static_configs": [{"targets": endpoints}],
                     "relabel_configs": [{"source_labels": ["__address__"], "target_label": "__param_target"},
                                         {"source_labels": ["__param_target"], "target_label": "instance"},
                                         {"target_label": "__address__", "replacement": BLACKBOX_EXPORTER}]})
    return {"global": {"scrape_interval": interval, "evaluation_interval": interval},
            "rule_files": [ALERT_RULES], "scrape_configs": jobs}


def prometheus_files(inventory: Inventory, node_exporter: bool = True, interval: str = "15s",
                     written_by: str = "`kafkactl monitoring prometheus`") -> dict[str, str]:
    """File name -> content: prometheus.yml and the alert rules it names, side by side, and the blackbox exporter's
    module when the cluster has TLS ports."""
    config = scrape_config(inventory, node_exporter, interval)
    header = f"# Prometheus for the cluster: written by {written_by}.\n"
    files = {"prometheus.yml": header + yaml.safe_dump(config, sort_keys=False), ALERT_RULES: alert_rules()}
    if tls_endpoints(inventory):
        files[BLACKBOX_CONFIG] = (f"# The blackbox exporter's module for the `tls` job of prometheus.yml ({BLACKBOX_EXPORTER}): "
                                  f"`prometheus-blackbox-exporter --config.file={BLACKBOX_CONFIG}`.\n"
                                  + yaml.safe_dump(blackbox_config(), sort_keys=False))
    return files
