"""Subprocess, locking and cache-location helpers shared by the lab modules."""

from __future__ import annotations

import contextlib
import fcntl
import io
import logging
import os
import subprocess
import tarfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

log = logging.getLogger("kafkactl.lab")

CACHE_ENV = "KAFKACTL_LAB_CACHE"


class LabError(RuntimeError):
    """A lab step failed; the message says which command and why."""


def cache_dir() -> Path:
    """Directory for the base image tarball, Maven repository and Kafka archives."""
    env = os.environ.get(CACHE_ENV)
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "kafkactl-lab"
    path.mkdir(parents=True, exist_ok=True)
    return path.resolve()


def run(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    input: bytes | str | None = None,
    check: bool = True,
    timeout: float | None = 300,
    capture: bool = True,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command; raise LabError with its output when it fails and ``check`` is set."""
    argv = [os.fspath(c) for c in cmd]
    log.debug("run: %s", " ".join(argv))
    data = input.encode() if isinstance(input, str) else input
    try:
        proc = subprocess.run(
            argv,
            input=data,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            timeout=timeout,
            env=env,
            cwd=cwd,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {argv[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"timed out after {timeout}s: {' '.join(argv)}") from exc
    out = proc.stdout.decode(errors="replace") if proc.stdout is not None else ""
    err = proc.stderr.decode(errors="replace") if proc.stderr is not None else ""
    result = subprocess.CompletedProcess(argv, proc.returncode, out, err)
    if check and proc.returncode != 0:
        detail = (err.strip() or out.strip())[-2000:]
        raise LabError(f"exit {proc.returncode}: {' '.join(argv)}\n{detail}")
    return result


def as_root(cmd: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Prefix ``cmd`` with non-interactive sudo unless already running as root."""
    argv = [os.fspath(c) for c in cmd]
    return argv if os.geteuid() == 0 else ["sudo", "-n", *argv]


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = 1800) -> Iterator[None]:
    """Exclusive advisory lock on ``path`` so concurrent ``up``/``down`` calls serialize."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabError(f"could not lock {path} within {timeout}s") from None
                time.sleep(0.5)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def atomic_write(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` through a temporary file and rename."""
    raw = data.encode() if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(raw)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def add_to_tar(tar: tarfile.TarFile, path: str, data: bytes | None, mode: int, mtime: int, *, uid: int = 0,
               owner: str = "", group: str = "") -> None:
    """A file (or, with data None, a directory) in a tar laid over a host's root; `owner` and `group` by name, which
    GNU tar prefers to the numeric `uid` when it extracts as root."""
    entry = tarfile.TarInfo(path.lstrip("/"))
    entry.mode, entry.uid, entry.gid, entry.uname, entry.gname, entry.mtime = mode, uid, uid, owner, group, mtime
    if data is None:
        entry.type = tarfile.DIRTYPE
        tar.addfile(entry)
    else:
        entry.size = len(data)
        tar.addfile(entry, io.BytesIO(data))
