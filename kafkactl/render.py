"""`kafkactl render`: every file apply would put on every host, written under DIR/<host>/<path>."""

from __future__ import annotations

import os
from pathlib import Path

from kafkactl.desired import DesiredState


def write_rendered(desired: DesiredState, out: Path) -> int:
    count = 0
    made: set[Path] = set()
    for state in desired.hosts:
        root = out / state.host.name
        for managed in state.files:
            target = root / managed.path.lstrip("/")
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                made.add(target.parent)
            # Rendered files hold real secrets: created with their target mode, never world-readable first.
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, int(managed.mode, 8))
            try:
                os.fchmod(fd, int(managed.mode, 8))
                os.write(fd, managed.content.encode("utf-8"))
            finally:
                os.close(fd)
            count += 1
    return count
