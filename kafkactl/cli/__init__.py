"""The kafkactl command line: one module per command group, thin commands over the stages
inventory -> desired -> plan -> report."""

from __future__ import annotations

from typing import Annotated

import typer

from kafkactl.cli.common import app, flag
from kafkactl import __version__
from kafkactl.report import Exit

from kafkactl.cli import backup, certs, lab, migrate, monitoring
from kafkactl.cli.cluster import variables_markdown  # and the commands on a whole cluster, on `app`

app.add_typer(certs.app, name="certs")
app.add_typer(backup.app, name="backup")
app.add_typer(migrate.app, name="migrate")
app.add_typer(monitoring.app, name="monitoring")
app.add_typer(lab.app, name="lab")

__all__ = ["app", "main", "variables_markdown"]


def _version(value: bool) -> None:
    if value:
        print(f"kafkactl {__version__}")
        raise typer.Exit(int(Exit.OK))


@app.callback()
def _root(
    version: Annotated[bool, flag("--version", callback=_version, is_eager=True, help="Print the version.")] = False,
) -> None:
    """kafkactl: declarative Kafka operations. Plan first, then apply; rolling and health-gated."""


def main() -> None:
    app()
