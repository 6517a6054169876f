"""kafkactl certs: kafkactl's own certificate authority, key and trust stores for every host."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from kafkactl.cli.common import (
    AcceptNewKeysOption, ForksOption, InsecureOption, InventoryArg, InventoryFlag, StateJsonOption, connected,
    either, inventory_path, loaded_inventory, run_command, state_dir_of,
)
from kafkactl.desired import desired_state
from kafkactl.errors import KafkactlError
from kafkactl.model import Phase
from kafkactl.report import Report


app = typer.Typer(help="kafkactl's own certificate authority: key and trust stores for every host.", no_args_is_help=True)


@app.command("create")
def certs_create(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None) -> None:
    """Make the CA (once) and a key store for each host that lacks a current one, in the state directory's pki/."""
    inventory = either(inventory, inventory_flag)
    from kafkactl import pki

    def body(report: Report) -> None:
        path = inventory_path(report.env, inventory)
        inv = loaded_inventory(report, path, key_stores="ignored").inventory
        directory = (state_dir_of(report.env, path) / "pki").resolve()
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

    run_command(ctx, body)


@app.command("renew")
def certs_renew(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    hosts: Annotated[Optional[list[str]], typer.Option("--host", help="Only this host (repeat for more); every host when "
                                                                      "none is named.", show_default=False)] = None,
) -> None:
    """A new key and certificate from the same CA, for the same names, for every host (or those named); the next apply
    ships them, and running brokers reload them with no restart."""
    inventory = either(inventory, inventory_flag)
    from kafkactl import pki

    def body(report: Report) -> None:
        path = inventory_path(report.env, inventory)
        inv = loaded_inventory(report, path, key_stores="ignored").inventory
        made = pki.renew((state_dir_of(report.env, path) / "pki").resolve(), inv, hosts or [], report.env.now())
        for host in made.hosts_made:
            report.line(f"  {host}: key store renewed ({pki.keystore_name(host)})")
        report.line(f"Run `kafkactl apply {path}`: brokers reload their key stores with no restart; other services roll.")

    run_command(ctx, body)


@app.command("rotate-ca")
def certs_rotate_ca(
    ctx: typer.Context,
    inventory: InventoryArg = None,
    inventory_flag: InventoryFlag = None,
    step: Annotated[str, typer.Option("--step", help="trust-new-ca | sign-with-new-ca | drop-old-ca, in this order, "
                                                     "each followed by an apply.")] = "",
) -> None:
    """Replace kafkactl's CA with no moment where a host distrusts another: three steps, each followed by an apply."""
    inventory = either(inventory, inventory_flag)
    from kafkactl import pki

    def body(report: Report) -> None:
        if step not in pki.ROTATION_STEPS:
            raise KafkactlError(f"--step: {step!r} is not one of {', '.join(pki.ROTATION_STEPS)}")
        path = inventory_path(report.env, inventory)
        inv = loaded_inventory(report, path, key_stores="ignored").inventory
        report.line(pki.rotate_ca((state_dir_of(report.env, path) / "pki").resolve(), inv, step, report.env.now()))

    run_command(ctx, body)


@app.command("status")
def certs_status(ctx: typer.Context, inventory: InventoryArg = None, inventory_flag: InventoryFlag = None, forks: ForksOption = 20,
                 accept_new_host_keys: AcceptNewKeysOption = False, insecure_skip_host_key_check: InsecureOption = False,
                 as_json: StateJsonOption = False) -> None:
    """Each host's key store: whether the host has the one the inventory ships, and when its certificate expires."""
    inventory = either(inventory, inventory_flag)
    from kafkactl import pki
    from kafkactl.facts import gather_all

    def body(report: Report) -> None:
        path = inventory_path(report.env, inventory)
        inv = loaded_inventory(report, path).inventory
        desired = desired_state(inv, inv.natural_phase or Phase.DUAL_WRITE)
        with connected(report, inv, accept_new_host_keys, insecure_skip_host_key_check, forks) as transport:
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

    run_command(ctx, body)
