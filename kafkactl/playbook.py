"""playbooks/*.yml: the declarative sequence of built-in steps a command runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kafkactl.errors import KafkactlError
from kafkactl.model import Component
from kafkactl.resources import resource_dir

STEP_NAMES = ("prepare", "start", "roll", "restart")
ALL = "all"


@dataclass(frozen=True)
class Step:
    name: str
    target: str  # "all" or a component group

    def __str__(self) -> str:
        return f"{self.name} {self.target}"


@dataclass(frozen=True)
class Playbook:
    name: str
    steps: tuple[Step, ...]


def load_playbook(name: str) -> Playbook:
    path: Path = resource_dir("playbooks") / f"{name}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    steps = []
    for index, entry in enumerate(data["steps"], start=1):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise KafkactlError(f"{path}: step {index}: expected one `step: target` pair")
        (step, target), = entry.items()
        if step not in STEP_NAMES:
            raise KafkactlError(f"{path}: step {index}: unknown step {step!r} (steps: {', '.join(STEP_NAMES)})")
        if target != ALL and target not in {c.value for c in Component}:
            raise KafkactlError(f"{path}: step {index}: unknown target {target!r}")
        steps.append(Step(step, target))
    return Playbook(data["name"], tuple(steps))
