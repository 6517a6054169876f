"""cp-ansible inventories as they are: the ids cp-ansible gives, and its variables with its meaning."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kafkactl.inventory import read_inventory

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "cp_ansible_inventories.yml").read_text())


def _value(cluster, dotted: str):
    head, _, rest = dotted.partition(".")
    if head == "listener":
        key, field = rest.split(".")
        return getattr(cluster.resolved_listeners[key], field)
    value = getattr(cluster, head)
    for part in rest.split(".") if rest else ():
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_ids_and_values_as_cp_ansible_gives_them(case: dict, tmp_path: Path) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text(case["inventory"])
    inventory = read_inventory(path).inventory
    hosts = {h.name: h for h in inventory.hosts}
    given = {name: {key: getattr(hosts[name], key) for key in ids} for name, ids in case["ids"].items()}
    assert given == case["ids"]
    for dotted, wanted in (case.get("checks") or {}).items():
        assert _value(inventory.cluster, dotted) == wanted, dotted
