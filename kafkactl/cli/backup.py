"""kafkactl backup: the backups taken before each migration phase."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from kafkactl.cli.common import (
    AcceptNewKeysOption, InsecureOption, InventoryArg, InventoryFlag, StateJsonOption, connected, either, flag,
    group_hosts, inventory_path, limited_to, loaded_inventory, run_command, state_dir_of,
)
from kafkactl.environment import Environment
from kafkactl.errors import KafkactlError
from kafkactl.report import Report


app = typer.Typer(help="Backups taken before each migration phase: list, verify, restore configuration files.",
                         no_args_is_help=True)


def _backups(env: Environment, inventory: Path | None) -> Path:
    from kafkactl.backup import local_root

    return local_root(state_dir_of(env, inventory_path(env, inventory)))


@app.command("list")
def backup_list(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None,
                as_json: StateJsonOption = False) -> None:
    """List the verified backups of this inventory's cluster, newest first."""
    inventory = either(inventory, inventory_flag)
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

    run_command(ctx, body)


@app.command("verify")
def backup_verify(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    run: Annotated[Optional[str], typer.Option("--run", help="The backup's run id (default: the newest).", show_default=False)] = None,
    on_hosts: Annotated[bool, flag("--on-hosts", help="Also check each host's own copy over SSH.")] = False,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Check a backup's local copies against its manifests (and with --on-hosts, the hosts' copies). Exit 1 on problems."""
    inventory = either(inventory, inventory_flag)
    from kafkactl.backup import list_backups, verify_backup

    def body(report: Report) -> None:
        root = _backups(report.env, inventory)
        run_id = run or next((b.run_id for b in list_backups(root)), None)
        if run_id is None:
            raise KafkactlError(f"no backups in {root}")
        if not on_hosts:
            problems = verify_backup(root, run_id)
        else:
            inv = loaded_inventory(report, inventory_path(report.env, inventory), key_stores="checked").inventory
            with connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check) as transport:
                problems = verify_backup(root, run_id, transport)
        for problem in problems:
            report.error(problem)
        if not problems:
            checked = "local copies and the hosts' copies" if on_hosts else "local copies"
            report.line(f"Backup {run_id}: verified ({checked})")

    run_command(ctx, body)


@app.command("restore")
def backup_restore(
    ctx: typer.Context,
    run: Annotated[str, typer.Option("--run", help="The backup's run id (kafkactl backup list).")],
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    limit: Annotated[Optional[str], typer.Option("--limit", help="Comma-separated hosts or groups to restore.", show_default=False)] = None,
    yes: Annotated[bool, flag("--yes", help="Do not ask for confirmation.")] = False,
    accept_new_host_keys: AcceptNewKeysOption = False,
    insecure_skip_host_key_check: InsecureOption = False,
) -> None:
    """Write a backup's configuration files back where they were (not meta.properties, not archives); no restart."""
    inventory = either(inventory, inventory_flag)
    from kafkactl.backup import configs_to_restore, load_backup, restore_configs

    def body(report: Report) -> None:
        path = inventory_path(report.env, inventory)
        inv = loaded_inventory(report, path, key_stores="checked").inventory
        limited = limited_to(inv, limit, group_hosts(path))
        hosts = set(limited) if limited is not None else None
        root = _backups(report.env, inventory)
        chosen = configs_to_restore(load_backup(root, run), hosts)
        report.line(f"Restoring from backup {run}:", style="bold")
        for host, items in chosen.items():
            for item in items:
                report.line(f"  {host}: {item.path}")
        if not yes:
            if not report.confirmed("Write these files back? Type yes to proceed: "):
                raise KafkactlError("restore: not confirmed; nothing was written")
        with connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check) as transport:
            written = restore_configs(transport, report, root, run, hosts)
        report.line(f"Restored {len(written)} files. Services still run with the files they started with: "
                    f"run kafkactl restart {path}{f' --limit {limit}' if limit else ''} to make them use these.", style="bold")

    run_command(ctx, body)
