"""kafkactl migrate: ZooKeeper to KRaft, and TLS/SASL listeners."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from kafkactl.cli.common import (
    AcceptNewKeysOption, BreakLockOption, ForksOption, GateTimeoutOption, InsecureOption, InventoryArg,
    InventoryFlag, ResumeOption, connected, either, flag, inventory_path, live_inventory, live_phase,
    loaded_inventory, run_command, run_lock, state_dir_of,
)
from kafkactl.desired import desired_state
from kafkactl.errors import KafkactlError
from kafkactl.model import Component
from kafkactl.report import Exit, Report


app = typer.Typer(help="Migrations between cluster modes.", no_args_is_help=True)


@app.command("kraft")
def migrate_kraft(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    status: Annotated[bool, flag("--status", help="Read the live cluster and print its migration state with the evidence.")] = False,
    phase: Annotated[Optional[str], typer.Option("--phase", help="dual-write | kraft-brokers | finalize | rollback | stop-zookeeper", show_default=False)] = None,
    yes: Annotated[bool, flag("--yes", help="Do not ask for confirmation (finalize still needs --confirm-cluster-id).")] = False,
    confirm_cluster_id: Annotated[Optional[str], typer.Option("--confirm-cluster-id", help="finalize: the cluster id, instead of typing it.", show_default=False)] = None,
    gate_timeout: GateTimeoutOption = 300.0,
    resume: ResumeOption = False,
    break_lock: BreakLockOption = False,
    forks: ForksOption = 20,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
    as_json: Annotated[bool, flag("--json", help="With --status: print the state and its evidence as JSON.")] = False,
) -> None:
    """ZooKeeper to KRaft: --status, or one --phase at a time (state 1 -> 2a -> 2b -> 3; rollback from 2a or 2b)."""
    inventory = either(inventory, inventory_flag)
    from kafkactl.migration.runner import PHASE_NAMES, MigrationRun, read_live
    from kafkactl.upgrade import running_versions, versions_line

    def body(report: Report) -> None:
        if as_json and not status:
            raise KafkactlError("migrate kraft: --json goes with --status")
        if status == (phase is not None):
            raise KafkactlError("migrate kraft: give either --status or --phase " + " | ".join(PHASE_NAMES))
        if phase is not None and phase not in PHASE_NAMES:
            raise KafkactlError(f"--phase: {phase!r} is not one of {', '.join(PHASE_NAMES)}")
        path = inventory_path(report.env, inventory)
        inv = loaded_inventory(report, path).inventory
        if inv.natural_phase is not None and not status:
            raise KafkactlError(f"{path}: a migration inventory has both a zookeeper and a kafka_controller group")
        with connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check, forks) as transport:
            inv = live_inventory(report, inv, transport, reading_only=status)
            if status:
                live, _, found = read_live(inv, transport)
                if as_json:
                    report.json({"state": found.state.value if found.state else None, "label": found.label,
                                 "between": [s.value for s in found.between] if found.between else None,
                                 "evidence": found.evidence, "versions": running_versions(live.facts)})
                    return
                report.line(f"Migration: {found.label}")
                for line in found.evidence:
                    report.line(f"  {line}")
                report.line(versions_line(inv, live.facts))
                return
            state_dir = state_dir_of(report.env, path)
            with run_lock(report, state_dir, transport, f"migrate kraft --phase {phase}", True, break_lock, resume):
                run = MigrationRun(inv, path, transport, report, state_dir, gate_timeout)
                run.run(phase, assume_yes=yes, confirm_cluster_id=confirm_cluster_id, resume=resume)

    run_command(ctx, body)


def _counts(connections: dict[str, int] | None) -> str:
    if connections is None:
        return "not read (the broker's JMX did not answer; it answers once an apply has restarted it)"
    return ", ".join(f"{name} {count}" for name, count in connections.items()) or "no listener reported"


@app.command("listeners")
def migrate_listeners(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    status: Annotated[bool, flag("--status", help="Read each broker's live listeners and print the next step to the inventory's.")] = False,
    phase: Annotated[Optional[str], typer.Option("--phase", help="add | authorizer | inter-broker | remove", show_default=False)] = None,
    yes: Annotated[bool, flag("--yes", help="Do not ask for confirmation.")] = False,
    gate_timeout: GateTimeoutOption = 300.0,
    resume: ResumeOption = False,
    break_lock: BreakLockOption = False,
    forks: ForksOption = 20,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
    as_json: Annotated[bool, flag("--json", help="With --status: print each broker's listeners and the next step as JSON.")] = False,
) -> None:
    """TLS/SASL listeners, towards the inventory's in Kafka's staged rolls: --status, or one --phase at a time
    (add, authorizer, inter-broker, remove)."""
    inventory = either(inventory, inventory_flag)
    from kafkactl.listener_stages import PHASES

    def body(report: Report) -> None:
        if status == (phase is not None):
            raise KafkactlError("migrate listeners: give either --status or --phase " + " | ".join(PHASES))
        if as_json and not status:
            raise KafkactlError("migrate listeners: --json goes with --status")
        if phase is not None and phase not in PHASES:
            raise KafkactlError(f"--phase: {phase!r} is not one of {', '.join(PHASES)}")
        if status:
            _listener_status(report, inventory, forks, accept_new_host_keys, insecure_skip_host_key_check, as_json)
        else:
            _listener_phase(report, inventory, phase, yes, gate_timeout, resume, break_lock, forks, accept_new_host_keys,
                            insecure_skip_host_key_check)

    run_command(ctx, body)


def _listener_phase(report: Report, inventory: Path | None, phase: str, yes: bool, gate_timeout: float, resume: bool,
                    break_lock: bool, forks: int, accept_new: bool, insecure: bool) -> None:
    """Plan the phase's inventory against the hosts, confirm, back up, roll (playbooks/migrate-listeners.yml)."""
    from kafkactl import scram_users
    from kafkactl.cli.session import live_plan, preflight, session
    from kafkactl.executor import Executor, RunOptions
    from kafkactl.listener_stages import Running, staged_inventory
    from kafkactl.playbook import load_playbook

    path = inventory_path(report.env, inventory)
    if loaded_inventory(report, path).inventory.natural_phase is None:
        raise KafkactlError(f"{path}: listeners move in ZooKeeper or KRaft mode, not during a KRaft migration")

    def stage(inv, desired, facts):
        return staged_inventory(inv, Running.read(desired, facts), phase)

    with session(report, path, f"migrate listeners --phase {phase}", None, resume, forks, accept_new, insecure,
                 lock=True, break_lock=break_lock, stage=stage) as run:
        facts, result = live_plan(report, run.transport, run.desired, run.inventory)
        report.line(f"Listeners, phase {phase}:", style="bold")
        report.plan(result, show_diff=True)
        if not result.changed:
            return
        if stopped := [f"{s.name} on {h.host}" for h in result.hosts for s in h.services if s.action in ("start", "install and start")]:
            raise KafkactlError(f"migrate listeners: {', '.join(stopped)} not running; a phase only changes running nodes: "
                                "start them with kafkactl apply first. No host was changed.")
        preflight(run.inventory, run.desired, facts, result)
        if not yes and not report.confirmed(f"Run --phase {phase} as planned above? Type yes to go on: "):
            raise KafkactlError("not confirmed. No host was changed.")
        report.exit_code = Exit.OK
        options = RunOptions(forks=forks, gate_timeout=gate_timeout, backup_root=run.state_dir / "backups")
        executor = Executor(run.inventory, run.desired, result, facts, run.transport, report, options,
                            journal=run.journal(), scram_record=scram_users.Record(run.state_dir))
        report.summary(executor.run(load_playbook("migrate-listeners")), done=f"Phase {phase}")
        report.line(f"Next: kafkactl migrate listeners {path} --status")


def _listener_status(report: Report, inventory: Path | None, forks: int, accept_new: bool, insecure: bool,
                     as_json: bool) -> None:
    from kafkactl.facts import as_running, gather_all, running_members
    from kafkactl.health import listener_connections
    from kafkactl.listener_changes import (
        broker_listeners, controller_listener_step, next_step, phase_of, zookeeper_plain_ports_closing,
    )
    from kafkactl.roles import service_name

    path = inventory_path(report.env, inventory)
    inv = loaded_inventory(report, path).inventory
    with connected(report, inv, accept_new, insecure, forks) as transport:
        inv = live_inventory(report, inv, transport, reading_only=True)
        desired = desired_state(inv, live_phase(report, inv, transport))
        facts = gather_all(transport, desired, inv.cluster)
        running = running_members(inv, facts, Component.KAFKA_BROKER)
        service = service_name(Component.KAFKA_BROKER, inv.cluster)
        counted = transport.read_each(running, lambda host: listener_connections(
            transport.connection(host.name), as_running(inv.cluster, facts[host.name], Component.KAFKA_BROKER), service))
        brokers = broker_listeners(desired, facts, {host.name: seen.value for host, seen in counted})
    step = next_step(brokers, sorted(zookeeper_plain_ports_closing(desired, facts)), controller_listener_step(desired, facts))
    if as_json:
        report.json({"next_step": step, "next_phase": phase_of(step), "brokers": [{**asdict(b), "step": b.step} for b in brokers]})
        return
    report.line(f"Listeners: next step: {step}")
    if phase := phase_of(step):
        report.line(f"  run: kafkactl migrate listeners {path} --phase {phase}")
    for broker in brokers:
        def shown(listeners: dict[str, str], inter: str) -> str:
            return ", ".join(f"{n}:{p}" for n, p in listeners.items()) + f" (inter-broker {inter})"
        report.line(f"  {broker.host}: runs {shown(broker.live, broker.live_inter_broker) if broker.live else 'nothing'}; "
                    f"inventory {shown(broker.wanted, broker.wanted_inter_broker)}: {broker.step}")
        if broker.live:
            report.line(f"    open connections: {_counts(broker.connections)}")
