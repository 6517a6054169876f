"""The commands on a whole cluster: validate, render, plan, apply, restart, status, runs, vars."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kafkactl.cli.common import (
    AcceptNewKeysOption, BreakLockOption, DiffOption, ForksOption, GateTimeoutOption, InsecureOption, InventoryArg,
    InventoryFlag, JsonOption, LimitOption, PhaseOption, ResumeOption, StateJsonOption, app, connected, either,
    flag, inventory_path, live_inventory, live_phase, loaded_inventory, open_transport, run_command, state_dir_of,
)
from kafkactl.cli.session import live_plan, preflight, session
from kafkactl.desired import desired_state
from kafkactl.errors import KafkactlError
from kafkactl.inventory.validate import HOST_KEYS, cp_ansible_variables
from kafkactl.model import MIGRATION_PHASES, ClusterVars, Component, Phase
from kafkactl.plan import make_plan
from kafkactl.render import write_rendered
from kafkactl.report import Exit, Report


@app.command()
def validate(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None) -> None:
    """Check the inventory and print a summary of the cluster it describes."""
    inventory = either(inventory, inventory_flag)

    def body(report: Report) -> None:
        loaded = loaded_inventory(report, inventory_path(report.env, inventory), key_stores="checked")
        inv = loaded.inventory
        phase = inv.natural_phase
        for each in [phase] if phase else MIGRATION_PHASES:  # what plan and apply would render must render
            desired_state(inv, each)
        mode = phase.value if phase else "migration (zookeeper and kafka_controller groups)"
        external = inv.cluster.external_kafka
        where = f"against the external Kafka cluster {','.join(external.servers)}" if external else f"{mode} mode"
        report.line(f"{inv.path}: valid, Kafka {inv.cluster.kafka_version}, {where}")
        for host in sorted(inv.hosts, key=lambda h: h.name):
            ids = [f"{k}={getattr(host, k)}" for k in ("zookeeper_id", "broker_id", "node_id") if getattr(host, k) is not None]
            report.line(f"  {host.name}: {', '.join(host.components)} {' '.join(ids)}")

    run_command(ctx, body)


@app.command()
def render(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    out: Annotated[Path, typer.Option("--out", help="Directory to write DIR/<host>/<absolute path> files into.")] = Path("rendered"),
    phase: PhaseOption = None,
) -> None:
    """Write every file apply would put on every host, without touching any host."""
    inventory = either(inventory, inventory_flag)

    def body(report: Report) -> None:
        loaded = loaded_inventory(report, inventory_path(report.env, inventory))
        desired = desired_state(loaded.inventory, phase)
        count = write_rendered(desired, out)
        report.line(f"Rendered {count} files for {len(desired.hosts)} hosts ({desired.phase.value}) into {out}")

    run_command(ctx, body)


@app.command()
def plan(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    offline: Annotated[bool, flag("--offline", help="Plan against empty hosts, without connecting.")] = False,
    phase: PhaseOption = None,
    as_json: JsonOption = False,
    diff: DiffOption = False,
    forks: ForksOption = 20,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Show what apply would do: per host, file diffs, services, and the order. Exit 2 when changes are pending."""
    inventory = either(inventory, inventory_flag)

    def body(report: Report) -> None:
        loaded = loaded_inventory(report, inventory_path(report.env, inventory))
        if offline:
            result = make_plan(desired_state(loaded.inventory, phase))
        else:
            transport = open_transport(report, loaded.inventory, forks, accept_new_host_keys, insecure_skip_host_key_check)
            try:
                live = live_inventory(report, loaded.inventory, transport)
                desired = desired_state(live, phase or live_phase(report, live, transport))
                _, result = live_plan(report, transport, desired, live)
            finally:
                transport.close()
        if as_json:
            report.plan_json(result)
        else:
            report.plan(result, show_diff=diff)

    run_command(ctx, body)


@app.command()
def apply(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    check: Annotated[bool, flag("--check", help="Only show the plan; change nothing.")] = False,
    limit: LimitOption = None,
    diff: DiffOption = False,
    forks: ForksOption = 20,
    gate_timeout: GateTimeoutOption = 300.0,
    resume: ResumeOption = False,
    break_lock: BreakLockOption = False,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Bring every host to the inventory's state: plan first, then prepare, start and roll, health-gated."""
    inventory = either(inventory, inventory_flag)

    from kafkactl import scram_users
    from kafkactl.executor import Executor, RunOptions, kraft_cluster_id
    from kafkactl.playbook import load_playbook

    def body(report: Report) -> None:
        with session(report, inventory, "apply", limit, resume, forks, accept_new_host_keys, insecure_skip_host_key_check,
                      lock=not check, break_lock=break_lock) as run:
            facts, result = live_plan(report, run.transport, run.desired, run.inventory)
            report.plan(result, show_diff=diff)
            if check or not result.changed:
                return
            report.exit_code = Exit.OK
            preflight(run.inventory, run.desired, facts, result)
            kraft = run.desired.phase == Phase.KRAFT
            cluster_id = kraft_cluster_id(run.inventory, run.desired, facts, run.state_dir) if kraft else None
            options = RunOptions(forks=forks, gate_timeout=gate_timeout, limit=run.limit)
            executor = Executor(run.inventory, run.desired, result, facts, run.transport, report, options, cluster_id, run.journal(),
                                scram_record=scram_users.Record(run.state_dir))
            report.summary(executor.run(load_playbook("site")))

    run_command(ctx, body)


@app.command()
def restart(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    component: Annotated[
        Optional[list[str]],
        typer.Option("--component", help="zookeeper, controller, broker, connect or schema-registry (repeatable; default all)."),
    ] = None,
    limit: LimitOption = None,
    check: Annotated[bool, flag("--check", help="Only show the restart plan.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Brokers restarted at once; each batch must keep every partition at min.insync.replicas.")] = 1,
    gate_timeout: GateTimeoutOption = 300.0,
    resume: ResumeOption = False,
    break_lock: BreakLockOption = False,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Rolling restart, one host at a time, health-gated; the plan (hosts, order, gates) is shown first."""
    inventory = either(inventory, inventory_flag)
    from kafkactl.executor import Executor, RunOptions
    from kafkactl.playbook import load_playbook

    def body(report: Report) -> None:
        components = _components(component)
        with session(report, inventory, "restart", limit, resume, 20, accept_new_host_keys, insecure_skip_host_key_check,
                      lock=not check, break_lock=break_lock) as run:
            facts, result = live_plan(report, run.transport, run.desired, run.inventory, cluster_changes=False)
            chosen = [s for s in run.desired.hosts if (run.limit is None or s.host.name in run.limit)]
            missing = [f"{svc.name} on {s.host.name}" for s in chosen for svc in s.services
                       if svc.component in components and svc.name not in facts[s.host.name].active_services]
            if missing:
                raise KafkactlError(f"restart: not running: {', '.join(missing)}; run kafkactl apply first. No host was changed.")
            report.restart_plan(chosen, components, run.previous)
            if check:
                return
            options = RunOptions(gate_timeout=gate_timeout, limit=run.limit, batch_size=batch_size)
            executor = Executor(run.inventory, run.desired, result, facts, run.transport, report, options, journal=run.journal())
            report.summary(executor.run(load_playbook("restart"), components), done="Restarted")

    run_command(ctx, body)


COMPONENT_NAMES = {
    "zookeeper": Component.ZOOKEEPER, "controller": Component.KAFKA_CONTROLLER, "broker": Component.KAFKA_BROKER,
    "connect": Component.KAFKA_CONNECT, "schema-registry": Component.SCHEMA_REGISTRY,
}


@app.command()
def status(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    as_json: Annotated[bool, flag("--json", help="Print the status as JSON.")] = False,
    watch: Annotated[Optional[float], typer.Option("--watch", metavar="SECONDS", show_default=False,
                                                   help="Read it again every SECONDS until interrupted.")] = None,
    forks: ForksOption = 20,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """The cluster as it runs: each service's state, version and role, partitions not in sync, the metadata quorum,
    the migration state, key store expiry. Exit code 3 when anything there needs attention."""
    inventory = either(inventory, inventory_flag)
    from kafkactl.status import lines, read_status

    def body(report: Report) -> None:
        path = inventory_path(report.env, inventory)
        inv = loaded_inventory(report, path).inventory
        with connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check, forks) as transport:
            inv = live_inventory(report, inv, transport, reading_only=True)
            while True:
                found = read_status(inv, transport, report.env.now())
                if as_json:
                    report.json(found.as_json())
                else:
                    if watch and report.env.color:
                        report.env.stdout.write("\x1b[2J\x1b[H")  # a fresh screen for each reading
                    for line in lines(found):
                        report.line(line)
                report.exit_code = Exit.OK if found.healthy else Exit.UNHEALTHY
                if not watch:
                    return
                try:
                    report.env.sleep(watch)
                except KeyboardInterrupt:  # the way out of --watch
                    return

    run_command(ctx, body)


def _components(names: list[str] | None) -> set[Component]:
    if not names:
        return set(Component)
    chosen = set()
    for name in names:
        if name not in COMPONENT_NAMES and name not in {c.value for c in Component}:
            raise KafkactlError(f"--component: {name!r} is not one of {', '.join(COMPONENT_NAMES)}")
        chosen.add(COMPONENT_NAMES.get(name) or Component(name))
    return chosen


@app.command()
def runs(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None,
         as_json: StateJsonOption = False) -> None:
    """List recent runs (apply, restart, each migrate kraft --phase) of this inventory and how they ended."""
    inventory = either(inventory, inventory_flag)
    from kafkactl.journal import read_runs

    def body(report: Report) -> None:
        path = inventory_path(report.env, inventory)
        journals, damaged = read_runs(state_dir_of(report.env, path))
        for problem in damaged.values():
            report.warning(problem)
        found = [j for j in journals if j.inventory == str(path.resolve())]
        if as_json:
            report.json([_run_summary(journal) for journal in found[:20]])
            return
        if not found:
            report.line(f"No runs recorded for {path}")
        for run in map(_run_summary, found[:20]):
            stopped = run["stopped_at"]
            where = f": stopped at {stopped['step']} on {stopped['host']}: {stopped['detail']}" if stopped else ""
            resumed = f" (resumes {run['resumes']})" if run["resumes"] else ""
            report.line(f"{run['run_id']}  {run['command']:<8} {run['status']:<7} {run['steps']} steps{resumed}{where}")

    run_command(ctx, body)


def _run_summary(journal) -> dict:
    failed = next((e for e in journal.entries if e.status == "failed"), None)
    return {"run_id": journal.run_id, "command": journal.command, "status": journal.status, "started": journal.started,
            "ended": journal.ended, "steps": len(journal.entries), "resumes": journal.resumes,
            "stopped_at": {"step": failed.step, "host": failed.host, "detail": failed.detail} if failed else None}


@app.command(name="vars")
def list_vars(ctx: typer.Context) -> None:
    """List the cluster-level inventory variables kafkactl understands, with defaults (Markdown)."""

    def body(report: Report) -> None:
        report.env.stdout.write(variables_markdown())

    run_command(ctx, body)


def variables_markdown() -> str:
    lines = [
        "# Inventory variables",
        "",
        "Generated by `kafkactl vars`. Cluster-level variables go under `all.vars` or any group's vars;",
        "a variable set in several places must have the same value everywhere.",
        "",
        "The cp-ansible column marks the variables cp-ansible also defines: kafkactl reads them with the",
        "same meaning. Any other cp-ansible variable is reported as not supported, with the reason; unknown ones get a hint.",
        "",
        "| variable | cp-ansible | default | meaning |",
        "|---|---|---|---|",
    ]
    cp_ansible = cp_ansible_variables()
    for name, field in ClusterVars.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default
        shown = "" if default is None else f"`{_plain(default)}`"
        lines.append(f"| `{name}` | {'yes' if name in cp_ansible else ''} | {shown} | {field.description or ''} |")
    lines += ["", "Host variables (may differ per host):", ""]
    lines += [f"- `{name}`{' (cp-ansible)' if name in cp_ansible else ''}" for name in sorted(HOST_KEYS)]
    return "\n".join(lines) + "\n"


def _plain(value: object) -> str:
    if hasattr(value, "model_dump"):
        return str(value.model_dump(exclude_none=True))
    if isinstance(value, dict):
        return str({k: _plain(v) for k, v in value.items()})
    return str(value)
