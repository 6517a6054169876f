"""Lab tests: real hosts (podman containers with systemd and sshd) running real ZooKeeper and Kafka JVMs.

They bring the lab up themselves (`kafkactl lab up`, which installs what it needs) and take it down
at the end of each module. Deselect them with `-m "not lab"`. They run beside another lab on the same
machine with `KAFKACTL_LAB_NAME=NAME KAFKACTL_LAB_SUBNET=10.219.N.0/24`: host names, addresses and
container names come from what `lab up` recorded (inventory.yml, lab.json), never from constants.
Labs share host names, and Kafka clients here resolve them through /etc/hosts; beside a lab that may
be brought up again meanwhile, give the run an /etc/hosts of its own:

    unshare --mount --propagation private sh -c 'cp /etc/hosts /tmp/NAME.hosts &&
        mount --bind /tmp/NAME.hosts /etc/hosts && exec python3 -m pytest tests/lab/...'
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from helpers import run_cli

T = TypeVar("T")
# The BROKER listener kafkactl gives every broker unless the inventory says otherwise (kafkactl/model.py).
BROKER_PORT = 9091


class Metrics(dict[str, list[tuple[dict[str, str], float]]]):
    """Prometheus text exposition: metric name -> its samples, each (labels, value)."""

    SAMPLE = re.compile(r'^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)')
    LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')

    @classmethod
    def parse(cls, text: str) -> Metrics:
        metrics = cls()
        for line in text.splitlines():
            if (sample := cls.SAMPLE.match(line)) and not line.startswith("#"):
                name, labels, value = sample.groups()
                metrics.setdefault(name, []).append((dict(cls.LABEL.findall(labels or "")), float(value)))
        return metrics

    def value(self, name: str, **labels: str) -> float:
        """The one sample of `name` with these labels."""
        (found,) = [value for have, value in self.get(name, []) if labels.items() <= have.items()]
        return found


def wait_until(host: str, awaited: str, observe: Callable[[], T], done: Callable[[T], bool], timeout: float,
               interval: float = 1.0) -> T:
    """Poll `observe()` until `done(observation)`; past `timeout` fail naming the host, what was awaited and
    the last observation (an exception raised by `observe` counts as an observation)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            last: T | str = observe()
            if done(last):
                return last
        except Exception as exc:  # noqa: BLE001 - the failure message shows it
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise AssertionError(f"{host}: {awaited}: not within {timeout:.0f} s; last observed: {last!r}")
        time.sleep(interval)


class Lab:
    """A lab brought up for one test module: its inventory, its hosts as recorded, and a way into them."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.inventory = state_dir / "inventory.yml"
        self.recorded = json.loads((state_dir / "lab.json").read_text())

    def hosts(self, group: str) -> list[str]:
        """The inventory's hosts of `group`, in inventory order."""
        data = yaml.safe_load(self.inventory.read_text())
        return list(data["all"]["children"][group]["hosts"])

    def address(self, host: str) -> str:
        return self.recorded["hosts"][host]["address"]

    def container(self, host: str) -> str:
        return self.recorded["hosts"][host]["container"]

    def inventory_vars(self) -> dict:
        return yaml.safe_load(self.inventory.read_text())["all"]["vars"]

    def bootstrap(self) -> str:
        """The brokers' client endpoints, by the names they advertise: first checks that this machine resolves
        each name to this lab's address (another lab of the same host names brought up later wins /etc/hosts)."""
        brokers = self.hosts("kafka_broker")
        for broker in brokers:
            resolved = socket.gethostbyname(broker)
            assert resolved == self.address(broker), (
                f"{broker}: this machine resolves it to {resolved}, not to this lab's {self.address(broker)} "
                f"(another lab with the same host names was brought up later)")
        return ",".join(f"{broker}:{BROKER_PORT}" for broker in brokers)

    def ssh(self, host: str, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-F", str(self.state_dir / "ssh_config"), "-l", "root", host, command],
            capture_output=True, text=True, timeout=120,
        )

    def scrape(self, host: str, port: int) -> Metrics:
        """What the Prometheus JMX exporter on `host` serves at `port`, read on the host itself."""
        served = self.ssh(host, f"curl -fsS http://127.0.0.1:{port}/metrics")
        assert served.returncode == 0, f"{host}:{port}: {served.stderr}"
        return Metrics.parse(served.stdout)

    def podman(self, *args: str) -> None:
        subprocess.run(["podman", *args], check=True, capture_output=True, timeout=120)

    def stores_from_kafkactl_ca(self) -> dict:
        """`kafkactl certs create` on the lab inventory, and the variables that make apply copy its stores."""
        made = self.kafkactl("certs", "create", str(self.inventory))
        assert made.exit_code == 0, made.stderr
        pki = self.state_dir / ".kafkactl" / "pki"
        password = f"{{{{ lookup('file', '{pki}/keystore.password') }}}}"
        return {"ssl_provided_keystore_and_truststore": True,
                "ssl_keystore_filepath": f"{pki}/{{{{inventory_hostname}}}}.keystore.p12",
                "ssl_truststore_filepath": f"{pki}/truststore.p12", "ssl_keystore_store_password": password,
                "ssl_keystore_key_password": password,
                "ssl_truststore_password": f"{{{{ lookup('file', '{pki}/truststore.password') }}}}"}

    def variant(self, name: str, change) -> Path:
        """A copy of the lab inventory with `change(data)` applied."""
        data = yaml.safe_load(self.inventory.read_text())
        change(data)
        path = self.state_dir / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def kafkactl(self, *args: str):
        return run_cli(*args)


# Marks this machine's firewall rules that cut a lab host off (ssh_cut), so that one a killed test left is found.
CUT_COMMENT = "kafkactl-lab-test-cut"


@contextmanager
def ssh_cut(address: str) -> Iterator[None]:
    """This machine's SSH connections to one lab host reset, as when the host drops off the network; undone on the
    way out, and by the next bring_up when a killed test never got there."""
    rule = ["OUTPUT", "-d", address, "-p", "tcp", "--dport", "22", "-m", "comment", "--comment", CUT_COMMENT,
            "-j", "REJECT", "--reject-with", "tcp-reset"]
    subprocess.run(["iptables", "-w", "10", "-I", *rule], check=True, timeout=60)
    try:
        yield
    finally:
        subprocess.run(["iptables", "-w", "10", "-D", *rule], check=True, timeout=60)


def _clear_stale_cuts() -> None:
    saved = subprocess.run(["iptables-save", "-t", "filter"], capture_output=True, text=True, check=True, timeout=60).stdout
    for line in saved.splitlines():
        if line.startswith("-A ") and CUT_COMMENT in line:
            subprocess.run(["iptables", "-w", "10", "-D", *shlex.split(line)[1:]], check=True, timeout=60)


def bring_up(tmp_path_factory: pytest.TempPathFactory, *lab_args: str) -> Lab:
    # Not under pytest's temporary folders: those of older sessions are deleted while a lab may still use them.
    state_dir = Path(tempfile.mkdtemp(prefix="kafkactl-lab-"))
    _clear_stale_cuts()
    run_cli("lab", "down", "--state-dir", str(state_dir))
    outcome = run_cli("lab", "up", "--state-dir", str(state_dir), *lab_args)
    assert outcome.exit_code == 0, outcome.stderr
    return Lab(state_dir)


def take_down(lab: Lab) -> None:
    network = lab.recorded["network"]
    run_cli("lab", "down", "--state-dir", str(lab.state_dir))
    shutil.rmtree(lab.state_dir, ignore_errors=True)
    assert f"# BEGIN {network}" not in Path("/etc/hosts").read_text(), "lab down left its /etc/hosts block"
