"""Shared by the tests: the repository root, secrets of the secure example, kafkactl run in-process."""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from kafkactl.cli import app
from kafkactl.environment import Environment

ROOT = Path(__file__).resolve().parent.parent
SECURE_ENV = {
    "KAFKA_KEYSTORE_PASSWORD": "ks-Secret-1",
    "KAFKA_TRUSTSTORE_PASSWORD": "ts-Secret-2",
    "KAFKA_ADMIN_PASSWORD": "admin-Secret-3",
    "KAFKA_CLIENT_PASSWORD": "client-Secret-4",
    "ZOOKEEPER_KAFKA_PASSWORD": "zk-Secret-5",
}


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str, variables: Mapping[str, str] | None = None, stdin: str = "") -> Outcome:
    """Run kafkactl in-process with its own stdout/stderr, as a user would type it."""
    stdout, stderr = io.StringIO(), io.StringIO()
    env = Environment(stdout=stdout, stderr=stderr, stdin=io.StringIO(stdin), variables=dict(variables or {}))
    result = CliRunner().invoke(app, list(args), obj=env, catch_exceptions=False)
    return Outcome(result.exit_code, stdout.getvalue() + result.stdout, stderr.getvalue() + result.stderr)


def eventually(check: Callable[[], bool], within: float, every: float = 0.2) -> bool:
    """Whether `check` comes true within `within` seconds, asked every `every` seconds."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True
