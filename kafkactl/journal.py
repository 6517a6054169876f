"""Run journals: what every apply, restart and migration did, host by host, so a stopped run can resume.

One JSON file per run under <state dir>/runs/ (0600), rewritten atomically and durably after every
step. A damaged journal is reported by its file name and never stops the others from being read.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from kafkactl import state_dir as private
from kafkactl.errors import KafkactlError

Status = Literal["running", "done", "failed"]


@dataclass
class Entry:
    step: str
    host: str
    status: Status = "running"
    started: float = field(default_factory=time.time)
    ended: float | None = None
    restarted: bool = False  # the service was restarted (a failed gate after it is not a reason to restart again)
    restarted_at: float | None = None
    # Set just before a restart is asked for: the service's start time (host clock) seen then, so a resumed
    # run can tell whether a restart interrupted by Ctrl-C or a lost connection took place.
    restart_requested: bool = False
    start_seen_before_restart: int | None = None
    detail: str = ""


@dataclass
class Journal:
    path: Path
    command: str
    inventory: str
    run_id: str
    started: float
    status: Status = "running"
    ended: float | None = None
    resumes: str | None = None  # the run this one continues
    entries: list[Entry] = field(default_factory=list)

    @classmethod
    def start(cls, state_dir: Path, command: str, inventory: Path, resumes: Journal | None = None) -> Journal:
        run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        journal = cls(
            path=state_dir / "runs" / f"{run_id}.json",
            command=command,
            inventory=str(inventory.resolve()),
            run_id=run_id,
            started=time.time(),
            resumes=resumes.run_id if resumes else None,
            # What the stopped run finished, and the hosts it restarted before a gate stopped it.
            entries=[Entry(**asdict(e)) for e in resumes.entries
                     if e.status == "done" or e.restarted or e.restart_requested] if resumes else [],
        )
        journal.save()
        return journal

    def begin(self, step: str, host: str) -> Entry:
        entry = Entry(step, host)
        self.entries.append(entry)
        self.save()
        return entry

    def end(self, entry: Entry, status: Status, detail: str = "") -> None:
        entry.status, entry.ended, entry.detail = status, time.time(), detail
        self.save()

    def mark_restart_requested(self, entry: Entry, start_seen: int | None) -> None:
        entry.restart_requested, entry.start_seen_before_restart = True, start_seen
        self.save()

    def mark_restarted(self, entry: Entry, at: float) -> None:
        entry.restarted, entry.restarted_at = True, at
        self.save()

    def finish(self, status: Status) -> None:
        self.status, self.ended = status, time.time()
        self.save()

    def done(self, step: str, host: str) -> bool:
        return any(e.step == step and e.host == host and e.status == "done" for e in self.entries)

    def restarted_before(self, step: str, host: str) -> bool:
        return any(e.step == step and e.host == host and e.restarted for e in self.entries)

    def start_seen_before_restart(self, step: str, host: str) -> int | None:
        """The service's start time seen when the stopped run asked for a restart it did not see finish."""
        asked = [e for e in self.entries if e.step == step and e.host == host and e.restart_requested and not e.restarted]
        return asked[-1].start_seen_before_restart if asked else None

    def save(self) -> None:
        private.private_dir(self.path.parent)
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        private.write_private(self.path, (json.dumps(data, indent=2) + "\n").encode())

    @classmethod
    def load(cls, path: Path) -> Journal:
        """A journal read back; a file that is not one is a KafkactlError naming it."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            entries = [Entry(**e) for e in data.pop("entries")]
            return cls(path=path, entries=entries, **data)
        except (OSError, UnicodeDecodeError, ValueError, TypeError, KeyError, AttributeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else f"{type(exc).__name__}: {exc}"
            raise KafkactlError(f"{path}: damaged run journal ({reason}); move it away to keep it out of `runs` and --resume") from None


def read_runs(state_dir: Path) -> tuple[list[Journal], dict[Path, str]]:
    """Every recorded run, newest first, and what is wrong with each journal that could not be read."""
    folder = state_dir / "runs"
    journals, damaged = [], {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            journals.append(Journal.load(path))
        except KafkactlError as exc:
            damaged[path] = str(exc)
    return sorted(journals, key=lambda j: j.started, reverse=True), damaged


def owed(state_dir: Path, inventory: Path, step: str) -> bool:
    """Whether the last run on this inventory that began `step` left it unfinished (failed, or stopped before it)."""
    journals, _ = read_runs(state_dir)
    for journal in journals:
        begun = [e for e in journal.entries if e.step == step] if journal.inventory == str(inventory.resolve()) else []
        if begun:
            return any(e.status != "done" for e in begun)
    return False


def resumable(state_dir: Path, command: str, inventory: Path) -> Journal:
    """The last run of this command on this inventory, if it stopped; refuses anything else."""
    journals, damaged = read_runs(state_dir)
    same = [j for j in journals if j.command == command and j.inventory == str(inventory.resolve())]
    # Run ids start with their start time, so a damaged journal named after the last readable run may be
    # the very run to resume: guessing past it could restart a host twice.
    newer = [problem for path, problem in damaged.items() if not same or path.stem > same[0].run_id]
    if newer:
        raise KafkactlError(f"--resume: {newer[-1]}")
    if not same:
        raise KafkactlError(f"--resume: no earlier {command} run on {inventory} is recorded in {state_dir / 'runs'}")
    last = same[0]
    if last.status == "done":
        raise KafkactlError(f"--resume: the last {command} run on {inventory} ({last.run_id}) finished; there is nothing to resume")
    return last

