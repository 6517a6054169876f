"""The kafkactl command line: thin commands over the stages inventory -> desired -> plan -> report."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer
from typer.core import TyperGroup

from kafkactl import __version__
from kafkactl.desired import DesiredState, desired_state
from kafkactl.inventory.loader import load_inventory
from kafkactl.plan import HostFacts, Plan
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.inventory import Loaded, read_inventory
from kafkactl.inventory.validate import HOST_KEYS, cp_ansible_variables
from kafkactl.masking import Masker
from kafkactl.model import MIGRATION_PHASES, ClusterVars, Component, Inventory, Phase
from kafkactl.plan import make_plan
from kafkactl.render import write_rendered
from kafkactl.report import Exit, Report

if TYPE_CHECKING:
    from kafkactl.journal import Journal
    from kafkactl.transport import Transport

class _Commands(TyperGroup):
    """Usage errors exit 1 like every other error: exit 2 means "changes pending"."""

    def main(self, *args, standalone_mode: bool = True, **kwargs):  # type: ignore[override]
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except typer.Abort:
            typer.echo("error: aborted", err=True)
            code = int(Exit.ERROR)
        except Exception as exc:  # click's usage errors, whichever click typer ships with
            if not hasattr(exc, "format_message"):
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()
                code = int(Exit.OK)
            else:
                typer.echo(f"error: {exc.format_message().replace('Value error, ', '')}", err=True)
                code = int(Exit.ERROR)
        if not standalone_mode:
            return code
        raise SystemExit(code if isinstance(code, int) else 0)


app = typer.Typer(
    cls=_Commands,
    help="Plan-first configuration and operations for Apache Kafka and ZooKeeper clusters over SSH.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: it wraps long option names where rich's table cuts them off in a narrow terminal.
    rich_markup_mode=None,
)


def _flag(*names: str, **settings: Any) -> Any:
    """An on/off option shown as a flag in --help (typer labels a bool option <bool>, as if it took a value)."""
    return typer.Option(*names, metavar="", **settings)


InventoryArg = Annotated[
    Optional[Path],
    typer.Argument(
        help="Inventory file (default: $KAFKACTL_INVENTORY, then ./inventory.yml).", show_default=False
    ),
]
InventoryFlag = Annotated[
    Optional[Path],
    typer.Option("-i", "--inventory", help="The inventory file, as ansible-playbook takes it (instead of the argument).",
                 show_default=False),
]
PhaseOption = Annotated[
    Optional[Phase],
    typer.Option("--phase", metavar="PHASE", show_default=False,
                 help="Render for a migration phase instead of the inventory's natural mode: "
                      + ", ".join(phase.value for phase in Phase) + "."),
]


def _environment(ctx: typer.Context) -> Environment:
    return ctx.obj if isinstance(ctx.obj, Environment) else Environment()


def _either(argument: Path | None, flag: Path | None) -> Path | None:
    """The inventory given as the argument or with -i: one of them, or both naming the same file."""
    if argument is not None and flag is not None and argument != flag:
        raise typer.BadParameter(f"two inventories: {argument} and -i {flag}; give one")
    return flag or argument


def _inventory_path(env: Environment, given: Path | None) -> Path:
    if given is not None:
        return given
    return Path(env.variables.get("KAFKACTL_INVENTORY") or "inventory.yml")


KeyStores = Literal["attached", "checked", "ignored"]


def _load(report: Report, path: Path, *, key_stores: KeyStores = "attached") -> Loaded:
    """The inventory, its warnings reported. With TLS its key stores must be usable ("checked"), and those of kafkactl's
    own CA are read from the state directory ("attached"); `certs create`, which makes them, ignores them."""
    if not path.exists():
        raise KafkactlError(f"{path}: no such file (the inventory: give it as the first argument, or set $KAFKACTL_INVENTORY)")
    loaded = read_inventory(path)
    report.mask = Masker(loaded.inventory.secret_values)
    for warning in loaded.warnings:
        report.warning(str(warning))
    if key_stores == "ignored":
        return loaded
    if loaded.inventory.key_stores_by_kafkactl:
        if key_stores == "attached":
            from kafkactl import pki

            loaded = replace(loaded, inventory=pki.attach(_state_dir(report.env, path) / "pki", loaded.inventory))
            report.mask = Masker(loaded.inventory.secret_values)
    elif problem := loaded.inventory.cluster.missing_key_store_password():
        raise KafkactlError(f"{path}: {problem}")
    return loaded


def _run(ctx: typer.Context, body) -> None:
    """Run a command body; a KafkactlError becomes one line per problem and exit code 1."""
    report = Report(_environment(ctx))
    try:
        body(report)
    except KafkactlError as exc:
        for warning in getattr(exc, "warnings", ()):
            report.warning(warning)
        for line in exc.lines:
            report.error(line)
    raise typer.Exit(int(report.exit_code))


@app.command()
def validate(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None) -> None:
    """Check the inventory and print a summary of the cluster it describes."""
    inventory = _either(inventory, inventory_flag)

    def body(report: Report) -> None:
        loaded = _load(report, _inventory_path(report.env, inventory), key_stores="checked")
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

    _run(ctx, body)


@app.command()
def render(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    out: Annotated[Path, typer.Option("--out", help="Directory to write DIR/<host>/<absolute path> files into.")] = Path("rendered"),
    phase: PhaseOption = None,
) -> None:
    """Write every file apply would put on every host, without touching any host."""
    inventory = _either(inventory, inventory_flag)

    def body(report: Report) -> None:
        loaded = _load(report, _inventory_path(report.env, inventory))
        desired = desired_state(loaded.inventory, phase)
        count = write_rendered(desired, out)
        report.line(f"Rendered {count} files for {len(desired.hosts)} hosts ({desired.phase.value}) into {out}")

    _run(ctx, body)


GateTimeoutOption = Annotated[float, typer.Option("--gate-timeout", help="Seconds a health gate may take before the run stops.")]
ResumeOption = Annotated[bool, _flag("--resume", help="Continue the last run of this command on this inventory, which stopped.")]
ForksOption = Annotated[int, typer.Option("--forks", min=1, help="Hosts worked on in parallel (facts, preparation).")]
LimitOption = Annotated[
    Optional[str], typer.Option("--limit", help="Comma-separated hosts or groups to change (facts come from all).", show_default=False)
]
AcceptNewKeysOption = Annotated[
    bool, _flag("--accept-new-host-keys", help="Record unknown SSH host keys in known_hosts (changed keys are still refused).")
]
InsecureOption = Annotated[
    bool, _flag("--insecure-skip-host-key-check", help="Do not check SSH host keys at all (not recommended).")
]
DiffOption = Annotated[bool, _flag("--diff", help="Show the full diff of every changed file.")]
BreakLockOption = Annotated[
    bool, _flag("--break-lock", help="Remove a run lock left on the hosts by a run that is gone, then run.")
]
JsonOption = Annotated[bool, _flag("--json", help="Print the plan as JSON.")]
StateJsonOption = Annotated[bool, _flag("--json", help="Print it as JSON (secrets masked), for scripts.")]


def _limit(inventory: Inventory, spec: str | None, raw_groups: dict[str, set[str]]) -> frozenset[str] | None:
    if not spec:
        return None
    names: set[str] = set()
    hosts = {h.name for h in inventory.hosts}
    for item in (part.strip() for part in spec.split(",") if part.strip()):
        if item in hosts:
            names.add(item)
        elif item in raw_groups:
            names |= raw_groups[item] & hosts
        else:
            raise KafkactlError(f"--limit: {item!r} is neither a host nor a group of {inventory.path}")
    return frozenset(names)


def _transport(report: Report, inventory: Inventory, forks: int, accept_new: bool, insecure: bool) -> Transport:
    from kafkactl.transport import SshOptions, Transport  # SSH libraries load only for commands that connect

    if insecure:
        report.warning("SSH host keys are not checked (--insecure-skip-host-key-check)")
    for host in inventory.hosts:
        if host.ssh_host_key_checking == "no" and not insecure:
            report.warning(f"host {host.name}: SSH host keys are not checked (StrictHostKeyChecking=no in the inventory)")
    options = SshOptions(accept_new_host_keys=accept_new, check_host_keys=not insecure).with_environment(report.env.variables)
    return Transport(inventory.hosts, options, forks=forks)


def _live_plan(report: Report, transport: Transport, desired: DesiredState, inventory: Inventory,
               cluster_changes: bool = True) -> tuple[dict[str, HostFacts], Plan]:
    """Facts, refusals and the plan; `cluster_changes`: also read what metadata.version and the SCRAM users need
    (one of Kafka's tools each), which a plain restart does not."""
    from kafkactl.facts import gather_all
    from kafkactl.identity import layout_refusals
    from kafkactl.listener_changes import unsafe_listener_changes

    from kafkactl import metadata_version, scram_users
    from kafkactl.migration.runner import mode_mismatch
    from kafkactl.upgrade import upgrade_refusals

    facts = gather_all(transport, desired, inventory.cluster)
    for notice in transport.notices:
        report.warning(notice)
    if inventory.natural_phase is not None and (problem := mode_mismatch(inventory, facts, desired)):
        raise KafkactlError(problem)
    refusals = layout_refusals(inventory, desired, facts) + unsafe_listener_changes(desired, facts)
    refusals += upgrade_refusals(inventory, desired, facts) + scram_users.refusals(inventory.cluster)
    if refusals:
        raise KafkactlError(*refusals, "No host was changed.")
    if not cluster_changes:
        return facts, make_plan(desired, facts)
    feature = metadata_version.planned_change(transport, inventory, desired.phase, facts)
    if refusals := metadata_version.refusals(feature, inventory, facts):
        raise KafkactlError(*refusals, "No host was changed.")
    users = scram_users.planned_changes(transport, inventory, facts, scram_users.Record(_state_dir(report.env, Path(inventory.path))))
    return facts, make_plan(desired, facts, (feature,) if feature else (), users)


@app.command()
def plan(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    offline: Annotated[bool, _flag("--offline", help="Plan against empty hosts, without connecting.")] = False,
    phase: PhaseOption = None,
    as_json: JsonOption = False,
    diff: DiffOption = False,
    forks: ForksOption = 20,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Show what apply would do: per host, file diffs, services, and the order. Exit 2 when changes are pending."""
    inventory = _either(inventory, inventory_flag)

    def body(report: Report) -> None:
        loaded = _load(report, _inventory_path(report.env, inventory))
        if offline:
            result = make_plan(desired_state(loaded.inventory, phase))
        else:
            transport = _transport(report, loaded.inventory, forks, accept_new_host_keys, insecure_skip_host_key_check)
            try:
                live = _live_inventory(report, loaded.inventory, transport)
                desired = desired_state(live, phase or _live_phase(report, live, transport))
                _, result = _live_plan(report, transport, desired, live)
            finally:
                transport.close()
        if as_json:
            report.plan_json(result)
        else:
            report.plan(result, show_diff=diff)

    _run(ctx, body)


@app.command()
def apply(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    check: Annotated[bool, _flag("--check", help="Only show the plan; change nothing.")] = False,
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
    inventory = _either(inventory, inventory_flag)

    from kafkactl import scram_users
    from kafkactl.executor import Executor, RunOptions, kraft_cluster_id
    from kafkactl.playbook import load_playbook

    def body(report: Report) -> None:
        with _session(report, inventory, "apply", limit, resume, forks, accept_new_host_keys, insecure_skip_host_key_check,
                      lock=not check, break_lock=break_lock) as run:
            facts, result = _live_plan(report, run.transport, run.desired, run.inventory)
            report.plan(result, show_diff=diff)
            if check or not result.changed:
                return
            report.exit_code = Exit.OK
            _preflight(run.inventory, run.desired, facts, result)
            kraft = run.desired.phase == Phase.KRAFT
            cluster_id = kraft_cluster_id(run.inventory, run.desired, facts, run.state_dir) if kraft else None
            options = RunOptions(forks=forks, gate_timeout=gate_timeout, limit=run.limit)
            executor = Executor(run.inventory, run.desired, result, facts, run.transport, report, options, cluster_id, run.journal(),
                                scram_record=scram_users.Record(run.state_dir))
            report.summary(executor.run(load_playbook("site")))

    _run(ctx, body)


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
    check: Annotated[bool, _flag("--check", help="Only show the restart plan.")] = False,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Brokers restarted at once; each batch must keep every partition at min.insync.replicas.")] = 1,
    gate_timeout: GateTimeoutOption = 300.0,
    resume: ResumeOption = False,
    break_lock: BreakLockOption = False,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Rolling restart, one host at a time, health-gated; the plan (hosts, order, gates) is shown first."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl.executor import Executor, RunOptions
    from kafkactl.playbook import load_playbook

    def body(report: Report) -> None:
        components = _components(component)
        with _session(report, inventory, "restart", limit, resume, 20, accept_new_host_keys, insecure_skip_host_key_check,
                      lock=not check, break_lock=break_lock) as run:
            facts, result = _live_plan(report, run.transport, run.desired, run.inventory, cluster_changes=False)
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

    _run(ctx, body)


COMPONENT_NAMES = {
    "zookeeper": Component.ZOOKEEPER, "controller": Component.KAFKA_CONTROLLER, "broker": Component.KAFKA_BROKER,
    "connect": Component.KAFKA_CONNECT, "schema-registry": Component.SCHEMA_REGISTRY,
}


@app.command()
def status(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    as_json: Annotated[bool, _flag("--json", help="Print the status as JSON.")] = False,
    watch: Annotated[Optional[float], typer.Option("--watch", metavar="SECONDS", show_default=False,
                                                   help="Read it again every SECONDS until interrupted.")] = None,
    forks: ForksOption = 20,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """The cluster as it runs: each service's state, version and role, partitions not in sync, the metadata quorum,
    the migration state, key store expiry. Exit code 3 when anything there needs attention."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl.status import lines, read_status

    def body(report: Report) -> None:
        path = _inventory_path(report.env, inventory)
        inv = _load(report, path).inventory
        with _connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check, forks) as transport:
            inv = _live_inventory(report, inv, transport)
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

    _run(ctx, body)


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
    inventory = _either(inventory, inventory_flag)
    from kafkactl.journal import read_runs

    def body(report: Report) -> None:
        path = _inventory_path(report.env, inventory)
        journals, damaged = read_runs(_state_dir(report.env, path))
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

    _run(ctx, body)


certs_app = typer.Typer(help="kafkactl's own certificate authority: key and trust stores for every host.", no_args_is_help=True)
app.add_typer(certs_app, name="certs")


@certs_app.command("create")
def certs_create(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None) -> None:
    """Make the CA (once) and a key store for each host that lacks a current one, in the state directory's pki/."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl import pki

    def body(report: Report) -> None:
        path = _inventory_path(report.env, inventory)
        inv = _load(report, path, key_stores="ignored").inventory
        directory = (_state_dir(report.env, path) / "pki").resolve()
        made = pki.create(directory, inv)
        report.line(f"CA {'made' if made.ca_made else 'kept'}: {directory / 'ca.crt'}")
        for host in made.hosts_made:
            report.line(f"  {host}: key store made ({pki.keystore_name(host)})")
        if made.hosts_kept:
            report.line(f"  kept, still current: {', '.join(made.hosts_kept)}")
        if not made.ca_made and not made.hosts_made:
            report.line("Nothing to make: every host has a current key store.")
        if inv.key_stores_by_kafkactl:
            report.line("apply copies them to the hosts: the inventory's TLS names no other key stores.")
            return
        keystore_password = f"{{{{ lookup('file', '{directory / pki.KEYSTORE_PASSWORD}') }}}}"
        report.line("apply puts them on the hosts with these variables (all.vars):")
        for key, value in (("ssl_provided_keystore_and_truststore", "true"),
                           ("ssl_keystore_filepath", f'"{directory}/{pki.keystore_name("{{inventory_hostname}}")}"'),
                           ("ssl_truststore_filepath", f"{directory / pki.TRUSTSTORE}"),
                           ("ssl_keystore_store_password", f'"{keystore_password}"'),
                           ("ssl_keystore_key_password", f'"{keystore_password}"'),
                           ("ssl_truststore_password", f"\"{{{{ lookup('file', '{directory / pki.TRUSTSTORE_PASSWORD}') }}}}\"")):
            report.line(f"  {key}: {value}")

    _run(ctx, body)


@certs_app.command("rotate-ca")
def certs_rotate_ca(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    step: Annotated[str, typer.Option("--step", help="trust-new-ca | sign-with-new-ca | drop-old-ca, in this order, "
                                                     "each followed by an apply.")] = "",
) -> None:
    """Replace kafkactl's CA with no moment where a host distrusts another: three steps, each followed by an apply."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl import pki

    def body(report: Report) -> None:
        if step not in pki.ROTATION_STEPS:
            raise KafkactlError(f"--step: {step!r} is not one of {', '.join(pki.ROTATION_STEPS)}")
        path = _inventory_path(report.env, inventory)
        inv = _load(report, path, key_stores="ignored").inventory
        report.line(pki.rotate_ca((_state_dir(report.env, path) / "pki").resolve(), inv, step, report.env.now()))

    _run(ctx, body)


@certs_app.command("status")
def certs_status(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None, forks: ForksOption = 20,
                 accept_new_host_keys: AcceptNewKeysOption = False, insecure_skip_host_key_check: InsecureOption = False,
                 as_json: StateJsonOption = False) -> None:
    """Each host's key store: whether the host has the one the inventory ships, and when its certificate expires."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl import pki
    from kafkactl.facts import gather_all

    def body(report: Report) -> None:
        path = _inventory_path(report.env, inventory)
        inv = _load(report, path).inventory
        desired = desired_state(inv, inv.natural_phase or Phase.DUAL_WRITE)
        with _connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check, forks) as transport:
            facts = gather_all(transport, desired, inv.cluster)
        rows = pki.store_status(desired, facts, inv.cluster, report.env.now())
        if as_json:
            report.json(rows)
            return
        if not rows:
            report.line("No key store is shipped by this inventory (stores on the hosts are not read).")
        for row in rows:
            report.line(f"{row['host']}: {row['subject'] or row['path']}, expires {row['expires'] or '?'}: {row['status']}")
            if str(row["status"]).startswith("expires in"):
                report.warning(f"host {row['host']}: its certificate {row['status']}")

    _run(ctx, body)


backup_app = typer.Typer(help="Backups taken before each migration phase: list, verify, restore configuration files.",
                         no_args_is_help=True)
app.add_typer(backup_app, name="backup")


def _backups(env: Environment, inventory: Path | None) -> Path:
    from kafkactl.backup import local_root

    return local_root(_state_dir(env, _inventory_path(env, inventory)))


@contextmanager
def _connected(report: Report, inventory: Inventory, accept_new: bool, insecure: bool, forks: int = 20) -> Iterator[Transport]:
    """An SSH transport closed after use; host keys it recorded (--accept-new-host-keys) are reported."""
    transport = _transport(report, inventory, forks, accept_new, insecure)
    try:
        yield transport
    finally:
        transport.close()
        for notice in transport.notices:
            report.warning(notice)


@backup_app.command("list")
def backup_list(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None,
                as_json: StateJsonOption = False) -> None:
    """List the verified backups of this inventory's cluster, newest first."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl.backup import list_backups, summary_line

    def body(report: Report) -> None:
        root = _backups(report.env, inventory)
        found = list_backups(root)
        if as_json:
            report.json([{"run_id": b.run_id, "label": b.label, "created": b.created, "hosts": sorted(b.hosts),
                          "files": b.count("file"), "directories": b.count("directory"), "bytes": b.size,
                          "local_copy": str(b.root), "host_copy": b.location} for b in found])
            return
        if not found:
            report.line(f"No backups in {root}")
        for backup in found:
            report.line(summary_line(backup))

    _run(ctx, body)


@backup_app.command("verify")
def backup_verify(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    run: Annotated[Optional[str], typer.Option("--run", help="The backup's run id (default: the newest).", show_default=False)] = None,
    on_hosts: Annotated[bool, _flag("--on-hosts", help="Also check each host's own copy over SSH.")] = False,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Check a backup's local copies against its manifests (and with --on-hosts, the hosts' copies). Exit 1 on problems."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl.backup import list_backups, verify_backup

    def body(report: Report) -> None:
        root = _backups(report.env, inventory)
        run_id = run or next((b.run_id for b in list_backups(root)), None)
        if run_id is None:
            raise KafkactlError(f"no backups in {root}")
        if not on_hosts:
            problems = verify_backup(root, run_id)
        else:
            inv = _load(report, _inventory_path(report.env, inventory), key_stores="checked").inventory
            with _connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check) as transport:
                problems = verify_backup(root, run_id, transport)
        for problem in problems:
            report.error(problem)
        if not problems:
            checked = "local copies and the hosts' copies" if on_hosts else "local copies"
            report.line(f"Backup {run_id}: verified ({checked})")

    _run(ctx, body)


@backup_app.command("restore")
def backup_restore(
    ctx: typer.Context,
    run: Annotated[str, typer.Option("--run", help="The backup's run id (kafkactl backup list).")],
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    limit: Annotated[Optional[str], typer.Option("--limit", help="Comma-separated hosts or groups to restore.", show_default=False)] = None,
    yes: Annotated[bool, _flag("--yes", help="Do not ask for confirmation.")] = False,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Write a backup's configuration files back where they were (not meta.properties, not archives); no restart."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl.backup import configs_to_restore, load_backup, restore_configs

    def body(report: Report) -> None:
        path = _inventory_path(report.env, inventory)
        inv = _load(report, path, key_stores="checked").inventory
        limited = _limit(inv, limit, _group_hosts(path))
        hosts = set(limited) if limited is not None else None
        root = _backups(report.env, inventory)
        chosen = configs_to_restore(load_backup(root, run), hosts)
        report.line(f"Restoring from backup {run}:", style="bold")
        for host, items in chosen.items():
            for item in items:
                report.line(f"  {host}: {item.path}")
        if not yes:
            report.line("Write these files back? Type yes to proceed:")
            if report.env.stdin.readline().strip() != "yes":
                raise KafkactlError("restore: not confirmed; nothing was written")
        with _connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check) as transport:
            written = restore_configs(transport, report, root, run, hosts)
        report.line(f"Restored {len(written)} files. Services still run with the files they started with: "
                    f"run kafkactl restart {path}{f' --limit {limit}' if limit else ''} to make them use these.", style="bold")

    _run(ctx, body)


@dataclass
class _Session:
    """What a command that connects works with: the inventory, its desired state, SSH, its journal."""

    report: Report
    path: Path
    command: str
    inventory: Inventory
    desired: DesiredState
    limit: frozenset[str] | None
    state_dir: Path
    previous: Journal | None
    transport: Transport

    def journal(self) -> Journal:
        from kafkactl.journal import Journal

        journal = Journal.start(self.state_dir, self.command, self.path, resumes=self.previous)
        resuming = f", resuming {self.previous.run_id}" if self.previous else ""
        self.report.line("")
        self.report.line(f"Run {journal.run_id}{resuming} (journal: {journal.path})")
        return journal


@contextmanager
def _session(report: Report, inventory: Path | None, command: str, limit: str | None, resume: bool, forks: int,
             accept_new: bool, insecure: bool, *, lock: bool, break_lock: bool) -> Iterator[_Session]:
    from kafkactl.journal import resumable

    path = _inventory_path(report.env, inventory)
    inv = _load(report, path).inventory
    limited = _limit(inv, limit, _group_hosts(path))
    state_dir = _state_dir(report.env, path)
    transport = _transport(report, inv, forks, accept_new, insecure)
    try:
        with _run_lock(report, state_dir, transport, command, lock, break_lock, resume):
            previous = resumable(state_dir, command, path) if resume else None
            inv = _live_inventory(report, inv, transport)
            desired = desired_state(inv, _live_phase(report, inv, transport))
            yield _Session(report, path, command, inv, desired, limited, state_dir, previous, transport)
    finally:
        transport.close()


@contextmanager
def _run_lock(report: Report, state_dir: Path, transport: Transport, command: str, lock: bool, break_lock: bool,
              resume: bool) -> Iterator[None]:
    """One run that changes hosts at a time per cluster (kafkactl/lock.py); read-only runs take no lock."""
    from kafkactl.lock import ClusterLock

    if not lock:
        yield
        return
    held = ClusterLock(state_dir, transport, command, break_lock=break_lock, resuming=resume)
    try:
        with held:
            for notice in held.broken:
                report.warning(notice)
            yield
    finally:
        for problem in held.release_problems:
            report.warning(problem)


def _run_summary(journal) -> dict:
    failed = next((e for e in journal.entries if e.status == "failed"), None)
    return {"run_id": journal.run_id, "command": journal.command, "status": journal.status, "started": journal.started,
            "ended": journal.ended, "steps": len(journal.entries), "resumes": journal.resumes,
            "stopped_at": {"step": failed.step, "host": failed.host, "detail": failed.detail} if failed else None}


def _live_inventory(report: Report, inventory: Inventory, transport: Transport) -> Inventory:
    """The inventory with the ids its hosts already have (kafkactl/identity.py) and the protocol its brokers speak
    (kafkactl/protocol.py): read before anything is planned."""
    from kafkactl.identity import adopt, read_live_ids
    from kafkactl.protocol import pin_protocol, read_live_protocols

    adopted = adopt(inventory, read_live_ids(transport, inventory))
    pinned, kept = pin_protocol(adopted, read_live_protocols(transport, adopted))
    if kept:  # on stderr: a --json plan stays one document
        report.warning(kept)
    return pinned


def _live_phase(report: Report, inventory: Inventory, transport: Transport) -> Phase | None:
    """A migration inventory is rendered for the state its hosts are in; between two states nothing runs."""
    from kafkactl.migration.runner import settled_phase

    if inventory.natural_phase is not None:
        return None
    phase = settled_phase(inventory, transport)
    report.line(f"Migration inventory; the hosts are in the {phase.value} phase's state")
    return phase


def _group_hosts(path: Path) -> dict[str, set[str]]:
    raw = load_inventory(path)
    return {name: {h for h, host in raw.hosts.items() if name in host.groups} for name in raw.groups}


def _state_dir(env: Environment, inventory_path: Path) -> Path:
    """Where kafkactl keeps what it must remember about a cluster (its KRaft cluster id, run journals)."""
    configured = env.variables.get("KAFKACTL_STATE_DIR")
    return Path(configured) if configured else inventory_path.resolve().parent / ".kafkactl"


def _preflight(inventory: Inventory, desired: DesiredState, facts: dict[str, HostFacts], plan: Plan) -> None:
    """What would fail halfway is refused before any host changes: no Java, no archive to install."""
    without_java = [s.host.name for s in desired.hosts if s.kafka_home and "version" not in facts[s.host.name].java]
    if without_java:
        raise KafkactlError(
            f"no Java at {inventory.cluster.java_executable} (java_executable) on {', '.join(without_java)}; "
            "install Java 17 there first. No host was changed."
        )
    needing = [h.host for h in plan.hosts if h.install]
    source = inventory.cluster.kafka_archive_source
    if not needing:
        return
    if not source:
        raise KafkactlError(f"kafka_archive_source is not set and Kafka is not installed on {', '.join(needing)}")
    if not source.startswith(("http://", "https://")) and not Path(source).expanduser().is_file():
        raise KafkactlError(f"kafka_archive_source: {source}: no such file on this machine")


migrate_app = typer.Typer(help="Migrations between cluster modes.", no_args_is_help=True)
app.add_typer(migrate_app, name="migrate")


@migrate_app.command("kraft")
def migrate_kraft(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    status: Annotated[bool, _flag("--status", help="Read the live cluster and print its migration state with the evidence.")] = False,
    phase: Annotated[Optional[str], typer.Option("--phase", help="dual-write | kraft-brokers | finalize | rollback | stop-zookeeper", show_default=False)] = None,
    yes: Annotated[bool, _flag("--yes", help="Do not ask for confirmation (finalize still needs --confirm-cluster-id).")] = False,
    confirm_cluster_id: Annotated[Optional[str], typer.Option("--confirm-cluster-id", help="finalize: the cluster id, instead of typing it.", show_default=False)] = None,
    gate_timeout: GateTimeoutOption = 300.0,
    resume: ResumeOption = False,
    break_lock: BreakLockOption = False,
    forks: ForksOption = 20,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
    as_json: Annotated[bool, _flag("--json", help="With --status: print the state and its evidence as JSON.")] = False,
) -> None:
    """ZooKeeper to KRaft: --status, or one --phase at a time (state 1 -> 2a -> 2b -> 3; rollback from 2a or 2b)."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl.migration.runner import PHASE_NAMES, MigrationRun, read_live
    from kafkactl.upgrade import running_versions, versions_line

    def body(report: Report) -> None:
        if as_json and not status:
            raise KafkactlError("migrate kraft: --json goes with --status")
        if status == (phase is not None):
            raise KafkactlError("migrate kraft: give either --status or --phase " + " | ".join(PHASE_NAMES))
        if phase is not None and phase not in PHASE_NAMES:
            raise KafkactlError(f"--phase: {phase!r} is not one of {', '.join(PHASE_NAMES)}")
        path = _inventory_path(report.env, inventory)
        inv = _load(report, path).inventory
        if inv.natural_phase is not None and not status:
            raise KafkactlError(f"{path}: a migration inventory has both a zookeeper and a kafka_controller group")
        with _connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check, forks) as transport:
            inv = _live_inventory(report, inv, transport)
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
            state_dir = _state_dir(report.env, path)
            with _run_lock(report, state_dir, transport, f"migrate kraft --phase {phase}", True, break_lock, resume):
                run = MigrationRun(inv, path, transport, report, state_dir, gate_timeout)
                run.run(phase, assume_yes=yes, confirm_cluster_id=confirm_cluster_id, resume=resume)

    _run(ctx, body)


def _counts(connections: dict[str, int] | None) -> str:
    if connections is None:
        return "not read (the broker's JMX did not answer; it answers once an apply has restarted it)"
    return ", ".join(f"{name} {count}" for name, count in connections.items()) or "no listener reported"


@migrate_app.command("listeners")
def migrate_listeners(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    status: Annotated[bool, _flag("--status", help="Read each broker's live listeners and print the next step to the inventory's.")] = False,
    forks: ForksOption = 20,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
    as_json: Annotated[bool, _flag("--json", help="Print each broker's listeners and the next step as JSON.")] = False,
) -> None:
    """TLS/SASL listeners: where each broker is on Kafka's staged sequence (add, move inter-broker traffic, remove)."""
    inventory = _either(inventory, inventory_flag)
    from kafkactl.facts import as_running, gather_all, running_members
    from kafkactl.health import listener_connections
    from kafkactl.listener_changes import broker_listeners, next_step
    from kafkactl.roles import service_name

    def body(report: Report) -> None:
        if not status:
            raise KafkactlError("migrate listeners: give --status; each step is one `kafkactl apply` "
                                "(docs/operations.md, \"Securing a running cluster\")")
        path = _inventory_path(report.env, inventory)
        inv = _load(report, path).inventory
        with _connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check, forks) as transport:
            inv = _live_inventory(report, inv, transport)
            desired = desired_state(inv, _live_phase(report, inv, transport))
            facts = gather_all(transport, desired, inv.cluster)
            running = running_members(inv, facts, Component.KAFKA_BROKER)
            service = service_name(Component.KAFKA_BROKER, inv.cluster)
            counted = transport.read_each(running, lambda host: listener_connections(
                transport.connection(host.name), as_running(inv.cluster, facts[host.name], Component.KAFKA_BROKER), service))
            brokers = broker_listeners(desired, facts, {host.name: seen.value for host, seen in counted})
        step = next_step(brokers)
        if as_json:
            report.json({"next_step": step, "brokers": [{**asdict(b), "step": b.step} for b in brokers]})
            return
        report.line(f"Listeners: next step: {step}")
        for broker in brokers:
            def shown(listeners: dict[str, str], inter: str) -> str:
                return ", ".join(f"{n}:{p}" for n, p in listeners.items()) + f" (inter-broker {inter})"
            report.line(f"  {broker.host}: runs {shown(broker.live, broker.live_inter_broker) if broker.live else 'nothing'}; "
                        f"inventory {shown(broker.wanted, broker.wanted_inter_broker)}: {broker.step}")
            if broker.live:
                report.line(f"    open connections: {_counts(broker.connections)}")

    _run(ctx, body)


lab_app = typer.Typer(help="A local lab of real hosts: podman containers with systemd and sshd, reached over SSH.",
                      no_args_is_help=True)
app.add_typer(lab_app, name="lab")
LabDirOption = Annotated[Path, typer.Option("--state-dir", help="Where the lab keeps its keys, known_hosts and inventories.")]


@lab_app.command("up")
def lab_up(
    ctx: typer.Context,
    layout: Annotated[str, typer.Option("--layout", help="zookeeper (3 ZooKeeper + 3 brokers) or kraft (3 controllers + 3 brokers).")] = "zookeeper",
    controllers: Annotated[bool, _flag("--controllers", help="Add 3 KRaft controller hosts to a zookeeper layout (for the migration).")] = False,
    connect: Annotated[bool, _flag("--connect", help="Add a Kafka Connect host.")] = False,
    jump_only: Annotated[Optional[list[str]], typer.Option("--jump-only", help="A host this machine reaches only through another lab host (ProxyJump).")] = None,
    state_dir: LabDirOption = Path(".lab"),
) -> None:
    """Create (or confirm) the lab hosts and write inventories for them (state-dir/inventory.yml)."""
    from kafkactl import lab
    from kafkactl.lab.inventory import LAYOUTS, lab_inventory, layout_hosts, write_inventory

    def body(report: Report) -> None:
        if layout not in LAYOUTS:
            raise KafkactlError(f"--layout: {layout!r} is not one of {', '.join(LAYOUTS)}")
        groups = layout_hosts(layout, connect=connect, controllers=controllers)
        names = [name for hosts in groups.values() for name in hosts]
        report.line(f"Bringing up {len(names)} lab hosts: {', '.join(names)} (first time: a few minutes)")
        try:
            made = lab.up(names, state_dir, jump_only=set(jump_only or ()))
        except lab.LabError as exc:
            raise KafkactlError(f"lab: {exc}") from None
        common = dict(addresses=made.addresses, ssh_key=made.ssh_key, known_hosts=made.known_hosts,
                      archive=made.kafka_archive, sha256=made.kafka_sha256, version=made.kafka_version,
                      jump_hosts=made.jump_hosts)
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

    _run(ctx, body)


@lab_app.command("down")
def lab_down(ctx: typer.Context, state_dir: LabDirOption = Path(".lab")) -> None:
    """Remove the lab's containers (the image and caches are kept for next time)."""
    from kafkactl import lab

    def body(report: Report) -> None:
        lab.down(state_dir)
        report.line(f"Lab in {state_dir} removed")

    _run(ctx, body)


@lab_app.command("status")
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

    _run(ctx, body)


@app.command(name="vars")
def list_vars(ctx: typer.Context) -> None:
    """List the cluster-level inventory variables kafkactl understands, with defaults (Markdown)."""

    def body(report: Report) -> None:
        report.env.stdout.write(variables_markdown())

    _run(ctx, body)


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


def _version(value: bool) -> None:
    if value:
        print(f"kafkactl {__version__}")
        raise typer.Exit(int(Exit.OK))


@app.callback()
def _root(
    version: Annotated[bool, _flag("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """kafkactl: declarative Kafka operations. Plan first, then apply; rolling and health-gated."""


def main() -> None:
    app()
