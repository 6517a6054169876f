"""kafkactl monitoring: Prometheus's scrape configuration and alert rules for the inventory's exporters."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from kafkactl.cli.common import InventoryArg, InventoryFlag, either, inventory_path, loaded_inventory, run_command
from kafkactl.errors import KafkactlError
from kafkactl.report import Report


app = typer.Typer(help="Prometheus for the cluster: scrape configuration and alert rules.", no_args_is_help=True)


@app.command("prometheus")
def monitoring_prometheus(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    out: Annotated[Path, typer.Option("--out", help="Folder to write prometheus.yml, kafkactl-alerts.yml and blackbox.yml in.")] = Path("prometheus"),
    node_exporter: Annotated[bool, typer.Option("--node-exporter/--no-node-exporter",
                                                help="Scrape node exporter (port 9100) on every host too.")] = True,
    interval: Annotated[str, typer.Option("--interval", help="Scrape and rule evaluation interval.")] = "15s",
) -> None:
    """Write prometheus.yml (a job per component group whose JVMs run the JMX exporter, node exporter on every host, and
    the certificate of every TLS port through a blackbox exporter beside Prometheus) and kafkactl's alert rules beside
    it, for a Prometheus you run: `prometheus --config.file=OUT/prometheus.yml`; blackbox.yml is the exporter's."""
    inventory = either(inventory, inventory_flag)
    from kafkactl.monitoring import prometheus_files, scrape_config

    def body(report: Report) -> None:
        loaded = loaded_inventory(report, inventory_path(report.env, inventory), key_stores="ignored").inventory
        if not any(job["job_name"] not in ("node", "tls") for job in scrape_config(loaded)["scrape_configs"]):
            raise KafkactlError(f"{loaded.path}: no component runs the JMX exporter: set jmxexporter_enabled: true")
        if not interval[:-1].isdigit() or interval[-1] not in "smh":
            raise KafkactlError(f"--interval: {interval!r} is not a duration such as 15s or 1m")
        out.mkdir(parents=True, exist_ok=True)
        for name, content in prometheus_files(loaded, node_exporter, interval).items():
            path = out / name
            staged = path.with_name(f".{name}.tmp")
            staged.write_text(content, encoding="utf-8")
            os.replace(staged, path)
            report.line(f"wrote {path}")

    run_command(ctx, body)
