"""Light lab hosts: kafkactl's files and units in place, and no JVM, for measuring fan-out.

`kafkactl lab up --light N` brings up N hosts (light1 to lightN: three KRaft controllers, the rest
brokers) and lays over each what a converged apply leaves there: the service account, the
directories, a Kafka install, every rendered file with its owner and mode, and the units enabled
and running. The inventory names a stand-in for Java that only sleeps, so a host costs a few tens of
megabytes instead of a JVM, and `kafkactl apply` on it has nothing to do. What these hosts measure
is kafkactl's fan-out (facts, plan, a no-op apply); no Kafka runs on them.
"""

from __future__ import annotations

import io
import tarfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kafkactl.desired import HostState, desired_state
from kafkactl.executor import service_account
from kafkactl.inventory import read_inventory
from kafkactl.remote import all_of, cmd

from ._run import LabError, add_to_tar, run
from .inventory import lab_inventory

MIN_HOSTS = 4  # three controllers and a broker
STAND_IN_JAVA = "/usr/local/bin/light-host-java"
STAND_IN_SCRIPT = """#!/bin/sh
# A light lab host runs no JVM: kafkactl's units start this in Java's place, and it only sleeps.
if [ "$1" = -version ]; then
    echo 'openjdk version "17" (a light lab host: no JVM runs here)'
    exit 0
fi
exec sleep infinity
"""


def light_hosts(count: int) -> dict[str, list[str]]:
    """light1 to light<count>: the first three KRaft controllers, the others brokers."""
    if count < MIN_HOSTS:
        raise LabError(f"--light needs at least {MIN_HOSTS} hosts (3 KRaft controllers and a broker), not {count}")
    names = [f"light{i}" for i in range(1, count + 1)]
    return {"kafka_controller": names[:3], "kafka_broker": names[3:]}


def light_inventory(groups: dict[str, list[str]], **common) -> dict:
    """The lab inventory for these hosts, with the stand-in for Java and no JMX exporter (there is no JVM to serve it)."""
    inventory = lab_inventory(groups, **common)
    variables = inventory["all"]["vars"]
    for key in [key for key in variables if key.startswith("jmxexporter_")]:
        del variables[key]
    variables.update(jmxexporter_enabled=False, java_executable=STAND_IN_JAVA)
    return inventory


def seed(containers: dict[str, str], inventory: Path) -> None:
    """Lay a converged apply's result over every host of the inventory, 8 at a time."""
    loaded = read_inventory(inventory).inventory
    user, group = loaded.cluster.kafka_service_user, loaded.cluster.kafka_service_group
    states = desired_state(loaded).hosts

    def seed_host(state: HostState) -> None:
        services = [s.name for s in state.services]
        script = all_of(
            *service_account(user, group),
            # GNU tar gives entries the owners they name: the account exists by now.
            cmd("tar", "-x", "-p", "--same-owner", "-C", "/"),
            cmd("systemctl", "daemon-reload"),
            cmd("systemctl", "enable", "--quiet", *services),
            # A restart, not a start: a file written again must not be newer than its service's start.
            cmd("systemctl", "restart", *services),
        )
        run(["podman", "exec", "-i", containers[state.host.name], "sh", "-c", script.text], input=_layer(state), timeout=120)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(seed_host, states))


def _layer(state: HostState) -> bytes:
    """A tar of the host's directories, Kafka install, stand-in for Java and files, with their owners and modes."""
    buffer = io.BytesIO()
    written = int(time.time()) - 60

    def add(tar: tarfile.TarFile, path: str, mode: str, owner: str = "root", group: str = "root", data: bytes | None = None) -> None:
        add_to_tar(tar, path, data, int(mode, 8), written, owner=owner, group=group)

    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in state.directories:
            add(tar, directory.path, directory.mode, directory.owner, directory.group)
        if state.kafka_home:
            add(tar, state.kafka_home, "0755")
            add(tar, f"{state.kafka_home}/libs", "0755")
        add(tar, STAND_IN_JAVA, "0755", data=STAND_IN_SCRIPT.encode())
        for managed in state.files:
            data = managed.data if managed.data is not None else managed.content.encode()
            add(tar, managed.path, managed.mode, managed.owner, managed.group, data)
    return buffer.getvalue()
