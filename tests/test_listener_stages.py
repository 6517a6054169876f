"""`migrate listeners --phase`: each phase renders the target with what the running brokers still need, every
phase is one roll the refusals accept, a phase done renders the same again, and phases out of order are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkactl.components.properties import parse_properties
from kafkactl.desired import DesiredState, desired_state
from kafkactl.errors import KafkactlError
from kafkactl.inventory import read_inventory
from kafkactl.listener_changes import start_setting_zookeeper_acls, unsafe_listener_changes
from kafkactl.listener_stages import Running, staged_inventory
from kafkactl.model import Inventory
from kafkactl.plan import FileFacts, HostFacts

from helpers import ROOT, run_cli

GROUPS = "zookeeper:\n  hosts: {zk1: }\nkafka_broker:\n  hosts: {kafka1: , kafka2: }\n"
KRAFT_GROUPS = "kafka_controller:\n  hosts: {c1: , c2: , c3: }\nkafka_broker:\n  hosts: {kafka1: , kafka2: }\n"
USERS = "sasl_scram_users: {admin: {principal: admin, password: admin-secret}}, kafka_broker_sasl_user: admin"
# The lab's path: PLAINTEXT INTERNAL (9092) and BROKER (9091, inter-broker) to SASL_SSL SCRAM for clients, mTLS between
# brokers, ACLs on; BROKER goes.
TARGET = (f"{USERS}, kafka_authorizer_enabled: true, kafka_broker_inter_broker_listener_name: repl, "
          "kafka_broker_listeners: {internal: {name: INTERNAL, port: 9092}}, "
          "kafka_broker_custom_listeners: {external: {name: EXTERNAL, port: 9094, ssl_enabled: true, sasl_protocol: scram}, "
          "repl: {name: REPL, port: 9095, ssl_enabled: true, ssl_mutual_auth_enabled: true}}")


def _inventory(tmp_path: Path, name: str, variables: str, groups: str = GROUPS) -> Inventory:
    path = tmp_path / name
    path.write_text(f"all:\n  vars: {{{variables}}}\n" + groups)
    return read_inventory(path).inventory


def _facts(desired: DesiredState) -> dict[str, HostFacts]:
    """Hosts whose files are this render."""
    return {s.host.name: HostFacts(files={f.path: FileFacts(f.content, f"{f.owner}:{f.group}", f.mode, 0) for f in s.files})
            for s in desired.hosts}


def _server_properties(desired: DesiredState, host: str = "kafka1") -> dict[str, str]:
    state = next(s for s in desired.hosts if s.host.name == host)
    return parse_properties(next(f for f in state.files if f.path == "/etc/kafka/server.properties").content)


def _phase(target: Inventory, live: DesiredState, phase: str) -> DesiredState:
    """The phase's render, checked to be one roll the refusals accept from `live`."""
    staged = desired_state(staged_inventory(target, Running.read(live, _facts(live)), phase))
    assert unsafe_listener_changes(staged, _facts(live)) == [], phase
    return staged


@pytest.mark.parametrize("groups, authorizer", [(GROUPS, "kafka.security.authorizer.AclAuthorizer"),
                                                (KRAFT_GROUPS, "org.apache.kafka.metadata.authorizer.StandardAuthorizer")],
                         ids=["zookeeper", "kraft"])
def test_four_phases_take_a_plaintext_cluster_to_sasl_ssl_and_mutual_tls_each_one_safe_roll(
        tmp_path: Path, groups: str, authorizer: str) -> None:
    target = _inventory(tmp_path, "target.yml", TARGET, groups)
    live = desired_state(_inventory(tmp_path, "live.yml", USERS, groups))

    added = _phase(target, live, "add")
    props = _server_properties(added)
    assert props["listener.security.protocol.map"].startswith("INTERNAL:PLAINTEXT,BROKER:PLAINTEXT,EXTERNAL:SASL_SSL,REPL:SSL")
    assert props["inter.broker.listener.name"] == "BROKER" and "authorizer.class.name" not in props

    authorized = _phase(target, added, "authorizer")
    props = _server_properties(authorized)
    assert props["authorizer.class.name"] == authorizer
    assert props["inter.broker.listener.name"] == "BROKER" and "User:ANONYMOUS" in props["super.users"].split(";")

    moved = _phase(target, authorized, "inter-broker")
    props = _server_properties(moved)
    assert props["inter.broker.listener.name"] == "REPL" and "BROKER:PLAINTEXT" in props["listener.security.protocol.map"]
    assert "User:ANONYMOUS" in props["super.users"].split(";"), "the brokers not yet rolled still come as ANONYMOUS"

    removed = _phase(target, moved, "remove")
    assert [s.files for s in removed.hosts] == [s.files for s in desired_state(target).hosts]
    assert "BROKER" not in _server_properties(removed)["listeners"]
    if groups == GROUPS:  # in KRaft mode the controllers still come as ANONYMOUS over their PLAINTEXT listener
        assert "User:ANONYMOUS" not in _server_properties(removed)["super.users"]


@pytest.mark.parametrize("phase", ["add", "authorizer", "inter-broker"])
def test_a_phase_done_renders_the_same_again(tmp_path: Path, phase: str) -> None:
    target = _inventory(tmp_path, "target.yml", TARGET)
    live = desired_state(_inventory(tmp_path, "live.yml", USERS))
    for step in ("add", "authorizer", "inter-broker")[:("add", "authorizer", "inter-broker").index(phase) + 1]:
        live = _phase(target, live, step)
    again = _phase(target, live, phase)
    assert [s.files for s in again.hosts] == [s.files for s in live.hosts]


@pytest.mark.parametrize("done, phase, refusal", [
    ((), "inter-broker", "kafka1, kafka2 do not run EXTERNAL, REPL yet; run --phase add first"),
    ((), "authorizer", "kafka1, kafka2 do not run EXTERNAL, REPL yet; run --phase add first"),
    (("add",), "inter-broker", "the authorizer is not on on kafka1, kafka2; run --phase authorizer first"),
    (("add", "authorizer"), "remove", "still replicate over another listener than REPL; run --phase inter-broker first"),
])
def test_a_phase_before_its_turn_is_refused(tmp_path: Path, done: tuple[str, ...], phase: str, refusal: str) -> None:
    target = _inventory(tmp_path, "target.yml", TARGET)
    live = desired_state(_inventory(tmp_path, "live.yml", USERS))
    for step in done:
        live = _phase(target, live, step)
    with pytest.raises(KafkactlError, match=refusal):
        staged_inventory(target, Running.read(live, _facts(live)), phase)


def test_the_authorizer_phase_needs_an_inventory_that_switches_it_on(tmp_path: Path) -> None:
    target = _inventory(tmp_path, "target.yml", TARGET.replace("kafka_authorizer_enabled: true", "kafka_authorizer_enabled: false"))
    live = desired_state(_inventory(tmp_path, "live.yml", USERS))
    with pytest.raises(KafkactlError, match=r"does not switch the authorizer on \(kafka_authorizer_enabled\)"):
        staged_inventory(target, Running.read(live, _facts(live)), "authorizer")


def test_a_running_listener_whose_port_the_target_takes_is_refused(tmp_path: Path) -> None:
    target = _inventory(tmp_path, "target.yml", f"{USERS}, kafka_broker_listeners: {{internal: {{name: INTERNAL, port: 9092}}, "
                                                 "secure: {name: SECURE, port: 9091, ssl_enabled: true}}, "
                                                 "kafka_broker_inter_broker_listener_name: secure")
    live = desired_state(_inventory(tmp_path, "live.yml", USERS))
    with pytest.raises(KafkactlError, match="host kafka1: listener BROKER runs on port 9091, which the inventory gives to SECURE"):
        staged_inventory(target, Running.read(live, _facts(live)), "add")


def test_a_sasl_listener_kept_accepts_what_it_ran_with_its_inter_broker_mechanism_first(tmp_path: Path) -> None:
    both = (f"{USERS}, sasl_plain_users: {{admin: {{principal: admin, password: admin-secret}}}}, "
            "kafka_broker_listeners: {internal: {name: INTERNAL, port: 9092}, broker: {name: BROKER, port: 9091, sasl_protocol: 'scram,plain'}}")
    live = desired_state(_inventory(tmp_path, "live.yml", both))
    target = _inventory(tmp_path, "target.yml", f"{USERS}, kafka_broker_inter_broker_listener_name: repl, "
                                                "kafka_broker_listeners: {internal: {name: INTERNAL, port: 9092}, "
                                                "repl: {name: REPL, port: 9095, ssl_enabled: true}}")
    kept = staged_inventory(target, Running.read(live, _facts(live)), "add").cluster.all_broker_listeners["broker"]
    assert (kept.port, kept.ssl_enabled, kept.sasl_protocol) == (9091, False, "scram,plain")
    before, after = _server_properties(live), _server_properties(_phase(target, live, "add"))
    for key in ("sasl.mechanism.inter.broker.protocol", "listener.name.broker.sasl.enabled.mechanisms"):
        assert after[key] == before[key], key


@pytest.mark.parametrize("arguments, refusal", [
    ((), "migrate listeners: give either --status or --phase add | authorizer | inter-broker | remove"),
    (("--status", "--phase", "add"), "migrate listeners: give either --status or --phase add | authorizer | inter-broker | remove"),
    (("--phase", "everything"), "--phase: 'everything' is not one of add, authorizer, inter-broker, remove"),
    (("--phase", "add", "--json"), "migrate listeners: --json goes with --status"),
])
def test_migrate_listeners_refuses_what_it_cannot_run_before_any_connection(arguments: tuple[str, ...], refusal: str) -> None:
    outcome = run_cli("migrate", "listeners", str(ROOT / "inventories/zookeeper-cluster/inventory.yml"), *arguments)
    assert outcome.exit_code == 1 and outcome.stderr == f"error: {refusal}\n", outcome.stderr


def test_a_migration_inventory_is_refused() -> None:
    outcome = run_cli("migrate", "listeners", str(ROOT / "inventories/kraft-migration/inventory.yml"), "--phase", "add", "--yes")
    assert outcome.exit_code == 1 and "listeners move in ZooKeeper or KRaft mode, not during a KRaft migration" in outcome.stderr


def _zookeeper_properties(desired: DesiredState) -> dict[str, str]:
    state = next(s for s in desired.hosts if s.host.name == "zk1")
    return parse_properties(next(f for f in state.files if f.path.endswith("zookeeper.properties")).content)


def test_zookeeper_over_tls_closes_the_plaintext_port_to_the_network_only_once_the_brokers_left_it(tmp_path: Path) -> None:
    """One apply from a plaintext cluster would close ZooKeeper's plain port under the brokers not yet rolled: refused.
    --phase add opens the TLS port beside it and moves the brokers; --phase remove binds it to 127.0.0.1."""
    live = desired_state(_inventory(tmp_path, "live.yml", USERS))
    target = _inventory(tmp_path, "target.yml", f"{USERS}, zookeeper_ssl_enabled: true")
    assert _zookeeper_properties(desired_state(target))["clientPortAddress"] == "127.0.0.1"
    at_once = unsafe_listener_changes(desired_state(target), _facts(live))
    assert at_once == ["host zk1: ZooKeeper's plaintext port 2181 would close to the network while kafka1, kafka2 still connect "
                       "to it; kafkactl migrate listeners INVENTORY --phase add moves them to the TLS port, --phase remove "
                       "then closes it"]

    added = _phase(target, live, "add")
    assert "clientPortAddress" not in _zookeeper_properties(added) and _zookeeper_properties(added)["secureClientPort"] == "2182"
    assert _server_properties(added)["zookeeper.connect"] == "zk1:2182"
    removed = _phase(target, added, "remove")
    assert _zookeeper_properties(removed)["clientPortAddress"] == "127.0.0.1"
    assert [s.files for s in removed.hosts] == [s.files for s in desired_state(target).hosts]


def test_status_names_the_move_to_zookeepers_tls_port_then_the_closing_of_its_plaintext_port(tmp_path: Path) -> None:
    from kafkactl.listener_changes import broker_listeners, next_step, phase_of, zookeeper_plain_ports_closing

    target = _inventory(tmp_path, "target.yml", f"{USERS}, zookeeper_ssl_enabled: true")
    wanted = desired_state(target)

    def step(running) -> str:
        facts = _facts(running)
        return next_step(broker_listeners(wanted, facts), sorted(zookeeper_plain_ports_closing(wanted, facts)))

    live = desired_state(_inventory(tmp_path, "live.yml", USERS))
    added = _phase(target, live, "add")
    steps = [step(live), step(added), step(wanted)]
    assert steps == ["add the connection to ZooKeeper's TLS port", "remove ZooKeeper's plaintext port on zk1", "at the target"]
    assert [phase_of(s) for s in steps] == ["add", "remove", None]


def test_the_plaintext_port_stays_open_to_the_network_when_the_inventory_says_so(tmp_path: Path) -> None:
    kept = _inventory(tmp_path, "kept.yml", f"{USERS}, zookeeper_ssl_enabled: true, zookeeper_client_port_loopback_only: false")
    assert "clientPortAddress" not in _zookeeper_properties(desired_state(kept))
    assert unsafe_listener_changes(desired_state(kept), _facts(desired_state(_inventory(tmp_path, "live.yml", USERS)))) == []


def test_a_phase_backs_up_then_makes_the_directories_new_files_need_before_any_roll() -> None:
    from kafkactl.playbook import load_playbook

    steps = [str(step) for step in load_playbook("migrate-listeners").steps]
    assert steps[:2] == ["backup all", "prepare all"] and all(step.startswith(("roll", "scram_users", "zookeeper_acls")) for step in steps[2:]), steps


@pytest.mark.parametrize("listeners, refusal", [
    ("INTERNAL://:9092,BROKER://:nine", r"host kafka1: server.properties: listeners=INTERNAL://:9092,BROKER://:nine cannot be read"),
    ("INTERNAL://:9092,OLD-ONE://:9091", r"host kafka1: listener OLD-ONE \(port 9091\) cannot be kept until --phase remove"),
])
def test_a_running_listener_kafkactl_cannot_declare_is_a_one_line_refusal(tmp_path: Path, listeners: str, refusal: str) -> None:
    target = _inventory(tmp_path, "target.yml", TARGET)
    brokers = {"kafka1": {"listeners": listeners, "listener.security.protocol.map": "INTERNAL:PLAINTEXT,OLD-ONE:PLAINTEXT",
                          "inter.broker.listener.name": "INTERNAL"}}
    with pytest.raises(KafkactlError, match=refusal):
        staged_inventory(target, Running(brokers), "add")


def _controller_properties(desired: DesiredState, host: str = "c1") -> dict[str, str]:
    state = next(s for s in desired.hosts if s.host.name == host)
    return parse_properties(next(f for f in state.files if f.path == "/etc/kafka/controller.properties").content)


# The controller listener to TLS, with the brokers' own move: add serves it beside the old one, inter-broker moves every
# node's controller connections to it, remove drops the old one.
CONTROLLER_TARGET = f"{TARGET}, kafka_controller_listener_name: CONTROLLER_SSL, kafka_controller_port: 9096, " \
                    "kafka_controller_ssl_enabled: true"


def test_the_controller_listener_moves_to_tls_in_the_same_phases_each_one_safe_roll(tmp_path: Path) -> None:
    target = _inventory(tmp_path, "target.yml", CONTROLLER_TARGET, KRAFT_GROUPS)
    live = desired_state(_inventory(tmp_path, "live.yml", USERS, KRAFT_GROUPS))

    added = _phase(target, live, "add")
    controller, broker = _controller_properties(added), _server_properties(added)
    assert controller["listeners"] == "CONTROLLER://c1:9093,CONTROLLER_SSL://c1:9096"
    assert controller["controller.listener.names"] == "CONTROLLER,CONTROLLER_SSL"
    assert controller["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,CONTROLLER_SSL:SSL"
    assert controller["controller.quorum.voters"].endswith("@c3:9093") and "ssl.keystore.location" in controller
    assert broker["controller.listener.names"] == "CONTROLLER" and broker["controller.quorum.voters"].endswith("@c3:9093")

    authorized = _phase(target, added, "authorizer")
    assert _controller_properties(authorized)["controller.listener.names"] == "CONTROLLER,CONTROLLER_SSL"
    assert "User:ANONYMOUS" in _controller_properties(authorized)["super.users"].split(";")

    moved = _phase(target, authorized, "inter-broker")
    controller, broker = _controller_properties(moved), _server_properties(moved)
    assert controller["controller.listener.names"] == "CONTROLLER_SSL,CONTROLLER"
    assert controller["listeners"] == "CONTROLLER_SSL://c1:9096,CONTROLLER://c1:9093"
    assert controller["controller.quorum.voters"].endswith("@c3:9096")
    assert broker["controller.listener.names"] == "CONTROLLER_SSL" and broker["controller.quorum.voters"].endswith("@c3:9096")
    assert "CONTROLLER_SSL:SSL" in broker["listener.security.protocol.map"]
    assert _phase(target, moved, "inter-broker").hosts == moved.hosts, "a phase done renders the same again"

    removed = _phase(target, moved, "remove")
    assert [s.files for s in removed.hosts] == [s.files for s in desired_state(target).hosts]
    assert _controller_properties(removed)["listeners"] == "CONTROLLER_SSL://c1:9096"


def test_the_controller_listener_is_not_moved_or_dropped_before_its_turn(tmp_path: Path) -> None:
    target = _inventory(tmp_path, "target.yml", CONTROLLER_TARGET, KRAFT_GROUPS)
    brokers_only = _inventory(tmp_path, "brokers.yml", TARGET, KRAFT_GROUPS)  # the brokers' part of add and authorizer alone
    live = desired_state(_inventory(tmp_path, "live.yml", USERS, KRAFT_GROUPS))
    live = _phase(brokers_only, _phase(brokers_only, live, "add"), "authorizer")
    with pytest.raises(KafkactlError, match="c1, c2, c3 do not serve the controller listener CONTROLLER_SSL yet; run --phase add"):
        staged_inventory(target, Running.read(live, _facts(live)), "inter-broker")
    controllers_only = _inventory(tmp_path, "controllers.yml", f"{USERS}, kafka_controller_listener_name: CONTROLLER_SSL, "
                                  "kafka_controller_port: 9096, kafka_controller_ssl_enabled: true", KRAFT_GROUPS)
    added = _phase(controllers_only, desired_state(_inventory(tmp_path, "live.yml", USERS, KRAFT_GROUPS)), "add")
    assert {s.host.name for s in added.hosts if s.files != next(
        h for h in desired_state(_inventory(tmp_path, "live.yml", USERS, KRAFT_GROUPS)).hosts if h.host.name == s.host.name).files} \
        == {"c1", "c2", "c3"}, "only the controllers roll to serve it"
    with pytest.raises(KafkactlError, match=r"c1, c2, c3, kafka1, kafka2 still reach the controllers through CONTROLLER; "
                                            "run --phase inter-broker first"):
        staged_inventory(controllers_only, Running.read(added, _facts(added)), "remove")


def test_status_names_each_of_the_controller_listeners_steps(tmp_path: Path) -> None:
    from kafkactl.listener_changes import controller_listener_step

    target = _inventory(tmp_path, "target.yml", CONTROLLER_TARGET, KRAFT_GROUPS)
    live = desired_state(_inventory(tmp_path, "live.yml", USERS, KRAFT_GROUPS))
    wanted = desired_state(target)
    assert controller_listener_step(wanted, _facts(live)) == \
        "add controller listener CONTROLLER_SSL beside CONTROLLER on the controllers"
    added = _phase(target, live, "add")
    assert controller_listener_step(wanted, _facts(added)).startswith(
        "move the nodes' controller connections from CONTROLLER to CONTROLLER_SSL (c1, c2, c3, kafka1, kafka2)")
    moved = _phase(target, _phase(target, added, "authorizer"), "inter-broker")
    assert controller_listener_step(wanted, _facts(moved)) == "remove controller listener CONTROLLER"
    assert controller_listener_step(wanted, _facts(wanted)) is None


DIGEST = ("zookeeper_sasl_protocol: digest, "
          "zookeeper_digest_users: {kafka_broker: {principal: kafka, password: zk-secret}}")


def _logs_in_to_zookeeper(desired: DesiredState, host: str = "kafka1") -> bool:
    state = next(s for s in desired.hosts if s.host.name == host)
    return "Client {" in next((f.content for f in state.files if f.path == state.services[0].jaas), "")


def test_zookeeper_digest_comes_in_three_safe_rolls(tmp_path: Path) -> None:
    """Kafka's order for SASL to ZooKeeper on a running cluster: ZooKeeper accepts it and the brokers log in (add),
    the brokers set ACLs (inter-broker), ZooKeeper requires it (remove); in one apply it is refused."""
    live = desired_state(_inventory(tmp_path, "plain.yml", ""))
    target = _inventory(tmp_path, "digest.yml", DIGEST)
    refused = unsafe_listener_changes(desired_state(target), _facts(live))
    assert any("ZooKeeper would require SASL while kafka1, kafka2 do not log in to it yet" in p for p in refused), refused
    assert any("would set ACLs on the znodes it creates while kafka1, kafka2" in p for p in refused), refused
    with pytest.raises(KafkactlError, match="ZooKeeper on zk1 does not accept SASL yet; run --phase add first"):
        staged_inventory(target, Running.read(live, _facts(live)), "inter-broker")

    added = _phase(target, live, "add")
    assert "authProvider.sasl" in _zookeeper_properties(added) and "sessionRequireClientSASLAuth" not in _zookeeper_properties(added)
    assert _logs_in_to_zookeeper(added) and "zookeeper.set.acl" not in _server_properties(added)
    assert _phase(target, added, "add") == added  # a phase done renders the same again
    with pytest.raises(KafkactlError, match="not every broker sets ZooKeeper ACLs yet; run --phase inter-broker first"):
        staged_inventory(target, Running.read(added, _facts(added)), "remove")

    # every broker logs in: one apply may do the rest, its roll followed by ZkSecurityMigrator
    assert unsafe_listener_changes(desired_state(target), _facts(added)) == []
    assert start_setting_zookeeper_acls(desired_state(target), _facts(added)) == ["kafka1", "kafka2"]

    acls = _phase(target, added, "inter-broker")
    assert _server_properties(acls)["zookeeper.set.acl"] == "true" and "sessionRequireClientSASLAuth" not in _zookeeper_properties(acls)
    staged = staged_inventory(target, Running.read(added, _facts(added)), "inter-broker")
    assert start_setting_zookeeper_acls(desired_state(staged), _facts(added)) == ["kafka1", "kafka2"]  # the phase secures them

    assert start_setting_zookeeper_acls(desired_state(target), _facts(acls)) == []
    removed = _phase(target, acls, "remove")
    assert _zookeeper_properties(removed)["sessionRequireClientSASLAuth"] == "true"
    assert removed == desired_state(target)
    assert _phase(target, removed, "add") == removed  # done: nothing left to stage


def test_zookeepers_tls_port_and_digest_move_together_in_the_same_three_phases(tmp_path: Path) -> None:
    """Both at once from a plaintext cluster: add opens the TLS port and accepts SASL, the brokers move onto it and log
    in; inter-broker has them set ACLs; remove closes the plain port to the network and requires the login."""
    live = desired_state(_inventory(tmp_path, "live.yml", USERS))
    target = _inventory(tmp_path, "target.yml", f"{USERS}, zookeeper_ssl_enabled: true, {DIGEST}")
    added = _phase(target, live, "add")
    assert _server_properties(added)["zookeeper.connect"] == "zk1:2182" and _logs_in_to_zookeeper(added)
    assert "clientPortAddress" not in _zookeeper_properties(added) and "sessionRequireClientSASLAuth" not in _zookeeper_properties(added)
    acls = _phase(target, added, "inter-broker")
    assert _server_properties(acls)["zookeeper.set.acl"] == "true" and "clientPortAddress" not in _zookeeper_properties(acls)
    removed = _phase(target, acls, "remove")
    assert _zookeeper_properties(removed)["clientPortAddress"] == "127.0.0.1"
    assert _zookeeper_properties(removed)["sessionRequireClientSASLAuth"] == "true"
    assert removed == desired_state(target)
