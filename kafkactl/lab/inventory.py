"""The inventories `kafkactl lab up` writes for its hosts: ready to plan, apply and migrate."""

from __future__ import annotations

from pathlib import Path

import yaml

LAYOUTS = {
    # name: groups and their hosts, in the order they come up
    "zookeeper": {"zookeeper": ["zk1", "zk2", "zk3"], "kafka_broker": ["kafka1", "kafka2", "kafka3"]},
    "kraft": {"kafka_controller": ["controller1", "controller2", "controller3"], "kafka_broker": ["kafka1", "kafka2", "kafka3"]},
}
# Heaps small enough for a full lab (3 ZooKeeper, 3 controllers, 3 brokers, Connect) on 2 cores and 24 GiB.
LAB_HEAPS = {"zookeeper": "128m", "kafka_controller": "192m", "kafka_broker": "256m", "kafka_connect": "256m"}


def layout_hosts(layout: str, connect: bool = False, controllers: bool = False) -> dict[str, list[str]]:
    groups = {group: list(hosts) for group, hosts in LAYOUTS[layout].items()}
    if controllers and "kafka_controller" not in groups:
        groups = {"zookeeper": groups["zookeeper"], "kafka_controller": LAYOUTS["kraft"]["kafka_controller"],
                  "kafka_broker": groups["kafka_broker"]}
    if connect:
        groups["kafka_connect"] = ["connect1"]
    return groups


def lab_inventory(groups: dict[str, list[str]], addresses: dict[str, str], ssh_key: Path, known_hosts: Path,
                  archive: Path, sha256: str, version: str, jump_hosts: dict[str, str], exporter_jar: Path,
                  exporter_sha256: str) -> dict:
    def host_vars(name: str) -> dict:
        entry = {"ansible_host": addresses[name]}
        if name in jump_hosts:  # reachable only through another lab host
            entry["ansible_ssh_common_args"] = f"-o UserKnownHostsFile={known_hosts} -o ProxyJump={jump_hosts[name]}"
        return entry

    return {
        "all": {
            "vars": {
                "ansible_user": "root",
                "ansible_ssh_private_key_file": str(ssh_key),
                "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts}",
                "kafka_version": version,
                "kafka_archive_source": str(archive),
                "kafka_archive_sha256": sha256,
                # Every JVM serves Prometheus metrics, with the agent jar uploaded from this machine.
                "jmxexporter_enabled": True,
                "jmxexporter_url_remote": False,
                "jmxexporter_jar_url": str(exporter_jar),
                "jmxexporter_jar_sha256": exporter_sha256,
            },
            "children": {
                group: {
                    "vars": {f"{group}_heap": LAB_HEAPS[group]},
                    "hosts": {name: host_vars(name) for name in hosts},
                }
                for group, hosts in groups.items()
            },
        }
    }


def write_inventory(path: Path, inventory: dict, title: str) -> Path:
    path.write_text(f"# {title}\n# Written by `kafkactl lab up`; the hosts are the local lab's containers.\n"
                    + yaml.safe_dump(inventory, sort_keys=False))
    return path
