"""What every command shares: the app, its options, loading the inventory, connecting, the run lock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

import typer
from typer.core import TyperGroup

from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.inventory import Loaded, read_inventory
from kafkactl.inventory.loader import load_inventory
from kafkactl.masking import Masker
from kafkactl.model import Inventory, Phase
from kafkactl.report import Exit, Report

if TYPE_CHECKING:
    from kafkactl.transport import Transport


class Commands(TyperGroup):
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
    cls=Commands,
    help="Plan-first configuration and operations for Apache Kafka and ZooKeeper clusters over SSH.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    # Plain help: it wraps long option names where rich's table cuts them off in a narrow terminal.
    rich_markup_mode=None,
)


def flag(*names: str, **settings: Any) -> Any:
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


def environment(ctx: typer.Context) -> Environment:
    return ctx.obj if isinstance(ctx.obj, Environment) else Environment()


def either(argument: Path | None, flag: Path | None) -> Path | None:
    """The inventory given as the argument or with -i: one of them, or both naming the same file."""
    if argument is not None and flag is not None and argument != flag:
        raise typer.BadParameter(f"two inventories: {argument} and -i {flag}; give one")
    return flag or argument


def inventory_path(env: Environment, given: Path | None) -> Path:
    if given is not None:
        return given
    return Path(env.variables.get("KAFKACTL_INVENTORY") or "inventory.yml")


KeyStores = Literal["attached", "checked", "ignored"]


def loaded_inventory(report: Report, path: Path, *, key_stores: KeyStores = "attached") -> Loaded:
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

            loaded = replace(loaded, inventory=pki.attach(state_dir_of(report.env, path) / "pki", loaded.inventory))
            report.mask = Masker(loaded.inventory.secret_values)
    elif problem := loaded.inventory.cluster.missing_key_store_password():
        raise KafkactlError(f"{path}: {problem}")
    return loaded


def run_command(ctx: typer.Context, body) -> None:
    """Run a command body; a KafkactlError becomes one line per problem and exit code 1."""
    report = Report(environment(ctx), data_on_stdout=bool(ctx.params.get("as_json")))
    try:
        body(report)
    except KafkactlError as exc:
        for warning in getattr(exc, "warnings", ()):
            report.warning(warning)
        for line in exc.lines:
            report.error(line)
    raise typer.Exit(int(report.exit_code))


GateTimeoutOption = Annotated[float, typer.Option("--gate-timeout", help="Seconds a health gate may take before the run stops.")]


ResumeOption = Annotated[bool, flag("--resume", help="Continue the last run of this command on this inventory, which stopped.")]


ForksOption = Annotated[int, typer.Option("--forks", min=1, help="Hosts worked on in parallel (facts, preparation).")]


LimitOption = Annotated[
    Optional[str], typer.Option("--limit", help="Comma-separated hosts or groups to change (facts come from all).", show_default=False)
]


AcceptNewKeysOption = Annotated[
    bool, flag("--accept-new-host-keys", help="Record unknown SSH host keys in known_hosts (changed keys are still refused).")
]


InsecureOption = Annotated[
    bool, flag("--insecure-skip-host-key-check", help="Do not check SSH host keys at all (not recommended).")
]


DiffOption = Annotated[bool, flag("--diff", help="Show the full diff of every changed file.")]


BreakLockOption = Annotated[
    bool, flag("--break-lock", help="Remove a run lock left on the hosts by a run that is gone, then run.")
]


JsonOption = Annotated[bool, flag("--json", help="Print the plan as JSON.")]


StateJsonOption = Annotated[bool, flag("--json", help="Print it as JSON (secrets masked), for scripts.")]


def limited_to(inventory: Inventory, spec: str | None, raw_groups: dict[str, set[str]]) -> frozenset[str] | None:
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


def open_transport(report: Report, inventory: Inventory, forks: int, accept_new: bool, insecure: bool) -> Transport:
    from kafkactl.transport import SshOptions, Transport  # SSH libraries load only for commands that connect

    if insecure:
        report.warning("SSH host keys are not checked (--insecure-skip-host-key-check)")
    for host in inventory.hosts:
        if host.ssh_host_key_checking == "no" and not insecure:
            report.warning(f"host {host.name}: SSH host keys are not checked (StrictHostKeyChecking=no in the inventory)")
    options = SshOptions(accept_new_host_keys=accept_new, check_host_keys=not insecure).with_environment(report.env.variables)
    return Transport(inventory.hosts, options, forks=forks)


@contextmanager
def connected(report: Report, inventory: Inventory, accept_new: bool, insecure: bool, forks: int = 20) -> Iterator[Transport]:
    """An SSH transport closed after use; host keys it recorded (--accept-new-host-keys) are reported."""
    transport = open_transport(report, inventory, forks, accept_new, insecure)
    try:
        yield transport
    finally:
        transport.close()
        for notice in transport.notices:
            report.warning(notice)


@contextmanager
def run_lock(report: Report, state_dir: Path, transport: Transport, command: str, lock: bool, break_lock: bool,
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


def live_inventory(report: Report, inventory: Inventory, transport: Transport, reading_only: bool = False) -> Inventory:
    """The inventory with the ids its hosts already have (kafkactl/identity.py) and the protocol its brokers speak
    (kafkactl/protocol.py): read before anything is planned. What the inventory asks of that protocol and cannot be
    done is refused, or, for a command that only reads (`reading_only`), reported."""
    from kafkactl.identity import adopt, read_live_ids
    from kafkactl.protocol import pin_protocol, protocol_refusals, read_live_protocols

    adopted = adopt(inventory, read_live_ids(transport, inventory))
    live = read_live_protocols(transport, adopted)
    refusals = protocol_refusals(adopted, live)
    if refusals and not reading_only:
        raise KafkactlError(*refusals, "No host was changed.")
    for refusal in refusals:
        report.warning(refusal)
    pinned, kept = pin_protocol(adopted, live)
    if kept:  # on stderr: a --json plan stays one document
        report.warning(kept)
    return pinned


def live_phase(report: Report, inventory: Inventory, transport: Transport) -> Phase | None:
    """A migration inventory is rendered for the state its hosts are in; between two states nothing runs."""
    from kafkactl.migration.runner import settled_phase

    if inventory.natural_phase is not None:
        return None
    phase = settled_phase(inventory, transport)
    report.line(f"Migration inventory; the hosts are in the {phase.value} phase's state")
    return phase


def group_hosts(path: Path) -> dict[str, set[str]]:
    raw = load_inventory(path)
    return {name: {h for h, host in raw.hosts.items() if name in host.groups} for name in raw.groups}


def state_dir_of(env: Environment, inventory_path: Path) -> Path:
    """Where kafkactl keeps what it must remember about a cluster (its KRaft cluster id, run journals)."""
    configured = env.variables.get("KAFKACTL_STATE_DIR")
    return Path(configured) if configured else inventory_path.resolve().parent / ".kafkactl"
