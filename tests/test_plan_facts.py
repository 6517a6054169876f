"""Plan against gathered facts: unchanged hosts need nothing; changes, restarts and ownership are seen."""

from __future__ import annotations

import base64
import dataclasses
import grp
import io
import os
import pwd
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kafkactl.desired import desired_state
from kafkactl.environment import Environment
from kafkactl.facts import facts_script, parse_facts
from kafkactl.inventory import read_inventory
from kafkactl.plan import FileFacts, HostFacts, PropertyChange, make_plan
from kafkactl.report import Report

from helpers import ROOT

STARTED = 1_700_000_000


def _converged(desired) -> dict[str, HostFacts]:
    facts = {}
    for state in desired.hosts:
        facts[state.host.name] = HostFacts(
            files={f.path: FileFacts(f.content, f"{f.owner}:{f.group}", f.mode, STARTED - 10) for f in state.files},
            directories=frozenset(d.path for d in state.directories),
            kafka_homes=frozenset([state.kafka_home] if state.kafka_home else []),
            active_services=frozenset(s.name for s in state.services),
            service_started={s.name: STARTED for s in state.services},
        )
    return facts


def _desired():
    return desired_state(read_inventory(ROOT / "inventories/zookeeper-cluster/inventory.yml").inventory)


def test_converged_hosts_need_nothing() -> None:
    desired = _desired()
    plan = make_plan(desired, _converged(desired))
    assert plan.changed_hosts == []


def test_changed_property_restarts_only_that_service() -> None:
    desired = _desired()
    facts = _converged(desired)
    old = facts["kafka2.example.com"].files["/etc/kafka/server.properties"]
    facts["kafka2.example.com"].files["/etc/kafka/server.properties"] = FileFacts(
        old.content.replace("num.partitions=1", "num.partitions=3"), old.owner, old.mode, old.mtime
    )
    plan = make_plan(desired, facts)
    assert [h.host for h in plan.changed_hosts] == ["kafka2.example.com"]
    host = plan.changed_hosts[0]
    assert [(f.path, f.action) for f in host.files if f.action != "unchanged"] == [("/etc/kafka/server.properties", "update")]
    assert "-num.partitions=3\n+num.partitions=1" in host.files[0].diff
    assert [(s.name, s.action) for s in host.services] == [("kafka-broker", "restart")]


def test_a_properties_update_is_shown_property_by_property_with_what_keeps_a_dropped_one() -> None:
    """Taking over a cluster kafkactl did not build: what the inventory adds, changes and drops, secrets masked."""
    desired = _desired()
    facts = _converged(desired)
    old = facts["kafka2.example.com"].files["/etc/kafka/server.properties"]
    on_host = old.content.replace("num.partitions=1", "num.partitions=3") + "log.cleaner.threads=4\nssl.key.password=Hunter2\n"
    facts["kafka2.example.com"].files["/etc/kafka/server.properties"] = FileFacts(on_host, old.owner, old.mode, old.mtime)
    plan = make_plan(desired, facts)
    (change,) = [f for f in plan.changed_hosts[0].files if f.action == "update"]
    assert change.properties == (PropertyChange("num.partitions", "3", "1"), PropertyChange("log.cleaner.threads", "4", None),
                                 PropertyChange("ssl.key.password", "Hunter2", None))
    shown = io.StringIO()
    report = Report(Environment(stdout=shown, stderr=io.StringIO(), stdin=io.StringIO(), variables={}))
    report.plan(plan, show_diff=False)
    text = shown.getvalue()
    assert "      ~ num.partitions: 3 -> 1\n" in text
    assert '      - log.cleaner.threads=4  (to keep it: kafka_broker_custom_properties: {"log.cleaner.threads": "4"})' in text
    report.plan_json(plan)
    assert "Hunter2" not in shown.getvalue()


def test_admin_file_change_needs_no_restart() -> None:
    desired = _desired()
    facts = _converged(desired)
    del facts["kafka1.example.com"].files["/etc/kafka/kafkactl-admin.properties"]
    host = make_plan(desired, facts).changed_hosts[0]
    assert [s.action for s in host.services] == ["none"]


def test_wrong_mode_or_owner_is_an_update() -> None:
    desired = _desired()
    facts = _converged(desired)
    old = facts["zk1.example.com"].files["/etc/kafka/zookeeper.properties"]
    facts["zk1.example.com"].files["/etc/kafka/zookeeper.properties"] = FileFacts(old.content, "root:root", "0644", old.mtime)
    host = make_plan(desired, facts).changed_hosts[0]
    assert [f.action for f in host.files if f.path.endswith("zookeeper.properties")] == ["update"]


def test_file_newer_than_the_running_service_means_a_pending_restart() -> None:
    """An earlier run wrote the file and stopped before restarting: the next plan still restarts."""
    desired = _desired()
    facts = _converged(desired)
    old = facts["kafka3.example.com"].files["/etc/kafka/server.properties"]
    facts["kafka3.example.com"].files["/etc/kafka/server.properties"] = FileFacts(old.content, old.owner, old.mode, STARTED + 60)
    host = make_plan(desired, facts).changed_hosts[0]
    assert host.host == "kafka3.example.com"
    assert all(f.action == "unchanged" for f in host.files)
    assert [s.action for s in host.services] == ["restart"]


def test_stopped_service_is_started() -> None:
    desired = _desired()
    facts = _converged(desired)
    facts["connect1.example.com"] = HostFacts(**{**facts["connect1.example.com"].__dict__, "active_services": frozenset()})
    host = make_plan(desired, facts).changed_hosts[0]
    assert [s.action for s in host.services] == ["start"]


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_facts_script_run_by_a_shell_reads_a_host(tmp_path: Path, shell: str) -> None:
    """The facts script, run for real by bash and by dash (Debian's sh) against a host laid out under tmp_path: files, directories, the Kafka
    home, Java, and a running service (systemctl answered by a stand-in, the service a real process)."""
    desired = _desired()
    cluster = read_inventory(ROOT / "inventories/zookeeper-cluster/inventory.yml").inventory.cluster
    broker = desired.hosts[3]
    root = str(tmp_path)
    home = root + broker.kafka_home
    state = dataclasses.replace(
        broker, kafka_home=home,
        files=tuple(dataclasses.replace(f, path=root + f.path) for f in broker.files),
        directories=tuple(dataclasses.replace(d, path=root + d.path) for d in broker.directories[:1]),
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    java = bin_dir / "java"
    java.write_text('#!/bin/sh\necho \'openjdk version "17.0.15" 2025-04-15\' >&2\n')
    Path(home, "libs").mkdir(parents=True)
    Path(home, "libs", "kafka_2.13-3.9.2.jar").write_text("")
    # The running broker: a process named java (a link to Python) with a broker's command line.
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    (runtime / "java").symlink_to(os.path.realpath(sys.executable))
    service = subprocess.Popen([str(runtime / "java"), "-c", "import time; time.sleep(60)", "-cp", f"{home}/libs/*",
                                "kafka.Kafka", "/etc/kafka/server.properties"])
    systemctl = bin_dir / "systemctl"
    # as systemd answers `show -p ...`: in its own order of the properties, not the order asked
    systemctl.write_text(f"""#!/bin/sh
printf 'MainPID={service.pid}\\nActiveState=active\\nActiveEnterTimestamp=Tue 2023-11-14 22:13:20 UTC\\n'
""")
    java.chmod(0o755)
    systemctl.chmod(0o755)
    for managed in state.files[:2]:
        Path(managed.path).parent.mkdir(parents=True, exist_ok=True)
        Path(managed.path).write_text(managed.content)
        os.chmod(managed.path, 0o640)
        os.utime(managed.path, (STARTED, STARTED))
    Path(state.directories[0].path).mkdir(parents=True, exist_ok=True)
    script = facts_script(state, cluster.model_copy(update={"java_executable": str(java)}))
    try:
        run = subprocess.run([shell, "-c", script.text], capture_output=True, text=True, timeout=60,
                             env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    finally:
        service.kill()
    assert run.returncode == 0, run.stderr
    facts = parse_facts(run.stdout)
    me = f"{pwd.getpwuid(os.getuid()).pw_name}:{grp.getgrgid(os.getgid()).gr_name}"
    assert facts.files == {f.path: FileFacts(f.content, me, "0640", STARTED) for f in state.files[:2]}
    assert facts.directories == {state.directories[0].path} and facts.kafka_homes == {home}
    assert facts.active_services == {"kafka-broker"} and facts.service_started == {"kafka-broker": STARTED}
    assert facts.service_versions == {"kafka-broker": "3.9.2"}
    own_unit = re.findall(r"/([^/\n]*)\.service$", Path("/proc/self/cgroup").read_text(), re.M)[:1] or [""]
    assert ("kafka.Kafka", own_unit[0]) in facts.processes
    assert facts.java == 'openjdk version "17.0.15" 2025-04-15'
    assert facts.os == subprocess.run(["bash", "-c", '. /etc/os-release 2>/dev/null; echo "$PRETTY_NAME"'],
                                      capture_output=True, text=True).stdout.strip()


def test_facts_output_with_base64_file_contents_parses() -> None:
    content = "broker.id=1\n"
    output = "\n".join([
        "os\tDebian GNU/Linux 12 (bookworm)",
        'java\topenjdk version "17.0.15" 2025-04-15',
        "kafka_home\t/opt/kafka/kafka_2.13-3.9.2",
        "dir\t/etc/kafka",
        f"service\tkafka-broker\tactive\t{STARTED}\t3.9.2",
        "service\tkafka-connect\tinactive\t0\t",
        f"file\t/etc/kafka/server.properties\tkafka:kafka 640 {STARTED}\tx\t{base64.b64encode(content.encode()).decode()}",
        "process\tkafka.Kafka\tkafka",
        "process\torg.apache.zookeeper.server.quorum.QuorumPeerMain\t",
    ])
    facts = parse_facts(output)
    assert facts.files["/etc/kafka/server.properties"] == FileFacts(content, "kafka:kafka", "0640", STARTED)
    assert facts.active_services == {"kafka-broker"} and facts.service_started == {"kafka-broker": STARTED}
    assert facts.service_versions == {"kafka-broker": "3.9.2"}
    assert facts.kafka_homes == {"/opt/kafka/kafka_2.13-3.9.2"} and facts.directories == {"/etc/kafka"}
    assert facts.os.startswith("Debian")
    assert facts.processes == {("kafka.Kafka", "kafka"), ("org.apache.zookeeper.server.quorum.QuorumPeerMain", "")}


def test_a_broker_is_read_as_it_runs_until_its_roll_brings_zookeeper_tls() -> None:
    """Turning zookeeper_ssl_enabled on: until a broker is rolled, kafkactl reads ZooKeeper over TLS or not as it does
    (the port follows: the inventory's plain or TLS client port)."""
    from kafkactl.components.topology import Topology
    from kafkactl.facts import as_running
    from kafkactl.model import Component, Phase

    inventory = read_inventory(ROOT / "inventories/zookeeper-cluster/inventory.yml").inventory
    inventory = inventory.model_copy(update={"cluster": inventory.cluster.model_copy(update={"zookeeper_ssl_enabled": True})})
    plain = HostFacts(files={"/etc/kafka/server.properties": FileFacts("zookeeper.connect=evil:1/x\n", "root:kafka", "0640", STARTED)})
    running = as_running(inventory.cluster, plain, Component.KAFKA_BROKER)
    assert running.zookeeper_ssl_enabled is False
    connect = Topology.of(inventory.model_copy(update={"cluster": running}), Phase.ZOOKEEPER).zookeeper_connect
    assert connect.startswith("zk1.example.com:2181,") and "evil" not in connect
    rolled = HostFacts(files={"/etc/kafka/server.properties": FileFacts(
        "zookeeper.connect=zk1:2182\nzookeeper.ssl.client.enable=true\n", "root:kafka", "0640", STARTED)})
    assert as_running(inventory.cluster, rolled, Component.KAFKA_BROKER).zookeeper_ssl_enabled is True
    assert as_running(inventory.cluster, HostFacts(), Component.KAFKA_BROKER).zookeeper_ssl_enabled is True
