"""Listener changes one roll cannot make safely are refused with the steps that can; the safe steps pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkactl.desired import desired_state
from kafkactl.inventory import read_inventory
from kafkactl.listener_changes import inter_broker_listener, protocols, unsafe_listener_changes
from kafkactl.plan import FileFacts, HostFacts

ZOOKEEPER_MODE = "zookeeper:\n  hosts: {{zk1: }}\nkafka_broker:\n  hosts: {{kafka1: , kafka2: }}\n"
KRAFT_MODE = "kafka_controller:\n  hosts: {{c1: , c2: , c3: }}\nkafka_broker:\n  hosts: {{kafka1: }}\n"
USERS = "sasl_plain_users: {admin: {principal: admin, password: admin-secret}}"


def _live_and_wanted(tmp_path: Path, live_vars: str, wanted_vars: str, groups: str = ZOOKEEPER_MODE):
    """The wanted render, and hosts whose files are the live render's."""
    def desired(name: str, variables: str):
        path = tmp_path / name
        path.write_text(f"all:\n  vars: {{{variables}}}\n" + groups.format())
        return desired_state(read_inventory(path).inventory)

    live = desired("live.yml", live_vars)
    facts = {s.host.name: HostFacts(files={f.path: FileFacts(f.content, f"{f.owner}:{f.group}", f.mode, 0) for f in s.files})
             for s in live.hosts}
    return desired("wanted.yml", wanted_vars), facts


def _refusals(tmp_path: Path, live_vars: str, wanted_vars: str, groups: str = ZOOKEEPER_MODE) -> list[str]:
    return unsafe_listener_changes(*_live_and_wanted(tmp_path, live_vars, wanted_vars, groups))


def test_a_listener_added_beside_the_others_is_one_safe_roll(tmp_path: Path) -> None:
    added = f"{USERS}, kafka_broker_custom_listeners: {{external: {{name: EXTERNAL, port: 9094, ssl_enabled: true, sasl_protocol: plain}}}}"
    assert _refusals(tmp_path, "", added) == []
    # ... and removing it again once clients have left it.
    assert _refusals(tmp_path, added, "") == []


def test_a_listener_that_changes_its_security_in_place_is_refused(tmp_path: Path) -> None:
    found = _refusals(tmp_path, "", f"{USERS}, kafka_broker_listeners: {{internal: {{name: INTERNAL, port: 9092, sasl_protocol: plain}}, "
                                    "broker: {name: BROKER, port: 9091}}")
    assert found[0] == ("host kafka1: /etc/kafka/server.properties: listener INTERNAL would change from PLAINTEXT to SASL_PLAINTEXT "
                        "in one roll, cutting off every client and broker on it; give SASL_PLAINTEXT a listener of its own: kafkactl "
                        "migrate listeners INVENTORY --phase add, then (clients moved) --phase authorizer when it is switched on, "
                        '--phase inter-broker, --phase remove: one roll each (docs/operations.md, "Securing a running cluster")')
    assert len(found) == 2  # one per broker


def test_inter_broker_traffic_moves_only_to_a_listener_the_brokers_already_have(tmp_path: Path) -> None:
    secure = "secure: {name: SECURE, port: 9095, ssl_enabled: true}"
    with_listener = f"kafka_broker_custom_listeners: {{{secure}}}"
    moved = f"{with_listener}, kafka_broker_inter_broker_listener_name: secure"
    at_once = _refusals(tmp_path, "", moved)
    assert len(at_once) == 2 and "inter-broker traffic would move to SECURE, a listener the running brokers do not have yet" in at_once[0]
    assert _refusals(tmp_path, with_listener, moved) == []
    dropped = (f"kafka_broker_listeners: {{internal: {{name: INTERNAL, port: 9092}}, {secure}}}, "
               "kafka_broker_inter_broker_listener_name: secure")
    removed = _refusals(tmp_path, with_listener, dropped)
    assert removed and "listener BROKER would be removed while the brokers not yet rolled replicate over it" in removed[0]
    assert _refusals(tmp_path, moved, dropped) == []


def test_the_controller_listener_is_not_renamed_in_one_roll(tmp_path: Path) -> None:
    found = _refusals(tmp_path, "", "kafka_controller_listener_name: QUORUM, kafka_controller_port: 9094", KRAFT_MODE)
    renamed = [f for f in found if "the controller listener would change from CONTROLLER to QUORUM in one roll" in f]
    assert {f.split(":")[0] for f in renamed} == {"host c1", "host c2", "host c3", "host kafka1"}
    closed = [f for f in found if "controller listener CONTROLLER would close while nodes still reach the controllers through it" in f]
    assert {f.split(":")[0] for f in closed} == {"host c1", "host c2", "host c3"} and len(found) == 7


TARGET = "kafka_controller_listener_name: QUORUM, kafka_controller_port: 9094"
SERVED_BESIDE = f"{TARGET}, kafka_controller_previous_listener: {{name: CONTROLLER, port: 9093}}"


def test_the_controller_listener_moves_in_three_rolls_each_safe_and_none_skipped(tmp_path: Path) -> None:
    added = f"{SERVED_BESIDE}, kafka_controller_previous_listener_first: true"
    steps = ["", added, SERVED_BESIDE, TARGET]  # served beside it, then reached through it, then alone
    for live, wanted in zip(steps, steps[1:]):
        assert _refusals(tmp_path, live, wanted, KRAFT_MODE) == [], wanted
    assert any("not every running controller serves QUORUM yet" in f for f in _refusals(tmp_path, "", SERVED_BESIDE, KRAFT_MODE))
    assert any("controller listener CONTROLLER would close" in f for f in _refusals(tmp_path, added, TARGET, KRAFT_MODE))


@pytest.mark.parametrize(("properties", "expected", "inter"), [
    ({"listeners": "PLAINTEXT://:9092,SSL://:9093"}, {"PLAINTEXT": "PLAINTEXT", "SSL": "SSL"}, "PLAINTEXT"),
    ({"listeners": "A://:1,B://:2", "listener.security.protocol.map": "A:SASL_SSL,B:SSL", "inter.broker.listener.name": "B"},
     {"A": "SASL_SSL", "B": "SSL"}, "B"),
    ({"listeners": "SSL://:9093", "security.inter.broker.protocol": "SSL"}, {"SSL": "SSL"}, "SSL"),
])
def test_listeners_are_read_as_kafka_reads_them(properties: dict, expected: dict, inter: str) -> None:
    assert protocols(properties) == expected and inter_broker_listener(properties) == inter


def test_brokers_log_in_with_a_new_mechanism_only_once_every_broker_accepts_it(tmp_path: Path) -> None:
    users = ("sasl_plain_users: {admin: {principal: admin, password: a}}, sasl_scram_users: {admin: {principal: admin, password: b}}, ")
    plain, both, scram = (users + f"sasl_protocol: {p}" for p in ("plain", '"plain,scram"', '"scram,plain"'))
    at_once = _refusals(tmp_path, plain, users + "sasl_protocol: scram")
    assert at_once and ("sasl.mechanism.inter.broker.protocol would become SCRAM-SHA-512, which listener BROKER of the running "
                        "nodes does not accept (PLAIN); let it accept both first") in at_once[0]
    assert _refusals(tmp_path, plain, both) == []
    assert _refusals(tmp_path, both, scram) == []


def test_the_controller_listener_keeps_its_protocol_and_may_accept_one_more_mechanism(tmp_path: Path) -> None:
    users = ("sasl_plain_users: {admin: {principal: admin, password: a}}, sasl_scram_users: {admin: {principal: admin, password: b}}, ")
    found = _refusals(tmp_path, users + "kafka_controller_sasl_protocol: plain", users + "kafka_controller_sasl_protocol: none", KRAFT_MODE)
    assert found and "listener CONTROLLER would change from SASL_PLAINTEXT to PLAINTEXT" in found[0]
    assert _refusals(tmp_path, users + "kafka_controller_sasl_protocol: plain", users + '"kafka_controller_sasl_protocol": "plain,scram"',
                     KRAFT_MODE) == []


def _brokers(tmp_path: Path, live_vars: str, wanted_vars: str, connections=None):
    from kafkactl.listener_changes import broker_listeners

    return broker_listeners(*_live_and_wanted(tmp_path, live_vars, wanted_vars), connections)


def test_status_names_the_next_step_of_the_sequence(tmp_path: Path) -> None:
    from kafkactl.listener_changes import next_step

    secure = "secure: {name: SECURE, port: 9095, ssl_enabled: true}"
    added = f"ssl_keystore_store_password: k, kafka_broker_custom_listeners: {{{secure}}}"
    moved = f"{added}, kafka_broker_inter_broker_listener_name: secure"
    target = (f"ssl_keystore_store_password: k, kafka_broker_listeners: {{{secure}}}, "
              "kafka_broker_inter_broker_listener_name: secure")
    steps = [(start, next_step(_brokers(tmp_path, start, target))) for start in ("", added, moved, target)]
    assert [step for _, step in steps] == ["add SECURE (SSL)", "move inter-broker traffic from BROKER to SECURE",
                                           "remove BROKER, INTERNAL once no client uses it (connections per listener could not "
                                           "be read on every broker)", "at the target"]
    first = _brokers(tmp_path, "", target)[0]
    assert first.live == {"INTERNAL": "PLAINTEXT", "BROKER": "PLAINTEXT"} and first.wanted == {"SECURE": "SSL"}
    in_place = f"{USERS}, kafka_broker_listeners: {{internal: {{name: INTERNAL, port: 9092, sasl_protocol: plain}}, broker: {{name: BROKER, port: 9091}}}}"
    assert next_step(_brokers(tmp_path, "", in_place)).startswith("refused: INTERNAL would change protocol in place")


def test_status_names_the_authorizer_step_and_the_phase_of_each_step(tmp_path: Path) -> None:
    from kafkactl.listener_changes import next_step, phase_of

    secure = "secure: {name: SECURE, port: 9095, ssl_enabled: true}"
    added = f"ssl_keystore_store_password: k, kafka_broker_custom_listeners: {{{secure}}}"
    target = f"{added}, kafka_broker_inter_broker_listener_name: secure, kafka_authorizer_enabled: true"
    steps = [next_step(_brokers(tmp_path, start, target)) for start in ("", added, f"{added}, kafka_authorizer_enabled: true")]
    assert steps == ["add SECURE (SSL)", "switch the authorizer on", "move inter-broker traffic from BROKER to SECURE"]
    assert [phase_of(step) for step in steps] == ["add", "authorizer", "inter-broker"]
    assert phase_of("remove BROKER: no connection open on it") == "remove" and phase_of("at the target") is None


def test_the_last_step_counts_the_clients_still_on_the_listeners_it_removes(tmp_path: Path) -> None:
    from kafkactl.listener_changes import next_step

    secure = "secure: {name: SECURE, port: 9095, ssl_enabled: true}"
    moved = f"ssl_keystore_store_password: k, kafka_broker_custom_listeners: {{{secure}}}, kafka_broker_inter_broker_listener_name: secure"
    target = f"ssl_keystore_store_password: k, kafka_broker_listeners: {{{secure}}}, kafka_broker_inter_broker_listener_name: secure"
    hosts = [b.host for b in _brokers(tmp_path, moved, target)]

    def step(*counts: dict[str, int] | None) -> str:
        return next_step(_brokers(tmp_path, moved, target, dict(zip(hosts, counts))))

    idle = {"BROKER": 0, "INTERNAL": 0, "SECURE": 4}
    assert step(idle, idle) == "remove BROKER, INTERNAL: no connection open on it"
    assert step({**idle, "INTERNAL": 2}, {**idle, "INTERNAL": 1}) == \
        "remove BROKER, INTERNAL once no client uses it: INTERNAL has 3 open connections"
    assert step(idle, None).endswith("(connections per listener could not be read on every broker)")
    broker = _brokers(tmp_path, moved, target, {hosts[0]: {**idle, "BROKER": 1}})[0]
    assert broker.step == "remove BROKER, INTERNAL once no client uses it: BROKER has 1 open connections"


def test_the_authorizer_is_switched_on_in_an_apply_of_its_own(tmp_path: Path) -> None:
    secure = "ssl_keystore_store_password: k, kafka_broker_custom_listeners: {secure: {name: SECURE, port: 9095, ssl_enabled: true}}"
    found = _refusals(tmp_path, "", f"{secure}, kafka_authorizer_enabled: true")
    assert found and "the authorizer would be switched on in the same roll as a listener change" in found[0]
    assert _refusals(tmp_path, "", "kafka_authorizer_enabled: true") == []


def test_the_authorizer_is_switched_off_in_an_apply_of_its_own(tmp_path: Path) -> None:
    secure = "ssl_keystore_store_password: k, kafka_broker_custom_listeners: {secure: {name: SECURE, port: 9095, ssl_enabled: true}}"
    found = _refusals(tmp_path, "kafka_authorizer_enabled: true", secure)
    assert found and "the authorizer would be switched off in the same roll as a listener change" in found[0]
    assert _refusals(tmp_path, "kafka_authorizer_enabled: true", "") == []


def test_super_users_keep_the_old_principal_while_inter_broker_traffic_moves(tmp_path: Path) -> None:
    """PLAINTEXT brokers are ANONYMOUS to each other; moved to SASL they are admin. The brokers not yet rolled still
    fetch as ANONYMOUS, so the apply that moves them keeps ANONYMOUS in super.users; the one that removes BROKER drops it."""
    secure = f"{USERS}, kafka_authorizer_enabled: true, kafka_broker_custom_listeners: {{secure: {{name: SECURE, port: 9095, sasl_protocol: plain}}}}"
    moved = f"{secure}, kafka_broker_inter_broker_listener_name: secure"
    found = _refusals(tmp_path, secure, moved)
    assert found and ("super.users would drop User:ANONYMOUS while traffic moves to another listener" in found[0]
                      and "add 'User:ANONYMOUS' to kafka_super_users for this apply" in found[0])
    kept = f"{moved}, kafka_super_users: ['User:ANONYMOUS']"
    assert _refusals(tmp_path, secure, kept) == []
    target = (f"{USERS}, kafka_authorizer_enabled: true, kafka_broker_listeners: {{secure: {{name: SECURE, port: 9095, sasl_protocol: plain}}, "
              "internal: {name: INTERNAL, port: 9092}}, kafka_broker_inter_broker_listener_name: secure")
    assert _refusals(tmp_path, kept, target) == []
