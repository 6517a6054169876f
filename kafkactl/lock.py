"""One run at a time per cluster: a lock on the control machine and on every host.

The local lock (flock on <state dir>/lock) stops two runs from one checkout before anything connects;
the kernel releases it when its process ends, so it is never stale. The host locks stop runs from
two machines, or from two checkouts: `mkdir` of a root-owned directory is atomic, and the holder
(who, which process, since when, which command) is written inside it. A host lock whose run ended
without releasing it (killed, machine lost) stays: it is reported as stale when this machine can
tell its process is gone, and broken only when the user passes --break-lock.
"""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from kafkactl import state_dir as private
from kafkactl.errors import KafkactlError
from kafkactl.remote import sh
from kafkactl.transport import Transport

HOST_LOCK_PARENT = "/var/lib/kafkactl"
_HELD_HERE: set[str] = set()  # tokens of the locks this process holds now
HOST_LOCK = f"{HOST_LOCK_PARENT}/run.lock"
LOCAL_LOCK = "lock"


@dataclass(frozen=True)
class Holder:
    user: str
    machine: str
    pid: int
    started: float
    command: str
    token: str

    @classmethod
    def me(cls, command: str) -> Holder:
        return cls(getpass.getuser(), socket.gethostname(), os.getpid(), time.time(), command, uuid.uuid4().hex)

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(str(data["user"]), str(data["machine"]), int(data["pid"]), float(data["started"]),
                       str(data["command"]), str(data["token"]))
        except (ValueError, KeyError, TypeError):
            return None

    def describe(self) -> str:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"`kafkactl {self.command}` by {self.user}@{self.machine} (pid {self.pid}) since {since}"

    def gone(self) -> bool:
        """True only when this machine can see that the holder's run is over: its process no longer runs,
        or it is this very process and the lock is not one it holds now (an earlier run in it)."""
        if self.machine != socket.gethostname():
            return False
        if self.pid == os.getpid():
            return self.token not in _HELD_HERE
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False


class ClusterLock:
    """Held for the whole of a run that changes hosts; `with ClusterLock(...)`."""

    def __init__(self, state_dir: Path, transport: Transport, command: str, *, break_lock: bool = False,
                 resuming: bool = False) -> None:
        self.state_dir = state_dir
        self.transport = transport
        self.holder = Holder.me(command)
        self.break_lock = break_lock
        self.resuming = resuming  # a stale lock of the same command from this machine is the run being resumed
        self.broken: list[str] = []  # locks of gone runs removed under --break-lock
        self.release_problems: list[str] = []
        self._local: IO[str] | None = None
        self._held: list[str] = []

    def __enter__(self) -> ClusterLock:
        self._take_local()
        _HELD_HERE.add(self.holder.token)
        try:
            self._take_hosts()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._release_hosts()
        _HELD_HERE.discard(self.holder.token)
        if self._local is not None:
            self._local.close()  # closing the descriptor releases the flock
            self._local = None

    def _take_local(self) -> None:
        path = private.prepare(self.state_dir) / LOCAL_LOCK
        handle = open(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600), "r+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = Holder.parse(handle.read())
            handle.close()
            who = holder.describe() if holder else "another kafkactl run"
            raise KafkactlError(f"{path}: this cluster is locked by {who}; wait for it to finish. No host was touched.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(asdict(self.holder)) + "\n")
        handle.flush()
        self._local = handle

    def _take_hosts(self) -> None:
        names = list(self.transport.hosts)
        outcomes = self.transport.each(names, self._take_host)
        errors = [str(result) for _, result in outcomes if isinstance(result, BaseException)]
        self._held = [name for name, result in outcomes if result is True]
        refusals = [result for _, result in outcomes if isinstance(result, str)]
        if errors or refusals:
            problems = refusals + errors
            raise KafkactlError(*problems, "No host was changed.")

    def _take_host(self, name: str, may_break: bool = True) -> bool | str:
        """True when taken; else a line naming the holder."""
        connection = self.transport.connection(name)
        claim = json.dumps(asdict(self.holder)).encode() + b"\n"
        take = sh(
            "mkdir -p -m 0700 {parent} && if mkdir -m 0700 {lock} 2>/dev/null; then cat > {lock}/holder && echo taken; "
            "else cat {lock}/holder 2>/dev/null; echo; echo held; fi",
            parent=HOST_LOCK_PARENT, lock=HOST_LOCK,
        )
        answer = connection.run(take, stdin=claim).stdout.strip().splitlines()
        if answer[-1:] == ["taken"]:
            return True
        holder = Holder.parse("\n".join(answer[:-1]).strip())
        stale = holder is None or holder.gone()
        resumed = stale and holder is not None and self.resuming and (holder.machine, holder.command) == (
            self.holder.machine, self.holder.command)
        if (self.break_lock or resumed) and may_break:
            connection.run(sh("rm -rf -- {lock}", lock=HOST_LOCK))
            why = "the run being resumed" if resumed else "--break-lock"
            self.broken.append(f"host {name}: broke the lock of {holder.describe() if holder else 'an unreadable holder'} ({why})")
            return self._take_host(name, may_break=False)
        who = holder.describe() if holder else f"an unreadable holder in {HOST_LOCK}"
        if stale:
            return (f"host {name}: a stale lock of {who} (that run is gone); "
                    "if no other kafkactl run is working on this cluster, run again with --break-lock")
        return f"host {name}: this cluster is locked by {who}; wait for it to finish, or if that run is gone, use --break-lock"

    def _release_hosts(self) -> None:
        release = sh(
            "if grep -qs {token} {lock}/holder; then rm -rf -- {lock}; fi", token=self.holder.token, lock=HOST_LOCK,
        )
        held, self._held = self._held, []
        for name, result in self.transport.each(held, lambda name: self.transport.connection(name).run(release)):
            if isinstance(result, BaseException):
                self.release_problems.append(f"host {name}: could not release {HOST_LOCK}: {result}")
