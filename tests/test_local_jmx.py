"""The controllers' and brokers' JMX (kafkactl reads ZkMigrationState and connections per listener there): loopback only, one read-only user, a password
made on the host at every start that no command line and no file outside root's reach ever holds."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from kafkactl.desired import JMX_USER, JmxSecrets, desired_state
from kafkactl.inventory import read_inventory
from kafkactl.model import Component

from helpers import ROOT

DESIRED = desired_state(read_inventory(ROOT / "inventories/kraft-cluster/inventory.yml").inventory)
CONTROLLER = next(s for s in DESIRED.hosts if Component.KAFKA_CONTROLLER in s.components)
FILES = {f.path: f for f in CONTROLLER.files}
SECRETS = JmxSecrets("kafka-controller")


def test_the_controller_unit_makes_the_password_as_root_and_the_jvm_asks_for_it() -> None:
    unit = FILES["/etc/systemd/system/kafka-controller.service"].content
    assert "\nExecStartPre=+/etc/kafka/controller-jmx-password.sh\n" in unit
    assert unit.index("ExecStartPre=") < unit.index("ExecStart=")
    options = re.search(r'^Environment="KAFKA_JVM_OPTS=(.*)"$', unit, re.M).group(1).split()
    assert "-Dcom.sun.management.jmxremote.authenticate=true" in options
    assert "-Dcom.sun.management.jmxremote.host=127.0.0.1" in options
    assert f"-Dcom.sun.management.jmxremote.password.file={SECRETS.password}" in options
    assert "-Dcom.sun.management.jmxremote.access.file=/etc/kafka/controller-jmx.access" in options
    assert not any("authenticate=false" in f.content for s in DESIRED.hosts for f in s.files)


def test_the_one_jmx_user_may_only_read() -> None:
    access = FILES["/etc/kafka/controller-jmx.access"]
    lines = [line for line in access.content.splitlines() if line and not line.startswith("#")]
    assert lines == [f"{JMX_USER} readonly"]
    assert (access.owner, access.group, access.mode) == ("root", "kafka", "0640")


def test_only_controllers_and_brokers_get_jmx_files_each_on_its_own_port() -> None:
    for state in DESIRED.hosts:
        has_jmx = any(f.path.startswith("/etc/kafka/") and "jmx" in f.path for f in state.files)  # not the JMX exporter's
        assert has_jmx == bool({Component.KAFKA_CONTROLLER, Component.KAFKA_BROKER} & set(state.components)), state.host.name
    broker = next(s for s in DESIRED.hosts if Component.KAFKA_BROKER in s.components)
    unit = next(f for f in broker.files if f.path == "/etc/systemd/system/kafka-broker.service").content
    assert "\nExecStartPre=+/etc/kafka/broker-jmx-password.sh\n" in unit
    assert "-Dcom.sun.management.jmxremote.port=7203 " in unit and "jmxremote.port=7199" not in unit
    assert f"-Dcom.sun.management.jmxremote.password.file={JmxSecrets('kafka-broker').password}" in unit


@pytest.mark.skipif(os.geteuid() != 0, reason="the script installs a root-owned directory and chowns a file")
def test_the_script_makes_a_fresh_password_at_every_run(tmp_path: Path) -> None:
    """The rendered script, run for real with its directory moved into tmp_path and the service account root."""
    directory = tmp_path / "run"
    script = tmp_path / "jmx-password.sh"
    script.write_text(FILES["/etc/kafka/controller-jmx-password.sh"].content
                      .replace(SECRETS.directory, str(directory)).replace("chown kafka ", "chown root "))
    passwords = []
    for _ in range(2):
        subprocess.run(["sh", str(script)], check=True)
        password_file, client_file = directory / "kafka-controller.password", directory / "kafka-controller.client"
        user, password = password_file.read_text().split()
        assert user == JMX_USER and re.fullmatch(r"[0-9a-f]{48}", password)
        assert client_file.read_text() == f"--jmx-auth-prop\n{JMX_USER}={password}\n"
        for path in (password_file, client_file):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(directory.stat().st_mode) == 0o711
        assert sorted(p.name for p in directory.iterdir()) == ["kafka-controller.client", "kafka-controller.password"]
        passwords.append(password)
    assert passwords[0] != passwords[1]
