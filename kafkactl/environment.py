"""What the CLI reads from and writes to, injected so tests run every command in-process."""

from __future__ import annotations

import datetime
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TextIO


@dataclass
class Environment:
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    variables: Mapping[str, str] = field(default_factory=lambda: os.environ)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time  # seconds since the epoch: certificate expiry
    sleep: Callable[[float], None] = time.sleep  # between the readings of `status --watch`

    def now(self) -> datetime.datetime:
        return datetime.datetime.fromtimestamp(self.wall_clock(), datetime.timezone.utc)

    @property
    def color(self) -> bool:
        return "NO_COLOR" not in self.variables and self.stdout.isatty()
