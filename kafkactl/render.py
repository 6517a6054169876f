"""`kafkactl render`: every file apply would put on every host, written under DIR/<host>/<path>."""

from __future__ import annotations

import os
from pathlib import Path

from kafkactl.desired import DesiredState
from kafkactl.errors import KafkactlError


def write_rendered(desired: DesiredState, out: Path) -> int:
    count = 0
    made: set[Path] = set()
    top = Path(os.path.abspath(out))
    for state in desired.hosts:
        for managed in state.files:
            # Names and paths are validated; this keeps a write outside DIR impossible even so.
            target = Path(os.path.normpath(top / state.host.name / managed.path.lstrip("/")))
            if top not in target.parents:
                raise KafkactlError(f"host {state.host.name}: {managed.path} would be written outside {out}; nothing more was written")
            if target.parent not in made:
                target.parent.mkdir(parents=True, exist_ok=True)
                if not target.parent.resolve().is_relative_to(top.resolve()):
                    raise KafkactlError(f"{target.parent} leads outside {out} (a symbolic link); nothing more was written")
                made.add(target.parent)
            # Rendered files hold real secrets: created with their target mode, never world-readable first,
            # and never through a link planted at the file's own name.
            try:
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, int(managed.mode, 8))
            except OSError as exc:
                raise KafkactlError(f"{target}: cannot write: {exc.strerror}") from None
            try:
                os.fchmod(fd, int(managed.mode, 8))
                os.write(fd, managed.payload)
            finally:
                os.close(fd)
            count += 1
    return count
