"""The kafkactl command line: thin commands over the stages inventory -> desired -> plan -> report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from typer.core import TyperGroup

from kafkactl import __version__
from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.inventory import Loaded, read_inventory
from kafkactl.inventory.validate import HOST_KEYS, cp_ansible_variables
from kafkactl.masking import Masker
from kafkactl.model import ClusterVars, Phase
from kafkactl.plan import make_plan
from kafkactl.render import write_rendered
from kafkactl.report import Exit, Report

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
    add_completion=False,
    pretty_exceptions_enable=False,
)

InventoryArg = Annotated[
    Optional[Path],
    typer.Argument(
        help="Inventory file (default: $KAFKACTL_INVENTORY, then ./inventory.yml).", show_default=False
    ),
]
PhaseOption = Annotated[
    Optional[Phase],
    typer.Option("--phase", help="Render for a migration phase instead of the inventory's natural mode.", show_default=False),
]


def _environment(ctx: typer.Context) -> Environment:
    return ctx.obj if isinstance(ctx.obj, Environment) else Environment()


def _inventory_path(env: Environment, given: Path | None) -> Path:
    if given is not None:
        return given
    return Path(env.variables.get("KAFKACTL_INVENTORY") or "inventory.yml")


def _load(report: Report, path: Path) -> Loaded:
    loaded = read_inventory(path)
    report.mask = Masker(loaded.inventory.secret_values)
    for warning in loaded.warnings:
        report.warning(str(warning))
    return loaded


def _run(ctx: typer.Context, body) -> None:
    """Run a command body; a KafkactlError becomes one line per problem and exit code 1."""
    report = Report(_environment(ctx))
    try:
        body(report)
    except KafkactlError as exc:
        for line in exc.lines:
            report.error(line)
    raise typer.Exit(int(report.exit_code))


@app.command()
def validate(ctx: typer.Context, inventory: InventoryArg = None) -> None:
    """Check the inventory and print a summary of the cluster it describes."""

    def body(report: Report) -> None:
        loaded = _load(report, _inventory_path(report.env, inventory))
        inv = loaded.inventory
        phase = inv.natural_phase
        mode = phase.value if phase else "migration (zookeeper and kafka_controller groups)"
        report.line(f"{inv.path}: valid, Kafka {inv.cluster.kafka_version}, {mode} mode")
        for host in sorted(inv.hosts, key=lambda h: h.name):
            ids = [f"{k}={getattr(host, k)}" for k in ("zookeeper_id", "broker_id", "node_id") if getattr(host, k) is not None]
            report.line(f"  {host.name}: {', '.join(host.components)} {' '.join(ids)}")

    _run(ctx, body)


@app.command()
def render(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    out: Annotated[Path, typer.Option("--out", help="Directory to write DIR/<host>/<absolute path> files into.")] = Path("rendered"),
    phase: PhaseOption = None,
) -> None:
    """Write every file apply would put on every host, without touching any host."""

    def body(report: Report) -> None:
        loaded = _load(report, _inventory_path(report.env, inventory))
        desired = desired_state(loaded.inventory, phase)
        count = write_rendered(desired, out)
        report.line(f"Rendered {count} files for {len(desired.hosts)} hosts ({desired.phase.value}) into {out}")

    _run(ctx, body)


@app.command()
def plan(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    offline: Annotated[bool, typer.Option("--offline", help="Plan against empty hosts, without connecting.")] = False,
    phase: PhaseOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan as JSON.")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show the full diff of every changed file.")] = False,
) -> None:
    """Show what apply would do: per host, file changes, services, and the order. Exit 2 when changes are pending."""

    def body(report: Report) -> None:
        loaded = _load(report, _inventory_path(report.env, inventory))
        desired = desired_state(loaded.inventory, phase)
        if not offline:
            raise KafkactlError("plan: connecting to hosts is not available in this version; use --offline")
        result = make_plan(desired)
        if as_json:
            report.plan_json(result)
        else:
            report.plan(result, show_diff=diff)

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
        "same meaning. Any other cp-ansible variable is reported as not used; unknown ones get a hint.",
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
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """kafkactl: declarative Kafka operations. Plan first, then apply; rolling and health-gated."""


def main() -> None:
    app()
