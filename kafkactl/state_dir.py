"""The state directory on the control machine: what kafkactl remembers about one cluster.

It holds the KRaft cluster id, run journals, the run lock and backups (configuration files with
secrets, ZooKeeper data), so it is private to its owner (0700, files 0600) and tells git to ignore it,
as it often sits next to an inventory inside a checkout. Files are written whole or not at all:
a temporary file beside the target, fsynced, renamed, then the directory fsynced.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

GITIGNORE = "# kafkactl state: cluster id, journals, locks and backups (secrets). Never commit it.\n*\n"


def prepare(path: Path) -> Path:
    """The directory, made private (0700) with a .gitignore; an existing one is tightened, not loosened."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        path.chmod(0o700)
    ignore = path / ".gitignore"
    if not ignore.exists():
        write_private(ignore, GITIGNORE.encode())
    return path


def private_dir(path: Path) -> Path:
    """A folder inside the state directory, 0700."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _write_temporary(path: Path, data: bytes) -> Path:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    return temporary


def _sync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def write_private(path: Path, data: bytes) -> None:
    """Replace the file atomically and durably, mode 0600."""
    temporary = _write_temporary(path, data)
    os.replace(temporary, path)
    _sync_dir(path.parent)


def create_once(path: Path, data: bytes) -> bytes:
    """Create the file only if it does not exist yet, atomically; returns what the file holds afterwards
    (the caller's data, or what another process stored first)."""
    temporary = _write_temporary(path, data)
    try:
        os.link(temporary, path)  # fails if the file exists: the first writer wins
        _sync_dir(path.parent)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_bytes()
