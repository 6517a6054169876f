"""The SCRAM users an inventory declares (sasl_scram_users) exist on the cluster, with their passwords.

They are made through a running broker with kafka-configs (Kafka's Admin API for SCRAM credentials,
the same in ZooKeeper and KRaft mode), one user and mechanism per run: Kafka refuses two changes to one
user's credentials in one request. The password reaches the tool as a properties file on its stdin,
never on a command line. Kafka tells which users and mechanisms exist, never a password, so kafkactl
keeps in the state directory an HMAC of each password it set, under a random key kept beside it: a
password changed in the inventory is planned as an update, an unchanged one is not, and a credential
kafkactl never set is set once. A user the cluster has and the inventory lacks is deleted only when
kafkactl_delete_unlisted_scram_users is true.

A new ZooKeeper-mode cluster has no broker to make them through, yet brokers that log in to each other with
SCRAM need theirs from their first start: before the first broker starts, every declared user is written to
ZooKeeper with the same tool (`--zookeeper`, Kafka's documented bootstrap; KRaft's is `kafka-storage format
--add-scram`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from pathlib import Path

from kafkactl import state_dir as private
from kafkactl.facts import as_running, running_members
from kafkactl.health import kafka_tool
from kafkactl.kafka_tools import admin_config, inter_broker_bootstrap, java_tool
from kafkactl.errors import KafkactlError
from kafkactl.model import SASL_MECHANISMS, SCRAM, ClusterVars, Component, Inventory, Phase
from kafkactl.plan import HostFacts, ScramUserChange
from kafkactl.tool_output import read_scram_users
from kafkactl.transport import CommandResult, Connection, Transport

CONFIG_TOOL = "kafka.admin.ConfigCommand"
RECORD = "scram-users.json"
UNCARRIED = {",": "','", "\n": "a line break", "\r": "a line break"}  # kafka-configs splits a credential at ','


def mechanisms(cluster: ClusterVars) -> list[str]:
    """The SCRAM mechanisms a listener accepts; SCRAM-SHA-512 (cp-ansible's `scram`) when none does yet."""
    listeners = [*cluster.resolved_listeners.values(), *cluster.controller_listeners]
    used = sorted({SASL_MECHANISMS[sasl] for listener in listeners for sasl in listener.accepted if sasl in SCRAM})
    return used or [SASL_MECHANISMS["scram"]]


def refusals(cluster: ClusterVars) -> list[str]:
    """A declared password kafka-configs cannot carry."""
    found = []
    for key, user in cluster.sasl_scram_users.items():
        bad = sorted({name for char, name in UNCARRIED.items() if char in user.password.get_secret_value()})
        if bad:
            found.append(f"sasl_scram_users: {key}: the password holds {' and '.join(bad)}, which kafka-configs cannot "
                         "carry into a SCRAM credential; choose another")
    return found


class Record:
    """HMACs of the passwords kafkactl set, by user and mechanism, in the state directory (0600)."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / RECORD
        data = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.key = bytes.fromhex(data.get("key") or secrets.token_hex(32))
        self.set: dict[str, str] = data.get("set", {})

    def _digest(self, user: str, mechanism: str, password: str) -> str:
        return hmac.new(self.key, "\0".join((user, mechanism, password)).encode(), hashlib.sha256).hexdigest()

    def matches(self, user: str, mechanism: str, password: str) -> bool:
        return hmac.compare_digest(self.set.get(f"{user}\t{mechanism}", ""), self._digest(user, mechanism, password))

    def remember(self, user: str, mechanism: str, password: str | None) -> None:
        """Record a password set (None: the credential was deleted), written through at once."""
        if password is None:
            self.set.pop(f"{user}\t{mechanism}", None)
        else:
            self.set[f"{user}\t{mechanism}"] = self._digest(user, mechanism, password)
        private.prepare(self.path.parent)
        private.write_private(self.path, json.dumps({"key": self.key.hex(), "set": self.set}, indent=1).encode())


def password_of(cluster: ClusterVars, user: str) -> str | None:
    """The password sasl_scram_users gives `user` (a principal), None for a user it does not list."""
    return next((u.password.get_secret_value() for u in cluster.sasl_scram_users.values() if u.principal == user), None)


def describe(connection: Connection, cluster: ClusterVars, bootstrap: str) -> dict[str, frozenset[str]]:
    return read_scram_users(kafka_tool(connection, cluster, CONFIG_TOOL, [
        "--bootstrap-server", bootstrap, "--command-config", admin_config(cluster), "--describe", "--entity-type", "users"]))


def _properties_value(text: str) -> str:
    """`text` as a java.util.Properties value: backslashes doubled, anything outside printable ASCII as \\uXXXX."""
    out = []
    for char in text:
        if char == "\\":
            out.append("\\\\")
        elif " " <= char <= "~":
            out.append(char)
        else:  # UTF-16 code units, as Properties reads them
            units = char.encode("utf-16-be")
            out += [f"\\u{units[i:i + 2].hex()}" for i in range(0, len(units), 2)]
    return "".join(out)


def change(connection: Connection, cluster: ClusterVars, bootstrap: str, planned: ScramUserChange) -> CommandResult:
    """Set (create or update) or delete one user's credential for one mechanism."""
    common = ["--bootstrap-server", bootstrap, "--command-config", admin_config(cluster), "--alter",
              "--entity-type", "users", "--entity-name", planned.user]
    if planned.action == "delete":
        return kafka_tool(connection, cluster, CONFIG_TOOL, [*common, "--delete-config", planned.mechanism])
    credential = _credentials([planned.mechanism], password_of(cluster, planned.user))
    return connection.run(java_tool(cluster, CONFIG_TOOL, [*common, "--add-config-file", "/dev/stdin"], heap="192m"),
                          check=False, timeout=120, stdin=credential)


def _credentials(mechanisms_: list[str], password: str) -> bytes:
    """A user's credential for each mechanism, as the properties file kafka-configs reads with --add-config-file."""
    return "".join(f"{mechanism}=password={_properties_value(password)}\n" for mechanism in mechanisms_).encode()


def bootstrap_in_zookeeper(connection: Connection, cluster: ClusterVars, zookeeper_connect: str, config: str,
                           jaas: str | None) -> list[str]:
    """Every declared user, written to ZooKeeper before any broker runs, as the brokers will log in to ZooKeeper
    (over TLS with the settings of their configuration file, with their JAAS file); the users made."""
    made = []
    for user in cluster.sasl_scram_users.values():
        tls = ["--zk-tls-config-file", config] if cluster.zookeeper_ssl_enabled else []
        jvm = [f"-Djava.security.auth.login.config={jaas}"] if jaas else []
        result = connection.run(java_tool(cluster, CONFIG_TOOL, [
            "--zookeeper", zookeeper_connect, *tls, "--alter", "--entity-type", "users", "--entity-name", user.principal,
            "--add-config-file", "/dev/stdin"], heap="192m", jvm=jvm),
            check=False, timeout=120, stdin=_credentials(mechanisms(cluster), user.password.get_secret_value()))
        if result.code != 0:
            raise KafkactlError(f"host {connection.host.name}: SCRAM user {user.principal} not written to ZooKeeper "
                                f"({zookeeper_connect}): {(result.stderr or result.stdout).strip()[-300:]}")
        made.append(user.principal)
    return made


def planned_changes(transport: Transport, inventory: Inventory, facts: Mapping[str, HostFacts],
                    record: Record) -> tuple[ScramUserChange, ...]:
    """What the cluster needs so every declared user has each mechanism with its password (and, when asked, no other user)."""
    cluster = inventory.cluster
    declared = {u.principal: u.password.get_secret_value() for u in cluster.sasl_scram_users.values()}
    if not declared and not cluster.kafkactl_delete_unlisted_scram_users:
        return ()
    running = running_members(inventory, facts, Component.KAFKA_BROKER)
    live: dict[str, frozenset[str]] = {}
    if running:
        tools = as_running(cluster, facts[running[0].name], Component.KAFKA_BROKER)
        live = describe(transport.connection(running[0].name), tools, inter_broker_bootstrap(inventory.members(Component.KAFKA_BROKER), tools))
    changes = []
    way = {"way": "in ZooKeeper before the first broker starts"} if not running and inventory.natural_phase == Phase.ZOOKEEPER else {}
    for user, password in declared.items():
        for mechanism in mechanisms(cluster):
            if mechanism not in live.get(user, frozenset()):
                changes.append(ScramUserChange(user, mechanism, "create", **way))
            elif not record.matches(user, mechanism, password):
                changes.append(ScramUserChange(user, mechanism, "update"))
    if cluster.kafkactl_delete_unlisted_scram_users:
        changes += [ScramUserChange(user, mechanism, "delete") for user, found in sorted(live.items()) if user not in declared
                    for mechanism in sorted(found)]
    return tuple(changes)
