"""The principal each broker and controller presents to the others, and super.users made of them: SASL users,
certificate names mapped by ssl.principal.mapping.rules exactly as Kafka maps them, ANONYMOUS otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkactl import pki
from kafkactl.components.properties import parse_properties
from kafkactl.components.principals import map_principal, parse_rules, unnamed_nodes
from kafkactl.components.topology import Topology
from kafkactl.desired import desired_state
from kafkactl.inventory import read_inventory
from kafkactl.model import Component, Inventory, Phase

from helpers import ROOT

CASES = ROOT / "tests/cases/principal_mapping/cases.tsv"
BROKERS = "kafka_broker:\n  hosts: {kafka1: , kafka2: }\n"
CONTROLLERS = "kafka_controller:\n  hosts: {c1: }\n"
ZOOKEEPER = "zookeeper:\n  hosts: {zk1: }\n"
USERS = "sasl_scram_users: {admin: {principal: admin, password: s}}, sasl_plain_users: {admin: {principal: admin, password: s}}"


def _kafka_answers():
    for line in CASES.read_text().splitlines():
        rule, name, answer = line.split("\t")
        yield pytest.param(rule, name, answer, id=f"{rule} {name}")


@pytest.mark.parametrize("rule, name, answer", list(_kafka_answers()))
def test_mapping_gives_what_kafkas_own_mapper_gave(rule: str, name: str, answer: str) -> None:
    if answer == "ERROR IllegalArgumentException":
        with pytest.raises(ValueError, match="is neither DEFAULT nor RULE:pattern/replacement/"):
            parse_rules([rule])
    else:
        assert map_principal(name, [rule]) == (None if answer == "ERROR NoMatchingRule" else answer)


def _inventory(tmp_path: Path, variables: str, groups: str, certificates: bool = False) -> Inventory:
    """The inventory, with kafkactl's own CA's key stores when asked."""
    path = tmp_path / "inventory.yml"
    path.write_text(f"all:\n  vars: {{{variables}}}\n  children:\n" + "".join(f"    {line}\n" for line in groups.splitlines()))
    inventory = read_inventory(path).inventory
    if certificates:
        pki.create(tmp_path / "pki", inventory)
        inventory = pki.attach(tmp_path / "pki", inventory)
    return inventory


def _rendered(tmp_path: Path, variables: str, groups: str, phase: Phase | None = None, certificates: bool = False) -> dict[str, dict]:
    """Each broker's and controller's properties as rendered, with kafkactl's own CA's key stores when asked."""
    inventory = _inventory(tmp_path, variables, groups, certificates)
    found = {}
    for state in desired_state(inventory, phase).hosts:
        for service in state.services:
            if service.component in (Component.KAFKA_BROKER, Component.KAFKA_CONTROLLER):
                found[state.host.name] = parse_properties(next(f for f in state.files if f.path == service.config).content)
    return found


def _super_users(tmp_path: Path, variables: str, groups: str, phase: Phase | None = None, certificates: bool = False) -> dict[str, str]:
    """super.users as each broker and controller is rendered with the authorizer on."""
    rendered = _rendered(tmp_path, f"kafka_authorizer_enabled: true, {variables}", groups, phase, certificates)
    return {host: properties["super.users"] for host, properties in rendered.items()}


def test_plaintext_brokers_are_anonymous(tmp_path: Path) -> None:
    assert set(_super_users(tmp_path, "kafka_super_users: ['User:alice']", ZOOKEEPER + BROKERS).values()) == {"User:ANONYMOUS;User:alice"}


def test_brokers_with_client_certificates_are_their_certificates_names(tmp_path: Path) -> None:
    mtls = "ssl_enabled: true, ssl_mutual_auth_enabled: true"
    assert set(_super_users(tmp_path, mtls, ZOOKEEPER + BROKERS, certificates=True).values()) == {"User:CN=kafka1;User:CN=kafka2"}
    mapped = f"{mtls}, principal_mapping_rules: ['RULE:^CN=(kafka[0-9]+)$/$1/U', 'DEFAULT']"
    assert set(_super_users(tmp_path, mapped, ZOOKEEPER + BROKERS, certificates=True).values()) == {"User:KAFKA1;User:KAFKA2"}


def test_tls_without_client_certificates_is_anonymous(tmp_path: Path) -> None:
    assert set(_super_users(tmp_path, "ssl_enabled: true", ZOOKEEPER + BROKERS, certificates=True).values()) == {"User:ANONYMOUS"}


def test_kraft_nodes_are_who_they_are_on_both_listeners(tmp_path: Path) -> None:
    """SCRAM between brokers, PLAIN to the controllers (the same user); a PLAINTEXT controller listener adds ANONYMOUS."""
    same_user = _super_users(tmp_path, f"{USERS}, sasl_protocol: scram", CONTROLLERS + BROKERS)
    assert set(same_user.values()) == {"User:admin"} and set(same_user) == {"c1", "kafka1", "kafka2"}
    plaintext_controllers = _super_users(tmp_path, f"{USERS}, sasl_protocol: scram, kafka_controller_sasl_protocol: none",
                                         CONTROLLERS + BROKERS)
    assert set(plaintext_controllers.values()) == {"User:ANONYMOUS;User:admin"}


def test_migrating_controllers_present_their_certificates_to_the_brokers(tmp_path: Path) -> None:
    """In dual-write the controllers call the ZooKeeper-mode brokers on the inter-broker listener."""
    mtls = "ssl_enabled: true, ssl_mutual_auth_enabled: true"
    found = _super_users(tmp_path, mtls, ZOOKEEPER + CONTROLLERS + BROKERS, Phase.DUAL_WRITE, certificates=True)
    assert set(found.values()) == {"User:CN=c1;User:CN=kafka1;User:CN=kafka2"}
    before = _super_users(tmp_path, mtls, ZOOKEEPER + CONTROLLERS + BROKERS, Phase.ZOOKEEPER, certificates=True)
    assert set(before.values()) == {"User:CN=kafka1;User:CN=kafka2"}


def test_the_rules_are_written_as_cp_ansible_writes_them(tmp_path: Path) -> None:
    rules = "ssl_enabled: true, principal_mapping_rules: ['RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/', DEFAULT]"
    properties = _rendered(tmp_path, rules, ZOOKEEPER + BROKERS, certificates=True)["kafka1"]
    assert properties["ssl.principal.mapping.rules"] == "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,DEFAULT"


def test_brokers_are_also_who_they_would_be_on_the_listener_their_traffic_may_move_to(tmp_path: Path) -> None:
    """A PLAINTEXT cluster with an mTLS listener beside: the brokers not yet rolled onto it must accept the ones that
    are, so their certificates' names are super users before any traffic moves; a PLAINTEXT client listener adds
    nothing more than ANONYMOUS, which the PLAINTEXT inter-broker listener brings."""
    beside = "ssl_keystore_store_password: k, kafka_broker_custom_listeners: {repl: {name: REPL, port: 9095, ssl_enabled: true, " \
             "ssl_mutual_auth_enabled: true}}"
    found = _super_users(tmp_path, beside, ZOOKEEPER + BROKERS, certificates=True)
    assert set(found.values()) == {"User:ANONYMOUS;User:CN=kafka1;User:CN=kafka2"}


def test_a_node_super_users_cannot_name_is_refused(tmp_path: Path) -> None:
    """Without its certificate's name (a JKS key store, or stores that are not read on this machine) super.users
    cannot name a broker, and the others would refuse it once the authorizer is on: unless kafka_super_users names
    the nodes. A name no mapping rule takes is refused whatever super.users says: Kafka refuses the connection."""
    mtls = "ssl_enabled: true, ssl_mutual_auth_enabled: true, kafka_authorizer_enabled: true, ssl_keystore_store_password: s"

    def problems(variables: str, certificates: bool = False) -> list[str]:
        return unnamed_nodes(Topology.of(_inventory(tmp_path, variables, ZOOKEEPER + BROKERS, certificates), Phase.ZOOKEEPER))

    unread = problems(mtls + ", ssl_keystore_filepath: /etc/kafka/ssl/kafka.keystore.jks")
    assert unread == [f"host kafka{n}: the authorizer is on but super.users cannot name it: kafkactl cannot read the name of "
                      "the certificate it presents over BROKER, INTERNAL (mTLS) (a JKS key store, or stores not on this "
                      "machine); give its stores as PKCS12 or PEM, or name every node's principal in kafka_super_users"
                      for n in (1, 2)]
    assert problems(mtls + ", kafka_super_users: ['User:CN=kafka1', 'User:CN=kafka2']") == []
    assert problems(mtls.replace("kafka_authorizer_enabled: true", "kafka_authorizer_enabled: false")) == []
    unmatched = problems(mtls + ", kafka_super_users: ['User:x'], principal_mapping_rules: ['RULE:^CN=zk(.*)$/$1/']", certificates=True)
    assert unmatched == [f"host kafka{n}: no principal_mapping_rules rule takes its certificate name CN=kafka{n}, which it "
                         "presents over BROKER, INTERNAL (mTLS); Kafka would refuse its connections" for n in (1, 2)]
