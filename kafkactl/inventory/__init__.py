"""Inventory stage: an Ansible-style YAML inventory in, the validated model (or clear errors) out."""

from __future__ import annotations

from pathlib import Path

from kafkactl.inventory.loader import load_inventory
from kafkactl.inventory.validate import Loaded, validate


def read_inventory(path: Path) -> Loaded:
    return validate(load_inventory(path))


__all__ = ["Loaded", "read_inventory"]
