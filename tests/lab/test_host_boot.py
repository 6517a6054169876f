"""Hosts started from the lab image boot ready, as Molecule's containers start: no key step before the
first boot, the machine's CPUs busy. sshd must come up on every host at the first try (host keys are
made before it starts, so it never fails into systemd's start limit), answer from this machine, and
every host must have host keys of its own."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from kafkactl.lab.hosts import hybrid_cgroup2_mount
from kafkactl.lab.image import ensure_image
from kafkactl.lab.system import prepare_machine
from labkit import wait_until

HOSTS = 4
LOAD_SECONDS = 60  # each busy loop ends by itself, even if the test is killed
BOOT_TIMEOUT_S = 180


@pytest.fixture
def busy_cpus():
    """Two busy loops (the machine has two cores), bounded in time."""
    loops = [subprocess.Popen(["timeout", str(LOAD_SECONDS), "sh", "-c", "while :; do :; done"]) for _ in range(2)]
    yield
    for loop in loops:
        loop.terminate()
        loop.wait(timeout=30)


@pytest.fixture
def containers():
    names = [f"kafkactl-boot-{os.getpid()}-{index}" for index in range(HOSTS)]
    yield names
    subprocess.run(["podman", "rm", "--force", "--ignore", "--time", "5", *names], capture_output=True, timeout=180)


def _podman(*args: str) -> str:
    return subprocess.run(["podman", *args], check=True, capture_output=True, text=True, timeout=120).stdout


def _in(container: str, *command: str) -> str:
    result = subprocess.run(["podman", "exec", container, *command], capture_output=True, text=True, timeout=60)
    return result.stdout.strip() or result.stderr.strip()


def test_hosts_boot_with_sshd_up_and_host_keys_of_their_own(busy_cpus, containers) -> None:
    prepare_machine()
    image, _ = ensure_image()
    unified = hybrid_cgroup2_mount()
    volume = ["--volume", f"{unified}:/sys/fs/cgroup/unified:rw"] if unified else []
    for name in containers:  # podman's default network: addresses of its own choosing, no clash with any lab
        _podman("run", "--detach", "--name", name, "--systemd", "always", *volume, image, "/sbin/init")

    host_keys = {}
    for name in containers:
        wait_until(name, "ssh.service active", lambda n=name: _in(n, "systemctl", "is-active", "ssh"),
                   lambda state: state == "active", BOOT_TIMEOUT_S)
        restarts = _in(name, "systemctl", "show", "-p", "NRestarts", "--value", "ssh")
        assert restarts == "0", f"{name}: ssh.service restarted {restarts} times before it ran:\n" + _in(
            name, "journalctl", "-u", "ssh", "--no-pager", "-n", "20")
        networks = json.loads(_podman("inspect", name))[0]["NetworkSettings"]["Networks"]
        address = next(iter(networks.values()))["IPAddress"]
        scan = wait_until(name, f"host keys from sshd at {address}:22",
                          lambda a=address: subprocess.run(["ssh-keyscan", "-T", "5", a], capture_output=True, text=True,
                                                           timeout=60).stdout,
                          lambda found: len(found.splitlines()) >= 3, 60)
        host_keys[name] = sorted(line.split(None, 1)[1] for line in scan.splitlines() if not line.startswith("#"))

    for name, keys in host_keys.items():
        shared = [other for other, theirs in host_keys.items() if other != name and set(theirs) & set(keys)]
        assert not shared, f"{name} shares host keys with {shared}"
    print(f"{HOSTS} hosts booted under load with sshd up at the first try and host keys of their own")
