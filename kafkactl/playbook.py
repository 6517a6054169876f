"""playbooks/*.yml: the declarative sequence of built-in steps a command runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kafkactl.errors import KafkactlError
from kafkactl.model import Component
from kafkactl.resources import resource_dir

ALL = "all"
# Completion signals a `wait_for` step can name (read from the live cluster: kafkactl/migration/evidence.py).
SIGNALS = ("metadata_migrated", "migration_finalized", "zookeeper_controller_elected")
COMPONENTS = frozenset(c.value for c in Component)
# Each built-in step and the targets it takes.
STEP_TARGETS = {
    "prepare": COMPONENTS | {ALL},  # service user, directories, Kafka archive
    "start": COMPONENTS,  # services not running yet
    "roll": COMPONENTS,  # changed files, one host at a time behind the role's gates
    "restart": COMPONENTS,  # every member, changed or not
    "backup": {ALL},  # files the run changes, meta.properties, ZooKeeper data
    "retire": COMPONENTS,  # stop and disable the service, move its state aside
    "wait_for": frozenset(SIGNALS),
    "delete_znodes": None,  # space-separated absolute ZooKeeper paths
    "scram_users": {Component.KAFKA_BROKER.value},  # the planned SCRAM credential changes, through a running broker
    "connectors": {Component.KAFKA_CONNECT.value},  # the planned connector changes, through a running worker's REST API
    "metadata_version": {Component.KAFKA_CONTROLLER.value},  # the planned metadata.version move, through a controller
    "zookeeper_acls": {Component.KAFKA_BROKER.value},  # the existing znodes secured, once every broker logs in to ZooKeeper
    "packages": {ALL},  # Prometheus and its exporters from Debian packages: installed, configured, reloaded, ready
}


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
    phase: str | None = None  # the render the steps work towards (migration playbooks)
    from_states: tuple[str, ...] = ()  # migration states the playbook may start from
    to_state: str | None = None  # the state it leaves the cluster in


def load_playbook(name: str) -> Playbook:
    path: Path = resource_dir("playbooks") / f"{name}.yml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    steps = []
    for index, entry in enumerate(data["steps"], start=1):
        if not isinstance(entry, dict) or len(entry) != 1:
            raise KafkactlError(f"{path}: step {index}: expected one `step: target` pair")
        (step, target), = entry.items()
        if step not in STEP_TARGETS:
            raise KafkactlError(f"{path}: step {index}: unknown step {step!r} (steps: {', '.join(STEP_TARGETS)})")
        allowed = STEP_TARGETS[step]
        valid = all(p.startswith("/") for p in str(target).split()) if allowed is None else target in allowed
        if not valid:
            raise KafkactlError(f"{path}: step {index}: {step} cannot target {target!r}")
        steps.append(Step(step, str(target)))
    return Playbook(data["name"], tuple(steps), data.get("phase"), tuple(str(s) for s in data.get("from", ())),
                    str(data["to"]) if "to" in data else None)
