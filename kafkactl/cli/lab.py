"""kafkactl lab: a local lab of real hosts."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from kafkactl.cli.common import flag, run_command
from kafkactl.errors import KafkactlError
from kafkactl.report import Report

if TYPE_CHECKING:  # the lab package is imported only by the commands that use it
    from kafkactl.lab import Lab


app = typer.Typer(help="A local lab of real hosts: podman containers with systemd and sshd, reached over SSH.",
                      no_args_is_help=True)


LabDirOption = Annotated[Path, typer.Option("--state-dir", help="Where the lab keeps its keys, known_hosts and inventories.")]


@app.command("up")
def lab_up(
    ctx: typer.Context,
    layout: Annotated[str, typer.Option("--layout", help="zookeeper (3 ZooKeeper + 3 brokers) or kraft (3 controllers + 3 brokers).")] = "zookeeper",
    controllers: Annotated[bool, flag("--controllers", help="Add 3 KRaft controller hosts to a zookeeper layout (for the migration).")] = False,
    connect: Annotated[bool, flag("--connect", help="Add a Kafka Connect host.")] = False,
    jump_only: Annotated[Optional[list[str]], typer.Option("--jump-only", help="A host this machine reaches only through another lab host (ProxyJump).")] = None,
    light: Annotated[Optional[int], typer.Option("--light", metavar="N", show_default=False,
                                                 help="N light hosts instead (3 controllers, N-3 brokers): kafkactl's files "
                                                      "and units in place and no JVM, for measuring fan-out.")] = None,
    state_dir: LabDirOption = Path(".lab"),
) -> None:
    """Create (or confirm) the lab hosts and write inventories for them (state-dir/inventory.yml)."""
    from kafkactl import lab
    from kafkactl.lab.inventory import LAYOUTS, lab_inventory, layout_hosts, write_inventory

    def body(report: Report) -> None:
        if layout not in LAYOUTS:
            raise KafkactlError(f"--layout: {layout!r} is not one of {', '.join(LAYOUTS)}")
        if light is not None:
            if connect or controllers or jump_only:
                raise KafkactlError("--light: light hosts come alone, without --connect, --controllers or --jump-only")
            return light_lab(report, light, state_dir)
        groups = layout_hosts(layout, connect=connect, controllers=controllers)
        names = [name for hosts in groups.values() for name in hosts]
        report.line(f"Bringing up {len(names)} lab hosts: {', '.join(names)} (first time: a few minutes)")
        try:
            made = lab.up(names, state_dir, jump_only=set(jump_only or ()))
        except lab.LabError as exc:
            raise KafkactlError(f"lab: {exc}") from None
        common = inventory_inputs(made)
        natural = {g: h for g, h in groups.items() if g != "kafka_controller"} if layout == "zookeeper" else groups
        target = write_inventory(made.state_dir / "inventory.yml", lab_inventory(natural, **common), f"Lab cluster ({layout} mode)")
        report.line(f"Inventory: {target}")
        if "kafka_controller" in groups and layout == "zookeeper":
            migration = write_inventory(made.state_dir / "migration.yml", lab_inventory(groups, **common),
                                        "Lab cluster plus its KRaft controllers: the migration inventory")
            report.line(f"Migration inventory: {migration}")
        for name, address in made.addresses.items():
            report.line(f"  {name:<12} {address}")
        report.line(f"Next: kafkactl apply {target}")

    run_command(ctx, body)


def inventory_inputs(made: Lab) -> dict:
    """What the lab's inventories take from the hosts just brought up."""
    return dict(addresses=made.addresses, ssh_key=made.ssh_key, known_hosts=made.known_hosts,
                archive=made.kafka_archive, sha256=made.kafka_sha256, version=made.kafka_version,
                jump_hosts=made.jump_hosts, exporter_jar=made.exporter_jar, exporter_sha256=made.exporter_sha256)


def light_lab(report: Report, count: int, state_dir: Path) -> None:
    from kafkactl import lab
    from kafkactl.lab.inventory import write_inventory
    from kafkactl.lab.light import light_hosts, light_inventory, seed

    try:
        groups = light_hosts(count)
        report.line(f"Bringing up {count} light lab hosts: light1 to light{count} (no JVM)")
        made = lab.up([name for hosts in groups.values() for name in hosts], state_dir)
        target = write_inventory(made.state_dir / "inventory.yml", light_inventory(groups, **inventory_inputs(made)),
                                 f"{count} light lab hosts (files and units, no JVM)")
        seed(made.containers, target)
    except lab.LabError as exc:
        raise KafkactlError(f"lab: {exc}") from None
    report.line(f"Inventory: {target}")
    report.line(f"Every host holds what an apply of it leaves, so `kafkactl apply {target}` has nothing to do")


@app.command("down")
def lab_down(ctx: typer.Context, state_dir: LabDirOption = Path(".lab")) -> None:
    """Remove the lab's containers (the image and caches are kept for next time)."""
    from kafkactl import lab

    def body(report: Report) -> None:
        lab.down(state_dir)
        report.line(f"Lab in {state_dir} removed")

    run_command(ctx, body)


@app.command("status")
def lab_status(ctx: typer.Context, state_dir: LabDirOption = Path(".lab")) -> None:
    """Show each lab host: container, address, systemd and sshd."""
    from kafkactl import lab

    def body(report: Report) -> None:
        hosts = lab.status(state_dir)
        if not hosts:
            report.line(f"No lab hosts in {state_dir}")
        for host in hosts:
            report.line(f"{host.name:<12} {host.address:<15} container {host.state:<8} systemd {host.systemd or '-':<9} "
                        f"sshd {'up' if host.sshd else 'down'}")

    run_command(ctx, body)
