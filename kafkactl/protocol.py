"""The inter-broker protocol of ZooKeeper-mode brokers stays where the live cluster has it until the inventory moves it.

Kafka's upgrade notes: roll the new binaries with inter.broker.protocol.version pinned to the protocol the
cluster speaks, and move the protocol in a second roll once every broker runs the new version; once moved,
the old binaries can no longer join. So an inventory that does not write kafka_inter_broker_protocol_version
gets the live brokers' protocol (their inter.broker.protocol.version, else the major.minor of the version they
run; the lowest if they differ), not the major.minor of kafka_version. One that writes a protocol other than
the live one while the brokers run another Kafka version than kafka_version is refused: one change at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kafkactl.errors import KafkactlError
from kafkactl.facts import running_version
from kafkactl.model import Component, Host, Inventory, Phase, version_key
from kafkactl.remote import Command, seq, sh
from kafkactl.roles import config_path, service_name
from kafkactl.transport import Transport

PROTOCOL = re.compile(r"\d+\.\d+(-IV\d+)?")
VERSION = re.compile(r"\d+\.\d+\.\d+")
KEY = "kafka_inter_broker_protocol_version"


@dataclass(frozen=True)
class LiveProtocol:
    configured: str | None  # inter.broker.protocol.version in the live server.properties
    running: str | None  # the Kafka version the broker runs

    @property
    def effective(self) -> str | None:
        """The protocol the broker speaks: the configured one, else its version's (Kafka's default)."""
        if self.configured:
            return self.configured
        return ".".join(self.running.split(".")[:2]) if self.running else None


def read_script(inventory: Inventory) -> Command:
    """Two lines: the live inter.broker.protocol.version (or nothing), the running Kafka version (or nothing)."""
    config = config_path(Component.KAFKA_BROKER, inventory.cluster)
    configured = sh("printf '%s\\n' \"$(sed -n 's/^inter\\.broker\\.protocol\\.version=//p' {config} 2>/dev/null | head -n 1)\"",
                    config=config)
    return seq(configured, running_version(service_name(Component.KAFKA_BROKER, inventory.cluster)), sh("echo"))


def parse(host: Host, output: str) -> LiveProtocol:
    """What a broker's host answered: a value that is not a protocol or a version is refused, never used."""
    lines = (output.splitlines() + ["", ""])[:2]
    configured, running = (line.strip() or None for line in lines)
    if configured and not PROTOCOL.fullmatch(configured):
        raise KafkactlError(f"host {host.name}: inter.broker.protocol.version {configured[:40]!r} in its server.properties "
                            "is not a protocol version")
    if running and not VERSION.fullmatch(running):
        raise KafkactlError(f"host {host.name}: the running Kafka version {running[:40]!r} is not a version")
    return LiveProtocol(configured, running)


def read_live_protocols(transport: Transport, inventory: Inventory) -> dict[str, LiveProtocol]:
    """Every ZooKeeper-mode broker's live protocol, in parallel; nothing to read for other inventories."""
    if inventory.natural_phase != Phase.ZOOKEEPER:
        return {}
    script = read_script(inventory)
    brokers = inventory.members(Component.KAFKA_BROKER)
    answers = transport.read_each(brokers, lambda host: transport.connection(host.name).run(script, check=False, timeout=60).stdout)
    return {host.name: parse(host, output) for host, output in answers}


def _lowest(live: dict[str, LiveProtocol]) -> str | None:
    """The lowest protocol the brokers speak: what the whole cluster can still speak together."""
    return min((p.effective for p in live.values() if p.effective), key=version_key, default=None)


def protocol_refusals(inventory: Inventory, live: dict[str, LiveProtocol]) -> list[str]:
    """What the inventory asks of the live protocol that cannot be done: a roll back past it, or a move of it
    while the brokers still run another Kafka version."""
    cluster = inventory.cluster
    lowest = _lowest(live)
    if lowest is None:
        return []
    if version_key(lowest)[:2] > version_key(cluster.kafka_version)[:2]:
        return [f"kafka_version {cluster.kafka_version}: the brokers speak inter.broker.protocol.version {lowest}, which Kafka "
                f"{cluster.kafka_version} cannot: binaries roll back only until the protocol moves, and it does not move back"]
    upgrading = sorted(name for name, p in live.items() if p.running and p.running != cluster.kafka_version)
    if KEY in cluster.model_fields_set and cluster.kafka_inter_broker_protocol_version != lowest and upgrading:
        return [f"{KEY} {cluster.kafka_inter_broker_protocol_version} moves the protocol from {lowest} while "
                f"{', '.join(upgrading)} still run{'s' if len(upgrading) == 1 else ''} another Kafka version than "
                f"{cluster.kafka_version}: one change at a time. Roll onto {cluster.kafka_version} with {KEY}: "
                f"\"{lowest}\" first, then move the protocol"]
    return []


def pin_protocol(inventory: Inventory, live: dict[str, LiveProtocol]) -> tuple[Inventory, str | None]:
    """The inventory with the live protocol when it writes none, and what was kept (for the operator to read)."""
    cluster = inventory.cluster
    lowest = _lowest(live)
    if lowest is None or KEY in cluster.model_fields_set:
        return inventory, None
    if lowest == cluster.inter_broker_protocol_version:
        return inventory, None
    pinned = inventory.model_copy(update={"cluster": cluster.model_copy(update={KEY: lowest})})
    return pinned, (f"inter.broker.protocol.version stays {lowest}, as the brokers have it (not "
                    f"{cluster.inter_broker_protocol_version}, from kafka_version); write {KEY} to move it")
