"""Lab tests: real hosts (podman containers with systemd and sshd) running real ZooKeeper and Kafka JVMs.

They bring the lab up themselves (`kafkactl lab up`, which installs what it needs) and take it down
at the end of each module. Deselect them with `-m "not lab"`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from helpers import run_cli


class Lab:
    """A lab brought up for one test module: its inventory and a way into its hosts."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.inventory = state_dir / "inventory.yml"

    def ssh(self, host: str, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ssh", "-F", str(self.state_dir / "ssh_config"), "-l", "root", host, command],
            capture_output=True, text=True, timeout=120,
        )

    def podman(self, *args: str) -> None:
        subprocess.run(["podman", *args], check=True, capture_output=True, timeout=120)

    def variant(self, name: str, change) -> Path:
        """A copy of the lab inventory with `change(data)` applied."""
        data = yaml.safe_load(self.inventory.read_text())
        change(data)
        path = self.state_dir / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    def kafkactl(self, *args: str):
        return run_cli(*args)


def bring_up(tmp_path_factory: pytest.TempPathFactory, *lab_args: str) -> Lab:
    # Not under pytest's temporary folders: those of older sessions are deleted while a lab may still use them.
    state_dir = Path(tempfile.mkdtemp(prefix="kafkactl-lab-"))
    run_cli("lab", "down", "--state-dir", str(state_dir))
    outcome = run_cli("lab", "up", "--state-dir", str(state_dir), *lab_args)
    assert outcome.exit_code == 0, outcome.stderr
    return Lab(state_dir)


def take_down(lab: Lab) -> None:
    run_cli("lab", "down", "--state-dir", str(lab.state_dir))
    shutil.rmtree(lab.state_dir, ignore_errors=True)
    assert "# BEGIN kafkactl-lab" not in Path("/etc/hosts").read_text(), "lab down left its /etc/hosts block"
