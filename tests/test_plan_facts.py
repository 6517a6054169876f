"""Plan against gathered facts: unchanged hosts need nothing; changes, restarts and ownership are seen."""

from __future__ import annotations

import base64

from kafkactl.desired import desired_state
from kafkactl.facts import facts_script, parse_facts
from kafkactl.inventory import read_inventory
from kafkactl.plan import FileFacts, HostFacts, make_plan

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


def test_facts_script_output_parses() -> None:
    desired = _desired()
    state = desired.hosts[3]
    script = facts_script(state, read_inventory(ROOT / "inventories/zookeeper-cluster/inventory.yml").inventory.cluster)
    assert "/etc/kafka/server.properties" in script.text and "systemctl is-active kafka-broker" in script.text
    content = "broker.id=1\n"
    output = "\n".join([
        "os\tDebian GNU/Linux 12 (bookworm)",
        'java\topenjdk version "17.0.15" 2025-04-15',
        f"kafka_home\t{state.kafka_home}",
        "dir\t/etc/kafka",
        f"service\tkafka-broker\tactive\t{STARTED}\t3.9.2",
        f"file\t/etc/kafka/server.properties\tkafka:kafka 640 {STARTED}\tx\t{base64.b64encode(content.encode()).decode()}",
    ])
    facts = parse_facts(output)
    assert facts.files["/etc/kafka/server.properties"] == FileFacts(content, "kafka:kafka", "0640", STARTED)
    assert facts.active_services == {"kafka-broker"} and facts.service_started == {"kafka-broker": STARTED}
    assert facts.service_versions == {"kafka-broker": "3.9.2"}
    assert facts.kafka_homes == {state.kafka_home} and facts.directories == {"/etc/kafka"}
    assert facts.os.startswith("Debian")

