"""Run journals: what every apply, restart and migration did, host by host, so a stopped run can resume.

One JSON file per run under <state dir>/runs/, rewritten atomically after every step.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

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
            entries=[Entry(**asdict(e)) for e in resumes.entries if e.status == "done" or e.restarted] if resumes else [],
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

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: v for k, v in asdict(self).items() if k != "path"}
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=2) + "\n")
        os.replace(temporary, self.path)

    @classmethod
    def load(cls, path: Path) -> Journal:
        data = json.loads(path.read_text())
        entries = [Entry(**e) for e in data.pop("entries")]
        return cls(path=path, entries=entries, **data)


def runs(state_dir: Path) -> list[Journal]:
    """Every recorded run, newest first."""
    folder = state_dir / "runs"
    if not folder.is_dir():
        return []
    return sorted((Journal.load(p) for p in folder.glob("*.json")), key=lambda j: j.started, reverse=True)


def resumable(state_dir: Path, command: str, inventory: Path) -> Journal:
    """The last run of this command on this inventory, if it stopped; refuses anything else."""
    same = [j for j in runs(state_dir) if j.command == command and j.inventory == str(inventory.resolve())]
    if not same:
        raise KafkactlError(f"--resume: no earlier {command} run on {inventory} is recorded in {state_dir / 'runs'}")
    last = same[0]
    if last.status == "done":
        raise KafkactlError(f"--resume: the last {command} run on {inventory} ({last.run_id}) finished; there is nothing to resume")
    return last
